"""Writing SynRVOS in the MeViS layout (ICCV 2023), with expressions that refer to several objects.

    <out>/synrvos.json                               preset, seed, config, layout, multi-object share, statistics
    <out>/<split>/JPEGImages/<video>/<frame>.jpg     split in train, valid_u, valid
    <out>/<split>/meta_expressions.json              {"videos": {v: {"expressions": {exp_id: {"exp", "obj_id": [...],
                                                     "anno_id": [...], "kind"}}, "frames": [...]}}}
    <out>/<split>/mask_dict.json                     train and valid_u: {anno_id: [COCO RLE or null, one per frame]}

MeViS split from SynRVOS stream: ``train`` from train and ``valid_u`` from valid (the same scenes, frames and
single-object expressions as the Ref-YouTube-VOS layout's ``train`` and ``valid`` for the same seed and config);
``valid`` from a stream of ``valid_videos`` videos that only this layout draws (named ``test_<index>``), written as
the official valid split is: no ``mask_dict.json``, and expressions without ``obj_id`` and ``anno_id``. There is no
``pretrain`` split, since MeViS has none: the Ref-YouTube-VOS layout of the same seed and config holds it.

Each video keeps its single-object expressions (exp ids ``0``.., ``obj_id`` a one-element list) and adds plural ones
after them (:mod:`.plurals`), drawn from a random stream of their own so that nothing else of the video changes:
``share / (1 - share)`` times its single-object count in expectation, fewer where the video has fewer plural meanings,
so ``synrvos.json`` records the share asked for and the share written. ``obj_id`` numbers a video's objects from 0,
as MeViS does: the other layout's label value minus one (the MeViS reader, :mod:`groprompt.data.mevis`, adds the one
back). ``anno_id`` numbers the objects of a split, one mask track each, in video then object order from 0.
A mask is the object's visible pixels (the other layout's palette PNGs hold the same), as COCO RLE with compressed
counts in column-major order (:func:`groprompt.masks.encode_rle`, pycocotools' own encoder), null where the object
is not visible. Each expression carries a ``kind`` key of our own, as in the other layout.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from groprompt.data.synrvos.expressions import Checker, Referring
from groprompt.data.synrvos.generate import generate_video, plural_rng, video_statistics
from groprompt.data.synrvos.layout_parts import VideoPool, add_statistics, summarise, write_frames
from groprompt.data.synrvos.plurals import PLURAL_KINDS, choose_plurals, plural_count
from groprompt.data.synrvos.presets import SynRVOSConfig
from groprompt.files import atomic_write_text
from groprompt.masks import encode_rle

DEFAULT_MULTI_OBJECT_SHARE = 0.3
"""The share of expressions that refer to several objects when none is asked for."""
MEVIS_SPLITS: dict[str, tuple[str, bool]] = {"train": ("train", True), "valid_u": ("valid", True),
                                             "valid": ("test", False)}
"""MeViS split -> (the SynRVOS stream its videos come from, whether its ground truth is written)."""
PLURAL_RULES = ("an expression with several obj_id refers to all of them and to no other object of its video: "
                "appearance (every object the description fits, at least two) or motion (of the objects the "
                "description fits, the two or more with that motion, while another moves otherwise); location "
                "expressions stay single-object")
"""How ``synrvos.json`` describes the multi-object expressions."""


def split_sizes(config: SynRVOSConfig) -> dict[str, int]:
    """Videos per MeViS split."""
    return {"train": config.train_videos, "valid_u": config.valid_videos, "valid": config.valid_videos}


def _entry(text: str, labels: tuple[int, ...], meaning: Referring) -> dict:
    """One ``meta_expressions.json`` expression about the objects of label values ``labels``; ``anno_id`` is filled
    in by the split (it numbers the split)."""
    return {"exp": text, "obj_id": [label - 1 for label in labels], "anno_id": None, "kind": meaning.kind}


def _make_video(index: int, *, config: SynRVOSConfig, seed: int, stream: str, split_dir: Path,
                backgrounds: tuple[str, ...], share: float,
                with_masks: bool) -> tuple[str, dict, dict[int, list], dict]:
    """Write one video's frames; return its name, its ``meta_expressions.json`` entry, each object's masks (RLE or
    None per frame; none without ground truth) and its statistics."""
    video = generate_video(config, seed, stream, index, backgrounds)
    names = write_frames(split_dir, video, config.jpeg_quality)
    rng = plural_rng(seed, stream, index)
    checker = Checker(video.tracks, config.location_margin * config.frame_size)
    plurals = choose_plurals(rng, checker, plural_count(rng, len(video.expressions), share))
    entries = [_entry(text, (obj_id,), meaning) for obj_id, meaning, text in video.expressions]
    entries += [_entry(text, referents, meaning) for referents, meaning, text in plurals]
    masks = {}  # by MeViS obj_id
    if with_masks:
        labels = video.rendering.labels
        masks = {obj.obj_id - 1: [encode_rle(frame == obj.obj_id) if (frame == obj.obj_id).any() else None
                                  for frame in labels] for obj in video.scene.objects}
    stats = video_statistics(video)
    stats["expressions"] += len(plurals)
    for kind in PLURAL_KINDS:
        stats[f"expressions_{kind}"] += sum(meaning.kind == kind for _, meaning, _ in plurals)
    stats["expressions_multi_object"] = len(plurals)
    # A plural motion expression's description fits an object that moves otherwise (plurals.plural_referents): a
    # look-alike case, as every singular motion expression is; a plural appearance one names all it fits.
    stats["expressions_lookalike"] += sum(meaning.kind == "motion" for _, meaning, _ in plurals)
    expressions = {str(exp_id): entry for exp_id, entry in enumerate(entries)}
    return video.name, {"expressions": expressions, "frames": names}, masks, stats


def _write_split(root: Path, split: str, config: SynRVOSConfig, seed: int, backgrounds: tuple[str, ...],
                 videos: VideoPool, share: float) -> dict:
    """Write one MeViS split under ``root``; return its summed statistics."""
    stream, with_truth = MEVIS_SPLITS[split]
    split_dir = root / split
    make = functools.partial(_make_video, config=config, seed=seed, stream=stream, split_dir=split_dir,
                             backgrounds=backgrounds, share=share, with_masks=with_truth)
    expressions: dict[str, dict] = {}
    mask_dict: dict[str, list] = {}
    totals: dict[str, float] = {}
    for name, entry, masks, stats in videos.run(make, split_sizes(config)[split], f"synrvos {split}"):
        # Results arrive in video order whatever the workers, so the anno ids are the same for the same seed.
        anno_ids = {obj_id: len(mask_dict) + position for position, obj_id in enumerate(sorted(masks))}
        mask_dict.update({str(anno_ids[obj_id]): masks[obj_id] for obj_id in sorted(masks)})
        for expression in entry["expressions"].values():
            if with_truth:
                expression["anno_id"] = [anno_ids[obj_id] for obj_id in expression["obj_id"]]
            else:  # the official valid split withholds which objects an expression refers to
                del expression["obj_id"], expression["anno_id"]
        expressions[name] = entry
        add_statistics(totals, stats)
    atomic_write_text(split_dir / "meta_expressions.json", json.dumps({"videos": expressions}) + "\n")
    if with_truth:
        atomic_write_text(split_dir / "mask_dict.json", json.dumps(mask_dict) + "\n")
    return summarise(totals)


def write_mevis_splits(root: Path, config: SynRVOSConfig, seed: int, backgrounds: tuple[str, ...],
                       videos: VideoPool, *, multi_object_share: float) -> tuple[dict, dict]:
    """Every MeViS split under ``root``: the summed statistics per split, and what ``synrvos.json`` says of this
    layout (the splits' sources and the multi-object share asked for and written)."""
    statistics = {split: _write_split(root, split, config, seed, backgrounds, videos, multi_object_share)
                  for split in MEVIS_SPLITS}
    plural = sum(stats["expressions_multi_object"] for stats in statistics.values())
    total = sum(stats["expressions"] for stats in statistics.values())
    record = {
        "layout": "mevis",
        "mevis_splits": {split: {"videos_from": stream, "ground_truth": truth}
                         for split, (stream, truth) in MEVIS_SPLITS.items()},
        "multi_object_share": {"requested": multi_object_share,
                               "realised": round(plural / total, 4) if total else float("nan")},
        "multi_object_expressions": PLURAL_RULES,
    }
    return statistics, record
