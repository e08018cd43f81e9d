"""Box-to-mask pairs of an annotated split, held in memory: the data of the segmentor's pre-training.

SAM is pre-trained on (image, prompt, mask) triples; the stand-in learns from (frame, box, mask) triples of every
object of every annotated frame (the SynRVOS ``pretrain`` split, ``docs/synthetic_benchmark.md``). A few thousand
96x96 frames take a few hundred MB, so frames and label maps are read once and batches are sliced from arrays;
each object's mask is recovered from its frame's label map when a batch needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from groprompt.data.model import Dataset, tight_box
from groprompt.errors import GroPromptError
from groprompt.metrics.region import region_similarity
from groprompt.pretraining.loop import FrameSampleSet, annotated_videos, frame_subset


@dataclass(frozen=True)
class BoxMaskSet(FrameSampleSet):
    """Every (frame, object) sample of a set of frames; ``M`` samples over ``N`` frames of one size ``(H, W)``.

    Attributes:
        frames: ``(N, H, W, 3) uint8`` RGB frames (only frames that hold at least one object).
        labels: ``(N, H, W) uint8`` label maps: 0 background, else the object id. Void pixels (label 255 in
            DAVIS-style annotations) count as background.
        keys: ``N`` frame keys ``"<dataset>/<split>/<video>/<frame name>"``.
        videos: ``(N,) int64`` index of each frame's video in its split (held-out sets take whole videos).
        frame_index: ``(M,) int64`` frame (row of ``frames``) of each sample.
        obj_ids: ``(M,) int64`` object id of each sample.
        boxes: ``(M, 4) float64`` tight box of each sample's mask, xyxy pixels with exclusive ends.
    """

    frames: np.ndarray
    labels: np.ndarray
    keys: tuple[str, ...]
    videos: np.ndarray
    frame_index: np.ndarray
    obj_ids: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.obj_ids)

    def masks(self, samples: np.ndarray) -> np.ndarray:
        """``(K, H, W) bool`` masks of the samples at indices ``samples`` (``(K,)`` int)."""
        samples = np.asarray(samples)
        return self.labels[self.frame_index[samples]] == self.obj_ids[samples, None, None]

    def select_frames(self, rows: np.ndarray) -> BoxMaskSet:
        """The set restricted to the frames at ``rows`` (sorted ``(K,)`` int), samples re-indexed."""
        rows, kept, frame_index = frame_subset(self.frame_index, self.num_frames, rows)
        return BoxMaskSet(frames=self.frames[rows], labels=self.labels[rows],
                          keys=tuple(self.keys[row] for row in rows), videos=self.videos[rows],
                          frame_index=frame_index, obj_ids=self.obj_ids[kept], boxes=self.boxes[kept])


def load_box_masks(dataset: Dataset, *, progress: bool = True) -> BoxMaskSet:
    """Read every annotated frame of ``dataset`` that holds an object, with its label map, into memory.

    Raises :class:`GroPromptError` if the split has no ground truth, no object in any annotated frame, or frames
    of more than one size (batches are stacked arrays).
    """
    annotated = annotated_videos(dataset, "segmentor pre-training")
    frames, labels, keys, videos = [], [], [], []
    frame_index, obj_ids, boxes = [], [], []
    for video_index, video in enumerate(tqdm(annotated, desc=f"reading {dataset.name} {dataset.split}",
                                             unit="video", disable=not progress)):
        for t in np.flatnonzero(video.annotated_frames()):
            annotation = video.annotation(int(t))
            objects = {obj: mask for obj, mask in sorted(annotation.masks.items()) if mask.any()}
            if not objects:
                continue
            label_map = np.zeros(video.size, dtype=np.uint8)
            for obj, mask in objects.items():
                label_map[mask] = obj
                frame_index.append(len(frames))
                obj_ids.append(obj)
                boxes.append(tight_box(mask))
            frames.append(video.read_frame(int(t)))
            labels.append(label_map)
            keys.append(f"{dataset.name}/{dataset.split}/{video.name}/{video.frame_names[t]}")
            videos.append(video_index)
    if not frames:
        raise GroPromptError(f"no annotated frame of split {dataset.split!r} holds an object",
                             dataset=dataset.name, path=dataset.root,
                             fix="check the split's Annotations/ PNGs; they hold only background")
    return BoxMaskSet(frames=np.stack(frames), labels=np.stack(labels), keys=tuple(keys),
                      videos=np.asarray(videos, dtype=np.int64), frame_index=np.asarray(frame_index, dtype=np.int64),
                      obj_ids=np.asarray(obj_ids, dtype=np.int64), boxes=np.stack(boxes))


def box_masks(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(K, H, W) bool`` filled boxes: a pixel is inside when its centre lies in ``[x0, x1) x [y0, y1)``.

    Args:
        boxes: ``(K, 4)`` xyxy pixels (exclusive ends; an integer tight box fills exactly its pixels).
        size: ``(H, W)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rows = np.arange(size[0]) + 0.5
    cols = np.arange(size[1]) + 0.5
    inside_rows = (rows[None] >= boxes[:, 1:2]) & (rows[None] < boxes[:, 3:4])
    inside_cols = (cols[None] >= boxes[:, 0:1]) & (cols[None] < boxes[:, 2:3])
    return inside_rows[:, :, None] & inside_cols[:, None, :]


def filled_box_iou(samples: BoxMaskSet) -> float:
    """Mean over samples of the IoU between the filled ground-truth box and the mask: what a segmentor that
    returned its box prompt unchanged would score. Holds every sample's mask at once: meant for a held-out set."""
    indices = np.arange(len(samples))
    return float(np.mean(region_similarity(box_masks(samples.boxes, samples.size), samples.masks(indices))))
