"""Tables from tiny hand-made evaluation folders: exact cells, reported figures labelled, captions, writers, CLI.

Every method is evaluated on the same rows: video a with expressions 0 and 1, video b with expression 0.
Grounded-SAM (one run): (J&F, J, F, Box) = (.2, .1, .3, .5) and (.4, .3, .5, .7) on a, (.9, .8, 1.0, .9) on b:
figures 50, 40, 60, 70; video bootstrap intervals (hand-computed in test_reporting_intervals): J&F [30, 90],
J [20, 80], F [40, 100], Box [60, 90].
GroPrompt (L_box + L_contra) (three seeds): J&F 60, 62, 64 -> 62.0 ± 5.0 (t(0.975, 2) * 2 / sqrt(3) = 4.97); its
difference from Grounded-SAM per seed 10, 12, 14 -> +12.0 ± 5.0.
GT box + SAM (one run, no Box): J&F .8 on every row. Paired bootstrap of its difference from Grounded-SAM: a
resample of videos (a, a) gives .8 − .3 = 50, (b, b) .8 − .9 = −10, (a, b) 80 − 50 = 30: +30.0 [-10.0, 50.0].
first-frame-box (one run): (.1, .1, .1, .2) on every row: Δ J&F −40 [−80, −20] (a: .1 − .3, b: .1 − .9), Δ Box
−50 [−70, −40] (a: .2 − .6, b: .2 − .9).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from groprompt.cli import main
from groprompt.errors import GroPromptError
from groprompt.reporting.intervals import Estimate
from groprompt.reporting.report import build_tables, write_tables
from groprompt.reporting.reported import REPORTED, reported
from groprompt.reporting.results import read_rows
from groprompt.reporting.tables import Column, Table, format_cell, latex_escape, to_csv, to_latex, to_markdown

MEASURES = ("J&F-Mean", "J-Mean", "F-Mean", "Box")


def write_eval(folder: Path, summary: list[dict], per_object: list[dict] | None = None,
               by_kind: list[dict] | None = None) -> Path:
    folder.mkdir(parents=True)
    pd.DataFrame(summary).to_csv(folder / "summary.csv", index=False)
    if per_object is not None:
        pd.DataFrame(per_object).to_csv(folder / "per_object.csv", index=False)
    if by_kind is not None:
        pd.DataFrame(by_kind).to_csv(folder / "summary_by_kind.csv", index=False)
    return folder


def expression_rows(values: dict[str, list[tuple]], kinds: dict[str, list[str]] | None = None) -> list[dict]:
    rows = []
    for video, entries in values.items():
        for k, entry in enumerate(entries):
            row = {"set": "all", "protocol": "expression", "video": video, "expression": str(k),
                   **dict(zip(MEASURES, entry, strict=False))}
            if kinds:
                row["kind"] = kinds[video][k]
            rows.append(row)
    return rows


def mean_row(protocol: str = "expression", **figures: float) -> list[dict]:
    return [{"set": "mean", "protocol": protocol, **figures}]


@pytest.fixture
def study(tmp_path) -> dict[str, str]:
    """Evaluation folders of four methods on SynRVOS; returns the --rows specs."""
    gsam = write_eval(
        tmp_path / "gsam",
        mean_row(**{"J&F-Mean": 50, "J-Mean": 40, "F-Mean": 60, "Box": 70}),
        expression_rows({"a": [(.2, .1, .3, .5), (.4, .3, .5, .7)], "b": [(.9, .8, 1.0, .9)]},
                        {"a": ["motion", "appearance"], "b": ["motion"]}),
        [{"kind": "appearance", "protocol": "expression", "expressions": 1, "J&F-Mean": 40, "Box": 70},
         {"kind": "motion", "protocol": "expression", "expressions": 2, "J&F-Mean": 55, "Box": 70}],
    )
    # Folders not named seed<N>: seeds unknown, which pairing with a single run without a seed does not need.
    seeds = [write_eval(tmp_path / f"full{s}",
                        mean_row(**{"J&F-Mean": 60 + 2 * s, "J-Mean": 55 + 2 * s, "F-Mean": 65 + 2 * s, "Box": 70}),
                        expression_rows({"a": [(.6 + .02 * s, .55 + .02 * s, .65 + .02 * s, .7)] * 2,
                                         "b": [(.6 + .02 * s, .55 + .02 * s, .65 + .02 * s, .7)]}))
             for s in range(3)]
    gt = write_eval(tmp_path / "gt", mean_row(**{"J&F-Mean": 80, "J-Mean": 75, "F-Mean": 85}),
                    expression_rows({"a": [(.8, .75, .85)] * 2, "b": [(.8, .75, .85)]}))
    other = write_eval(tmp_path / "ffb", mean_row(**{"J&F-Mean": 10, "J-Mean": 10, "F-Mean": 10, "Box": 20}),
                       expression_rows({"a": [(.1, .1, .1, .2)] * 2, "b": [(.1, .1, .1, .2)]},
                                       {"a": ["motion", "appearance"], "b": ["motion"]}),
                       [{"kind": kind, "protocol": "expression", "expressions": n, "J&F-Mean": 10, "Box": 20}
                        for kind, n in (("appearance", 1), ("motion", 2))])
    return {"grounded-sam": f"grounded-sam={gsam}", "first-frame-box": f"first-frame-box={other}",
            "gt-box-sam": f"gt-box-sam={gt}",
            "groprompt-lbox-contra": "groprompt-lbox-contra=" + ",".join(map(str, seeds))}


def tables_by_name(tables: list[Table]) -> dict[str, Table]:
    return {table.name: table for table in tables}


def markdown_rows(table: Table) -> dict[str, list[str]]:
    """First cell -> the other cells of each body row of the table's Markdown."""
    lines = [line for line in to_markdown(table).splitlines() if line.startswith("| ")][1:]
    cells = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    return {row[0]: row[1:] for row in cells}


