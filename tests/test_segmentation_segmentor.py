"""The frozen SAM segmentor (groprompt.segmentation.segmentor), on the tiny size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor

from groprompt.errors import GroPromptError
from groprompt.fingerprints import path_digest
from groprompt.segmentation import SAM_VARIANTS, EmbeddingCache, Segmentor, build_sam, save_sam
from groprompt.segmentation.segmentor import resize_grey_levels

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
    again = second.segment_frames(UnreadableFrames(len(frames)), boxes, keys)
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


def test_precisions_run_and_are_cached_apart(sam, frames) -> None:
    shared = EmbeddingCache()
    fp32 = Segmentor(sam, cache=shared)
    others = [Segmentor(sam, precision=precision, cache=shared) for precision in ("tf32", "bf16")]
    assert len({fp32.fingerprint, *(other.fingerprint for other in others)}) == 3
    reference = fp32.segment_frames(frames[:1], [BOXES], ["a"])[0]
    tf32, bf16 = (other.segment_frames(frames[:1], [BOXES], ["a"])[0] for other in others)
    assert shared.stats.encoder_passes == 3 and bf16.shape == (len(BOXES), H, W)
    assert np.array_equal(tf32, reference)  # a CPU has no TF32: tf32 computes as fp32 there
    fresh = fp32.embed(frames[:1])
    with torch.autocast("cpu", dtype=torch.bfloat16):  # what bf16 computes: SAM's own modules under autocast
        autocast = sam.image_encoder(fp32.preprocess(frames[:1])).float()
    assert torch.equal(others[1].embed(frames[:1]), autocast) and not torch.equal(autocast, fresh)


def test_from_checkpoint_names_the_files_digest(sam, tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    save_sam(sam, SAM_VARIANTS["tiny"], path)
    loaded = Segmentor.from_checkpoint(path)
    assert loaded.fingerprint == Segmentor(sam, weights=path_digest(path)).fingerprint
    assert loaded.fingerprint != Segmentor(sam).fingerprint  # not the weights hashed in memory
    copy = tmp_path / "copy.pt"
    copy.write_bytes(path.read_bytes())
    assert Segmentor.from_checkpoint(copy).fingerprint == loaded.fingerprint


def test_gpu_resize_is_within_one_grey_level_of_the_official_one(sam) -> None:
    """What a GPU segmentor resizes with, run on the CPU against segment-anything's PIL resize (the CPU's)."""
    frames = np.random.default_rng(2).integers(0, 256, (3, 100, 130, 3), dtype=np.uint8)
    segmentor = Segmentor(sam)
    for frame in (frames[0], frames[1][:48, :64], frames[2][:, :72], frames[0][:64, :128]):
        official = segmentor.transform.apply_image(frame)
        ours = resize_grey_levels(torch.from_numpy(frame).permute(2, 0, 1), official.shape[:2])
        difference = np.abs(ours.permute(1, 2, 0).numpy() - official)
        assert ours.dtype == torch.float32 and difference.max() <= 1, frame.shape
        assert torch.equal(segmentor.preprocess([frame])[0],  # the CPU's is the official resize exactly
                           sam.preprocess(torch.as_tensor(official).permute(2, 0, 1).float()))


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
    with pytest.raises(GroPromptError, match="unknown precision 'fp16' \\(segmentor precision\\)"):
        Segmentor(sam, precision="fp16")


class UnreadableFrames:
    """A lazy frame sequence whose frames must not be read (every embedding is cached); test_segmentation_hq.py uses
    it too."""

    def __init__(self, length: int) -> None:
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> np.ndarray:
        raise AssertionError(f"frame {index} was read although its embedding is cached")
