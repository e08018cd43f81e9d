"""Writing SynRVOS to disk in the Ref-YouTube-VOS layout (``docs/datasets.md``), atomically and in parallel.

    <out>/synrvos.json                                     preset, seed, config, generator version, statistics
    <out>/<split>/JPEGImages/<video>/<frame>.jpg           split in pretrain, train, valid
    <out>/<split>/Annotations/<video>/<frame>.png          palette PNG, value = obj_id (absent objects lack it)
    <out>/<split>/meta.json                                {"videos": {v: {"objects": {id: {"category", "frames"}}}}}
    <out>/meta_expressions/<split>/meta_expressions.json   {"videos": {v: {"expressions": {...}, "frames": [...]}}}

Each expression carries a ``kind`` key of our own, which the real dataset lacks; readers treat it as optional.
The ``pretrain`` split holds grounding phrases (kind ``phrase``) rather than referring expressions; a phrase that
names several objects of its frame is stored as one expression entry per object, all with the same ``exp`` text
(the layout's one object per entry), so the Ref-YouTube-VOS reader reads it unchanged and the grounder's
pre-training regroups the entries of a frame by text (:func:`groprompt.pretraining.load_grounding_set`).
Unlike Ref-YouTube-VOS, the valid split has annotations: SynRVOS is evaluated on it. Everything is generated into
a hidden ``.<out>.*.partial`` folder beside ``out`` and renamed into place when complete, so an interrupted run
leaves nothing a rerun would trust.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import multiprocessing.pool
import os
import shutil
import tempfile
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from groprompt.data.synrvos.backgrounds import available_backgrounds
from groprompt.data.synrvos.expressions import KINDS, PHRASE, VOCABULARY
from groprompt.data.synrvos.generate import GeneratedVideo, generate_video, video_statistics
from groprompt.data.synrvos.presets import SynRVOSConfig
from groprompt.errors import GroPromptError
from groprompt.files import atomic_write_text
from groprompt.masks import write_label_png

GENERATOR_VERSION = 2
"""Bump whenever the same seed and config would give different files (2: ``pretrain`` holds grounding phrases)."""
PHRASE_STORAGE = ("pretrain holds grounding phrases (kind 'phrase': a description with no article, side, ordinal "
                  "or motion word) that name every object of the still frame they fit; a phrase naming several "
                  "objects is stored as one expression entry per object, all with the same 'exp' text")
"""How ``synrvos.json`` describes the multi-referent phrases (also in the README)."""


def frame_names(num_frames: int) -> list[str]:
    return [f"{t:05d}" for t in range(num_frames)]


def write_video(split_dir: Path, video: GeneratedVideo, jpeg_quality: int) -> tuple[dict, dict]:
    """Write one video's frames and label maps; return its ``meta.json`` and ``meta_expressions.json`` entries."""
    names = frame_names(video.scene.num_frames)
    frame_dir = split_dir / "JPEGImages" / video.name
    frame_dir.mkdir(parents=True, exist_ok=True)
    for name, frame, labels in zip(names, video.rendering.frames, video.rendering.labels):
        # Written in place, not through a temporary file: ``split_dir`` lies inside the hidden partial folder,
        # which is renamed into place only when complete (generate_synrvos), so no reader sees a partial frame.
        # Fixed quality and chroma subsampling (none: 4:4:4 keeps small objects' colours): identical bytes.
        Image.fromarray(frame).save(frame_dir / f"{name}.jpg", format="JPEG", quality=jpeg_quality, subsampling=0)
        write_label_png(split_dir / "Annotations" / video.name / f"{name}.png", labels)
    objects = {
        str(obj.obj_id): {"category": obj.shape,
                          "frames": [n for n, area in zip(names, video.rendering.visible_area[:, i]) if area > 0]}
        for i, obj in enumerate(video.scene.objects)
    }
    expressions = {
        str(exp_id): {"exp": text, "obj_id": str(obj_id), "kind": meaning.kind}
        for exp_id, (obj_id, meaning, text) in enumerate(video.expressions)
    }
    return {"objects": objects}, {"expressions": expressions, "frames": names}


def _make_video(index: int, *, config: SynRVOSConfig, seed: int, split: str, split_dir: Path,
                backgrounds: tuple[str, ...]) -> tuple[str, dict, dict, dict]:
    video = generate_video(config, seed, split, index, backgrounds)
    meta, expressions = write_video(split_dir, video, config.jpeg_quality)
    return video.name, meta, expressions, video_statistics(video)


def split_sizes(config: SynRVOSConfig) -> dict[str, int]:
    """Videos per split (still frames for ``pretrain``)."""
    return {"pretrain": config.pretrain_frames, "train": config.train_videos, "valid": config.valid_videos}