def test_table6_exact_cells_and_order(study):
    specs = [study[k] for k in ("first-frame-box", "gt-box-sam", "groprompt-lbox-contra", "grounded-sam")]
    table6 = tables_by_name(build_tables("synrvos", read_rows(specs, "synrvos")))["table6"]
    rows = markdown_rows(table6)
    assert list(rows) == ["Grounded-SAM", "GroPrompt (L_box + L_contra)", "GT box + SAM", "first-frame-box †"]
    # Seeds, Box, J&F, J, F, Δ J&F vs Grounded-SAM, Δ Box vs Grounded-SAM, Box (reported), J&F (reported); no
    # L_box row, so no "Δ J&F vs L_box".
    assert [c.name for c in table6.columns] == ["Method", "Seeds", "Box", "J&F", "J", "F", "Δ J&F vs Grounded-SAM",
                                                "Δ Box vs Grounded-SAM", "Box (reported)", "J&F (reported)"]
    assert rows["Grounded-SAM"] == ["1", "70.0 [60.0, 90.0]", "50.0 [30.0, 90.0]", "40.0 [20.0, 80.0]",
                                    "60.0 [40.0, 100.0]", "–", "–", "69.9", "65.2"]
    assert rows["GroPrompt (L_box + L_contra)"] == ["3", "70.0 ± 0.0", "62.0 ± 5.0", "57.0 ± 5.0", "67.0 ± 5.0",
                                                    "+12.0 ± 5.0", "+0.0 ± 0.0", "74.4", "70.6"]
    assert rows["GT box + SAM"] == ["1", "–", "80.0 [80.0, 80.0]", "75.0 [75.0, 75.0]", "85.0 [85.0, 85.0]",
                                    "+30.0 [-10.0, 50.0]", "–", "100.0", "83.6"]
    assert rows["first-frame-box †"][5:] == ["-40.0 [-80.0, -20.0]", "-50.0 [-70.0, -40.0]", "–", "–"]
    header = to_markdown(table6).splitlines()[2]
    assert "Box (reported)" in header and "J&F (reported)" in header
    assert any("paired 95%" in note and "paired video bootstrap" in note for note in table6.notes)
    assert table6.notes[-1].startswith("†: not in the paper")
    paper_only = build_tables("synrvos", read_rows([study["grounded-sam"], study["gt-box-sam"]], "synrvos"))
    assert not any("†" in note for note in tables_by_name(paper_only)["table6"].notes)


