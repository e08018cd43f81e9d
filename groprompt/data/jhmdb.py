"""JHMDB-Sentences reader, evaluation only (docs/datasets.md; evaluation protocol in docs/method_spec.md §8).

Layout::

    <root>/jhmdb_annotation.txt                                 CSV with header video_id,query: one per video
                                                                (a comma in an unquoted query is kept in it)
    <root>/Rename_Images/<action>/<video>/<frame:05d>.png       frames, numbered from 1
    <root>/puppet_mask/<action>/<video>/puppet_mask.mat         "part_mask": H x W x T, the actor per frame
    <root>/jhmdb_sentences_samples_metadata.json                the 3 fixed evaluation frames of each video

The samples metadata is the community's fixed draw (MTTR ships it and later work reuses it): a JSON list of
``[video_id, frame_path, mask_path, total_frames, query]`` entries, three per video. Only the video id and the frame
number that ends ``frame_path`` are read; the paths' prefixes belong to the machine the file was made on.

Decisions:

* One split, ``test`` (the paper, like its peers, evaluates the A2D-trained model here without training).
* A video is every frame of its folder, with one object (id 1, the actor) and one expression whose ``exp_id`` is
  its 0-based data-row number in ``jhmdb_annotation.txt`` (as for A2D).
* Its annotated frames are its sample frames; frame number ``n`` has the mask ``part_mask[:, :, n - 1]``.
* Each video of ``jhmdb_annotation.txt`` must have a plain name (:mod:`groprompt.safe_names`), its frames, its
  mask file and samples in the metadata, and a query with a letter or digit. The check happens when loading
  (:mod:`groprompt.data.validation`): every frame PNG's header and end (readable, complete, every frame the size
  of the first; all frames of the split at once, each unchanged file once: ``FileChecks``) and the mask file's
  header (``part_mask`` present, H x W of the frames, a mask for every sample frame; a version-5 file's length
  checked against its declared elements, which catches truncation). Mask data is read when a frame is; the last
  file read stays cached (about 3 MB).
"""

from __future__ import annotations

import functools
import os
import re
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from groprompt.data.model import Dataset, Expression, FrameAnnotation, Video
from groprompt.data.reading import expect, read_csv, read_json, require
from groprompt.data.validation import FileChecks, check_expression_text, check_frames, split_scope
from groprompt.errors import GroPromptError
from groprompt.safe_names import check_name

SPLITS = ("test",)
ACTOR = 1
"""Object id of the one annotated actor of each video."""

_FRAME_NUMBER = re.compile(r"(\d+)\.png$")


def load_jhmdb(root: str | Path, split: str = "test", *, dataset_name: str = "jhmdb") -> Dataset:
    """Read JHMDB-Sentences for evaluation: annotated frames are the three sample frames of each video."""
    if split not in SPLITS:
        raise GroPromptError(f"JHMDB-Sentences has no split {split!r} (it is evaluation only: split test)",
                             dataset=dataset_name, fix="use split test")
    root = Path(root)
    queries = _read_queries(root / "jhmdb_annotation.txt", dataset_name)
    samples_file = root / "jhmdb_sentences_samples_metadata.json"
    samples = _read_samples(samples_file, dataset_name)
    images = require(root / "Rename_Images", "frame folder", dataset=dataset_name)
    actions = {video: action for action in sorted(os.listdir(images)) if (images / action).is_dir()
               for video in os.listdir(images / action)}
    checks = FileChecks(split_scope(root, split), description=f"checking {dataset_name} {split} frames")
    checks.prefetch((images / actions[name] / name / f"{stem}.png", False) for name in sorted(queries)
                    if name in actions for stem in _frame_names(images / actions[name] / name))
    videos = []
    for name in tqdm(sorted(queries), desc=f"checking {dataset_name} {split}", unit="video", leave=False, delay=2):
        exp_id, query = queries[name]
        if name not in actions:
            raise GroPromptError("video has no frame folder", dataset=dataset_name, video=name,
                                 path=images / "<action>" / name, fix="re-extract Rename_Images")
        if name not in samples:
            raise GroPromptError("video has no sample frames in the samples metadata", dataset=dataset_name,
                                 video=name, path=samples_file, fix="use the community's samples metadata file")
        videos.append(_load_video(root, actions[name], name, Expression(exp_id, query, ACTOR), samples[name],
                                  samples_file, dataset_name, checks))
    return Dataset(name=dataset_name, split=split, root=root, videos=tuple(videos))


