"""Pre-training of the stand-in Grounding DINO: the analogue of the image-level grounding behind Grounded-SAM.

The embedded default has no released grounder weights, so the ``tiny`` prompter (docs/method_spec.md §1: small ResNet,
MiniLM-L6 text backbone with its real weights, d_model 64, two-stage) learns to ground sentences in still frames
(``docs/architecture.md``, "The embedded default", step 2). Grounded-SAM uses the result zero-shot; GroPrompt fine-tunes
it with its encoders frozen (docs/method_spec.md §1, §7). Recipe and measured figures: ``docs/stack_notes.md``,
"A stand-in grounder recipe that does learn on this CPU".

Choices:

* **What is trained**: everything but the text backbone, from a random initialisation (the ``tiny`` size scales
  the last text LayerNorm by 0.125 at initialisation, :func:`groprompt.prompting.build_detector`).
* **Loss**: :mod:`groprompt.pretraining.grounder_loss` (dense encoder term + per-layer decoder term).
* **Data**: (frame, sentence, boxes) samples held in memory (:mod:`groprompt.pretraining.grounding_set`); every
  distinct sentence is tokenised once, with the prompter's own normalisation (§1); batches are drawn from
  successive random permutations of the samples.
* **Optimiser**: AdamW with a linear warm-up and a cosine decay to 5% (:mod:`groprompt.pretraining.schedule`),
  gradient-norm clipping; a fixed number of steps, so the same seed gives the same weights.
* **Scores**: held-out top-1 box IoU measured through :class:`~groprompt.prompting.Prompter` exactly as inference
  selects (max over real tokens, §1), beside the recipe's selection (mean over phrase tokens) and the best query.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from groprompt.boxes import normalized_cxcywh_to_pixel_xyxy, xyxy_to_cxcywh
from groprompt.errors import GroPromptError
from groprompt.losses.detector import phrase_mean_score, phrase_token_mask
from groprompt.metrics.boxes import box_iou
from groprompt.pretraining.dense_targets import TokenLayout, detector_token_layout
from groprompt.pretraining.grounder_loss import grounding_loss
from groprompt.pretraining.grounding_set import GroundingSet
from groprompt.pretraining.loop import loop_problems, run_steps, sample_batches
from groprompt.seeding import seed_everything
from groprompt.pretraining.schedule import adamw_warmup_cosine, schedule_problems
from groprompt.prompting import PARAMETER_GROUPS, Prompter, apply_freezing, build_prompter, preprocess_frames

TRAINABLE_GROUPS: tuple[str, ...] = tuple(group for group in PARAMETER_GROUPS if group != "text_backbone")
"""What pre-training trains: every part of the detector but the (pretrained, frozen) text backbone."""


@dataclass(frozen=True)
class GrounderPretrainConfig:
    """Settings of one grounder pre-training run; checked on construction, before any data is read.

    Attributes:
        steps: optimiser updates (the run's length; not a time budget).
        batch_size: (frame, sentence, boxes) samples per update.
        lr: peak AdamW learning rate, reached after the warm-up.
        weight_decay: AdamW's decoupled weight decay.
        warmup_steps: linear warm-up length; runs shorter than twice this warm up for half their steps.
        final_lr_fraction: learning rate at the last step, as a fraction of ``lr`` (end of the cosine).
        grad_clip: maximum global gradient norm.
        eval_every: also score the held-out set every this many steps (0: only after the last step).
        seed: seeds the initialisation and the sample order.
        size: the prompter size to train (a name of ``groprompt.prompting.PROMPTER_SIZES``).
    """

    steps: int
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    final_lr_fraction: float = 0.05
    grad_clip: float = 1.0
    eval_every: int = 0
    seed: int = 0
    size: str = "tiny"

    def __post_init__(self) -> None:
        problems = loop_problems(batch_size=self.batch_size, grad_clip=self.grad_clip, eval_every=self.eval_every)
        if self.warmup_steps < 0:
            problems.append(f"warm-up steps must be >= 0, got {self.warmup_steps}")
        problems += schedule_problems(lr=self.lr, weight_decay=self.weight_decay, total_steps=self.steps,
                                      warmup_steps=self.effective_warmup, final_fraction=self.final_lr_fraction)
        if problems:
            raise GroPromptError("invalid grounder pre-training settings: " + "; ".join(problems),
                                 fix="correct the pretrain-grounder options")

    @property
    def effective_warmup(self) -> int:
        """The warm-up actually used: ``warmup_steps``, at most half the run."""
        return max(0, min(self.warmup_steps, self.steps // 2))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TokenTable:
    """Every distinct sentence tokenised once (E sentences, padded to the longest, N0 positions).

    Attributes:
        input_ids, token_type_ids, attention_mask: ``(E, N0)`` int64, as :meth:`Prompter.tokenize` returns them.
        phrase: ``(E, N0)`` bool phrase-token mask (:func:`~groprompt.losses.detector.phrase_token_mask`).
    """

    input_ids: Tensor
    token_type_ids: Tensor
    attention_mask: Tensor
    phrase: Tensor

    def rows(self, index: np.ndarray, device: torch.device | str) -> dict[str, Tensor]:
        """The sentences at ``index``, trimmed to their longest, on ``device``: what :meth:`Prompter.tokenize`
        would return for that batch (keys ``input_ids``, ``token_type_ids``, ``attention_mask``, ``phrase``)."""
        index = torch.as_tensor(index)
        length = int(self.attention_mask[index].sum(1).max())
        return {name: getattr(self, name)[index, :length].to(device)
                for name in ("input_ids", "token_type_ids", "attention_mask", "phrase")}


def tokenize_texts(prompter: Prompter, texts: tuple[str, ...]) -> TokenTable:
    """Tokenise ``texts`` once with the prompter's tokenizer and normalisation (§1). A sentence without a phrase
    token (only delimiters) raises :class:`GroPromptError`: it could not be supervised."""
    encoded = prompter.tokenize(list(texts)).to("cpu")
    phrase = phrase_token_mask(encoded["input_ids"], encoded["attention_mask"],
                               prompter.detector.model.special_tokens.cpu())
    empty = [texts[i] for i in torch.nonzero(~phrase.any(1)).flatten().tolist()]
    if empty:
        raise GroPromptError(f"expressions with no word besides punctuation: {empty[:3]}",
                             fix="give every expression some words")
    token_types = encoded.get("token_type_ids", torch.zeros_like(encoded["input_ids"]))
    return TokenTable(encoded["input_ids"], token_types, encoded["attention_mask"], phrase)


PADDING_BOX = (0.5, 0.5, 1.0, 1.0)
"""Stands in (normalised cxcywh: the whole frame) for the missing boxes of a sample that names fewer than the
batch's most; masked out of every loss term, but finite, so no nan reaches an unused entry."""


def target_boxes(samples: GroundingSet, index: np.ndarray, device: torch.device | str) -> tuple[Tensor, Tensor]:
    """Targets of the samples at ``index`` (K samples, G the most boxes any of them names).

    Returns:
        ``(K, G, 4)`` float32 normalised cxcywh boxes (:data:`PADDING_BOX` past a sample's count) and ``(K, G)``
        bool, which are real.
    """
    height, width = samples.size
    valid = samples.box_valid[index]
    valid = valid[:, : int(valid.sum(1).max())]
    normalised = samples.boxes[index, : valid.shape[1]] / np.array([width, height, width, height])
    boxes = np.where(valid[..., None], xyxy_to_cxcywh(np.nan_to_num(normalised)), PADDING_BOX)
    return (torch.as_tensor(boxes, dtype=torch.float32, device=device),
            torch.as_tensor(valid, device=device))


def best_target_iou(boxes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``(K, Q)`` IoU of each predicted box with the closest of its sample's target boxes.

    Args:
        boxes: ``(K, Q, 4)`` xyxy pixels, Q queries per sample.
        targets: ``(K, G, 4)`` xyxy pixels, nan rows past a sample's count (:class:`GroundingSet` ``boxes``).
    """
    count, queries = boxes.shape[:2]
    # box_iou gives nan for a padding row, which nanmax passes over (every sample has at least one real box).
    pairs = box_iou(np.repeat(boxes, targets.shape[1], axis=1).reshape(-1, 4),
                    np.tile(targets, (1, queries, 1)).reshape(-1, 4))
    return np.nanmax(pairs.reshape(count, queries, targets.shape[1]), axis=2)


def evaluate_grounder(prompter: Prompter, samples: GroundingSet, *, batch_size: int = 64) -> dict[str, Any]:
    """Box quality of the prompter's predictions on every sample, run as inference runs it.

    Returns:
        ``top1_iou``: mean box IoU of the query inference takes (highest §1 confidence: max over the real tokens)
        with the closest of the boxes the sentence names (one for a referring expression; a phrase's top query
        is right when it finds any object the phrase fits);
        ``top1_above_0_5``: share of samples where that IoU exceeds 0.5;
        ``phrase_mean_top1_iou``: the same for the query of highest mean phrase-token score (the recipe's
        selection, for comparison); ``best_query_iou``: mean over samples of the best IoU among all queries;
        ``top1_iou_by_kind``: ``top1_iou`` per expression kind; ``samples``: the sample count. IoUs are taken
        on pixel boxes of the original frame.
    """
    height, width = samples.size
    top1, phrase_top1, best = [], [], []
    was_training = prompter.training
    prompter.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(samples), batch_size):
                index = np.arange(start, min(start + batch_size, len(samples)))
                pixels = preprocess_frames(samples.frames[samples.frame_index[index]], prompter.shortest_edge,
                                           prompter.longest_edge)
                output = prompter(pixels, [samples.texts[i] for i in samples.text_index[index]])
                phrase = phrase_token_mask(output.detection.input_ids, output.text_mask.long(),
                                           prompter.detector.model.special_tokens)
                by_phrase = phrase_mean_score(output.logits, phrase).argmax(dim=1)
                boxes = normalized_cxcywh_to_pixel_xyxy(output.pred_boxes.float().cpu().numpy(), width, height)
                ious = best_target_iou(boxes, samples.boxes[index])
                rows = np.arange(len(index))
                top1.append(ious[rows, output.top_index.cpu().numpy()])
                phrase_top1.append(ious[rows, by_phrase.cpu().numpy()])
                best.append(ious.max(axis=1))
    finally:
        prompter.train(was_training)
    top1_all = np.concatenate(top1)
    kinds = np.asarray(samples.kinds)
    return {
        "top1_iou": round(float(top1_all.mean()), 4),
        "top1_above_0_5": round(float((top1_all > 0.5).mean()), 4),
        "phrase_mean_top1_iou": round(float(np.concatenate(phrase_top1).mean()), 4),
        "best_query_iou": round(float(np.concatenate(best).mean()), 4),
        "top1_iou_by_kind": {kind: round(float(top1_all[kinds == kind].mean()), 4)
                             for kind in sorted(set(samples.kinds))},
        "samples": len(samples),
    }


def build_trainable_prompter(size: str, device: torch.device | str) -> Prompter:
    """A randomly initialised prompter of ``size`` (text backbone loaded and frozen), in train mode, on ``device``."""
    prompter = build_prompter(size).to(device)
    apply_freezing(prompter, TRAINABLE_GROUPS)
    return prompter.train()


def pretrain_grounder(train: GroundingSet, heldout: GroundingSet, config: GrounderPretrainConfig, *,
                      device: torch.device | str = "cpu", progress: bool = True) -> tuple[Prompter, dict[str, Any]]:
    """Train a randomly initialised prompter of ``config.size`` on ``train``; score it on ``heldout``.

    Returns:
        the trained prompter (eval mode, on ``device``) and its metrics: ``steps``, ``seconds`` (training time
        without evaluation), the :func:`evaluate_grounder` scores of the last evaluation, sample counts,
        ``history`` (one record per evaluation, with the mean loss parts since the previous one) and ``config``.
    """
    rng = seed_everything(config.seed)
    prompter = build_trainable_prompter(config.size, device)
    detector = prompter.detector
    tokens = tokenize_texts(prompter, train.texts)
    pixels_of = lambda rows: preprocess_frames(train.frames[rows], prompter.shortest_edge,  # noqa: E731
                                               prompter.longest_edge).to(device)
    layout: TokenLayout = detector_token_layout(detector, *pixels_of(np.zeros(1, dtype=np.int64)).shape[-2:])
    trainable = [param for param in detector.parameters() if param.requires_grad]
    optimizer, scheduler = adamw_warmup_cosine(trainable, lr=config.lr, weight_decay=config.weight_decay,
                                               total_steps=config.steps, warmup_steps=config.effective_warmup,
                                               final_fraction=config.final_lr_fraction)
    batches = sample_batches(rng, len(train), config.batch_size)
    running: dict[str, list[float]] = {}

    def step(_: int) -> float:
        batch = next(batches)
        text = tokens.rows(train.text_index[batch], device)
        detection = detector(pixel_values=pixels_of(train.frame_index[batch]), input_ids=text["input_ids"],
                             token_type_ids=text["token_type_ids"], attention_mask=text["attention_mask"])
        loss, parts = grounding_loss(detector, detection, layout, *target_boxes(train, batch, device),
                                     text["phrase"], text["attention_mask"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
        optimizer.step()
        scheduler.step()
        for name, value in parts.items():
            running.setdefault(name, []).append(value)
        return loss.item()

    def evaluate() -> dict[str, Any]:
        losses = {f"loss_{name}": round(float(np.mean(values)), 4) for name, values in running.items()}
        running.clear()
        return {**evaluate_grounder(prompter, heldout), **losses}

    eval_at = set(range(config.eval_every, config.steps + 1, config.eval_every)) if config.eval_every else set()
    history = run_steps(step, config.steps, evaluate=evaluate, eval_at=eval_at, desc="pretrain-grounder",
                        progress=progress)
    scores = {key: value for key, value in history[-1].items() if key != "step" and not key.startswith("loss")}
    metrics = {
        "steps": config.steps,
        **scores,
        "train_frames": train.num_frames,
        "train_samples": len(train),
        "heldout_frames": heldout.num_frames,
        "heldout_samples": len(heldout),
        "history": history,
        "config": config.to_dict(),
    }
    return prompter.eval(), metrics

