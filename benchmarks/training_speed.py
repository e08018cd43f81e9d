"""Training speed and peak memory of GroPrompt, with and without L_contra (docs/method_spec.md §2-§5), and of the
plain fine-tuning baseline (the detector's own loss, ``objective: detector``), in one run.

    python benchmarks/training_speed.py                                   # tiny stand-ins, CPU, 96x96 frames
    python benchmarks/training_speed.py --size paper --device cuda        # Swin-B + BERT-base + SAM ViT-H
    python benchmarks/training_speed.py --size paper --device cuda --precision bf16

Every variant runs the real training step (:class:`groprompt.training.Trainer`: prompter forward(s), L_box,
TextCon through SAM's prompt encoder, ModalCon over SAM image embeddings, or the detector loss on every decoder
layer with its Hungarian matching, backward, clipping, AdamW) on synthetic
clips: random frames, random boxes, two objects a video with one expression each, so every clip has a negative
sentence and pays the full contrastive cost. Weights are random (speed does not depend on their values); the
``paper`` size uses a BERT-base-uncased tokenizer (``full_size.py``: the MiniLM package's vocabulary, or a generated
one where the package is not installed). ``--precision`` is ``groprompt train``'s (bf16: autocast forward passes,
float32 weights and optimiser state).

Each variant runs in a fresh process, so one's peak memory is not the other's. Memory: on CUDA the peak of
``torch.cuda.max_memory_allocated`` over the timed steps; on the CPU the process's own peak resident set size, after
setup and at the end (it includes the Python interpreter, libraries and models). SAM image embeddings are computed
for every clip (``--warm-cache`` reuses them, as a shared embedding cache does after the first epoch).
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VARIANTS = {
    "L_box only": {"lambda_f": 0.0, "lambda_v": 0.0},
    "L_box + L_contra": {"lambda_f": 0.01, "lambda_v": 0.1},
    "detector loss": {"objective": "detector", "lambda_f": 0.0, "lambda_v": 0.0},
}
"""Variant name -> its TrainingConfig keys; the contrastive weights are the paper's Ref-YouTube-VOS ones (§5)."""

SIZES = {"tiny": ("tiny", "tiny", (96, 96)), "paper": ("swin-b", "vit_h", (480, 854))}
"""--size -> (prompter size, SAM variant, default frame (H, W)): SynRVOS frames for tiny, DAVIS 480p for paper."""


@dataclass(frozen=True)
class Setting:
    size: str
    device: str
    frame: tuple[int, int]
    clip_length: int
    warmup: int
    steps: int
    threads: int | None
    warm_cache: bool
    precision: str = "fp32"


@dataclass(frozen=True)
class Result:
    variant: str
    seconds_per_step: float
    setup_memory_mib: float
    peak_memory_mib: float
    memory_kind: str


def _synthetic_videos(frame: tuple[int, int], num_frames: int, seed: int) -> list:
    """Two in-memory videos of random frames; two objects each with random boxes and one expression each."""
    from groprompt.data.model import BoxOnlyVideo, Expression
    from groprompt.training import TrainVideo

    rng = np.random.default_rng(seed)
    height, width = frame
    videos = []
    for index in range(2):
        pixels = rng.integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8)
        corners = rng.uniform(0.05, 0.45, (2, num_frames, 2)) * [width, height]
        sizes = rng.uniform(0.2, 0.5, (2, num_frames, 2)) * [width, height]
        boxes = {obj + 1: np.concatenate((corners[obj], corners[obj] + sizes[obj]), axis=1) for obj in range(2)}
        view = BoxOnlyVideo(dataset="synthetic", split="train", name=f"video_{index}",
                            frame_paths=tuple(Path(f"{t:05d}.jpg") for t in range(num_frames)), size=frame,
                            expressions=(Expression("0", "the red circle moving left", 1),
                                         Expression("1", "the small blue square", 2)),
                            boxes=boxes, annotated=np.ones(num_frames, dtype=bool), frame_reader=pixels.__getitem__)
        videos.append(TrainVideo(view, tuple(f"{t:05d}" for t in range(num_frames))))
    return videos


