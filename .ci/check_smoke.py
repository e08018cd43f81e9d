"""CI's check of the smoke study's results (run by .ci/run after `snakemake --configfile .../smoke.yaml`).

1. The tables and figure exist, Table 6 has the paper's four rows first and one row per other method the study
   runs (those smoke.yaml does not exclude), every figure lies in 0..100, and GT box + SAM, the upper bound of every
   box prompter, has the highest J&F of the box prompters (a method that segments itself, as SAM 2 does, is not
   bounded by SAM's masks).
2. The headline figures (Box and J&F of the four paper rows) agree with the committed reference
   (.ci/smoke_reference.json) within its tolerance: the largest difference measured between runs of the same
   commit on different CPU kernel paths (the reference's "measured" field says how), so a change that moves the
   smoke study's numbers by more than other machines would is caught.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from groprompt.reporting.results import normalise_key, row_label

RESULTS = Path("results/smoke")
SMOKE_CONFIG = Path("workflows/config/smoke.yaml")
REFERENCE = Path(__file__).with_name("smoke_reference.json")
PAPER_ROWS = ["Grounded-SAM", "GroPrompt (L_box)", "GroPrompt (L_box + L_contra)", "GT box + SAM"]
HEADLINE = ("Box", "J&F")


def check_shape(table: pd.DataFrame) -> None:
    for name in ("tables.md", "table6.md", "table6.tex", "table5.csv", "by_kind.csv", "figure.png", "run_stats.json"):
        assert (RESULTS / name).is_file(), f"results/smoke/{name} is missing"
    config = yaml.safe_load(SMOKE_CONFIG.read_text())
    excluded = config["exclude_methods"]
    methods = [entry for entry in json.loads(subprocess.run(["groprompt", "methods", "--json"], check=True,
                                                            capture_output=True, text=True).stdout)["methods"]
               if entry["name"] not in excluded]
    assert list(table["Method"][:4]) == PAPER_ROWS, list(table["Method"])
    variants = len(config["train"]["variants"])  # one row per training variant; every other method has one
    assert len(table) == len(methods) - 1 + variants, list(table["Method"])
    for column in ("Box", "J&F", "J", "F"):
        assert table[column].between(0, 100).all(), column
    segmenting = {row_label(normalise_key(entry["name"])) for entry in methods if entry["outputs_masks"]}
    prompters = table[~table["Method"].isin(segmenting)]
    best = prompters.loc[prompters["J&F"].idxmax(), "Method"]
    assert best == "GT box + SAM", f"highest J&F: {best}, not GT box + SAM\n{table[['Method', 'Box', 'J&F']]}"
    assert table.set_index("Method").loc["GT box + SAM", "Box"] == 100.0


def check_reference(table: pd.DataFrame) -> None:
    reference = json.loads(REFERENCE.read_text())
    tolerance = reference["tolerance"]
    rows = table.set_index("Method")
    off = [f"{method} {measure}: {rows.loc[method, measure]:.2f}, reference {value:.2f}"
           for method, figures in reference["rows"].items() for measure, value in figures.items()
           if abs(rows.loc[method, measure] - value) > tolerance]
    assert not off, (f"the smoke study's headline figures moved by more than {tolerance} (x100) from "
                     f"{REFERENCE}:\n" + "\n".join(off) + "\nIf the change is meant to move them, regenerate the "
                     "reference: python .ci/check_smoke.py --write-reference")


def main() -> int:
    table = pd.read_csv(RESULTS / "table6.csv")
    if sys.argv[1:] == ["--write-reference"]:
        reference = json.loads(REFERENCE.read_text()) if REFERENCE.is_file() else {}
        reference["rows"] = {method: {measure: round(float(table.set_index("Method").loc[method, measure]), 2)
                                      for measure in HEADLINE} for method in PAPER_ROWS}
        REFERENCE.write_text(json.dumps(reference, indent=2) + "\n")
        print(f"wrote {REFERENCE}")
        return 0
    check_shape(table)
    check_reference(table)
    print(table[["Method", "Box", "J&F", "J", "F"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
