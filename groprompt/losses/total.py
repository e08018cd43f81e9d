"""The total loss L_total = L_box + λ_f L^f + λ_v L^v (docs/method_spec.md §5, paper Eq. 4) and its weights."""

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

    @property
    def contrastive(self) -> bool:
        """Whether any TAP-CL term is on (then training also forwards a negative sentence and needs SAM)."""
        return self.lambda_f > 0 or self.lambda_v > 0


PAPER_REFYTVOS = LossWeights(lambda_f=0.01, lambda_v=0.1)
"""Paper §4.2 on Ref-YouTube-VOS; also the SynRVOS default. (A2D-Sentences: 1e-4 and 1e-3, in
workflows/config/paper_a2d.yaml; the authors' public code: 1 and 1.)"""


def total_loss(
    box: Tensor | float, textcon: Tensor | float | None, modalcon: Tensor | float | None, lambda_f: float,
    lambda_v: float,
) -> Tensor | float:
    """L_box + λ_f L^f + λ_v L^v (§5), all scalars (tensors in training, floats in the step's log row).

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
