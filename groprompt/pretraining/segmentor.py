"""Pre-training of the stand-in SAM on box-to-mask pairs: the analogue of SAM's own pre-training.

The embedded default has no released SAM weights, so the small SAM (``build_sam("tiny")``) learns to turn a box
into a mask from still frames (``docs/architecture.md``, "The embedded default", step 2; recipe and figures in
``docs/stack_notes.md``, "Training the stand-in models"). Afterwards it is frozen like the real one
(docs/method_spec.md §6).

Choices:

* **What is trained**: every SAM part from a random initialisation, on the single-mask output that inference
  uses (mask token 0, ``multimask_output=False``, docs/method_spec.md §6). The IoU-prediction head and the three
  ambiguity-aware outputs are not supervised: the harness never reads them.
* **Prompts**: the ground-truth tight box with each side moved by up to ``box_jitter`` of the box's width
  (x sides) or height (y sides), uniformly, then clipped to the frame. The grounder's boxes are imperfect, and SAM
  must make a good mask from a box that is slightly too large or too small.
* **Loss**: binary cross-entropy plus soft dice on the mask logits *upsampled to the frame's pixels* with SAM's
  own ``postprocess_masks``, against the exact ground-truth mask. That is the resampling inference thresholds, so
  the training target is the evaluated mask and no ground truth is downsampled (thin parts would blur away).
* **Same pipeline as inference**: frames are resized with segment-anything's ``ResizeLongestSide`` (PIL) and
  normalised and padded by ``Sam.preprocess``, as :class:`~groprompt.segmentation.Segmentor` does; the held-out
  score is measured with a ``Segmentor`` on a copy of the model, so it is what inference will see.
* **Batching**: ``MaskDecoder.predict_masks`` repeats each image embedding once per prompt (``docs/stack_notes.md``);
  ``torch.func.vmap`` runs it on one (image, box) pair per batch element, SAM's own code without the B² cost.
* **Optimiser**: AdamW with a linear warm-up and a cosine decay (:mod:`groprompt.pretraining.schedule`),
  gradient-norm clipping; a fixed number of steps, so the same seed gives the same weights.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide

from groprompt.errors import GroPromptError
from groprompt.metrics.region import region_similarity
from groprompt.pretraining.box_masks import BoxMaskSet, filled_box_iou
from groprompt.pretraining.loop import loop_problems, run_steps, sample_batches
from groprompt.seeding import seed_everything
from groprompt.pretraining.schedule import adamw_warmup_cosine, fraction_schedule_problems
from groprompt.segmentation import SAM_VARIANTS, SamConfig, Segmentor, build_sam_from_config


@dataclass(frozen=True)
class SegmentorPretrainConfig:
    """Settings of one segmentor pre-training run; checked on construction, before any data is read.

    Attributes:
        steps: optimiser updates (the run's length; not a time budget).
        batch_size: (frame, box, mask) samples per update.
        lr: peak AdamW learning rate, reached after the warm-up.
        weight_decay: AdamW's decoupled weight decay.
        warmup_fraction: share of ``steps`` spent in the linear warm-up, in [0, 1).
        final_lr_fraction: learning rate at the last step, as a fraction of ``lr`` (end of the cosine).
        grad_clip: maximum global gradient norm.
        box_jitter: each box side moves by up to this fraction of the box's width (x) or height (y).
        eval_every: also score the held-out set every this many steps (0: only after the last step).
        seed: seeds the initialisation, the sample order and the jitter.
        sam: the SAM size to train (default: the tiny stand-in).
    """

    steps: int
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    final_lr_fraction: float = 0.05
    grad_clip: float = 1.0
    box_jitter: float = 0.1
    eval_every: int = 0
    seed: int = 0
    sam: SamConfig = field(default_factory=lambda: SAM_VARIANTS["tiny"])

    def __post_init__(self) -> None:
        problems = loop_problems(batch_size=self.batch_size, grad_clip=self.grad_clip, eval_every=self.eval_every)
        if not 0 <= self.box_jitter < 0.5:
            problems.append(f"box jitter must lie in [0, 0.5), got {self.box_jitter}")
        problems += fraction_schedule_problems(lr=self.lr, weight_decay=self.weight_decay, total_steps=self.steps,
                                               warmup_fraction=self.warmup_fraction,
                                               final_fraction=self.final_lr_fraction)
        if problems:
            raise GroPromptError("invalid segmentor pre-training settings: " + "; ".join(problems),
                                 fix="correct the pretrain-segmentor options")

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup_fraction * self.steps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the SAM size as its config dict)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["sam"] = self.sam.to_dict()
        return values


def jitter_boxes(boxes: np.ndarray, rng: np.random.Generator, amount: float, size: tuple[int, int]) -> np.ndarray:
    """Move each side of each box by a uniform offset in ``[-amount, amount]`` times the box's extent on its axis.

    Args:
        boxes: ``(K, 4)`` xyxy pixels (exclusive ends).
        rng: the source of the offsets (``(K, 4)`` uniform draws per call).
        amount: maximal shift as a fraction of the box's width (x0, x1) or height (y0, y1); below 0.5, so a box
            never turns inside out.
        size: ``(H, W)``; boxes are clipped to ``[0, W] x [0, H]``.

    Returns:
        ``(K, 4) float64`` xyxy pixels.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    extent = np.stack([width, height, width, height], axis=1)
    moved = boxes + rng.uniform(-amount, amount, size=boxes.shape) * extent
    return np.clip(moved, 0.0, [size[1], size[0], size[1], size[0]])


def bce_dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy (mean over all pixels) plus soft dice loss (mean over masks), a scalar.

    Args:
        logits: ``(B, H, W)`` mask logits.
        targets: ``(B, H, W)`` float, 1 inside the mask and 0 outside.

    Soft dice of one mask with probabilities ``p = sigmoid(logits)``: ``1 - (2 Σ p·t + 1) / (Σ p + Σ t + 1)``;
    the 1s keep an empty target and an empty prediction at loss 0 instead of 0 / 0.
    """
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    probabilities = logits.sigmoid().flatten(1)
    targets = targets.flatten(1)
    dice = 1 - (2 * (probabilities * targets).sum(1) + 1) / (probabilities.sum(1) + targets.sum(1) + 1)
    return bce + dice.mean()


def sam_pixels(sam: Sam, frames: np.ndarray) -> torch.Tensor:
    """SAM's input for ``(B, H, W, 3) uint8`` RGB frames: ``(B, 3, S, S)`` float32 on ``sam``'s device.

    Resized so the longest side is ``S`` (segment-anything's PIL-based ``ResizeLongestSide``), normalised with
    SAM's pixel mean and std and zero-padded to a square, exactly as the segmentor prepares frames at inference.
    """
    transform = ResizeLongestSide(sam.image_encoder.img_size)
    resized = np.stack([transform.apply_image(frame) for frame in frames])
    pixels = torch.as_tensor(resized, device=sam.pixel_mean.device).permute(0, 3, 1, 2).float()
    return sam.preprocess(pixels)


def box_prompt_logits(sam: Sam, pixels: torch.Tensor, boxes: torch.Tensor,
                      original_size: tuple[int, int]) -> torch.Tensor:
    """Differentiable single-mask logits of one box per image, at the frames' original resolution.

    Args:
        pixels: ``(B, 3, S, S)`` from :func:`sam_pixels`.
        boxes: ``(B, 4)`` xyxy boxes in *original-frame* pixels.
        original_size: ``(H, W)`` of the frames.

    Returns:
        ``(B, H, W)`` logits; ``> sam.mask_threshold`` (0) is the mask inference would output.
    """
    height, width = original_size
    transform = ResizeLongestSide(sam.image_encoder.img_size)
    input_size = transform.get_preprocess_shape(height, width, sam.image_encoder.img_size)
    scale = torch.tensor([input_size[1] / width, input_size[0] / height] * 2, device=boxes.device)
    embeddings = sam.image_encoder(pixels)
    sparse, dense = sam.prompt_encoder(points=None, boxes=boxes.float() * scale, masks=None)
    dense_pe = sam.prompt_encoder.get_dense_pe()

    def single_mask(embedding: torch.Tensor, sparse_one: torch.Tensor, dense_one: torch.Tensor) -> torch.Tensor:
        masks, _ = sam.mask_decoder.predict_masks(embedding[None], dense_pe, sparse_one[None], dense_one[None])
        return masks[0, :1]  # token 0 is the multimask_output=False mask

    low_res = torch.func.vmap(single_mask)(embeddings, sparse, dense)
    return sam.postprocess_masks(low_res, input_size, (height, width))[:, 0]


def heldout_mask_iou(sam: Sam, samples: BoxMaskSet, *, device: str | torch.device = "cpu") -> float:
    """Mean over samples of the mask IoU (J) that a frozen copy of ``sam`` reaches from the ground-truth boxes.

    Runs :class:`~groprompt.segmentation.Segmentor` (fp16 embedding cache, PIL resize, thresholding) as inference
    does; ``sam`` itself is left untouched and may keep training.
    """
    segmentor = Segmentor(copy.deepcopy(sam), device=device)
    order = np.argsort(samples.frame_index, kind="stable")
    per_frame = np.split(samples.boxes[order], np.cumsum(np.bincount(samples.frame_index,
                                                                     minlength=samples.num_frames))[:-1])
    predicted = np.concatenate(segmentor.segment_frames(list(samples.frames), per_frame, samples.keys))
    return float(np.mean(region_similarity(predicted, samples.masks(order))))


def pretrain_segmentor(train: BoxMaskSet, heldout: BoxMaskSet, config: SegmentorPretrainConfig, *,
                       device: str | torch.device = "cpu", progress: bool = True) -> tuple[Sam, dict[str, Any]]:
    """Train a randomly initialised SAM of size ``config.sam`` on ``train``; score it on ``heldout``.

    Returns:
        the trained SAM (eval mode, on ``device``) and its metrics: ``steps``, ``seconds`` (training time without
        evaluation), ``heldout_mask_iou`` (from ground-truth boxes), ``filled_box_iou`` (of those boxes filled),
        sample counts, ``history`` (one record per evaluation) and ``config``.
    """
    rng = seed_everything(config.seed)
    sam = build_sam_from_config(config.sam).to(device).train()
    optimizer, scheduler = adamw_warmup_cosine(sam.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                               total_steps=config.steps, warmup_steps=config.warmup_steps,
                                               final_fraction=config.final_lr_fraction)
    batches = sample_batches(rng, len(train), config.batch_size)

    def step(_: int) -> float:
        batch = next(batches)
        boxes = jitter_boxes(train.boxes[batch], rng, config.box_jitter, train.size)
        pixels = sam_pixels(sam, train.frames[train.frame_index[batch]])
        targets = torch.as_tensor(train.masks(batch), device=pixels.device).float()
        logits = box_prompt_logits(sam, pixels, torch.as_tensor(boxes, device=pixels.device), train.size)
        loss = bce_dice_loss(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(sam.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        return loss.item()

    eval_at = set(range(config.eval_every, config.steps + 1, config.eval_every)) if config.eval_every else set()
    history = run_steps(step, config.steps,
                        evaluate=lambda: {"heldout_mask_iou": round(heldout_mask_iou(sam, heldout, device=device), 4)},
                        eval_at=eval_at, desc="pretrain-segmentor", progress=progress)
    metrics = {
        "steps": config.steps,
        "seconds": history[-1]["seconds"],
        "heldout_mask_iou": history[-1]["heldout_mask_iou"],
        "filled_box_iou": round(filled_box_iou(heldout), 4),
        "train_frames": train.num_frames,
        "train_objects": len(train),
        "heldout_frames": heldout.num_frames,
        "heldout_objects": len(heldout),
        "history": history,
        "config": config.to_dict(),
    }
    return sam.eval(), metrics
