"""``groprompt tables``: the paper's tables (5, 6, 1-3) and our breakdowns from evaluation folders (§9)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "tables"
HELP = "Build Table 6, Table 5, Tables 1-3 and breakdowns (CSV, Markdown, LaTeX) from groprompt evaluate folders."

_EPILOG = """\
Rows: [DATASET:]KEY=EVAL_DIR[,EVAL_DIR...], one evaluation folder (groprompt evaluate --out) per seed; DATASET
defaults to --dataset. Keys of the paper's methods (shown with the paper's figures, in the paper's order):
grounded-sam, groprompt-lbox, groprompt-lbox-contra, gt-box-sam; any other key is a baseline, labelled by its key.
Keys are lower-cased with _ and / read as -, so groprompt/lbox_contra is groprompt-lbox-contra.
Cells are mean +- 95% t-interval over seeds, or for one seed a video-level bootstrap interval.
Paired differences (all methods run on the same videos): Table 6 gets "Δ J&F vs Grounded-SAM" and
"Δ Box vs Grounded-SAM" of every other row and "Δ J&F vs L_box" of groprompt-lbox-contra; by_kind gets
"Δ J&F <kind> vs Grounded-SAM". Their 95% interval is the t-interval of per-seed differences where a row has
several seeds (a run without a training seed is subtracted from each seed; two seeded rows are paired by seed,
read from folder names seed0, seed1, ...), or a paired video bootstrap where both rows are single runs (their
per_object.csv must hold the same rows).

Writes into --out: table6.{csv,md,tex} (methods on --dataset), table5.{csv,md,tex} (with --params),
by_kind.{csv,md} (expression kinds, SynRVOS), by_kind_contra.{csv,md} (L_box + L_contra vs L_box per kind),
refdavis_protocols.{csv,md} (assignment vs strict), table1/2/3.{csv,md,tex} (rows on refytvos/refdavis, a2d,
jhmdb), tables.md (all of them).
Example:
  groprompt tables --config-name default --dataset synrvos --params results/default/params.json \\
    --rows grounded-sam=eval/gsam groprompt-lbox=eval/lbox/seed0,eval/lbox/seed1,eval/lbox/seed2 \\
           groprompt-lbox-contra=eval/full/seed0,eval/full/seed1,eval/full/seed2 gt-box-sam=eval/gt \\
    --out results/default"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("--config-name", required=True, help="the study's name (the tables' heading)")
    parser.add_argument("--dataset", required=True,
                        help="the study's dataset (synrvos, refdavis, refytvos, a2d, jhmdb): Table 6 and the "
                             "breakdowns are of the rows on it")
    parser.add_argument("--rows", nargs="+", action="extend", default=[], metavar="[DATASET:]KEY=DIR[,DIR...]",
                        help="method rows, each with its evaluation folders (one per seed); repeatable. Without "
                             "rows (nothing scored, e.g. Ref-YouTube-VOS valid) only Table 5 is made")
    parser.add_argument("--params", type=Path, default=None,
                        help="JSON of groprompt params --json for the study's config (Table 5)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables (e.g. results/<name>)")


def run(args: argparse.Namespace) -> int:
    from groprompt.errors import GroPromptError
    from groprompt.reporting.report import build_tables, write_tables
    from groprompt.reporting.results import dataset_info, read_rows
    from groprompt.reporting.table5 import read_params
    from groprompt.reporting.tables import to_markdown

    dataset_info(args.dataset)
    if not args.rows and args.params is None:
        raise GroPromptError("nothing to tabulate", fix="pass --rows (evaluation folders), --params, or both")
    params = read_params(args.params) if args.params is not None else None
    rows = read_rows(args.rows, args.dataset)
    tables = build_tables(args.dataset, rows, params)
    paths = write_tables(tables, args.out, args.config_name)
    for table in tables:
        print(to_markdown(table))
    print(f"wrote {len(paths)} files into {args.out}: {', '.join(path.name for path in paths)}")
    return 0
