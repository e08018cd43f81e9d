"""Throughput of GroPrompt at paper scale on one GPU, per precision, in one run and offline: end-to-end inference
through ``groprompt infer`` beside a naive Grounded-SAM-style loop, and training steps.

    python benchmarks/gpu_throughput.py --device cuda        # Swin-B Grounding DINO + SAM ViT-H, 480x854 frames
    python benchmarks/gpu_throughput.py                      # --size tiny: the stand-ins on the CPU (a check)

Every weight is random (speed does not depend on the values) and nothing is downloaded; the workdir receives:

1. a dataset in the Ref-YouTube-VOS layout: ``--videos`` videos of ``--frames`` frames (480x854 JPEGs for the
   paper size), two moving objects a video, ``--expressions`` referring expressions a video (so a frame), with
   annotations (training reads its boxes from them);
2. the models: the Grounding DINO prompter as a Hugging Face folder with a BERT-base-uncased tokenizer
   (``full_size.py``: the MiniLM package's vocabulary, or a generated one), SAM as a plain state dict (the official
   ``sam_vit_h_*.pth`` layout); the ``tiny`` size writes the stand-ins.

Then, each measurement in a fresh process (its peak memory its own):

* **inference**, per precision: ``groprompt --stats FILE infer --method grounded-sam`` (the prompter method on the
  random grounder, every mask written) with a memory-only embedding cache, so every frame is encoded once. From its
  ``run_stats.json``: expression-frames/s over the run, the prompter's and SAM's seconds and the rest (reading,
  writing, waiting), SAM encoder passes against frames; start-up (loading, checks, digests) is the process's wall
  time minus the run's and is shown apart;
* **naive**, per precision: Grounded-SAM as its demo runs, once per (frame, expression): the frame decoded and
  resized on the CPU, one Grounding DINO forward of that pair, ``SamPredictor.set_image`` (PIL resize, image
  encoder) and one box decoded, the mask written as a PNG. No sharing, batching or threads;
* **video methods**, per precision: ``groprompt infer`` of each of :data:`VIDEO_METHODS` (``--video-methods``), the
  methods that segment whole videos themselves (Grounded-SAM-2 prompted on the first frame or on its most confident
  one, GT box + SAM 2, SAM 3; docs/method_spec.md §10-§11) on random SAM 2.1 Hiera-L and SAM 3 models of the
  released shapes (``video_models.py``; the ``tiny`` size: the stand-ins' shapes);
* **training**, per precision and variant (L_box; L_box + L_contra): ``training_speed.py``'s measurement of the
  real training step on clips of T frames, one clip a step.

Memory: on CUDA the peak torch allocated (``max_memory_allocated``), on the CPU the process's peak RSS. The workdir
is a temporary folder unless ``--workdir`` names one, which a rerun then reuses (data and models already there).
To run this on a GPU machine that has no network, see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "tf32", "bf16")
SIZES = {"paper": ("swin-b", "vit_h", (480, 854)), "tiny": ("tiny", "tiny", (96, 96))}
"""--size -> (prompter size, SAM variant, frame (H, W)): DAVIS 480p for the paper's models."""
EXPRESSIONS = ("the man on the left riding a horse", "a small red car moving right", "the dog behind the person",
               "the white bird at the top", "the woman in the middle holding a bike",
               "a black cat sitting in front")
"""Sentences of the dataset, of the lengths of Ref-YouTube-VOS's (in the generated vocabulary's words)."""
VIDEO_METHODS = ("grounded-sam-2", "grounded-sam-2 (best frame)", "gt-box-sam2", "sam3")
"""The methods that segment whole videos themselves (docs/method_spec.md §10-§11), measured through groprompt infer."""