def _models(setting: Setting, device, with_sam: bool):
    """The prompter, and SAM only where the variant uses it (L_box-only training never loads it)."""
    import tempfile

    from groprompt.prompting import build_prompter
    from groprompt.segmentation import EmbeddingCache, Segmentor, build_sam

    prompter_size, sam_variant, _ = SIZES[setting.size]
    if prompter_size == "tiny":  # its text backbone and tokenizer are the MiniLM package's
        prompter = build_prompter(prompter_size)
    else:
        from full_size import bert_tokenizer

        with tempfile.TemporaryDirectory() as folder:
            prompter = build_prompter(prompter_size, tokenizer_dir=bert_tokenizer(Path(folder))[0])
    if not with_sam:
        return prompter, None
    cache = EmbeddingCache(memory_frames=1024 if setting.warm_cache else 0)
    return prompter, Segmentor(build_sam(sam_variant), device=device, cache=cache, precision=setting.precision)


def _rss_mib() -> float:
    from groprompt.reporting.run_stats import peak_rss_mb

    return peak_rss_mb()[0]  # this process's own peak (getrusage's would hold the parent's: see there)


def run_variant(variant: str, setting: Setting) -> Result:
    """Build the models in this (fresh) process, warm up, then time ``setting.steps`` optimiser steps."""
    import torch

    from groprompt.training import ClipSampler, DistributedContext, Trainer, TrainingConfig

    if setting.threads:
        torch.set_num_threads(setting.threads)
    device = torch.device(setting.device)
    config = TrainingConfig(prompter_size=SIZES[setting.size][0], clip_length=setting.clip_length,
                            **VARIANTS[variant])
    sampler = ClipSampler(_synthetic_videos(setting.frame, 2 * setting.clip_length, seed=0), config.clip_length,
                          config.seed)
    prompter, segmentor = _models(setting, device, with_sam=config.contrastive)
    trainer = Trainer.build(config, prompter, segmentor, DistributedContext(device=device), setting.precision)
    batches = (sampler.batch(epoch, step, 0, 1, 1) for epoch in range(10**6) for step in range(len(sampler.pairs)))

    def synchronise() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(setting.warmup):
        trainer.step(next(batches))
    synchronise()
    setup_memory = _rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        setup_memory = torch.cuda.memory_allocated(device) / 2**20
    start = time.perf_counter()
    for _ in range(setting.steps):
        trainer.step(next(batches))
    synchronise()
    seconds = (time.perf_counter() - start) / setting.steps
    if device.type == "cuda":
        return Result(variant, seconds, setup_memory, torch.cuda.max_memory_allocated(device) / 2**20,
                      "CUDA allocated")
    return Result(variant, seconds, setup_memory, _rss_mib(), "process RSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny",
                        help="tiny: the stand-ins; paper: Swin-B Grounding DINO + SAM ViT-H (random weights)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: %(default)s)")
    parser.add_argument("--frame", type=int, nargs=2, metavar=("H", "W"), help="frame size (default: per size)")
    parser.add_argument("--clip-length", type=int, default=5, help="T (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--warm-cache", action="store_true", help="reuse SAM embeddings across steps")
    parser.add_argument("--precision", choices=("fp32", "tf32", "bf16"), default="fp32",
                        help="of the forward passes, as groprompt train --precision (default: %(default)s)")
    args = parser.parse_args()
    setting = Setting(args.size, args.device, tuple(args.frame or SIZES[args.size][2]), args.clip_length,
                      args.warmup, args.steps, args.threads, args.warm_cache, args.precision)
    print(f"GroPrompt training step, {setting.size} models, {setting.precision}, {setting.device}, frames "
          f"{setting.frame[0]}x"
          f"{setting.frame[1]}, T={setting.clip_length}, 1 clip/step, {setting.steps} timed steps after "
          f"{setting.warmup} warm-up, SAM embeddings {'cached' if setting.warm_cache else 'computed every step'}")
    results = []
    context = multiprocessing.get_context("spawn")
    for variant in VARIANTS:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            results.append(pool.submit(run_variant, variant, setting).result())
    print(f"| variant | steps/s | s/step | {results[0].memory_kind} after warm-up (MiB) | peak (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for result in results:
        print(f"| {result.variant} | {1 / result.seconds_per_step:.2f} | {result.seconds_per_step:.3f} | "
              f"{result.setup_memory_mib:.0f} | {result.peak_memory_mib:.0f} |")
    box_only, contrastive, detector = results
    print(f"L_contra costs x{contrastive.seconds_per_step / box_only.seconds_per_step:.2f} time per step, the "
          f"detector loss x{detector.seconds_per_step / box_only.seconds_per_step:.2f}, both against L_box only")


if __name__ == "__main__":
    main()
