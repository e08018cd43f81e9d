"""The figures the GroPrompt paper reports, typed in once, each with the table and row it comes from.

Tables show them only in columns or rows labelled "reported" (docs/method_spec.md §9), never mixed unlabelled with
figures this code computed. Keys of ``values`` are the tables' headers (``J&F``, ``J``, ``F``, ``Box``, ``P@0.5``
.. ``P@0.9``, ``Overall IoU``, ``Mean IoU``; Table 5 also ``Trainable parameters``, a text such as ``~15M``).
``key`` is the row of ours it compares with (:data:`groprompt.reporting.results.PAPER_ROWS`), or the paper's own
method key for methods this harness does not run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ReportedRow:
    """One row of one of the paper's tables.

    Attributes:
        table: ``"Table 1"`` .. ``"Table 6"``; dataset: the key of the dataset the figures are on (None for
            Table 5's parameter counts, which are on no dataset); key: see the module docstring; method: the
            paper's row label; values: header -> figure (×100) or text.
    """

    table: str
    dataset: str | None
    key: str
    method: str
    values: Mapping[str, float | str]


def _scores(*figures: float, names: tuple[str, ...]) -> dict[str, float]:
    return dict(zip(names, figures, strict=True))


_JF = ("J&F", "J", "F")
_REFERRING = ("P@0.5", "P@0.6", "P@0.7", "P@0.8", "P@0.9", "Overall IoU", "Mean IoU")
_TABLE5 = ("Trainable parameters", "Ref-YouTube-VOS J&F", "Ref-DAVIS17 J&F")

REPORTED: tuple[ReportedRow, ...] = (
    # Table 1: validation splits of Ref-YouTube-VOS and Ref-DAVIS17.
    ReportedRow("Table 1", "refytvos", "grounded-sam", "Grounded-SAM [25]", _scores(62.3, 61.0, 63.6, names=_JF)),
    ReportedRow("Table 1", "refdavis", "grounded-sam", "Grounded-SAM [25]", _scores(65.2, 62.3, 68.0, names=_JF)),
    ReportedRow("Table 1", "refytvos", "groprompt-lbox-contra", "GroPrompt (Ours)",
                _scores(65.5, 64.1, 66.9, names=_JF)),
    ReportedRow("Table 1", "refdavis", "groprompt-lbox-contra", "GroPrompt (Ours)",
                _scores(70.6, 67.8, 73.3, names=_JF)),
    # Table 2: A2D-Sentences.
    ReportedRow("Table 2", "a2d", "grounded-sam", "Grounded-SAM [25]",
                _scores(80.8, 78.7, 73.9, 59.8, 23.8, 71.0, 68.9, names=_REFERRING)),
    ReportedRow("Table 2", "a2d", "groprompt-lbox-contra", "GroPrompt (Ours)",
                _scores(83.9, 81.5, 75.9, 60.5, 23.4, 77.3, 71.3, names=_REFERRING)),
    # Table 3: JHMDB-Sentences.
    ReportedRow("Table 3", "jhmdb", "grounded-sam", "Grounded-SAM [25]",
                _scores(95.3, 89.4, 70.0, 23.1, 0.3, 71.9, 71.7, names=_REFERRING)),
    ReportedRow("Table 3", "jhmdb", "groprompt-lbox-contra", "GroPrompt (Ours)",
                _scores(96.8, 90.8, 71.0, 23.2, 0.3, 73.3, 72.4, names=_REFERRING)),
    # Table 5: trainable parameters, with J&F on Ref-YouTube-VOS and Ref-DAVIS17.
    ReportedRow("Table 5", None, "referformer", "ReferFormer [42]", _scores("~112M", 62.9, 61.1, names=_TABLE5)),
    ReportedRow("Table 5", None, "onlinerefer", "OnlineRefer [41]", _scores("~221M", 63.5, 64.8, names=_TABLE5)),
    ReportedRow("Table 5", None, "deva", "DEVA [8]", _scores("~112M", 66.0, 66.3, names=_TABLE5)),
    ReportedRow("Table 5", None, "groprompt-lbox-contra", "GroPrompt (Ours)",
                _scores("~15M", 65.5, 70.6, names=_TABLE5)),
    # Table 6: loss ablation on Ref-DAVIS17; "Box" is the IoU of the box prompts.
    ReportedRow("Table 6", "refdavis", "grounded-sam", "Grounded-SAM [25]",
                _scores(69.9, 65.2, 62.3, 68.0, names=("Box", *_JF))),
    ReportedRow("Table 6", "refdavis", "groprompt-lbox", "GroPrompt (L_box only)",
                _scores(73.2, 69.8, 67.0, 72.7, names=("Box", *_JF))),
    ReportedRow("Table 6", "refdavis", "groprompt-lbox-contra", "GroPrompt (L_box + L_contra)",
                _scores(74.4, 70.6, 67.8, 73.3, names=("Box", *_JF))),
    ReportedRow("Table 6", "refdavis", "gt-box-sam", "GT Box + SAM (upper bound)",
                _scores(100.0, 83.6, 80.1, 87.2, names=("Box", *_JF))),
)


def reported(table: str, key: str, dataset: str | None = None) -> ReportedRow | None:
    """The paper's row of ``table`` for ``key`` (on ``dataset`` where the table spans several), or None."""
    for row in REPORTED:
        if row.table == table and row.key == key and (dataset is None or row.dataset == dataset):
            return row
    return None


def reported_rows(table: str, dataset: str | None = None) -> list[ReportedRow]:
    """Every row of ``table`` (on ``dataset`` if given), in the paper's order."""
    return [row for row in REPORTED if row.table == table and (dataset is None or row.dataset == dataset)]
