"""Speed of the harness's models: one function per measurement, printed as a table.

    python benchmarks/models_speed.py                       # CPU, fp32, includes one full-size ViT-B embedding
    python benchmarks/models_speed.py --device cuda --precision bf16
    python benchmarks/models_speed.py --skip-full           # tiny models only (seconds)

Weights are random: speed does not depend on their values. Each measurement warms up once, then times whole calls
(synchronising CUDA); figures are for the machine it runs on and print with the thread count.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from groprompt.precision import PRECISIONS, forward_precision
from groprompt.prompting import build_prompter
from groprompt.segmentation import Segmentor, build_sam


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float
    unit: str
    note: str = ""


@dataclass(frozen=True)
class Setting:
    device: torch.device
    precision: str
    frame_size: int
    repeats: int


def _seconds_per_call(fn: Callable[[], object], setting: Setting) -> float:
    """Mean wall time of ``fn`` over ``setting.repeats`` calls after one warm-up call."""
    fn()
    _synchronise(setting.device)
    start = time.perf_counter()
    for _ in range(setting.repeats):
        fn()
    _synchronise(setting.device)
    return (time.perf_counter() - start) / setting.repeats


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _frames(count: int, size: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------- segmentor (SAM)


def tiny_segmentor_embed(setting: Setting, frames: int = 64, batch_size: int = 16) -> list[Measurement]:
    """Frames/s of the tiny SAM's image encoder (resize + normalise + encode), bypassing the cache."""
    segmentor = Segmentor(build_sam("tiny"), device=setting.device, precision=setting.precision, batch_size=batch_size)
    batch = _frames(frames, setting.frame_size)
    seconds = _seconds_per_call(lambda: segmentor.embed(batch), setting)
    return [Measurement("tiny SAM embed", frames / seconds, "frames/s",
                        f"{setting.frame_size}px frames, batch {batch_size}")]


def tiny_segmentor_segment(setting: Setting, frames: int = 32, boxes_per_frame: int = 4) -> list[Measurement]:
    """Boxes/s of the tiny SAM's mask decoding (prompt encoder + decoder + upsampling to the frame + threshold)."""
    segmentor = Segmentor(build_sam("tiny"), device=setting.device, precision=setting.precision)
    size = setting.frame_size
    embeddings = segmentor.embed(_frames(frames, size))
    corners = np.random.default_rng(1).uniform(0, size, (frames, boxes_per_frame, 2, 2))
    boxes = np.concatenate([corners.min(axis=2), corners.max(axis=2)], axis=-1)

    def decode_all() -> None:
        for embedding, frame_boxes in zip(embeddings, boxes):
            segmentor.segment(embedding, frame_boxes, (size, size))

    seconds = _seconds_per_call(decode_all, setting)
    return [Measurement("tiny SAM segment", frames * boxes_per_frame / seconds, "boxes/s",
                        f"{boxes_per_frame} boxes per decoder call, {size}px masks")]


def full_segmentor_embed(setting: Setting, variant: str = "vit_b") -> list[Measurement]:
    """Seconds for one full-size SAM image embedding of a 1024x1024 frame, and peak resident memory."""
    with setting.device:
        sam = build_sam(variant)
    segmentor = Segmentor(sam, device=setting.device, precision=setting.precision, batch_size=1)
    frame = _frames(1, 1024)
    seconds = _seconds_per_call(lambda: segmentor.embed(frame), dataclasses.replace(setting, repeats=1))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    measurements = [Measurement(f"SAM {variant} embed", seconds, "s/frame", "1024x1024, random weights")]
    if setting.device.type == "cuda":
        gpu_gb = torch.cuda.max_memory_allocated(setting.device) / 2**30
        measurements.append(Measurement(f"SAM {variant} peak GPU memory", gpu_gb, "GiB"))
    measurements.append(Measurement("peak resident memory (process)", peak_gb, "GiB", "CPU RSS so far"))
    return measurements


# ---------------------------------------------------------------------------------------------- prompter


def tiny_prompter(setting: Setting, frames: int = 32, batch_size: int = 16) -> list[Measurement]:
    """Frames/s of the tiny Grounding DINO prompter's top-1 box per frame (preprocess + forward + top-1)."""
    prompter = build_prompter("tiny").to(setting.device)
    batch = _frames(frames, setting.frame_size)
    def predict() -> None:
        with forward_precision(setting.precision, setting.device):
            prompter.predict_boxes(batch, "the small red circle on the left", batch_size=batch_size)

    seconds = _seconds_per_call(predict, setting)
    return [Measurement("tiny prompter", frames / seconds, "frames/s",
                        f"{setting.frame_size}px frames, batch {batch_size}, one sentence")]


TINY: list[Callable[[Setting], list[Measurement]]] = [tiny_segmentor_embed, tiny_segmentor_segment, tiny_prompter]
FULL: list[Callable[[Setting], list[Measurement]]] = [full_segmentor_embed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="as groprompt infer --precision: tf32 matrix products, or bf16 autocast")
    parser.add_argument("--skip-full", action="store_true",
                        help="skip the full-size models (ViT-B: ~16 s a frame on 2 CPU cores)")
    parser.add_argument("--frame-size", type=int, default=96, help="side of the tiny models' frames (SynRVOS: 96)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per tiny measurement")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    torch.manual_seed(0)
    setting = Setting(torch.device(args.device), args.precision, args.frame_size, args.repeats)
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# models_speed: {where}, {args.precision}, torch {torch.__version__}")
    print(f"{'measurement':<34} {'value':>10}  {'unit':<9} note")
    for benchmark in TINY + ([] if args.skip_full else FULL):
        for m in benchmark(setting):
            print(f"{m.name:<34} {m.value:>10.3g}  {m.unit:<9} {m.note}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