def _summarise(totals: dict[str, float]) -> dict[str, float]:
    """The summed statistics, with the mean mask-to-box area ratio and the shares of look-alike expressions
    (``train``, ``valid``) or of phrases naming several objects (``pretrain``)."""
    summary = {k: v for k, v in totals.items() if not k.startswith("mask_box_")}
    pairs = totals.get("mask_box_pairs", 0)
    summary["mask_box_area_ratio"] = round(totals["mask_box_ratio_sum"] / pairs, 4) if pairs else float("nan")
    for share, part, whole in (("lookalike_share", "expressions_lookalike", "expressions"),
                               ("phrases_naming_several_share", "phrases_naming_several", "phrases")):
        if totals.get(whole) and part in totals:
            summary[share] = round(totals[part] / totals[whole], 4)
    return summary


def _check_target(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise GroPromptError("the output path exists and is not a folder", path=out,
                             fix="pass a folder path to --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise GroPromptError("the output folder is not empty; SynRVOS will not overwrite it", path=out,
                             fix="choose a new or empty folder, or pass --force to replace it")


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` onto ``out``; an existing ``out`` is removed only after the swap."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old)


def generate_synrvos(out: str | Path, config: SynRVOSConfig, seed: int, *, workers: int = 1, force: bool = False,
                     progress: bool = True) -> dict:
    """Generate every split of SynRVOS into ``out``; return the manifest also written to ``out/synrvos.json``.

    Args:
        out: the dataset folder; refused if it exists and is not empty, unless ``force`` (then replaced whole).
        config: sizes and content knobs (see :mod:`.presets`).
        seed: the same seed and config give byte-identical files, whatever ``workers`` is.
        workers: processes that generate videos in parallel.
        progress: show a progress bar per split (on stderr).
    """
    out = Path(out)
    if seed < 0:
        raise GroPromptError(f"the seed must be a non-negative integer, got {seed}", fix="pass --seed 0 or more")
    _check_target(out, force)
    backgrounds = available_backgrounds()
    if not backgrounds:
        raise GroPromptError("none of the scikit-image photographs SynRVOS uses as backgrounds can be read",
                             fix="reinstall scikit-image (its wheel ships them in skimage/data)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        statistics = {}
        # Leaving the block terminates the workers: at once on an interrupt, after the last result otherwise.
        with multiprocessing.Pool(workers) if workers > 1 else contextlib.nullcontext() as pool:
            for split, count in split_sizes(config).items():
                statistics[split] = _write_split(tmp, split, count, config, seed, backgrounds, pool, workers,
                                                 progress)
        manifest = {
            "generator": "groprompt.data.synrvos",
            "version": GENERATOR_VERSION,
            "note": "SynRVOS is a synthetic test bed, not Ref-DAVIS17 or Ref-YouTube-VOS.",
            "preset": config.name,
            "seed": seed,
            "config": config.as_dict(),
            "backgrounds": list(backgrounds),
            "vocabulary": {key: list(values) for key, values in VOCABULARY.items()},
            "expression_kinds": list(KINDS),
            "pretrain_phrases": PHRASE_STORAGE,
            "phrase_kind": PHRASE,
            "splits": statistics,
        }
        atomic_write_text(tmp / "synrvos.json", json.dumps(manifest, indent=2) + "\n")
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _write_split(root: Path, split: str, count: int, config: SynRVOSConfig, seed: int,
                 backgrounds: tuple[str, ...], pool: multiprocessing.pool.Pool | None, workers: int,
                 progress: bool) -> dict:
    """Write one split's videos and meta files under ``root``; return its summed statistics."""
    split_dir = root / split
    make = functools.partial(_make_video, config=config, seed=seed, split=split, split_dir=split_dir,
                             backgrounds=backgrounds)
    if pool is None:
        results = map(make, range(count))
    else:
        results = pool.imap(make, range(count), chunksize=max(1, min(64, count // (8 * workers))))
    meta: dict[str, dict] = {}
    expressions: dict[str, dict] = {}
    totals: dict[str, float] = {}
    for name, video_meta, video_expressions, stats in tqdm(results, total=count, desc=f"synrvos {split}",
                                                           unit="video", disable=not progress):
        meta[name] = video_meta
        expressions[name] = video_expressions
        for key, value in stats.items():
            totals[key] = totals.get(key, 0) + value
    atomic_write_text(split_dir / "meta.json", json.dumps({"videos": meta}) + "\n")
    atomic_write_text(root / "meta_expressions" / split / "meta_expressions.json",
                      json.dumps({"videos": expressions}) + "\n")
    return _summarise(totals)
