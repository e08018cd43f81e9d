"""The image-embedding cache (groprompt.segmentation.cache)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from groprompt.errors import GroPromptError
from groprompt.segmentation import (
    EmbeddingCache,
    FrameEmbedding,
    Segmentor,
    build_sam,
    encoder_fingerprint,
    weights_digest,
)

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


# ---------------------------------------------------------------- one encoder pass per frame across processes


def _encoder(calls: list[list[str]], delay: float = 0.0, gate: threading.Event | None = None,
             fail: bool = False) -> Callable[[list[str]], list[FrameEmbedding]]:
    """A stand-in for SAM's encoder over keys "0", "1"...: records each call's keys, then waits ``delay`` seconds
    (or for ``gate``), then returns key-seeded embeddings (or raises)."""
    def encode(keys: list[str]) -> list[FrameEmbedding]:
        calls.append(list(keys))
        if gate is not None:
            assert gate.wait(30)
        time.sleep(delay)
        if fail:
            raise RuntimeError("encoder failed")
        return [FrameEmbedding(_embedding(int(key)), (2, 2)) for key in keys]
    return encode


def _in_thread(function: Callable[[], object]) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = function()
        except BaseException as error:  # reported by the test
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def _until_called(calls: list) -> None:
    deadline = time.monotonic() + 30
    while not calls:
        assert time.monotonic() < deadline, "the encoder was never called"
        time.sleep(0.01)


def test_a_frame_another_job_is_encoding_is_waited_for_not_encoded_again(tmp_path: Path) -> None:
    gate, first_calls, second_calls = threading.Event(), [], []
    first = EmbeddingCache(tmp_path)
    holder, held = _in_thread(lambda: first.fetch(ENC, ["0", "1", "2"], _encoder(first_calls, gate=gate), 8))
    _until_called(first_calls)  # the first job is inside its encoder call, holding the frames' locks
    second = EmbeddingCache(tmp_path)
    waiter, waited = _in_thread(lambda: second.fetch(ENC, ["3", "2", "1"], _encoder(second_calls), 8))
    time.sleep(0.3)
    assert waiter.is_alive() and second_calls == [["3"]]  # frame 3 is its own; 2 and 1 are waited for
    gate.set()
    holder.join(30)
    waiter.join(30)
    assert "error" not in held and "error" not in waited
    assert first_calls == [["0", "1", "2"]] and second_calls == [["3"]]
    for key in "123":
        assert torch.equal(waited["value"][key].embedding, _embedding(int(key)).half())
    assert second.stats.encoder_passes == 1 and second.stats.disk_hits == 2
    assert sorted(p.suffix for p in (tmp_path / ENC).iterdir()) == [".pt"] * 4  # no lock file is left


def test_a_failed_holder_lets_the_waiting_job_encode_the_frame(tmp_path: Path) -> None:
    gate, first_calls, second_calls = threading.Event(), [], []
    first = EmbeddingCache(tmp_path)
    holder, held = _in_thread(lambda: first.fetch(ENC, ["0"], _encoder(first_calls, gate=gate, fail=True), 8))
    _until_called(first_calls)
    second = EmbeddingCache(tmp_path)
    waiter, waited = _in_thread(lambda: second.fetch(ENC, ["0"], _encoder(second_calls), 8))
    time.sleep(0.2)
    gate.set()
    holder.join(30)
    waiter.join(30)
    assert isinstance(held["error"], RuntimeError) and "error" not in waited
    assert second_calls == [["0"]] and torch.equal(waited["value"]["0"].embedding, _embedding(0).half())


def test_a_lock_file_left_by_a_killed_job_does_not_block(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    stale = cache.path(ENC, "0").with_suffix(".lock")
    stale.parent.mkdir(parents=True)
    stale.touch()  # what a job killed while encoding frame 0 leaves: the file, no lock (the kernel dropped it)
    calls: list[list[str]] = []
    found = cache.fetch(ENC, ["0", "1", "0"], _encoder(calls), 8)
    assert calls == [["0", "1"]] and set(found) == {"0", "1"} and not stale.exists()


def test_fetch_encodes_in_batches_and_only_what_is_missing(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.put(ENC, "2", _embedding(2), (2, 2))
    calls: list[list[str]] = []
    found = cache.fetch(ENC, ["0", "1", "2", "3", "4", "1"], _encoder(calls), 2)
    assert calls == [["0", "1"], ["3", "4"]] and list(found) == ["2", "0", "1", "3", "4"]
    memory_only: list[list[str]] = []
    assert set(EmbeddingCache().fetch(ENC, ["0", "1", "2"], _encoder(memory_only), 2)) == {"0", "1", "2"}
    assert memory_only == [["0", "1"], ["2"]]


SHARED_FRAMES = 6


def _embed_job(folder: str, order: list[int], start: multiprocessing.synchronize.Barrier,
               results: multiprocessing.Queue) -> None:
    """One job of the test below, in its own process: a tiny SAM's segmentor (the same weights in every job)
    embedding the shared frames in ``order``, two a call; puts the size of each encoder call and the embeddings
    (float32 arrays by frame) on ``results``."""
    torch.manual_seed(0)
    segmentor = Segmentor(build_sam("tiny"), batch_size=2, cache=EmbeddingCache(folder), weights="tiny, seed 0")
    calls: list[int] = []
    encode = segmentor.encode

    def counted(frames):
        calls.append(len(frames))
        time.sleep(0.3)  # a slow encoder: the other job asks for the same frames meanwhile
        return encode(frames)

    segmentor.encode = counted
    frames = [np.full((24, 32, 3), 20 * index, dtype=np.uint8) for index in range(SHARED_FRAMES)]
    start.wait(120)
    found = segmentor.embeddings([frames[i] for i in order], [f"synrvos/valid/v/{i:05d}" for i in order])
    results.put((order[0], calls, {i: entry.embedding.float().numpy() for i, entry in zip(order, found, strict=True)}))


def test_two_processes_embedding_the_same_frames_encode_each_frame_once(tmp_path: Path) -> None:
    # Opposite orders: each job's batches overlap the other's, the case where locks taken in turn could deadlock.
    orders = [list(range(SHARED_FRAMES)), list(reversed(range(SHARED_FRAMES)))]
    context = multiprocessing.get_context("spawn")  # a fork of a process that ran torch may hang
    start, queue = context.Barrier(len(orders)), context.Queue()
    jobs = [context.Process(target=_embed_job, args=(str(tmp_path), order, start, queue)) for order in orders]
    for job in jobs:
        job.start()
    try:
        results = sorted(queue.get(timeout=240) for _ in jobs)
    finally:
        for job in jobs:
            job.join(30)
            if job.is_alive():
                job.kill()
    assert [job.exitcode for job in jobs] == [0, 0]
    assert sum(sum(calls) for _, calls, _ in results) == SHARED_FRAMES  # every frame encoded once in all
    assert all(max(calls, default=0) <= 2 for _, calls, _ in results)
    (_, _, first), (_, _, second) = results
    assert set(first) == set(second) == set(range(SHARED_FRAMES))
    assert all(np.array_equal(first[i], second[i]) for i in first)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == SHARED_FRAMES and all(p.suffix == ".pt" for p in files)