def test_table6_csv_has_numeric_columns(study, tmp_path):
    tables = build_tables("synrvos", read_rows(list(study.values()), "synrvos"))
    write_tables(tables, tmp_path / "out", "toy")
    frame = pd.read_csv(tmp_path / "out" / "table6.csv").set_index("Method")
    full = frame.loc["GroPrompt (L_box + L_contra)"]
    half = 4.302652729749462 * 2 / 3 ** 0.5
    assert (full["J&F"], full["J&F CI low"], full["J&F CI high"]) == pytest.approx((62, 62 - half, 62 + half))
    assert full["interval"] == "95% t-interval over 3 seeds; paired 95% t-interval over 3 per-seed differences"
    delta = (full["Δ J&F vs Grounded-SAM"], full["Δ J&F vs Grounded-SAM CI low"], full["Δ J&F vs Grounded-SAM CI high"])
    assert delta == pytest.approx((12, 12 - half, 12 + half))
    assert frame.loc["GT box + SAM", "interval"] == ("95% video bootstrap (1000 resamples) of one run; paired 95% "
                                                     "video bootstrap (1000 resamples) of one run each")
    # What CI reads (.ci/run): Method first, and Box, J&F, J, F within 0..100; differences are in other columns.
    assert list(frame.reset_index().columns[:6]) == ["Method", "Seeds", "Box", "Box CI low", "Box CI high", "J&F"]
    for column in ("Box", "J&F", "J", "F"):
        assert frame[column].dropna().between(0, 100).all()
    assert frame["Δ J&F vs Grounded-SAM"].min() == pytest.approx(-40)
    gsam = frame.loc["Grounded-SAM"]
    assert (gsam["Box"], gsam["Box CI low"], gsam["Box CI high"]) == pytest.approx((70, 60, 90))
    assert gsam["Box (reported)"] == 69.9 and gsam["J&F (reported)"] == 65.2
    assert pd.isna(frame.loc["first-frame-box †", "J&F (reported)"])
    assert pd.isna(frame.loc["GT box + SAM", "Box"])
    written = {path.name for path in (tmp_path / "out").iterdir()}
    assert {"table6.csv", "table6.md", "table6.tex", "by_kind.csv", "by_kind.md", "tables.md"} <= written
    assert not any(name.startswith(".") for name in written)  # no temporary files left


def test_synrvos_captions_say_so(study):
    params = {"prompter_size": "tiny", "trainable_groups": ["decoder"], "segmentor_variant": "tiny",
              "modalcon": True, "totals": {"prompter": {"parameters": 9, "trainable": 1_800_000},
                                           "all": {"parameters": 9, "trainable": 1_850_000}}}
    tables = build_tables("synrvos", read_rows(list(study.values()), "synrvos"), params)
    assert {t.name for t in tables} == {"table6", "table5", "by_kind"}
    for table in tables:
        assert "SynRVOS (synthetic), not Ref-DAVIS17" in table.caption
        assert "SynRVOS" in to_latex(table) or "tex" not in table.formats


def test_by_kind_cells(study):
    by_kind = tables_by_name(build_tables("synrvos", read_rows([study["grounded-sam"]], "synrvos")))["by_kind"]
    header = to_markdown(by_kind).splitlines()[2]
    assert "J&F appearance (n=1)" in header and "Box motion (n=2)" in header
    # appearance: video a only -> no spread; motion: a .2 / b .9, mean 55, bootstrap [20, 90]. Nothing to compare
    # Grounded-SAM with: no Δ columns.
    assert markdown_rows(by_kind)["Grounded-SAM"] == ["1", "40.0 [40.0, 40.0]", "70.0 [70.0, 70.0]",
                                                      "55.0 [20.0, 90.0]", "70.0 [50.0, 90.0]"]
    assert not any("Δ" in column.name for column in by_kind.columns)


def test_by_kind_differences_from_grounded_sam(study):
    """first-frame-box (.1 on every row) against Grounded-SAM per kind. appearance: only a1, .1 − .4 -> −30 with
    no spread; motion: a0 .1 − .2 and b0 .1 − .9, figure 10 − 55 = −45, resamples (a, a) −10, (b, b) −80."""
    rows = read_rows([study["grounded-sam"], study["first-frame-box"]], "synrvos")
    by_kind = tables_by_name(build_tables("synrvos", rows))["by_kind"]
    assert [c.name for c in by_kind.columns][-2:] == ["Δ J&F appearance vs Grounded-SAM",
                                                      "Δ J&F motion vs Grounded-SAM"]
    cells = markdown_rows(by_kind)
    assert cells["first-frame-box †"][-2:] == ["-30.0 [-30.0, -30.0]", "-45.0 [-80.0, -10.0]"]
    assert cells["Grounded-SAM"][-2:] == ["–", "–"]
    assert "paired" in to_markdown(by_kind)


