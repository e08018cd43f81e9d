"""Grounder pre-training: dense targets, phrase masks and losses against hand-computed values; the data set read
from a Ref-YouTube-VOS-layout fixture; a few training steps (determinism, checkpoint loading, inference parity)
and the CLI, including its refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets_fixtures import STILL_SIZE, two_box_stills, write_refytvos

from groprompt.boxes import pixel_xyxy_to_normalized_cxcywh
from groprompt.cli import main
from groprompt.data.refytvos import load_refytvos
from groprompt.errors import GroPromptError
from groprompt.methods.prompter import load_prompter
from groprompt.metrics.boxes import box_iou
from groprompt.losses.detector import (
    LayerPredictions,
    decoder_layer_predictions,
    decoder_term,
    match_queries,
    phrase_focal_loss,
    phrase_token_mask,
    sigmoid_focal_loss,
)
from groprompt.pretraining.dense_targets import assign_tokens, dense_positives, detector_token_layout, token_layout
from groprompt.pretraining.grounder import (
    GrounderPretrainConfig,
    best_target_iou,
    build_trainable_prompter,
    pretrain_grounder,
    target_boxes,
    tokenize_texts,
)
from groprompt.pretraining.grounder_loss import encoder_term, grounding_loss
from groprompt.pretraining.grounding_set import GroundingSet, load_grounding_set
from groprompt.pretraining.loop import heldout_videos, metrics_path
from groprompt.prompting import Prompter, build_prompter

SIZE = STILL_SIZE
LN2 = math.log(2)
DELIMITERS = torch.tensor([101, 102, 1012, 1029])  # [CLS], [SEP], ".", "?" in BERT's vocabulary


EXPRESSIONS = [{"exp": "the red box", "obj_id": "1"}, {"exp": "the green box on the right", "obj_id": "2"},
               {"exp": "the red shape", "obj_id": "1"}]
"""Of every still frame: two expressions of object 1, so the grounding set has 3 samples per frame."""

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grounding")
    write_refytvos(root, "pretrain", two_box_stills(12, EXPRESSIONS))
    write_refytvos(root, "boxless", two_box_stills(2, EXPRESSIONS), with_annotations=False)
    return root


@pytest.fixture(scope="module")
def samples(data_root: Path) -> GroundingSet:
    return load_grounding_set(load_refytvos(data_root, "pretrain"), progress=False)


@pytest.fixture(scope="module")
def fresh() -> Prompter:
    return build_trainable_prompter("tiny", "cpu")


@pytest.fixture(scope="module")
def trained(samples: GroundingSet):
    train, heldout = samples.split_heldout(3)
    config = GrounderPretrainConfig(steps=3, batch_size=4, warmup_steps=1, seed=5)
    return pretrain_grounder(train, heldout, config, progress=False)


# ---------------------------------------------------------------- targets, masks and losses by hand


def test_token_layout_centres_levels_and_order() -> None:
    layout = token_layout([(4, 4), (2, 2)])
    assert len(layout) == 20 and layout.levels.tolist() == [0] * 16 + [1] * 4
    # Row-major per level: token 6 is row 1, column 2 of the 4x4 map; token 17 is row 0, column 1 of the 2x2 map.
    assert layout.centres[6].tolist() == [0.625, 0.375]
    assert layout.centres[17].tolist() == [0.75, 0.25]


def test_dense_positives_hand_case() -> None:
    layout = token_layout([(4, 4), (2, 2)])  # centres at .125/.375/.625/.875 (level 0), .25/.75 (level 1)
    boxes = torch.tensor([
        [0.30, 0.10, 0.70, 0.45],  # x .375, .625 and y .125, .375 inside at level 0; nothing at level 1
        [0.80, 0.80, 0.85, 0.85],  # holds no centre: only the finest token nearest its centre (.875, .875)
        [0.20, 0.20, 0.80, 0.80],  # level 0: x, y in {.375, .625}; level 1: all four centres
    ])
    positive = dense_positives(layout, boxes)
    assert torch.nonzero(positive[0]).flatten().tolist() == [1, 2, 5, 6]
    assert torch.nonzero(positive[1]).flatten().tolist() == [15]
    assert torch.nonzero(positive[2]).flatten().tolist() == [5, 6, 9, 10, 16, 17, 18, 19]


def test_phrase_token_mask_hand_case() -> None:
    # [CLS] the red circle . [SEP] [PAD]  and  [CLS] is it red ? [SEP] . (delimiters anywhere are excluded)
    ids = torch.tensor([[101, 1996, 2417, 4418, 1012, 102, 0], [101, 2003, 2009, 2417, 1029, 102, 1012]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]])
    assert phrase_token_mask(ids, attention, DELIMITERS).tolist() == [
        [False, True, True, True, False, False, False],
        [False, True, True, True, False, False, False],
    ]


def test_tokenized_table_uses_the_prompter_normalisation(fresh: Prompter) -> None:
    prompter = fresh
    table = tokenize_texts(prompter, ("The red  circle.", "a big blue square on the left"))
    assert table.input_ids[0, :6].tolist() == [101, 1996, 2417, 4418, 1012, 102]  # "the red circle ."
    assert table.phrase[0].tolist()[:6] == [False, True, True, True, False, False]
    assert int(table.phrase[1].sum()) == 7
    batch = table.rows(np.array([0]), "cpu")  # trimmed to this batch's longest sentence, as tokenize() pads
    expected = prompter.tokenize(["The red  circle."])
    assert torch.equal(batch["input_ids"], expected["input_ids"])
    with pytest.raises(GroPromptError, match="no word"):
        tokenize_texts(prompter, ("?",))


def test_sigmoid_focal_loss_hand_values() -> None:
    logits = torch.tensor([0.0, 0.0, math.log(3.0)])
    targets = torch.tensor([1.0, 0.0, 1.0])
    # p = 1/2: positive .25 * .5^2 * ln 2, negative .75 * .5^2 * ln 2; p = 3/4 positive: .25 * .25^2 * ln(4/3)
    expected = [0.25 * 0.25 * LN2, 0.75 * 0.25 * LN2, 0.25 * 0.0625 * math.log(4 / 3)]
    assert sigmoid_focal_loss(logits, targets).tolist() == pytest.approx(expected)


def test_phrase_focal_loss_reads_only_phrase_tokens() -> None:
    # 1 image, 2 proposals, text positions: [CLS] word [SEP] then -inf padding up to L = 5.
    logits = torch.tensor([[[9.0, 0.0, -9.0, -math.inf, -math.inf], [9.0, 0.0, 9.0, -math.inf, -math.inf]]],
                          requires_grad=True)
    phrase = torch.tensor([[False, True, False]])
    loss = phrase_focal_loss(logits, torch.tensor([[True, False]]), phrase, normaliser=2.0)
    assert loss.item() == pytest.approx((0.25 + 0.75) * 0.25 * LN2 / 2)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[..., [0, 2, 3, 4]].abs().sum() == 0


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


ONE_BOX = torch.tensor([[True]])
"""``valid`` of one image with one target box."""


def test_assign_tokens_gives_shared_tokens_to_the_smaller_box() -> None:
    layout = token_layout([(4, 4)])  # centres at .125/.375/.625/.875
    boxes = torch.tensor([[[0.0, 0.0, 1.0, 0.5],  # rows y .125, .375: tokens 0..7 (area .5)
                           [0.5, 0.0, 1.0, 1.0],  # columns x .625, .875: tokens 2, 3, 6, 7, 10, 11, 14, 15 (.5)
                           [0.55, 0.3, 0.7, 0.45],  # only token 6 (.625, .375) (area .0225)
                           [0.0, 0.0, 0.1, 0.1]]])  # padding: ignored although it would claim token 0
    valid = torch.tensor([[True, True, True, False]])
    positive, assigned = assign_tokens(layout, boxes, valid)
    assert torch.nonzero(positive[0]).flatten().tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 14, 15]
    # Tokens 2, 3, 7 lie in boxes 0 and 1 (equal areas: the first); token 6 in all three: the smallest, box 2.
    assert assigned[0, [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 14, 15]].tolist() == [0, 0, 0, 0, 0, 0, 2, 0, 1, 1, 1, 1]


def test_encoder_term_regresses_each_positive_to_its_own_box() -> None:
    layout = token_layout([(2, 2)])  # centres (.25, .25), (.75, .25), (.25, .75), (.75, .75)
    targets = torch.tensor([[[0.25, 0.25, 0.3, 0.3], [0.75, 0.75, 0.3, 0.3]]])  # tokens 0 and 3, one each
    coords = torch.zeros(1, 4, 4)
    coords[0, 0] = torch.tensor([_logit(0.25), _logit(0.25), _logit(0.3), _logit(0.3)])  # exact
    coords[0, 3] = torch.tensor([_logit(0.65), _logit(0.75), _logit(0.3), _logit(0.3)])  # shifted left by .1
    classes = torch.full((1, 4, 3), -math.inf)
    classes[..., :3] = 0.0
    detection = SimpleNamespace(enc_outputs_class=classes, enc_outputs_coord_logits=coords)
    parts = encoder_term(detection, layout, targets, torch.tensor([[True, True]]),
                         torch.tensor([[False, True, False]]))
    # two positives and two negatives on one phrase token, divided by 2 positives
    assert float(parts["enc_focal"]) == pytest.approx((2 * 0.25 + 2 * 0.75) * 0.25 * LN2 / 2)
    assert float(parts["enc_l1"]) == pytest.approx(0.1 / 2)
    assert float(parts["enc_giou"]) == pytest.approx(0.5 / 2)


def test_decoder_term_matches_one_query_per_box() -> None:
    targets = torch.tensor([[[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2], [0.0, 0.0, 0.0, 0.0]]])
    valid = torch.tensor([[True, True, False]])
    # One layer, three queries: query 2 is exact for box 0, query 0 for box 1; query 1 is far from both.
    boxes = torch.tensor([[[[0.7, 0.7, 0.2, 0.2], [0.1, 0.9, 0.1, 0.1], [0.3, 0.3, 0.2, 0.2]]]])
    logits = torch.zeros(1, 1, 3, 3)
    parts = decoder_term(LayerPredictions(logits, boxes), targets, valid, torch.tensor([[False, True, False]]))
    assert float(parts["dec_l1"]) == pytest.approx(0.0, abs=1e-6)
    assert float(parts["dec_giou"]) == pytest.approx(0.0, abs=1e-6)
    # two positives and one negative query on one token, divided by the 2 boxes
    assert float(parts["dec_focal"]) == pytest.approx((2 * 0.25 + 0.75) * 0.25 * LN2 / 2)


def test_match_queries_is_one_to_one_of_least_total_cost() -> None:
    # Greedy would give box 0 query 0 (cost 1) and box 1 query 1 (cost 10): total 11; the optimum is 2 + 3 = 5.
    cost = torch.tensor([[[1.0, 3.0], [2.0, 10.0], [9.0, 9.0]]])
    image, query, box = match_queries(cost, torch.tensor([[True, True]]))
    assert sorted(zip(query.tolist(), box.tolist())) == [(0, 1), (1, 0)] and image.tolist() == [0, 0]
    image, query, box = match_queries(cost, torch.tensor([[False, True]]))
    assert (query.tolist(), box.tolist()) == ([0], [1])


def test_encoder_term_hand_case() -> None:
    layout = token_layout([(2, 2)])  # centres (.25, .25), (.75, .25), (.25, .75), (.75, .75)
    target = torch.tensor([[0.25, 0.25, 0.3, 0.3]])  # xyxy (.1, .1, .4, .4): only token 0 is positive
    coords = torch.full((1, 4, 4), 0.0)
    coords[0, 0] = torch.tensor([_logit(0.35), _logit(0.25), _logit(0.3), _logit(0.3)])  # shifted right by .1
    classes = torch.full((1, 4, 6), -math.inf)
    classes[..., :3] = 0.0  # [CLS] word [SEP]
    detection = SimpleNamespace(enc_outputs_class=classes, enc_outputs_coord_logits=coords)
    parts = encoder_term(detection, layout, target[:, None], ONE_BOX, torch.tensor([[False, True, False]]))
    # one positive and three negatives on the one phrase token, divided by 1 positive
    assert float(parts["enc_focal"]) == pytest.approx((0.25 + 3 * 0.75) * 0.25 * LN2)
    assert float(parts["enc_l1"]) == pytest.approx(0.1)
    # (.2,.1,.5,.4) vs (.1,.1,.4,.4): IoU .06/.12 = .5, hull .12 = union, GIoU .5
    assert float(parts["enc_giou"]) == pytest.approx(0.5)


def test_encoder_term_never_makes_an_invalid_proposal_positive() -> None:
    layout = token_layout([(2, 2)])
    target = torch.tensor([[0.5, 0.25, 0.8, 0.3]])  # covers tokens 0 and 1
    coords = torch.zeros(1, 4, 4)
    coords[0, 0] = math.inf  # transformers marks proposals too close to the border this way
    classes = torch.zeros(1, 4, 3)
    detection = SimpleNamespace(enc_outputs_class=classes, enc_outputs_coord_logits=coords)
    parts = encoder_term(detection, layout, target[:, None], ONE_BOX, torch.tensor([[False, True, False]]))
    # token 1 alone is positive; its box is (.5, .5, .5, .5): L1 = 0 + .25 + .3 + .2
    assert float(parts["enc_focal"]) == pytest.approx((0.25 + 3 * 0.75) * 0.25 * LN2)
    assert float(parts["enc_l1"]) == pytest.approx(0.75)


def test_decoder_term_matches_the_cheapest_query_on_each_layer() -> None:
    target = torch.tensor([[0.5, 0.5, 0.2, 0.2]])
    near, far = [0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]
    # layer 0: query 0 is exact; layer 1: query 1 is exact. Logits 0 on the one phrase token.
    boxes = torch.tensor([[[near, far]], [[far, near]]])
    logits = torch.zeros(2, 1, 2, 3)
    parts = decoder_term(LayerPredictions(logits, boxes), target[:, None], ONE_BOX,
                         torch.tensor([[False, True, False]]))
    assert float(parts["dec_l1"]) == pytest.approx(0.0, abs=1e-6)
    assert float(parts["dec_giou"]) == pytest.approx(0.0, abs=1e-6)
    # per layer: one positive and one negative query on one token, per image (B = 1); two layers
    assert float(parts["dec_focal"]) == pytest.approx(2 * (0.25 + 0.75) * 0.25 * LN2)


def test_layer_predictions_end_with_the_detector_output(fresh: Prompter) -> None:
    prompter = fresh
    text = prompter.tokenize(["the red box", "the green box on the right"])
    detection = prompter.detector(pixel_values=torch.randn(2, 3, 48, 64), **text)
    layers = decoder_layer_predictions(prompter.detector, detection, text["attention_mask"])
    assert layers.logits.shape[:3] == (2, 2, 10) and layers.boxes.shape == (2, 2, 10, 4)
    assert torch.equal(layers.logits[-1], detection.logits)
    torch.testing.assert_close(layers.boxes[-1], detection.pred_boxes)
    layout = detector_token_layout(prompter.detector, 48, 64)
    assert layout.shapes == ((6, 8), (3, 4), (2, 2))  # ResNet strides 8, 16, 32
    assert len(layout) == detection.enc_outputs_class.shape[1]
    phrase = phrase_token_mask(text["input_ids"], text["attention_mask"], DELIMITERS)
    loss, parts = grounding_loss(prompter.detector, detection, layout, torch.tensor([[[0.3, 0.4, 0.2, 0.3]]] * 2),
                                 torch.ones(2, 1, dtype=torch.bool), phrase, text["attention_mask"])
    loss.backward()
    assert set(parts) == {"enc_focal", "enc_l1", "enc_giou", "dec_focal", "dec_l1", "dec_giou"}
    # The proposal box head learns (its last layer: transformers zeroes it at init, so earlier layers get 0 first).
    assert prompter.detector.model.encoder_output_bbox_embed.layers[-1].weight.grad.abs().sum() > 0
    assert prompter.detector.model.text_backbone.embeddings.word_embeddings.weight.grad is None


# ---------------------------------------------------------------- data


def test_load_grounding_set_reads_every_referring_pair(samples: GroundingSet) -> None:
    assert samples.num_frames == 12 and len(samples) == 36 and samples.size == SIZE
    assert samples.texts == ("the red box", "the green box on the right", "the red shape")
    assert samples.text_index[:3].tolist() == [0, 1, 2] and samples.kinds[0] == ""
    labels = two_box_stills(12, EXPRESSIONS)[0].labels[0]
    rows, cols = np.nonzero(labels == 2)
    assert samples.boxes.shape == (36, 1, 4)
    assert samples.boxes[1, 0].tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


def test_heldout_takes_whole_last_videos() -> None:
    videos = np.array([0, 0, 1, 2, 2, 2])
    assert heldout_videos(videos, 2).tolist() == [False, False, False, True, True, True]
    assert heldout_videos(videos, 4).tolist() == [False, False, True, True, True, True]
    with pytest.raises(GroPromptError, match="no frame to train on"):
        heldout_videos(videos, 6)
    with pytest.raises(GroPromptError, match="at least 1 frame"):
        heldout_videos(videos, 0)


def test_split_without_ground_truth_is_refused(data_root: Path) -> None:
    with pytest.raises(GroPromptError, match="no ground-truth masks"):
        load_grounding_set(load_refytvos(data_root, "boxless"), progress=False)


def test_config_refuses_bad_settings() -> None:
    with pytest.raises(GroPromptError, match="steps must be >= 1"):
        GrounderPretrainConfig(steps=0)
    with pytest.raises(GroPromptError, match="batch size"):
        GrounderPretrainConfig(steps=5, batch_size=0)
    assert GrounderPretrainConfig(steps=20).effective_warmup == 10  # at most half of a short run
    assert GrounderPretrainConfig(steps=2000).effective_warmup == 50


# ---------------------------------------------------------------- training, checkpoint, CLI


def test_training_is_deterministic_and_scores_as_inference_does(samples: GroundingSet, trained) -> None:
    prompter, metrics = trained
    assert metrics["steps"] == 3 and metrics["heldout_samples"] == 9 and metrics["train_samples"] == 27
    assert set(metrics["top1_iou_by_kind"]) == {""} and 0 <= metrics["top1_iou"] <= metrics["best_query_iou"] <= 1
    assert {"loss_enc_focal", "loss_dec_giou"} <= set(metrics["history"][-1])
    train, heldout = samples.split_heldout(3)
    again, _ = pretrain_grounder(train, heldout, GrounderPretrainConfig(steps=3, batch_size=4, warmup_steps=1,
                                                                        seed=5), progress=False)
    for (name, a), b in zip(prompter.detector.state_dict().items(), again.detector.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    # The held-out score is what Prompter.predict_boxes (inference) gives, sample by sample.
    ious = []
    for k in range(len(heldout)):
        frame = heldout.frames[heldout.frame_index[k]][None]
        boxes, _ = prompter.predict_boxes(frame, heldout.texts[heldout.text_index[k]])
        ious.append(box_iou(boxes.astype(np.float64), heldout.boxes[k, :1])[0])
    assert metrics["top1_iou"] == pytest.approx(np.mean(ious), abs=1e-4)


def test_training_moves_the_boxes_towards_the_targets(samples: GroundingSet) -> None:
    train, heldout = samples.split_heldout(3)
    config = GrounderPretrainConfig(steps=12, batch_size=8, warmup_steps=2, eval_every=6, seed=1)
    _, metrics = pretrain_grounder(train, heldout, config, progress=False)
    first, last = metrics["history"]
    assert (first["step"], last["step"]) == (6, 12)
    assert last["loss"] < 0.8 * first["loss"]
    assert last["loss_enc_l1"] < first["loss_enc_l1"] and last["loss_dec_l1"] < first["loss_dec_l1"]


def test_cli_writes_a_checkpoint_every_loader_accepts(data_root: Path, tmp_path: Path, trained) -> None:
    out = tmp_path / "grounder"
    code = main(["pretrain-grounder", "--data", str(data_root), "--out", str(out), "--steps", "2",
                 "--batch-size", "4", "--eval-frames", "3", "--threads", "1"])
    assert code == 0 and (out / "config.json").is_file()
    metrics = json.loads(metrics_path(out).read_text())
    assert metrics["steps"] == 2 and metrics["split"] == "pretrain" and "top1_iou" in metrics
    frame = np.array(load_refytvos(data_root, "pretrain").videos[0].read_frame(0))[None]
    loaded = load_prompter(out, "tiny", None, "cpu")  # what Grounded-SAM and GroPrompt's methods call
    assert loaded.detector.config.num_queries == 10 and loaded.detector.config.d_model == 64
    boxes, scores = loaded.predict_boxes(frame, "the red box")
    assert boxes.shape == (1, 4) and 0 <= scores[0] <= 1
    # A trained prompter survives export and reload unchanged.
    from groprompt.training.checkpoint import export_prompter

    prompter, _ = trained
    export_prompter(prompter, tmp_path / "trained")
    expected, _ = prompter.predict_boxes(frame, "the green box on the right")
    reloaded, _ = build_prompter("tiny", tmp_path / "trained").predict_boxes(frame, "the green box on the right")
    np.testing.assert_allclose(reloaded, expected, atol=1e-4)


@pytest.mark.parametrize(("arguments", "message"), [
    (["--data", "{missing}", "--steps", "2"], "dataset root not found"),
    (["--data", "{root}", "--split", "boxless", "--steps", "2"], "no ground-truth masks"),
    (["--data", "{root}", "--steps", "0"], "steps must be >= 1"),
    (["--data", "{root}", "--steps", "2", "--size", "huge"], "unknown prompter size"),
])
def test_cli_refuses_bad_inputs(data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                arguments: list[str], message: str) -> None:
    filled = [a.format(missing=tmp_path / "nowhere", root=data_root) for a in arguments]
    assert main(["pretrain-grounder", *filled, "--out", str(tmp_path / "g")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def test_normalised_targets_follow_the_frame_size(samples: GroundingSet) -> None:
    height, width = samples.size
    expected = pixel_xyxy_to_normalized_cxcywh(samples.boxes[[0, 1], 0], width, height)
    boxes, valid = target_boxes(samples, np.array([0, 1]), "cpu")
    torch.testing.assert_close(boxes, torch.tensor(expected, dtype=torch.float32)[:, None])
    assert valid.tolist() == [[True], [True]]


PHRASES = [{"exp": "box", "obj_id": "1"}, {"exp": "box", "obj_id": "2"}, {"exp": "green box", "obj_id": "2"}]
"""Grounding phrases as SynRVOS's pretrain split stores them: "box" names both objects, one entry per object."""


