"""``groprompt evaluate``: score predicted masks against ground-truth annotations (docs/method_spec.md §8)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

NAME = "evaluate"
HELP = ("Score predicted masks: J, F and J&F (DAVIS, Ref-DAVIS17 or per-expression layout), or P@K, overall and "
        "mean IoU (A2D-/JHMDB-Sentences, referring layout).")

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
    parser.epilog = (
        "Frames scored are those with a ground-truth PNG. Outputs: OUT/per_object.csv (one row per set, protocol,\n"
        "video and object or expression; values in [0, 1]; with a `kind` column where the expressions file gives\n"
        "kinds and a `Box` column with --boxes) and OUT/summary.csv (J, F, J&F x100 per set and protocol, Box\n"
        "with --boxes, and the mean over sets in the rows with set 'mean'); where expressions have kinds (SynRVOS),\n"
        "OUT/summary_by_kind.csv (the same measures per expression kind).\n"
        "--layout referring: OUT/per_sample.csv (video, expression, object_id, frame, intersection, union, IoU,\n"
        "missing) and OUT/summary.csv (one row: samples, missing_frames, P@0.5 .. P@0.9, overall IoU = sum I / sum U,\n"
        "mean IoU; x100), where IoU = (I + 1e-6) / (U + 1e-6) and P@K is the share of samples with IoU > K."
    )
    parser.add_argument("--pred", type=Path, required=True,
                        help="folder of predicted masks (referring layout: the Annotations folder of groprompt infer)")
    parser.add_argument("--gt", type=Path, default=None,
                        help="ground-truth annotation folder: <video>/<frame>.png palette PNGs (value = object id, "
                             "255 = void, excluded); required except with --layout referring")
    parser.add_argument("--layout", choices=("auto", "davis", "refdavis", "per-expression", "referring"),
                        default="auto", help=_LAYOUT_HELP)
    parser.add_argument("--data", type=Path, default=None,
                        help="referring layout: the dataset root folder (its ground truth and expressions are read "
                             "from it)")
    parser.add_argument("--dataset-kind", default=None,
                        help="referring layout: the dataset reader, as for groprompt infer (a2d, jhmdb; any kind "
                             "whose split has ground truth works)")
    parser.add_argument("--split", default=None, help="referring layout: the split scored (default: test)")
    parser.add_argument("--expressions", type=Path, default=None,
                        help="meta_expressions.json mapping each expression to its object (per-expression layout, "
                             "and refdavis with --boxes)")
    parser.add_argument("--protocol", choices=("assignment", "strict", "both"), default=None,
                        help="davis/refdavis layouts: assignment = DAVIS-2017 unsupervised matching of prediction "
                             "ids to objects by maximum J&F (the Ref-DAVIS17 protocol); strict = prediction id k "
                             "is scored against object k only; both (default). The per-expression layout has one "
                             "protocol (each expression against its own object)")
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
    from groprompt.evaluation import layouts, runner, summary
    from groprompt.files import check_writable

    if args.workers < 1:
        raise GroPromptError(f"--workers must be at least 1, got {args.workers}", fix="pass --workers 1 or more")
    check_writable(args.out, "score folder (--out)")
    if args.layout == "referring":
        return _run_referring(args)
    _refuse(args.layout, {"--data": args.data, "--dataset-kind": args.dataset_kind, "--split": args.split},
            fix="leave it out, or pass --layout referring to score A2D-/JHMDB-Sentences samples")
    if args.gt is None:
        raise GroPromptError(f"the {args.layout} layout needs the ground-truth annotation folder",
                             fix="pass --gt <video>/<frame>.png folder, or --layout referring with --data and "
                                 "--dataset-kind")
    plan = layouts.plan_evaluation(args.pred, args.gt, args.layout, args.expressions, args.allow_missing,
                                   args.boxes)
    protocols = _protocols(plan.layout, args.protocol)
    for warning in plan.warnings:
        print(f"groprompt {NAME}: warning: {warning}", file=sys.stderr)

    per_object = summary.per_object_table(runner.score_plan(plan, protocols, args.workers))
    table = summary.summary_table(per_object, plan, protocols)
    by_kind = summary.kind_summary_table(per_object)
    outputs = {"per_object.csv": per_object, "summary.csv": table}
    if by_kind is not None:
        outputs["summary_by_kind.csv"] = by_kind
    _write_tables(args.out, outputs)

    print(f"layout {plan.layout}: {len(plan.jobs)} videos, {len(plan.sets)} expression set(s); J, F, J&F x100")
    print(table.to_string(index=False, float_format=lambda value: f"{value:.2f}"))
    missing = int(table["missing_frames"][table["set"] == summary.MEAN_SET].iloc[0])
    if missing:
        total = int(table["frames"][table["set"] == summary.MEAN_SET].iloc[0])
        print(f"{missing} of {total} prediction frames were missing and scored as empty masks (--allow-missing)")
    if by_kind is not None:
        print("by expression kind:")
        print(by_kind.to_string(index=False, float_format=lambda value: f"{value:.2f}"))
    print(f"wrote {', '.join(str(args.out / name) for name in outputs)}")
    return 0


def _run_referring(args: argparse.Namespace) -> int:
    """``--layout referring``: one sample per annotated (video, frame, instance), P@K, overall and mean IoU."""
    from groprompt.data import open_dataset
    from groprompt.errors import GroPromptError
    from groprompt.evaluation import referring

    _refuse("referring", {"--gt": args.gt, "--expressions": args.expressions, "--boxes": args.boxes,
                          "--protocol": args.protocol},
            fix="leave it out: the referring layout reads the ground truth and expressions from --data")
    if args.data is None or args.dataset_kind is None:
        raise GroPromptError("--layout referring needs the dataset: --data ROOT and --dataset-kind KIND",
                             fix="e.g. --data data/a2d_sentences --dataset-kind a2d --split test")
    dataset = open_dataset(args.dataset_kind, args.data, args.split or "test")
    plan = referring.plan_referring(dataset, args.pred, args.allow_missing)
    for warning in plan.warnings:
        print(f"groprompt {NAME}: warning: {warning}", file=sys.stderr)

    per_sample = referring.score_referring(plan, args.workers)
    table = referring.summary_table(per_sample)
    outputs = {referring.PER_SAMPLE_FILE: per_sample, "summary.csv": table}
    _write_tables(args.out, outputs)

    print(f"layout referring: {dataset.name} {dataset.split}, {len(plan.jobs)} videos, {plan.samples} samples; "
          "P@K, overall and mean IoU x100")
    print(table.to_string(index=False, float_format=lambda value: f"{value:.2f}"))
    if plan.missing:
        print(f"{plan.missing} of {plan.samples} prediction frames were missing and scored as empty masks "
              "(--allow-missing)")
    print(f"wrote {', '.join(str(args.out / name) for name in outputs)}")
    return 0


OUTPUT_FILES = ("per_object.csv", "summary.csv", "summary_by_kind.csv", "per_sample.csv")
"""Every table an evaluation may write."""


def _write_tables(out: Path, tables: dict) -> None:
    """Write ``tables`` (file name -> DataFrame) atomically into ``out``, and delete the other
    :data:`OUTPUT_FILES` there: left by an earlier evaluation into this folder, they would be read as this one's."""
    from groprompt.files import atomic_path

    for name in OUTPUT_FILES:
        if name not in tables:
            (out / name).unlink(missing_ok=True)
    for name, frame in tables.items():
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)


def _refuse(layout: str, options: dict[str, object], fix: str) -> None:
    """A named error for the first of ``options`` (flag -> value) that was given but does not apply to ``layout``."""
    from groprompt.errors import GroPromptError

    for flag, value in options.items():
        if value is not None:
            raise GroPromptError(f"{flag} does not apply to the {layout} layout", fix=fix)


def _protocols(layout: str, requested: str | None) -> tuple[str, ...]:
    from groprompt.errors import GroPromptError

    if layout == "per-expression":
        if requested not in (None, "both"):
            raise GroPromptError(
                f"--protocol {requested} applies to whole-video label maps; the per-expression layout scores each "
                "expression against its own object", fix="leave --protocol out for per-expression predictions")
        return ("expression",)
    return ("assignment", "strict") if requested in (None, "both") else (requested,)
