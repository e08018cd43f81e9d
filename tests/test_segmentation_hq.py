"""SAM-HQ as the segmentor (groprompt.segmentation.hq and its use in build / cache / segmentor), against the official
segment_anything_hq code on the same random weights."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos
from test_segmentation_segmentor import UnreadableFrames

from groprompt.cli import main
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError
from groprompt.inference import read_boxes, read_masks
from groprompt.segmentation import (
    HQ_KEY_FAMILIES,
    OFFICIAL_HQ_VARIANTS,
    OFFICIAL_VARIANTS,
    SAM_VARIANTS,
    EmbeddingCache,
    Segmentor,
    build_sam,
    detect_official_variant,
    is_sam_hq,
    load_sam,
    save_sam,
    weights_digest,
)
from groprompt.segmentation.hq import hq_modeling

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASELINES = Path(__file__).resolve().parents[1] / "baselines"

H, W = 72, 96  # not square and not the encoder size, so resize, padding and cropping all matter
BOXES = np.array([[10.0, 8.0, 60.0, 50.0], [0.0, 0.0, W, H], [np.nan] * 4, [40.5, 30.2, 41.5, 33.0],
                  [70.0, 5.0, 90.0, 70.0]])


@pytest.fixture(scope="module")
def official():
    """The segment_anything_hq package, imported as the harness imports it (timm's import-time warnings silenced)."""
    hq_modeling()
    import segment_anything_hq

    return segment_anything_hq


@pytest.fixture(scope="module")
def sam():
    torch.manual_seed(0)
    return build_sam("sam-hq-tiny")


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (2, H, W, 3), dtype=np.uint8)


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}


def _meta_state(variant: str) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return build_sam(variant).state_dict()


# ---------------------------------------------------------------- the official files' format


@pytest.mark.parametrize("size", ["vit_b", "vit_l", "vit_h"])
def test_hq_sizes_have_the_key_set_of_the_official_builders(official, size: str) -> None:
    with torch.device("meta"):
        reference = official.sam_model_registry[size]()
        ours = build_sam(f"sam-hq-{size.replace('_', '-')}")
    assert is_sam_hq(ours) and not is_sam_hq(build_sam("tiny"))
    assert _shapes(ours) == _shapes(reference)
    # SAM-HQ = SAM's keys (same shapes) + the decoder's HQ families, each present.
    plain = {key: tuple(tensor.shape) for key, tensor in _meta_state(size).items()}
    assert {key: shape for key, shape in _shapes(ours).items() if key in plain} == plain
    added = set(_shapes(ours)) - set(plain)
    assert {key.split(".")[1] for key in added} == set(HQ_KEY_FAMILIES)
    assert all(key.startswith("mask_decoder.") for key in added)


@pytest.mark.parametrize("variant", OFFICIAL_HQ_VARIANTS)
def test_official_hq_size_is_detected_and_a_release_format_file_loads_without_a_variant(variant: str,
                                                                                      tmp_path: Path) -> None:
    state = _meta_state(variant)
    assert detect_official_variant(state) == variant
    path = tmp_path / "sam_hq.pth"
    torch.save(state, path)  # a plain state dict, as released; meta tensors keep the file tiny
    loaded, config = load_sam(path)
    assert config == SAM_VARIANTS[variant] and config.hq and is_sam_hq(loaded)


@pytest.mark.parametrize("variant", OFFICIAL_VARIANTS)
def test_plain_sam_sizes_are_still_detected_as_sam(variant: str) -> None:
    assert detect_official_variant(_meta_state(variant)) == variant


def test_release_format_file_of_a_small_size_loads_with_its_weights(sam, tmp_path: Path) -> None:
    path = tmp_path / "sam_hq_tiny.pth"
    torch.save(sam.state_dict(), path)
    loaded = build_sam("sam-hq-tiny", checkpoint=path)
    assert is_sam_hq(loaded)
    for name, tensor in sam.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    stored = tmp_path / "sam_hq_tiny.pt"
    save_sam(sam, SAM_VARIANTS["sam-hq-tiny"], stored)
    assert load_sam(stored)[1] == SAM_VARIANTS["sam-hq-tiny"]


