"""One way to seed a run: the global generators for model initialisation and dropout, a NumPy generator of its own
for the data stream."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, rank: int = 0) -> np.random.Generator:
    """Seed Python's, NumPy's and torch's global generators with ``seed + rank``; return a NumPy generator seeded
    with ``seed + rank`` for the data stream.

    Ranks get distinct streams (their dropout masks should differ). Keeping the data stream on its own generator
    means that changing the model (and so how many random numbers its initialisation draws) does not change which
    samples and jitters the steps see.
    """
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed + rank)
    return np.random.default_rng(seed + rank)
