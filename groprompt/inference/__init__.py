"""Inference: run one method over a dataset split and write boxes, masks and the evaluation layout.

* :func:`run_inference` (:mod:`~groprompt.inference.runner`): the loop over videos and frames, the shared
  segmentor, resumption, ``run_stats.json``;
* :mod:`~groprompt.inference.outputs`: the output folder's layout, writers and readers, the submission archive;
* :mod:`~groprompt.inference.options`: ``--option key=value`` strings typed by the method's signature.

``groprompt infer`` (:mod:`groprompt.commands.infer`) is the command-line front end.
"""

from groprompt.inference.options import parse_option_pairs, path_options, typed_options
from groprompt.inference.outputs import OutputLayout, read_boxes, read_masks, write_submission
from groprompt.inference.runner import check_method_fits, run_identity, run_inference

__all__ = [
    "OutputLayout",
    "check_method_fits",
    "parse_option_pairs",
    "path_options",
    "read_boxes",
    "read_masks",
    "run_identity",
    "run_inference",
    "typed_options",
    "write_submission",
]
