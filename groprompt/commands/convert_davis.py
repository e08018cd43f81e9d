"""``groprompt convert-davis``: raw DAVIS-2017 + Ref-DAVIS17 expressions -> the Ref-YouTube-VOS layout."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "convert-davis"
HELP = "Convert raw DAVIS-2017 and the Ref-DAVIS17 expression files into the Ref-YouTube-VOS layout."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--davis-root", type=Path, required=True,
                        help="folder with JPEGImages/480p, Annotations_unsupervised/480p and ImageSets/2017")
    parser.add_argument("--out", type=Path, required=True, help="output folder (must be empty unless --force)")
    parser.add_argument("--text-dir", type=Path, default=None,
                        help="folder with Davis17_annot*.txt (default: davis_text_annotations inside --davis-root, "
                             "else beside it)")
    parser.add_argument("--copy", action="store_true",
                        help="copy frames and annotations instead of symlinking them (for a self-contained output)")
    parser.add_argument("--force", action="store_true",
                        help="replace train/, valid/ and meta_expressions/ in a non-empty --out")


def run(args: argparse.Namespace) -> int:
    from groprompt.data.davis_convert import convert_davis

    out = convert_davis(args.davis_root, args.out, text_dir=args.text_dir, copy=args.copy, force=args.force)
    print(f"convert-davis: wrote the Ref-DAVIS17 layout to {out}")
    return 0
