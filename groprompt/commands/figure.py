"""``groprompt figure``: the qualitative figure (paper Fig. 2 style) from the methods' ``groprompt infer`` folders."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "figure"
HELP = "Draw the qualitative figure (paper Fig. 2 style): frames, expression, each method's box and mask, and the GT."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset-kind", required=True,
                        help="dataset kind, as for groprompt infer (groprompt datasets lists them)")
    parser.add_argument("--data", type=Path, required=True, help="dataset root folder")
    parser.add_argument("--split", default="valid", help="split the methods were run on (default: %(default)s)")
    parser.add_argument("--generated", action="store_true",
                        help="the dataset is SynRVOS generated in the kind's layout (groprompt synrvos --layout; the "
                             "workflow's datasets with generate): the caption says synthetic")
    parser.add_argument("--method", action="append", required=True, metavar="KEY=INFER_DIR",
                        help="a method's groprompt infer --out folder, under its row key (grounded-sam, "
                             "groprompt-lbox, groprompt-lbox-contra, gt-box-sam, or a baseline's name); repeatable")
    parser.add_argument("--examples", type=int, default=1,
                        help="videos to show, chosen deterministically: first those with a motion expression "
                             "(default: %(default)s)")
    parser.add_argument("--video", default=None, help="show this video instead of the deterministic choice")
    parser.add_argument("--frames", type=int, default=4, help="frames per example (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write, e.g. results/<name>/figure.png")


def run(args: argparse.Namespace) -> int:
    from groprompt.data.registry import dataset_kind, open_dataset
    from groprompt.errors import GroPromptError
    from groprompt.reporting.contact_sheet import save_sheet
    from groprompt.reporting.figures import MethodOutputs, qualitative_figure
    from groprompt.reporting.results import normalise_key

    if args.examples < 1 or args.frames < 1:
        raise GroPromptError("--examples and --frames must be at least 1", fix="pass positive numbers")
    if args.out.suffix.lower() != ".png":
        raise GroPromptError("the figure is a PNG", path=args.out, fix="give --out a .png name")
    methods = []
    for spec in args.method:
        key, sep, folder = spec.partition("=")
        if not sep or not key or not folder:
            raise GroPromptError(f"malformed --method {spec!r}", fix="write --method KEY=INFER_DIR")
        if not Path(folder).is_dir():
            raise GroPromptError(f"infer folder of {key!r} does not exist", path=folder,
                                 fix="pass the --out folder of groprompt infer")
        methods.append(MethodOutputs(normalise_key(key), Path(folder)))
    info = dataset_kind(args.dataset_kind).generated() if args.generated else dataset_kind(args.dataset_kind)
    dataset = open_dataset(args.dataset_kind, args.data, args.split)
    figure = qualitative_figure(dataset, info, methods, examples=args.examples, num_frames=args.frames,
                                video=args.video)
    save_sheet(figure, args.out)
    print(f"wrote {args.out}")
    return 0
