"""``groprompt methods``: list every method the registry finds, with a one-line description each.

``--json`` prints the same list for programs (the workflow builds one inference job per method from it)::

    {"methods": [{"name", "description", "source", "online", "outputs_masks", "uses_ground_truth",
                  "required_options", "path_options"}, ...],
     "failures": [{"name", "source", "error"}, ...]}
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from groprompt.methods import Registry

NAME = "methods"
HELP = "List the available methods (built-in, entry points, baselines/ modules) and any that failed to load."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baselines-dir", default="baselines",
                        help="folder of baseline modules to discover (default: ./baselines)")
    parser.add_argument("--json", action="store_true",
                        help="print the methods and load failures as JSON (for the workflow)")


def run(args: argparse.Namespace) -> int:
    from groprompt.methods import discover_methods

    registry = discover_methods(args.baselines_dir)
    if args.json:
        print(json.dumps(_as_json(registry), indent=2))
        return 0
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


def _as_json(registry: Registry) -> dict:
    from groprompt.inference.options import path_options
    from groprompt.methods import required_options

    methods = [
        {"name": name, "description": entry.description, "source": entry.source, "online": entry.cls.online,
         "outputs_masks": entry.cls.outputs_masks, "uses_ground_truth": entry.cls.uses_ground_truth,
         "required_options": required_options(entry.cls), "path_options": path_options(entry.cls)}
        for name, entry in sorted(registry.entries.items())
    ]
    failures = [{"name": f.name, "source": f.source, "error": f.error} for f in registry.failures]
    return {"methods": methods, "failures": failures}