def test_groprompt_infer_segments_with_a_release_format_sam_hq_file(sam, tmp_path: Path) -> None:
    """Every box method can use SAM-HQ: gt-box-sam's masks are SAM-HQ's answers to its boxes."""
    root = tmp_path / "data"
    write_refytvos(root, "train", [ToyVideo("v1", moving_squares(num_frames=2, size=(24, 32), num_objects=2),
                                            [{"exp": "the upper square", "obj_id": "1"},
                                             {"exp": "the lower square", "obj_id": "2"}])])
    path = tmp_path / "sam_hq_tiny.pth"
    torch.save(sam.state_dict(), path)
    out = tmp_path / "out"
    assert main(["infer", "--method", "gt-box-sam", "--dataset-kind", "refytvos", "--data", str(root), "--split",
                 "train", "--segmentor", str(path), "--segmentor-variant", "sam-hq-tiny", "--out", str(out),
                 "--baselines-dir", str(BASELINES)]) == 0
    boxes, masks = read_boxes(out / "boxes" / "v1.csv"), read_masks(out / "masks" / "v1.json")
    video = open_dataset("refytvos", root, "train").video("v1")
    segmentor = Segmentor(sam)
    for t in range(2):
        expected = segmentor.segment_frames([video.read_frame(t)], [np.stack([boxes[e][1][t] for e in ("0", "1")])],
                                            [f"check/{t}"])[0]
        assert np.array_equal(masks["0"][t], expected[0]) and np.array_equal(masks["1"][t], expected[1])
    assert masks["0"].any()


# ---------------------------------------------------------------- masks equal the official predictor's


def test_official_predictor_defaults_to_sam_plus_hq_token(official) -> None:
    """The output choice of groprompt.segmentation.hq is the predictor's default (hq_token_only=False)."""
    assert inspect.signature(official.SamPredictor.predict).parameters["hq_token_only"].default is False


