"""Method discovery: baselines/ modules, load failures reported without hiding the others, option checks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from groprompt.cli import main
from groprompt.errors import GroPromptError
from groprompt.methods import discover_methods

CENTRE_BOX = textwrap.dedent(
    '''
    import numpy as np
    from groprompt.methods import FrameOutput, Method

    class CentreBox(Method):
        name = "centre-box"
        description = "A box over the central half of every frame."

        def __init__(self, fraction: float = 0.5):
            self.fraction = fraction

        def predict(self, frame, index, expressions, ground_truth=None):
            h, w = frame.shape[:2]
            m = (1 - self.fraction) / 2
            box = np.array([w * m, h * m, w * (1 - m), h * (1 - m)])
            return [FrameOutput(box=box, score=1.0) for _ in expressions]
    '''
)


@pytest.fixture
def baselines(tmp_path: Path) -> Path:
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / "centre_box.py").write_text(CENTRE_BOX)
    (folder / "broken.py").write_text("import not_a_real_package_xyz\n")
    (folder / "helpers_only.py").write_text("X = 1\n")
    return folder


def test_dropped_module_is_found_and_failures_are_listed(baselines: Path):
    registry = discover_methods(baselines)
    assert "centre-box" in registry.entries
    failed = {f.name: f.error for f in registry.failures}
    assert "ModuleNotFoundError" in failed["broken"] and "not_a_real_package_xyz" in failed["broken"]
    assert failed["helpers_only"] == "defines no Method subclass"


def test_create_checks_options(baselines: Path):
    registry = discover_methods(baselines)
    assert registry.create("centre-box", {"fraction": 0.25}).fraction == 0.25
    with pytest.raises(GroPromptError, match="no option.*fractoin.*valid: fraction"):
        registry.create("centre-box", {"fractoin": 0.25})
    with pytest.raises(GroPromptError, match="unknown method 'nope'.*centre-box"):
        registry.get("nope")
    with pytest.raises(GroPromptError, match="failed to load.*ModuleNotFoundError"):
        registry.get("broken")


def test_methods_command_lists_all(baselines: Path, capsys):
    assert main(["methods", "--baselines-dir", str(baselines)]) == 0
    out = capsys.readouterr().out
    assert "centre-box  A box over the central half of every frame." in out
    assert "! broken" in out and "not_a_real_package_xyz" in out