def test_table5_counts_and_reported(study):
    params = {"prompter_size": "swin-t", "trainable_groups": ["decoder", "bbox_embed"],
              "segmentor_variant": "vit_h", "modalcon": True,
              "totals": {"prompter": {"parameters": 172_300_000, "trainable": 11_200_000},
                         "segmentor": {"parameters": 641_000_000, "trainable": 0},
                         "modalcon": {"parameters": 3_000_000, "trainable": 3_000_000},
                         "all": {"parameters": 816_300_000, "trainable": 14_200_000}}}
    table5 = tables_by_name(build_tables("synrvos", read_rows([study["groprompt-lbox-contra"]], "synrvos"),
                                         params))["table5"]
    rows = markdown_rows(table5)
    assert rows["ReferFormer [42]"] == ["–", "~112M", "62.9", "61.1", "–"]
    assert rows["OnlineRefer [41]"][1] == "~221M" and rows["DEVA [8]"][1] == "~112M"
    assert rows["GroPrompt (Ours)"] == ["14.20M", "~15M", "65.5", "70.6", "62.0 ± 5.0"]
    assert "prompter 11.20M, segmentor 0, modalcon 3.00M" in to_markdown(table5)
    assert "14200000" in to_csv(table5)
    assert "$\\sim$112M" in to_latex(table5)


def test_reported_figures_typed_once_and_labelled():
    keys = [(row.table, row.dataset, row.key) for row in REPORTED]
    assert len(keys) == len(set(keys))
    assert reported("Table 6", "grounded-sam").values == {"Box": 69.9, "J&F": 65.2, "J": 62.3, "F": 68.0}
    assert reported("Table 6", "groprompt-lbox").values["Box"] == 73.2
    assert reported("Table 6", "gt-box-sam").values["J&F"] == 83.6
    assert reported("Table 1", "groprompt-lbox-contra", "refdavis").values["J&F"] == 70.6
    assert reported("Table 2", "groprompt-lbox-contra").values["Mean IoU"] == 71.3
    assert reported("Table 3", "groprompt-lbox-contra").values["Mean IoU"] == 72.4
    assert reported("Table 6", "first-frame-box") is None


def test_refdavis_tables_1_and_protocols(tmp_path):
    per_object, summary = [], []
    for protocol, (a, b) in {"assignment": (0.8, 0.6), "strict": (0.6, 0.2)}.items():
        for set_name in ("anno_0", "anno_1", "anno_2", "anno_3"):
            per_object += [{"set": set_name, "protocol": protocol, "video": v, "J&F-Mean": x, "J-Mean": x,
                            "F-Mean": x} for v, x in (("cat", a), ("dog", b))]
        figure = 100 * (a + b) / 2
        summary.append({"set": "mean", "protocol": protocol, "J&F-Mean": figure, "J-Mean": figure, "F-Mean": figure})
    folder = write_eval(tmp_path / "gsam", summary, per_object)
    tables = tables_by_name(build_tables("refdavis", read_rows([f"grounded-sam={folder}"], "refdavis")))
    assert set(tables) == {"table6", "refdavis_protocols", "table1"}
    assert "SynRVOS" not in tables["table6"].caption and "Ref-DAVIS17" in tables["table6"].caption
    # The headline (Table 6, Table 1) is the assignment protocol: 70; strict 40. Bootstrap: cat vs dog.
    assert markdown_rows(tables["table6"])["Grounded-SAM"][2] == "70.0 [60.0, 80.0]"
    protocols = markdown_rows(tables["refdavis_protocols"])["Grounded-SAM"]
    assert protocols[1:3] == ["70.0 [60.0, 80.0]", "40.0 [20.0, 60.0]"]
    table1 = markdown_rows(tables["table1"])
    assert table1["Grounded-SAM [25]"] == ["reported (Table 1 of the paper)", "62.3", "61.0", "63.6", "65.2",
                                           "62.3", "68.0"]
    assert table1["Grounded-SAM"][:5] == ["computed", "–", "–", "–", "70.0 [60.0, 80.0]"]
    assert table1["GroPrompt (Ours)"][4] == "70.6"
    assert list(table1) == ["Grounded-SAM [25]", "Grounded-SAM", "GroPrompt (Ours)"]


