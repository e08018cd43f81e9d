"""Metrics on masks and boxes read from disk (docs/method_spec.md §8); they know nothing of models.

* :func:`region_similarity` (J) and :func:`boundary_measure` (F): DAVIS per-frame measures, bit-identical to the
  official DAVIS-2017 evaluation; for every (prediction, object) pair of a video at once, the same numbers come
  from :func:`~groprompt.metrics.region.pair_region_similarity` (one joint label histogram per frame) and
  :class:`~groprompt.metrics.boundary.BoundaryScan` (each mask's boundary taken once).
* :func:`object_statistics` and :func:`summarize_objects`: per-object mean / recall / decay and the global
  J, F, J&F summary ×100.
* :func:`box_iou`, :func:`expression_box_iou`, :func:`mean_box_iou`: Table 6 "Box".
* :func:`intersection_union` and :func:`referring_segmentation_scores`: A2D- / JHMDB-Sentences P@K, overall and
  mean IoU.
"""

from groprompt.metrics.boundary import DEFAULT_BOUND_TH, boundary_map, boundary_measure, tolerance_radius
from groprompt.metrics.boxes import box_iou, expression_box_iou, mean_box_iou
from groprompt.metrics.referring import PRECISION_THRESHOLDS, intersection_union, referring_segmentation_scores
from groprompt.metrics.region import region_similarity
from groprompt.metrics.statistics import (
    SUMMARY_COLUMNS,
    ObjectStatistics,
    decay_bins,
    object_statistics,
    summarize_objects,
)

__all__ = [
    "DEFAULT_BOUND_TH",
    "PRECISION_THRESHOLDS",
    "SUMMARY_COLUMNS",
    "ObjectStatistics",
    "boundary_map",
    "boundary_measure",
    "box_iou",
    "decay_bins",
    "expression_box_iou",
    "intersection_union",
    "mean_box_iou",
    "object_statistics",
    "referring_segmentation_scores",
    "region_similarity",
    "summarize_objects",
    "tolerance_radius",
]
