"""Evaluation of predicted masks: folder layouts, protocols (assignment, strict, per-expression), tables; and the
A2D-/JHMDB-Sentences sample scores (:mod:`.referring`).

``groprompt evaluate`` is the command-line front end; this package is usable without it.
"""

from groprompt.evaluation.layouts import LAYOUTS, EvaluationPlan, VideoJob, detect_layout, plan_evaluation
from groprompt.evaluation.protocols import (
    PROTOCOLS,
    ObjectScore,
    VideoTruth,
    match_predictions,
    score_expression,
    score_label_maps,
)
from groprompt.evaluation.referring import plan_referring, score_referring
from groprompt.evaluation.runner import score_plan
from groprompt.evaluation.summary import kind_summary_table, per_object_table, summary_table

__all__ = [
    "LAYOUTS", "PROTOCOLS", "EvaluationPlan", "ObjectScore", "VideoJob", "VideoTruth", "detect_layout",
    "kind_summary_table", "match_predictions", "per_object_table", "plan_evaluation", "plan_referring",
    "score_expression", "score_label_maps", "score_plan", "score_referring", "summary_table",
]
