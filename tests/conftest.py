"""Fixtures shared by test modules (the data writers are in datasets_fixtures.py and friends)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tiny models: on a shared, oversubscribed CPU two spinning OpenMP threads
    are several times slower than one. Modules opt in with ``pytestmark = pytest.mark.usefixtures(...)``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sam_file(tmp_path_factory) -> Path:
    """A random tiny SAM (seed 0) saved with ``save_sam``: the segmentor of the inference tests."""
    from groprompt.segmentation import SAM_VARIANTS, build_sam, save_sam

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sam") / "sam_tiny.pt"
    save_sam(build_sam("tiny"), SAM_VARIANTS["tiny"], path)
    return path
