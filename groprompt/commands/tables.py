"""``groprompt tables``: the paper's tables (5, 6, 1-3) and our breakdowns from evaluation folders (§9)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "tables"
HELP = ("Build Table 6, Table 5, Tables 1-3, the MeViS table and breakdowns (CSV, Markdown, LaTeX) from groprompt "
        "evaluate folders.")

_EPILOG = """\
Rows: [KIND:]KEY=EVAL_DIR[,EVAL_DIR...], one evaluation folder (groprompt evaluate --out) per seed; KIND, the
dataset kind the row was evaluated on, defaults to --dataset-kind. Keys of the paper's methods (shown with the
paper's figures, in the paper's order): grounded-sam, groprompt-lbox, groprompt-lbox-contra, gt-box-sam; any other
key is a baseline, labelled by its key, except the harness's own (groprompt-detector-loss: the prompter fine-tuned
with Grounding DINO's own loss, the workflow's training variant detector_loss; grounded-sam-2, gt-box-sam2, sam3).
Keys are lower-cased with _ and / read as -, so groprompt/lbox_contra is groprompt-lbox-contra.
Cells are mean +- 95% t-interval over seeds, or for one seed a video-level bootstrap interval.
Paired differences (all methods run on the same videos): Table 6 gets "Δ J&F vs Grounded-SAM" and "Δ Box vs
Grounded-SAM" of every other row, "Δ J&F vs L_box" of groprompt-lbox-contra and "Δ J&F / Δ Box vs L_box + L_contra"
of groprompt-detector-loss; by_kind gets "Δ J&F <kind> vs Grounded-SAM". Their 95% interval is the t-interval of
per-seed differences where a row has several seeds (a run without a training seed is subtracted from each seed; two
seeded rows are paired by seed, read from folder names seed0, seed1, ...), or a paired video bootstrap where both
rows are single runs (their per_object.csv must hold the same rows).

Writes into --out: table6.{csv,md,tex} (methods on --dataset-kind), table5.{csv,md,tex} (with --params),
by_kind.{csv,md} (expression kinds, SynRVOS), by_kind_contra.{csv,md} (L_box + L_contra vs L_box per kind),
refdavis_protocols.{csv,md} (assignment vs strict), table1/2/3.{csv,md,tex} (rows on the kinds that feed them:
Ref-YouTube-VOS and Ref-DAVIS17, A2D-Sentences, JHMDB-Sentences; groprompt datasets lists each kind's table),
mevis.{csv,md,tex} (rows on MeViS: J&F, J, F and J&F of single- and multi-object expressions; not in the paper),
tables.md (all of them).
Example, on the evaluation folders of the main job (snakemake --cores all), into a folder of your own:
  E=work/default/eval/synrvos/valid
  groprompt tables --config-name default --dataset-kind synrvos --params work/default/params.json \\
    --rows grounded-sam=$E/grounded-sam gt-box-sam=$E/gt-box-sam \\
           groprompt-lbox=$E/groprompt/lbox/seed0,$E/groprompt/lbox/seed1,$E/groprompt/lbox/seed2 \\
    --out my_tables"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("--config-name", required=True, help="the study's name (the tables' heading)")
    parser.add_argument("--dataset-kind", required=True,
                        help="the study's dataset kind (groprompt datasets lists them): Table 6 and the "
                             "breakdowns are of the rows on it")
    parser.add_argument("--rows", nargs="+", action="extend", default=[], metavar="[KIND:]KEY=DIR[,DIR...]",
                        help="method rows, each with its evaluation folders (one per seed); repeatable. Without "
                             "rows (nothing scored, e.g. Ref-YouTube-VOS valid) only Table 5 is made")
    parser.add_argument("--generated", nargs="+", action="extend", default=[], metavar="KIND",
                        help="dataset kinds whose rows are on SynRVOS generated in the kind's layout (groprompt "
                             "synrvos --layout; the workflow's datasets with generate): their captions say "
                             "synthetic, e.g. --generated mevis")
    parser.add_argument("--params", type=Path, default=None,
                        help="JSON of groprompt params --json for the study's config (Table 5)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables (e.g. results/<name>)")


def run(args: argparse.Namespace) -> int:
    from groprompt.errors import GroPromptError
    from groprompt.reporting.report import build_tables, write_tables
    from groprompt.data.registry import dataset_kind
    from groprompt.reporting.results import read_rows
    from groprompt.reporting.table5 import read_params
    from groprompt.reporting.tables import to_markdown

    dataset_kind(args.dataset_kind)
    if not args.rows and args.params is None:
        raise GroPromptError("nothing to tabulate", fix="pass --rows (evaluation folders), --params, or both")
    params = read_params(args.params) if args.params is not None else None
    rows = read_rows(args.rows, args.dataset_kind)
    tables = build_tables(args.dataset_kind, rows, params, args.generated)
    paths = write_tables(tables, args.out, args.config_name)
    for table in tables:
        print(to_markdown(table))
    print(f"wrote {len(paths)} files into {args.out}: {', '.join(path.name for path in paths)}")
    return 0
