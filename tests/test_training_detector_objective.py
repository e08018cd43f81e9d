"""Fine-tuning with ``objective: detector`` (the plain baseline, docs/method_spec.md §2) with the real tiny prompter:
one clip's objective is the detector loss of its supervised frames, a run through ``groprompt train`` changes only
the trainable parameters and records the objective, and TextCon/ModalCon are refused before anything loads.

The loss's values are checked by hand in tests/test_losses_detector.py; here, its wiring into training.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from training_fixtures import FRAME, write_train_inputs

from groprompt.boxes import pixel_xyxy_to_normalized_cxcywh
from groprompt.cli import main
from groprompt.losses import box_loss, decoder_layer_predictions, detector_loss, phrase_token_mask
from groprompt.prompting import apply_freezing, build_prompter
from groprompt.prompting.freezing import parameter_group
from groprompt.training import ClipInputs, TrainingConfig, TrainingModel, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DETECTOR = TrainingConfig(prompter_size="tiny", objective="detector", lambda_f=0.0, lambda_v=0.0)
SENTENCE = "the red square"


def test_a_clips_objective_is_the_detector_loss_of_its_supervised_frames():
    torch.manual_seed(0)
    prompter = build_prompter("tiny")
    apply_freezing(prompter, DETECTOR.trainable)
    model = TrainingModel(prompter, None, None, DETECTOR).eval()  # eval: no dropout, so two forwards agree
    boxes = torch.tensor([[8.0, 16.0, 24.0, 40.0], [float("nan")] * 4])  # frame 1: the object is absent
    clip = ClipInputs(pixels=torch.randn(2, 3, FRAME, FRAME), boxes=boxes, supervised=torch.tensor([True, False]),
                      frame_size=(FRAME, FRAME), sentence=SENTENCE, negative=None, visual_tokens=None)
    losses = model(clip, box_scale=0.5, contrastive_scale=1.0)

    output = prompter(clip.pixels, [SENTENCE] * 2)
    phrase = phrase_token_mask(output.detection.input_ids, output.text_mask, prompter.detector.model.special_tokens)
    assert phrase.sum(1).tolist() == [3, 3]  # "the red square": [CLS], "." and [SEP] are not phrase tokens
    truth = pixel_xyxy_to_normalized_cxcywh(boxes, FRAME, FRAME)
    expected = detector_loss(decoder_layer_predictions(prompter.detector, output.detection, output.text_mask),
                             truth, clip.supervised, phrase)
    assert losses["l_det"].item() == pytest.approx(expected.total.item(), rel=1e-5)
    assert losses["objective"].item() == pytest.approx(0.5 * expected.total.item(), rel=1e-5)
    # L_box of the top-1 query is still reported (not trained on), so the two objectives' logs compare.
    top1 = box_loss(output.pred_boxes[None], output.scores[None], truth[None], clip.supervised[None])
    assert losses["l_box"].item() == pytest.approx(top1.total.item(), rel=1e-5)
    assert (losses["l_f"].item(), losses["l_v"].item()) == (0.0, 0.0)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_train_inputs(tmp_path_factory.mktemp("inputs"))


def _args(inputs, out, *extra: str) -> list[str]:
    return ["train", "--dataset-kind", "refytvos", "--data", str(inputs["data"]), "--prompter",
            str(inputs["prompter"]), "--config", str(inputs["config"]), "--out", str(out), "--device", "cpu", *extra]


DETECTOR_SETTINGS = ("--set", "objective=detector", "--set", "lambda_f=0", "--set", "lambda_v=0")


def test_a_detector_loss_run_trains_only_the_trainable_parts_and_records_its_objective(inputs, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(inputs, out, *DETECTOR_SETTINGS)) == 0  # no --segmentor: nothing contrastive
    capsys.readouterr()
    trained = build_prompter("tiny", checkpoint=out / "prompter")
    before = build_prompter("tiny", checkpoint=inputs["prompter"]).detector.state_dict()
    changed = {parameter_group(name) for name, tensor in trained.detector.state_dict().items()
               if not torch.equal(tensor, before[name])}
    # From the random stand-in, one L_box step moves only the box head's last layer (zero-initialised: see
    # tests/test_training_cli.py); the focal term reaches the decoder layers through the classification head.
    assert changed == {"decoder", "bbox_embed"}
    state = load_checkpoint(out / "checkpoints" / "epoch_001.pt")
    assert state.config["objective"] == "detector" and state.head is None
    assert "objective: detector" in (out / "config.yaml").read_text()
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["last"]["total"] == pytest.approx(summary["last"]["l_det"]) and summary["last"]["l_det"] > 0
    log = pd.read_csv(out / "train_log.csv")
    assert log["total"].tolist() == pytest.approx([summary["last"]["l_det"]], rel=1e-5)
    assert (log["l_box"] > 0).all() and (log["l_f"] == 0).all() and (log["l_v"] == 0).all()

    assert main(_args(inputs, out, "--resume", "--set", "lambda_f=0", "--set", "lambda_v=0")) == 2
    assert "differs from its checkpoint in objective" in capsys.readouterr().err


def test_contrastive_terms_are_refused_with_the_detector_objective_before_anything_loads(inputs, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(inputs, out, "--set", "objective=detector")) == 2
    error = capsys.readouterr().err
    assert "objective detector is the plain fine-tuning baseline, without TextCon/ModalCon" in error
    assert "lambda_f 0.01 and lambda_v 0.1 must both be 0" in error
    assert not out.exists()
