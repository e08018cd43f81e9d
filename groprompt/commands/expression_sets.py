"""``groprompt expression-sets``: Ref-DAVIS17's anno_0..anno_3 label maps from per-expression predictions."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "expression-sets"
HELP = ("Merge per-expression predictions of Ref-DAVIS17 into its four expression-set folders anno_0..anno_3 "
        "(label maps) for groprompt evaluate.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", type=Path, required=True, help="a groprompt infer output folder")
    parser.add_argument("--data", type=Path, required=True, help="Ref-DAVIS17 root (Ref-YouTube-VOS layout)")
    parser.add_argument("--split", default="valid", help="split the predictions are for (default: valid)")
    parser.add_argument("--out", type=Path, required=True, help="folder for anno_0 .. anno_3")
    parser.epilog = ("Overlapping masks of one set go to the expression with the higher box score on that frame. "
                     "Then: groprompt evaluate --pred OUT --gt DATA/SPLIT/Annotations. (groprompt evaluate "
                     "--dataset-kind refdavis --data DATA --split SPLIT --pred <infer folder> --out SCORES does "
                     "both, writing the sets to SCORES/sets.)")


def run(args: argparse.Namespace) -> int:
    from groprompt.data import load_refdavis
    from groprompt.evaluation.expression_sets import write_expression_sets

    written = write_expression_sets(load_refdavis(args.data, args.split), args.pred, args.out)
    print(f"wrote {written} label maps under {args.out}/anno_0..anno_3")
    return 0