@dataclass(frozen=True)
class Study:
    """What one run measures, where."""

    size: str
    device: str
    videos: int
    frames: int
    expressions: int
    frame: tuple[int, int]
    precisions: tuple[str, ...]
    train_steps: int
    warmup: int
    clip_length: int
    threads: int | None
    workdir: Path
    video_methods: tuple[str, ...] = ()

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def prompter(self) -> Path:
        return self.workdir / "prompter"

    @property
    def sam(self) -> Path:
        return self.workdir / ("sam_vit_h.pth" if self.size == "paper" else "sam_tiny.pt")

    @property
    def sam2(self) -> Path:
        return self.workdir / "sam2"

    @property
    def sam3(self) -> Path:
        return self.workdir / "sam3"

    def method_options(self, row: str) -> tuple[str, list[str]]:
        """The method and ``--option`` values of an inference row of :data:`VIDEO_METHODS` or ``grounded-sam``."""
        grounder = [f"checkpoint={self.prompter}", f"size={SIZES[self.size][0]}"]
        return {"grounded-sam": ("grounded-sam", grounder),
                "grounded-sam-2": ("grounded-sam-2", [*grounder, f"tracker={self.sam2}"]),
                "grounded-sam-2 (best frame)": ("grounded-sam-2", [*grounder, f"tracker={self.sam2}",
                                                                     "prompt_frame=best"]),
                "gt-box-sam2": ("gt-box-sam2", [f"tracker={self.sam2}"]),
                "sam3": ("sam3", [f"sam3={self.sam3}"])}[row]


# ----------------------------------------------------------------------------------------------- inputs


