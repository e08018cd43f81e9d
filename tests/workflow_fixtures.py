"""Helpers of the workflow tests: run Snakemake on the repository's Snakefile (or a copy of the workflow) in a
temporary working directory (so no test touches work/, results/ or .snakemake/ of the checkout), write paper configs
with stand-in paths, a smaller smoke study, and tiny checkpoints in the formats a paper study names."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from datasets_fixtures import ToyVideo, write_refytvos

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "workflows" / "config"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def dry_run(workdir: Path, configfile: Path | None = None, snakefile: Path = REPO / "Snakefile",
            *extra: str) -> subprocess.CompletedProcess[str]:
    """``snakemake -n -p`` of ``snakefile`` with ``workdir`` as working directory; output captured, never raises."""
    command = [*SNAKEMAKE, "-n", "-p", "--cores", "1", "--snakefile", str(snakefile), "--directory", str(workdir),
               *extra]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=workdir, timeout=120)


def trained_runs(name: str) -> int:
    """Training runs of shipped config ``name``: its variants times its seeds (each is also one GroPrompt
    inference and one evaluation)."""
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    return len(config["train"]["variants"]) * len(config.get("seeds", [0]))


def pretraining_jobs(name: str) -> int:
    """Pre-training jobs of shipped config ``name``: the stand-in SAM and grounder, unless it uses the released
    ones (``stand_ins: released``) or the user's checkpoints."""
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    return 2 if "pretrain" in config and config.get("stand_ins", "pretrain") == "pretrain" else 0


def job_counts(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The ``job  count`` table of a dry run, as {rule: jobs} (without the total); fails on a failed run."""
    assert result.returncode == 0, result.stdout + result.stderr
    rows = re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, flags=re.MULTILINE)
    return {rule: int(count) for rule, count in rows if rule != "total"}


def discovered(baselines: Path = REPO / "baselines") -> list[dict]:
    """``groprompt methods --json`` of ``baselines``: what the workflow turns into inference jobs."""
    listing = subprocess.run([sys.executable, "-m", "groprompt.cli", "methods", "--json", "--baselines-dir",
                              str(baselines)], check=True, capture_output=True, text=True).stdout
    return json.loads(listing)["methods"]


def paper_config(name: str, tmp_path: Path) -> Path:
    """``workflows/config/<name>.yaml`` with every dataset root and checkpoint replaced by an empty stand-in
    in ``tmp_path`` (folders for roots, the tokenizer, the tracker and methods' ``/path/to/`` options, files for
    checkpoints); returns the new config's path."""
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    for key, entry in config["datasets"].items():
        entry["root"] = str(_make(tmp_path / "data" / key, folder=True))
    config["checkpoints"] = {key: str(_make(tmp_path / "models" / Path(path).name, folder=key == "tokenizer"))
                             for key, path in config["checkpoints"].items()}
    if "tracker" in config:  # Hugging Face folders
        config["tracker"] = {"path": str(_make(tmp_path / "models" / Path(config["tracker"]["path"]).name, True))}
    for options in config["methods"].values():
        options.update({key: str(_make(tmp_path / "models" / Path(value).name, folder=True))
                        for key, value in options.items() if str(value).startswith("/path/to/")})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _make(path: Path, folder: bool) -> Path:
    if folder:
        path.mkdir(parents=True, exist_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return path


def cli_environment() -> dict[str, str]:
    """This process's environment with this interpreter's ``groprompt`` (and ``snakemake``) first on PATH, so a
    command runs as in an activated environment."""
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def run_study(workdir: Path, configfile: Path, cores: int = 2, timeout: float = 900,
              snakefile: Path = REPO / "Snakefile") -> subprocess.CompletedProcess[str]:
    """A real ``snakemake --cores N`` run of ``snakefile`` on ``configfile`` in ``workdir``; output captured, never
    raises on failure. The ``groprompt`` CLI of this interpreter's environment is put on PATH (every rule calls
    it), so the run works without an activated environment."""
    command = [*SNAKEMAKE, "--cores", str(cores), "--snakefile", str(snakefile), "--directory", str(workdir),
               "--configfile", str(configfile)]
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=workdir, env=cli_environment(),
                          timeout=timeout)


def copy_workflow(folder: Path) -> Path:
    """The Snakefile, workflows/ and baselines/ copied into ``folder`` (created), where baselines/ and
    dataset_kinds/ can gain modules without touching the checkout, and releases/ linked (the released stand-ins
    the default starts from are read, never written); returns ``folder``."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "workflows", folder / "workflows", ignore=ignore)
    shutil.copytree(REPO / "baselines", folder / "baselines", ignore=ignore)
    shutil.copy(REPO / "Snakefile", folder / "Snakefile")
    (folder / "releases").symlink_to(REPO / "releases", target_is_directory=True)
    return folder


def reduced_smoke_config() -> dict:
    """workflows/config/smoke.yaml made smaller: fewer SynRVOS videos, pre-training of a few steps, one GroPrompt
    variant (L_box only: its training needs no SAM) of one epoch of two steps, first-frame-box left out too (it
    takes the path of the other box-only baselines)."""
    config = yaml.safe_load((CONFIGS / "smoke.yaml").read_text())
    config["datasets"]["synrvos"]["generate"] |= {"train_videos": 3, "valid_videos": 4, "pretrain_frames": 320}
    config["pretrain"]["segmentor"]["steps"] = 20
    config["pretrain"]["grounder"]["steps"] = 5
    config["train"]["variants"] = {"lbox": config["train"]["variants"]["lbox"]}
    config["train"]["settings"] |= {"epochs": 1, "lr_drop_epochs": [], "steps_per_epoch": 2}
    config["exclude_methods"] = [*config["exclude_methods"], "first-frame-box"]
    return config


TINY_FRAME = (32, 32)
"""Frame size of the tiny studies' videos: the smallest the tiny models take comfortably (H, W even for A2D's
yuv420p mp4)."""


def _still_frames(count: int) -> list[ToyVideo]:
    """One-frame videos, each with one rectangle (red or green) of random size and place: SAM's pre-training."""
    rng = np.random.default_rng(0)
    videos = []
    for index in range(count):
        labels = np.zeros((1, *TINY_FRAME), dtype=np.uint8)
        height, width = rng.integers(5, 16, size=2)
        top, left = rng.integers(0, TINY_FRAME[0] - height), rng.integers(0, TINY_FRAME[1] - width)
        obj = int(rng.integers(1, 3))
        labels[0, top:top + height, left:left + width] = obj
        videos.append(ToyVideo(f"still_{index:03d}", labels, [{"exp": "a rectangle", "obj_id": str(obj)}]))
    return videos


