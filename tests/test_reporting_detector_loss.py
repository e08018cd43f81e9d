"""Table 6's row of the plain fine-tuning baseline (Grounding DINO fine-tuned with its own loss) from hand-made
evaluation folders: its label and † mark, its paired differences against Grounded-SAM and against GroPrompt
(L_box + L_contra), and the other rows' cells unchanged by it.

Figures (×100). Grounded-SAM, one run without a seed: J&F 50, Box 70. GroPrompt (L_box + L_contra), seeds 0, 1, 2:
J&F 60, 62, 64, Box 72, 74, 76. The detector-loss run, seeds 0, 1, 2 (folders given in the order 1, 2, 0): J&F 55,
58, 64, Box 70, 73, 78. With t(0.975, 2) = 4.3027 and half-width t · s / √3:

* Δ J&F vs Grounded-SAM: 5, 8, 14: mean 9, s = √21 = 4.583, ± 11.4; Δ Box: 0, 3, 8: mean 3.67, s = 4.041, ± 10.0.
* Δ J&F vs L_box + L_contra, paired by seed: 55 − 60, 58 − 62, 64 − 64 = −5, −4, 0: mean −3, s = √7 = 2.646, ± 6.6
  (paired by position, −2, 2, −9, the half-width would be 13.8); Δ Box: −2, −1, 2: mean −0.33, s = 2.082, ± 5.2.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from groprompt.cli import main
from groprompt.reporting.report import build_tables
from groprompt.reporting.results import normalise_key, read_rows
from groprompt.reporting.tables import to_markdown

DETECTOR_LABEL = "Fine-tuned Grounding DINO (detector loss) †"


def write_summary(folder: Path, jf: float, box: float) -> Path:
    """An evaluation folder holding only its headline figures (the seeded rows need no per-object rows)."""
    folder.mkdir(parents=True)
    pd.DataFrame([{"set": "mean", "protocol": "expression", "J&F-Mean": jf, "J-Mean": jf, "F-Mean": jf,
                   "Box": box}]).to_csv(folder / "summary.csv", index=False)
    return folder


def _row(key: str, folders: list[Path]) -> str:
    return f"{key}=" + ",".join(map(str, folders))


@pytest.fixture
def rows(tmp_path) -> dict[str, str]:
    """The --rows specs of the three methods; the baseline under the workflow's run name."""
    contra = [write_summary(tmp_path / "contra" / f"seed{s}", 60 + 2 * s, 72 + 2 * s) for s in range(3)]
    detector = {0: (55, 70), 1: (58, 73), 2: (64, 78)}
    return {
        "grounded-sam": _row("grounded-sam", [write_summary(tmp_path / "grounded-sam", 50, 70)]),
        "groprompt-lbox-contra": _row("groprompt-lbox-contra", contra),
        "detector": _row("groprompt/detector_loss", [write_summary(tmp_path / "detector" / f"seed{s}", *detector[s])
                                                     for s in (1, 2, 0)]),
    }


def _markdown_rows(table) -> dict[str, dict[str, str]]:
    lines = [line for line in to_markdown(table).splitlines() if line.startswith("| ")]
    header, *body = ([cell.strip() for cell in line.strip("|").split(" | ")] for line in lines)
    return {cells[0]: dict(zip(header[1:], cells[1:], strict=True)) for cells in body}


def _table6(specs) -> object:
    return next(table for table in build_tables("synrvos", read_rows(specs, "synrvos")) if table.name == "table6")


def test_the_workflow_variant_detector_loss_is_the_baselines_row():
    assert normalise_key("groprompt-detector_loss") == normalise_key("groprompt/detector_loss") == (
        "groprompt-detector-loss")


def test_table6_row_and_its_paired_differences(rows):
    table = _table6(list(rows.values()))
    assert [column.name for column in table.columns] == [
        "Method", "Seeds", "Box", "J&F", "J", "F", "Δ J&F vs Grounded-SAM", "Δ Box vs Grounded-SAM",
        "Δ J&F vs L_box + L_contra", "Δ Box vs L_box + L_contra", "Box (reported)", "J&F (reported)"]
    cells = _markdown_rows(table)
    assert list(cells) == ["Grounded-SAM", "GroPrompt (L_box + L_contra)", DETECTOR_LABEL]
    assert cells[DETECTOR_LABEL] == {
        "Seeds": "3", "Box": "73.7 ± 10.0", "J&F": "59.0 ± 11.4", "J": "59.0 ± 11.4", "F": "59.0 ± 11.4",
        "Δ J&F vs Grounded-SAM": "+9.0 ± 11.4", "Δ Box vs Grounded-SAM": "+3.7 ± 10.0",
        "Δ J&F vs L_box + L_contra": "-3.0 ± 6.6", "Δ Box vs L_box + L_contra": "-0.3 ± 5.2",
        "Box (reported)": "–", "J&F (reported)": "–"}
    # The new comparison applies to the baseline only.
    assert cells["GroPrompt (L_box + L_contra)"]["Δ J&F vs L_box + L_contra"] == "–"
    assert any("L_box + L_contra is GroPrompt (L_box + L_contra)" in note for note in table.notes)
    assert table.notes[-1].startswith("†: not in the paper")


def test_the_other_rows_are_unchanged_by_the_baselines_row(rows):
    without = _table6([rows["grounded-sam"], rows["groprompt-lbox-contra"]])
    with_baseline = _table6(list(rows.values()))
    assert [column.name for column in without.columns if "L_box + L_contra" in column.name] == []
    old, new = _markdown_rows(without), _markdown_rows(with_baseline)
    for method, cells in old.items():
        assert {name: new[method][name] for name in cells} == cells
    assert old["GroPrompt (L_box + L_contra)"]["Δ Box vs Grounded-SAM"] == "+4.0 ± 5.0"  # 2, 4, 6


def test_tables_cli_writes_the_baselines_differences(rows, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["tables", "--config-name", "toy", "--dataset-kind", "synrvos", "--rows", *rows.values(),
                 "--out", str(out)]) == 0
    capsys.readouterr()
    baseline = pd.read_csv(out / "table6.csv").set_index("Method").loc[DETECTOR_LABEL]
    assert baseline["Δ J&F vs L_box + L_contra"] == pytest.approx(-3.0)
    assert baseline["Δ J&F vs L_box + L_contra CI high"] - baseline["Δ J&F vs L_box + L_contra"] == pytest.approx(
        4.302652729749462 * 7 ** 0.5 / 3 ** 0.5)
    assert baseline["Δ Box vs L_box + L_contra"] == pytest.approx(-1 / 3)
    assert "paired 95% t-interval over 3 per-seed differences" in baseline["interval"]
