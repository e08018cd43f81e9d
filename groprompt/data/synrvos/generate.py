"""One SynRVOS video in memory: sample a scene, render it, give every object unambiguous expressions (``train``,
``valid``) or give the still frame grounding phrases that name every object they fit (``pretrain``).

Each video draws from its own random stream, seeded by ``(seed, split, index)`` only, so a video's content does not
depend on how many processes generate the split or in which order (``docs/synthetic_benchmark.md``: "the same seed and
sizes give byte-identical files").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from groprompt.data.model import tight_box
from groprompt.data.synrvos.expressions import (
    KINDS,
    PHRASE,
    Checker,
    ObjectTrack,
    Referring,
    choose_expressions,
    choose_phrases,
    tracks_from_labels,
)
from groprompt.data.synrvos.presets import SynRVOSConfig
from groprompt.data.synrvos.render import Rendering, render
from groprompt.data.synrvos.scene import Scene, sample_scene

SPLITS: tuple[str, ...] = ("pretrain", "train", "valid")
_SPLIT_STREAMS = {"pretrain": 0, "train": 1, "valid": 2, "test": 3}
"""Random stream of each split; ``test`` is drawn only by the MeViS layout, for its ``valid`` split (ground truth
withheld, :mod:`.mevis_writer`)."""
_PLURAL_STREAM = 1
"""Last entry of the seed of a video's plural expressions (:func:`plural_rng`)."""
MAX_ATTEMPTS = 200
VISIBLE_FRACTION = 0.4
"""A frame counts towards ``min_visible_share`` if the object shows at least this share of its peak area."""
OCCLUSION_FRACTION = 0.1
"""An object counts as occluded in a frame if objects drawn above it hide this share of it (and >= 4 pixels)."""


@dataclass(frozen=True)
class GeneratedVideo:
    """A video ready to be written.

    Attributes:
        name: the video's folder name, ``<split>_<index:05d>``.
        scene, rendering, tracks: what was drawn, as drawn, as the expression checker saw it.
        expressions: ``(obj_id, meaning, text)`` in object order; a grounding phrase (``pretrain``) appears once
            per object it names, with the same meaning and text (how the Ref-YouTube-VOS layout, one object per
            expression entry, stores a phrase with several boxes).
        lookalikes: how many distinct meanings of ``expressions`` are look-alike cases (:meth:`Checker.is_lookalike`:
            the description fits several objects); for phrases, how many name more than one object.
    """

    name: str
    scene: Scene
    rendering: Rendering
    tracks: tuple[ObjectTrack, ...]
    expressions: tuple[tuple[int, Referring, str], ...]
    lookalikes: int


def video_name(split: str, index: int) -> str:
    return f"{split}_{index:05d}"


def video_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one video; independent of every other video's."""
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_STREAMS[split], index]))


