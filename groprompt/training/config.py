"""The training configuration (docs/method_spec.md §1-§5): one typed, documented dataclass loaded strictly from YAML.

Defaults are the paper's recipe (§2 optimiser and schedule, §5 Ref-YouTube-VOS loss weights); a YAML file
(``--config``) and ``--set key=value`` overrides change them. An unknown key, a value of the wrong type and a
combination of values that cannot work together are :class:`GroPromptError` s naming the key, raised before any
model is loaded. The resolved configuration is written next to the checkpoints and compared key by key on
``--resume``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from groprompt.errors import GroPromptError
from groprompt.files import atomic_write_text
from groprompt.losses.box import GIOU_WEIGHT, L1_WEIGHT, MATCHINGS
from groprompt.losses.total import PAPER_REFYTVOS, LossWeights
from groprompt.prompting.config import PROMPTER_SIZES
from groprompt.prompting.freezing import DEFAULT_TRAINABLE, check_groups
from groprompt.typed_values import MISMATCH, split_pairs, type_name, typed_value

OBJECTIVES: dict[str, str] = {
    "groprompt": "L_box + λ_f L^f + λ_v L^v, the paper's objective (docs/method_spec.md §2-§5)",
    "detector": "Grounding DINO's own decoder objective on the same boxes: the plain fine-tuning baseline (§2)",
}
"""Valid values of ``TrainingConfig.objective`` and what each trains with."""

MULTI_OBJECT_TARGETS: dict[str, str] = {
    "union": "the tight box of the union of its objects on each frame (where any of them is present)",
    "skip": "none: such expressions are left out of training, as a single-box prompter cannot name several objects",
}
"""Valid values of ``TrainingConfig.multi_object_target``: the box target of an expression that refers to several
objects (MeViS), which the paper does not define (docs/method_spec.md §2)."""


@dataclass(frozen=True)
class TrainingConfig:
    """How GroPrompt fine-tunes the prompter from box supervision (docs/method_spec.md §1-§5, paper §3.2 and §4.2).

    Attributes:
        prompter_size: the prompter size of :data:`groprompt.prompting.PROMPTER_SIZES` (``swin-b``: the
            authors' checkpoint; ``tiny``: the embedded default's stand-in). It must be the size of the
            ``--prompter`` checkpoint; it also fixes the inference-time frame resize.
        trainable: the prompter's parameter groups that train (§1; the rest is frozen and kept in eval mode).
        objective: what the prompter is fine-tuned with (:data:`OBJECTIVES`): ``groprompt`` (the paper: L_box and
            the TAP-CL terms) or ``detector`` (the plain baseline: Grounding DINO's decoder objective of
            :func:`groprompt.losses.detector_loss`, class-aware matching, phrase focal loss, L1 and GIoU on every
            decoder layer, with ``l1_weight`` and ``giou_weight`` as its box weights; ``lambda_f`` and ``lambda_v``
            must be 0 and ``matching`` its default, which it does not use).
        matching: ``top1`` (the paper: the most confident query is the prediction) or ``hungarian`` (the
            authors' code: the query of lowest box cost), §2.
        multi_object_target: the box target of an expression that refers to several objects
            (:data:`MULTI_OBJECT_TARGETS`): ``union`` (the box around all of them) or ``skip``; expressions of one
            object are unaffected.
        l1_weight: λ_r of L_box (§2, Eq. 1), on normalised (cx, cy, w, h).
        giou_weight: λ_g of L_box (§2, Eq. 1), on (1 - GIoU).
        lambda_f: weight of TextCon L^f (§5); 0 switches TextCon off.
        lambda_v: weight of ModalCon L^v (§5); 0 switches ModalCon (and its head) off. ``lambda_f = lambda_v = 0``
            is "GroPrompt (L_box only)": no negative sentence is forwarded and SAM is not needed.
        epochs: training epochs; one epoch visits every usable (video, expression) pair of the split once.
        lr: AdamW learning rate (§2).
        weight_decay: AdamW weight decay (§2).
        grad_clip_norm: the total gradient norm is clipped to this (§2).
        lr_drop_epochs: 1-based epochs from which the learning rate is multiplied by ``lr_drop_factor`` once more
            (``[11]``: epochs 11 and 12 run at lr x 0.1, §2). Each must lie in 2..epochs.
        lr_drop_factor: the factor of each drop.
        clip_length: T, frames per clip (§2).
        batch_clips: clips per process per optimiser step (§2: one clip per GPU); gradients are accumulated
            over them, clip by clip.
        steps_per_epoch: cap on the optimiser steps of an epoch (None: as many as the split's pairs need); for
            smoke runs and benchmarks.
        shortest_edge: resize of the frames fed to the prompter in training, short side in pixels. None: the
            prompter size's own inference resize (what :meth:`Prompter.predict_boxes` uses), so training and
            inference see the same scale. Setting it trains at another scale than inference runs at.
        longest_edge: cap on the long side after the resize (needs ``shortest_edge``; None: no cap).
        seed: seeds the clip schedule, the negative sentences, the ModalCon head's initialisation and dropout.
        keep_checkpoints: how many epoch checkpoints to keep (the newest); 0 keeps every epoch's.
    """

    prompter_size: str = "swin-b"
    trainable: tuple[str, ...] = DEFAULT_TRAINABLE
    objective: str = "groprompt"
    matching: str = "top1"
    multi_object_target: str = "union"
    l1_weight: float = L1_WEIGHT
    giou_weight: float = GIOU_WEIGHT
    lambda_f: float = PAPER_REFYTVOS.lambda_f
    lambda_v: float = PAPER_REFYTVOS.lambda_v
    epochs: int = 12
    lr: float = 1e-4
    weight_decay: float = 1e-4
    grad_clip_norm: float = 0.1
    lr_drop_epochs: tuple[int, ...] = (11,)
    lr_drop_factor: float = 0.1
    clip_length: int = 5
    batch_clips: int = 1
    steps_per_epoch: int | None = None
    shortest_edge: int | None = None
    longest_edge: int | None = None
    seed: int = 0
    keep_checkpoints: int = field(default=0, metadata={"resume_neutral": True})

    def __post_init__(self) -> None:
        object.__setattr__(self, "trainable", tuple(self.trainable))
        object.__setattr__(self, "lr_drop_epochs", tuple(self.lr_drop_epochs))
        problems = []

        def need(condition: bool, problem: str) -> None:
            if not condition:
                problems.append(problem)

        need(self.prompter_size in PROMPTER_SIZES,
             f"prompter_size {self.prompter_size!r} is not one of {', '.join(PROMPTER_SIZES)}")
        try:
            check_groups(self.trainable)
        except GroPromptError as error:
            problems.append(error.problem)
        need(bool(self.trainable), "trainable is empty: nothing would train")
        need(self.objective in OBJECTIVES, f"objective {self.objective!r} is not one of {', '.join(OBJECTIVES)}")
        need(self.matching in MATCHINGS, f"matching {self.matching!r} is not one of {', '.join(MATCHINGS)}")
        need(self.multi_object_target in MULTI_OBJECT_TARGETS,
             f"multi_object_target {self.multi_object_target!r} is not one of {', '.join(MULTI_OBJECT_TARGETS)}")
        for name in ("l1_weight", "giou_weight", "weight_decay"):
            value = getattr(self, name)
            need(math.isfinite(value) and value >= 0, f"{name} must be a finite number >= 0, got {value}")
        try:
            LossWeights(self.lambda_f, self.lambda_v)
        except GroPromptError as error:
            problems.append(error.problem)
        for name in ("lr", "grad_clip_norm", "lr_drop_factor"):
            value = getattr(self, name)
            need(math.isfinite(value) and value > 0, f"{name} must be a finite number > 0, got {value}")
        for name in ("epochs", "clip_length", "batch_clips"):
            need(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("steps_per_epoch", "shortest_edge", "longest_edge"):
            value = getattr(self, name)
            need(value is None or value >= 1, f"{name} must be >= 1 or null, got {value}")
        need(self.keep_checkpoints >= 0, f"keep_checkpoints must be >= 0, got {self.keep_checkpoints}")
        # Cross-field rules.
        detector = self.objective == "detector"
        need(not (detector and (self.lambda_f or self.lambda_v)),
             f"objective detector is the plain fine-tuning baseline, without TextCon/ModalCon: lambda_f "
             f"{self.lambda_f} and lambda_v {self.lambda_v} must both be 0 (--set lambda_f=0 --set lambda_v=0)")
        need(not (detector and self.matching != "top1"),
             f"objective detector matches queries by its own class-aware cost; matching {self.matching!r} chooses "
             "L_box's query and would be unused: leave matching at top1")
        drops = self.lr_drop_epochs
        need(list(drops) == sorted(set(drops)), f"lr_drop_epochs {list(drops)} must be strictly increasing")
        outside = [epoch for epoch in drops if not 2 <= epoch <= self.epochs]
        need(not outside, f"lr_drop_epochs {outside} lie outside epochs 2..{self.epochs} (a drop at epoch 1 is a "
                          "lower lr, one past the last epoch never happens); change lr_drop_epochs with epochs")
        need(self.longest_edge is None or self.shortest_edge is not None,
             "longest_edge needs shortest_edge (it caps the long side of that resize)")
        need(self.longest_edge is None or self.shortest_edge is None or self.longest_edge >= self.shortest_edge,
             f"longest_edge {self.longest_edge} is below shortest_edge {self.shortest_edge}")
        if problems:
            raise GroPromptError("invalid training config: " + "; ".join(problems),
                                 fix="correct these keys in the --config file or the --set overrides")

    @property
    def contrastive(self) -> bool:
        """Whether any TAP-CL term is on (then each clip also forwards a negative sentence and needs SAM)."""
        return LossWeights(self.lambda_f, self.lambda_v).contrastive

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON values (tuples become lists), in field order."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    def differences(self, other: Mapping[str, Any]) -> list[str]:
        """Keys whose value differs from ``other`` (a :meth:`to_dict` of another run), ignoring keys that do not
        change the result of training (``keep_checkpoints``); a key ``other`` lacks is compared as its default
        (:func:`recorded_config`)."""
        neutral = {f.name for f in dataclasses.fields(self) if f.metadata.get("resume_neutral")}
        mine = self.to_dict()
        theirs = recorded_config(other)
        keys = [key for key in mine if key not in neutral] + sorted(set(other) - set(mine))
        return [key for key in keys if mine.get(key) != theirs.get(key)]


def recorded_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """A run's recorded config (a :meth:`TrainingConfig.to_dict`) with the keys it lacks at their defaults: a run
    recorded before a key existed trained as its default does (a key is only added with a default that keeps the
    earlier behaviour, as ``objective``), so resuming it is not refused for that key."""
    return {**TrainingConfig().to_dict(), **values}


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainingConfig)


def _convert(key: str, value: Any, hint: Any, source: str) -> Any:
    """``value`` as the field type ``hint`` (int, float, str, ``X | None``, ``tuple[X, ...]``), or a named error."""
    converted = typed_value(value, hint)
    if converted is MISMATCH:
        raise GroPromptError(f"training config key {key!r} must be {type_name(hint)}, got {value!r} "
                             f"({type(value).__name__})",
                             path=source if source.endswith((".yaml", ".yml")) else None,
                             fix=f"correct {key} in {source}")
    return converted


def typed_values(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``values`` converted to the field types; an unknown key or a wrong type is an error naming ``source``."""
    hints = _field_types()
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise GroPromptError(f"unknown training config key(s) {unknown} in {source}",
                             path=source if source.endswith((".yaml", ".yml")) else None,
                             fix=f"valid keys: {', '.join(hints)}")
    return {key: _convert(key, value, hints[key], source) for key, value in values.items()}




def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["key=value", ...]`` (``--set``) -> ``{key: YAML value}``; ``lr_drop_epochs=[8,11]`` gives a list."""
    overrides: dict[str, Any] = {}
    for key, text in split_pairs(pairs, "--set").items():
        try:
            overrides[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as error:
            raise GroPromptError(f"--set {key}={text!r} is not a YAML value: {error}",
                                 fix="quote strings; write lists as [a, b]") from None
    return overrides


def load_training_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> TrainingConfig:
    """The defaults, updated by the YAML mapping at ``path`` (optional), then by ``--set key=value`` pairs."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise GroPromptError("training config file not found", path=path, fix="give the path of a YAML file")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise GroPromptError(f"training config is not valid YAML: {error}", path=path,
                                 fix="correct the YAML syntax") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise GroPromptError("training config must be a YAML mapping of keys to values", path=path,
                                 fix=f"write one 'key: value' per line; keys: {', '.join(_field_types())}")
        values.update(typed_values(loaded or {}, str(path)))
    # Cross-field rules apply to the merged values: an override may repair what the file alone breaks.
    values.update(typed_values(parse_overrides(overrides), "the --set overrides"))
    return TrainingConfig(**values)


def write_config(config: TrainingConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically), loadable again with :func:`load_training_config`."""
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
