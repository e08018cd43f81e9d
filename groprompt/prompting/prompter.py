"""The prompter: Grounding DINO turned into "one box per frame for a sentence" (docs/method_spec.md §1).

Two API layers, as in segment-anything's predictor:

* :class:`Prompter` (an ``nn.Module``) runs sentences on normalised frames and returns every query's box and
  confidence, the top-1 query, and the text backbone's features (:class:`PrompterOutput`); training
  differentiates through it. Grounding DINO's text-independent half (image backbone and input projections,
  :meth:`Prompter.encode_images`) runs once per frame, however many sentences are asked of that frame: each
  sentence names its frame, and only the text-dependent half (text backbone, encoder, decoder, heads) runs per
  sentence.
* :meth:`Prompter.predict_boxes` takes uint8 frames of one video and a sentence and returns numpy boxes in the
  frame's pixels, for inference.

A query's confidence is the max over the sentence's real tokens of the sigmoid of its logits (§1); the top-1 query
is the one of highest confidence, with no score threshold (RVOS always has one referent, §7).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from transformers import BatchEncoding, GroundingDinoForObjectDetection, PreTrainedTokenizerBase
from transformers.models.grounding_dino.modeling_grounding_dino import GroundingDinoObjectDetectionOutput

from groprompt.boxes import normalized_cxcywh_to_pixel_xyxy
from groprompt.errors import GroPromptError
from groprompt.prompting.config import IMAGENET_MEAN, IMAGENET_STD
from groprompt.prompting.freezing import keep_frozen_parts_in_eval


def normalize_sentence(sentence: str) -> str:
    """The text prompt of §1: the sentence lower-cased, whitespace collapsed, ending in ``" ."``.

    Trailing periods are replaced by the one ``" ."`` Grounding DINO expects; the rest of the sentence is kept as
    it is (not split into noun phrases). Note that Grounding DINO treats a ``.`` or ``?`` inside the sentence as a
    phrase separator, as the original implementation does. An empty sentence raises :class:`GroPromptError`.
    """
    words = " ".join(sentence.lower().split()).rstrip(". ")
    if not words:
        raise GroPromptError(f"empty referring expression {sentence!r}",
                             fix="give every expression some text")
    return f"{words} ."


def query_confidence(logits: Tensor, text_mask: Tensor) -> Tensor:
    """Per-query confidence (§1): max over the real text tokens of ``sigmoid(logits)``.

    Args:
        logits: ``(B, Q, L)`` text-token logits of each query; L may exceed the token count (transformers pads to
            ``max_text_len`` with -inf).
        text_mask: ``(B, N)`` bool, True at the N tokenised positions that are real (not padding), N <= L.
    Returns:
        ``(B, Q)`` confidences in [0, 1].
    """
    probabilities = logits[..., : text_mask.shape[1]].sigmoid()
    return probabilities.masked_fill(~text_mask[:, None, :], 0.0).amax(dim=-1)


def select_top1(scores: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
    """The query of highest score per item: ``(B, Q)`` scores, ``(B, Q, 4)`` boxes -> ``(B,)`` int64 indices and
    ``(B, 4)`` boxes (gathered, so gradients reach the chosen query). Ties go to the lowest index."""
    index = scores.argmax(dim=1)
    return index, boxes[torch.arange(boxes.shape[0], device=boxes.device), index]


def _check_frames(frames: Tensor) -> Tensor:
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise GroPromptError(f"frames must be a (T, H, W, 3) uint8 array, got {tuple(frames.shape)} {frames.dtype}",
                             fix="pass RGB frames as read by groprompt.data.model.read_rgb, stacked")
    return frames


def preprocess_frames(
    frames: np.ndarray | Tensor,
    shortest_edge: int | None = None,
    longest_edge: int | None = None,
) -> Tensor:
    """uint8 RGB frames ``(T, H, W, 3)`` -> ``(T, 3, H', W')`` float32, ImageNet-normalised, on the frames' device
    (a uint8 tensor moved to the GPU first is resized there).

    With ``shortest_edge`` the frames are resized (bilinear, antialiased) so the short side has that many pixels,
    shrunk further if the long side would exceed ``longest_edge``. Boxes predicted on the result are normalised, so
    they map back to the original frame through its own width and height.
    """
    pixels = _check_frames(torch.as_tensor(frames)).permute(0, 3, 1, 2).float() / 255.0
    if shortest_edge is not None:
        height, width = pixels.shape[-2:]
        scale = shortest_edge / min(height, width)
        if longest_edge is not None:
            scale = min(scale, longest_edge / max(height, width))
        size = (round(height * scale), round(width * scale))
        pixels = nn.functional.interpolate(pixels, size=size, mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=pixels.device).view(1, 3, 1, 1)
    return (pixels - mean) / std


@dataclass(frozen=True)
class ImageFeatures:
    """Grounding DINO's text-independent half for F frames: what :meth:`Prompter.encode_images` computes once per
    frame and every sentence on the frame reuses (L feature levels, d the model width).

    Attributes:
        maps: per level ``(F, d, h_l, w_l)``: the backbone's maps through the input projections, then the extra
            levels the projections make from the last one.
        masks: per level ``(F, h_l, w_l)`` bool, True on image pixels (every pixel: frames are not padded).
        positions: per level ``(F, d, h_l, w_l)`` position embeddings.
        size: ``(H, W)`` of the pixels the maps were computed from.
    """

    maps: tuple[Tensor, ...]
    masks: tuple[Tensor, ...]
    positions: tuple[Tensor, ...]
    size: tuple[int, int]

    def __len__(self) -> int:
        return self.maps[0].shape[0]


class _SharedBackbone(nn.Module):
    """Stands in for Grounding DINO's backbone while :class:`ImageFeatures` are reused: returns item b's maps as
    frame ``frames[b]``'s, already projected (the input projections stand aside meanwhile, see
    :func:`_reusing`)."""

    def __init__(self, features: ImageFeatures, frames: Tensor) -> None:
        super().__init__()
        self.features = features
        self.frames = frames

    def forward(self, pixel_values: Tensor, pixel_mask: Tensor) -> tuple[list, list]:
        pick = self.frames
        return ([(level[pick], mask[pick]) for level, mask in zip(self.features.maps, self.features.masks)],
                [position[pick] for position in self.features.positions])


@contextlib.contextmanager
def _reusing(detector: GroundingDinoForObjectDetection, features: ImageFeatures, frames: Tensor) -> Iterator[None]:
    """Within the block, the detector's forward takes its image features from ``features`` (item b: frame
    ``frames[b]``) instead of running its backbone and input projections.

    GroundingDinoModel.forward (transformers 5) calls ``backbone(pixels, mask)``, passes each returned map through
    ``input_proj_vision[level]``, and builds extra levels only when the backbone returned fewer than
    ``num_feature_levels``: with every level returned projected and identity projections, it runs the text-dependent
    half alone. tests/test_prompting_sharing.py checks the result against the plain forward.
    """
    model = detector.model
    backbone, projections = model.backbone, model.input_proj_vision
    model.backbone = _SharedBackbone(features, frames)
    model.input_proj_vision = nn.ModuleList(nn.Identity() for _ in features.maps)
    try:
        yield
    finally:
        model.backbone, model.input_proj_vision = backbone, projections


@dataclass
class PrompterOutput:
    """What the prompter computes for a batch of B frames (Q queries, L text positions, N tokens, D text width).

    Every tensor is float32, also when the forward ran under bf16 autocast (losses are computed in float32).

    Attributes:
        pred_boxes: ``(B, Q, 4)`` every query's box, normalised ``(cx, cy, w, h)`` in [0, 1].
        logits: ``(B, Q, L)`` text-token logits (-inf past the real tokens).
        scores: ``(B, Q)`` per-query confidence in [0, 1] (:func:`query_confidence`).
        top_index: ``(B,)`` int64, the top-1 query per frame.
        top_box: ``(B, 4)`` its box, normalised ``(cx, cy, w, h)``, differentiable.
        top_score: ``(B,)`` its confidence.
        text_features: ``(B, N, D)`` the text backbone's last hidden states, detached (the backbone is frozen).
        text_mask: ``(B, N)`` bool, True at the real tokens (including [CLS], [SEP] and the final ".").
        detection: transformers' full output (intermediate layers, encoder proposals) for losses that need it.
    """

    pred_boxes: Tensor
    logits: Tensor
    scores: Tensor
    top_index: Tensor
    top_box: Tensor
    top_score: Tensor
    text_features: Tensor
    text_mask: Tensor
    detection: GroundingDinoObjectDetectionOutput

    def sentence_features(self) -> Tensor:
        """``(B, D)`` the mean of :attr:`text_features` over the real tokens: ModalCon's z (docs/method_spec.md §4)."""
        weights = self.text_mask.to(self.text_features.dtype).unsqueeze(-1)
        return (self.text_features * weights).sum(dim=1) / weights.sum(dim=1)


