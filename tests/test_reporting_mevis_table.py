"""The MeViS table from tiny hand-made evaluation folders (exact cells, captions, column groups, CLI), and from what
``groprompt evaluate`` writes for the tiny MeViS video of mevis_fixtures.

Every method is evaluated on the same rows: video a with expressions 0 (one object) and 1 (two objects), video b
with expression 0 (one object).
Grounded-SAM (one run): (J&F, J, F, Box) = (.2, .1, .3, .5), (.4, .3, .5, .7) on a, (.9, .8, 1.0, .9) on b: J&F,
J, F 50, 40, 60 with the video bootstrap intervals [30, 90], [20, 80], [40, 100] (test_reporting_tables); single-
object J&F (.2 + .9) / 2 = 55, whose videos resample to (a, a) 20, (b, b) 90, (a, b) 55: [20, 90]; multi-object
J&F 40 from video a alone: [40, 40].
GroPrompt (L_box) (three seeds, summaries only): J&F 60, 62, 64 -> 62.0 ± 5.0 (t(0.975, 2) * 2 / sqrt(3) = 4.97),
J and F likewise 57.0 ± 5.0, 67.0 ± 5.0; single-object 70, 72, 74 -> 72.0 ± 5.0; multi-object 40, 41, 42 ->
41.0 ± 2.5 (4.303 / sqrt(3)).
GT box + SAM (one run, no per_object.csv: plain figures): J&F, J, F 80, 75, 85; single-object 85, multi-object 70.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mevis_fixtures import two_birds, write_mevis
from test_evaluate_mevis import EXPECTED, PREDICTIONS, evaluate, write_predictions

from groprompt.cli import main
from groprompt.data import open_dataset
from groprompt.data.mevis import load_mevis
from groprompt.data.registry import DatasetKind, dataset_kind
from groprompt.errors import GroPromptError
from groprompt.reporting.mevis_table import build_mevis_table
from groprompt.reporting.report import build_tables
from groprompt.reporting.results import MethodRuns, read_evaluation, read_rows
from groprompt.reporting.tables import Table, to_markdown

MEASURES = ("J&F-Mean", "J-Mean", "F-Mean", "Box")
ROWS = [("a", "0", "1"), ("a", "1", "1+2"), ("b", "0", "1")]
"""(video, expression, object_id) of every evaluation."""
GROUPS = ["single-object", "multi-object", "single-object"]


def write_eval(folder: Path, summary: dict, by_referents: tuple[float, float] | None,
               per_object: list[tuple] | None = None) -> Path:
    """An evaluation folder: summary.csv's mean row, summary_by_referents.csv (J&F of the single- and the
    multi-object expressions; none: a split without multi-object expressions), per_object.csv of :data:`ROWS`."""
    folder.mkdir(parents=True)
    pd.DataFrame([{"set": "mean", "protocol": "expression", **summary}]).to_csv(folder / "summary.csv", index=False)
    if by_referents is not None:
        pd.DataFrame([{"referents": group, "protocol": "expression", "expressions": n, "J&F-Mean": jf}
                      for group, n, jf in zip(("single-object", "multi-object"), (2, 1), by_referents, strict=True)]
                     ).to_csv(folder / "summary_by_referents.csv", index=False)
    if per_object is not None:
        rows = [{"set": "all", "protocol": "expression", "video": video, "object_id": obj, "expression": exp,
                 **dict(zip(MEASURES, values, strict=True)), **({"referents": group} if by_referents else {})}
                for (video, exp, obj), values, group in zip(ROWS, per_object, GROUPS, strict=True)]
        pd.DataFrame(rows).to_csv(folder / "per_object.csv", index=False)
    return folder


@pytest.fixture
def study(tmp_path) -> list[str]:
    """--rows specs of three methods on MeViS."""
    gsam = write_eval(tmp_path / "gsam", {"J&F-Mean": 50, "J-Mean": 40, "F-Mean": 60, "Box": 70}, (55, 40),
                      [(.2, .1, .3, .5), (.4, .3, .5, .7), (.9, .8, 1.0, .9)])
    seeds = [write_eval(tmp_path / "lbox" / f"seed{s}",
                        {"J&F-Mean": 60 + 2 * s, "J-Mean": 55 + 2 * s, "F-Mean": 65 + 2 * s}, (70 + 2 * s, 40 + s))
             for s in range(3)]
    gt = write_eval(tmp_path / "gt", {"J&F-Mean": 80, "J-Mean": 75, "F-Mean": 85}, (85, 70))
    return [f"gt-box-sam={gt}", "groprompt-lbox=" + ",".join(map(str, seeds)), f"grounded-sam={gsam}"]


def markdown_rows(table: Table) -> dict[str, list[str]]:
    """First cell -> the other cells of each body row of the table's Markdown."""
    lines = [line for line in to_markdown(table).splitlines() if line.startswith("| ")][1:]
    cells = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    return {row[0]: row[1:] for row in cells}


def mevis_table(tables: list[Table]) -> Table:
    return next(table for table in tables if table.name == "mevis")


