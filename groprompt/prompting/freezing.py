"""The freezing policy of docs/method_spec.md §1: which parts of Grounding DINO train, as named parameter groups.

Every parameter of a :class:`transformers.GroundingDinoForObjectDetection` belongs to exactly one group of
:data:`PARAMETER_GROUPS` (an unassigned parameter is an error, so a transformers upgrade that adds one fails
loudly). A config key lists the trainable groups; :func:`apply_freezing` sets ``requires_grad`` from it and puts
the frozen parts in eval mode, and Table 5 counts the result (:func:`count_parameters`), never a typed-in figure.

What the groups hold, in transformers' module tree:

* ``decoder``: the decoder layers, the decoder's final LayerNorm and its reference-point head (the MLP that turns
  each query's box into its positional query). The decoder's box head is ``bbox_embed``, not here.
* ``bbox_embed``: the box-regression head of the decoder (one MLP shared by all decoder layers in the published
  configs; ``model.decoder.bbox_embed`` is the same module as the top-level ``bbox_embed``).
* ``enc_bbox_embed``: the two-stage proposal box head. Its output only seeds the decoder's reference points, which
  transformers detaches, so the box loss on the decoder's output gives it no gradient; it is not trained by default.
* ``query_embed``: the learned content queries of the decoder (``tgt_embed`` in the original code).
* the frozen rest: ``image_backbone``, ``input_proj`` (+ level embeddings), ``text_backbone``, ``text_projection``,
  ``encoder`` (the feature enhancer), ``proposals`` (the two-stage proposal projection). The classification heads
  are parameter-free dot products with the text features.

:data:`DEFAULT_TRAINABLE` (decoder + its box head) is what the authors' code trains; with the ModalCon head it is
the paper's "~15M trainable" for the Swin-T model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

from groprompt.errors import GroPromptError


@dataclass(frozen=True)
class ParameterGroup:
    """A named part of the detector: a label for tables and the parameter-name prefixes it owns."""

    label: str
    prefixes: tuple[str, ...]


PARAMETER_GROUPS: dict[str, ParameterGroup] = {
    "image_backbone": ParameterGroup("image backbone", ("model.backbone",)),
    "input_proj": ParameterGroup("input projections", ("model.input_proj_vision", "model.level_embed")),
    "text_backbone": ParameterGroup("text backbone", ("model.text_backbone",)),
    "text_projection": ParameterGroup("text projection", ("model.text_projection",)),
    "encoder": ParameterGroup("encoder (feature enhancer)", ("model.encoder",)),
    "proposals": ParameterGroup("two-stage proposals", ("model.enc_output", "model.enc_output_norm")),
    "enc_bbox_embed": ParameterGroup("proposal box head", ("model.encoder_output_bbox_embed",)),
    "query_embed": ParameterGroup("query embeddings", ("model.query_position_embeddings", "model.reference_points")),
    "decoder": ParameterGroup(
        "decoder", ("model.decoder.layers", "model.decoder.layer_norm", "model.decoder.reference_points_head")
    ),
    "bbox_embed": ParameterGroup("decoder box head", ("bbox_embed", "model.decoder.bbox_embed")),
}
"""The detector's parameter groups, in the order tables list them."""

DEFAULT_TRAINABLE: tuple[str, ...] = ("decoder", "bbox_embed")
"""The trainable groups of docs/method_spec.md §1: the decoder layers and the box-regression head."""


def parameter_group(name: str) -> str:
    """The group owning the parameter called ``name`` in the detector's ``named_parameters()``."""
    for group, spec in PARAMETER_GROUPS.items():
        if any(name == prefix or name.startswith(prefix + ".") for prefix in spec.prefixes):
            return group
    raise GroPromptError(
        f"parameter {name!r} of the detector belongs to no freezing group",
        fix="add its module to groprompt.prompting.freezing.PARAMETER_GROUPS (a transformers upgrade may have "
        "added it)",
    )


def check_groups(names: Iterable[str]) -> tuple[str, ...]:
    """Validate a list of group names (the ``trainable`` config key); returns it as a tuple."""
    names = tuple(names)
    unknown = [name for name in names if name not in PARAMETER_GROUPS]
    if unknown:
        raise GroPromptError(
            f"unknown prompter parameter groups {unknown}",
            fix=f"list only these in prompter.trainable: {', '.join(PARAMETER_GROUPS)}",
        )
    return names


def _detector(module: nn.Module) -> nn.Module:
    # A Prompter holds the detector as ``.detector``; a bare detector is used as it is.
    return getattr(module, "detector", module)


def apply_freezing(module: nn.Module, trainable: Iterable[str] = DEFAULT_TRAINABLE) -> None:
    """Make exactly the ``trainable`` groups trainable (docs/method_spec.md §1) and put the frozen parts in eval mode.

    ``module`` is a detector or a :class:`~groprompt.prompting.prompter.Prompter`. A parameter reachable under two
    names (the tied box heads) is trainable when either name's group is. Eval mode of the frozen parts fixes
    their dropout and norm layers; :meth:`Prompter.train` re-applies it, so a later ``.train()`` keeps it.
    """
    wanted = set(check_groups(trainable))
    detector = _detector(module)
    named = list(detector.named_parameters(remove_duplicate=False))
    train_ids = {id(param) for name, param in named if parameter_group(name) in wanted}
    for _, param in named:
        param.requires_grad_(id(param) in train_ids)
    keep_frozen_parts_in_eval(module)


def keep_frozen_parts_in_eval(module: nn.Module) -> None:
    """Put every submodule whose parameters are all frozen into eval mode; leave the others as they are.

    Parameter-free modules (activations, dropout) follow their parent: inside a frozen part they go to eval with
    it, inside a trainable part they keep its mode.
    """
    params = list(module.parameters())
    if params and not any(param.requires_grad for param in params):
        # nn.Module.train, not module.eval(): Prompter.train calls back into this function.
        nn.Module.train(module, False)
        return
    for child in module.children():
        keep_frozen_parts_in_eval(child)


@dataclass(frozen=True)
class GroupCount:
    """Parameter counts of one group: ``total`` parameters and how many of them have ``requires_grad``."""

    group: str
    label: str
    total: int
    trainable: int


def count_parameters(module: nn.Module) -> list[GroupCount]:
    """Per-group parameter counts of a detector (or Prompter), each shared parameter counted once.

    Works on the meta device (only shapes are read). Groups with no parameters in this config are left out.
    """
    totals = {group: [0, 0] for group in PARAMETER_GROUPS}
    for name, param in _detector(module).named_parameters():  # deduplicates tied parameters
        counts = totals[parameter_group(name)]
        counts[0] += param.numel()
        counts[1] += param.numel() if param.requires_grad else 0
    return [
        GroupCount(group, PARAMETER_GROUPS[group].label, total, trainable)
        for group, (total, trainable) in totals.items()
        if total
    ]
