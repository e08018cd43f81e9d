"""Writing SynRVOS to disk, atomically and in parallel: in the Ref-YouTube-VOS layout (``docs/datasets.md``), the
default, or in the MeViS layout (:mod:`.mevis_writer`, ``layout="mevis"``). The Ref-YouTube-VOS layout:

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
leaves nothing a rerun would trust. Both layouts write the same scenes for the same seed and config.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from groprompt.data.synrvos.backgrounds import available_backgrounds
from groprompt.data.synrvos.expressions import KINDS, PHRASE, VOCABULARY
from groprompt.data.synrvos.generate import GeneratedVideo, generate_video, video_statistics
from groprompt.data.synrvos.layout_parts import VideoPool, add_statistics, summarise, write_frames
from groprompt.data.synrvos.mevis_writer import DEFAULT_MULTI_OBJECT_SHARE, write_mevis_splits
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
LAYOUTS: tuple[str, ...] = ("refytvos", "mevis")
"""The on-disk layouts :func:`generate_synrvos` writes; the first is the default."""


def write_video(split_dir: Path, video: GeneratedVideo, jpeg_quality: int) -> tuple[dict, dict]:
    """Write one video's frames and label maps; return its ``meta.json`` and ``meta_expressions.json`` entries."""
    names = write_frames(split_dir, video, jpeg_quality)
    for name, labels in zip(names, video.rendering.labels):
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


def _check_layout(layout: str, multi_object_share: float | None) -> float:
    """The share of multi-object expressions to ask for: ``multi_object_share``, or the layout's default where it is
    None; a named error for an unknown layout or a share the layout cannot hold."""
    if layout not in LAYOUTS:
        raise GroPromptError(f"unknown SynRVOS layout {layout!r}; valid: {', '.join(LAYOUTS)}",
                             fix="pass --layout refytvos (the default) or --layout mevis")
    if layout == "mevis":
        share = DEFAULT_MULTI_OBJECT_SHARE if multi_object_share is None else multi_object_share
        if not 0.0 <= share < 1.0:
            raise GroPromptError(f"the multi-object share must lie in [0, 1), got {share}",
                                 fix="pass --multi-object-share 0.3, say (the share of expressions that refer to "
                                     "several objects)")
        return share
    if multi_object_share:
        raise GroPromptError(f"the {layout} layout gives each expression one object, so it cannot hold a "
                             f"multi-object share of {multi_object_share}",
                             fix="add --layout mevis, or leave out --multi-object-share")
    return 0.0


def generate_synrvos(out: str | Path, config: SynRVOSConfig, seed: int, *, workers: int = 1, force: bool = False,
                     progress: bool = True, layout: str = "refytvos", multi_object_share: float | None = None) -> dict:
    """Generate every split of SynRVOS into ``out``; return the manifest also written to ``out/synrvos.json``.

    Args:
        out: the dataset folder; refused if it exists and is not empty, unless ``force`` (then replaced whole).
        config: sizes and content knobs (see :mod:`.presets`).
        seed: the same seed and config give byte-identical files, whatever ``workers`` is.
        workers: processes that generate videos in parallel.
        progress: show a progress bar per split (on stderr).
        layout: ``refytvos`` (the module docstring) or ``mevis`` (:mod:`.mevis_writer`); see :data:`LAYOUTS`.
        multi_object_share: the MeViS layout only: the share of expressions that refer to several objects, in
            [0, 1) (None: :data:`~.mevis_writer.DEFAULT_MULTI_OBJECT_SHARE`); the share realised is recorded.
    """
    out = Path(out)
    if seed < 0:
        raise GroPromptError(f"the seed must be a non-negative integer, got {seed}", fix="pass --seed 0 or more")
    share = _check_layout(layout, multi_object_share)
    _check_target(out, force)
    backgrounds = available_backgrounds()
    if not backgrounds:
        raise GroPromptError("none of the scikit-image photographs SynRVOS uses as backgrounds can be read",
                             fix="reinstall scikit-image (its wheel ships them in skimage/data)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    writers: dict[str, Callable[..., tuple[dict, dict]]] = {
        "refytvos": _write_refytvos_splits,
        "mevis": functools.partial(write_mevis_splits, multi_object_share=share),
    }
    try:
        # Leaving the block terminates the workers: at once on an interrupt, after the last result otherwise.
        with multiprocessing.Pool(workers) if workers > 1 else contextlib.nullcontext() as pool:
            statistics, layout_record = writers[layout](tmp, config, seed, backgrounds,
                                                        VideoPool(pool, workers, progress))
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
            **layout_record,
            "splits": statistics,
        }
        atomic_write_text(tmp / "synrvos.json", json.dumps(manifest, indent=2) + "\n")
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _write_refytvos_splits(root: Path, config: SynRVOSConfig, seed: int, backgrounds: tuple[str, ...],
                           videos: VideoPool) -> tuple[dict, dict]:
    """Every split in the Ref-YouTube-VOS layout under ``root``: the summed statistics per split, and what
    ``synrvos.json`` says of this layout."""
    statistics = {split: _write_split(root, split, count, config, seed, backgrounds, videos)
                  for split, count in split_sizes(config).items()}
    return statistics, {"pretrain_phrases": PHRASE_STORAGE, "phrase_kind": PHRASE}


def _write_split(root: Path, split: str, count: int, config: SynRVOSConfig, seed: int,
                 backgrounds: tuple[str, ...], videos: VideoPool) -> dict:
    """Write one split's videos and meta files under ``root``; return its summed statistics."""
    split_dir = root / split
    make = functools.partial(_make_video, config=config, seed=seed, split=split, split_dir=split_dir,
                             backgrounds=backgrounds)
    meta: dict[str, dict] = {}
    expressions: dict[str, dict] = {}
    totals: dict[str, float] = {}
    for name, video_meta, video_expressions, stats in videos.run(make, count, f"synrvos {split}"):
        meta[name] = video_meta
        expressions[name] = video_expressions
        add_statistics(totals, stats)
    atomic_write_text(split_dir / "meta.json", json.dumps({"videos": meta}) + "\n")
    atomic_write_text(root / "meta_expressions" / split / "meta_expressions.json",
                      json.dumps({"videos": expressions}) + "\n")
    return summarise(totals)
