"""The Grounding DINO prompter (docs/method_spec.md §1): sizes, building, loading, forward outputs, freezing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import safetensors.torch
import torch
from transformers import ResNetConfig, SwinConfig

from groprompt.errors import GroPromptError
from groprompt.prompting import (
    DEFAULT_TRAINABLE,
    PROMPTER_SIZES,
    apply_freezing,
    build_detector,
    build_prompter,
    count_parameters,
    load_hf_detector,
    load_text_backbone,
    normalize_sentence,
    preprocess_frames,
    prompter_config,
    query_confidence,
    select_top1,
)
from groprompt.prompting.config import minilm_dir
from groprompt.prompting.freezing import parameter_group

FRAME = 64  # the tiny ResNet needs 32-pixel multiples; 64 keeps every test fast


@pytest.fixture(scope="module")
def tiny_prompter():
    torch.manual_seed(0)
    return build_prompter("tiny")


@pytest.fixture(scope="module")
def frozen_prompter():
    """A tiny prompter under the default freezing policy, in train mode."""
    torch.manual_seed(0)
    prompter = build_prompter("tiny")
    apply_freezing(prompter, DEFAULT_TRAINABLE)
    return prompter.train()


def _frames(count: int, size: int = FRAME) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize("raw, expected", [
    ("The Red Circle", "the red circle ."),
    ("the dog on the left.", "the dog on the left ."),
    ("  a  man\tin white ...  ", "a man in white ."),
    ("zebra .", "zebra ."),
])
def test_normalize_sentence(raw, expected):
    assert normalize_sentence(raw) == expected


def test_normalize_sentence_rejects_empty():
    with pytest.raises(GroPromptError, match="empty referring expression"):
        normalize_sentence(" . ")


def test_confidence_is_max_sigmoid_over_real_tokens():
    inf = math.inf
    # 1 item, 2 queries, 5 text positions of which 3 are real tokens; transformers puts -inf past them.
    logits = torch.tensor([[[0.0, 2.0, -1.0, -inf, -inf],
                            [-3.0, -2.0, 1.0, -inf, -inf]]])
    text_mask = torch.tensor([[True, True, True]])
    expected = [1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(-1.0))]  # sigmoid(2), sigmoid(1)
    torch.testing.assert_close(query_confidence(logits, text_mask), torch.tensor([expected]))
    # A padded item: its third token is padding, so query 1's best real token is -2 -> sigmoid(-2).
    padded = query_confidence(logits, torch.tensor([[True, True, False]]))
    torch.testing.assert_close(padded[0, 1], torch.tensor(1 / (1 + math.exp(2.0))))


def test_select_top1_picks_highest_score_first_on_ties():
    scores = torch.tensor([[0.1, 0.9, 0.3], [0.5, 0.2, 0.5]])
    boxes = torch.arange(24, dtype=torch.float32).view(2, 3, 4)
    index, box = select_top1(scores, boxes)
    assert index.tolist() == [1, 0]
    torch.testing.assert_close(box, torch.stack([boxes[0, 1], boxes[1, 0]]))


def test_preprocess_frames_normalises_and_resizes():
    frames = np.full((2, 30, 60, 3), 255, dtype=np.uint8)
    pixels = preprocess_frames(frames, shortest_edge=60, longest_edge=100)
    # short side 30 -> 60 would make the long side 120 > 100, so the scale is 100 / 60.
    assert pixels.shape == (2, 3, 50, 100)
    torch.testing.assert_close(pixels[0, :, 0, 0], torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224,
                                                                  (1 - 0.406) / 0.225]))
    with pytest.raises(GroPromptError, match="uint8"):
        preprocess_frames(frames.astype(np.float32))


# ------------------------------------------------------------------------------------------- sizes and building


def test_size_registry_published_settings():
    swin_t, swin_b = prompter_config("swin-t"), prompter_config("swin-b")
    assert (swin_t.backbone_config.embed_dim, list(swin_t.backbone_config.depths), swin_t.backbone_config.window_size,
            list(swin_t.backbone_config.num_heads)) == (96, [2, 2, 6, 2], 7, [3, 6, 12, 24])
    assert (swin_b.backbone_config.embed_dim, list(swin_b.backbone_config.depths), swin_b.backbone_config.window_size,
            list(swin_b.backbone_config.num_heads)) == (128, [2, 2, 18, 2], 12, [4, 8, 16, 32])
    for config in (swin_t, swin_b):
        assert (config.d_model, config.encoder_layers, config.decoder_layers, config.num_queries) == (256, 6, 6, 900)
        assert (config.text_config.hidden_size, config.text_config.num_hidden_layers) == (768, 12)
        assert list(config.backbone_config.out_indices) == [2, 3, 4]
    tiny = prompter_config("tiny")
    assert isinstance(tiny.backbone_config, ResNetConfig) and not isinstance(tiny.backbone_config, SwinConfig)
    assert (tiny.d_model, tiny.encoder_layers, tiny.decoder_layers, tiny.num_queries, tiny.num_feature_levels,
            tiny.two_stage, tiny.text_config.hidden_size) == (64, 2, 2, 10, 3, True, 384)


def test_unknown_size_lists_valid_ones():
    with pytest.raises(GroPromptError) as caught:
        prompter_config("swin-l")
    assert all(name in str(caught.value) for name in PROMPTER_SIZES)


@pytest.mark.parametrize("size", list(PROMPTER_SIZES))
def test_every_parameter_has_one_group_and_default_trains_decoder(size):
    with torch.device("meta"):
        detector = build_detector(size)
    for name, _ in detector.named_parameters(remove_duplicate=False):
        parameter_group(name)  # raises if unassigned
    apply_freezing(detector)
    decoder = sum(p.numel() for p in detector.model.decoder.parameters())  # includes the shared box head
    assert sum(p.numel() for p in detector.parameters() if p.requires_grad) == decoder


def test_swin_t_counts_match_stack_notes():
    with torch.device("meta"):
        detector = build_detector("swin-t")
    counts = {group.group: group.total for group in count_parameters(detector)}
    assert round(sum(counts.values()) / 1e6, 1) == 172.3
    assert round(counts["image_backbone"] / 1e6, 1) == 27.5
    assert round(counts["text_backbone"] / 1e6, 1) == 108.9
    assert round((counts["decoder"] + counts["bbox_embed"]) / 1e6, 1) == 11.2


def test_random_build_applies_text_norm_fix_and_unfreezes_backbone():
    torch.manual_seed(0)
    detector = build_detector("tiny")
    norm = detector.model.encoder.layers[-1].text_enhancer_layer.layer_norm_after.weight
    torch.testing.assert_close(norm, torch.full_like(norm, 0.125))
    # transformers' loader freezes a ResNet backbone; a from-scratch build must not.
    assert all(p.requires_grad for p in detector.parameters())


def test_minilm_loads_with_exactly_the_expected_leftovers(tiny_prompter):
    detector = tiny_prompter.detector
    leftovers = load_text_backbone(detector, minilm_dir())
    assert leftovers == ["embeddings.position_ids", "pooler.dense.bias", "pooler.dense.weight"]
    weights = safetensors.torch.load_file(str(minilm_dir() / "model.safetensors"))
    torch.testing.assert_close(detector.model.text_backbone.embeddings.word_embeddings.weight,
                               weights["embeddings.word_embeddings.weight"])


def test_text_backbone_of_wrong_size_is_an_error(tmp_path):
    with torch.device("meta"):
        detector = build_detector("tiny")
    safetensors.torch.save_file({"embeddings.word_embeddings.weight": torch.zeros(5, 3)},
                                str(tmp_path / "model.safetensors"))
    with pytest.raises(GroPromptError, match="model.safetensors"):
        load_text_backbone(detector, tmp_path)


def test_hf_folder_round_trip(tmp_path, tiny_prompter):
    tiny_prompter.detector.save_pretrained(tmp_path)
    loaded = load_hf_detector(tmp_path)
    original = tiny_prompter.detector.state_dict()
    assert loaded.state_dict().keys() == original.keys()
    for key, tensor in loaded.state_dict().items():
        torch.testing.assert_close(tensor, original[key], msg=key)
    # The folder has no tokenizer: build_prompter falls back to the size's bundled MiniLM tokenizer.
    prompter = build_prompter("tiny", checkpoint=tmp_path)
    assert prompter.tokenizer.vocab_size == tiny_prompter.tokenizer.vocab_size


def test_build_prompter_checks_paths_before_building(tmp_path):
    with pytest.raises(GroPromptError, match="needs a tokenizer folder"):
        build_prompter("swin-t")  # BERT-base's tokenizer is not bundled: it must be given
    with pytest.raises(GroPromptError, match="checkpoint not found"):
        build_prompter("tiny", checkpoint=tmp_path / "missing.pth")


def test_hf_folder_without_weights_is_an_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(GroPromptError, match="model.safetensors"):
        load_hf_detector(tmp_path)


# ------------------------------------------------------------------------------------------- running


def test_forward_shapes_and_consistency(tiny_prompter):
    pixels = preprocess_frames(_frames(2))
    with torch.no_grad():
        out = tiny_prompter(pixels, ["the red circle", "a big blue square on the left"])
    queries, width = 10, 384
    assert out.pred_boxes.shape == (2, queries, 4) and out.scores.shape == (2, queries)
    assert ((out.pred_boxes >= 0) & (out.pred_boxes <= 1)).all()
    # "[CLS] the red circle . [SEP]" is 6 tokens, the second sentence 10: the first is padded.
    assert out.text_mask.sum(dim=1).tolist() == [6, 10]
    assert out.text_features.shape == (2, 10, width) and not out.text_features.requires_grad
    torch.testing.assert_close(out.scores, query_confidence(out.logits, out.text_mask))
    assert out.top_index.tolist() == out.scores.argmax(dim=1).tolist()
    torch.testing.assert_close(out.top_box, out.pred_boxes[torch.arange(2), out.top_index])
    torch.testing.assert_close(out.top_score, out.scores.amax(dim=1))
    expected_z = out.text_features[0, :6].mean(dim=0)
    torch.testing.assert_close(out.sentence_features()[0], expected_z)


def test_predict_boxes_returns_pixel_boxes(tiny_prompter):
    frames = _frames(3, size=96)[:, :, :64]  # a 64 x 96 (W x H) video
    boxes, scores = tiny_prompter.predict_boxes(frames, "the red circle", batch_size=2)
    assert boxes.shape == (3, 4) and boxes.dtype == np.float32 and scores.shape == (3,)
    with torch.no_grad():
        out = tiny_prompter(preprocess_frames(frames), ["the red circle"] * 3)
    cx, cy, w, h = out.top_box.numpy().T
    np.testing.assert_allclose(boxes, np.stack([(cx - w / 2) * 64, (cy - h / 2) * 96,
                                                (cx + w / 2) * 64, (cy + h / 2) * 96], axis=1), rtol=1e-5)
    np.testing.assert_allclose(scores, out.top_score.numpy(), rtol=1e-6)
    assert tiny_prompter.predict_boxes(frames[:0], "x")[0].shape == (0, 4)


def test_freezing_gives_gradients_only_to_trainable_parts(frozen_prompter):
    prompter = frozen_prompter
    out = prompter(preprocess_frames(_frames(2)), ["the red circle", "the square"])
    out.top_box.sum().backward()
    for name, param in prompter.detector.named_parameters():
        trainable = parameter_group(name) in DEFAULT_TRAINABLE
        assert param.requires_grad == trainable, name
        if not trainable:
            assert param.grad is None, name
    decoder_grads = [p.grad for p in prompter.detector.model.decoder.layers.parameters()]
    assert all(grad is not None for grad in decoder_grads)
    # The box head's last layer starts at zero (so earlier layers get no gradient yet); it must get one.
    assert prompter.detector.bbox_embed[0].layers[-1].weight.grad.abs().sum() > 0


def test_frozen_parts_stay_in_eval_after_train(frozen_prompter):
    prompter = frozen_prompter.train()
    model = prompter.detector.model
    assert not model.text_backbone.training and not model.backbone.training and not model.encoder.training
    assert all(not m.training for m in model.encoder.modules())  # dropout inside the frozen encoder too
    assert model.decoder.training and model.decoder.layers[0].training and prompter.training
    prompter.eval()
    assert not model.decoder.training
    prompter.train()
    assert model.decoder.training and not model.text_backbone.training


def test_fully_frozen_prompter_switches_modes_without_recursing(tiny_prompter):
    # Inference freezes everything; Prompter.train() must not call back into itself through the freezing helper.
    prompter = build_prompter("tiny")
    prompter.requires_grad_(False)
    prompter.train()
    assert not prompter.training and not prompter.detector.model.decoder.training


def test_unknown_trainable_group_is_an_error():
    with torch.device("meta"):
        detector = build_detector("tiny")
    with pytest.raises(GroPromptError, match="decodr"):
        apply_freezing(detector, ["decodr"])