def plural_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of a video's plural expressions (MeViS layout): apart from :func:`video_rng`'s, so that
    drawing them changes nothing else of the video."""
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_STREAMS[split], index, _PLURAL_STREAM]))


def expression_kinds(is_twin: bool) -> tuple[str, ...]:
    """Referring kinds an object of a ``train`` or ``valid`` video may get: a twin only motion (the ModalCon
    case)."""
    return ("motion",) if is_twin else KINDS


def _well_visible(rendering: Rendering, min_share: float) -> bool:
    """Whether every object shows >= VISIBLE_FRACTION of its peak area in >= ``min_share`` of the frames."""
    peak = rendering.full_area.max(axis=0)
    good = (rendering.visible_area >= VISIBLE_FRACTION * peak) & (rendering.visible_area > 0)
    needed = max(1, math.ceil(min_share * rendering.labels.shape[0]))
    return bool(np.all(good.sum(axis=0) >= needed))


def _generated(name: str, scene: Scene, rendering: Rendering, tracks: list[ObjectTrack],
               expressions: list[tuple[int, Referring, str]], checker: Checker) -> GeneratedVideo:
    """The finished video; its look-alike count is taken over distinct meanings, so a phrase stored once per object
    it names counts once (a referring meaning belongs to one object, so there it is one per expression)."""
    lookalikes = sum(checker.is_lookalike(meaning) for meaning in {meaning for _, meaning, _ in expressions})
    return GeneratedVideo(name, scene, rendering, tuple(tracks), tuple(expressions), lookalikes)


def generate_video(config: SynRVOSConfig, seed: int, split: str, index: int,
                   backgrounds: tuple[str, ...]) -> GeneratedVideo:
    """Video ``index`` of ``split``: re-drawn (from the same stream) until every object is well visible and (in
    ``train`` and ``valid``) has at least one unambiguous expression. A ``pretrain`` still frame gets grounding
    phrases instead."""
    rng = video_rng(seed, split, index)
    margin = config.location_margin * config.frame_size
    for _ in range(MAX_ATTEMPTS):
        scene = sample_scene(rng, config, still=split == "pretrain", backgrounds=backgrounds)
        rendering = render(scene, rng)
        if not _well_visible(rendering, config.min_visible_share):
            continue
        tracks = tracks_from_labels(scene.objects, rendering.labels)
        checker = Checker(tracks, margin)
        if split == "pretrain":
            phrases = choose_phrases(rng, checker, config.expressions_max)
            expressions = [(obj_id, meaning, text) for meaning, text, named in phrases for obj_id in named]
            return _generated(video_name(split, index), scene, rendering, tracks, expressions, checker)
        twins = {obj_id for pair in scene.twin_pairs() for obj_id in pair}
        expressions: list[tuple[int, Referring, str]] = []
        for track in tracks:
            chosen = choose_expressions(rng, track, checker, expression_kinds(track.obj_id in twins),
                                        config.expressions_max)
            if not chosen:
                break
            expressions.extend((track.obj_id, meaning, text) for meaning, text in chosen)
        else:
            return _generated(video_name(split, index), scene, rendering, tracks, expressions, checker)
    raise RuntimeError(f"SynRVOS could not draw a valid scene for {video_name(split, index)} in {MAX_ATTEMPTS} "
                       f"attempts; the config's content knobs are too tight: {config}")


def phrase_or_expression_counts(video: GeneratedVideo) -> dict[str, int]:
    """Grounding phrases (distinct, and how many name several objects), or referring expressions per kind and
    how many are look-alike cases."""
    if any(meaning.kind == PHRASE for _, meaning, _ in video.expressions):
        return {"phrases": len({text for _, _, text in video.expressions}),
                "phrases_naming_several": video.lookalikes}
    return {**{f"expressions_{kind}": sum(1 for _, m, _ in video.expressions if m.kind == kind) for kind in KINDS},
            "expressions_lookalike": video.lookalikes}


def video_statistics(video: GeneratedVideo) -> dict[str, int | float]:
    """Counts that show what a video exercises (summed over a split into ``synrvos.json``).

    ``mask_box_ratio_sum`` / ``mask_box_pairs``: mask area over tight-box area, per visible (object, frame).
    """
    rendering, scene = video.rendering, video.scene
    full, visible = rendering.full_area, rendering.visible_area
    hidden = full - visible
    occluded = (hidden >= np.maximum(4, OCCLUSION_FRACTION * full)).any(axis=0)
    ratios = []
    for t in range(scene.num_frames):
        for obj in scene.objects:
            mask = rendering.labels[t] == obj.obj_id
            if mask.any():
                x0, y0, x1, y1 = tight_box(mask)
                ratios.append(mask.sum() / ((x1 - x0) * (y1 - y0)))
    stats: dict[str, int | float] = {
        "videos": 1,
        "frames": scene.num_frames,
        "objects": len(scene.objects),
        "expressions": len(video.expressions),
        **phrase_or_expression_counts(video),
        "twin_pairs": len(scene.twin_pairs()),
        "videos_with_twins": int(bool(scene.twin_pairs())),
        "occluded_objects": int(occluded.sum()),
        "videos_with_occlusion": int(occluded.any()),
        "objects_absent_in_some_frame": int((visible == 0).any(axis=0).sum()),
        "objects_changing_size": sum(1 for obj in scene.objects if obj.growth != 1.0),
        "mask_box_ratio_sum": float(np.sum(ratios)),
        "mask_box_pairs": len(ratios),
    }
    return stats