def write_dataset(study: Study) -> None:
    """``--videos`` videos in the Ref-YouTube-VOS layout: smooth random backgrounds, two rectangles moving."""
    from PIL import Image

    from groprompt.masks import write_label_png

    rng = np.random.default_rng(0)
    height, width = study.frame
    meta, expressions = {}, {}
    rows, cols = np.mgrid[0:height, 0:width]
    for v in range(study.videos):
        name = f"video_{v:03d}"
        colours = rng.integers(0, 256, (2, 3))
        base = rng.uniform(40, 200, 3) + 30 * np.sin(rows / 37 + v)[..., None] + 30 * np.cos(cols / 53)[..., None]
        frame_names = [f"{5 * t:05d}" for t in range(study.frames)]
        for t, frame_name in enumerate(frame_names):
            labels = np.zeros((height, width), np.uint8)
            for k in range(2):
                top = int(height * (0.15 + 0.45 * k))
                left = int((width * 0.1 + t * width * 0.6 / study.frames + k * width * 0.2) % (width * 0.7))
                labels[top:top + height // 4, left:left + width // 5] = k + 1
            pixels = base + rng.normal(0, 4, (height, width, 3))
            for k in range(2):
                pixels[labels == k + 1] = colours[k]
            path = study.data / "train" / "JPEGImages" / name / f"{frame_name}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
            write_label_png(study.data / "train" / "Annotations" / name / f"{frame_name}.png", labels)
        meta[name] = {"objects": {str(k + 1): {"category": "thing", "frames": frame_names} for k in range(2)}}
        expressions[name] = {"frames": frame_names, "expressions": {
            str(e): {"exp": EXPRESSIONS[(v + e) % len(EXPRESSIONS)], "obj_id": str(e % 2 + 1)}
            for e in range(study.expressions)}}
    (study.data / "train" / "meta.json").write_text(json.dumps({"videos": meta}))
    folder = study.data / "meta_expressions" / "train"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta_expressions.json").write_text(json.dumps({"videos": expressions}))


def write_models(study: Study) -> str:
    """Whatever of the prompter folder, the SAM file and the video models (those ``study.video_methods`` need) is not
    in the workdir yet; returns where the tokenizer's vocabulary came from."""
    import torch
    from video_models import write_sam2, write_sam3

    from groprompt.prompting import build_detector, build_prompter
    from groprompt.segmentation import SAM_VARIANTS, build_sam, save_sam

    prompter_size, sam_variant, _ = SIZES[study.size]
    source = "as written before (--workdir)"
    # Random initialisation of ViT-H and Swin-B takes minutes on a CPU, seconds on the GPU.
    with torch.device(study.device):
        if not (study.prompter / "model.safetensors").is_file():
            if prompter_size == "tiny":
                prompter = build_prompter("tiny")
                detector, source = prompter.detector, "the MiniLM package's"
                prompter.tokenizer.save_pretrained(study.prompter)
            else:
                from full_size import bert_tokenizer

                detector = build_detector(prompter_size)
                source = bert_tokenizer(study.prompter)[1]
            detector.save_pretrained(study.prompter)
        if not study.sam.is_file():
            sam = build_sam(sam_variant).cpu()
            if sam_variant in ("vit_b", "vit_l", "vit_h"):  # the official release's layout: a plain state dict
                torch.save(sam.state_dict(), study.sam)
            else:
                save_sam(sam, SAM_VARIANTS[sam_variant], study.sam)
        if set(study.video_methods) - {"sam3"} and not (study.sam2 / "config.json").is_file():
            write_sam2(study.sam2, study.size)
        if "sam3" in study.video_methods and not (study.sam3 / "config.json").is_file():
            write_sam3(study.sam3, study.size)
    return source


# ----------------------------------------------------------------------------------------------- inference


def run_infer(study: Study, precision: str, row: str = "grounded-sam") -> dict:
    """``groprompt infer`` of one row (``grounded-sam``, the prompter method on the random grounder, or one of
    :data:`VIDEO_METHODS`) in its own process; its run statistics and stage record."""
    _, sam_variant, _ = SIZES[study.size]
    method, options = study.method_options(row)
    name = f"{row.replace(' ', '_').replace('(', '').replace(')', '')}_{precision}"
    out = study.workdir / f"infer_{name}"
    shutil.rmtree(out, ignore_errors=True)
    stage = study.workdir / f"infer_{name}.stats.json"
    segmentor = ["--segmentor", str(study.sam), "--segmentor-variant", sam_variant] if row == "grounded-sam" else []
    command = [sys.executable, "-m", "groprompt.cli", "--stats", str(stage), "infer", "--method", method,
               *(flag for option in options for flag in ("--option", option)),
               "--dataset-kind", "refytvos", "--data", str(study.data), "--split", "train", *segmentor,
               "--precision", precision, "--device", study.device, "--out", str(out),
               "--baselines-dir", str(REPO / "baselines")]
    _run(command, study, study.workdir / f"infer_{name}.log")
    run = json.loads((out / "run_stats.json").read_text())
    record = json.loads(stage.read_text())
    cache = run["segmentor_cache"] or {}
    return {"expression_frames": run["expression_frames"], "frames": run["frames"], "seconds": run["seconds"],
            "prompter": run["method_seconds"], "sam": run["segmentor_seconds"],
            "encoder_passes": cache.get("encoder_passes"),
            "startup": record["wall_seconds"] - run["seconds"],
            "memory": record["peak_gpu_memory_mb"] if study.device != "cpu" else record["peak_rss_mb"]}


def run_naive(study: Study, precision: str) -> dict:
    """The Grounded-SAM demo's loop over every (frame, expression), in this (fresh) process."""
    import torch
    from segment_anything import SamPredictor

    from groprompt.boxes import normalized_cxcywh_to_pixel_xyxy
    from groprompt.data.registry import open_dataset
    from groprompt.masks import write_label_png
    from groprompt.precision import forward_precision
    from groprompt.prompting import build_prompter, preprocess_frames, query_confidence, select_top1
    from groprompt.segmentation import load_sam

    _threads(study)
    device = torch.device(study.device)
    prompter_size, _, _ = SIZES[study.size]
    prompter = build_prompter(prompter_size, study.prompter).to(device).eval()
    predictor = SamPredictor(load_sam(study.sam)[0].to(device))
    dataset = open_dataset("refytvos", study.data, "train")
    out = Path(tempfile.mkdtemp(dir=study.workdir, prefix=f"naive_{precision}_"))
    count, seconds = 0, 0.0
    with torch.inference_mode(), forward_precision(precision, device):
        for video in dataset:
            for index in range(video.num_frames):
                _synchronise(device)
                start = time.perf_counter()
                frame = video.read_frame(index)
                for expression in video.expressions:
                    pixels = preprocess_frames(np.array(frame[None]), prompter.shortest_edge, prompter.longest_edge)
                    text = prompter.tokenize([expression.text])
                    output = prompter.detector(pixel_values=pixels.to(device), input_ids=text["input_ids"],
                                               token_type_ids=text["token_type_ids"],
                                               attention_mask=text["attention_mask"])
                    scores = query_confidence(output.logits.float(), text["attention_mask"].bool())
                    box = select_top1(scores, output.pred_boxes.float())[1].cpu().numpy()
                    box = normalized_cxcywh_to_pixel_xyxy(box, video.size[1], video.size[0])[0]
                    predictor.set_image(frame)
                    # predict_torch: SamPredictor.predict hands its bf16 scores to numpy, which has no bfloat16.
                    prompt = predictor.transform.apply_boxes_torch(torch.as_tensor(box[None], device=device),
                                                                   video.size)
                    masks, _, _ = predictor.predict_torch(None, None, boxes=prompt, multimask_output=False)
                    write_label_png(out / video.name / expression.exp_id / f"{index:05d}.png",
                                    masks[0, 0].cpu().numpy().astype(np.uint8) * 255)
                    count += 1
                _synchronise(device)
                seconds += time.perf_counter() - start
    shutil.rmtree(out)
    return {"expression_frames": count, "seconds": seconds, "memory": _peak_memory(device)}


# ----------------------------------------------------------------------------------------------- training


def run_training(study: Study, precision: str, variant: str) -> dict:
    """training_speed.py's measurement of one variant in this (fresh) process."""
    from training_speed import Setting, run_variant

    result = run_variant(variant, Setting(study.size, study.device, study.frame, study.clip_length, study.warmup,
                                          study.train_steps, study.threads, False, precision))
    return {"steps_per_second": 1 / result.seconds_per_step, "memory": result.peak_memory_mib}


# ----------------------------------------------------------------------------------------------- helpers


def _run(command: list[str], study: Study, log: Path) -> None:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), environment.get("PYTHONPATH"))))
    if study.threads:
        environment["OMP_NUM_THREADS"] = str(study.threads)
    with log.open("w") as handle:
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=environment).returncode
    if code != 0:
        sys.exit(f"{' '.join(command[:6])} ... failed (exit {code}); its output:\n{log.read_text()[-3000:]}")


