"""The two CLI features the workflow relies on: `groprompt methods --json` (jobs per discovered method) and
`groprompt infer --offer KEY=VALUE` (standard options passed only to methods that take them)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.cli import main

PROBES = textwrap.dedent('''
    """Mask-producing test methods (no segmentor needed) that record the options they were created with."""
    from pathlib import Path

    import numpy as np

    from groprompt.methods import FrameOutput, Method


    class Sized(Method):
        name = "sized"
        description = "takes size and checkpoint"
        outputs_masks = True

        def __init__(self, checkpoint: Path, size: str = "swin-t", steps: int = 1) -> None:
            self.checkpoint, self.size, self.steps = checkpoint, size, steps

        def predict(self, frame, index, expressions, ground_truth=None):
            return [FrameOutput(box=None, mask=np.zeros(frame.shape[:2], bool)) for _ in expressions]


    class Plain(Method):
        name = "plain"
        description = "takes no options"
        outputs_masks = True
        uses_ground_truth = True

        def predict(self, frame, index, expressions, ground_truth=None):
            return [FrameOutput(box=None, mask=np.zeros(frame.shape[:2], bool)) for _ in expressions]
''')


@pytest.fixture()
def baselines(tmp_path: Path) -> Path:
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / "probes.py").write_text(PROBES)
    (folder / "broken.py").write_text("import no_such_module_here\n")
    return folder


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    video = ToyVideo("v1", moving_squares(num_frames=2), [{"exp": "the red square", "obj_id": "1"}])
    return write_refytvos(tmp_path / "data", "valid", [video])


def test_methods_json_lists_flags_and_failures(baselines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods", "--json", "--baselines-dir", str(baselines)]) == 0
    listing = json.loads(capsys.readouterr().out)
    methods = {entry["name"]: entry for entry in listing["methods"]}
    assert {"groprompt", "sized", "plain"} <= set(methods)
    assert methods["plain"]["uses_ground_truth"] is True and methods["sized"]["uses_ground_truth"] is False
    assert methods["sized"]["outputs_masks"] is True and methods["groprompt"]["outputs_masks"] is False
    assert methods["sized"]["source"].endswith("probes.py")
    [failure] = listing["failures"]
    assert failure["name"] == "broken" and "no_such_module_here" in failure["error"]


def _infer(method: str, data: Path, out: Path, baselines: Path, *flags: str) -> dict:
    code = main(["infer", "--method", method, *flags, "--dataset-kind", "refytvos", "--data", str(data),
                 "--split", "valid", "--out", str(out), "--baselines-dir", str(baselines)])
    assert code == 0
    return json.loads((out / "run_stats.json").read_text())


def test_offers_reach_only_methods_that_take_them(data: Path, baselines: Path, tmp_path: Path) -> None:
    offers = ["--offer", "checkpoint=models/grounder", "--offer", "size=tiny", "--offer", "tokenizer=tok"]
    sized = _infer("sized", data, tmp_path / "sized", baselines, *offers)
    # `tokenizer` is not a parameter of Sized: dropped; the others are typed by the signature.
    assert sized["options"] == {"checkpoint": "models/grounder", "size": "tiny"}
    plain = _infer("plain", data, tmp_path / "plain", baselines, *offers)
    assert plain["options"] == {}


def test_an_explicit_option_wins_over_an_offer(data: Path, baselines: Path, tmp_path: Path) -> None:
    stats = _infer("sized", data, tmp_path / "out", baselines, "--option", "size=swin-b", "--option", "steps=3",
                   "--offer", "size=tiny", "--offer", "checkpoint=ckpt")
    assert stats["options"] == {"checkpoint": "ckpt", "size": "swin-b", "steps": 3}


def test_a_malformed_offer_is_a_named_error(data: Path, baselines: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["infer", "--method", "sized", "--offer", "checkpoint", "--dataset-kind", "refytvos", "--data",
                 str(data), "--split", "valid", "--out", str(tmp_path / "out"), "--baselines-dir", str(baselines)])
    assert code == 2
    assert "'checkpoint' is not of the form key=value" in capsys.readouterr().err
