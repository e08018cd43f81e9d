"""The frozen SAM segmentor: embed each frame once, decode many boxes per embedding (docs/method_spec.md §6).

Two layers, as in segment-anything's ``SamPredictor``:

* numpy in / numpy out, in original-image pixels: :meth:`Segmentor.segment_frames` (through the embedding cache)
  and :meth:`Segmentor.segment`;
* the torch core: :meth:`Segmentor.embed` (batched image encoder) and :meth:`Segmentor.prompt_embedding`
  (SAM's frozen prompt encoder on boxes, differentiable for TextCon, docs/method_spec.md §3).

Boxes are ``(x0, y0, x1, y1)`` float pixels of the original frame, the harness convention
(:mod:`groprompt.data.model`); they are handed to SAM as they are, and a ``nan`` row means "no box" (an empty
mask, docs/method_spec.md §7). Unlike ``SamPredictor``, the mask decoder runs once per frame for all its boxes:
``MaskDecoder.predict_masks`` repeats the image embedding once per prompt, so K boxes on one embedding cost K
decoder passes in one call, while B images with B boxes in one call would cost B². Frames are resized on the
segmentor's device (:meth:`Segmentor.preprocess`) and encoded ``batch_size`` at a time.

A SAM-HQ model (:mod:`groprompt.segmentation.hq`) runs through the same two layers: encoding a frame also gives its
HQ features, which the cache keeps beside the embedding, and decoding takes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide
from torch.nn import functional

from groprompt.errors import GroPromptError
from groprompt.precision import autocast, check_precision, float32_matmuls, forward_precision
from groprompt.segmentation.build import load_sam
from groprompt.segmentation.cache import EmbeddingCache, FrameEmbedding, encoder_fingerprint, weights_digest
from groprompt.segmentation.hq import decode_single_masks, frame_features, is_sam_hq


class Segmentor:
    """A frozen SAM or SAM-HQ (``requires_grad`` False, eval mode) on one device, with an embedding cache.

    Args:
        sam: the model (segment-anything's or segment-anything-hq's ``Sam``); it is moved to ``device`` and frozen
            in place.
        device: where SAM runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).
        precision: ``"fp32"``, ``"tf32"`` or ``"bf16"`` (:mod:`groprompt.precision`: bf16 autocasts the image
            encoder and mask decoder; the prompt encoder's sinusoidal box encoding always runs in float32). Part of
            the cache fingerprint.
        batch_size: frames per image-encoder call.
        decode_batch_size: boxes per mask-decoder call (bounds memory: each box holds a copy of the embedding).
        cache: where embeddings are kept; a memory-only cache by default. Several segmentors may share one.
        weights: a digest naming SAM's weights in the cache fingerprint: :meth:`from_checkpoint` passes the
            checkpoint file's (remembered across runs); None hashes the image encoder's weights in memory
            (:func:`~groprompt.segmentation.cache.weights_digest`: seconds for ViT-H).
    """

    def __init__(self, sam: Sam, *, device: str | torch.device = "cpu", precision: str = "fp32",
                 batch_size: int = 8, decode_batch_size: int = 64, cache: EmbeddingCache | None = None,
                 weights: str | None = None) -> None:
        check_precision(precision, "segmentor precision")
        if batch_size < 1 or decode_batch_size < 1:
            raise GroPromptError(f"batch sizes must be >= 1 (got batch_size {batch_size}, decode_batch_size "
                                 f"{decode_batch_size})", fix="set positive segmentor batch sizes")
        self.device = torch.device(device)
        self.precision = precision
        self.batch_size = batch_size
        self.decode_batch_size = decode_batch_size
        self.sam = sam.to(self.device).eval().requires_grad_(False)
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)
        self.cache = cache if cache is not None else EmbeddingCache()
        self.hq = is_sam_hq(sam)
        resize = "pil" if self.device.type == "cpu" else "float"  # see preprocess
        self.fingerprint = encoder_fingerprint(weights or weights_digest(self.sam), self.image_size, precision, resize,
                                               hq=self.hq)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, **options) -> Segmentor:
        """A segmentor of the SAM in ``checkpoint`` (size detected or stored; see :func:`load_sam`), its cache
        fingerprint naming the file's content digest."""
        from groprompt.fingerprints import path_digest

        sam, _ = load_sam(checkpoint)
        return cls(sam, weights=path_digest(checkpoint), **options)

    @property
    def image_size(self) -> int:
        """Side of SAM's square input in pixels (1024 for official SAM)."""
        return self.sam.image_encoder.img_size

    @property
    def embedding_shape(self) -> tuple[int, int, int]:
        """``(C, h, w)`` of one frame's image embedding (256, 64, 64 for official SAM)."""
        side = self.sam.prompt_encoder.image_embedding_size
        return (self.sam.prompt_encoder.embed_dim, side[0], side[1])

    @property
    def hq_features_shape(self) -> tuple[int, int, int] | None:
        """``(C // 8, 4h, 4w)`` of one frame's SAM-HQ features (32, 256, 256 for the official sizes); None for SAM."""
        if not self.hq:
            return None
        channels, height, width = self.embedding_shape
        return (channels // 8, 4 * height, 4 * width)

    # ------------------------------------------------------------------ numpy layer, original-image pixels

    def segment_frames(self, frames: Sequence[np.ndarray], boxes_per_frame: Sequence[np.ndarray],
                       keys: Sequence[str]) -> list[np.ndarray]:
        """Masks for the boxes of each frame, embedding every frame at most once (through the cache).

        Args:
            frames: ``(H, W, 3) uint8`` RGB frames; an item is only read when its embedding is not cached, so a
                lazy sequence saves decoding frames on a warm cache.
            boxes_per_frame: per frame a ``(K_t, 4)`` array of xyxy pixel boxes (``nan`` rows: no box).
            keys: per frame a string identifying it, e.g. ``"<dataset>/<split>/<video>/<frame>"``.

        Returns:
            per frame a ``(K_t, H, W)`` bool array.
        """
        if len(boxes_per_frame) != len(keys):
            raise GroPromptError(f"{len(keys)} frame keys but {len(boxes_per_frame)} box arrays",
                                 fix="pass one (K, 4) box array per frame")
        embeddings = self.embeddings(frames, keys)
        return [self.segment(e.embedding, boxes, e.original_size, hq_features=e.hq_features)
                for e, boxes in zip(embeddings, boxes_per_frame)]

    def embeddings(self, frames: Sequence[np.ndarray], keys: Sequence[str]) -> list[FrameEmbedding]:
        """Each frame's embedding from the cache, encoding (in batches) only the frames it lacks.

        A key repeated within one call is encoded once, and a frame that another process sharing the cache folder
        is encoding is waited for, not encoded again (:meth:`EmbeddingCache.fetch`). Returned tensors are
        ``(C, h, w)`` (and SAM-HQ's ``hq_features``) on the CPU in the cache's storage dtype (float16 by default),
        identical whether computed now or found in the cache.
        """
        if len(frames) != len(keys):
            raise GroPromptError(f"{len(frames)} frames but {len(keys)} frame keys", fix="pass one key per frame")
        first = {}
        for index, key in enumerate(keys):
            first.setdefault(key, index)

        def encode(chunk: list[str]) -> list[FrameEmbedding]:
            images = [_check_frame(frames[first[key]], key) for key in chunk]
            encoded, hq_features = self.encode(images)
            return [FrameEmbedding(encoded[position], image.shape[:2],
                                   None if hq_features is None else hq_features[position])
                    for position, image in enumerate(images)]

        found = self.cache.fetch(self.fingerprint, keys, encode, self.batch_size)
        return [found[key] for key in keys]

    def segment(self, embedding: torch.Tensor, boxes: np.ndarray | torch.Tensor, original_size: tuple[int, int],
                hq_features: torch.Tensor | None = None) -> np.ndarray:
        """Decode boxes against one frame's embedding; ``multimask_output=False``, thresholded at SAM's threshold.

        Args:
            embedding: ``(C, h, w)`` image embedding of the frame (any float dtype, any device).
            boxes: ``(K, 4)`` xyxy boxes in the frame's original pixels; ``nan`` rows give empty masks.
            original_size: ``(H, W)`` of the frame.
            hq_features: SAM-HQ only (None for SAM): the frame's ``(C // 8, 4h, 4w)`` HQ features
                (:meth:`encode`, :attr:`FrameEmbedding.hq_features`); SAM-HQ's mask is SAM's single-mask output
                plus its HQ token's (:mod:`groprompt.segmentation.hq`).

        Returns:
            ``(K, H, W)`` bool masks.
        """
        height, width = int(original_size[0]), int(original_size[1])
        if tuple(embedding.shape) != self.embedding_shape:
            raise GroPromptError(f"image embedding of shape {tuple(embedding.shape)}, expected {self.embedding_shape}",
                                 fix="embed the frame with this segmentor's SAM (its cache fingerprint differs)")
        found = None if hq_features is None else tuple(hq_features.shape)
        if found != self.hq_features_shape:
            raise GroPromptError(f"SAM-HQ features of shape {found}, expected {self.hq_features_shape} for this "
                                 f"{'SAM-HQ' if self.hq else 'SAM'} segmentor",
                                 fix="pass the frame's hq_features from this segmentor's encode or embedding cache "
                                     "(None for plain SAM)")
        boxes = np.asarray(boxes.detach().cpu() if isinstance(boxes, torch.Tensor) else boxes, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise GroPromptError(f"boxes of shape {boxes.shape}, expected (K, 4) xyxy pixels",
                                 fix="pass one row (x0, y0, x1, y1) per box; use boxes[None] for a single box")
        masks = np.zeros((len(boxes), height, width), dtype=bool)
        valid = np.flatnonzero(np.isfinite(boxes).all(axis=1))
        if valid.size == 0:
            return masks
        input_boxes = torch.as_tensor(self.transform.apply_boxes(boxes[valid], (height, width)),
                                      dtype=torch.float32, device=self.device)
        input_size = self.transform.get_preprocess_shape(height, width, self.image_size)
        image_embedding = embedding.to(self.device, torch.float32)[None]
        frame_hq = None if hq_features is None else hq_features.to(self.device, torch.float32)[None]
        with torch.no_grad(), float32_matmuls(self.precision):
            dense_pe = self.sam.prompt_encoder.get_dense_pe()
            for start in range(0, len(valid), self.decode_batch_size):
                chunk = input_boxes[start:start + self.decode_batch_size]
                sparse, dense = self.sam.prompt_encoder(points=None, boxes=chunk, masks=None)
                with autocast(self.precision, self.device):
                    if frame_hq is None:
                        low_res, _ = self.sam.mask_decoder(image_embeddings=image_embedding, image_pe=dense_pe,
                                                           sparse_prompt_embeddings=sparse,
                                                           dense_prompt_embeddings=dense, multimask_output=False)
                    else:
                        low_res = decode_single_masks(self.sam.mask_decoder, image_embedding, frame_hq, dense_pe,
                                                      sparse, dense)
                logits = self.sam.postprocess_masks(low_res.float(), input_size, (height, width))
                masks[valid[start:start + len(chunk)]] = (logits[:, 0] > self.sam.mask_threshold).cpu().numpy()
        return masks

    # ------------------------------------------------------------------ torch core

    def embed(self, frames: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """SAM image embeddings of frames, ``batch_size`` at a time, bypassing the cache (:meth:`preprocess`).

        Args:
            frames: ``(N, H, W, 3) uint8`` RGB array, or a sequence of ``(H_i, W_i, 3) uint8`` frames of any sizes.

        Returns:
            ``(N, C, h, w)`` float32 tensor on the segmentor's device.
        """
        return self.encode(frames)[0]

    def encode(self, frames: Sequence[np.ndarray] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What decoding needs of each frame, ``batch_size`` frames at a time, bypassing the cache.

        Args:
            frames: as for :meth:`embed`.

        Returns:
            the ``(N, C, h, w)`` float32 image embeddings on the segmentor's device, and for SAM-HQ the
            ``(N, C // 8, 4h, 4w)`` float32 HQ features (None for SAM).
        """
        embeddings, hq_features = [], []
        with torch.no_grad(), forward_precision(self.precision, self.device):
            for batch in _batches([_check_frame(frame, index) for index, frame in enumerate(frames)],
                                  self.batch_size):
                images = self.preprocess(batch)
                if self.hq:
                    embedding, features = frame_features(self.sam, images)
                    hq_features.append(features.float())
                else:
                    embedding = self.sam.image_encoder(images)
                embeddings.append(embedding.float())
        if not embeddings:
            no_hq = torch.empty((0, *self.hq_features_shape), device=self.device) if self.hq else None
            return torch.empty((0, *self.embedding_shape), device=self.device), no_hq
        return torch.cat(embeddings), torch.cat(hq_features) if self.hq else None

    def prompt_embedding(self, boxes: torch.Tensor, original_size: tuple[int, int]) -> torch.Tensor:
        """The two sparse corner tokens of SAM's frozen prompt encoder for each box, flattened
        (docs/method_spec.md §3).

        Differentiable with respect to ``boxes``: TextCon's gradient flows through the frozen encoder into the
        prompter's boxes; the encoder's own parameters get none. A ``nan`` box gives a ``nan`` row.

        Args:
            boxes: ``(N, 4)`` xyxy boxes in original-image pixels (any float dtype, any device).
            original_size: ``(H, W)`` of the frames the boxes refer to.

        Returns:
            ``(N, 2 * C)`` float32 on the segmentor's device (512 for official SAM).
        """
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise GroPromptError(f"boxes of shape {tuple(boxes.shape)}, expected (N, 4) xyxy pixels",
                                 fix="pass one row (x0, y0, x1, y1) per box")
        height, width = int(original_size[0]), int(original_size[1])
        new_h, new_w = self.transform.get_preprocess_shape(height, width, self.image_size)
        # ResizeLongestSide.apply_boxes_torch deep-copies its input, which autograd refuses for a tensor in a
        # graph; the same per-axis scaling as a product keeps the gradient path to the boxes.
        scale = torch.tensor([new_w / width, new_h / height] * 2, device=self.device)
        input_boxes = boxes.to(self.device, torch.float32) * scale
        # Training calls this inside its forward's autocast; a bf16 sinusoid of pixel coordinates would be off by
        # about a hundredth of a period, so the box encoding stays float32 as at inference.
        with torch.autocast(self.device.type, enabled=False):
            sparse, _ = self.sam.prompt_encoder(points=None, boxes=input_boxes, masks=None)
        return sparse.reshape(len(boxes), -1)

    def preprocess(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """``(H_i, W_i, 3) uint8`` frames -> ``(N, 3, S, S)`` float32 on the device, as ``SamPredictor.set_image``
        prepares one: resized so the longest side is ``image_size``, normalised with SAM's pixel mean and std,
        zero-padded to a square.

        The resize happens on the segmentor's device. On a CPU that is segment-anything's own ``ResizeLongestSide``
        (PIL's antialiased bilinear filter), the reference. On a GPU the frame goes there as uint8 and
        :func:`resize_grey_levels` resizes it (within one grey level of PIL's). The cache fingerprint names which of
        the two made an embedding.
        """
        return torch.stack([self.sam.preprocess(self._resize(frame)) for frame in frames])

    # ------------------------------------------------------------------ helpers

    def _resize(self, frame: np.ndarray) -> torch.Tensor:
        """``(H, W, 3) uint8`` -> ``(3, h, w)`` float32 grey levels on the device, longest side ``image_size``."""
        if self.device.type == "cpu":
            return torch.from_numpy(self.transform.apply_image(frame)).permute(2, 0, 1).float()
        size = self.transform.get_preprocess_shape(frame.shape[0], frame.shape[1], self.image_size)
        # np.require copies a read-only frame (PIL's), which torch.from_numpy would warn about.
        pixels = torch.from_numpy(np.require(frame, requirements=["C", "W"])).to(self.device).permute(2, 0, 1)
        return resize_grey_levels(pixels, size)


def resize_grey_levels(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(3, H, W) uint8`` -> ``(3, h, w)`` float32 whole grey levels, on the tensor's device: antialiased bilinear
    in float32, rounded. PIL filters in integer arithmetic and rounds, so the two differ by at most one level (CUDA
    has no uint8 kernel for this); ``tests/test_segmentation_segmentor.py`` checks the bound on the CPU."""
    if tuple(pixels.shape[1:]) == tuple(size):
        return pixels.float()
    resized = functional.interpolate(pixels[None].float(), size, mode="bilinear", antialias=True, align_corners=False)
    return resized[0].round_().clamp_(0, 255)


def _check_frame(frame: np.ndarray, which: int | str) -> np.ndarray:
    """The frame as a ``(H, W, 3) uint8`` array, or a named error."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise GroPromptError(f"frame {which!r} is {frame.dtype} of shape {frame.shape}, expected (H, W, 3) uint8 RGB",
                             fix="read frames with groprompt.data.model.read_rgb")
    return frame


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
