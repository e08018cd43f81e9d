"""``groprompt <step>``: the command line every workflow rule calls.

Each step is a module in :mod:`groprompt.commands` that defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Command modules import heavy dependencies (torch, transformers) inside ``run`` so that
``groprompt --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from groprompt import __version__, commands
from groprompt.errors import GroPromptError


def _command_modules() -> list:
    names = sorted(info.name for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_"))
    return [importlib.import_module(f"{commands.__name__}.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subcommand per module of :mod:`groprompt.commands`."""
    parser = argparse.ArgumentParser(
        prog="groprompt",
        description="GroPrompt reproducibility harness: datasets, methods, training, inference, metrics, tables.",
    )
    parser.add_argument("--version", action="version", version=f"groprompt {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<step>", required=True)
    for module in _command_modules():
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the step; a :class:`GroPromptError` is printed without a traceback (exit 2)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except GroPromptError as error:
        print(f"groprompt {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
