"""``groprompt evaluate``: score predicted masks against ground-truth annotations (method_spec.md §8)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

NAME = "evaluate"
HELP = "Score predicted masks (DAVIS, Ref-DAVIS17 or per-expression layout) with J, F and J&F."

_LAYOUT_HELP = """\
layout of --pred. auto (default) detects it: anno_<k> sub-folders -> refdavis (anno_0..anno_3, one per Ref-DAVIS17
expression set: annotator 1 first-frame, annotator 1 full-video, annotator 2 first-frame, annotator 2 full-video,
each <video>/<frame>.png label maps); a video folder holding folders (<video>/<exp_id>/<frame>.png, binary masks)
-> per-expression (needs --expressions); otherwise davis (<video>/<frame>.png label maps, value = object id)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Frames scored are those with a ground-truth PNG. Outputs: OUT/per_object.csv (one row per set, protocol,\n"
        "video and object or expression; values in [0, 1]; with a `kind` column where the expressions file gives\n"
        "kinds and a `Box` column with --boxes) and OUT/summary.csv (J, F, J&F x100 per set and protocol, Box\n"
        "with --boxes, and the mean over sets in the rows with set 'mean'); where expressions have kinds (SynRVOS),\n"
        "OUT/summary_by_kind.csv (the same measures per expression kind)."
    )
    parser.add_argument("--pred", type=Path, required=True, help="folder of predicted masks")
    parser.add_argument("--gt", type=Path, required=True,
                        help="ground-truth annotation folder: <video>/<frame>.png palette PNGs (value = object id, "
                             "255 = void, excluded)")
    parser.add_argument("--layout", choices=("auto", "davis", "refdavis", "per-expression"), default="auto",
                        help=_LAYOUT_HELP)
    parser.add_argument("--expressions", type=Path, default=None,
                        help="meta_expressions.json mapping each expression to its object (per-expression layout)")
    parser.add_argument("--protocol", choices=("assignment", "strict", "both"), default=None,
                        help="davis/refdavis layouts: assignment = DAVIS-2017 unsupervised matching of prediction "
                             "ids to objects by maximum J&F (the Ref-DAVIS17 protocol); strict = prediction id k "
                             "is scored against object k only; both (default). The per-expression layout has one "
                             "protocol (each expression against its own object)")
    parser.add_argument("--boxes", type=Path, default=None,
                        help="per-expression layout: the boxes/ folder of groprompt infer (<video>.csv with exp_id, "
                             "frame, x0, y0, x1, y1, score); adds the box IoU against the tight box of each "
                             "ground-truth mask (mean over frames where the object is present; Table 6 'Box')")
    parser.add_argument("--out", type=Path, required=True, help="folder for per_object.csv and summary.csv")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes scoring videos in parallel (default: all cores, %(default)s here)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="score a missing prediction video or frame as an empty mask (counted in the summary) "
                             "instead of failing")


def run(args: argparse.Namespace) -> int:
    from groprompt.errors import GroPromptError
    from groprompt.evaluation import layouts, runner, summary
    from groprompt.files import atomic_path

    if args.workers < 1:
        raise GroPromptError(f"--workers must be at least 1, got {args.workers}", fix="pass --workers 1 or more")
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
    else:  # a kind summary left by an earlier evaluation into this folder would be read as this one's
        (args.out / "summary_by_kind.csv").unlink(missing_ok=True)
    for name, frame in outputs.items():
        with atomic_path(args.out / name) as tmp:
            frame.to_csv(tmp, index=False)

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


def _protocols(layout: str, requested: str | None) -> tuple[str, ...]:
    from groprompt.errors import GroPromptError

    if layout == "per-expression":
        if requested not in (None, "both"):
            raise GroPromptError(
                f"--protocol {requested} applies to whole-video label maps; the per-expression layout scores each "
                "expression against its own object", fix="leave --protocol out for per-expression predictions")
        return ("expression",)
    return ("assignment", "strict") if requested in (None, "both") else (requested,)
