"""SynRVOS sizes and content knobs: one validated config object, and named presets of it.

``docs/synthetic_benchmark.md`` ("Content", "Size") fixes what the benchmark contains; this module fixes how much of it
and how often each difficulty occurs. Every length is a fraction of the frame side, so the frame size is a single
knob. The pretrain split's size follows ``docs/stack_notes.md`` (the stand-in grounder learns from 96x96 still frames).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from groprompt.errors import GroPromptError


@dataclass(frozen=True)
class SynRVOSConfig:
    """Everything that decides a SynRVOS generation besides the seed.

    Attributes:
        name: the preset it came from (recorded in ``synrvos.json``).
        frame_size: side of the square frames, pixels.
        train_videos, valid_videos: videos in the ``train`` and ``valid`` splits.
        pretrain_frames: still frames (1-frame videos) in the ``pretrain`` split.
        frames_min, frames_max: frames per video, inclusive.
        objects_min, objects_max: objects per video or still frame, inclusive.
        expressions_max: expressions per object are drawn from 1..expressions_max (fewer if fewer are unambiguous).
        twin_rate: probability that a video holds a pair of twins (same shape, colour and size, different motion).
        share_rate: probability that a new object copies the shape of an object already in the scene, and
            (independently) its colour: the text ambiguity TextCon is about.
        cross_edge_rate: probability that a moving object's path crosses the frame border: it enters or leaves
            (absent from some frames) where its speed allows, else it is partly cut off by the border.
        size_change_rate: probability that an object's apparent size changes over the video (approaching/receding).
        small_radius, large_radius: (min, max) circumradius of small and large objects, fraction of the frame side.
            The ranges stay apart even after the largest size change, so "small" and "large" never overlap.
        size_change: (min, max) factor of the radius at the last frame relative to the first.
        speed: (min, max) speed of a moving object, fraction of the frame side per frame.
        pan_speed: (min, max) speed of the background pan, fraction of the frame side per frame.
        location_margin: a location expression holds only if the referent's mask centroid is beyond every other
            candidate's by at least this fraction of the frame side, in every frame where both are visible.
        min_visible_share: every object is at least 40% visible in at least this share of its video's frames.
        noise_sigma: (min, max) standard deviation of the per-frame Gaussian pixel noise, grey levels.
        jpeg_quality: PIL JPEG quality of the frames (fixed, so output is byte-identical for a seed).
    """

    name: str
    frame_size: int = 96
    train_videos: int = 120
    valid_videos: int = 40
    pretrain_frames: int = 8000
    frames_min: int = 8
    frames_max: int = 16
    objects_min: int = 2
    objects_max: int = 4
    expressions_max: int = 3
    twin_rate: float = 0.25
    share_rate: float = 0.5
    cross_edge_rate: float = 0.35
    size_change_rate: float = 0.35
    small_radius: tuple[float, float] = (0.065, 0.085)
    large_radius: tuple[float, float] = (0.135, 0.165)
    size_change: tuple[float, float] = (0.8, 1.2)
    speed: tuple[float, float] = (0.015, 0.04)
    pan_speed: tuple[float, float] = (0.001, 0.005)
    location_margin: float = 0.05
    min_visible_share: float = 0.4
    noise_sigma: tuple[float, float] = (2.0, 6.0)
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        problems = []
        if self.frame_size < 32:
            problems.append(f"frame_size must be at least 32 pixels, got {self.frame_size}")
        for field in ("train_videos", "valid_videos", "pretrain_frames"):
            if getattr(self, field) < 1:
                problems.append(f"{field} must be at least 1, got {getattr(self, field)}")
        if not 1 <= self.frames_min <= self.frames_max:
            problems.append(f"need 1 <= frames_min <= frames_max, got {self.frames_min}, {self.frames_max}")
        if not 2 <= self.objects_min <= self.objects_max <= 8:
            problems.append(f"need 2 <= objects_min <= objects_max <= 8, got {self.objects_min}, {self.objects_max}")
        if self.expressions_max < 1:
            problems.append(f"expressions_max must be at least 1, got {self.expressions_max}")
        for field in ("twin_rate", "share_rate", "cross_edge_rate", "size_change_rate", "min_visible_share"):
            if not 0.0 <= getattr(self, field) <= 1.0:
                problems.append(f"{field} must lie in [0, 1], got {getattr(self, field)}")
        for field in ("small_radius", "large_radius", "size_change", "speed", "pan_speed", "noise_sigma"):
            low, high = getattr(self, field)
            if not 0.0 <= low <= high:
                problems.append(f"{field} must be (min, max) with 0 <= min <= max, got {(low, high)}")
        shrink, grow = self.size_change
        if self.small_radius[1] * grow >= self.large_radius[0] * shrink:
            problems.append("small and large radii overlap after a size change; widen the gap or narrow size_change")
        if not 1 <= self.jpeg_quality <= 100:
            problems.append(f"jpeg_quality must lie in 1..100, got {self.jpeg_quality}")
        if problems:
            raise GroPromptError(f"invalid SynRVOS config {self.name!r}: " + "; ".join(problems),
                                 fix="correct the preset or the command-line override")

    def replace(self, **changes: object) -> SynRVOSConfig:
        """A copy with ``changes`` applied and validated; None values are ignored (unset CLI overrides)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict:
        """JSON-ready fields (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


PRESETS: dict[str, SynRVOSConfig] = {
    # CI's end-to-end run: a few seconds.
    "smoke": SynRVOSConfig(name="smoke", train_videos=12, valid_videos=8, pretrain_frames=600),
    # The embedded default study (docs/synthetic_benchmark.md "Size": the whole study in <= 15 min on 2 cores). 8,000
    # stills cost ~30 s of CPU (15-20 s on 2 cores); docs/stack_notes.md's recipe used 16,000: raise
    # pretrain_frames if the pre-training budget grows.
    "default": SynRVOSConfig(name="default"),
}


def get_preset(name: str) -> SynRVOSConfig:
    """The preset called ``name``; an error listing the valid names if there is none."""
    try:
        return PRESETS[name]
    except KeyError:
        raise GroPromptError(f"unknown SynRVOS preset {name!r}; valid: {', '.join(sorted(PRESETS))}",
                             fix="pass one of the listed presets") from None
