"""Data-parallel training: ``torchrun --nproc_per_node 2 -m groprompt.cli train`` on the CPU (gloo).

Each epoch checkpoint records a digest of every rank's trainable parameters, computed by that rank; equal digests
mean the two replicas hold identical weights after their steps.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import torch
from training_fixtures import save_standins, write_toy_split

from groprompt.prompting import build_prompter
from groprompt.training import load_checkpoint


def test_two_processes_train_in_step(tmp_path):
    prompter, sam = save_standins(tmp_path)
    data = write_toy_split(tmp_path / "data")
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "groprompt.cli", "train", "--dataset-kind", "refytvos", "--data", str(data), "--prompter",
        str(prompter), "--segmentor", str(sam), "--out", str(out), "--device", "cpu",
        "--set", "prompter_size=tiny", "--set", "epochs=1", "--set", "lr_drop_epochs=[]",
        "--set", "clip_length=2", "--set", "steps_per_epoch=2", "--set", "lr=1e-3",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained 1 epochs") == 1  # only rank 0 reports

    state = load_checkpoint(out / "checkpoints" / "epoch_001.pt")
    assert state.run["world_size"] == 2 and len(state.rng) == 2
    assert len(state.replicas) == 2 and state.replicas[0] == state.replicas[1]
    log = pd.read_csv(out / "train_log.csv")
    assert log["step"].tolist() == [1, 2] and log["clips"].tolist() == [2, 2]  # one clip per rank per step
    trained = build_prompter("tiny", checkpoint=out / "prompter").detector.state_dict()
    initial = build_prompter("tiny", checkpoint=prompter).detector.state_dict()
    assert any(not torch.equal(trained[name], initial[name]) for name in initial)
