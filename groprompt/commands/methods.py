"""``groprompt methods``: list every method the registry finds, with a one-line description each."""

from __future__ import annotations

import argparse

NAME = "methods"
HELP = "List the available methods (built-in, entry points, baselines/ modules) and any that failed to load."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baselines-dir", default="baselines",
                        help="folder of baseline modules to discover (default: ./baselines)")


def run(args: argparse.Namespace) -> int:
    from groprompt.methods import discover_methods

    registry = discover_methods(args.baselines_dir)
    width = max((len(name) for name in registry.entries), default=0)
    for name, entry in sorted(registry.entries.items()):
        flags = [] if entry.cls.online else ["offline"]
        if entry.cls.outputs_masks:
            flags.append("masks")
        suffix = f" [{', '.join(flags)}]" if flags else ""
        print(f"{name:<{width}}  {entry.description}{suffix}")
    for failure in registry.failures:
        print(f"! {failure.name} ({failure.source}) failed to load: {failure.error}")
    return 0
