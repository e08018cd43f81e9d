"""Parameter counts of a study's models, total and trainable, per component: the figures of the paper's Table 5.

The models are built on the meta device (shapes only: no weights, no memory, seconds even for SAM ViT-H), the
freezing policy is applied (docs/method_spec.md §1 for the prompter; SAM is frozen whole, §6, as
:class:`groprompt.segmentation.Segmentor` freezes it; the ModalCon head trains, §4), and the trainable counts are
read from ``requires_grad``: nothing is typed in.

The config is a YAML mapping with these keys (unknown keys are errors; the workflow's config schema will carry
the same keys)::

    prompter: {size: swin-t | swin-b | tiny, trainable: [decoder, bbox_embed]}   # trainable: optional, §1 default
    segmentor: {variant: vit_h | vit_l | vit_b | tiny}                           # optional
    modalcon: {enabled: true}                                                    # optional, needs a segmentor
    precision: fp32 | tf32 | bf16                                                # optional (fp32): the study's
                                                                                 # --precision, for Table 5
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from groprompt.errors import GroPromptError
from groprompt.precision import DEFAULT_PRECISION, check_precision
from groprompt.prompting.config import PROMPTER_SIZES
from groprompt.prompting.freezing import DEFAULT_TRAINABLE, check_groups

_KEYS: dict[str, dict[str, type]] = {
    "prompter": {"size": str, "trainable": list},
    "segmentor": {"variant": str},
    "modalcon": {"enabled": bool},
}


@dataclass(frozen=True)
class StudyModels:
    """Which models a study uses, what of the prompter trains, and the precision they run in."""

    prompter_size: str
    trainable: tuple[str, ...] = DEFAULT_TRAINABLE
    segmentor_variant: str | None = None
    modalcon: bool = False
    precision: str = DEFAULT_PRECISION


@dataclass(frozen=True)
class ComponentCount:
    """Parameters of one component: ``model`` is ``prompter``, ``segmentor`` or ``modalcon``."""

    model: str
    component: str
    parameters: int
    trainable: int


def _section(config: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    section = config.get(name) or {}
    if not isinstance(section, dict):
        raise GroPromptError(f"config key {name!r} must be a mapping", path=path,
                             fix=f"write it as {name}: {{{', '.join(_KEYS[name])}: ...}}")
    for key, value in section.items():
        if key not in _KEYS[name]:
            raise GroPromptError(f"unknown config key '{name}.{key}'", path=path,
                                 fix=f"valid keys of {name}: {', '.join(_KEYS[name])}")
        if not isinstance(value, _KEYS[name][key]):
            raise GroPromptError(f"config key '{name}.{key}' must be a {_KEYS[name][key].__name__}, got {value!r}",
                                 path=path, fix="correct its value")
    return section


def read_params_config(path: str | Path) -> StudyModels:
    """Read and validate the models section of a config file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise GroPromptError("config file not found", path=path, fix="give the path of a YAML config")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise GroPromptError(f"config is not valid YAML: {error}", path=path, fix="correct the YAML syntax") from None
    if not isinstance(config, dict):
        raise GroPromptError("config must be a YAML mapping", path=path, fix="write keys: prompter, segmentor, ...")
    for key in config:
        if key not in (*_KEYS, "precision"):
            raise GroPromptError(f"unknown config key {key!r}", path=path,
                                 fix=f"valid keys: {', '.join(_KEYS)}, precision")
    try:
        precision = check_precision(config.get("precision", DEFAULT_PRECISION), "config key 'precision'")
    except GroPromptError as error:
        raise GroPromptError(error.problem, path=path, fix=error.fix) from None
    prompter = _section(config, "prompter", path)
    segmentor = _section(config, "segmentor", path)
    modalcon = _section(config, "modalcon", path)
    size = prompter.get("size")
    if size not in PROMPTER_SIZES:
        raise GroPromptError(f"prompter.size must be one of {', '.join(PROMPTER_SIZES)}, got {size!r}", path=path,
                             fix="set prompter.size")
    try:
        trainable = check_groups(prompter.get("trainable", DEFAULT_TRAINABLE))
    except GroPromptError as error:
        raise GroPromptError(error.problem, path=path, fix=error.fix) from None
    study = StudyModels(size, trainable, segmentor.get("variant"), modalcon.get("enabled", False), precision)
    if study.modalcon and study.segmentor_variant is None:
        raise GroPromptError("modalcon.enabled needs a segmentor: its widths come from SAM", path=path,
                             fix="add segmentor: {variant: ...} or set modalcon.enabled to false")
    return study


def _count(model: str, component: str, module: nn.Module) -> ComponentCount:
    params = list(module.parameters())
    return ComponentCount(model, component, sum(p.numel() for p in params),
                          sum(p.numel() for p in params if p.requires_grad))


def count_study_parameters(study: StudyModels) -> list[ComponentCount]:
    """Build the study's models on the meta device, apply the freezing policy and count per component."""
    import torch

    from groprompt.prompting.build import build_detector
    from groprompt.prompting.freezing import apply_freezing, count_parameters

    with torch.device("meta"):
        detector = build_detector(study.prompter_size)
        apply_freezing(detector, study.trainable)
        rows = [ComponentCount("prompter", group.label, group.total, group.trainable)
                for group in count_parameters(detector)]
        if study.segmentor_variant is None:
            return rows
        from groprompt.segmentation import build_sam

        sam = build_sam(study.segmentor_variant).requires_grad_(False)  # §6: SAM is never trained
        rows += [_count("segmentor", "SAM image encoder", sam.image_encoder),
                 _count("segmentor", "SAM prompt encoder", sam.prompt_encoder),
                 _count("segmentor", "SAM mask decoder", sam.mask_decoder)]
        if study.modalcon:
            from groprompt.prompting.modalcon import ModalConHead

            width = sam.prompt_encoder.embed_dim  # SAM's image-embedding channels = its prompt-token width
            head = ModalConHead(prompt_dim=2 * width, visual_dim=width,
                                text_dim=detector.config.text_config.hidden_size)
            rows.append(_count("modalcon", "ModalCon head", head))
    return rows


def totals(rows: list[ComponentCount]) -> dict[str, dict[str, int]]:
    """``{model: {"parameters", "trainable"}}`` per model, in order of appearance, then ``"all"``."""
    result: dict[str, dict[str, int]] = {}
    for row in rows:
        entry = result.setdefault(row.model, {"parameters": 0, "trainable": 0})
        entry["parameters"] += row.parameters
        entry["trainable"] += row.trainable
    result["all"] = {key: sum(entry[key] for entry in result.values()) for key in ("parameters", "trainable")}
    return result
