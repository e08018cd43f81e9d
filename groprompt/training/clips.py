"""Training clips from box-only videos (docs/method_spec.md §2-§3): what each step of each epoch trains on.

The training data is the box-only view of every video (:meth:`groprompt.data.model.Video.box_only`): frames, the
objects' tight boxes and the expressions, and no way to reach a mask (the paper's weak supervision).

* A **pair** is a (video, expression) whose target has a box on at least one frame; other expressions (no
  referent, or one never present) are left out and counted. A split without a pair is an error. The target of an
  expression that refers to several objects (MeViS) is the tight box of their union on each frame, or none
  (``multi_object_target``: ``union`` or ``skip``, :data:`groprompt.training.config.MULTI_OBJECT_TARGETS`).
* Each **epoch** visits every pair once, in an order shuffled from ``(seed, epoch)``; under data parallelism the
  order is cut into global batches of ``world_size x batch_clips`` and rank r takes its slice of each (the last
  batch is filled up from the start of the order, as ``DistributedSampler`` does).
* A **clip** is T frames of the pair's video. The choice: a window of T *consecutive* frames around an *anchor*
  frame drawn uniformly among the frames where the object is present, the window's offset uniform among those
  that contain the anchor and stay inside the video. Why: (1) every clip has at least one supervised frame, as
  ReferFormer-style samplers guarantee by resampling; (2) consecutive frames are what the model meets online at
  inference, and the motion that ModalCon's sentences describe ("moving left") is visible between neighbouring
  frames, while T random frames of a long video would mostly be far apart. A video shorter than T gives all its
  frames, padded to T by repeating the last one; repeats carry no box supervision.
* The **negative sentence** S^j (§3) is drawn uniformly among the video's expressions that share no object with
  S^i (:func:`groprompt.losses.sample_negative_expression`; expressions without a known object are not candidates,
  as they may name the same one); a clip without one skips both contrastive terms.

Every random choice of a clip comes from a generator seeded by ``(seed, epoch, position in the epoch)``, so a
clip does not depend on the number of processes, on which rank draws it, on the loss weights or on a resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from groprompt.data.model import BoxOnlyVideo, Dataset, Expression
from groprompt.errors import GroPromptError
from groprompt.losses.contrastive import sample_negative_expression


@dataclass(frozen=True)
class TrainVideo:
    """A video as training sees it: the box-only view and the frame names (for embedding-cache keys).

    Attributes:
        view: frames, expressions and per-object tight boxes; holds no annotation source.
        frame_names: frame identifiers in temporal order (as :attr:`groprompt.data.model.Video.frame_names`).
    """

    view: BoxOnlyVideo
    frame_names: tuple[str, ...]

    def frame_key(self, index: int) -> str:
        """``"<dataset>/<split>/<video>/<frame name>"``: the embedding-cache key inference uses for this frame."""
        return f"{self.view.dataset}/{self.view.split}/{self.view.name}/{self.frame_names[index]}"


def box_only_videos(dataset: Dataset, *, progress: bool = True) -> list[TrainVideo]:
    """The box-only view of every video of ``dataset`` (reads every annotation once, to compute the boxes)."""
    videos = []
    for video in tqdm(dataset.videos, desc="boxes from annotations", unit="video", disable=not progress):
        if not video.has_annotations:
            raise GroPromptError("training needs a split with ground truth; this video has none",
                                 dataset=dataset.name, video=video.name,
                                 fix="train on an annotated split (e.g. train)")
        videos.append(TrainVideo(video.box_only(), video.frame_names))
    return videos


@dataclass(frozen=True)
class Clip:
    """One training clip: T frames of a video, the sentence S^i, its object's boxes and the negative S^j.

    Attributes:
        video: the video the frames come from.
        expression: S^i.
        negative: S^j, or None when the video has no other object (contrastive terms skipped).
        frames: ``(T,)`` int64 frame indices, non-decreasing (a repeat only at the end of a padded clip).
        boxes: ``(T, 4)`` float64 ground-truth boxes of S^i's target (its object, or the union of its objects),
            xyxy pixels, nan where absent.
        supervised: ``(T,)`` bool, frames that carry box supervision: the object is present and the frame is no
            padding repeat.
    """

    video: TrainVideo
    expression: Expression
    negative: Expression | None
    frames: np.ndarray
    boxes: np.ndarray
    supervised: np.ndarray


class ClipSampler:
    """The epoch schedule of clips over the usable (video, expression) pairs (see the module docstring).

    Args:
        videos: the split's videos.
        clip_length: T.
        seed: the schedule's seed.
        multi_object_target: ``union`` or ``skip``, for an expression that refers to several objects.
    """

    def __init__(self, videos: Sequence[TrainVideo], clip_length: int, seed: int,
                 multi_object_target: str = "union") -> None:
        if clip_length < 1:
            raise GroPromptError(f"clip_length must be >= 1, got {clip_length}", fix="set clip_length")
        self.videos = tuple(videos)
        self.clip_length = clip_length
        self.seed = seed
        self.pairs: list[tuple[int, Expression]] = []
        self.targets: list[np.ndarray] = []
        """The ``(N, 4)`` target boxes of each pair's expression, aligned with :attr:`pairs`."""
        self.unusable: list[tuple[str, str]] = []
        for index, video in enumerate(self.videos):
            for expression in video.view.expressions:
                boxes = target_boxes(video.view, expression, multi_object_target)
                if boxes is not None and bool(np.isfinite(boxes[:, 0]).any()):
                    self.pairs.append((index, expression))
                    self.targets.append(boxes)
                else:
                    self.unusable.append((video.view.name, expression.exp_id))
        if not self.pairs:
            where = self.videos[0].view if self.videos else None
            raise GroPromptError(
                f"no usable training clip: none of the {len(self.unusable)} expressions of the "
                f"{len(self.videos)} videos refers to an object that has a box on any frame",
                dataset=where.dataset if where else None,
                fix="train on a split whose expressions name annotated objects (check obj_id and the annotations)",
            )

    def steps_per_epoch(self, world_size: int, batch_clips: int) -> int:
        """Optimiser steps to visit every pair once with ``world_size x batch_clips`` clips per step."""
        return -(-len(self.pairs) // (world_size * batch_clips))

    def epoch_order(self, epoch: int) -> np.ndarray:
        """``(num_pairs,)`` the pair indices in the order epoch ``epoch`` (0-based) visits them."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs))

    def batch(self, epoch: int, step: int, rank: int, world_size: int, batch_clips: int) -> list[Clip]:
        """The ``batch_clips`` clips that ``rank`` trains on at ``step`` (0-based) of ``epoch`` (0-based)."""
        order = self.epoch_order(epoch)
        first = (step * world_size + rank) * batch_clips
        positions = range(first, first + batch_clips)
        return [self.clip(epoch, position, int(order[position % len(order)])) for position in positions]

    def clip(self, epoch: int, position: int, pair: int) -> Clip:
        """The clip of ``pair`` at ``position`` of epoch ``epoch``'s order (its random choices seeded by both)."""
        rng = np.random.default_rng([self.seed, epoch, position])
        video_index, expression = self.pairs[pair]
        video = self.videos[video_index]
        boxes = self.targets[pair]
        present = np.isfinite(boxes[:, 0])
        frames = sample_window(present, self.clip_length, rng)
        supervised = present[frames] & np.concatenate(([True], frames[1:] != frames[:-1]))
        negative = sample_negative_expression(video.view.expressions, expression, rng)
        return Clip(video, expression, negative, frames, boxes[frames], supervised)


def target_boxes(view: BoxOnlyVideo, expression: Expression, multi_object_target: str) -> np.ndarray | None:
    """``(N, 4)`` box targets of ``expression`` in ``view``: its object's tight boxes; for several objects the
    tight box of their union (``union``) or None (``skip``); None where it names no annotated object."""
    referents = expression.referents
    if not referents or any(obj not in view.boxes for obj in referents):
        return None
    if len(referents) == 1:
        return view.boxes[referents[0]]
    return view.union_boxes(referents) if multi_object_target == "union" else None


def sample_window(present: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``(length,)`` frame indices: consecutive frames around a random present frame (see the module docstring).

    Args:
        present: ``(N,)`` bool, frames where the object has a box; at least one must be True.
        length: T.
        rng: the clip's generator.
    """
    count = len(present)
    anchor = int(rng.choice(np.flatnonzero(present)))
    span = min(length, count)
    start = int(rng.integers(max(0, anchor - span + 1), min(anchor, count - span) + 1))
    frames = np.arange(start, start + span)
    return np.concatenate((frames, np.full(length - span, frames[-1]))).astype(np.int64)