def test_exact_cells_in_the_papers_order(study):
    table = mevis_table(build_tables("mevis", read_rows(study, "mevis")))
    assert [c.name for c in table.columns] == ["Method", "Seeds", "J&F", "J", "F", "J&F single-object (n=2)",
                                               "J&F multi-object (n=1)"]
    rows = markdown_rows(table)
    assert list(rows) == ["Grounded-SAM", "GroPrompt (L_box)", "GT box + SAM"]
    assert rows["Grounded-SAM"] == ["1", "50.0 [30.0, 90.0]", "40.0 [20.0, 80.0]", "60.0 [40.0, 100.0]",
                                    "55.0 [20.0, 90.0]", "40.0 [40.0, 40.0]"]
    assert rows["GroPrompt (L_box)"] == ["3", "62.0 ± 5.0", "57.0 ± 5.0", "67.0 ± 5.0", "72.0 ± 5.0", "41.0 ± 2.5"]
    assert rows["GT box + SAM"] == ["1", "80.0", "75.0", "85.0", "85.0", "70.0"]
    assert table.caption.startswith("Referring video object segmentation on MeViS, a benchmark the paper does not "
                                    "report")
    assert "union of their masks" in table.caption and not any("†" in note for note in table.notes)


def test_generated_mevis_is_captioned_synthetic_everywhere(study):
    tables = build_tables("mevis", read_rows(study, "mevis"), generated=["mevis"])
    assert {table.name for table in tables} == {"table6", "mevis"}
    for table in tables:
        assert "SynRVOS in the MeViS layout (synthetic), not MeViS" in table.caption
    with pytest.raises(GroPromptError, match="dataset kind 'refdavis' cannot be generated"):
        build_tables("mevis", read_rows(study, "mevis"), generated=["refdavis"])


def test_without_multi_object_expressions_only_the_headline_columns(tmp_path):
    folder = write_eval(tmp_path / "gsam", {"J&F-Mean": 50, "J-Mean": 40, "F-Mean": 60}, None)
    table = mevis_table(build_tables("mevis", read_rows([f"grounded-sam={folder}"], "mevis")))
    assert [c.name for c in table.columns] == ["Method", "Seeds", "J&F", "J", "F"]
    assert "No expression of MeViS refers to several objects" in " ".join(table.notes)


def test_one_column_group_per_evaluated_kind(study, tmp_path):
    """A kind of the user's that declares the MeViS table gets its own column group; a kind without rows none."""
    toy = DatasetKind("toy", "ToyMeViS", load_mevis, "per-expression", table="mevis")
    unused = DatasetKind("unused", "Unused", load_mevis, "per-expression", table="mevis")
    mevis_rows = read_rows(study, "mevis")
    toy_row = MethodRuns("grounded-sam", "toy", (read_evaluation(write_eval(
        tmp_path / "toy", {"J&F-Mean": 30, "J-Mean": 20, "F-Mean": 40}, None)),))
    table = build_mevis_table([*mevis_rows, toy_row], [dataset_kind("mevis"), toy, unused])
    names = [c.name for c in table.columns]
    assert names == ["Method", "MeViS Seeds", "MeViS J&F", "MeViS J", "MeViS F",
                     "MeViS J&F single-object (n=2)", "MeViS J&F multi-object (n=1)",
                     "ToyMeViS Seeds", "ToyMeViS J&F", "ToyMeViS J", "ToyMeViS F"]
    rows = markdown_rows(table)
    assert rows["Grounded-SAM"][names.index("ToyMeViS J&F") - 1] == "30.0"
    assert rows["GT box + SAM"][names.index("ToyMeViS J&F") - 1] == "–"
    assert "MeViS; ToyMeViS, a benchmark" in table.caption
    assert build_mevis_table(mevis_rows, [unused]) is None


def test_cli_writes_the_mevis_table(study, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["tables", "--config-name", "toy", "--dataset-kind", "mevis", "--generated", "mevis",
                 "--rows", *study, "--out", str(out)]) == 0
    assert {"mevis.csv", "mevis.md", "mevis.tex"} <= {path.name for path in out.iterdir()}
    frame = pd.read_csv(out / "mevis.csv").set_index("Method")
    assert frame.loc["GroPrompt (L_box)", "J&F multi-object (n=1)"] == pytest.approx(41)
    assert "SynRVOS in the MeViS layout (synthetic)" in (out / "tables.md").read_text()
    capsys.readouterr()


def test_from_what_evaluate_writes(tmp_path):
    """groprompt evaluate on the tiny MeViS video, then the MeViS table: its cells are the means of the hand-computed
    per-expression figures of test_evaluate_mevis (expressions 0 and 3 refer to one object, 1 and 2 to several)."""
    root = write_mevis(tmp_path / "mevis", "valid_u", [two_birds()])
    video = open_dataset("mevis", root, "valid_u").video("birds")
    assert evaluate(root, "valid_u", write_predictions(tmp_path / "infer", video, PREDICTIONS), tmp_path / "eval") == 0
    table = mevis_table(build_tables("mevis", read_rows([f"gt-box-sam={tmp_path / 'eval'}"], "mevis")))
    row = table.rows[0]
    jf = {exp: 100 * (j + f) / 2 for exp, (j, f, _) in EXPECTED.items()}
    assert row["J&F"].mean == pytest.approx(np.mean(list(jf.values())))
    assert row["J&F single-object (n=2)"].mean == pytest.approx((jf["0"] + jf["3"]) / 2)
    assert row["J&F multi-object (n=2)"].mean == pytest.approx((jf["1"] + jf["2"]) / 2)
    # one video: every bootstrap resample is that video, so the interval is the figure itself
    assert row["J&F multi-object (n=2)"].low == pytest.approx(row["J&F multi-object (n=2)"].mean)
