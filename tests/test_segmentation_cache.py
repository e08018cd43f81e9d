"""The image-embedding cache (groprompt.segmentation.cache)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from groprompt.errors import GroPromptError
from groprompt.segmentation import EmbeddingCache, build_sam, encoder_fingerprint, weights_digest

ENC = "0" * 32


def _embedding(seed: int) -> torch.Tensor:
    return torch.randn(4, 2, 2, generator=torch.Generator().manual_seed(seed))


def test_memory_hit_returns_the_stored_entry_and_counts() -> None:
    cache = EmbeddingCache()
    assert cache.get(ENC, "v/0") is None
    stored = cache.put(ENC, "v/0", _embedding(0), (48, 64))
    again = cache.get(ENC, "v/0")
    assert again is stored and again.original_size == (48, 64)
    assert cache.stats.as_dict() == {"encoder_passes": 1, "memory_hits": 1, "disk_hits": 0, "distinct_frames": 1}


def test_float16_storage_rounds_once_and_float32_storage_is_exact() -> None:
    # float16 steps by 2**-10 just above 1: 1 + 2**-12 is a quarter step (rounds down to 1), 1 + 3 * 2**-12 three
    # quarters (rounds up to 1 + 2**-10); -2.5 is representable.
    value = torch.tensor([1 + 2**-12, 1 + 3 * 2**-12, 0.1, -2.5]).reshape(4, 1, 1)
    stored = EmbeddingCache().put(ENC, "k", value, (1, 1)).embedding
    assert stored.dtype == torch.float16
    assert stored.flatten().tolist()[:2] == [1.0, 1 + 2**-10]
    assert stored.flatten().tolist()[3] == -2.5
    relative = ((stored.float() - value).abs() / value.abs()).max().item()
    assert relative <= 2**-11
    exact = EmbeddingCache(storage_dtype=torch.float32).put(ENC, "k", value, (1, 1)).embedding
    assert torch.equal(exact, value)


def test_least_recently_used_entry_is_dropped_from_memory() -> None:
    cache = EmbeddingCache(memory_frames=2)
    for key in "abc":
        cache.put(ENC, key, _embedding(0), (2, 2))
    assert cache.get(ENC, "a") is None  # evicted, and there is no disk folder
    assert cache.get(ENC, "b") is not None
    cache.put(ENC, "d", _embedding(0), (2, 2))  # evicts c, the least recently used now
    assert cache.get(ENC, "c") is None and cache.get(ENC, "b") is not None
    assert cache.stats.distinct_frames == 4
    assert EmbeddingCache(memory_frames=0).put(ENC, "x", _embedding(0), (2, 2)) is not None
    with pytest.raises(GroPromptError):
        EmbeddingCache(memory_frames=-1)


def test_disk_entries_are_shared_between_caches_and_identical(tmp_path: Path) -> None:
    writer = EmbeddingCache(tmp_path)
    stored = writer.put(ENC, "davis/train/bear/00000", _embedding(1), (480, 854))
    reader = EmbeddingCache(tmp_path)
    found = reader.get(ENC, "davis/train/bear/00000")
    assert torch.equal(found.embedding, stored.embedding) and found.original_size == (480, 854)
    assert reader.get(ENC, "davis/train/bear/00000") is found  # now from memory
    assert reader.stats.as_dict() == {"encoder_passes": 0, "memory_hits": 1, "disk_hits": 1, "distinct_frames": 1}
    files = list(tmp_path.rglob("*"))
    assert [f.parent.name for f in files if f.is_file()] == [ENC]
    assert not [f for f in files if ".tmp" in f.name]


def test_other_encoder_never_sees_an_entry(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.put(ENC, "k", _embedding(0), (2, 2))
    assert cache.get("1" * 32, "k") is None
    assert EmbeddingCache(tmp_path).get("1" * 32, "k") is None


def test_any_key_string_maps_to_a_file_inside_the_folder(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    for key in ("../../escape", "a/b/c", "vidéo 1/frame:0", ""):
        path = cache.path(ENC, key)
        assert path.parent == tmp_path / ENC and path.suffix == ".pt"
    assert cache.path(ENC, "a/b") != cache.path(ENC, "a_b")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other key"])
def test_corrupt_cache_file_is_a_warning_and_is_recomputed(tmp_path: Path, damage: str) -> None:
    writer = EmbeddingCache(tmp_path)
    writer.put(ENC, "k", _embedding(0), (2, 2))
    path = writer.path(ENC, "k")
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"garbage")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    else:  # a well-formed entry of another frame under this name
        EmbeddingCache(tmp_path / "other").put(ENC, "another frame", _embedding(0), (2, 2))
        path.write_bytes(EmbeddingCache(tmp_path / "other").path(ENC, "another frame").read_bytes())
    cache = EmbeddingCache(tmp_path)
    with pytest.warns(UserWarning, match="embedding cache entry .* is unreadable") as caught:
        assert cache.get(ENC, "k") is None
    assert str(path) in str(caught[0].message) and "recomputed" in str(caught[0].message)
    assert not path.exists() and cache.stats.disk_hits == 0
    cache.put(ENC, "k", _embedding(0), (2, 2))  # the caller encodes the frame again: the entry is rewritten
    assert path.read_bytes() == good
    assert torch.equal(EmbeddingCache(tmp_path).get(ENC, "k").embedding, _embedding(0).half())


def test_weights_digest_follows_encoder_weights_only() -> None:
    torch.manual_seed(0)
    sam = build_sam("tiny")
    base = weights_digest(sam)
    assert len(base) == 32 and base == weights_digest(sam)
    with torch.no_grad():
        sam.mask_decoder.iou_token.weight.add_(1.0)  # the decoder does not change embeddings
    assert weights_digest(sam) == base
    with torch.no_grad():
        sam.image_encoder.neck[1].weight[0] += 1e-3
    assert weights_digest(sam) != base
    assert weights_digest(build_sam("tiny")) != base


def test_fingerprint_names_weights_size_precision_and_resize() -> None:
    base = encoder_fingerprint("weights", 1024, "fp32", "pil")
    assert len(base) == 32 and base == encoder_fingerprint("weights", 1024, "fp32", "pil")
    others = [("other", 1024, "fp32", "pil"), ("weights", 512, "fp32", "pil"), ("weights", 1024, "bf16", "pil"),
              ("weights", 1024, "tf32", "pil"), ("weights", 1024, "fp32", "float")]
    assert len({base, *(encoder_fingerprint(*other) for other in others)}) == 6
