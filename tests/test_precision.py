"""The one precision knob (groprompt/precision.py) from the CLI to the models, on the CPU: fp32 computes exactly what
the models compute without it, tf32 equals fp32 on a CPU, bf16 autocasts forward passes and keeps float32 master
weights; each run records its precision, and a changed precision is another run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos
from training_fixtures import save_standins, write_toy_split

from groprompt.cli import main
from groprompt.data.registry import dataset_kind, open_dataset
from groprompt.errors import GroPromptError
from groprompt.precision import autocast, check_precision, float32_matmuls, forward_precision
from groprompt.prompting import build_prompter, preprocess_frames
from groprompt.prompting.params import read_params_config
from groprompt.reporting.table5 import build_table5, read_params
from groprompt.segmentation import Segmentor, load_sam
from groprompt.training import ClipSampler, DistributedContext, Trainer, TrainingConfig, box_only_videos
from groprompt.training.step import prepare_clip

BASELINES = Path(__file__).resolve().parents[1] / "baselines"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def standins(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("precision")
    prompter, sam = save_standins(folder)
    return {"prompter": prompter, "sam": sam, "data": write_toy_split(folder / "data")}


def test_the_switches_are_set_for_the_block_only():
    before = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    with float32_matmuls("tf32"):
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
    with float32_matmuls("fp32"):
        assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.allow_tf32
    assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == before
    with autocast("bf16", torch.device("cpu")):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    with autocast("tf32", torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
    with pytest.raises(GroPromptError, match="(?s)unknown precision 'fp16' \\(--precision\\).*fp32, tf32, bf16"):
        check_precision("fp16")


def test_fp32_and_tf32_on_a_cpu_compute_what_the_model_computes_alone(standins):
    prompter = build_prompter("tiny", standins["prompter"])
    pixels = preprocess_frames(np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    with torch.no_grad():
        alone = prompter(pixels, ["the red square", "a square"])
        results = {}
        for precision in ("fp32", "tf32", "bf16"):
            with forward_precision(precision, prompter.device):
                results[precision] = prompter(pixels, ["the red square", "a square"])
    for precision in ("fp32", "tf32"):
        assert torch.equal(results[precision].pred_boxes, alone.pred_boxes)
        assert torch.equal(results[precision].logits, alone.logits)
    assert not torch.equal(results["bf16"].logits, alone.logits)  # bf16 did run in bfloat16
    assert results["bf16"].pred_boxes.dtype == torch.float32  # outputs come back in float32 for the losses


def test_bf16_training_keeps_float32_master_weights_and_optimiser_state(standins):
    videos = box_only_videos(open_dataset("refytvos", standins["data"], "train"), progress=False)
    config = TrainingConfig(prompter_size="tiny", clip_length=2, lambda_f=0.01, lambda_v=0.1)
    sampler = ClipSampler(videos, config.clip_length, config.seed)
    clips = next(batch for step in range(len(sampler.pairs))
                 if (batch := sampler.batch(0, step, 0, 1, 1))[0].negative is not None)  # TextCon and ModalCon run
    rows, grads, maps = {}, {}, {}
    for precision in ("fp32", "bf16"):
        prompter = build_prompter("tiny", standins["prompter"])
        segmentor = Segmentor(load_sam(standins["sam"])[0], precision=precision)
        trainer = Trainer.build(config, prompter, segmentor, DistributedContext(), precision)
        before = [param.detach().clone() for param in trainer.params]
        rows[precision] = trainer.step(clips)
        assert all(param.dtype == torch.float32 and param.grad.dtype == torch.float32 for param in trainer.params)
        state = [value for entry in trainer.optimizer.state.values() for value in entry.values() if value.ndim]
        assert state and all(value.dtype == torch.float32 for value in state)
        assert any(not torch.equal(old, new) for old, new in zip(before, trainer.params, strict=True))
        grads[precision] = torch.cat([param.grad.reshape(-1) for param in trainer.params])
        inputs = prepare_clip(clips[0], config, prompter, segmentor, torch.device("cpu"))
        with torch.no_grad(), autocast(precision, torch.device("cpu")):
            maps[precision] = [level.float() for level in prompter.encode_images(inputs.pixels).maps]
    assert rows["bf16"]["skipped_contrastive"] == 0 and np.isfinite(rows["bf16"]["total"])
    assert torch.isfinite(grads["bf16"]).all() and grads["bf16"].norm() > 0
    # bfloat16 forward passes compute what float32 does, not to the bit: the image features (continuous) agree to
    # bf16's 8 bits. The losses and gradients are not compared: through the two-stage query selection and the top-1
    # query they depend on rankings, which a near tie between random queries flips (seen on an Intel Xeon: the same
    # step's L1 0.54 in fp32, 0.64 in bf16, one frame's top-1 query changed).
    for exact, rounded in zip(maps["fp32"], maps["bf16"], strict=True):
        error = (rounded - exact).norm() / exact.norm()
        assert 0 < error < 0.02


def test_train_records_its_precision_and_refuses_to_resume_in_another(standins, tmp_path, capsys):
    config = tmp_path / "train.yaml"
    config.write_text("prompter_size: tiny\nepochs: 1\nlr_drop_epochs: []\nclip_length: 2\nsteps_per_epoch: 1\n")
    out = tmp_path / "run"
    args = ["train", "--dataset-kind", "refytvos", "--data", str(standins["data"]), "--prompter",
            str(standins["prompter"]), "--segmentor", str(standins["sam"]), "--config", str(config), "--out",
            str(out), "--device", "cpu"]
    assert main([*args, "--precision", "bf16"]) == 0
    assert json.loads((out / "train_summary.json").read_text())["precision"] == "bf16"
    assert torch.load(out / "checkpoints" / "epoch_001.pt", weights_only=True)["run"]["precision"] == "bf16"
    capsys.readouterr()
    assert main([*args, "--resume"]) == 2
    assert "differs from its checkpoint in run.precision (run.precision: checkpoint 'bf16', now 'fp32')" in \
        capsys.readouterr().err
    assert main([*args, "--resume", "--precision", "bf16"]) == 0


@pytest.fixture(scope="module")
def video_root(tmp_path_factory) -> Path:
    videos = [ToyVideo("v1", moving_squares(num_frames=2, size=(32, 32), num_objects=2),
                       [{"exp": "the upper square", "obj_id": "1"}, {"exp": "the lower square", "obj_id": "2"}])]
    return write_refytvos(tmp_path_factory.mktemp("data"), "train", videos)


def _infer(standins, root: Path, out: Path, *extra: str) -> int:
    return main(["infer", "--method", "grounded-sam", "--option", f"checkpoint={standins['prompter']}", "--option",
                 "size=tiny", "--dataset-kind", "refytvos", "--data", str(root), "--split", "train", "--segmentor",
                 str(standins["sam"]), "--out", str(out), "--baselines-dir", str(BASELINES), *extra])


def test_infer_hands_its_precision_to_prompter_and_sam_and_records_it(standins, video_root, tmp_path, capsys,
                                                                      monkeypatch):
    made = []
    original = Segmentor.__init__

    def recording(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Segmentor, "__init__", recording)
    out = tmp_path / "out"
    assert _infer(standins, video_root, out, "--precision", "bf16") == 0
    stats = json.loads((out / "run_stats.json").read_text())
    assert stats["precision"] == "bf16" and "precision" not in stats["options"]
    assert [segmentor.precision for segmentor in made] == ["bf16"]
    assert _infer(standins, video_root, out) == 2  # fp32 now: another run
    assert "they differ in precision, segmentor" in capsys.readouterr().err
    assert _infer(standins, video_root, out, "--option", "precision=bf16") == 2
    assert "pass --precision bf16 instead of --option precision=" in capsys.readouterr().err


def test_prompter_methods_take_the_precision(standins):
    from groprompt.methods import discover_methods

    registry = discover_methods(BASELINES)
    method = registry.create("grounded-sam", {"checkpoint": standins["prompter"], "size": "tiny",
                                              "precision": "bf16"})
    frame = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    boxes, scores = method.top1_boxes(frame, ["the red square"])
    assert method.precision == "bf16" and boxes.dtype == np.float32 and 0 <= scores[0] <= 1
    with pytest.raises(GroPromptError, match="option precision"):
        registry.create("grounded-sam", {"checkpoint": standins["prompter"], "size": "tiny", "precision": "half"})


def test_table5_always_names_its_precision(tmp_path):
    params = {"prompter_size": "tiny", "trainable_groups": ["decoder"], "segmentor_variant": "tiny",
              "modalcon": True, "totals": {"prompter": {"trainable": 10}, "all": {"trainable": 10}}}
    info = dataset_kind("synrvos")
    fp32 = build_table5({**params, "precision": "fp32"}, [], info).caption
    assert "ModalCon head, float32 (fp32) in training and inference)" in fp32 and "autocast" not in fp32
    assert build_table5(params, [], info).caption == fp32  # a JSON without precision: the default, fp32
    assert "ModalCon head, TF32 matrix products (tf32) in training and inference)" in build_table5(
        {**params, "precision": "tf32"}, [], info).caption
    assert "ModalCon head, bfloat16 autocast (bf16) in training and inference)" in build_table5(
        {**params, "precision": "bf16"}, [], info).caption
    (tmp_path / "params.json").write_text(json.dumps({**params, "precision": "half"}))
    with pytest.raises(GroPromptError, match="malformed .*precision 'half' is not one of fp32, tf32, bf16"):
        read_params(tmp_path / "params.json")
    config = tmp_path / "params.yaml"
    config.write_text("prompter: {size: tiny}\nprecision: tf32\n")
    assert read_params_config(config).precision == "tf32"
    config.write_text("prompter: {size: tiny}\nprecision: half\n")
    with pytest.raises(GroPromptError, match="unknown precision 'half' \\(config key 'precision'\\)"):
        read_params_config(config)