def _official_masks(official, sam, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    predictor = official.SamPredictor(sam)
    predictor.set_image(frame)
    masks = np.zeros((len(boxes), H, W), dtype=bool)
    for index, box in enumerate(boxes):
        if np.isfinite(box).all():
            masks[index] = predictor.predict(box=box, multimask_output=False)[0][0]
    return masks


def test_masks_equal_the_official_predictor_through_the_cache_and_from_a_warm_cache(official, sam, frames,
                                                                                  tmp_path: Path) -> None:
    boxes = [BOXES, BOXES[::-1][:3]]
    keys = ["synrvos/valid/v0/00000", "synrvos/valid/v0/00001"]
    expected = [_official_masks(official, sam, frame, frame_boxes) for frame, frame_boxes in zip(frames, boxes)]
    assert all(m[np.isfinite(b).all(axis=1)].any(axis=(1, 2)).all() for m, b in zip(expected, boxes))
    assert not expected[0][0].all()  # not vacuously equal

    cold = Segmentor(sam, batch_size=2, cache=EmbeddingCache(tmp_path, storage_dtype=torch.float32))
    masks = cold.segment_frames(frames, boxes, keys)
    assert all(np.array_equal(a, b) for a, b in zip(masks, expected))
    assert cold.cache.stats.encoder_passes == 2

    warm = Segmentor(sam, cache=EmbeddingCache(tmp_path, storage_dtype=torch.float32))
    again = warm.segment_frames(UnreadableFrames(len(frames)), boxes, keys)
    assert warm.cache.stats.as_dict() == {"encoder_passes": 0, "memory_hits": 0, "disk_hits": 2, "distinct_frames": 2}
    assert all(np.array_equal(a, b) for a, b in zip(again, expected))


def test_float16_cache_keeps_the_hq_features_and_gives_the_same_masks_warm(sam, frames, tmp_path: Path) -> None:
    cold = Segmentor(sam, cache=EmbeddingCache(tmp_path))
    entry = cold.embeddings(frames[:1], ["a"])[0]
    assert entry.hq_features.shape == (8, 64, 64) and entry.hq_features.dtype == torch.float16
    embedding, hq_features = cold.encode(frames[:1])
    assert torch.equal(entry.hq_features, hq_features[0].half()) and torch.equal(entry.embedding, embedding[0].half())
    masks = cold.segment_frames(frames[:1], [BOXES], ["a"])
    warm = Segmentor(sam, cache=EmbeddingCache(tmp_path))
    assert np.array_equal(warm.segment_frames(UnreadableFrames(1), [BOXES], ["a"])[0], masks[0])
    assert warm.cache.stats.disk_hits == 1


def test_cache_never_hands_sam_embeddings_to_sam_hq(sam, frames, tmp_path: Path) -> None:
    """SAM-HQ files keep SAM's image encoder: the fingerprint names the kind besides the weights."""
    plain = build_sam("tiny")
    plain.image_encoder.load_state_dict(sam.image_encoder.state_dict())
    cache = EmbeddingCache(tmp_path)
    sam_segmentor, hq_segmentor = Segmentor(plain, cache=cache, weights="w"), Segmentor(sam, cache=cache, weights="w")
    assert sam_segmentor.fingerprint != hq_segmentor.fingerprint
    sam_segmentor.embeddings(frames[:1], ["a"])
    assert hq_segmentor.embeddings(frames[:1], ["a"])[0].hq_features is not None
    assert cache.stats.encoder_passes == 2
    assert weights_digest(plain) != weights_digest(sam)


def test_weights_digest_follows_the_modules_that_make_the_hq_features(sam) -> None:
    torch.manual_seed(1)
    model = build_sam("sam-hq-tiny")
    base = weights_digest(model)
    with torch.no_grad():
        model.mask_decoder.hf_token.weight.add_(1.0)  # per prompt: not in the cached features
    assert weights_digest(model) == base
    with torch.no_grad():
        model.mask_decoder.compress_vit_feat[0].weight[0] += 1e-3
    assert weights_digest(model) != base


# ---------------------------------------------------------------- errors


def test_sam_hq_file_configured_as_sam_and_the_reverse_are_named_errors(sam, tmp_path: Path) -> None:
    hq_file, sam_file = tmp_path / "sam_hq_tiny.pth", tmp_path / "sam_tiny.pth"
    torch.save(sam.state_dict(), hq_file)
    torch.save(build_sam("tiny").state_dict(), sam_file)
    with pytest.raises(GroPromptError) as error:
        build_sam("tiny", checkpoint=hq_file)
    message = str(error.value)
    assert "is a SAM-HQ model" in message and str(hq_file) in message and "mask_decoder.hf_token" in message
    with pytest.raises(GroPromptError) as error:
        build_sam("sam-hq-tiny", checkpoint=sam_file)
    message = str(error.value)
    assert "is a plain SAM model" in message and str(sam_file) in message and "sam_hq_vit_" in message
    stored = tmp_path / "sam_hq_tiny.pt"  # a groprompt file too: the kind is told before the settings
    save_sam(sam, SAM_VARIANTS["sam-hq-tiny"], stored)
    with pytest.raises(GroPromptError, match="is a SAM-HQ model"):
        build_sam("tiny", checkpoint=stored)


def test_official_size_of_the_wrong_kind_names_the_variant_to_use(tmp_path: Path) -> None:
    path = tmp_path / "sam_hq_vit_h.pth"
    torch.save(_meta_state("sam-hq-vit-h"), path)
    with pytest.raises(GroPromptError, match="--segmentor-variant sam-hq-vit-h"):
        build_sam("vit_h", checkpoint=path)
    path = tmp_path / "sam_vit_b.pth"
    torch.save(_meta_state("vit_b"), path)
    with pytest.raises(GroPromptError, match="--segmentor-variant vit_b"):
        build_sam("sam-hq-vit-b", checkpoint=path)


def test_truncated_sam_hq_file_is_a_named_error(sam, tmp_path: Path) -> None:
    path = tmp_path / "sam_hq_tiny.pth"
    torch.save(sam.state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(GroPromptError, match="cannot read the SAM checkpoint") as error:
        load_sam(path)
    assert str(path) in str(error.value) and "truncated" in str(error.value)


def test_hq_features_must_match_the_segmentor(sam, frames) -> None:
    segmentor = Segmentor(sam)
    embedding, hq_features = segmentor.encode(frames[:1])
    with pytest.raises(GroPromptError, match="SAM-HQ features of shape None, expected \\(8, 64, 64\\)"):
        segmentor.segment(embedding[0], BOXES, (H, W))
    plain = Segmentor(build_sam("tiny"))
    with pytest.raises(GroPromptError, match="expected None for this SAM segmentor"):
        plain.segment(plain.embed(frames[:1])[0], BOXES, (H, W), hq_features=hq_features[0])
    assert segmentor.encode([])[1].shape == (0, 8, 64, 64) and plain.encode([])[1] is None


def test_hq_config_needs_a_global_attention_block() -> None:
    with pytest.raises(GroPromptError, match="encoder_global_attn_indexes is empty"):
        dataclasses.replace(SAM_VARIANTS["sam-hq-tiny"], encoder_global_attn_indexes=())
