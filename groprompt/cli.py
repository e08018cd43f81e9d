"""``groprompt <step>``: the command line every workflow rule calls.

Each step is a module in :mod:`groprompt.commands` that defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Command modules import heavy dependencies (torch, transformers) inside ``run`` so that
``groprompt --help`` stays fast.

``groprompt --stats FILE <step> ...`` also records the step's wall and CPU time, peak memory and exit status in
FILE (JSON, :mod:`groprompt.reporting.run_stats`), whether it succeeds or fails; workflow rules pass one per rule
and ``groprompt run-stats`` merges them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from groprompt import __version__, commands
from groprompt.errors import GroPromptError


INTERRUPTED = 130
"""Exit status of a step stopped by Ctrl-C (128 + SIGINT, as a shell reports it)."""


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
    parser.add_argument("--stats", type=Path, metavar="FILE",
                        help="write the step's wall and CPU seconds, peak RSS, peak GPU memory and exit status to "
                             "FILE as JSON (merged by groprompt run-stats)")
    subparsers = parser.add_subparsers(dest="command", metavar="<step>", required=True)
    for module in _command_modules():
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the step; a :class:`GroPromptError` is printed without a traceback (exit 2), and
    Ctrl-C ends it with one line on stderr (exit 130).

    With ``--stats FILE`` the step's record is written to FILE however it ends (an unexpected exception is
    recorded with exit status 1, then propagates).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    clock = None
    if args.stats is not None:
        from groprompt.reporting.run_stats import StepClock

        clock = StepClock()
    code = 1
    try:
        code = int(args._run(args) or 0)
    except GroPromptError as error:
        print(f"groprompt {args.command}: error: {error}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print(f"groprompt {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        code = INTERRUPTED
    finally:
        if clock is not None:
            from groprompt.reporting.run_stats import write_step_record

            write_step_record(args.stats, clock.record(args.command, argv, code))
    return code


if __name__ == "__main__":
    sys.exit(main())