def _read_queries(path: Path, dataset: str) -> dict[str, tuple[str, str]]:
    """``video -> (exp_id, query)`` from ``jhmdb_annotation.txt``."""
    rows = read_csv(require(path, "JHMDB-Sentences annotation file", dataset=dataset), dataset=dataset)
    expect(bool(rows) and [cell.strip() for cell in rows[0]] == ["video_id", "query"],
           "expected the header video_id,query", path=path, dataset=dataset)
    queries = {}
    for number, row in enumerate(rows[1:]):
        expect(len(row) >= 2, f"data row {number} has no query: {','.join(row)!r}", path=path, dataset=dataset)
        video, query = row[0].strip(), ",".join(row[1:])  # an unquoted comma stays in the query
        check_name(video, "video name", path=path, dataset=dataset)
        check_expression_text(query, dataset=dataset, video=video, expression=str(number), path=path)
        queries[video] = (str(number), query.strip())
    return queries


def _read_samples(path: Path, dataset: str) -> dict[str, set[str]]:
    """``video -> frame stems`` (``"00002"``) of the samples metadata."""
    require(path, "JHMDB-Sentences samples metadata", dataset=dataset,
            fix="copy jhmdb_sentences_samples_metadata.json (shipped with MTTR) into the dataset root")
    entries = read_json(path, dataset=dataset)
    expect(isinstance(entries, list), "expected a JSON list of samples", path=path, dataset=dataset)
    samples: dict[str, set[str]] = {}
    for number, entry in enumerate(entries):
        match = _FRAME_NUMBER.search(entry[1]) if isinstance(entry, list) and len(entry) >= 2 \
            and isinstance(entry[1], str) else None
        expect(match is not None and isinstance(entry[0], str),
               f"sample {number} is not [video_id, '.../<frame>.png', ...]", path=path, dataset=dataset)
        samples.setdefault(entry[0], set()).add(match.group(1))
    return samples


def _frame_names(frame_dir: Path) -> tuple[str, ...]:
    """The frame stems (``"00001"``) of a video's folder, in order."""
    return tuple(sorted(entry[:-4] for entry in os.listdir(frame_dir) if entry.endswith(".png")
                        and entry[:-4].isdigit()))


def _load_video(root: Path, action: str, name: str, expression: Expression, sample_stems: set[str],
                samples_file: Path, dataset: str, checks: FileChecks) -> Video:
    frame_dir = root / "Rename_Images" / action / name
    frame_names = _frame_names(frame_dir)
    if not frame_names:
        raise GroPromptError("video has no frames", dataset=dataset, video=name, path=frame_dir,
                             fix="re-extract Rename_Images")
    index_of = {stem: index for index, stem in enumerate(frame_names)}
    unknown = sorted(sample_stems - set(index_of))
    if unknown:
        raise GroPromptError(f"sample frame {unknown[0]} is not among the video's frames", dataset=dataset,
                             video=name, path=frame_dir / f"{unknown[0]}.png",
                             fix=f"check {samples_file} against the frames")
    frame_paths = tuple(frame_dir / f"{stem}.png" for stem in frame_names)
    size = check_frames(frame_paths, dataset=dataset, video=name, checks=checks)
    mat = require(root / "puppet_mask" / action / name / "puppet_mask.mat", "mask file", dataset=dataset,
                  video=name, fix="re-extract puppet_mask")
    _check_mask_file(mat, max(int(stem) for stem in sample_stems), size, dataset=dataset, video=name)
    return Video(
        dataset=dataset, split="test", name=name, frame_names=frame_names, frame_paths=frame_paths, size=size,
        object_ids=(ACTOR,), expressions=(expression,),
        annotations=PuppetMasks(mat, {index_of[stem]: int(stem) for stem in sample_stems}, size,
                                dataset=dataset, video=name),
    )


