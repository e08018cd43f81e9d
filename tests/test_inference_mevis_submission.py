"""``groprompt infer --submission`` on MeViS valid: the archive MeViS's CodaLab server reads, the video folders at
its root (``<video>/<exp_id>/<frame>.png``, README of github.com/henghuiding/MeViS), every frame of every
expression, and its masks read back equal to what the method gave."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from mevis_fixtures import H, W, two_birds, write_mevis
from PIL import Image

from groprompt.cli import main

STRIPES = '''
import numpy as np

from groprompt.methods import FrameOutput, Method


class Stripes(Method):
    """Expression k on frame t: rows t..t+2 of columns 3k..3k+2, or nothing on frame 2."""

    name = "stripes"
    description = "test method"
    outputs_masks = True

    def predict(self, frame, index, expressions, ground_truth=None):
        masks = [np.zeros(frame.shape[:2], dtype=bool) for _ in expressions]
        for k, mask in enumerate(masks):
            if index != 2:
                mask[index:index + 3, 3 * k:3 * k + 3] = True
        return [FrameOutput.of_mask(mask) for mask in masks]
'''


def stripe(k: int, t: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    if t != 2:
        mask[t:t + 3, 3 * k:3 * k + 3] = True
    return mask


def test_valid_submission_has_the_video_folders_at_its_root(tmp_path: Path):
    root = write_mevis(tmp_path / "mevis", "valid", [two_birds()], with_masks=False)
    baselines = tmp_path / "baselines"
    baselines.mkdir()
    (baselines / "stripes.py").write_text(STRIPES)
    out = tmp_path / "out"
    assert main(["infer", "--method", "stripes", "--dataset-kind", "mevis", "--data", str(root), "--split", "valid",
                 "--out", str(out), "--baselines-dir", str(baselines), "--submission"]) == 0
    frames = [f"{t:05d}" for t in range(4)]
    with zipfile.ZipFile(out / "submission.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f"birds/{k}/{frame}.png" for k in range(4) for frame in frames)
        for k in range(4):
            for t, frame in enumerate(frames):
                with Image.open(io.BytesIO(archive.read(f"birds/{k}/{frame}.png"))) as png:
                    pixels = np.asarray(png)
                assert pixels.shape == (H, W) and set(np.unique(pixels)) <= {0, 255}
                np.testing.assert_array_equal(pixels != 0, stripe(k, t))  # the server: any non-zero pixel
