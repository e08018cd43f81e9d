"""SIGTERM unwinds a long step as Ctrl-C does (groprompt.commands._stopping); the end-to-end cases, a workflow job
stopped and resumed, are in tests/test_workflow_resume.py."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from groprompt.commands._stopping import TERMINATED, stop_cleanly
from groprompt.files import atomic_path


def test_sigterm_discards_the_unit_being_written_and_exits_143(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    finished = tmp_path / "epoch_001.pt"
    finished.write_bytes(b"a complete epoch")

    def step() -> int:
        with atomic_path(tmp_path / "epoch_002.pt") as partial:
            partial.write_bytes(b"half an epoch")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the handler raises in this thread as soon as the signal arrives
        return 0

    before = signal.getsignal(signal.SIGTERM)
    assert stop_cleanly("train", step, "the epochs completed are kept") == TERMINATED == 143
    assert [p.name for p in tmp_path.iterdir()] == ["epoch_001.pt"]  # no temporary file of epoch 2
    assert capsys.readouterr().err == "groprompt train: terminated (SIGTERM); the epochs completed are kept\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_step_that_is_not_stopped_returns_its_status_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert stop_cleanly("infer", lambda: 0, "kept") == 0
    assert signal.getsignal(signal.SIGTERM) is before
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C is left to groprompt.cli (exit status 130)
        stop_cleanly("infer", _interrupted, "kept")
    assert signal.getsignal(signal.SIGTERM) is before


def _interrupted() -> int:
    raise KeyboardInterrupt
