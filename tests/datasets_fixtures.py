"""Writers of tiny datasets in the exact official on-disk layouts (docs/datasets.md), for tests.

Other test modules reuse these (``from datasets_fixtures import write_refytvos, ToyVideo, moving_squares``): the
readers are only ever tested on files laid out as the real datasets lay them out. Frames are coloured by label so
that the pixels mean something; JPEG/mp4 frames are lossy, masks (PNG, h5, mat) are exact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from groprompt.masks import write_label_png

COLOURS = np.array([[30, 30, 30], [220, 40, 40], [40, 200, 40], [40, 40, 220], [220, 220, 40]], dtype=np.uint8)
"""Frame colour of label 0 (background), 1, 2, 3, 4; other labels are drawn white."""


def moving_squares(num_frames: int = 3, size: tuple[int, int] = (24, 32), num_objects: int = 2,
                   side: int = 6, step: int = 2) -> np.ndarray:
    """``(T, H, W) uint8`` label maps: object k (1-based) is a ``side``-pixel square at rows ``4 + 8(k-1)``..,
    columns ``2 + step * t``.., i.e. its tight box in frame t is ``(2 + step*t, 4 + 8(k-1), +side, +side)`` xyxy."""
    labels = np.zeros((num_frames, *size), dtype=np.uint8)
    for t in range(num_frames):
        for k in range(1, num_objects + 1):
            top, left = 4 + 8 * (k - 1), 2 + step * t
            labels[t, top:top + side, left:left + side] = k
    return labels


def frames_from_labels(labels: np.ndarray) -> np.ndarray:
    """``(T, H, W, 3) uint8`` RGB frames painting each label with its :data:`COLOURS` entry."""
    palette = np.full((256, 3), 255, dtype=np.uint8)
    palette[: len(COLOURS)] = COLOURS
    return palette[labels]


@dataclass
class ToyVideo:
    """One video for :func:`write_refytvos`.

    Attributes:
        labels: ``(T, H, W) uint8`` label maps (0 background, object ids, 255 void).
        expressions: ``meta_expressions.json`` entries in order, e.g. ``{"exp": "the red square", "obj_id": "1"}``;
            their exp ids are ``"0"``, ``"1"``, ...
        annotated: frame indices that get an annotation PNG (default: all).
    """

    name: str
    labels: np.ndarray
    expressions: list[dict] = field(default_factory=list)
    annotated: Sequence[int] | None = None

    @property
    def frame_names(self) -> list[str]:
        return [f"{5 * t:05d}" for t in range(len(self.labels))]  # Ref-YouTube-VOS keeps every 5th frame


def write_refytvos(root: Path, split: str, videos: Sequence[ToyVideo], *, with_annotations: bool = True) -> Path:
    """Write one split in the Ref-YouTube-VOS 2021 layout; returns ``root``.

    Writes ``<split>/JPEGImages``, ``meta_expressions/<split>/meta_expressions.json`` and, with annotations,
    ``<split>/Annotations`` (palette PNGs) and ``<split>/meta.json`` (each object with the frames it is present in).
    """
    root = Path(root)
    meta_videos, expression_videos = {}, {}
    for video in videos:
        frames = frames_from_labels(video.labels)
        for name, frame in zip(video.frame_names, frames, strict=True):
            path = root / split / "JPEGImages" / video.name / f"{name}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame).save(path, quality=95)
        annotated = range(len(video.labels)) if video.annotated is None else video.annotated
        objects: dict[str, dict] = {}
        for t in annotated:
            if with_annotations:
                write_label_png(root / split / "Annotations" / video.name / f"{video.frame_names[t]}.png",
                                video.labels[t])
            for obj in np.unique(video.labels[t]):
                if obj not in (0, 255):
                    entry = objects.setdefault(str(obj), {"category": "shape", "frames": []})
                    entry["frames"].append(video.frame_names[t])
        meta_videos[video.name] = {"objects": dict(sorted(objects.items(), key=lambda item: int(item[0])))}
        expression_videos[video.name] = {
            "expressions": {str(i): expression for i, expression in enumerate(video.expressions)},
            "frames": video.frame_names,
        }
    if with_annotations:
        _write_json(root / split / "meta.json", {"videos": meta_videos})
    _write_json(root / "meta_expressions" / split / "meta_expressions.json", {"videos": expression_videos})
    return root


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def write_davis(root: Path, videos: Mapping[str, np.ndarray], splits: Mapping[str, Sequence[str]],
                expression_files: Mapping[str, bytes], *, text_dir: Path | None = None) -> Path:
    """Write raw DAVIS-2017 (480p, unsupervised annotations) plus the Khoreva et al. expression files.

    Args:
        videos: name -> ``(T, H, W) uint8`` label maps (frames are painted from them).
        splits: ``{"train": [...], "val": [...]}`` for ``ImageSets/2017``.
        expression_files: file name (e.g. ``Davis17_annot1.txt``) -> its raw bytes (so tests control encodings).
        text_dir: where ``davis_text_annotations`` goes (default: inside ``root``).
    """
    root = Path(root)
    for name, labels in videos.items():
        for t, (frame, label) in enumerate(zip(frames_from_labels(labels), labels, strict=True)):
            path = root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame).save(path, quality=95)
            write_label_png(root / "Annotations_unsupervised" / "480p" / name / f"{t:05d}.png", label)
    for split, names in splits.items():
        path = root / "ImageSets" / "2017" / f"{split}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name}\n" for name in names))
    text_root = (text_dir or root) / "davis_text_annotations"
    text_root.mkdir(parents=True, exist_ok=True)
    for file_name, content in expression_files.items():
        (text_root / file_name).write_bytes(content)
    return root


@dataclass
class A2DVideo:
    """One video for :func:`write_a2d`.

    Attributes:
        labels: ``(T, H, W) uint8`` instance-id label maps (H, W even: the mp4 is yuv420p).
        subset: 0 train, 1 test (``videoset.csv``'s last column).
        annotated: 0-based frame indices that get an h5 file (named by the 1-based frame number).
        queries: ``(instance_id as written in a2d_annotation.txt, query)`` rows.
    """

    name: str
    labels: np.ndarray
    subset: int
    annotated: Sequence[int]
    queries: Sequence[tuple[str, str]]


def write_a2d(root: Path, videos: Sequence[A2DVideo], *, missed: Sequence[str] = (),
              clips_folder: str = "clips320H") -> Path:
    """Write A2D-Sentences: headerless ``videoset.csv``, mp4 clips, ``a2d_annotation.txt``, missed list, h5 masks."""
    import av
    import h5py

    root = Path(root)
    release = root / "Release"
    (release / clips_folder).mkdir(parents=True, exist_ok=True)
    text = root / "text_annotations"
    rows, annotation_rows = [], ["video_id,instance_id,query"]
    for video in videos:
        num_frames, height, width = video.labels.shape
        # vid, label, start_time, end_time, height, width, total_frames, annotated_frames, subset (no header)
        rows.append(f"{video.name},11,0,10,{height * 2},{width * 2},{num_frames},{len(video.annotated)},"
                    f"{video.subset}")
        with av.open(str(release / clips_folder / f"{video.name}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "0"}
            for frame in frames_from_labels(video.labels):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        for t in video.annotated:
            ids = [int(i) for i in np.unique(video.labels[t]) if i != 0]
            masks = np.stack([(video.labels[t] == i).T for i in ids]).astype(np.float64)  # stored transposed
            path = text / "a2d_annotation_with_instances" / video.name / f"{t + 1:05d}.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(path, "w") as handle:
                handle["instance"] = np.array(ids, dtype=np.float64)
                handle["reMask"] = masks[0] if len(ids) == 1 else masks
                handle["reBBox"] = np.zeros((4, len(ids)))
        annotation_rows += [f'{video.name},{instance},"{query}"' for instance, query in video.queries]
    (release / "videoset.csv").write_text("".join(f"{row}\n" for row in rows))
    (text / "a2d_annotation.txt").write_text("".join(f"{row}\n" for row in annotation_rows))
    (text / "a2d_missed_videos.txt").write_text("".join(f"{name}\n" for name in missed))
    return root


@dataclass
class JHMDBVideo:
    """One video for :func:`write_jhmdb`: ``masks`` ``(T, H, W) bool``; ``samples`` 1-based frame numbers."""

    name: str
    action: str
    masks: np.ndarray
    query: str
    samples: Sequence[int]


def write_jhmdb(root: Path, videos: Sequence[JHMDBVideo]) -> Path:
    """Write JHMDB-Sentences: PNG frames, ``puppet_mask.mat`` (``part_mask`` H x W x T), text, samples metadata."""
    from scipy.io import savemat

    root = Path(root)
    annotation_rows, samples = ["video_id,query"], []
    for video in videos:
        frame_dir = root / "Rename_Images" / video.action / video.name
        frame_dir.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(frames_from_labels(video.masks.astype(np.uint8))):
            Image.fromarray(frame).save(frame_dir / f"{t + 1:05d}.png")
        mat = root / "puppet_mask" / video.action / video.name / "puppet_mask.mat"
        mat.parent.mkdir(parents=True, exist_ok=True)
        savemat(mat, {"part_mask": np.transpose(video.masks.astype(np.uint8), (1, 2, 0))})
        annotation_rows.append(f"{video.name},{video.query}")
        samples += [[video.name, f"./jhmdb_sentences/Rename_Images/{video.action}/{video.name}/{n:05d}.png",
                     f"./jhmdb_sentences/puppet_mask/{video.action}/{video.name}/puppet_mask.mat",
                     len(video.masks), video.query] for n in video.samples]
    (root / "jhmdb_annotation.txt").write_text("".join(f"{row}\n" for row in annotation_rows))
    _write_json(root / "jhmdb_sentences_samples_metadata.json", samples)
    return root


STILL_SIZE = (40, 48)
"""(H, W) of :func:`two_box_stills`."""


def two_box_stills(count: int, expressions: Sequence[dict], seed: int = 0) -> list[ToyVideo]:
    """``count`` one-frame videos of :data:`STILL_SIZE` with two non-overlapping solid rectangles of random size
    and place: object 1 on the left, object 2 on the right; every video gets ``expressions``
    (``meta_expressions.json`` entries). Pre-training data of the stand-in models."""
    rng = np.random.default_rng(seed)
    videos = []
    for index in range(count):
        labels = np.zeros((1, *STILL_SIZE), dtype=np.uint8)
        for obj, (left_min, left_max) in ((1, (1, 8)), (2, (26, 32))):
            top, left = rng.integers(2, 18), rng.integers(left_min, left_max)
            labels[0, top:top + rng.integers(10, 20), left:left + rng.integers(8, 15)] = obj
        videos.append(ToyVideo(f"still_{index:03d}", labels, list(expressions)))
    return videos