def test_a_phrase_naming_several_objects_is_one_sample_with_every_box(tmp_path: Path) -> None:
    videos = two_box_stills(2, PHRASES)
    write_refytvos(tmp_path, "pretrain", videos)
    phrases = load_grounding_set(load_refytvos(tmp_path, "pretrain"), progress=False)
    assert len(phrases) == 4 and phrases.texts == ("box", "green box")
    assert phrases.boxes.shape == (4, 2, 4) and phrases.box_valid.tolist() == [[True, True], [True, False]] * 2
    for obj in (1, 2):
        rows, cols = np.nonzero(videos[0].labels[0] == obj)
        assert phrases.boxes[0, obj - 1].tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    height, width = phrases.size
    boxes, valid = target_boxes(phrases, np.array([1, 0]), "cpu")  # "green box" first: its second row is padding
    assert valid.tolist() == [[True, False], [True, True]]
    assert boxes[0, 1].tolist() == [0.5, 0.5, 1.0, 1.0]
    torch.testing.assert_close(boxes[1], torch.tensor(pixel_xyxy_to_normalized_cxcywh(phrases.boxes[0], width,
                                                                                        height), dtype=torch.float32))
    # A phrase's top query is right when it finds either box: IoU with the closer one.
    predicted = np.array([[phrases.boxes[0, 1], [0, 0, 1, 1]]])
    assert best_target_iou(predicted, phrases.boxes[[0]]).tolist() == [[1.0, 0.0]]
    assert best_target_iou(predicted, phrases.boxes[[1]])[0, 0] == 1.0  # "green box": object 2 only
