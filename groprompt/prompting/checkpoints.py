"""Loading the original IDEA-Research Grounding DINO checkpoints into transformers' model (docs/method_spec.md §1).

``groundingdino_swint_ogc.pth`` (size ``swin-t``) and ``groundingdino_swinb_cogcoor.pth`` (size ``swin-b``) hold
``{"model": state_dict}`` with the original module names (``module.backbone.0.layers...``,
``transformer.encoder...``, ``bert.embeddings...``). The naming facts (which original module is which transformers
module, and that the original's fused ``qkv`` / ``in_proj`` matrices stack query, key and value rows in that order)
come from transformers' ``convert_grounding_dino_to_hf.py``; the targets are the module names of the installed
transformers (5.x renamed Swin's attention to ``q_proj`` / ``k_proj`` / ``v_proj`` / ``o_proj``).

The conversion is a table of scopes: an original key prefix (a regex), the transformers prefix it becomes, and the
renames of the module paths below it. Within a scope the longest matching path wins; a path mapped to three
targets is a fused query/key/value tensor, split in three along its first dimension. A released file also holds
tensors the detector does not need (:data:`IGNORED_ORIGINAL_KEYS`: the training-only ``label_enc.weight``, constant
buffers, BERT's unused pooler); those alone are dropped, and ``tests/data/groundingdino_upstream_keys.txt`` lists
every key of both released files, written down from the upstream model code.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from pathlib import Path

import torch
from torch import Tensor
from transformers import GroundingDinoForObjectDetection

from groprompt.errors import GroPromptError

Target = str | tuple[str, str, str]


def _qkv(module: str, names: tuple[str, str, str], param: str = "") -> tuple[str, str, str]:
    return tuple(f"{module}.{name}{param}" for name in names)  # type: ignore[return-value]


_HF_QKV = ("query", "key", "value")
_SWIN = "model.backbone.conv_encoder.model."

_SCOPES: tuple[tuple[str, str, dict[str, Target]], ...] = (
    (r"backbone\.0\.patch_embed\.", _SWIN + "swin.embeddings.",
     {"proj": "patch_embeddings.projection", "norm": "norm"}),
    (r"backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.", _SWIN + "swin.encoder.layers.{0}.blocks.{1}.", {
        "norm1": "layernorm_before",
        "norm2": "layernorm_after",
        "attn.qkv": _qkv("attention", ("q_proj", "k_proj", "v_proj")),
        "attn.proj": "attention.o_proj",
        "attn.relative_position_bias_table": "attention.relative_position_bias.relative_position_bias_table",
        "mlp": "mlp",
    }),
    (r"backbone\.0\.layers\.(\d+)\.downsample\.", _SWIN + "swin.encoder.layers.{0}.downsample.", {"": ""}),
    # The original numbers its output norms by stage from 0, transformers from 1 (the stem is stage 0 there).
    (r"backbone\.0\.", _SWIN + "hidden_states_norms.", {f"norm{i}": f"stage{i + 1}" for i in range(4)}),
    (r"bert\.", "model.text_backbone.", {"embeddings": "embeddings", "encoder": "encoder"}),
    (r"feat_map\.", "model.text_projection.", {"": ""}),
    (r"input_proj\.", "model.input_proj_vision.", {"": ""}),
    (r"transformer\.encoder\.layers\.(\d+)\.", "model.encoder.layers.{0}.deformable_layer.", {
        "self_attn": "self_attn",
        "norm1": "self_attn_layer_norm",
        "linear1": "fc1",
        "linear2": "fc2",
        "norm2": "final_layer_norm",
    }),
    (r"transformer\.encoder\.text_layers\.(\d+)\.", "model.encoder.layers.{0}.text_enhancer_layer.", {
        "self_attn.in_proj_weight": _qkv("self_attn", _HF_QKV, ".weight"),
        "self_attn.in_proj_bias": _qkv("self_attn", _HF_QKV, ".bias"),
        "self_attn.out_proj": "self_attn.out_proj",
        "linear1": "fc1",
        "linear2": "fc2",
        "norm1": "layer_norm_before",
        "norm2": "layer_norm_after",
    }),
    (r"transformer\.encoder\.fusion_layers\.(\d+)\.", "model.encoder.layers.{0}.fusion_layer.", {
        "gamma_v": "vision_param",
        "gamma_l": "text_param",
        "layer_norm_v": "layer_norm_vision",
        "layer_norm_l": "layer_norm_text",
        "attn.v_proj": "attn.vision_proj",
        "attn.l_proj": "attn.text_proj",
        "attn.values_v_proj": "attn.values_vision_proj",
        "attn.values_l_proj": "attn.values_text_proj",
        "attn.out_v_proj": "attn.out_vision_proj",
        "attn.out_l_proj": "attn.out_text_proj",
    }),
    (r"transformer\.decoder\.layers\.(\d+)\.", "model.decoder.layers.{0}.", {
        "cross_attn": "encoder_attn",
        "norm1": "encoder_attn_layer_norm",
        "ca_text.in_proj_weight": _qkv("encoder_attn_text", _HF_QKV, ".weight"),
        "ca_text.in_proj_bias": _qkv("encoder_attn_text", _HF_QKV, ".bias"),
        "ca_text.out_proj": "encoder_attn_text.out_proj",
        "catext_norm": "encoder_attn_text_layer_norm",
        "self_attn.in_proj_weight": _qkv("self_attn", _HF_QKV, ".weight"),
        "self_attn.in_proj_bias": _qkv("self_attn", _HF_QKV, ".bias"),
        "self_attn.out_proj": "self_attn.out_proj",
        "norm2": "self_attn_layer_norm",
        "linear1": "fc1",
        "linear2": "fc2",
        "norm3": "final_layer_norm",
    }),
    (r"transformer\.decoder\.", "model.decoder.",
     {"norm": "layer_norm", "ref_point_head": "reference_points_head", "bbox_embed": "bbox_embed"}),
    (r"transformer\.", "model.", {
        "enc_output": "enc_output",
        "enc_output_norm": "enc_output_norm",
        "enc_out_bbox_embed": "encoder_output_bbox_embed",
        "level_embed": "level_embed",
        "tgt_embed": "query_position_embeddings",
    }),
    (r"", "", {"bbox_embed": "bbox_embed"}),
)

IGNORED_ORIGINAL_KEYS: dict[str, str] = {
    r"label_enc\.weight":
        "training only: the (dn_labelbook_size + 1) x hidden_dim = 2001 x 256 label embedding of the denoising "
        "queries (DN-DETR / DINO), read by the training forward pass alone; the released inference code does not "
        "build it and transformers' model has no counterpart",
    r"bert\.embeddings\.position_ids":
        "derivable: the constant buffer arange(512)[None] that transformers < 4.31 saved with BERT; transformers "
        "rebuilds it",
    r"backbone\.0\.layers\.\d+\.blocks\.\d+\.attn\.relative_position_index":
        "derivable: Swin's constant table of window-relative position indices, computed from the window size; "
        "transformers' Swin computes the same table",
    r"bert\.pooler\.dense\.(weight|bias)":
        "unused: BERT's [CLS] pooler, frozen upstream (requires_grad False) and never read (Grounding DINO takes "
        "BERT's last hidden states); transformers' Grounding DINO builds no pooler",
}
"""Original keys (regular expressions, full match, after any ``module.`` prefix) that the conversion drops, with why
each is safe to drop: training-only and derivable tensors, and an unused head. Every other key must map to a
parameter of the detector, and every parameter must be in the file."""
_IGNORED = re.compile("|".join(f"(?:{pattern})" for pattern in IGNORED_ORIGINAL_KEYS))

_ALLOWED_MISSING = re.compile(r".*\.swin\.layernorm\..*")  # transformers' Swin head norm, unused by the backbone


def _rename(rest: str, table: dict[str, Target]) -> tuple[Target, str] | None:
    """The target of the longest table path that is a component-wise prefix of ``rest``, and the remainder."""
    parts = rest.split(".")
    for cut in range(len(parts), -1, -1):
        head = ".".join(parts[:cut])
        if head in table:
            tail = ".".join(parts[cut:])
            return table[head], ("." + tail if head and tail else tail)
    return None


def convert_key(key: str) -> Target | None:
    """The transformers key(s) of one original key (``module.`` already stripped); None if no rule knows it.

    A tuple of three keys means the tensor is a fused query/key/value stack to split along dimension 0.
    """
    for pattern, template, table in _SCOPES:
        match = re.match(pattern, key)
        if match is None:
            continue
        found = _rename(key[match.end():], table)
        if found is None:
            continue
        target, tail = found
        prefix = template.format(*match.groups())
        if isinstance(target, tuple):
            return tuple(prefix + name + tail for name in target)  # type: ignore[return-value]
        return prefix + target + tail if target else prefix + tail.lstrip(".")
    return None


def convert_original_state_dict(
    state: Mapping[str, Tensor], known: Container[str] | None = None
) -> tuple[dict[str, Tensor], list[str]]:
    """Original keys -> transformers keys. Returns the converted dict and the original keys that are unknown.

    The keys of :data:`IGNORED_ORIGINAL_KEYS` are dropped; a ``module.`` prefix (from DistributedDataParallel) is
    stripped. A key is unknown when no rule knows it or, given ``known`` (the detector's keys), when its target is
    not one of them; unknown keys are reported under their original names.
    """
    converted: dict[str, Tensor] = {}
    unknown: list[str] = []
    for raw_key, tensor in state.items():
        key = raw_key.removeprefix("module.")
        if _IGNORED.fullmatch(key):
            continue
        target = convert_key(key)
        targets = target if isinstance(target, tuple) else (target,)
        if target is None or (known is not None and any(name not in known for name in targets)):
            unknown.append(raw_key)
        elif isinstance(target, tuple):
            if tensor.shape[0] % 3:
                raise GroPromptError(f"fused query/key/value tensor {raw_key!r} has {tensor.shape[0]} rows, "
                                     "not a multiple of 3", fix="check that the file is a Grounding DINO checkpoint")
            converted.update(zip(target, tensor.chunk(3, dim=0)))
        else:
            converted[target] = tensor
    return converted, unknown


def _first(keys: list[str], count: int = 5) -> str:
    return ", ".join(keys[:count]) + (f" (and {len(keys) - count} more)" if len(keys) > count else "")


def load_original_weights(detector: GroundingDinoForObjectDetection, path: str | Path) -> None:
    """Load an original IDEA-Research ``.pth`` (``{"model": state_dict}``) into ``detector`` (in place).

    Raises :class:`GroPromptError` naming the file and the first offending keys when a key is unknown, a tensor's
    shape differs from the detector's, or a parameter of the detector is not in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise GroPromptError("Grounding DINO checkpoint not found", path=path,
                             fix="give the path of groundingdino_swint_ogc.pth / groundingdino_swinb_cogcoor.pth, "
                             "or of a Hugging Face folder")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a non-checkpoint file
        raise GroPromptError(f"cannot read the checkpoint: {error}", path=path,
                             fix="give an original Grounding DINO .pth file") from None
    if not isinstance(payload, Mapping) or not isinstance(payload.get("model"), Mapping):
        raise GroPromptError("not an original Grounding DINO checkpoint: no 'model' state dict", path=path,
                             fix="give groundingdino_swint_ogc.pth / groundingdino_swinb_cogcoor.pth")
    expected = detector.state_dict()
    converted, unknown = convert_original_state_dict(payload["model"], known=expected)
    if unknown:
        raise GroPromptError(f"unknown keys in the checkpoint: {_first(unknown)}", path=path,
                             fix="the file is not an original Grounding DINO checkpoint of this version")
    wrong = [f"{key} {tuple(tensor.shape)} (expected {tuple(expected[key].shape)})"
             for key, tensor in converted.items() if tensor.shape != expected[key].shape]
    if wrong:
        raise GroPromptError(f"checkpoint tensors of the wrong shape: {_first(wrong, 3)}", path=path,
                             fix="set the prompter size the checkpoint was trained with (swin-t or swin-b)")
    # A tied parameter (the shared box heads) is loaded when any of its names is in the file.
    named = list(detector.named_parameters(remove_duplicate=False))
    loaded = {id(param) for name, param in named if name in converted}
    missing = [name for name, param in named if id(param) not in loaded and not _ALLOWED_MISSING.fullmatch(name)]
    if missing:
        raise GroPromptError(f"parameters missing from the checkpoint: {_first(missing)}", path=path,
                             fix="set the prompter size the checkpoint was trained with (swin-t or swin-b)")
    detector.load_state_dict(converted, strict=False)
