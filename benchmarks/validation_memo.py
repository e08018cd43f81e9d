"""Time of opening a split with Ref-YouTube-VOS train's counts: first open, second open of the unchanged split, and
an open after touching a share of its files (groprompt.data.validation: each unchanged file is checked once).

Writes (once; reused while its counts match) a folder in the Ref-YouTube-VOS layout outside the checkout: 3,471
videos, about 94,000 JPEG frames and as many label PNGs (tiny images: it is the per-file cost that matters),
meta.json and meta_expressions.json. Then, each in a fresh process with its own empty memo folder:

* ``sequential``: the checks as they were before the memo (memo off, one thread), with ``--baseline``;
* ``first``: memo empty, files checked in the thread pool;
* ``second``: the split unchanged;
* ``touched``: after ``os.utime`` on ``--touch`` (1 %) of the frame and mask files, chosen at random.

Prints, per open (:func:`open_once`): wall and CPU time of ``open_dataset``, of the file checks of the split
(``FileChecks.prefetch``) and of the per-video checks from their results, files read and files remembered; then
the memo file's size, and the machine and its load.

    python benchmarks/validation_memo.py [--root /tmp/groprompt-refytvos-counts] [--baseline] [--threads N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

CHECKOUT = Path(__file__).resolve().parent.parent
VIDEOS = 3471
FRAMES = 94_000
"""Ref-YouTube-VOS 2021 train: 3,471 videos, about 94k annotated frames (every fifth frame of each clip)."""


def _jpeg(size: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
        buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _png(size: int) -> bytes:
    labels = np.zeros((size, size), np.uint8)
    labels[: size // 2, : size // 2] = 1
    labels[size // 2:, size // 2:] = 2
    image = Image.fromarray(labels, mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 - 3) * 3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def generate(root: Path, videos: int, frames: int, size: int) -> None:
    """Write the split (unless ``root/counts.json`` says it holds these counts already)."""
    counts = {"videos": videos, "frames": frames, "size": size}
    marker = root / "counts.json"
    if marker.exists() and json.loads(marker.read_text()) == counts:
        print(f"reusing {root} ({videos} videos, {frames} frames)")
        return
    if root.exists():
        shutil.rmtree(root)
    start = time.perf_counter()
    jpeg, png = _jpeg(size), _png(size)
    base, extra = divmod(frames, videos)
    meta, expressions = {}, {}
    for index in range(videos):
        name = f"{index:05x}{(index * 2654435761) % 16**5:05x}"  # 10 hex digits, as the real video ids
        names = [f"{5 * i:05d}" for i in range(base + (index < extra))]
        for folder, suffix, data in (("JPEGImages", "jpg", jpeg), ("Annotations", "png", png)):
            video_dir = root / "train" / folder / name
            video_dir.mkdir(parents=True)
            for frame in names:
                with open(video_dir / f"{frame}.{suffix}", "wb") as handle:
                    handle.write(data)
        meta[name] = {"objects": {"1": {"category": "cat", "frames": names}, "2": {"category": "dog", "frames": names}}}
        expressions[name] = {"expressions": {str(i): {"exp": f"the animal number {i % 2 + 1}", "obj_id": str(i % 2 + 1)}
                                             for i in range(4)}, "frames": names}
    (root / "train" / "meta.json").write_text(json.dumps({"videos": meta}))
    (root / "meta_expressions" / "train").mkdir(parents=True)
    (root / "meta_expressions" / "train" / "meta_expressions.json").write_text(json.dumps({"videos": expressions}))
    marker.write_text(json.dumps(counts))
    print(f"wrote {root}: {videos} videos, {frames} frames and {frames} masks in {time.perf_counter() - start:.1f} s")


def open_once(root: Path) -> dict:
    """Open the split in this process; the environment says where the memo is and how many threads check.

    ``checks_s`` is the time of the file checks of the whole split (``FileChecks.prefetch``: memo, reading);
    ``video_checks_s`` that of the checks of each video from their results (one size per video, label ids declared
    in meta.json); ``open_s`` all of ``open_dataset`` (JSON files, folder listings, the videos' objects);
    ``cpu_s`` the process's CPU time (user + system, all threads) during the open."""
    sys.path.insert(0, str(CHECKOUT))
    import groprompt.data.refytvos as refytvos
    import groprompt.data.validation as validation
    from groprompt.data import open_dataset

    prefetches: list = []
    video_checks = [0.0]
    prefetch = validation.FileChecks.prefetch

    def timed_prefetch(self, files):
        start = time.perf_counter()
        prefetch(self, files)
        prefetches.append((time.perf_counter() - start, self.checked, self.remembered))

    def timed(check):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return check(*args, **kwargs)
            finally:
                video_checks[0] += time.perf_counter() - start
        return run

    validation.FileChecks.prefetch = timed_prefetch
    refytvos.check_frames = timed(refytvos.check_frames)
    refytvos.check_label_maps = timed(refytvos.check_label_maps)
    cpu, start = _cpu(), time.perf_counter()
    dataset = open_dataset("refytvos", root, "train")
    total, cpu = time.perf_counter() - start, _cpu() - cpu
    frames = sum(len(video.frame_names) for video in dataset.videos)
    (checks, read, remembered), = prefetches
    return {"open_s": total, "cpu_s": cpu, "checks_s": checks, "video_checks_s": video_checks[0], "read": read,
            "remembered": remembered, "videos": len(dataset.videos), "frames": frames}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _open_in_process(root: Path, env: dict) -> dict:
    result = subprocess.run([sys.executable, __file__, "--open", str(root)], env={**os.environ, **env},
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _touch(root: Path, share: float, seed: int) -> int:
    files = [path for folder in ("JPEGImages", "Annotations") for path in (root / "train" / folder).rglob("*.*")]
    chosen = random.Random(seed).sample(files, round(share * len(files)))
    for path in chosen:
        os.utime(path)
    return len(chosen)


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{cpu}, {len(os.sched_getaffinity(0))} CPUs usable, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/groprompt-refytvos-counts"))
    parser.add_argument("--videos", type=int, default=VIDEOS)
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--size", type=int, default=16, help="frame side in pixels")
    parser.add_argument("--touch", type=float, default=0.01, help="share of files touched before the last open")
    parser.add_argument("--threads", type=int, default=None, help="GROPROMPT_CHECK_THREADS (default: its default)")
    parser.add_argument("--baseline", action="store_true", help="also time the sequential checks without memo")
    parser.add_argument("--open", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.open is not None:
        print(json.dumps(open_once(args.open)))
        return
    if CHECKOUT in args.root.resolve().parents:
        parser.error("--root must be outside the checkout")
    generate(args.root, args.videos, args.frames, args.size)
    memo = args.root.parent / f"{args.root.name}-memo"
    shutil.rmtree(memo, ignore_errors=True)
    env = {"GROPROMPT_VALIDATION_MEMO": str(memo)}
    if args.threads is not None:
        env["GROPROMPT_CHECK_THREADS"] = str(args.threads)
    print(f"machine: {_machine()}; load average before: {os.getloadavg()}")
    runs = []
    if args.baseline:
        runs.append(("sequential, no memo", {"GROPROMPT_VALIDATION_MEMO": "off", "GROPROMPT_CHECK_THREADS": "1"}))
    runs += [("first open", env), ("second open, unchanged", env)]
    touched = None
    for label, run_env in [*runs, ("after touching", env)]:
        if label == "after touching":
            touched = _touch(args.root, args.touch, seed=0)
            label = f"after touching {touched}"
        r = _open_in_process(args.root, run_env)
        print(f"{label:24s} open {r['open_s']:6.2f} s (CPU {r['cpu_s']:6.2f} s): file checks {r['checks_s']:6.2f} s, "
              f"per-video checks {r['video_checks_s']:5.2f} s; read {r['read']:6d}, remembered {r['remembered']:6d} "
              f"({r['videos']} videos, {r['frames']} frames)", flush=True)
    sizes = sum(path.stat().st_size for path in memo.glob("*.json"))
    print(f"memo: {sizes / 1e6:.1f} MB in {memo}; load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
