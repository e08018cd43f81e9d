"""``groprompt evaluate``: score predicted masks against ground-truth annotations (docs/method_spec.md §8)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

NAME = "evaluate"
HELP = ("Score predicted masks: J, F and J&F (DAVIS, Ref-DAVIS17 or per-expression layout), or P@K, overall and "
        "mean IoU (A2D-/JHMDB-Sentences, referring layout); or a dataset split from groprompt infer's output, "
        "the way its kind is scored.")

_DESCRIPTION = """Two forms.
  dataset form: groprompt evaluate --dataset-kind KIND --data ROOT --split SPLIT --pred INFER_OUT --out OUT
    INFER_OUT is the folder groprompt infer --out wrote. The kind's evaluation decides the scoring:
    per-expression (synrvos, refytvos train: ROOT/SPLIT/Annotations, the split's meta_expressions.json, box IoU
    from INFER_OUT/boxes; mevis train and valid_u: each expression against the union of its objects, ground truth
    written from mask_dict.json to OUT/ground_truth), expression-sets (refdavis: the four expression sets written to OUT/sets, then the
    refdavis layout with box IoU), referring (a2d, jhmdb). A split without public ground truth is refused.
  folder form: groprompt evaluate --pred PRED (--gt GT | --layout referring --data ROOT --dataset-kind KIND)
    scores any folder in one of the layouts of --layout."""

_LAYOUT_HELP = """\
layout of --pred. auto (default) detects it: anno_<k> sub-folders -> refdavis (anno_0..anno_3, one per Ref-DAVIS17
expression set: annotator 1 first-frame, annotator 1 full-video, annotator 2 first-frame, annotator 2 full-video,
each <video>/<frame>.png label maps); a video folder holding folders (<video>/<exp_id>/<frame>.png, binary masks)
-> per-expression (needs --expressions); otherwise davis (<video>/<frame>.png label maps, value = object id).
referring (never auto-detected: it needs --data and --dataset-kind): the Annotations folder of groprompt infer
(<video>/<exp_id>/<frame>.png, non-zero = object) scored against the dataset read with its reader, one sample per
annotated (video, frame, instance) as A2D-Sentences and JHMDB-Sentences are scored"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = _DESCRIPTION
    parser.epilog = (
        "Frames scored are those with a ground-truth PNG. Outputs: OUT/per_object.csv (one row per set, protocol,\n"
        "video and object or expression; values in [0, 1]; with a `kind` column where the expressions file gives\n"
        "kinds and a `Box` column with --boxes) and OUT/summary.csv (J, F, J&F x100 per set and protocol, Box\n"
        "with --boxes, and the mean over sets in the rows with set 'mean'); where expressions have kinds (SynRVOS),\n"
        "OUT/summary_by_kind.csv (the same measures per expression kind); where some expression refers to several\n"
        "objects (MeViS), a `referents` column (single-object / multi-object) and OUT/summary_by_referents.csv (the\n"
        "same measures, and the expression count, per group).\n"
        "--layout referring: OUT/per_sample.csv (video, expression, object_id, frame, intersection, union, IoU,\n"
        "missing) and OUT/summary.csv (one row: samples, missing_frames, P@0.5 .. P@0.9, overall IoU = sum I / sum U,\n"
        "mean IoU; x100), where IoU = (I + 1e-6) / (U + 1e-6) and P@K is the share of samples with IoU > K."
    )
    parser.add_argument("--pred", type=Path, required=True,
                        help="folder of predicted masks (referring layout: the Annotations folder of groprompt "
                             "infer; dataset form: the output folder of groprompt infer itself)")
    parser.add_argument("--gt", type=Path, default=None,
                        help="ground-truth annotation folder: <video>/<frame>.png palette PNGs (value = object id, "
                             "255 = void, excluded); required except with --layout referring")
    parser.add_argument("--layout", choices=("auto", "davis", "refdavis", "per-expression", "referring"),
                        default="auto", help=_LAYOUT_HELP)
    parser.add_argument("--data", type=Path, default=None,
                        help="dataset form and referring layout: the dataset root folder (its ground truth and "
                             "expressions are read from it)")
    parser.add_argument("--dataset-kind", default=None,
                        help="the dataset kind, as for groprompt infer. Without --layout: the dataset form, scored "
                             "as the kind declares. With --layout referring: the reader (any kind whose split has "
                             "ground truth works)")
    parser.add_argument("--split", default=None,
                        help="dataset form (required) and referring layout (default: test): the split scored")
    parser.add_argument("--expressions", type=Path, default=None,
                        help="meta_expressions.json mapping each expression to its object (per-expression layout, "
                             "and refdavis with --boxes)")
    parser.add_argument("--protocol", choices=("assignment", "strict", "semi-supervised", "both"), default=None,
                        help="davis/refdavis layouts. assignment = the DAVIS-2017 unsupervised task (the Ref-DAVIS17 "
                             "protocol): prediction ids 1..max (at most 20; an absent id is an empty proposal) "
                             "matched one-to-one to the objects 1..m of the first ground-truth frame by maximum "
                             "J&F, every frame, void left out; strict = prediction id k against object k only, "
                             "otherwise as assignment; both (default) = assignment and strict; semi-supervised = "
                             "the DAVIS-2017 semi-supervised task (pass --gt DAVIS/Annotations/480p): id k against "
                             "object k, first and last frame not scored (nor read), void counted as background. "
                             "The per-expression layout has one protocol (each expression against its own object)")
    parser.add_argument("--boxes", type=Path, default=None,
                        help="per-expression and refdavis layouts (with --expressions): the boxes/ folder of "
                             "groprompt infer (<video>.csv with exp_id, frame, x0, y0, x1, y1, score); adds the box "
                             "IoU against the tight box of each ground-truth mask (mean over frames where the object "
                             "is present; Table 6 'Box'). refdavis: each object of set k gets its k-th expression's")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for per_object.csv and summary.csv (referring: per_sample.csv and summary.csv)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes scoring videos in parallel (default: all cores, %(default)s here)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="score a missing prediction video or frame as an empty mask (counted in the summary) "
                             "instead of failing")


