"""Evaluation of predicted masks (docs/method_spec.md §8): one pipeline (:mod:`.pipeline`: plan -> score -> tables ->
write) for the J&F protocols of folder layouts (:mod:`.layouts`, :mod:`.protocols`, :mod:`.summary`: assignment,
strict, semi-supervised, per-expression) and the A2D-/JHMDB-Sentences sample scores (:mod:`.referring`).

``groprompt evaluate`` is the command-line front end; this package is usable without it.
"""

from groprompt.evaluation.layouts import LAYOUTS, EvaluationPlan, detect_layout, plan_evaluation
from groprompt.evaluation.pipeline import plan_dataset, score, score_jobs, write_tables
from groprompt.evaluation.protocols import (
    PROTOCOLS,
    ObjectScore,
    VideoTruth,
    match_predictions,
    score_expression,
    score_label_maps,
)
from groprompt.evaluation.referring import plan_referring, sample_summary_table
from groprompt.evaluation.runner import VideoJob
from groprompt.evaluation.summary import group_summary_table, per_object_table, referent_groups, set_summary_table

__all__ = [
    "LAYOUTS", "PROTOCOLS", "EvaluationPlan", "ObjectScore", "VideoJob", "VideoTruth", "detect_layout",
    "group_summary_table", "match_predictions", "per_object_table", "plan_dataset", "plan_evaluation",
    "plan_referring", "referent_groups", "sample_summary_table", "score", "score_expression", "score_jobs",
    "score_label_maps", "set_summary_table", "write_tables",
]
