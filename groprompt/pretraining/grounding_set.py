"""(frame, sentence, box) samples of an annotated split, held in memory: the data of the grounder's pre-training.

Grounding DINO is pre-trained on images paired with phrases and the boxes they name; the stand-in learns from every
(annotated frame, expression) pair of a split whose referred object is present in the frame (the SynRVOS
``pretrain`` split: still frames with appearance and location expressions, ``synthetic_benchmark.md``). The same
set type scores the grounder zero-shot on video frames (``valid``).

Frames are kept as uint8 RGB and normalised per batch with the prompter's own :func:`preprocess_frames`, so
training and inference see identical pixels; float32 copies of 8,000 96x96 frames would take 4x the memory
(0.9 GB) to save a few microseconds a batch. Each distinct sentence is stored once and tokenised once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from groprompt.data.model import Dataset, tight_box
from groprompt.errors import GroPromptError
from groprompt.pretraining.loop import FrameSampleSet, frame_subset


@dataclass(frozen=True)
class GroundingSet(FrameSampleSet):
    """``M`` (frame, sentence, box) samples over ``N`` frames of one size ``(H, W)`` and ``E`` distinct sentences.

    Attributes:
        frames: ``(N, H, W, 3) uint8`` RGB (only frames with at least one sample).
        keys: ``N`` frame keys ``"<dataset>/<split>/<video>/<frame name>"``.
        videos: ``(N,) int64`` index of each frame's video in its split (held-out sets take whole videos).
        texts: the ``E`` distinct sentences, as the dataset writes them.
        frame_index: ``(M,) int64`` frame (row of ``frames``) of each sample.
        text_index: ``(M,) int64`` sentence (index into ``texts``) of each sample.
        boxes: ``(M, 4) float64`` tight box of the referred object's mask, xyxy pixels with exclusive ends.
        kinds: ``M`` expression kinds (``appearance``, ``location``, ``motion``; ``""`` where the dataset has none).
    """

    frames: np.ndarray
    keys: tuple[str, ...]
    videos: np.ndarray
    texts: tuple[str, ...]
    frame_index: np.ndarray
    text_index: np.ndarray
    boxes: np.ndarray
    kinds: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.frame_index)

    def select_frames(self, rows: np.ndarray) -> GroundingSet:
        """The set restricted to the frames at ``rows`` (sorted ``(K,)`` int), samples re-indexed; the sentence
        table is kept whole (it is small and shared)."""
        rows, kept, frame_index = frame_subset(self.frame_index, self.num_frames, rows)
        return GroundingSet(frames=self.frames[rows], keys=tuple(self.keys[row] for row in rows),
                            videos=self.videos[rows], texts=self.texts, frame_index=frame_index,
                            text_index=self.text_index[kept], boxes=self.boxes[kept],
                            kinds=tuple(self.kinds[i] for i in kept))


def load_grounding_set(dataset: Dataset, *, progress: bool = True) -> GroundingSet:
    """Read every annotated frame of ``dataset`` where an expression's object is present, with those expressions.

    Raises :class:`GroPromptError` if the split has no ground truth, no referred object is present in any annotated
    frame, or frames come in more than one size (batches are stacked).
    """
    annotated = [video for video in dataset if video.has_annotations]
    if not annotated:
        raise GroPromptError(f"split {dataset.split!r} has no ground-truth masks to take grounding boxes from",
                             dataset=dataset.name, path=dataset.root,
                             fix="pre-train on a split with Annotations/ (SynRVOS: --split pretrain)")
    sizes = sorted({video.size for video in annotated})
    if len(sizes) > 1:
        raise GroPromptError(f"frames come in {len(sizes)} sizes ({', '.join(f'{h}x{w}' for h, w in sizes[:4])}); "
                             "grounder pre-training stacks frames of one size", dataset=dataset.name,
                             path=dataset.root, fix="pre-train on a split whose frames share one size (SynRVOS)")
    texts: dict[str, int] = {}
    frames, keys, videos = [], [], []
    frame_index, text_index, boxes, kinds = [], [], [], []
    for video_index, video in enumerate(tqdm(annotated, desc=f"reading {dataset.name} {dataset.split}",
                                             unit="video", disable=not progress)):
        for t in np.flatnonzero(video.annotated_frames()):
            masks = video.annotation(int(t)).masks
            present = {obj: tight_box(mask) for obj, mask in masks.items() if mask.any()}
            referring = [e for e in video.expressions if e.obj_id in present]
            if not referring:
                continue
            for expression in referring:
                frame_index.append(len(frames))
                text_index.append(texts.setdefault(expression.text, len(texts)))
                boxes.append(present[expression.obj_id])
                kinds.append(expression.kind or "")
            frames.append(video.read_frame(int(t)))
            keys.append(f"{dataset.name}/{dataset.split}/{video.name}/{video.frame_names[t]}")
            videos.append(video_index)
    if not frames:
        raise GroPromptError(f"no annotated frame of split {dataset.split!r} shows an object an expression refers to",
                             dataset=dataset.name, path=dataset.root,
                             fix="check the split's Annotations/ PNGs and the obj_id of its expressions")
    return GroundingSet(frames=np.stack(frames), keys=tuple(keys), videos=np.asarray(videos, dtype=np.int64),
                        texts=tuple(texts), frame_index=np.asarray(frame_index, dtype=np.int64),
                        text_index=np.asarray(text_index, dtype=np.int64), boxes=np.stack(boxes),
                        kinds=tuple(kinds))