class Prompter(nn.Module):
    """Grounding DINO plus its tokenizer and frame preprocessing (docs/method_spec.md §1).

    Args:
        detector: a ``GroundingDinoForObjectDetection`` (see :mod:`groprompt.prompting.build`).
        tokenizer: the text backbone's tokenizer (BERT special-token ids, which Grounding DINO's phrase masks use).
        shortest_edge, longest_edge: the frame resize of :func:`preprocess_frames` (None keeps the size).
    """

    def __init__(
        self,
        detector: GroundingDinoForObjectDetection,
        tokenizer: PreTrainedTokenizerBase,
        shortest_edge: int | None = None,
        longest_edge: int | None = None,
    ) -> None:
        super().__init__()
        self.detector = detector
        self.tokenizer = tokenizer
        self.shortest_edge = shortest_edge
        self.longest_edge = longest_edge

    @property
    def device(self) -> torch.device:
        return next(self.detector.parameters()).device

    def train(self, mode: bool = True) -> Prompter:
        """Set train/eval mode; parts frozen by :func:`apply_freezing` stay in eval mode either way."""
        super().train(mode)
        keep_frozen_parts_in_eval(self)
        return self

    def tokenize(self, sentences: Sequence[str]) -> BatchEncoding:
        """Normalise (§1) and tokenise one sentence per item, padded to the longest, cut at ``max_text_len``."""
        return self.tokenizer(
            [normalize_sentence(sentence) for sentence in sentences],
            padding="longest",
            truncation=True,
            max_length=self.detector.config.max_text_len,
            return_tensors="pt",
        ).to(self.device)

    def encode_images(self, pixel_values: Tensor) -> ImageFeatures:
        """Grounding DINO's text-independent half for F frames ``(F, 3, H, W)`` (normalised,
        :func:`preprocess_frames`): image backbone, input projections, extra feature levels, position embeddings.

        The first half of ``GroundingDinoModel.forward`` (transformers 5), step for step, so that reusing its
        result gives what the model computes itself (tests/test_prompting_sharing.py).
        """
        if pixel_values.ndim != 4:
            raise GroPromptError(f"the prompter needs (F, 3, H, W) frames, got {tuple(pixel_values.shape)}",
                                 fix="stack normalised frames as preprocess_frames returns them")
        model = self.detector.model
        pixel_values = pixel_values.to(self.device)
        count, _, height, width = pixel_values.shape
        pixel_mask = torch.ones((count, height, width), dtype=torch.long, device=pixel_values.device)
        levels, positions = model.backbone(pixel_values, pixel_mask)
        maps = [projection(source) for projection, (source, _) in zip(model.input_proj_vision, levels)]
        masks = [mask for _, mask in levels]
        positions = list(positions)
        for level in range(len(maps), model.config.num_feature_levels):
            source = model.input_proj_vision[level](levels[-1][0] if level == len(levels) else maps[-1])
            mask = nn.functional.interpolate(pixel_mask[None].float(), size=source.shape[-2:]).to(torch.bool)[0]
            positions.append(model.backbone.position_embedding(source, mask).to(source.dtype))
            maps.append(source)
            masks.append(mask)
        return ImageFeatures(tuple(maps), tuple(masks), tuple(positions), (height, width))

    def forward(self, images: Tensor | ImageFeatures, sentences: Sequence[str],
                frames: Sequence[int] | Tensor | None = None) -> PrompterOutput:
        """Run B sentences, each on one of F frames.

        Args:
            images: ``(F, 3, H, W)`` normalised frames (:func:`preprocess_frames`), or their
                :meth:`encode_images` (computed once, reused here).
            sentences: B referring expressions (normalised here).
            frames: ``(B,)`` the frame of each sentence, indices into ``images``; None: F == B, sentence b on frame
                b. The text-independent half runs once per frame of ``images`` whatever ``frames`` holds.
        """
        features = images if isinstance(images, ImageFeatures) else self.encode_images(images)
        if frames is None:
            frames = range(len(features))
        frames = torch.as_tensor(frames, dtype=torch.long)
        if frames.ndim != 1 or len(frames) != len(sentences) or not sentences:
            raise GroPromptError(f"the prompter got {len(sentences)} sentences for {tuple(frames.shape)} frame "
                                 f"indices over {len(features)} frames", fix="give one frame per sentence")
        if int(frames.min()) < 0 or int(frames.max()) >= len(features):
            raise GroPromptError(f"frame indices {frames.tolist()} outside the {len(features)} frames given",
                                 fix="index the frames passed with the sentences")
        frames = frames.to(self.device)
        text = self.tokenize(sentences)
        captured: list[Tensor] = []
        hook = self.detector.model.text_backbone.register_forward_hook(
            lambda module, args, output: captured.append(output.last_hidden_state))
        # The detector reads only the shape and device of its pixel and mask arguments once its backbone is
        # stood in for: broadcast constants (no memory) carry them.
        height, width = features.size
        anchor = features.maps[0]
        try:
            with _reusing(self.detector, features, frames):
                detection = self.detector(
                    pixel_values=anchor.new_zeros(()).expand(len(frames), 3, height, width),
                    pixel_mask=anchor.new_ones((), dtype=torch.long).expand(len(frames), height, width),
                    input_ids=text["input_ids"],
                    token_type_ids=text.get("token_type_ids"),
                    attention_mask=text["attention_mask"],
                )
        finally:
            hook.remove()
        text_mask = text["attention_mask"].bool()
        logits, pred_boxes = detection.logits.float(), detection.pred_boxes.float()
        scores = query_confidence(logits, text_mask)
        top_index, top_box = select_top1(scores, pred_boxes)
        return PrompterOutput(
            pred_boxes=pred_boxes,
            logits=logits,
            scores=scores,
            top_index=top_index,
            top_box=top_box,
            top_score=scores.gather(1, top_index[:, None])[:, 0],
            text_features=captured[0].detach().float(),
            text_mask=text_mask,
            detection=detection,
        )

    def predict_boxes(self, frames: np.ndarray, sentence: str, batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """The top-1 box of every frame of one video for one sentence.

        Args:
            frames: ``(T, H, W, 3)`` uint8 RGB.
            sentence: the referring expression (normalised here).
            batch_size: frames per forward pass.
        Returns:
            ``(T, 4)`` float32 boxes ``(x0, y0, x1, y1)`` in pixels of the W x H frames, and ``(T,)`` float32
            confidences in [0, 1].
        """
        height, width = _check_frames(torch.as_tensor(frames)).shape[1:3]
        if len(frames) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        was_training = self.training
        self.eval()
        boxes, scores = [], []
        try:
            with torch.inference_mode():
                for start in range(0, len(frames), batch_size):
                    pixels = preprocess_frames(frames[start:start + batch_size], self.shortest_edge, self.longest_edge)
                    output = self(pixels, [sentence] * len(pixels))
                    boxes.append(output.top_box.float().cpu())
                    scores.append(output.top_score.float().cpu())
        finally:
            self.train(was_training)
        pixel_boxes = normalized_cxcywh_to_pixel_xyxy(torch.cat(boxes).numpy(), width, height)
        return pixel_boxes.astype(np.float32), torch.cat(scores).numpy().astype(np.float32)
