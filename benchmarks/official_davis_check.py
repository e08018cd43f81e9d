"""Side by side: `groprompt evaluate` and the official davis2017-evaluation code on the same DAVIS-2017 data.

Runs both tasks the official code has, unsupervised (`groprompt evaluate --protocol assignment`, the Ref-DAVIS17
protocol) and semi-supervised (`--protocol semi-supervised`), and prints, per task, the largest absolute difference
of every global statistic (J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay) and of every per-object
one (each object of each sequence, matched by name: the official code lists the assigned pairs in proposal order,
so its matching is recorded to know which object each entry is), with the wall time of each. The official code is
not part of this repository: give the folder that holds its `davis2017` package (a clone of the official
davis2017-evaluation repository; it needs opencv-python and scikit-image) with --official; without it only
`groprompt evaluate` runs. --baseline PATH times (and compares) another checkout's `groprompt evaluate` on the same
data, e.g. the previous commit's package extracted with `git archive`.

Data: a DAVIS folder (--davis-root with ImageSets/2017/<set>.txt, Annotations_unsupervised/480p and
Annotations/480p) and one prediction folder per task (--unsupervised-results, --semi-supervised-results:
<sequence>/<frame>.png label maps), or, by default, a seeded synthetic set in that layout written to --workdir: smooth
moving objects with void bands at their edges, some absent from frames, sequences with an object absent from the
first frame and with an id that appears only later; unsupervised predictions with permuted ids, a
never-predicted object next to a false positive, an object carried by an id above the others, extra proposals and
empty frames; semi-supervised predictions with id k on object k, missing objects and pixels on void.

    python benchmarks/official_davis_check.py --official /path/to/davis2017-evaluation \
        [--sequences 8 --frames 40 --height 480 --width 854 --seed 0] [--baseline /path/to/old/checkout]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "tests"))

from mask_samples import smooth_field  # noqa: E402

from groprompt.masks import write_label_png  # noqa: E402

MEASURES = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
PER_OBJECT = ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
TASKS = {"unsupervised": ("assignment", "Annotations_unsupervised"),
         "semi-supervised": ("semi-supervised", "Annotations")}
"""Official task -> (groprompt protocol, annotation folder the official code reads for it)."""


# ---------------------------------------------------------------------------------------------- synthetic set


def _objects(rng: np.random.Generator, frames: int, height: int, width: int,
             count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` moving blobs: a smooth field thresholded to a few per cent of the frame, shifted a few pixels per
    frame; returns the ``(T, H, W)`` masks and, for each, a prediction of it whose boundary a finer smooth field
    moves by a few pixels (a random amount per frame)."""
    masks, predictions = [], []
    for _ in range(count):
        field = smooth_field(rng, 1, height, width, min(height, width) / 10)[0]
        wobble = smooth_field(rng, 1, height, width, min(height, width) / 30)[0]
        level = np.quantile(field, 1 - rng.uniform(0.02, 0.08))
        dy, dx = rng.integers(-3, 4, size=2)
        errors = rng.uniform(0.05, 0.6, size=frames)
        masks.append(np.stack([np.roll(field > level, (t * dy, t * dx), axis=(0, 1)) for t in range(frames)]))
        predictions.append(np.stack([np.roll(field + errors[t] * wobble > level, (t * dy, t * dx), axis=(0, 1))
                                     for t in range(frames)]))
    return masks, predictions


