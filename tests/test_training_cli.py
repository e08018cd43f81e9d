"""``groprompt train`` (groprompt/commands/train.py): input checks up front, a tiny run from stand-in checkpoints."""

from __future__ import annotations

import pytest
import torch
from training_fixtures import write_train_inputs

from groprompt.cli import main
from groprompt.prompting import build_prompter
from groprompt.prompting.freezing import parameter_group
from groprompt.training import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_train_inputs(tmp_path_factory.mktemp("inputs"))


def _args(inputs, out, *extra: str) -> list[str]:
    return ["train", "--dataset-kind", "refytvos", "--data", str(inputs["data"]), "--prompter",
            str(inputs["prompter"]), "--segmentor", str(inputs["sam"]), "--config", str(inputs["config"]),
            "--out", str(out), "--device", "cpu", *extra]


def test_train_resume_and_refusal(inputs, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(inputs, out, "--embedding-cache", str(tmp_path / "cache"))) == 0
    assert "trained 1 epochs, 1 steps on 5 (video, expression) pairs" in capsys.readouterr().out
    trained = build_prompter("tiny", checkpoint=out / "prompter")
    initial = build_prompter("tiny", checkpoint=inputs["prompter"])
    before = initial.detector.state_dict()
    changed = {parameter_group(name) for name, tensor in trained.detector.state_dict().items()
               if not torch.equal(tensor, before[name])}
    # One step from a random init moves only the box head's last layer (DETR-style zero init of that layer).
    assert changed == {"bbox_embed"}
    assert any((tmp_path / "cache").rglob("*.pt"))  # ModalCon's SAM embeddings went through the shared cache
    run = load_checkpoint(out / "checkpoints" / "epoch_001.pt").run
    assert run["dataset_kind"] == "refytvos" and run["world_size"] == 1 and run["segmentor"] == str(inputs["sam"])

    assert main(_args(inputs, out, "--resume")) == 0  # every epoch is done: only the export is redone
    assert main(_args(inputs, out, "--resume", "--set", "lambda_v=0")) == 2
    assert "differs from its checkpoint in lambda_v" in capsys.readouterr().err


@pytest.mark.parametrize("change, fragment", [
    (("--data", "/nonexistent/data"), "dataset root (--data) not found"),
    (("--prompter", "/nonexistent/grounder"), "prompter checkpoint (--prompter) not found"),
    (("--segmentor", "/nonexistent/sam.pt"), "SAM checkpoint (--segmentor) not found"),
    (("--set", "lamda_f=0"), "unknown training config key(s) ['lamda_f']"),
    (("--split", "valid"), "no expressions file for split 'valid'"),
])
def test_input_errors_exit_2_with_a_message(inputs, tmp_path, capsys, change, fragment):
    args = _args(inputs, tmp_path / "run")
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += list(change)
    assert main(args) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_contrastive_training_needs_a_segmentor(inputs, tmp_path, capsys):
    args = _args(inputs, tmp_path / "run")
    index = args.index("--segmentor")
    del args[index:index + 2]
    assert main(args) == 2
    assert "--segmentor is missing" in capsys.readouterr().err
