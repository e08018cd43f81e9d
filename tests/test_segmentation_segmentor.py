"""The frozen SAM segmentor (groprompt.segmentation.segmentor), on the tiny size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor

from groprompt.errors import GroPromptError
from groprompt.segmentation import SAM_VARIANTS, EmbeddingCache, Segmentor, build_sam, save_sam

H, W = 72, 96  # not square and not the encoder size, so resize, padding and cropping all matter


@pytest.fixture(scope="module")
def sam():
    torch.manual_seed(0)
    return build_sam("tiny")


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, H, W, 3), dtype=np.uint8)


BOXES = np.array([[10.0, 8.0, 60.0, 50.0], [0.0, 0.0, W, H], [40.5, 30.2, 41.5, 33.0], [70.0, 5.0, 90.0, 70.0]])


class _DecoderCalls:
    """Counts mask-decoder calls and the prompts in each."""

    def __init__(self, segmentor: Segmentor) -> None:
        self.sizes: list[int] = []
        self._handle = segmentor.sam.mask_decoder.register_forward_hook(
            lambda module, args, kwargs, output: self.sizes.append(kwargs["sparse_prompt_embeddings"].shape[0]),
            with_kwargs=True,
        )

    def close(self) -> None:
        self._handle.remove()


def test_segmentor_freezes_sam(sam) -> None:
    sam.train()
    segmentor = Segmentor(sam)
    assert not segmentor.sam.training and not segmentor.sam.image_encoder.training
    assert not any(p.requires_grad for p in segmentor.sam.parameters())
    assert segmentor.embedding_shape == (64, 16, 16)


def test_embed_and_segment_equal_the_official_predictor(sam, frames) -> None:
    segmentor = Segmentor(sam)
    predictor = SamPredictor(sam)
    predictor.set_image(frames[1])
    embedding = segmentor.embed(frames[1:2])
    assert embedding.shape == (1, 64, 16, 16) and embedding.dtype == torch.float32
    assert torch.allclose(embedding, predictor.features, atol=1e-6)
    for box in BOXES:
        official, _, _ = predictor.predict(box=box, multimask_output=False)
        assert np.array_equal(segmentor.segment(embedding[0], box[None], (H, W))[0], official[0])


def test_embed_is_independent_of_batching_and_accepts_mixed_sizes(sam, frames) -> None:
    whole = Segmentor(sam, batch_size=5).embed(frames)
    single = Segmentor(sam, batch_size=1).embed(list(frames))
    assert torch.allclose(whole, single, atol=1e-5)
    mixed = Segmentor(sam, batch_size=2).embed([frames[0], frames[1][:40], frames[2][:, :30]])
    assert mixed.shape == (3, 64, 16, 16)
    assert torch.allclose(mixed[0], whole[0], atol=1e-5)
    assert Segmentor(sam).embed([]).shape == (0, 64, 16, 16)


def test_many_boxes_in_one_decoder_call_equal_single_box_calls(sam, frames) -> None:
    segmentor = Segmentor(sam)
    embedding = segmentor.embed(frames[:1])[0]
    calls = _DecoderCalls(segmentor)
    together = segmentor.segment(embedding, BOXES, (H, W))
    assert calls.sizes == [len(BOXES)]
    calls.close()
    assert together.shape == (len(BOXES), H, W) and together.dtype == bool
    singles = np.stack([segmentor.segment(embedding, box[None], (H, W))[0] for box in BOXES])
    assert np.array_equal(together, singles)
    assert together.any(axis=(1, 2)).all()  # not vacuously equal
    chunked = Segmentor(sam, decode_batch_size=3)
    calls = _DecoderCalls(chunked)
    assert np.array_equal(chunked.segment(embedding, torch.as_tensor(BOXES), (H, W)), together)
    assert calls.sizes == [3, 1]
    calls.close()


def test_nan_box_gives_an_empty_mask_without_a_decoder_call(sam, frames) -> None:
    segmentor = Segmentor(sam)
    embedding = segmentor.embed(frames[:1])[0]
    calls = _DecoderCalls(segmentor)
    boxes = np.array([BOXES[0], [np.nan] * 4, BOXES[1]])
    masks = segmentor.segment(embedding, boxes, (H, W))
    empty = segmentor.segment(embedding, np.full((3, 4), np.nan), (H, W))
    none = segmentor.segment(embedding, np.zeros((0, 4)), (H, W))
    assert calls.sizes == [2]
    calls.close()
    assert not masks[1].any() and masks[[0, 2]].any(axis=(1, 2)).all()
    assert np.array_equal(masks[[0, 2]], segmentor.segment(embedding, BOXES[:2], (H, W)))
    assert empty.shape == (3, H, W) and not empty.any() and none.shape == (0, H, W)


def test_cache_encodes_each_frame_once_across_calls_and_segmentors(sam, frames, tmp_path: Path) -> None:
    keys = [f"synrvos/valid/v0/{i:05d}" for i in range(len(frames))]
    boxes = [BOXES[: 1 + i % 3] for i in range(len(frames))]
    first = Segmentor(sam, batch_size=2, cache=EmbeddingCache(tmp_path))
    masks = first.segment_frames(frames, boxes, keys)
    assert [m.shape for m in masks] == [(len(b), H, W) for b in boxes]
    first.segment_frames(frames[:3], boxes[:3], keys[:3])
    first.embeddings(list(frames) + [frames[0]], keys + [keys[0]])  # a key repeated in a call is looked up once
    assert first.cache.stats.as_dict() == {
        "encoder_passes": 5, "memory_hits": 8, "disk_hits": 0, "distinct_frames": 5}

    second = Segmentor(sam, cache=EmbeddingCache(tmp_path))
    assert second.fingerprint == first.fingerprint
    again = second.segment_frames(_Unreadable(len(frames)), boxes, keys)
    assert second.cache.stats.encoder_passes == 0 and second.cache.stats.disk_hits == 5
    assert all(np.array_equal(a, b) for a, b in zip(masks, again))


def test_repeated_key_in_one_call_is_encoded_once(sam, frames) -> None:
    segmentor = Segmentor(sam)
    found = segmentor.embeddings([frames[0], frames[0], frames[1]], ["a", "a", "b"])
    assert found[0] is found[1] and segmentor.cache.stats.encoder_passes == 2


def test_cached_embedding_is_the_fresh_one_rounded_to_float16(sam, frames) -> None:
    segmentor = Segmentor(sam)
    cached = segmentor.embeddings(frames[:2], ["a", "b"])
    fresh = segmentor.embed(frames[:2])
    for entry, exact in zip(cached, fresh):
        assert entry.original_size == (H, W)
        assert torch.equal(entry.embedding, exact.half())
        assert torch.allclose(entry.embedding.float(), exact, rtol=2**-11, atol=0)


def test_prompt_embedding_is_differentiable_in_the_boxes_only(sam) -> None:
    segmentor = Segmentor(sam)
    boxes = torch.tensor(BOXES, requires_grad=True)
    embedding = segmentor.prompt_embedding(boxes, (H, W))
    assert embedding.shape == (len(BOXES), 128)
    embedding.square().sum().backward()
    assert boxes.grad is not None and (boxes.grad.abs().sum(dim=1) > 0).all()
    assert all(p.grad is None for p in segmentor.sam.parameters())


def test_prompt_embedding_uses_sams_input_coordinates(sam) -> None:
    segmentor = Segmentor(sam)
    # A 32x64 frame is resized x2 to 64x128 (longest side 128): its box (1,2,3,4) is the box (2,4,6,8) of a
    # 64x128 frame, which SAM takes unresized.
    small = segmentor.prompt_embedding(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), (32, 64))
    large = segmentor.prompt_embedding(torch.tensor([[2.0, 4.0, 6.0, 8.0]]), (64, 128))
    assert torch.allclose(small, large, atol=1e-6)
    # And it equals SAM's own prompt encoder on segment-anything's box transform, token by token.
    box = BOXES[:2]
    input_boxes = torch.as_tensor(segmentor.transform.apply_boxes(box, (H, W)), dtype=torch.float32)
    sparse, _ = sam.prompt_encoder(points=None, boxes=input_boxes, masks=None)
    assert torch.allclose(segmentor.prompt_embedding(torch.as_tensor(box), (H, W)), sparse.reshape(2, -1), atol=1e-5)


def test_bf16_runs_and_is_cached_apart_from_fp32(sam, frames) -> None:
    shared = EmbeddingCache()
    fp32 = Segmentor(sam, cache=shared)
    bf16 = Segmentor(sam, dtype="bf16", cache=shared)
    assert bf16.fingerprint != fp32.fingerprint
    fp32.embeddings(frames[:1], ["a"])
    masks = bf16.segment_frames(frames[:1], [BOXES], ["a"])
    assert shared.stats.encoder_passes == 2 and masks[0].shape == (len(BOXES), H, W)


def test_from_checkpoint(sam, tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    save_sam(sam, SAM_VARIANTS["tiny"], path)
    assert Segmentor.from_checkpoint(path).fingerprint == Segmentor(sam).fingerprint


def test_bad_inputs_are_named_errors(sam, frames) -> None:
    segmentor = Segmentor(sam)
    with pytest.raises(GroPromptError, match="expected \\(H, W, 3\\) uint8"):
        segmentor.embed([frames[0].astype(np.float32)])
    with pytest.raises(GroPromptError, match="expected \\(H, W, 3\\) uint8"):
        segmentor.embed([frames[0][..., 0]])
    embedding = segmentor.embed(frames[:1])[0]
    with pytest.raises(GroPromptError, match="expected \\(K, 4\\)"):
        segmentor.segment(embedding, BOXES[0], (H, W))
    with pytest.raises(GroPromptError, match="expected \\(64, 16, 16\\)"):
        segmentor.segment(embedding[:32], BOXES, (H, W))
    with pytest.raises(GroPromptError, match="one key per frame"):
        segmentor.embeddings(frames[:2], ["a"])
    with pytest.raises(GroPromptError, match="unknown segmentor dtype"):
        Segmentor(sam, dtype="fp16")


class _Unreadable:
    """A lazy frame sequence whose frames must not be read (every embedding is cached)."""

    def __init__(self, length: int) -> None:
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> np.ndarray:
        raise AssertionError(f"frame {index} was read although its embedding is cached")