def write_synthetic(root: Path, sequences: int, frames: int, height: int, width: int, seed: int) -> tuple[Path, Path]:
    """Write the synthetic DAVIS folder under ``root``; returns the two prediction folders (unsupervised,
    semi-supervised)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    names = [f"seq{index:02d}" for index in range(sequences)]
    unsupervised, semi = root / "results" / "unsupervised", root / "results" / "semi-supervised"
    for index, name in enumerate(names):
        length = int(rng.integers(max(3, frames // 2), frames * 3 // 2 + 1))
        count = int(rng.integers(2, 6))
        objects, predicted = _objects(rng, length, height, width, count)
        for mask in objects:  # some objects leave for a while (never from the first frame here)
            if rng.random() < 0.5:
                start = int(rng.integers(1, length))
                mask[start:start + int(rng.integers(1, max(2, length // 3)))] = False
        case = index % 5
        if case == 1:  # the object that will never be predicted leaves for the last third
            objects[0][length - length // 3:] = False
        if case == 3:
            objects[0][0] = False  # an object (id 1 <= the first frame's largest id) absent from the first frame
        labels = np.zeros((length, height, width), dtype=np.uint8)
        for k, mask in enumerate(objects, start=1):
            labels[mask] = k
        if case == 4:  # an id above the first frame's largest that appears only later: no object officially
            late = _objects(rng, length, height, width, 1)[0][0]
            late[: length // 2] = False
            labels[late & (labels == 0)] = count + 1
        edges = np.stack([ndimage.binary_dilation(frame > 0, iterations=2) for frame in labels]) & (labels == 0)
        labels[edges & (rng.random() < 0.7)] = 255  # void bands at the objects' edges, on most frames
        for folder in ("Annotations_unsupervised", "Annotations"):
            for t, frame in enumerate(labels):
                write_label_png(root / folder / "480p" / name / f"{t:05d}.png", frame)

        ids = list(rng.permutation(count) + 1)
        extra: list[np.ndarray] = []
        if case == 1:  # object 1 never predicted (its id is absent); a false positive carries id count + 1
            ids = [0, *range(2, count + 1)]
            extra = _objects(rng, length, height, width, 1)[1]
        elif case == 2:  # object 1 predicted only under an id above every other (its own id is absent)
            ids = list(range(1, count + 1))
            ids[0] = count + 2
        elif case == 3:  # more proposals than objects
            extra = _objects(rng, length, height, width, 3)[1]
        pred = np.zeros_like(labels)
        for mask, pred_id in zip(predicted, ids, strict=True):
            pred[mask] = pred_id
        for k, mask in enumerate(extra, start=count + 1):
            pred[mask & (pred == 0)] = k
        pred[rng.random(length) < 0.1] = 0  # empty frames
        semi_pred = np.zeros_like(labels)
        for k, mask in enumerate(predicted, start=1):
            if rng.random() < 0.85:  # some objects never predicted
                semi_pred[mask] = k
        for t in range(length):
            write_label_png(unsupervised / name / f"{t:05d}.png", pred[t])
            write_label_png(semi / name / f"{t:05d}.png", semi_pred[t])
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("".join(f"{name}\n" for name in names))
    return unsupervised, semi


# ---------------------------------------------------------------------------------------------- the runs


def run_groprompt(python_path: Path | None, pred: Path, gt: Path, protocol: str, out: Path, workers: int,
                  scored: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """``groprompt evaluate`` in a fresh process, importing the ``groprompt`` package of ``python_path`` (default:
    this checkout's), scoring ``scored`` (default: ``protocol``; e.g. ``both``); its per-object rows of
    ``protocol``, its ``mean`` summary row, and the wall time."""
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{python_path or REPOSITORY}{os.pathsep}{env.get('PYTHONPATH', '')}"
    command = [sys.executable, "-m", "groprompt.cli", "evaluate", "--pred", str(pred), "--gt", str(gt), "--layout",
               "davis", "--protocol", scored or protocol, "--out", str(out), "--workers", str(workers)]
    start = time.perf_counter()
    # Run from the score folder: `python -m` puts the working directory first on the path, before PYTHONPATH.
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(command, env=env, cwd=out, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"groprompt evaluate failed ({' '.join(command)}): {result.stderr.strip().splitlines()[-1]}")
    per_object = pd.read_csv(out / "per_object.csv")
    summary = pd.read_csv(out / "summary.csv")
    return (per_object[per_object["protocol"] == protocol],
            summary[(summary["set"] == "mean") & (summary["protocol"] == protocol)], elapsed)


def run_official(official: Path, davis_root: Path, task: str, subset: str,
                 results: Path) -> tuple[dict[str, float], pd.DataFrame, float]:
    """The official evaluation in this process: global statistics (×100) and per-object rows (video, object_id,
    statistics in [0, 1]), and its wall time."""
    sys.path.insert(0, str(official))
    import davis2017.evaluation as official_evaluation

    # The official code returns the matched pairs in proposal order under the names <seq>_1..; record each
    # matching to know which ground-truth object every entry is.
    matchings: list[np.ndarray] = []
    solve = official_evaluation.linear_sum_assignment

    def recording(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = solve(cost)
        matchings.append(cols)
        return rows, cols

    official_evaluation.linear_sum_assignment = recording
    try:
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # its progress bar
            evaluation = official_evaluation.DAVISEvaluation(str(davis_root), task, subset, codalab=True)
            metrics = evaluation.evaluate(str(results))
        elapsed = time.perf_counter() - start
    finally:
        official_evaluation.linear_sum_assignment = solve
    j, f = metrics["J"], metrics["F"]
    rows, sequence, cols = [], None, None
    for index, name in enumerate(j["M_per_object"]):
        video, entry = name.rsplit("_", 1)
        if video != sequence:
            sequence, cols = video, matchings.pop(0) if task == "unsupervised" else None
        entry = int(entry) - 1
        obj = int(cols[entry]) + 1 if cols is not None else entry + 1
        rows.append({"video": video, "object_id": obj,
                     "J-Mean": j["M"][index], "J-Recall": j["R"][index], "J-Decay": j["D"][index],
                     "F-Mean": f["M"][index], "F-Recall": f["R"][index], "F-Decay": f["D"][index]})
    figures = (np.mean(j["M"]) + np.mean(f["M"])) / 2, np.mean(j["M"]), np.mean(j["R"]), np.mean(j["D"]), \
        np.mean(f["M"]), np.mean(f["R"]), np.mean(f["D"])
    return {name: 100 * float(value) for name, value in zip(MEASURES, figures, strict=True)}, pd.DataFrame(rows), \
        elapsed


def _differences(ours: tuple[pd.DataFrame, pd.DataFrame], other_global: dict[str, float],
                 other_objects: pd.DataFrame) -> tuple[dict[str, float], dict[str, float], int, int]:
    """Max |difference| of each global (×100) and per-object statistic (over the objects both list), the number of
    objects both list and the number only one lists."""
    per_object, summary = ours
    global_diff = {name: abs(float(summary[name].iloc[0]) - other_global[name]) for name in MEASURES}
    merged = per_object.merge(other_objects, on=["video", "object_id"], suffixes=("", "_other"), how="outer",
                              indicator=True)
    unmatched = int((merged["_merge"] != "both").sum())
    merged = merged[merged["_merge"] == "both"]
    object_diff = {}
    for name in PER_OBJECT:
        a, b = merged[name].to_numpy(float), merged[f"{name}_other"].to_numpy(float)
        same_nan = np.isnan(a) & np.isnan(b)
        object_diff[name] = float(np.max(np.where(same_nan, 0.0, np.abs(a - b)), initial=0.0))
    return global_diff, object_diff, len(merged), unmatched


def _from_groprompt(per_object: pd.DataFrame, summary: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    return ({name: float(summary[name].iloc[0]) for name in MEASURES},
            per_object[["video", "object_id", *PER_OBJECT]].reset_index(drop=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=None,
                        help="folder holding the official davis2017 package (davis2017-evaluation clone)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout's folder holding its groprompt package: timed and compared too")
    parser.add_argument("--davis-root", type=Path, default=None, help="a DAVIS-2017 folder (default: synthetic)")
    parser.add_argument("--set", default="val", help="ImageSets/2017/<set>.txt of --davis-root (default: val)")
    parser.add_argument("--unsupervised-results", type=Path, default=None)
    parser.add_argument("--semi-supervised-results", type=Path, default=None)
    parser.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=list(TASKS))
    parser.add_argument("--workdir", type=Path, default=None, help="where the synthetic set and scores go")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--frames", type=int, default=40, help="mean frames per synthetic sequence")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="groprompt evaluate --workers (default 1)")
    parser.add_argument("--unsupervised-protocol", choices=("assignment", "both"), default="assignment",
                        help="what groprompt evaluate scores for the unsupervised task: the assignment alone, or "
                             "both (assignment and strict, its default); the assignment's rows are compared")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="official_davis_check_"))
    if args.davis_root is None:
        root = workdir / "DAVIS"
        results = dict(zip(TASKS, write_synthetic(root, args.sequences, args.frames, args.height, args.width,
                                                  args.seed), strict=True))
        frames = sum(1 for _ in (root / "Annotations" / "480p").rglob("*.png"))
        print(f"synthetic DAVIS set: {args.sequences} sequences, {frames} frames of {args.height}x{args.width}, "
              f"seed {args.seed}, in {root}")
    else:
        root = args.davis_root
        results = {"unsupervised": args.unsupervised_results, "semi-supervised": args.semi_supervised_results}
    with contextlib.suppress(OSError):
        print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")

    agree = True
    for task in args.tasks:
        if results[task] is None:
            print(f"{task}: no prediction folder given; skipped")
            continue
        protocol, folder = TASKS[task]
        gt = root / folder / "480p"
        scored = args.unsupervised_protocol if task == "unsupervised" else None
        ours = run_groprompt(None, results[task], gt, protocol, workdir / "scores" / task / "groprompt",
                             args.workers, scored)
        print(f"\n{task} task (groprompt evaluate --protocol {scored or protocol}; ground truth {gt})")
        print(f"  groprompt evaluate: {ours[2]:7.1f} s   J&F-Mean {float(ours[1]['J&F-Mean'].iloc[0]):.4f}")
        others = []
        if args.official is not None:
            global_, objects, elapsed = run_official(args.official, root, task, args.set, results[task])
            others.append(("official", global_, objects, elapsed))
        if args.baseline is not None:
            try:
                base = run_groprompt(args.baseline, results[task], gt, protocol,
                                     workdir / "scores" / task / "baseline", args.workers, scored)
                others.append(("baseline", *_from_groprompt(base[0], base[1]), base[2]))
            except RuntimeError as error:  # a checkout from before the task existed
                print(f"  baseline: not run ({error})")
        for name, global_, objects, elapsed in others:
            global_diff, object_diff, count, unmatched = _differences(ours[:2], global_, objects)
            ratio = elapsed / ours[2]
            print(f"  {name:18s}: {elapsed:7.1f} s   J&F-Mean {global_['J&F-Mean']:.4f}   "
                  f"(its time / groprompt's: {ratio:.2f})")
            print("    max |difference|, global (x100): "
                  + ", ".join(f"{key} {value:.2e}" for key, value in global_diff.items()))
            print(f"    max |difference|, per object ({count} objects; {unmatched} listed by one side only): "
                  + ", ".join(f"{key} {value:.2e}" for key, value in object_diff.items()))
            if name == "official":
                agree &= unmatched == 0 and max(*global_diff.values(), *object_diff.values()) < 1e-9
    if args.official is not None:
        print("\nofficial and groprompt evaluate agree" if agree else "\nOFFICIAL AND GROPROMPT EVALUATE DIFFER")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
