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
partial file; two processes encoding the same frame at once both write the same content and the last rename wins.
A file that cannot be read as its frame's entry anyway (a disk error, a foreign file) is reported as a warning
naming it, deleted, and the frame encoded again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import warnings
from collections import OrderedDict
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

    def path(self, encoder: str, key: str) -> Path | None:
        """The disk file of an entry (None without a directory); the key is hashed so any string is safe."""
        if self.directory is None:
            return None
        return self.directory / encoder / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.pt"

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