def test_a_kind_of_the_users_joins_the_table_it_declares(tmp_path, monkeypatch):
    """Table 1's datasets are the kinds that declare it: the paper's two, then a module's, with its name."""
    kinds = tmp_path / "dataset_kinds"
    kinds.mkdir()
    (kinds / "mybench.py").write_text('from groprompt.data import DatasetKind, load_refytvos\n'
                                      'MYBENCH = DatasetKind("mybench", "MyBench", load_refytvos, "per-expression", '
                                      'table="table1")\n')
    monkeypatch.setenv("GROPROMPT_DATASET_KINDS", str(kinds))
    folder = write_eval(tmp_path / "gsam", mean_row(**{"J&F-Mean": 50.0, "J-Mean": 40.0, "F-Mean": 60.0}))
    tables = tables_by_name(build_tables("mybench", read_rows([f"grounded-sam={folder}"], "mybench")))
    assert set(tables) == {"table6", "table1"}
    assert "on MyBench." in tables["table6"].caption
    table1 = tables["table1"]
    assert [column.name for column in table1.columns][2::3] == ["Ref-YouTube-VOS J&F", "Ref-DAVIS17 J&F",
                                                                   "MyBench J&F"]
    assert "validation splits of Ref-YouTube-VOS, Ref-DAVIS17 and MyBench: J&F" in table1.caption
    assert "this harness's evaluation on MyBench (blank" in table1.caption
    assert markdown_rows(table1)["Grounded-SAM"] == ["computed", *["–"] * 6, "50.0", "40.0", "60.0"]


def test_table2_from_a_one_row_summary(tmp_path):
    figures = {"P@0.5": 80, "P@0.6": 70, "P@0.7": 60, "P@0.8": 50, "P@0.9": 20, "overall IoU": 75, "mean IoU": 65}
    folder = write_eval(tmp_path / "a2d", [figures])
    tables = tables_by_name(build_tables("synrvos", read_rows([f"a2d:groprompt-lbox-contra={folder}"], "synrvos")))
    assert set(tables) == {"table2"}
    rows = markdown_rows(tables["table2"])
    assert rows["GroPrompt (L_box + L_contra)"] == ["computed", "80.0", "70.0", "60.0", "50.0", "20.0", "75.0",
                                                    "65.0"]
    assert rows["GroPrompt (Ours)"][0].startswith("reported") and rows["GroPrompt (Ours)"][-1] == "71.3"
    assert "A2D-Sentences" in tables["table2"].caption


def test_latex_escaping_and_writer():
    assert latex_escape("J&F 100% a_b #1 $x$ {y} ~z ^w \\") == (
        "J\\&F 100\\% a\\_b \\#1 \\$x\\$ \\{y\\} $\\sim$z \\textasciicircum{}w \\textbackslash{}")
    table = Table("t", "Table X", "Scores & 50% of them", [Column("Method"), Column("J&F", "estimate")],
                  [{"Method": "a_b", "J&F": Estimate(62.0, 57.0, 67.0, "t", runs=3)}, {"Method": "c"}])
    tex = to_latex(table)
    assert "\\caption{Scores \\& 50\\% of them}" in tex
    assert "Method & J\\&F \\\\" in tex and "a\\_b & 62.0 $\\pm$ 5.0 \\\\" in tex and "c & -- \\\\" in tex
    assert "\\toprule" in tex and "\\bottomrule" in tex and "\\begin{tabular}{lr}" in tex


def test_tables_cli(study, tmp_path, capsys):
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"prompter_size": "tiny", "totals": {"all": {"parameters": 5, "trainable": 3}}}))
    out = tmp_path / "results" / "toy"
    code = main(["tables", "--config-name", "toy", "--dataset-kind", "synrvos", "--params", str(params),
                 "--rows", *study.values(), "--out", str(out)])
    assert code == 0
    assert "# Tables of the study toy" in (out / "tables.md").read_text()
    assert {"table5.tex", "table6.tex", "by_kind.md"} <= {p.name for p in out.iterdir()}
    capsys.readouterr()