def run(args: argparse.Namespace) -> int:
    from groprompt.errors import GroPromptError
    from groprompt.evaluation import pipeline
    from groprompt.files import check_writable

    if args.workers < 1:
        raise GroPromptError(f"--workers must be at least 1, got {args.workers}", fix="pass --workers 1 or more")
    check_writable(args.out, "score folder (--out)")
    if args.dataset_kind is not None and args.layout == "auto":
        plan = _plan_dataset(args)
    elif args.layout == "referring":
        plan = _plan_referring(args)
    else:
        plan = _plan_folders(args)
    for warning in plan.warnings:
        print(f"groprompt {NAME}: warning: {warning}", file=sys.stderr)
    tables = pipeline.score(plan, args.workers)
    pipeline.write_tables(args.out, tables)
    for line in plan.report(tables):
        print(line)
    print(f"wrote {', '.join(str(args.out / name) for name in tables)}")
    return 0


def _plan_dataset(args: argparse.Namespace):
    """The dataset form: ``--dataset-kind --data --split --pred INFER_OUT``, scored as the kind declares."""
    from groprompt.errors import GroPromptError
    from groprompt.evaluation import pipeline

    _refuse("the dataset form", {"--gt": args.gt, "--expressions": args.expressions, "--boxes": args.boxes},
            fix="leave it out: the dataset form reads the ground truth and expressions from --data and the boxes "
                "from --pred; or pass --layout to score folders")
    if args.data is None or args.split is None:
        raise GroPromptError("the dataset form of evaluate needs --data ROOT and --split SPLIT",
                             fix=f"e.g. --dataset-kind {args.dataset_kind} --data path/to/dataset --split valid "
                                 "--pred <groprompt infer --out folder>")
    return pipeline.plan_dataset(args.dataset_kind, args.data, args.split, args.pred, args.out, args.protocol,
                                 args.allow_missing)


def _plan_referring(args: argparse.Namespace):
    """``--layout referring``: one sample per annotated (video, frame, instance), P@K, overall and mean IoU."""
    from groprompt.data import open_dataset
    from groprompt.errors import GroPromptError
    from groprompt.evaluation import referring

    _refuse("the referring layout", {"--gt": args.gt, "--expressions": args.expressions, "--boxes": args.boxes,
                          "--protocol": args.protocol},
            fix="leave it out: the referring layout reads the ground truth and expressions from --data")
    if args.data is None or args.dataset_kind is None:
        raise GroPromptError("--layout referring needs the dataset: --data ROOT and --dataset-kind KIND",
                             fix="e.g. --data data/a2d_sentences --dataset-kind a2d --split test")
    return referring.plan_referring(open_dataset(args.dataset_kind, args.data, args.split or "test"), args.pred,
                                    args.allow_missing)


def _plan_folders(args: argparse.Namespace):
    """The label-map and per-expression layouts: ``--pred`` and ``--gt`` folders."""
    from groprompt.errors import GroPromptError
    from groprompt.evaluation import layouts

    _refuse(f"the {args.layout} layout",
            {"--data": args.data, "--dataset-kind": args.dataset_kind, "--split": args.split},
            fix="leave it out, or pass --layout referring to score A2D-/JHMDB-Sentences samples (or --dataset-kind "
                "without --layout for a dataset split)")
    if args.gt is None:
        raise GroPromptError(f"the {args.layout} layout needs the ground-truth annotation folder",
                             fix="pass --gt <video>/<frame>.png folder, or --layout referring with --data and "
                                 "--dataset-kind")
    return layouts.plan_evaluation(args.pred, args.gt, args.layout, args.expressions, args.allow_missing,
                                   args.boxes, args.protocol)


def _refuse(form: str, options: dict[str, object], fix: str) -> None:
    """A named error for the first of ``options`` (flag -> value) that was given but does not apply to ``form``
    (e.g. ``the davis layout``)."""
    from groprompt.errors import GroPromptError

    for flag, value in options.items():
        if value is not None:
            raise GroPromptError(f"{flag} does not apply to {form}", fix=fix)
