"""Convert raw DAVIS-2017 plus the Khoreva et al. referring expressions into the Ref-YouTube-VOS layout (Ref-DAVIS17).

Input (docs/datasets.md)::

    <davis_root>/JPEGImages/480p/<video>/<frame>.jpg
    <davis_root>/Annotations_unsupervised/480p/<video>/<frame>.png     ground truth (docs/method_spec.md §8)
    <davis_root>/ImageSets/2017/{train,val}.txt
    <text_dir>/Davis17_annot1.txt, Davis17_annot1_full_video.txt, Davis17_annot2.txt, Davis17_annot2_full_video.txt
        one line per object: <video> <obj_id> "<expression>"

Output: ``<out>/{train,valid}/{JPEGImages,Annotations}/<video>``, ``<out>/{train,valid}/meta.json`` and
``<out>/meta_expressions/{train,valid}/meta_expressions.json``, read by :func:`groprompt.data.refdavis.load_refdavis`.

Facts kept from the community conversion (ReferFormer's ``convert_davis_to_ytvos``), re-implemented here:

* ``train.txt`` becomes ``train`` (60 videos), ``val.txt`` becomes ``valid`` (30 videos).
* Each object's expressions are ordered annotator 1 first-frame, annotator 1 full-video, annotator 2 first-frame,
  annotator 2 full-video; the i-th object (ascending id) gets exp ids ``4i .. 4i+3``, so expression set k is the
  k-th expression of every object (``exp_id mod 4``), as the community's evaluation expects.
* Annotator 2's files are not valid UTF-8 in places and are read as latin-1; annotator 1's are UTF-8.
* Three video names are misspelt in the expression files (:data:`VIDEO_NAME_FIXES`).

Choices made here:

* Frames and annotations are **symlinked** per video folder by default: DAVIS 480p is about a gigabyte, a symlink
  costs nothing, and the conversion stays instant and repeatable. ``copy=True`` writes real copies for an output
  that must stand alone (moved to another machine, or mounted into a container without the source).
* An object keeps its expressions only if all four files describe it, so every object has exactly four (the
  reader relies on it); a warning names each dropped object. (Pairing objects by position across the files, as
  the community script does, mispairs them when one file skips an object.)
* ``meta.json`` declares every object id found in the annotation PNGs (255, void, excluded) with the frames it is
  present in, plus any object that only the expressions name. This decodes each PNG once (a progress bar shows it).
* A split's JSON files are written atomically after all its videos, so a split whose conversion was interrupted
  has no expressions file and the reader refuses it instead of reading half of it.
* A non-empty output folder is refused unless ``force``; with ``force`` only the folders this step writes
  (``train``, ``valid``, ``meta_expressions``) are replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from groprompt.data.reading import read_lines, require
from groprompt.errors import GroPromptError
from groprompt.files import atomic_write_text
from groprompt.masks import read_label_png
from groprompt.safe_names import check_name

DATASET = "refdavis"

EXPRESSION_FILES = (
    ("Davis17_annot1.txt", "utf-8"),
    ("Davis17_annot1_full_video.txt", "utf-8"),
    ("Davis17_annot2.txt", "latin-1"),
    ("Davis17_annot2_full_video.txt", "latin-1"),
)
"""The four expression files in expression-set order, with the encoding each is read in."""

VIDEO_NAME_FIXES = {"clasic-car": "classic-car", "dog-scale": "dogs-scale", "motor-bike": "motorbike"}
"""Video names misspelt in the expression files -> the DAVIS folder name."""

SPLITS = (("train", "train"), ("val", "valid"))
"""DAVIS ImageSets list -> Ref-YouTube-VOS split folder."""

OUTPUT_FOLDERS = ("train", "valid", "meta_expressions")


def read_expression_file(path: Path, encoding: str) -> dict[str, dict[int, str]]:
    """Parse one expression file into ``video -> {obj_id: expression}`` (video names corrected).

    A line that is not ``<video> <obj_id> <expression>`` is an error naming the file and line; surrounding double
    quotes are removed; a second line for the same object is ignored with a warning (the first one is kept).
    """
    parsed: dict[str, dict[int, str]] = {}
    for number, line in enumerate(read_lines(path, dataset=DATASET, encoding=encoding), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=2)
        if len(parts) < 3 or not parts[1].isdigit():
            raise GroPromptError(f'line {number} is not `<video> <obj_id> "<expression>"`: {line!r}',
                                 dataset=DATASET, path=path, fix="restore this line from the original download")
        video, obj_id, text = VIDEO_NAME_FIXES.get(parts[0], parts[0]), int(parts[1]), parts[2]
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        objects = parsed.setdefault(video, {})
        if obj_id in objects:
            warnings.warn(f"{path} line {number}: a second expression for {video} object {obj_id}; "
                          "keeping the first", stacklevel=2)
            continue
        objects[obj_id] = text
    return parsed


def convert_davis(davis_root: str | Path, out: str | Path, *, text_dir: str | Path | None = None,
                  copy: bool = False, force: bool = False) -> Path:
    """Write the Ref-YouTube-VOS layout of Ref-DAVIS17 into ``out`` (see the module docstring); returns ``out``.

    Everything is validated before anything is written.
    """
    davis_root, out = Path(davis_root), Path(out)
    frames_root = require(davis_root / "JPEGImages" / "480p", "DAVIS frame folder", dataset=DATASET)
    labels_root = require(davis_root / "Annotations_unsupervised" / "480p",
                          "DAVIS unsupervised annotation folder", dataset=DATASET,
                          fix="download DAVIS-2017-Unsupervised-trainval-480p and extract it into the DAVIS root")
    splits = {target: _split_list(davis_root / "ImageSets" / "2017" / f"{source}.txt") for source, target in SPLITS}
    texts_dir = _text_dir(davis_root, text_dir)
    files = [read_expression_file(require(texts_dir / name, "expression file", dataset=DATASET), encoding)
             for name, encoding in EXPRESSION_FILES]
    for videos in splits.values():
        for video in videos:
            require(frames_root / video, "frame folder of a listed video", dataset=DATASET, video=video)
            require(labels_root / video, "annotation folder of a listed video", dataset=DATASET, video=video)
    _prepare(out, force)

    with tqdm(total=sum(len(videos) for videos in splits.values()), desc="convert-davis", unit="video") as bar:
        for split, videos in splits.items():
            meta, expressions = {}, {}
            for video in videos:
                _place(frames_root / video, out / split / "JPEGImages" / video, copy)
                _place(labels_root / video, out / split / "Annotations" / video, copy)
                objects = _objects_in_pngs(labels_root / video)
                described = _four_expressions(video, files, texts_dir)
                for obj_id in described:
                    objects.setdefault(obj_id, [])
                meta[video] = {"objects": {str(obj): {"frames": frames} for obj, frames in sorted(objects.items())}}
                numbered = [(obj, text) for obj, four in sorted(described.items()) for text in four]
                expressions[video] = {
                    "expressions": {str(i): {"exp": text, "obj_id": str(obj)}
                                    for i, (obj, text) in enumerate(numbered)},
                    "frames": sorted(p.stem for p in (frames_root / video).glob("*.jpg")),
                }
                bar.update()
            atomic_write_text(out / split / "meta.json", json.dumps({"videos": meta}))
            atomic_write_text(out / "meta_expressions" / split / "meta_expressions.json",
                              json.dumps({"videos": expressions}))
    return out


def _split_list(path: Path) -> list[str]:
    """The video names of a DAVIS split list, each a plain name (it becomes a folder of the source and of ``out``)."""
    require(path, "DAVIS split list", dataset=DATASET)
    return [check_name(line.strip(), "video name", path=path, dataset=DATASET)
            for line in read_lines(path, dataset=DATASET) if line.strip()]


def _text_dir(davis_root: Path, text_dir: str | Path | None) -> Path:
    """The folder with the expression files: as given, else inside the DAVIS root, else beside it."""
    if text_dir is not None:
        return require(Path(text_dir), "expression folder", dataset=DATASET)
    candidates = [davis_root / "davis_text_annotations", davis_root.parent / "davis_text_annotations"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise GroPromptError(
        f"no davis_text_annotations folder (looked in {candidates[0]} and {candidates[1]})", dataset=DATASET,
        path=davis_root, fix="download the Ref-DAVIS17 expressions (Khoreva et al.) and pass --text-dir",
    )


def _prepare(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise GroPromptError("output folder is not empty", dataset=DATASET, path=out,
                                 fix="choose an empty folder, or pass --force to replace its train/, valid/ and "
                                     "meta_expressions/")
        for name in OUTPUT_FOLDERS:
            # rmtree unlinks the per-video symlinks without following them into the DAVIS source
            shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def _place(source: Path, target: Path, copy: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        shutil.copytree(source, target)
    else:
        os.symlink(source.resolve(), target, target_is_directory=True)


def _objects_in_pngs(label_dir: Path) -> dict[int, list[str]]:
    """``obj_id -> frames (stems) where it is present`` over a video's annotation PNGs."""
    objects: dict[int, list[str]] = {}
    for png in sorted(label_dir.glob("*.png")):
        for value in np.unique(read_label_png(png)):
            if value not in (0, 255):
                objects.setdefault(int(value), []).append(png.stem)
    return objects


def _four_expressions(video: str, files: list[dict[str, dict[int, str]]], texts_dir: Path) -> dict[int, list[str]]:
    """``obj_id -> its four expressions`` in expression-set order, for objects that all four files describe."""
    per_file = [file.get(video, {}) for file in files]
    complete: dict[int, list[str]] = {}
    for obj_id in sorted(set().union(*per_file)):
        missing = [name for (name, _), objects in zip(EXPRESSION_FILES, per_file, strict=True) if obj_id not in objects]
        if missing:
            warnings.warn(f"Ref-DAVIS17 {video} object {obj_id} has no expression in {', '.join(missing)} "
                          f"({texts_dir}); its other expressions are left out so every object has all four",
                          stacklevel=3)
            continue
        complete[obj_id] = [objects[obj_id] for objects in per_file]
    if not complete:
        warnings.warn(f"Ref-DAVIS17 {video} has no object with all four expressions in {texts_dir}", stacklevel=3)
    return complete