def test_tables_cli_without_rows_makes_table5_alone(tmp_path, capsys):
    """A study that scores nothing (Ref-YouTube-VOS valid: submissions only) still gets its Table 5."""
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"prompter_size": "swin-b", "totals": {"all": {"parameters": 9, "trainable": 7}}}))
    out = tmp_path / "results" / "ytvos"
    assert main(["tables", "--config-name", "ytvos", "--dataset-kind", "refytvos", "--params", str(params),
                 "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"table5.csv", "table5.md", "table5.tex", "tables.md"}
    assert "| GroPrompt (Ours) | 7 |" in (out / "table5.md").read_text()
    capsys.readouterr()
    assert main(["tables", "--config-name", "ytvos", "--dataset-kind", "refytvos", "--out", str(tmp_path / "x")]) == 2
    assert "nothing to tabulate" in capsys.readouterr().err


@pytest.mark.parametrize("spec, message", [("grounded-sam", "malformed row"), ("nowhere:x=a", "unknown dataset"),
                                           ("x={missing}", "no summary.csv")])
def test_bad_rows_are_named(tmp_path, capsys, spec, message):
    code = main(["tables", "--config-name", "toy", "--dataset-kind", "synrvos",
                 "--rows", spec.format(missing=tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_workflow_run_names_are_row_keys(study):
    spec = study["groprompt-lbox-contra"].replace("groprompt-lbox-contra=", "groprompt/lbox_contra=")
    (row,) = read_rows([spec], "synrvos")
    assert (row.key, row.label) == ("groprompt-lbox-contra", "GroPrompt (L_box + L_contra)")


def test_seeds_must_agree(study, tmp_path):
    lacking_box = write_eval(tmp_path / "nobox", mean_row(**{"J&F-Mean": 1, "J-Mean": 1, "F-Mean": 1}))
    spec = study["groprompt-lbox-contra"] + f",{lacking_box}"
    with pytest.raises(GroPromptError, match="'Box' is in some evaluations"):
        build_tables("synrvos", read_rows([spec], "synrvos"))
    with pytest.raises(GroPromptError, match="given twice"):
        read_rows([study["grounded-sam"], study["grounded-sam"]], "synrvos")


def seeded_variants(tmp_path: Path) -> list[str]:
    """GroPrompt (L_box) and (L_box + L_contra) with seeds 0, 1, 2 in folders seed<N>, with kinds; the contra
    row's folders are given in the order 2, 0, 1. J&F per seed: L_box 40, 45, 50; contra 41, 46, 53 (differences
    1, 1, 3: +1.7 ± 2.9). Per kind (both have one appearance and one motion expression): L_box appearance 30 + s,
    motion 50 + s; contra appearance 35 + s (+5.0 ± 0.0), motion 50 + 2s (differences 0, 1, 2: +1.0 ± 2.5)."""
    specs = {}
    for key, jf, kinds in (("lbox", (40, 45, 50), lambda s: (30 + s, 50 + s)),
                           ("contra", (41, 46, 53), lambda s: (35 + s, 50 + 2 * s))):
        folders = []
        for seed in ((0, 1, 2) if key == "lbox" else (2, 0, 1)):
            appearance, motion = kinds(seed)
            folders.append(write_eval(
                tmp_path / key / f"seed{seed}", mean_row(**{"J&F-Mean": jf[seed], "J-Mean": 1, "F-Mean": 1}),
                None, [{"kind": "appearance", "protocol": "expression", "expressions": 1, "J&F-Mean": appearance},
                       {"kind": "motion", "protocol": "expression", "expressions": 1, "J&F-Mean": motion}]))
        name = "groprompt-lbox" if key == "lbox" else "groprompt-lbox-contra"
        specs[name] = f"{name}=" + ",".join(map(str, folders))
    return list(specs.values())


def test_contra_against_lbox_paired_by_seed(tmp_path):
    tables = tables_by_name(build_tables("synrvos", read_rows(seeded_variants(tmp_path), "synrvos")))
    table6 = tables["table6"]
    # No Grounded-SAM row: no "vs Grounded-SAM" columns; "vs L_box" filled on the contra row only.
    assert [c.name for c in table6.columns if "Δ" in c.name] == ["Δ J&F vs L_box"]
    rows = markdown_rows(table6)
    assert rows["GroPrompt (L_box)"][5] == "–"
    assert rows["GroPrompt (L_box + L_contra)"][5] == "+1.7 ± 2.9"  # 4.3027 * 1.1547 / sqrt(3) = 2.868
    # The by-kind table has no Grounded-SAM to compare with; TAP-CL per kind is a table of its own.
    assert not any("Δ" in c.name for c in tables["by_kind"].columns)
    contra = tables["by_kind_contra"]
    assert [c.name for c in contra.columns] == ["Method", "Seeds", "Δ J&F appearance vs L_box",
                                                "Δ J&F motion vs L_box"]
    assert markdown_rows(contra) == {"GroPrompt (L_box + L_contra)": ["3", "+5.0 ± 0.0", "+1.0 ± 2.5"]}
    assert "SynRVOS (synthetic)" in contra.caption and "appearance 1, motion 1" in contra.caption
    csv = to_csv(contra)
    assert "Δ J&F motion vs L_box CI low" in csv and "paired 95% t-interval over 3 per-seed differences" in csv


def test_tables_cli_writes_the_difference_tables(study, tmp_path, capsys):
    out = tmp_path / "out"
    others = [spec for key, spec in study.items() if key != "groprompt-lbox-contra"]
    assert main(["tables", "--config-name", "toy", "--dataset-kind", "synrvos", "--rows", *others,
                 *seeded_variants(tmp_path), "--out", str(out)]) == 0
    capsys.readouterr()
    assert {"by_kind_contra.csv", "by_kind_contra.md"} <= {p.name for p in out.iterdir()}
    header = pd.read_csv(out / "table6.csv").columns
    assert {"Δ J&F vs Grounded-SAM", "Δ Box vs Grounded-SAM", "Δ J&F vs L_box"} <= set(header)
    tex = (out / "table6.tex").read_text()
    assert "$\\Delta$ J\\&F vs L\\_box" in tex and "paired video bootstrap" in tex
    # L_box's seeds (per-object rows absent) against Grounded-SAM's single run: a t-interval of seed differences.
    lbox = pd.read_csv(out / "table6.csv").set_index("Method").loc["GroPrompt (L_box)"]
    assert lbox["Δ J&F vs Grounded-SAM"] == pytest.approx(45 - 50)
    assert "paired 95% t-interval over 3 per-seed differences" in lbox["interval"]


def test_unpaired_seeds_are_said_in_the_notes(tmp_path):
    lbox, contra = seeded_variants(tmp_path)
    contra = ",".join(contra.split(",")[:2])  # seeds 2 and 0 against L_box's 0, 1, 2
    table6 = tables_by_name(build_tables("synrvos", read_rows([lbox, contra], "synrvos")))["table6"]
    assert markdown_rows(table6)["GroPrompt (L_box + L_contra)"][5] == "+2.0"  # (53 + 41) / 2 - 45, no interval
    assert ("No interval for GroPrompt (L_box + L_contra) vs GroPrompt (L_box): the seeds differ ([0, 2] against "
            "[0, 1, 2]).") in table6.notes


def test_mismatched_rows_are_an_error(study, tmp_path, capsys):
    """Two single runs whose per-object rows differ (another split, another layout) cannot be paired."""
    elsewhere = write_eval(tmp_path / "elsewhere", mean_row(**{"J&F-Mean": 10, "J-Mean": 10, "F-Mean": 10}),
                           expression_rows({"a": [(.1, .1, .1)], "z": [(.1, .1, .1)]}))
    rows = read_rows([study["grounded-sam"], f"gt-box-sam={elsewhere}"], "synrvos")
    with pytest.raises(GroPromptError, match=r"GT box \+ SAM .* has 1 per-object row\(s\) that Grounded-SAM .* "
                                             r"lacks.*video z, expression 0"):
        build_tables("synrvos", rows)
    assert main(["tables", "--config-name", "toy", "--dataset-kind", "synrvos", "--rows", study["grounded-sam"],
                 f"gt-box-sam={elsewhere}", "--out", str(tmp_path / "out")]) == 2
    assert "paired difference needs both runs on the same rows" in capsys.readouterr().err


def test_signed_estimate_cells():
    column = Column("Δ", "estimate", signed=True)
    assert format_cell(Estimate(7.0, 2.0, 12.0, "t", runs=3, paired=True), column) == "+7.0 ± 5.0"
    assert format_cell(Estimate(-1.25, -3.0, 0.5, "bootstrap", paired=True), column) == "-1.2 [-3.0, 0.5]"
    assert format_cell(Estimate(0.0), column) == "+0.0"
