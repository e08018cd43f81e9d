"""The total loss L_total = L_box + λ_f L^f + λ_v L^v (docs/method_spec.md §5, paper Eq. 4), its weight presets."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from groprompt.errors import GroPromptError


def _check_weight(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise GroPromptError(f"{name} must be a finite number >= 0, got {value}",
                             fix="fix the loss weights in the config")


@dataclass(frozen=True)
class LossWeights:
    """λ_f (TextCon) and λ_v (ModalCon); both 0 is the "GroPrompt (L_box only)" variant."""

    lambda_f: float
    lambda_v: float

    def __post_init__(self) -> None:
        for name in ("lambda_f", "lambda_v"):
            _check_weight(name, getattr(self, name))


PAPER_REFYTVOS = LossWeights(lambda_f=0.01, lambda_v=0.1)
"""Paper §4.2 on Ref-YouTube-VOS; also the SynRVOS default."""
PAPER_A2D = LossWeights(lambda_f=1e-4, lambda_v=1e-3)
"""Paper §4.2 on A2D-Sentences."""
AUTHORS_CODE = LossWeights(lambda_f=1.0, lambda_v=1.0)
"""The authors' public code."""
BOX_ONLY = LossWeights(lambda_f=0.0, lambda_v=0.0)
"""Table 6's "GroPrompt (L_box only)"."""

LOSS_WEIGHT_PRESETS: dict[str, LossWeights] = {
    "paper_refytvos": PAPER_REFYTVOS,
    "synrvos": PAPER_REFYTVOS,
    "paper_a2d": PAPER_A2D,
    "authors_code": AUTHORS_CODE,
    "box_only": BOX_ONLY,
}


def loss_weights(name: str) -> LossWeights:
    """The preset called ``name``; an error listing the valid names otherwise."""
    try:
        return LOSS_WEIGHT_PRESETS[name]
    except KeyError:
        raise GroPromptError(f"unknown loss-weight preset {name!r}",
                             fix=f"use one of {', '.join(LOSS_WEIGHT_PRESETS)}") from None


def total_loss(
    box: Tensor, textcon: Tensor | None, modalcon: Tensor | None, lambda_f: float, lambda_v: float
) -> Tensor:
    """L_box + λ_f L^f + λ_v L^v (§5), all scalars.

    A term whose weight is 0 is left out entirely, so the L_box-only variant passes None for it and never computes
    the contrastive inputs. A term with a positive weight must be given.
    """
    total = box
    for name, term, weight in (("TextCon", textcon, lambda_f), ("ModalCon", modalcon, lambda_v)):
        _check_weight(f"the {name} weight", weight)
        if weight == 0:
            continue
        if term is None:
            raise GroPromptError(f"the {name} weight is {weight} but no {name} loss was computed",
                                 fix=f"compute the {name} term, or set its weight to 0")
        total = total + weight * term
    return total