def _check_mask_file(mat: Path, last_sample: int, size: tuple[int, int], *, dataset: str, video: str) -> None:
    """Check ``puppet_mask.mat`` from its header (``scipy.io.whosmat`` reads no data) and, for a version-5 file, its
    length."""
    from scipy.io import whosmat

    where = {"path": mat, "dataset": dataset, "video": video}
    try:
        shapes = {name: shape for name, shape, _ in whosmat(mat)}
    except (OSError, ValueError, NotImplementedError) as error:
        raise GroPromptError(f"mask file cannot be read ({error})", fix="re-extract puppet_mask", **where) from None
    expect(_complete_mat(mat), "mask file is truncated (shorter than the data elements it declares)", **where)
    _check_part_mask(shapes.get("part_mask"), sorted(shapes), last_sample, size, where)


def _complete_mat(path: Path) -> bool:
    """Whether a MATLAB version-5 file holds every top-level data element its tags declare (other versions: True)."""
    length = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(128)
        if not header.startswith(b"MATLAB 5.0") or len(header) < 128:
            return True
        order = "<" if header[126:128] == b"IM" else ">"
        position = 128
        while position < length:
            handle.seek(position)
            tag = handle.read(8)
            if len(tag) < 8:
                return False
            position += 8 + struct.unpack(f"{order}II", tag)[1]
    return position <= length


def _check_part_mask(shape: Sequence[int] | None, keys: list[str], last_sample: int, size: tuple[int, int],
                     where: dict) -> None:
    """``part_mask`` must exist, be H x W x T with the frames' H x W, and have a mask for the last sample frame."""
    expect(shape is not None, f'mask file lacks the key "part_mask" (has {keys})', **where)
    expect(len(shape) == 3, f"part_mask has shape {tuple(shape)}; expected H x W x T", **where)
    expect(last_sample <= shape[2], f"mask file has {shape[2]} frames; sample frame {last_sample} has no mask",
           **where)
    expect(tuple(shape[:2]) == size, f"masks are {shape[0]}x{shape[1]}, frames {size[0]}x{size[1]}", **where)


@functools.lru_cache(maxsize=1)
def _load_mat(path: Path) -> dict:
    """The variables of a ``.mat`` file; only the last file read stays cached."""
    from scipy.io import loadmat

    try:
        return loadmat(path)
    except (OSError, ValueError, NotImplementedError) as error:
        raise GroPromptError(f"mask file cannot be read ({error})", path=path, fix="re-extract puppet_mask") from None


class PuppetMasks:
    """The actor's masks on the sample frames (an :class:`~groprompt.data.model.AnnotationSource`).

    Args:
        mat: the video's ``puppet_mask.mat``.
        frame_numbers: frame index (0-based) -> its 1-based frame number, for the sample frames only.
        size: ``(H, W)`` of the frames; the masks must have it.
    """

    def __init__(self, mat: Path, frame_numbers: Mapping[int, int], size: tuple[int, int], *, dataset: str,
                 video: str) -> None:
        self._mat = mat
        self._frame_numbers = dict(frame_numbers)
        self._size = size
        self._dataset = dataset
        self._video = video

    def annotated(self, frame_index: int) -> bool:
        return frame_index in self._frame_numbers

    def read(self, frame_index: int) -> FrameAnnotation:
        """``{1: (H, W) bool}`` where the actor is visible, else no mask."""
        number = self._frame_numbers.get(frame_index)
        if number is None:
            raise GroPromptError("this frame is not a sample frame", dataset=self._dataset, video=self._video,
                                 frame=frame_index, fix="read only frames for which annotated() is true")
        where = {"path": self._mat, "dataset": self._dataset, "video": self._video}
        content = _load_mat(self._mat)  # checked when loading; checked again in case the file changed since
        part_mask = np.asarray(content["part_mask"]) if "part_mask" in content else None
        keys = sorted(key for key in content if not key.startswith("__"))
        _check_part_mask(None if part_mask is None else part_mask.shape, keys, number, self._size, where)
        mask = part_mask[:, :, number - 1] > 0
        return FrameAnnotation(masks={ACTOR: mask} if mask.any() else {})
