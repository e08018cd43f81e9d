"""(frame, sentence, boxes) samples of an annotated split, held in memory: the data of the grounder's pre-training.

Grounding DINO is pre-trained on images paired with phrases and *every* box each phrase names; the stand-in learns
from every (annotated frame, distinct sentence) pair of a split where at least one object the sentence names is
present (the SynRVOS ``pretrain`` split: still frames with grounding phrases such as "red circle", each naming
every object it fits, ``docs/synthetic_benchmark.md``). The Ref-YouTube-VOS layout gives each expression entry one
object, so a sentence's boxes in a frame are those of the frame's entries with that text: one box for a referring
expression, several for a phrase that SynRVOS stores once per object it names. The same set type scores the
grounder zero-shot on video frames (``valid``).

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
from groprompt.pretraining.loop import FrameSampleSet, annotated_videos, frame_subset


@dataclass(frozen=True)
class GroundingSet(FrameSampleSet):
    """``M`` (frame, sentence, boxes) samples over ``N`` frames of one size ``(H, W)`` and ``E`` distinct sentences;
    a sample has up to ``G`` boxes.

    Attributes:
        frames: ``(N, H, W, 3) uint8`` RGB (only frames with at least one sample).
        keys: ``N`` frame keys ``"<dataset>/<split>/<video>/<frame name>"``.
        videos: ``(N,) int64`` index of each frame's video in its split (held-out sets take whole videos).
        texts: the ``E`` distinct sentences, as the dataset writes them.
        frame_index: ``(M,) int64`` frame (row of ``frames``) of each sample.
        text_index: ``(M,) int64`` sentence (index into ``texts``) of each sample.
        boxes: ``(M, G, 4) float64`` tight boxes of the masks of the objects the sentence names in the frame,
            xyxy pixels with exclusive ends, in object-id order; rows past a sample's count are nan.
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

    @property
    def box_valid(self) -> np.ndarray:
        """``(M, G) bool``: which rows of ``boxes`` are real boxes (not padding)."""
        return ~np.isnan(self.boxes[..., 0])

    def select_frames(self, rows: np.ndarray) -> GroundingSet:
        """The set restricted to the frames at ``rows`` (sorted ``(K,)`` int), samples re-indexed; the sentence
        table is kept whole (it is small and shared)."""
        rows, kept, frame_index = frame_subset(self.frame_index, self.num_frames, rows)
        return GroundingSet(frames=self.frames[rows], keys=tuple(self.keys[row] for row in rows),
                            videos=self.videos[rows], texts=self.texts, frame_index=frame_index,
                            text_index=self.text_index[kept], boxes=self.boxes[kept],
                            kinds=tuple(self.kinds[i] for i in kept))


def load_grounding_set(dataset: Dataset, *, progress: bool = True) -> GroundingSet:
    """Read every annotated frame of ``dataset`` where an expression's object is present: one sample per distinct
    sentence of the frame's video, with the boxes of every present object an entry of that text names.

    Raises :class:`GroPromptError` if the split has no ground truth, no referred object is present in any annotated
    frame, or frames come in more than one size (batches are stacked).
    """
    annotated = annotated_videos(dataset, "grounder pre-training")
    texts: dict[str, int] = {}
    frames, keys, videos = [], [], []
    frame_index, text_index, kinds = [], [], []
    boxes: list[list[np.ndarray]] = []
    for video_index, video in enumerate(tqdm(annotated, desc=f"reading {dataset.name} {dataset.split}",
                                             unit="video", disable=not progress)):
        for t in np.flatnonzero(video.annotated_frames()):
            masks = video.annotation(int(t)).masks
            present = {obj: tight_box(mask) for obj, mask in masks.items() if mask.any()}
            named: dict[str, dict[int, np.ndarray]] = {}
            kind_of: dict[str, str] = {}
            for expression in video.expressions:
                if expression.obj_id in present:
                    named.setdefault(expression.text, {})[expression.obj_id] = present[expression.obj_id]
                    kind_of.setdefault(expression.text, expression.kind or "")
            if not named:
                continue
            for text, objects in named.items():
                frame_index.append(len(frames))
                text_index.append(texts.setdefault(text, len(texts)))
                boxes.append([objects[obj] for obj in sorted(objects)])
                kinds.append(kind_of[text])
            frames.append(video.read_frame(int(t)))
            keys.append(f"{dataset.name}/{dataset.split}/{video.name}/{video.frame_names[t]}")
            videos.append(video_index)
    if not frames:
        raise GroPromptError(f"no annotated frame of split {dataset.split!r} shows an object an expression refers to",
                             dataset=dataset.name, path=dataset.root,
                             fix="check the split's Annotations/ PNGs and the obj_id of its expressions")
    return GroundingSet(frames=np.stack(frames), keys=tuple(keys), videos=np.asarray(videos, dtype=np.int64),
                        texts=tuple(texts), frame_index=np.asarray(frame_index, dtype=np.int64),
                        text_index=np.asarray(text_index, dtype=np.int64), boxes=padded_boxes(boxes),
                        kinds=tuple(kinds))


def padded_boxes(boxes: list[list[np.ndarray]]) -> np.ndarray:
    """``(M, G, 4) float64`` from M lists of 1..G xyxy boxes, nan past each sample's count."""
    padded = np.full((len(boxes), max(len(sample) for sample in boxes), 4), np.nan)
    for row, sample in enumerate(boxes):
        padded[row, : len(sample)] = sample
    return padded
