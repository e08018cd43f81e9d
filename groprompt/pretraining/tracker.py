"""Training of the stand-in SAM 2 (:mod:`groprompt.tracking.standin`) on SynRVOS videos: a box on one frame, the
mask carried through a short clip by SAM 2's memory, every frame's mask supervised.

The embedded default has no released SAM 2 weights, so the stand-in tracker learns what SAM 2 learns on SA-V, on
the annotated videos of a SynRVOS split (``train``; never ``valid``, which the study scores).

Choices:

* **Same computation as inference.** ``Sam2VideoModel.forward`` (one frame of a video session) is decorated with
  ``torch.inference_mode()``. Training calls the undecorated function (:func:`session_forward`, found with
  ``inspect.unwrap``) on a ``Sam2VideoInferenceSession`` that ``Sam2VideoProcessor`` prepared, frame after frame,
  exactly as ``propagate_in_video_iterator`` does, with the model in eval mode: the library's own code runs, the
  memory bank holds the autograd graph of earlier frames, and the gradient flows back through the memory into
  them. (Eval mode is what inference runs: the stand-in has no dropout, and the library's training-only branches
  (pointers of later prompted frames, soft masks for prompted memories) would otherwise train a different model.)
  ``tests/test_pretrain_tracker.py`` checks that the masks equal the library's inference API's.
* **Clips.** ``clip_length`` consecutive frames of a random video, the clip's frames in reversed order with
  probability ``reverse_rate`` (reversing a clip is exactly SAM 2's backward propagation, which an offline prompt
  on a later frame uses); prompts on the clip's first frame for up to ``max_objects`` objects visible there (at
  least ``min_prompt_pixels`` pixels), each a ground-truth tight box with every side moved by up to ``box_jitter``
  of the box's extent (:func:`~groprompt.pretraining.segmentor.jitter_boxes`). All objects of a clip share one
  session, so the image encoder runs once per frame, as at inference. Clips of 8 frames (the default, and SynRVOS'
  shortest video) scale the object pointers' temporal positions as streaming does
  (:mod:`groprompt.tracking.standin`).
* **Stills beside clips.** SAM 2 trains on SA-1B images beside SA-V videos; here each update also takes
  ``stills_per_step`` one-frame samples (a random frame of a training video, its objects prompted, nothing
  propagated), which teach the box-to-mask mapping that propagation starts from, at an eighth of a clip's cost.
  A first run without stills and with SAM 2's 20 x focal + dice (two clips per update) still ignored the box
  prompts after 300 updates (the same mask for every object of a video; held-out J 0.09); which of the two changes
  mattered more was not measured.
* **Loss** (kept simple): on every frame, for every prompted object, the mask logits are upsampled to the frame's
  pixels by the processor's ``post_process_masks`` (what inference thresholds) and scored against the exact
  ground-truth mask with binary cross-entropy + soft dice (the stand-in SAM's loss; SAM 2 uses 20 x focal + dice,
  tuned for a pre-trained model, which the first run above used), on frames where the object is present; its
  object-score logit gets binary cross-entropy against "present" on every frame (objects leave and enter SynRVOS
  frames), which teaches SAM 2's occlusion head to output empty masks. SAM 2's IoU-prediction loss is left out: the
  stand-in outputs one mask per prompt (:mod:`groprompt.tracking.standin`), so inference never reads the IoU head.
* **Schedule and length**: AdamW, linear warm-up, cosine decay (:mod:`groprompt.pretraining.schedule`), gradient
  clipping; a fixed number of steps. Step ``i`` draws its clips from ``numpy.random.default_rng([seed, i])``, so a
  run stopped after any checkpoint and resumed (:func:`pretrain_tracker` with ``resume``) makes the same updates
  as an uninterrupted one.
* **Held-out score**: J (region similarity) of the ground-truth box on an object's first visible frame propagated
  to the end of the video, through the library's inference API (:func:`propagate_box`), on the split's last videos.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from groprompt.data.model import Dataset, tight_box
from groprompt.errors import GroPromptError
from groprompt.files import atomic_torch_save
from groprompt.metrics.region import region_similarity
from groprompt.pretraining.loop import annotated_videos, heldout_videos, loop_problems, run_steps
from groprompt.pretraining.schedule import adamw_warmup_cosine, fraction_schedule_problems
from groprompt.pretraining.segmentor import bce_dice_loss, jitter_boxes
from groprompt.seeding import seed_everything
from groprompt.tracking.standin import STANDIN_IMAGE_SIZE, build_standin_sam2, standin_sam2_processor

@dataclass(frozen=True)
class TrackerPretrainConfig:
    """Settings of one tracker training run; checked on construction, before any data is read.

    Attributes:
        steps: optimiser updates (the run's length; not a time budget).
        clips_per_step: clips (one video session each) per update.
        stills_per_step: one-frame samples (a prompted frame alone, no propagation) per update.
        clip_length: frames per clip (shorter videos give their whole length).
        max_objects: objects prompted per clip (at most; those visible on the prompted frame).
        min_prompt_pixels: an object is prompted only where its mask has at least this many pixels.
        reverse_rate: probability that a clip is played backwards (SAM 2's backward propagation).
        lr, weight_decay, warmup_fraction, final_lr_fraction, grad_clip: optimiser and schedule.
        box_jitter: each prompt box side moves by up to this fraction of the box's width (x) or height (y).
        eval_every: score the held-out videos, and write the resumable training state, every this many steps
            (0: only after the last step).
        seed: seeds the initialisation and every step's clips and jitter.
        image_size: the stand-in's input side (:func:`~groprompt.tracking.standin.standin_sam2_config`).
    """

    steps: int
    clips_per_step: int = 1
    stills_per_step: int = 4
    clip_length: int = 8
    max_objects: int = 3
    min_prompt_pixels: int = 4
    reverse_rate: float = 0.25
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    final_lr_fraction: float = 0.05
    grad_clip: float = 1.0
    box_jitter: float = 0.1
    eval_every: int = 0
    seed: int = 0
    image_size: int = STANDIN_IMAGE_SIZE

    def __post_init__(self) -> None:
        problems = loop_problems(batch_size=self.clips_per_step + self.stills_per_step, grad_clip=self.grad_clip,
                                 eval_every=self.eval_every)
        if min(self.clips_per_step, self.stills_per_step) < 0:
            problems.append(f"clips and stills per step must be >= 0, got {self.clips_per_step}, "
                            f"{self.stills_per_step}")
        if self.clip_length < 2:
            problems.append(f"clip length must be >= 2 (a prompted frame and a propagated one), got {self.clip_length}")
        if self.max_objects < 1:
            problems.append(f"max objects must be >= 1, got {self.max_objects}")
        if self.min_prompt_pixels < 1:
            problems.append(f"min prompt pixels must be >= 1, got {self.min_prompt_pixels}")
        if not 0 <= self.reverse_rate <= 1:
            problems.append(f"reverse rate must lie in [0, 1], got {self.reverse_rate}")
        if not 0 <= self.box_jitter < 0.5:
            problems.append(f"box jitter must lie in [0, 0.5), got {self.box_jitter}")
        problems += fraction_schedule_problems(lr=self.lr, weight_decay=self.weight_decay, total_steps=self.steps,
                                               warmup_fraction=self.warmup_fraction,
                                               final_fraction=self.final_lr_fraction)
        if problems:
            raise GroPromptError("invalid tracker training settings: " + "; ".join(problems),
                                 fix="correct the pretrain-tracker options")

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup_fraction * self.steps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class TrackVideo:
    """One annotated video in memory.

    Attributes:
        name: the video's name in its split.
        frames: ``(T, H, W, 3) uint8`` RGB.
        labels: ``(T, H, W) uint8`` label maps (0 background, else the object id; void counts as background).
        object_ids: the ids of the video's objects.
    """

    name: str
    frames: np.ndarray
    labels: np.ndarray
    object_ids: tuple[int, ...]

    @property
    def num_frames(self) -> int:
        return len(self.frames)


def load_track_videos(dataset: Dataset, *, progress: bool = True) -> list[TrackVideo]:
    """Every annotated video of ``dataset`` with at least 2 frames, frames and label maps read into memory.

    Raises :class:`GroPromptError` if the split has no ground truth, frames of several sizes, or no video of 2
    annotated frames or more.
    """
    videos = []
    for video in tqdm(annotated_videos(dataset, "tracker training"), desc=f"reading {dataset.name} {dataset.split}",
                      unit="video", disable=not progress):
        if video.num_frames < 2 or not video.annotated_frames().all():
            continue
        labels = np.zeros((video.num_frames, *video.size), dtype=np.uint8)
        for t in range(video.num_frames):
            for obj, mask in sorted(video.annotation(t).masks.items()):
                labels[t][mask] = obj
        frames = np.stack([video.read_frame(t) for t in range(video.num_frames)])
        videos.append(TrackVideo(video.name, frames, labels, tuple(video.object_ids)))
    if not videos:
        raise GroPromptError(f"split {dataset.split!r} has no video with 2 or more annotated frames to track through",
                             dataset=dataset.name, path=dataset.root,
                             fix="train the tracker on a split of annotated videos (SynRVOS: --split train)")
    return videos


def split_heldout_videos(videos: Sequence[TrackVideo], frames: int) -> tuple[list[TrackVideo], list[TrackVideo]]:
    """``(training videos, held-out videos)``: the last videos holding at least ``frames`` frames are held out
    (:func:`~groprompt.pretraining.loop.heldout_videos`), whatever the seed."""
    index = np.repeat(np.arange(len(videos)), [video.num_frames for video in videos])
    held = set(np.unique(index[heldout_videos(index, frames)]).tolist())
    return ([v for i, v in enumerate(videos) if i not in held], [v for i, v in enumerate(videos) if i in held])


@dataclass(frozen=True)
class Clip:
    """One training sample: frames in playing order, the prompted objects' masks, and their prompt boxes.

    Attributes:
        frames: ``(L, H, W, 3) uint8``; frame 0 is prompted.
        masks: ``(K, L, H, W) bool`` ground truth of the ``K`` prompted objects.
        boxes: ``(K, 4) float64`` prompt boxes on frame 0, xyxy pixels.
    """

    frames: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray


def sample_clip(videos: Sequence[TrackVideo], rng: np.random.Generator, config: TrackerPretrainConfig,
                length: int | None = None) -> Clip:
    """A random clip of ``length`` frames (default ``config.clip_length``; 1 for a still) of a random video whose
    prompted frame shows an object (see the module docstring)."""
    for _ in range(100):
        video = videos[rng.integers(len(videos))]
        length = min(length or config.clip_length, video.num_frames)
        start = int(rng.integers(video.num_frames - length + 1))
        order = np.arange(start, start + length)
        if rng.random() < config.reverse_rate:
            order = order[::-1]
        labels = video.labels[order]
        visible = [obj for obj in video.object_ids
                   if np.count_nonzero(labels[0] == obj) >= config.min_prompt_pixels]
        if not visible:
            continue
        chosen = rng.permutation(visible)[:config.max_objects]
        masks = labels[None] == np.asarray(chosen)[:, None, None, None]
        boxes = jitter_boxes(np.stack([tight_box(mask) for mask in masks[:, 0]]), rng, config.box_jitter,
                             video.frames.shape[1:3])
        return Clip(frames=video.frames[order], masks=masks, boxes=boxes)
    raise GroPromptError("no training clip found with an object visible on its first frame after 100 draws",
                         fix="train on a split whose objects are visible (SynRVOS train)")


# ---------------------------------------------------------------- the model's video API, with and without gradients


def session_forward(model, session, frame_idx: int):
    """``Sam2VideoModel.forward(session, frame_idx=...)`` without its ``torch.inference_mode()`` decorator: the
    library's computation of one frame, differentiable. Returns its ``Sam2VideoSegmentationOutput``."""
    from transformers import Sam2VideoModel

    return inspect.unwrap(Sam2VideoModel.forward)(model, session, frame_idx=frame_idx)


def open_session(processor, frames: np.ndarray, boxes: np.ndarray, *, prompt_frame: int = 0,
                 device: str | torch.device = "cpu"):
    """A ``Sam2VideoInferenceSession`` over ``frames`` (``(T, H, W, 3) uint8``) with one box prompt per object on
    ``prompt_frame`` (objects ``1..K`` for the ``(K, 4)`` xyxy pixel ``boxes``), prepared by the processor."""
    session = processor.init_video_session(video=list(frames), inference_device=device)
    processor.add_inputs_to_inference_session(session, frame_idx=prompt_frame,
                                              obj_ids=list(range(1, len(boxes) + 1)),
                                              input_boxes=[[[float(v) for v in box] for box in boxes]])
    return session


def clip_logits(model, processor, frames: np.ndarray, boxes: np.ndarray, *,
                device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable forward propagation from box prompts on frame 0, as ``propagate_in_video_iterator`` runs it.

    Args:
        frames: ``(L, H, W, 3) uint8`` in playing order.
        boxes: ``(K, 4)`` xyxy pixel prompts on frame 0.

    Returns:
        ``(K, L, H, W)`` mask logits at the frames' pixels (``> 0`` is the mask inference outputs) and ``(K, L)``
        object-score logits. ``model`` must be in eval mode.
    """
    session = open_session(processor, frames, boxes, device=device)
    height, width = frames.shape[1:3]
    masks, scores = [], []
    for t in range(len(frames)):
        output = session_forward(model, session, t)
        masks.append(processor.post_process_masks([output.pred_masks], original_sizes=[[height, width]],
                                                  binarize=False)[0][:, 0])
        scores.append(output.object_score_logits.reshape(-1))
    return torch.stack(masks, dim=1), torch.stack(scores, dim=1)


def propagate_box(model, processor, frames: np.ndarray, box: np.ndarray, prompt_frame: int = 0, *,
                  device: str | torch.device = "cpu") -> np.ndarray:
    """The library's inference API: one box on ``prompt_frame``, propagated to the video's end (frames before the
    prompt stay empty).

    Returns:
        ``(T, H, W) bool`` masks.
    """
    session = open_session(processor, frames, np.asarray(box)[None], prompt_frame=prompt_frame, device=device)
    height, width = frames.shape[1:3]
    masks = np.zeros(frames.shape[:3], dtype=bool)
    with torch.inference_mode():
        model(inference_session=session, frame_idx=prompt_frame)
        for output in model.propagate_in_video_iterator(session, start_frame_idx=prompt_frame):
            masks[output.frame_idx] = processor.post_process_masks(
                [output.pred_masks], original_sizes=[[height, width]])[0][0, 0].cpu().numpy()
    return masks


# ---------------------------------------------------------------- loss and evaluation


def tracking_loss(mask_logits: torch.Tensor, score_logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy + soft dice on the frames where each object is present, plus object-score binary
    cross-entropy on every frame; a scalar.

    Args:
        mask_logits: ``(K, L, H, W)`` at the frames' pixels.
        score_logits: ``(K, L)`` object-score logits.
        masks: ``(K, L, H, W)`` float ground truth (1 inside).

    Per (object, frame) pair: the mean pixel BCE and the soft dice ``1 - (2 Σ p·t + 1) / (Σ p + Σ t + 1)``
    (:func:`~groprompt.pretraining.segmentor.bce_dice_loss`, the stand-in SAM's mask loss), averaged over the pairs
    where the object is present; the object-score BCE averaged over all pairs.
    """
    present = masks.flatten(2).amax(2).bool()
    mask_term = bce_dice_loss(mask_logits[present], masks[present]) if present.any() else mask_logits.sum() * 0
    return mask_term + F.binary_cross_entropy_with_logits(score_logits, present.float())


def heldout_track_j(model, processor, videos: Sequence[TrackVideo], *, device: str | torch.device = "cpu") -> float:
    """Mean over (video, object) of J over the frames from the object's first visible frame on, when its tight
    ground-truth box there is propagated with :func:`propagate_box`."""
    scores = []
    for video in videos:
        for obj in video.object_ids:
            truth = video.labels == obj
            visible = np.flatnonzero(truth.any(axis=(1, 2)))
            if visible.size == 0:
                continue
            first = int(visible[0])
            predicted = propagate_box(model, processor, video.frames, tight_box(truth[first]), first, device=device)
            scores.append(float(np.mean(region_similarity(predicted[first:], truth[first:]))))
    return float(np.mean(scores))


# ---------------------------------------------------------------- training


def build_standin_tracker(config: TrackerPretrainConfig, device: str | torch.device = "cpu"):
    """``(model, processor)``: a randomly initialised stand-in (``config.seed``), in eval mode (which training runs
    too, see the module docstring), and its processor."""
    seed_everything(config.seed)
    return build_standin_sam2(config.image_size).to(device), standin_sam2_processor(config.image_size)


def pretrain_tracker(train: Sequence[TrackVideo], heldout: Sequence[TrackVideo], config: TrackerPretrainConfig, *,
                     state_path: str | Path | None = None, resume: bool = False, stop_after: int | None = None,
                     device: str | torch.device = "cpu", progress: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """Train a randomly initialised stand-in SAM 2 on clips of ``train``; score it on ``heldout``.

    Args:
        state_path: where the resumable training state (weights, optimiser, scheduler, step, history) is written
            after every evaluation (every ``config.eval_every`` steps and at the end); None: nowhere.
        resume: continue from ``state_path`` if it exists (its settings must equal ``config``).
        stop_after: stop once this many steps are done (evaluated, state written), as an interrupted run would;
            the metrics then describe the steps done so far.

    Returns:
        ``(model, processor, metrics)``: the model in eval mode; metrics with ``steps`` (done), ``seconds``
        (training time, without evaluation, summed over resumed runs), ``heldout_track_j``, counts, ``history``
        (one record per evaluation) and ``config``.
    """
    model, processor = build_standin_tracker(config, device)  # in eval mode: the library's inference branches
    optimizer, scheduler = adamw_warmup_cosine(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                               total_steps=config.steps, warmup_steps=config.warmup_steps,
                                               final_fraction=config.final_lr_fraction)
    start, history = 0, []
    state_path = None if state_path is None else Path(state_path)
    if resume and state_path is not None and state_path.is_file():
        start, history = _load_state(state_path, config, model, optimizer, scheduler)
    end = config.steps if stop_after is None else min(config.steps, stop_after)

    def step(number: int) -> float:
        rng = np.random.default_rng([config.seed, number])
        optimizer.zero_grad(set_to_none=True)
        total, samples = 0.0, config.clips_per_step + config.stills_per_step
        lengths = [config.clip_length] * config.clips_per_step + [1] * config.stills_per_step
        for length in lengths:
            clip = sample_clip(train, rng, config, length)
            mask_logits, score_logits = clip_logits(model, processor, clip.frames, clip.boxes, device=device)
            loss = tracking_loss(mask_logits, score_logits, torch.as_tensor(clip.masks, device=mask_logits.device,
                                                                            dtype=torch.float32))
            (loss / samples).backward()
            total += loss.item() / samples
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        return total

    def evaluate() -> dict[str, float]:
        return {"heldout_track_j": round(heldout_track_j(model, processor, heldout, device=device), 4)}

    # One run_steps call per evaluation interval, each ending in an evaluation; the state is written after each.
    interval = config.eval_every or config.steps
    while start < end:
        chunk = min(interval - start % interval, end - start)
        first, seconds_before = start, history[-1]["seconds"] if history else 0.0
        records = run_steps(lambda index: step(first + index), chunk, evaluate=evaluate, eval_at=set(),
                            desc=f"pretrain-tracker steps {first + 1}-{first + chunk}", progress=progress)
        history += [{**record, "step": record["step"] + first, "seconds": round(record["seconds"] + seconds_before, 3)}
                    for record in records]
        start += chunk
        if state_path is not None:
            atomic_torch_save({"config": config.to_dict(), "step": start, "history": history,
                               "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict()}, state_path)
    metrics = {
        "steps": history[-1]["step"] if history else 0,
        "seconds": history[-1]["seconds"] if history else 0.0,
        "heldout_track_j": history[-1]["heldout_track_j"] if history else None,
        "train_videos": len(train),
        "heldout_videos": len(heldout),
        "history": history,
        "config": config.to_dict(),
    }
    return model.eval(), processor, metrics


def _load_state(path: Path, config: TrackerPretrainConfig, model, optimizer, scheduler) -> tuple[int, list]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a truncated or foreign file
        raise GroPromptError(f"cannot read the tracker's training state: {error}", path=path,
                             fix="delete it to train from scratch") from error
    if state.get("config") != config.to_dict():
        changed = sorted(k for k in config.to_dict() if state.get("config", {}).get(k) != getattr(config, k))
        raise GroPromptError(f"the training state was written with other settings ({', '.join(changed)})", path=path,
                             fix="resume with the same options, or delete the state to train from scratch")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"]), list(state["history"])


def save_tracker(model, processor, folder: str | Path) -> Path:
    """Write ``model`` and ``processor`` to ``folder`` in the Hugging Face layout (``config.json``,
    ``model.safetensors``, ``processor_config.json``) that ``Sam2VideoModel.from_pretrained`` and
    ``Sam2VideoProcessor.from_pretrained`` load; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