def tiny_checkpoints(folder: Path) -> dict[str, str]:
    """``checkpoints:`` of a study with models of its own, written into ``folder``: the tiny grounder as a Hugging
    Face folder (random, with the bundled MiniLM text backbone and tokenizer, as pre-training exports it) and the
    tiny SAM as a groprompt SAM file, pre-trained 30 steps on one-object frames (a few seconds): it segments the
    object of a frame, box or no box (held-out mask IoU above 0.8, which ranking tests rely on)."""
    from groprompt.data.refytvos import load_refytvos
    from groprompt.pretraining import SegmentorPretrainConfig, load_box_masks, pretrain_segmentor
    from groprompt.prompting.build import build_prompter
    from groprompt.segmentation import SAM_VARIANTS
    from groprompt.segmentation.build import save_sam
    from groprompt.training.checkpoint import export_prompter

    stills = write_refytvos(folder / "stills", "train", _still_frames(40))
    samples = load_box_masks(load_refytvos(stills, "train"), progress=False)
    train, heldout = samples.split_heldout(4)
    sam, metrics = pretrain_segmentor(train, heldout, SegmentorPretrainConfig(steps=30, batch_size=8, lr=3e-3),
                                      progress=False)
    assert metrics["heldout_mask_iou"] > 0.8, metrics
    save_sam(sam, SAM_VARIANTS["tiny"], folder / "segmentor.pt")
    export_prompter(build_prompter("tiny"), folder / "grounder")
    return {"grounder": str(folder / "grounder"), "segmentor": str(folder / "segmentor.pt")}
