"""A benchmark added as one module, with no other edit: the README's worked example ("Add your benchmark") is
written into dataset_kinds/ of a copy of the workflow, and a study on a tiny dataset in its layout runs with
`snakemake --cores 2` through training, inference, the scoring the kind declares, and the tables it names (Table 6
on its own dataset, a column group of Table 1). The same run shows what the console says: a line naming the log and
results folders when the study starts, one line per finished job with what it was and its log, one at the end.

The study is as small as the paper-study tests' (two minutes on two busy cores): tiny checkpoints made here, one
GroPrompt variant (L_box only) trained one epoch of two steps, first-frame-box left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos
from workflow_fixtures import REPO, TINY_FRAME, copy_workflow, discovered, dry_run, run_study, tiny_checkpoints

from groprompt.reporting.results import normalise_key, row_label

STUDY = "mybench_study"
EXCLUDED = ["first-frame-box", "grounded-sam-2", "gt-box-sam2", "sam3"]
"""Left out: first-frame-box takes the path of the other box prompters, and the mask methods need video models
(tests/test_workflow_paper_studies.py runs the SAM 2 ones)."""
BASELINES = [m["name"] for m in discovered() if m["name"] != "groprompt" and m["name"] not in EXCLUDED]


def readme_kind_module() -> tuple[str, str]:
    """The README's worked example of a dataset kind: its file name under dataset_kinds/ (its first line says
    which) and its text."""
    section = (REPO / "README.md").read_text().split("\n## Add your benchmark\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block, "README.md's 'Add your benchmark' section has no python block"
    first = block.group(1).splitlines()[0]
    assert first.startswith("# dataset_kinds/"), first
    return first.removeprefix("# dataset_kinds/"), block.group(1)


FILE, MODULE = readme_kind_module()
KEY = re.search(r'key="([^"]+)"', MODULE).group(1)
NAME = re.search(r'name="([^"]+)"', MODULE).group(1)


def _study_config(root: Path, checkpoints: dict[str, str]) -> dict:
    """A study on the new kind alone: trained on its train split, scored on its valid split."""
    return {
        "name": STUDY, "device": "cpu", "gpus": 0, "threads": 1, "seeds": [0],
        "datasets": {"mybench": {"kind": KEY, "root": str(root)}},
        "checkpoints": checkpoints,
        "models": {"prompter_size": "tiny", "segmentor_variant": "tiny"},
        "train": {"dataset": "mybench", "split": "train",
                  "settings": {"epochs": 1, "lr_drop_epochs": [], "clip_length": 2, "steps_per_epoch": 2},
                  "variants": {"lbox": {"lambda_f": 0.0, "lambda_v": 0.0}}},
        "evaluation": [{"dataset": "mybench", "split": "valid"}],
        "exclude_methods": EXCLUDED,
    }


@dataclass(frozen=True)
class Study:
    folder: Path
    configfile: Path
    returncode: int
    output: str

    @property
    def results(self) -> Path:
        return self.folder / "results" / STUDY

    def check_finished(self) -> None:
        if self.returncode != 0:
            logs = "\n".join(f"--- {path}\n{path.read_text()[-3000:]}"
                             for path in sorted((self.folder / "work").rglob("logs/**/*.log")))
            pytest.fail(f"snakemake exited {self.returncode}:\n{self.output[-6000:]}\n{logs}")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    root = tmp_path_factory.mktemp("dataset-kind")
    folder = copy_workflow(root / "repo")
    (folder / "dataset_kinds").mkdir()
    (folder / "dataset_kinds" / FILE).write_text(MODULE)
    expressions = [{"exp": "the red square", "obj_id": "1"}, {"exp": "the green square", "obj_id": "2"}]
    data = root / "mybench"
    write_refytvos(data, "train", [ToyVideo(f"train_{i}", moving_squares(num_frames=3, size=TINY_FRAME, side=8),
                                            expressions) for i in range(2)])
    write_refytvos(data, "valid", [ToyVideo("valid_0", moving_squares(num_frames=4, size=TINY_FRAME, side=8),
                                            expressions)])
    configfile = root / "study.yaml"
    configfile.write_text(yaml.safe_dump(_study_config(data, tiny_checkpoints(root / "models")), sort_keys=False))
    result = run_study(folder, configfile, cores=2, snakefile=folder / "Snakefile")
    return Study(folder, configfile, result.returncode, result.stdout + result.stderr)


def test_the_kind_needs_no_edit_but_its_module(study: Study) -> None:
    """The copy differs from the repository's workflow by dataset_kinds/ alone."""
    for path in sorted(p for p in (REPO / "workflows").rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        assert (study.folder / path.relative_to(REPO)).read_bytes() == path.read_bytes(), path
    assert (study.folder / "Snakefile").read_bytes() == (REPO / "Snakefile").read_bytes()
    assert [p.name for p in (study.folder / "dataset_kinds").iterdir()] == [FILE]


def test_the_study_runs_to_its_tables(study: Study) -> None:
    study.check_finished()
    for name in ("tables.md", "table6.csv", "table5.csv", "table1.csv", "figure.png", "run_stats.json"):
        assert (study.results / name).is_file(), name
    runs = BASELINES + ["groprompt/lbox/seed0"]
    for run in runs:  # scored the way the kind declares: per expression, with the box IoU
        summary = pd.read_csv(study.folder / "work" / STUDY / "eval" / "mybench" / "valid" / run / "summary.csv")
        assert list(summary["protocol"].unique()) == ["expression"] and "Box" in summary.columns, run
    labels = {row_label(normalise_key(run.rsplit("/seed", 1)[0])) for run in runs}
    table6 = pd.read_csv(study.results / "table6.csv").set_index("Method")
    assert set(table6.index) == labels
    assert table6.loc["GT box + SAM", "Box"] == pytest.approx(100, abs=0.01)
    assert f"on {NAME}." in (study.results / "table6.md").read_text()  # the kind's name, not SynRVOS's


def test_table1_gets_a_column_group_for_the_kind(study: Study) -> None:
    study.check_finished()
    table = pd.read_csv(study.results / "table1.csv")
    groups = [column.removesuffix(" J&F") for column in table.columns if column.endswith(" J&F")]
    assert groups == ["Ref-YouTube-VOS", "Ref-DAVIS17", NAME]  # the paper's order, then the new kind
    computed = table[table["Source"] == "computed"]
    assert len(computed) == len(BASELINES) + 1
    assert pd.to_numeric(computed[f"{NAME} J&F"], errors="raise").between(0, 100).all()
    assert computed["Ref-DAVIS17 J&F"].isna().all()
    assert f"validation splits of Ref-YouTube-VOS, Ref-DAVIS17 and {NAME}" in (study.results / "table1.md").read_text()


def test_the_console_names_each_finished_job_and_its_log(study: Study) -> None:
    study.check_finished()
    logs = f"work/{STUDY}/logs"
    assert f"Study {STUDY}: each job writes its log (progress bars included) under {logs}/" in study.output
    assert f"The tables and figure in results/{STUDY}/ will be rewritten." in study.output
    assert f"Study {STUDY} finished: tables and figure in results/{STUDY}/" in study.output
    finished = re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)(.*)$", study.output, flags=re.MULTILINE)
    total = int(re.search(r"^(\d+) of \1 steps \(100%\) done$", study.output, flags=re.MULTILINE).group(1))
    assert len(finished) == total
    lines = {rule + rest for rule, rest in finished}
    for method in BASELINES:
        assert (f"infer_method: dataset=mybench, split=valid, method={method}; "
                f"log {logs}/infer/mybench/valid/{method}.log") in lines
    assert f"train: variant=lbox, seed=0; log {logs}/train/lbox/seed0.log" in lines
    assert f"tables; log {logs}/tables.log" in lines
    for rule, rest in finished:  # every job with a log names it, and the log is there
        for path in re.findall(r"; log (\S+)$", rest):
            assert (study.folder / path).is_file(), (rule, path)
        assert "; log " in rest or rule in ("all", "params_config", "training_config"), (rule, rest)


def test_scoring_a_split_the_kind_declares_unscored_is_refused(study: Study, tmp_path: Path) -> None:
    config = yaml.safe_load(study.configfile.read_text())
    config["evaluation"].append({"dataset": "mybench", "split": "test"})
    configfile = tmp_path / "scored_test.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = dry_run(study.folder, configfile, study.folder / "Snakefile")
    assert result.returncode != 0
    assert f"evaluation[1]: {KEY} test has no public ground truth; set score: false" in result.stdout + result.stderr
