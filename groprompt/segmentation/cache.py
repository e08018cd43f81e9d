"""The image-embedding cache: each frame goes through SAM's image encoder once per study (docs/method_spec.md §6).

An entry is keyed by two strings:

* the **encoder fingerprint** (:func:`encoder_fingerprint`): a digest of what names SAM's weights (the checkpoint
  file's content digest, or :func:`weights_digest` of a model in memory), whether the model is SAM-HQ, the input
  size, the preprocessing and the precision. Embeddings of a different SAM, of the same SAM run in bf16 instead of
  fp32, or of SAM for a SAM-HQ run (whose entries also hold its HQ features), are never reused.
* the **frame key** the caller supplies, which must identify the frame's pixels: the inference code passes
  ``"<dataset>/<split>/<video>/<frame name>"``. A content hash was rejected as the key because it needs the
  decoded frame, and a warm cache should not have to read frames at all.

Entries are held in ``storage_dtype`` (float16 by default), in memory and on disk alike, and a freshly encoded
frame is returned already rounded to it. So every consumer sees bit-identical values whether the entry was just
computed, found in memory, or read from disk by another process; the price is fp16 rounding of the encoder output
(relative error at most 2**-11, about 5e-4, for values in fp16's normal range; SAM's embeddings leave a LayerNorm
and are of order 1). Pass ``storage_dtype=torch.float32`` to keep encoder outputs exactly.

On disk, ``<directory>/<fingerprint>/<blake2b(key)>.pt`` holds ``{"key", "original_size", "embedding"}`` and, for
SAM-HQ, ``"hq_features"``. Files are
written under a temporary name and renamed (:mod:`groprompt.files`), so processes sharing the folder never read a
partial file. A file that cannot be read as its frame's entry anyway (a disk error, a foreign file) is reported as a
warning naming it, deleted, and the frame encoded again.

**Once per frame across processes.** All jobs of a study share the folder, and jobs running side by side miss
the same frames at the same moment. :meth:`EmbeddingCache.fetch` therefore encodes a frame only under an exclusive
``fcntl.flock`` on ``<blake2b(key)>.lock`` beside its entry, and looks the entry up again once the lock is held:

1. every key is looked up (memory, disk); the misses are taken in order with a *non-blocking* lock each; a key
   whose lock another process holds is set aside, a key found after locking is released, and the others are encoded
   ``batch_size`` at a time (one encoder call), stored, and their locks released;
2. with no lock held, the process waits (blocking) for the lock of the first key set aside, then goes back to 1
   with the keys set aside: by then the holder has stored them, or died or failed without storing them, and the
   key is taken again.

A process never waits while it holds a lock, so two jobs that want overlapping windows of frames in any order
cannot deadlock, and each still encodes full batches of the frames nobody else is encoding. A lock is held across
one encoder call at most, so a wait is that long. Considered and rejected: a workflow step that embeds each split
before its inference jobs would add a GPU job per split and encoder, and would leave ``groprompt infer`` and
``groprompt train`` run by hand (or by two studies sharing a cache) without the guarantee; a lock over a whole
batch, taken blocking in sorted key order, is deadlock-free too, but makes a second job wait for a whole batch even
when only one of its frames is being encoded, and a lock per folder serialises every job.

The holder deletes the lock file before releasing it, so a warm folder holds entries only; a process that locked a
lock file that was meanwhile deleted (its ``stat`` no longer names the open file) opens it again. A process killed
while holding a lock loses it with its file descriptors; the empty ``.lock`` file it leaves is taken by the next
process. ``flock`` locks are per open file, so the exclusion also holds between threads with caches of their own
(one :class:`EmbeddingCache` object is not thread safe). It holds across machines where the shared file system
supports ``flock`` (local disks; NFS, where Linux maps it to POSIX locks; Lustre mounted with ``flock``); where a
lock cannot be taken (no locking support, a folder that refuses the file) a warning says so once and frames are
encoded unlocked, correct but possibly more than once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from segment_anything.modeling import Sam

from groprompt.errors import GroPromptError
from groprompt.files import atomic_torch_save
from groprompt.segmentation.hq import hq_cached_modules

PREPROCESSING_VERSION = "resize-longest-side(antialiased bilinear)+normalise+pad/2"
"""Names the pixel preprocessing in the fingerprint; change it whenever the preprocessing code changes."""


@dataclass
class CacheStats:
    """Counters of one :class:`EmbeddingCache` (one process).

    Attributes:
        encoder_passes: frames actually run through the image encoder and stored.
        memory_hits: lookups answered from memory.
        disk_hits: lookups answered from the disk folder (then kept in memory too).
        distinct_frames: distinct (encoder, frame key) pairs looked up or stored.
    """

    encoder_passes: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    distinct_frames: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FrameEmbedding:
    """SAM's image embedding of one frame.

    Attributes:
        embedding: ``(C, h, w)`` tensor in the cache's storage dtype on the CPU (256 x 64 x 64 for official SAM).
        original_size: ``(H, W)`` of the frame before SAM's resize; needed to map boxes and masks.
        hq_features: SAM-HQ only (None for SAM): the frame's fused HQ features, ``(C // 8, 4h, 4w)`` in the same
            dtype (32 x 256 x 256 for the official sizes; :mod:`groprompt.segmentation.hq`).
    """

    embedding: torch.Tensor
    original_size: tuple[int, int]
    hq_features: torch.Tensor | None = None


class EmbeddingCache:
    """Bounded in-memory LRU over an optional on-disk folder of frame embeddings.

    Args:
        directory: folder shared by every process of a study, or None for memory only.
        memory_frames: how many embeddings to keep in memory (least recently used are dropped; 0 keeps none).
            Full-size SAM takes 2 MB a frame in float16, SAM-HQ 6 MB (its HQ features besides).
        storage_dtype: dtype of stored embeddings (float16 or float32; see the module docstring).
    """

    def __init__(self, directory: str | Path | None = None, *, memory_frames: int = 256,
                 storage_dtype: torch.dtype = torch.float16) -> None:
        if memory_frames < 0:
            raise GroPromptError(f"memory_frames must be >= 0, got {memory_frames}",
                                 fix="set the embedding cache size to a non-negative number of frames")
        if storage_dtype not in (torch.float16, torch.float32):
            raise GroPromptError(f"unsupported embedding storage dtype {storage_dtype}",
                                 fix="use torch.float16 or torch.float32")
        self.directory = Path(directory) if directory is not None else None
        self.memory_frames = memory_frames
        self.storage_dtype = storage_dtype
        self.stats = CacheStats()
        self._memory: OrderedDict[tuple[str, str], FrameEmbedding] = OrderedDict()
        self._seen: set[tuple[str, str]] = set()
        self._warned_unlocked = False

    def get(self, encoder: str, key: str) -> FrameEmbedding | None:
        """The stored embedding of frame ``key`` by encoder ``encoder``, from memory or disk; None if absent."""
        entry = (encoder, key)
        self._see(entry)
        found = self._memory.get(entry)
        if found is not None:
            self._memory.move_to_end(entry)
            self.stats.memory_hits += 1
            return found
        path = self.path(encoder, key)
        if path is None or not path.is_file():
            return None
        found = self._read(path, key)
        if found is None:
            return None
        self.stats.disk_hits += 1
        self._remember(entry, found)
        return found

    def put(self, encoder: str, key: str, embedding: torch.Tensor, original_size: tuple[int, int],
            hq_features: torch.Tensor | None = None) -> FrameEmbedding:
        """Store a freshly encoded ``(C, h, w)`` embedding, with SAM-HQ's ``(C // 8, 4h, 4w)`` HQ features if any
        (counts one encoder pass); returns it as stored."""
        entry = (encoder, key)
        self._see(entry)
        stored = FrameEmbedding(self._stored(embedding), (int(original_size[0]), int(original_size[1])),
                                None if hq_features is None else self._stored(hq_features))
        self.stats.encoder_passes += 1
        self._remember(entry, stored)
        path = self.path(encoder, key)
        if path is not None and not path.exists():
            payload = {"key": key, "original_size": list(stored.original_size), "embedding": stored.embedding}
            if stored.hq_features is not None:
                payload["hq_features"] = stored.hq_features
            atomic_torch_save(payload, path)
        return stored

    def fetch(self, encoder: str, keys: Sequence[str], encode: Callable[[list[str]], Sequence[FrameEmbedding]],
              batch_size: int) -> dict[str, FrameEmbedding]:
        """Every key's entry, encoding with ``encode`` only the frames no process has stored, each frame by one
        process however many share the folder (the locking of the module docstring).

        Args:
            encoder: the encoder fingerprint.
            keys: frame keys; a repeated key is looked up and encoded once.
            encode: given up to ``batch_size`` keys, their frames' fresh entries in the same order: each a
                :class:`FrameEmbedding` of a ``(C, h, w)`` embedding (any dtype and device), the frame's
                ``(H, W)`` and SAM-HQ's HQ features or None. Called only with keys whose lock this process holds.
            batch_size: the most keys in one ``encode`` call.

        Returns:
            ``{key: entry as stored}`` for every key.
        """
        if batch_size < 1:
            raise GroPromptError(f"batch_size must be >= 1, got {batch_size}", fix="encode at least one frame a call")
        found: dict[str, FrameEmbedding] = {}
        pending = [key for key in dict.fromkeys(keys) if not self._found(encoder, key, found)]
        while pending:
            busy = self._encode_unclaimed(encoder, pending, encode, batch_size, found)
            if busy:  # holding no lock: wait until the process encoding this frame lets it go
                self._wait(encoder, busy[0])
            pending = busy
        return found

    def path(self, encoder: str, key: str) -> Path | None:
        """The disk file of an entry (None without a directory); the key is hashed so any string is safe."""
        if self.directory is None:
            return None
        return self.directory / encoder / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.pt"

    def _found(self, encoder: str, key: str, found: dict[str, FrameEmbedding]) -> bool:
        """Look ``key`` up; if stored, add it to ``found``."""
        hit = self.get(encoder, key)
        if hit is not None:
            found[key] = hit
        return hit is not None

    def _encode_unclaimed(self, encoder: str, keys: list[str],
                          encode: Callable[[list[str]], Sequence[FrameEmbedding]], batch_size: int,
                          found: dict[str, FrameEmbedding]) -> list[str]:
        """Step 1 of the module docstring: store into ``found`` every key of ``keys`` that is stored or that this
        process can lock (encoding those, a batch at a time); returns the keys whose lock another process holds."""
        busy: list[str] = []
        batch: list[tuple[str, _FrameLock]] = []
        try:
            for key in keys:
                if self._found(encoder, key, found):
                    continue
                lock = self._try_lock(encoder, key)
                if lock is None:
                    busy.append(key)
                elif self._found(encoder, key, found):  # stored while this process was taking the lock
                    lock.release()
                else:
                    batch.append((key, lock))
                    if len(batch) == batch_size:
                        self._encode_batch(encoder, batch, encode, found)
                        batch = []
            if batch:
                self._encode_batch(encoder, batch, encode, found)
                batch = []
        finally:  # an error or an interruption (Ctrl-C, SIGTERM) lets the frames go unencoded
            for _, lock in batch:
                lock.release()
        return busy

    def _encode_batch(self, encoder: str, batch: list[tuple[str, _FrameLock]],
                      encode: Callable[[list[str]], Sequence[FrameEmbedding]],
                      found: dict[str, FrameEmbedding]) -> None:
        """Encode and store the locked keys of ``batch`` in one call, then release their locks."""
        try:
            keys = [key for key, _ in batch]
            entries = list(encode(keys))
            if len(entries) != len(keys):
                raise GroPromptError(f"the encoder returned {len(entries)} embeddings for {len(keys)} frames",
                                     fix="return one FrameEmbedding per key, in order")
            for key, entry in zip(keys, entries, strict=True):
                found[key] = self.put(encoder, key, entry.embedding, entry.original_size, entry.hq_features)
        finally:
            for _, lock in batch:
                lock.release()

    def _try_lock(self, encoder: str, key: str) -> _FrameLock | None:
        """The frame's lock, or None if another process holds it; a stand-in that locks nothing without a
        directory or where the file system refuses locks (warned once)."""
        path = self.path(encoder, key)
        if path is None:
            return _FrameLock(None, None)
        try:
            return _FrameLock.try_acquire(path.with_suffix(".lock"))
        except OSError as error:
            self._warn_unlocked(path, error)
            return _FrameLock(None, None)

    def _wait(self, encoder: str, key: str) -> None:
        """Block until no process holds the frame's lock (taking and at once dropping it)."""
        path = self.path(encoder, key)
        if path is None:
            return
        try:
            fd = os.open(path.with_suffix(".lock"), os.O_RDONLY)
        except FileNotFoundError:  # its holder is done
            return
        except OSError as error:
            self._warn_unlocked(path, error)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            self._warn_unlocked(path, error)
        finally:
            os.close(fd)  # releases the lock, if taken

    def _warn_unlocked(self, path: Path, error: OSError) -> None:
        if not self._warned_unlocked:
            self._warned_unlocked = True
            warnings.warn(f"cannot lock embedding cache entries in {path.parent} ({type(error).__name__}: {error}); "
                          "frames are encoded without a lock, so jobs running at once may encode a frame twice "
                          "(use a folder on a file system with flock for the cache)", stacklevel=4)

    def _stored(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach().to("cpu", self.storage_dtype).contiguous()

    def _see(self, entry: tuple[str, str]) -> None:
        if entry not in self._seen:
            self._seen.add(entry)
            self.stats.distinct_frames += 1

    def _remember(self, entry: tuple[str, str], value: FrameEmbedding) -> None:
        if self.memory_frames == 0:
            return
        self._memory[entry] = value
        self._memory.move_to_end(entry)
        while len(self._memory) > self.memory_frames:
            self._memory.popitem(last=False)

    def _read(self, path: Path, key: str) -> FrameEmbedding | None:
        """The entry stored in ``path``; None, with a warning, for a file that is unreadable or not an entry of
        ``key`` (a truncated write of an old version, a disk error, a foreign file): it is deleted, so the frame
        is encoded again and the entry rewritten."""
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            height, width = payload["original_size"]
            embedding, hq_features = payload["embedding"], payload.get("hq_features")
            tensors = [embedding] if hq_features is None else [embedding, hq_features]
            if payload["key"] != key or not all(isinstance(t, torch.Tensor) and t.ndim == 3 for t in tensors):
                raise ValueError(f"not the entry of frame {key!r}")
        except Exception as error:  # any unreadable or foreign file is the same problem for the user
            reason = str(error).splitlines()[0] if str(error) else ""
            warnings.warn(f"embedding cache entry {path} (frame {key}) is unreadable ({type(error).__name__}: "
                          f"{reason}); it is deleted and recomputed", stacklevel=3)
            with contextlib.suppress(OSError):  # a read-only shared cache: recomputed, not rewritten
                path.unlink(missing_ok=True)
            return None
        return FrameEmbedding(embedding.to(self.storage_dtype), (int(height), int(width)),
                              None if hq_features is None else hq_features.to(self.storage_dtype))


class _FrameLock:
    """An exclusive ``flock`` on a frame's lock file, held from :meth:`try_acquire` to :meth:`release`; with no
    file descriptor, a stand-in that locks nothing."""

    def __init__(self, path: Path | None, fd: int | None) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def try_acquire(cls, path: Path) -> _FrameLock | None:
        """The lock on ``path`` (created if absent), or None if another process holds it.

        Raises:
            OSError: the file cannot be created or locked (a read-only folder, no locking support).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            try:
                opened, named = os.fstat(fd), _stat(path)
                if named is not None and (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino):
                    return cls(path, fd)
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # its holder deleted this file after we opened it: lock the one the path names now

    def release(self) -> None:
        """Delete the lock file (while still holding it, so no process can take it as valid) and let it go; a
        second call does nothing."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            with contextlib.suppress(OSError):
                self.path.unlink()
        finally:
            os.close(fd)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def encoder_fingerprint(weights: str, image_size: int, precision: str, resize: str, hq: bool = False) -> str:
    """A 32-hex-digit digest of everything an image embedding depends on besides the frame.

    Args:
        weights: names SAM's weights: the content digest of its checkpoint file (:func:`groprompt.fingerprints.
            path_digest`, remembered across runs, so a start does not read 2.4 GB) or :func:`weights_digest`.
        image_size: the encoder's input side.
        precision: ``fp32``, ``tf32`` or ``bf16`` (:mod:`groprompt.precision`).
        resize: which resize arithmetic made the encoder's input (it differs by device, see
            :meth:`groprompt.segmentation.Segmentor.preprocess`).
        hq: the model is SAM-HQ: its entries hold HQ features too, and SAM-HQ files share SAM's image encoder, so
            the kind is named besides the weights.
    """
    digest = hashlib.blake2b(digest_size=16)
    # Plain SAM's text is left as it was before SAM-HQ existed, so caches already on disk stay valid.
    model = ";model=sam-hq" if hq else ""
    digest.update(f"{PREPROCESSING_VERSION};resize={resize};img_size={image_size};compute={precision};"
                  f"weights={weights}{model}".encode())
    return digest.hexdigest()


def weights_digest(sam: Sam) -> str:
    """A 32-hex-digit digest of a SAM in memory that has no checkpoint file: its image encoder's state dict (names,
    dtypes, shapes, bytes), for SAM-HQ the decoder modules that make its cached HQ features, and pixel mean and std.
    Reads every weight once: about a second per GB on a CPU."""
    digest = hashlib.blake2b(digest_size=16)
    tensors = [*sam.image_encoder.state_dict().items(),
               *((f"{prefix}.{name}", tensor) for prefix, module in hq_cached_modules(sam).items()
                 for name, tensor in module.state_dict().items()),
               ("pixel_mean", sam.pixel_mean), ("pixel_std", sam.pixel_std)]
    for name, tensor in tensors:
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy().data)
    return digest.hexdigest()
