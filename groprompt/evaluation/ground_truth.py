"""The ground truth a J&F evaluation reads: label-map PNGs ``<video>/<frame>.png`` (value = object id, 0
background, 255 void), one per annotated frame (docs/method_spec.md §8).

A benchmark stored in the Ref-YouTube-VOS layout keeps exactly these under ``<root>/<split>/Annotations``, and its
reader reads them there: they are scored in place. A dataset kind whose reader keeps its ground truth another way
(its own files or folders) has its label maps written once, from what the reader gives, into the score folder, so
that every kind with a J&F evaluation is scored by the same code whatever its layout.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from groprompt.data.model import VOID_LABEL, Dataset, Video
from groprompt.data.refytvos import LabelMapSource
from groprompt.errors import GroPromptError
from groprompt.masks import write_label_png
from groprompt.safe_names import check_video_names, check_within

TRUTH_FOLDER = "ground_truth"
"""Sub-folder of the score folder holding the label maps written from a reader's ground truth."""


def label_map_folder(dataset: Dataset, stored: Path, out: Path) -> Path:
    """The folder of ``dataset``'s ground-truth label maps: ``stored`` if the reader reads its ground truth from
    label PNGs there, else ``out/ground_truth``, written here from the reader (replacing an earlier one)."""
    if all(_reads_from(video, stored) for video in dataset.videos):
        return stored
    target = out / TRUTH_FOLDER
    partial = out / f".{TRUTH_FOLDER}.partial"  # renamed into place whole: never a half-written folder
    for video in dataset.videos:  # every path, before anything is deleted or written
        check_video_names(video, path=out)
        check_within(out, partial / video.name, "score folder (--out)", dataset=video.dataset, video=video.name)
    check_within(out, target, "score folder (--out)")
    shutil.rmtree(partial, ignore_errors=True)
    overlaps = {}
    for video in tqdm(dataset.videos, desc="ground truth", unit="video", leave=False):
        overlaps[video.name] = _write_label_maps(video, partial / video.name)
    _warn_of_overlaps(dataset, {name: frames for name, frames in overlaps.items() if frames})
    shutil.rmtree(target, ignore_errors=True)
    partial.mkdir(parents=True, exist_ok=True)  # a split without annotated frames still gets its (empty) folder
    partial.rename(target)
    return target


def _reads_from(video: Video, folder: Path) -> bool:
    """Whether ``video``'s ground truth is the label PNGs ``folder/<video>/<frame>.png`` (or it has none)."""
    source = video.annotations
    if source is None:
        return True
    if not isinstance(source, LabelMapSource):
        return False
    parents = {path.parent for path in source.pngs.values()}  # one folder per video: resolved once, not per PNG
    return (all(path.name == f"{video.frame_names[index]}.png" for index, path in source.pngs.items())
            and all(parent.resolve() == (folder / video.name).resolve() for parent in parents))


def _write_label_maps(video: Video, folder: Path) -> list[str]:
    """One label-map PNG per annotated frame of ``video``: each object's pixels its id, void pixels 255. Returns the
    frames where two objects' masks overlap: a label map gives each such pixel to one of them, the higher id."""
    overlapping = []
    for index in np.flatnonzero(video.annotated_frames()):
        annotation = video.annotation(int(index))
        labels = np.zeros(video.size, dtype=np.uint8)
        for obj_id, mask in sorted(annotation.masks.items()):
            if not 0 < obj_id < VOID_LABEL:
                raise GroPromptError(f"object id {obj_id} cannot be a label-map value (1..254)",
                                     dataset=video.dataset, video=video.name, frame=int(index),
                                     fix="number the objects 1..254 in the dataset's reader")
            if (labels[mask] != 0).any():
                overlapping.append(video.frame_names[int(index)])
            labels[mask] = obj_id
        if annotation.void is not None:
            labels[annotation.void] = VOID_LABEL
        write_label_png(folder / f"{video.frame_names[int(index)]}.png", labels)
    return sorted(set(overlapping))


def _warn_of_overlaps(dataset: Dataset, overlaps: dict[str, list[str]]) -> None:
    """Say where the reader's masks overlap (a reader of one mask per object, as MeViS's RLE tracks are, may give
    such masks): the label maps scored give a shared pixel to one object, so an expression of another is scored
    without it, where the official MeViS evaluation adds up each expression's own masks."""
    if not overlaps:
        return
    first = next(iter(overlaps))
    warnings.warn(f"{dataset.name} {dataset.split}: in {sum(map(len, overlaps.values()))} frames of "
                  f"{len(overlaps)} videos (first: {first}, frame {overlaps[first][0]}) the masks of two objects "
                  "overlap; the ground-truth label maps give each shared pixel to the object of the higher id, so "
                  "an expression of the other object is scored without those pixels", stacklevel=3)
