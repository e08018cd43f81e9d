"""``groprompt run-stats``: merge per-stage timing/memory files and infer run statistics into one JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "run-stats"
HELP = "Merge stage files (groprompt --stats, /usr/bin/time -v) and infer run_stats.json into results/<name>."

_EPILOG = """\
A stage file is what `groprompt --stats FILE <step> ...` writes (wall and CPU seconds, peak RSS, peak GPU memory,
exit status), or the output of `/usr/bin/time -v -o FILE <command>` for rules that run other programs.
Writes OUT (JSON) and OUT with .md: wall time per stage, peak memory, the precision of each infer run, SAM
image-encoder passes of all infer runs against the distinct frames embedded (target: one pass per frame), and
embedding-cache hits."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("--config-name", required=True, help="the study's name (the Markdown's captions)")
    parser.add_argument("--stage", nargs="+", action="extend", default=[], metavar="NAME=FILE",
                        help="a stage file under the stage's name; repeatable")
    parser.add_argument("--infer", nargs="+", action="extend", default=[], metavar="NAME=RUN_STATS_JSON",
                        help="the run_stats.json of a groprompt infer run under a name; repeatable")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write, e.g. results/<name>/run_stats.json")


def run(args: argparse.Namespace) -> int:
    from groprompt.errors import GroPromptError
    from groprompt.reporting.study_stats import merge_run_stats, parse_named, write_run_stats

    if not args.stage and not args.infer:
        raise GroPromptError("nothing to merge", fix="pass --stage NAME=FILE and/or --infer NAME=RUN_STATS_JSON")
    if args.out.suffix != ".json":
        raise GroPromptError("the merged statistics are JSON", path=args.out, fix="give --out a .json name")
    merged = merge_run_stats(parse_named(args.stage, "--stage"), parse_named(args.infer, "--infer"))
    paths = write_run_stats(merged, args.out, args.config_name)
    totals, sam = merged["totals"], merged["sam_embeddings"]
    print(f"{len(merged['stages'])} stages: {totals['wall_seconds']:.1f} s wall (summed), peak RSS "
          f"{totals['peak_rss_mb'] or 0:.0f} MiB; precision {', '.join(merged['precisions']) or 'none'}; "
          f"SAM encoder passes {sam['encoder_passes']} for "
          f"{sam['distinct_frames']} distinct frames; cache hits {sam['cache_hits']}")
    print(f"wrote {', '.join(map(str, paths))}")
    return 0
