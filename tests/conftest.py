"""Fixtures shared by test modules (the data writers are in datasets_fixtures.py and friends)."""

from __future__ import annotations

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