def _threads(study: Study) -> None:
    if study.threads:
        import torch

        torch.set_num_threads(study.threads)


def _synchronise(device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def _peak_memory(device) -> float:
    """MiB: torch's peak allocation on CUDA, the process's peak resident set on the CPU."""
    if device.type == "cuda":
        import torch

        return torch.cuda.max_memory_allocated(device) / 2**20
    from groprompt.reporting.run_stats import peak_rss_mb

    return peak_rss_mb()[0]


def _fresh(function, *args):
    """``function(*args)`` in a fresh process (spawned: no CUDA state or memory peak is inherited)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def _machine(device: str) -> str:
    import torch
    import transformers

    where = torch.cuda.get_device_name(device) if device.startswith("cuda") else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, load " \
        f"{', '.join(f'{load:.2f}' for load in os.getloadavg())})"
    return f"{where}; torch {torch.__version__}, transformers {transformers.__version__}; {date.today()}"


def report(study: Study, vocabulary: str, inference: dict, naive: dict, video: dict, training: dict) -> None:
    memory = "peak GPU MiB" if study.device != "cpu" else "peak RSS MiB"
    prompter_size, sam_variant, _ = SIZES[study.size]
    print(f"# gpu_throughput: {_machine(study.device)}")
    videos = (f", SAM 2 and SAM 3 {'Hiera-L and released shape' if study.size == 'paper' else 'tiny'}"
              if study.video_methods else "")
    print(f"models: Grounding DINO {prompter_size}, SAM {sam_variant}{videos}, random weights; tokenizer vocabulary "
          f"{vocabulary}; data: {study.videos} videos x {study.frames} frames of {study.frame[0]}x{study.frame[1]}, "
          f"{study.expressions} expressions a frame")
    print("\n## Inference: groprompt infer (shared per-frame work) and the naive loop\n")
    print(f"| precision | path | expression-frames/s | prompter s | SAM s | other s | start-up s | "
          f"SAM encoder passes / frames | {memory} |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for precision in study.precisions:
        run = inference[precision]
        other = run["seconds"] - run["prompter"] - run["sam"]
        print(f"| {precision} | groprompt infer | {run['expression_frames'] / run['seconds']:.2f} | "
              f"{run['prompter']:.1f} | {run['sam']:.1f} | {other:.1f} | {run['startup']:.1f} | "
              f"{run['encoder_passes']} / {run['frames']} | {run['memory']:.0f} |")
        if precision in naive:
            loop = naive[precision]
            print(f"| {precision} | naive (no sharing) | {loop['expression_frames'] / loop['seconds']:.2f} | | | | "
                  f"| {loop['expression_frames']} / {run['frames']} | {loop['memory']:.0f} |")
    rate = {p: run["expression_frames"] / run["seconds"] for p, run in inference.items()}
    naive_rate = {p: loop["expression_frames"] / loop["seconds"] for p, loop in naive.items()}
    for precision in study.precisions:
        parts = [f"x{rate[precision] / rate[study.precisions[0]]:.2f} of {study.precisions[0]}"]
        if precision in naive:
            parts.append(f"x{rate[precision] / naive_rate[precision]:.2f} of the naive loop")
        print(f"{precision}: groprompt infer at {', '.join(parts)}")
    if video:
        print("\n## Video methods: groprompt infer of the methods that segment whole videos themselves\n")
        print(f"| precision | method | expression-frames/s | in the method s | other s | start-up s | {memory} |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for (precision, row), run in video.items():
            print(f"| {precision} | {row} | {run['expression_frames'] / run['seconds']:.2f} | {run['prompter']:.1f} | "
                  f"{run['seconds'] - run['prompter']:.1f} | {run['startup']:.1f} | {run['memory']:.0f} |")
    if training:
        print(f"\n## Training: one step on a clip of T={study.clip_length} frames, {study.train_steps} timed steps "
              f"after {study.warmup}\n")
        print(f"| precision | variant | steps/s | {memory} |")
        print("| --- | --- | ---: | ---: |")
        for (precision, variant), result in training.items():
            print(f"| {precision} | {variant} | {result['steps_per_second']:.2f} | {result['memory']:.0f} |")
        first = study.precisions[0]
        for (precision, variant), result in training.items():
            reference = training[first, variant]
            if precision != first:
                print(f"{variant}, {precision}: x{result['steps_per_second'] / reference['steps_per_second']:.2f} "
                      f"the steps/s of {first}, x{result['memory'] / reference['memory']:.2f} its memory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny",
                        help="paper: Swin-B Grounding DINO + SAM ViT-H at 480x854; tiny: the stand-ins (default)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: %(default)s)")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                        help="precisions to measure, the first is the reference of the ratios (default: all)")
    parser.add_argument("--videos", type=int, default=3, help="videos of the dataset (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=None, help="frames a video (default: 30 paper, 6 tiny)")
    parser.add_argument("--expressions", type=int, default=4, help="expressions a video (default: %(default)s)")
    parser.add_argument("--frame", type=int, nargs=2, metavar=("H", "W"), help="frame size (default: per size)")
    parser.add_argument("--naive", nargs="*", choices=PRECISIONS, default=["fp32", "bf16"],
                        help="precisions of the naive loop; none to skip it (default: fp32 bf16)")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="timed training steps a measurement; 0 skips training (default: 10 paper, 3 tiny)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first (default: 2)")
    parser.add_argument("--clip-length", type=int, default=5, help="T, frames a training clip (default: 5)")
    parser.add_argument("--threads", type=int, help="torch CPU threads of every measurement (default: torch's)")
    parser.add_argument("--workdir", type=Path, help="keep data, models and outputs here (default: a temp folder)")
    parser.add_argument("--video-methods", nargs="*", choices=VIDEO_METHODS, default=list(VIDEO_METHODS),
                        help="methods that segment whole videos to measure at every precision; none to skip "
                             "(default: all)")
    args = parser.parse_args(argv)
    paper = args.size == "paper"
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gpu_throughput_"))
    study = Study(args.size, args.device, args.videos, args.frames or (30 if paper else 6), args.expressions,
                  tuple(args.frame or SIZES[args.size][2]), tuple(args.precisions),
                  10 if args.train_steps is None and paper else 3 if args.train_steps is None else args.train_steps,
                  args.warmup, args.clip_length, args.threads, workdir.resolve(), tuple(args.video_methods))
    # The project from this checkout (no install needed), full_size.py and training_speed.py; spawned children
    # inherit this path.
    sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]
    import torch

    if study.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {study.device}: no CUDA device is visible to torch {torch.__version__}")
    study.workdir.mkdir(parents=True, exist_ok=True)
    _threads(study)
    started = time.perf_counter()
    if not (study.data / "meta_expressions").is_dir():
        write_dataset(study)
    vocabulary = write_models(study)
    print(f"data and models ready in {time.perf_counter() - started:.0f} s under {study.workdir}", flush=True)
    inference = {precision: run_infer(study, precision) for precision in study.precisions}
    naive = {precision: _fresh(run_naive, study, precision) for precision in args.naive if precision in inference}
    video = {(precision, row): run_infer(study, precision, row)
             for precision in study.precisions for row in study.video_methods}
    training = {(precision, variant): _fresh(run_training, study, precision, variant)
                for precision in study.precisions for variant in ("L_box only", "L_box + L_contra")
                if study.train_steps > 0}
    report(study, vocabulary, inference, naive, video, training)
    if args.workdir is None:
        shutil.rmtree(study.workdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
