"""What every on-disk layout of SynRVOS shares: frame names, a video's JPEG frames, a split's videos generated in
parallel, and the summary of a split's statistics.

The Ref-YouTube-VOS layout (:mod:`.writer`) and the MeViS layout (:mod:`.mevis_writer`) differ in how they store
expressions and masks, not in their frames: the same scene gives the same JPEG bytes in both.
"""

from __future__ import annotations

import multiprocessing.pool
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from PIL import Image
from tqdm import tqdm

from groprompt.data.synrvos.generate import GeneratedVideo

Result = TypeVar("Result")


def frame_names(num_frames: int) -> list[str]:
    return [f"{t:05d}" for t in range(num_frames)]


def write_frames(split_dir: Path, video: GeneratedVideo, jpeg_quality: int) -> list[str]:
    """Write ``<split_dir>/JPEGImages/<video>/<frame>.jpg`` for every frame; return the frame names."""
    names = frame_names(video.scene.num_frames)
    frame_dir = split_dir / "JPEGImages" / video.name
    frame_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(names, video.rendering.frames):
        # Written in place, not through a temporary file: ``split_dir`` lies inside the hidden partial folder,
        # which is renamed into place only when complete (generate_synrvos), so no reader sees a partial frame.
        # Fixed quality and chroma subsampling (none: 4:4:4 keeps small objects' colours): identical bytes.
        Image.fromarray(frame).save(frame_dir / f"{name}.jpg", format="JPEG", quality=jpeg_quality, subsampling=0)
    return names


@dataclass(frozen=True)
class VideoPool:
    """Runs a split's videos, in a process pool when there is one, and yields their results in video order.

    Attributes:
        pool: the worker processes, or None to run in this process.
        workers: how many processes ``pool`` has (sizes its chunks).
        progress: show a progress bar per split (on stderr).
    """

    pool: multiprocessing.pool.Pool | None
    workers: int
    progress: bool

    def run(self, make: Callable[[int], Result], count: int, desc: str) -> Iterable[Result]:
        """``make(0)``, ..., ``make(count - 1)`` in order; ``make`` must be picklable when there is a pool."""
        if self.pool is None:
            results = map(make, range(count))
        else:
            results = self.pool.imap(make, range(count), chunksize=max(1, min(64, count // (8 * self.workers))))
        return tqdm(results, total=count, desc=desc, unit="video", disable=not self.progress)


def add_statistics(totals: dict[str, float], stats: dict[str, float]) -> None:
    """Add one video's statistics to a split's running ``totals``."""
    for key, value in stats.items():
        totals[key] = totals.get(key, 0) + value


def summarise(totals: dict[str, float]) -> dict[str, float]:
    """The summed statistics, with the mean mask-to-box area ratio and the shares of look-alike expressions
    (``train``, ``valid``), of phrases naming several objects (``pretrain``) and of expressions referring to several
    objects (the MeViS layout)."""
    summary = {k: v for k, v in totals.items() if not k.startswith("mask_box_")}
    pairs = totals.get("mask_box_pairs", 0)
    summary["mask_box_area_ratio"] = round(totals["mask_box_ratio_sum"] / pairs, 4) if pairs else float("nan")
    for share, part, whole in (("lookalike_share", "expressions_lookalike", "expressions"),
                               ("phrases_naming_several_share", "phrases_naming_several", "phrases"),
                               ("multi_object_share", "expressions_multi_object", "expressions")):
        if totals.get(whole) and part in totals:
            summary[share] = round(totals[part] / totals[whole], 4)
    return summary
