"""Table 6 of the paper: the loss ablation, box-prompt IoU and J&F, J, F per method (docs/method_spec.md §7-§9).

Rows: Grounded-SAM, GroPrompt (L_box), GroPrompt (L_box + L_contra), GT box + SAM, then any other baseline (the
plain fine-tuning baseline "Fine-tuned Grounding DINO (detector loss)" among them), each from its evaluation folders
(one per seed). Columns: Box, J&F, J, F (×100, with the §9 interval); the paired differences
(:mod:`~groprompt.reporting.differences`) "Δ J&F vs Grounded-SAM" and "Δ Box vs Grounded-SAM" of every other row,
"Δ J&F vs L_box" of GroPrompt (L_box + L_contra), and "Δ J&F vs L_box + L_contra" and "Δ Box vs L_box + L_contra"
of the detector-loss baseline (each column only where its two rows are there); then the paper's Ref-DAVIS17 figures
in columns marked "reported" (blank for rows the paper lacks).
"""

from __future__ import annotations

from collections.abc import Sequence

from groprompt.data.registry import DatasetKind
from groprompt.reporting.differences import (
    PLAIN_FINE_TUNING,
    TAP_CL,
    ZERO_SHOT,
    DifferenceColumn,
    difference_notes,
    present_columns,
)
from groprompt.reporting.reported import reported
from groprompt.reporting.results import JF_MEASURES, MethodRuns, not_in_paper_notes, ordered
from groprompt.reporting.tables import Column, Table

SEEDS = Column("Seeds", "number", digits=0)
"""How many runs (seeds) a row's figures come from."""
REPORTED_COLUMNS = ("Box", "J&F")
"""The paper's figures shown beside ours."""
DIFFERENCES = (DifferenceColumn(ZERO_SHOT, "J&F", JF_MEASURES["J&F"]),
               DifferenceColumn(ZERO_SHOT, "Box", JF_MEASURES["Box"]),
               DifferenceColumn(TAP_CL, "J&F", JF_MEASURES["J&F"]),
               DifferenceColumn(PLAIN_FINE_TUNING, "J&F", JF_MEASURES["J&F"]),
               DifferenceColumn(PLAIN_FINE_TUNING, "Box", JF_MEASURES["Box"]))
"""The paired differences shown (where their rows are there): the paper's two claims, fine-tuning over zero-shot
and TAP-CL over L_box, and the question it leaves open, GroPrompt's objective against fine-tuning with the
detector's own loss (in Box, which the losses act on, and in J&F, what reaches the masks)."""

INTERVAL_NOTE = ("Intervals (95%): \"a ± h\" is the Student t-interval over seeds; \"a [l, h]\" is the percentile "
                 "interval of a video-level bootstrap (1000 resamples) of a single run.")


def protocol_note(rows: Sequence[MethodRuns]) -> str:
    """Which evaluation protocol the figures come from (the headline one of the rows' evaluations)."""
    protocols = sorted({str(run.headline_protocol) for row in rows for run in row.runs})
    described = {
        "assignment": "assignment (the DAVIS-2017 unsupervised evaluation that Ref-DAVIS17 uses: predictions "
                      "matched to objects by maximum J&F, per expression set, then the mean of the 4 sets)",
        "expression": "per expression (each expression scored against the object it refers to)",
        "strict": "strict (each expression scored against its own object only)",
    }
    return "Protocol: " + "; ".join(described.get(p, p) for p in protocols) + "."


def build_table6(rows: Sequence[MethodRuns], dataset: DatasetKind) -> Table:
    """Table 6 from the method rows evaluated on ``dataset`` (rows on other datasets are ignored)."""
    rows = ordered([row for row in rows if row.dataset == dataset.key])
    differences = present_columns(rows, DIFFERENCES)
    columns = [Column("Method"), SEEDS, *(Column(name, "estimate") for name in JF_MEASURES),
               *(Column(difference.name, "estimate", signed=True) for difference in differences),
               *(Column(f"{name} (reported)", "number") for name in REPORTED_COLUMNS)]
    body = []
    for row in rows:
        cells: dict = {"Method": row.label, "Seeds": len(row.runs)}
        cells |= {name: row.estimate(column) for name, column in JF_MEASURES.items()}
        cells |= {difference.name: difference.cell(row, rows) for difference in differences}
        paper = reported("Table 6", row.key)
        if paper is not None:
            cells |= {f"{name} (reported)": paper.values[name] for name in REPORTED_COLUMNS}
        body.append(cells)
    elsewhere = "" if dataset.key == "refdavis" else (
        f" They are on Ref-DAVIS17, not on {dataset.name}: a reference point, not a target.")
    caption = (f"Loss ablation (paper Table 6) on {dataset.caption}. Box: IoU of the box prompts with the tight "
               "boxes of the ground-truth masks (mean over the frames where the object is present, then over "
               "expressions); J&F, J, F: region and contour accuracy; all ×100, computed by this harness. "
               f"Columns marked (reported) are the paper's Ref-DAVIS17 figures.{elsewhere}")
    notes = [protocol_note(rows), INTERVAL_NOTE, *difference_notes(body, differences),
             *not_in_paper_notes(row.key for row in rows)]
    return Table("table6", "Table 6", caption, columns, body, notes)
