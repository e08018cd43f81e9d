"""Build a SAM or SAM-HQ of any size from the official packages' modules, and save / load its checkpoints.

Two checkpoint formats are read:

* the official release files ``sam_vit_{b,l,h}_*.pth`` and ``sam_hq_vit_{b,l,h}.pth``: a plain state dict. SAM-HQ
  is told from SAM by its mask decoder's extra keys (:data:`~groprompt.segmentation.hq.HQ_KEY_FAMILIES`); the size
  is detected from the width of ``image_encoder.patch_embed`` and the number of encoder blocks; only the official
  sizes are recognised. A SAM-HQ file configured as a SAM size, or the reverse, is an error that says which it is.
* files written by :func:`save_sam`: ``{"format": "groprompt-sam/1", "config": SamConfig.to_dict(), "model":
  state_dict}``. Sizes other than the official ones (the tiny stand-in, anything a user configures) are only
  meaningful with their config, so the config travels in the file and loading needs no size setting.

Loading is strict: every key present, none extra, every shape equal; otherwise a :class:`GroPromptError` names the
file, the first offending key with expected and found shapes, and the fix. The model is built on the meta device
and the loaded tensors are assigned into it, so loading ViT-H does not first spend seconds on a random
initialisation that would be overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import segment_anything.modeling
import torch
from segment_anything.modeling import Sam

from groprompt.errors import GroPromptError
from groprompt.files import atomic_torch_save
from groprompt.releases import verify_release
from groprompt.segmentation.config import (
    OFFICIAL_HQ_VARIANTS,
    OFFICIAL_VARIANTS,
    SAM_VARIANTS,
    SamConfig,
    resolve_config,
)
from groprompt.segmentation.hq import HQ_KEY_FAMILIES, hq_keys, hq_modeling

CHECKPOINT_FORMAT = "groprompt-sam/1"
"""Value of the ``format`` key of checkpoints written by :func:`save_sam`."""

_PATCH_KEY = "image_encoder.patch_embed.proj.weight"
_BLOCK_KEY = re.compile(r"^image_encoder\.blocks\.(\d+)\.")


def build_sam_from_config(config: SamConfig) -> Sam:
    """A randomly initialised SAM of shape ``config``, in eval mode, on the current default device.

    The official sizes give the same modules, parameter names and shapes as segment-anything's ``build_sam.py``,
    or with ``config.hq`` as segment-anything-hq's (whose ``Sam`` class and modules it then is made of).
    """
    side = config.embedding_size
    modeling = hq_modeling() if config.hq else segment_anything.modeling
    # MaskDecoderHQ also takes the encoder width: it upscales the early ViT feature (see groprompt.segmentation.hq).
    decoder = partial(modeling.MaskDecoderHQ, vit_dim=config.encoder_width) if config.hq else modeling.MaskDecoder
    sam = modeling.Sam(
        image_encoder=modeling.ImageEncoderViT(
            img_size=config.image_size,
            patch_size=config.patch_size,
            embed_dim=config.encoder_width,
            depth=config.encoder_depth,
            num_heads=config.encoder_heads,
            mlp_ratio=config.encoder_mlp_ratio,
            out_chans=config.prompt_width,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=config.encoder_window_size,
            global_attn_indexes=config.encoder_global_attn_indexes,
        ),
        prompt_encoder=modeling.PromptEncoder(
            embed_dim=config.prompt_width,
            image_embedding_size=(side, side),
            input_image_size=(config.image_size, config.image_size),
            mask_in_chans=config.mask_in_chans,
        ),
        mask_decoder=decoder(
            num_multimask_outputs=config.num_multimask_outputs,
            transformer=modeling.TwoWayTransformer(
                depth=config.decoder_depth,
                embedding_dim=config.prompt_width,
                mlp_dim=config.decoder_mlp_dim,
                num_heads=config.decoder_heads,
            ),
            transformer_dim=config.prompt_width,
            iou_head_depth=config.iou_head_depth,
            iou_head_hidden_dim=config.iou_head_hidden_dim,
        ),
    )
    return sam.eval()


def build_sam(variant: str | SamConfig, checkpoint: str | Path | None = None) -> Sam:
    """A SAM of a named size (``vit_b``, ``vit_l``, ``vit_h``, ``tiny``, ``sam-hq-vit-h``...; see
    :data:`~groprompt.segmentation.config.SAM_VARIANTS`) or of a :class:`SamConfig`, in eval mode.

    Without ``checkpoint`` the weights are random (absent under ``torch.device("meta")``). With one, the file must
    hold weights of exactly this size; see :func:`load_sam` for the formats and errors.
    """
    config = resolve_config(variant)
    if checkpoint is None:
        return build_sam_from_config(config)
    sam, _ = load_sam(checkpoint, expect=config)
    return sam


def save_sam(sam: Sam, config: SamConfig, path: str | Path) -> None:
    """Write ``sam`` with its config as a groprompt SAM checkpoint (atomically); its shapes must match ``config``."""
    state = {name: tensor.detach().cpu() for name, tensor in sam.state_dict().items()}
    _check_state_dict(_expected_shapes(config), state, path=Path(path), what="the config it is saved with")
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "config": config.to_dict(), "model": state}, path)


def load_sam(checkpoint: str | Path, expect: SamConfig | None = None) -> tuple[Sam, SamConfig]:
    """Load a SAM checkpoint onto the CPU in eval mode; returns the model and its config.

    Args:
        checkpoint: an official ``sam_vit_{b,l,h}_*.pth`` or ``sam_hq_vit_{b,l,h}.pth`` (plain state dict) or a file
            written by :func:`save_sam`.
        expect: the size the caller configured. A plain state dict is then loaded as that size (so an official
            file can also be checked against a custom config); a groprompt file must carry exactly this config.
            None: the size comes from the file (stored config, or detection among the official sizes).
    """
    path = Path(checkpoint)
    if path.is_file():
        verify_release(path)  # a released stand-in: the file must be the released bytes
    state, config = _read_checkpoint(path)
    if expect is not None:
        _check_model_kind(state, expect, path)
    if config is None:
        config = expect if expect is not None else SAM_VARIANTS[detect_official_variant(state, path)]
    elif expect is not None and config != expect:
        differences = [
            f"{name}: file {value!r}, configured {getattr(expect, name)!r}"
            for name, value in vars(config).items()
            if getattr(expect, name) != value
        ]
        raise GroPromptError(
            "the SAM checkpoint holds a different size than the one configured (" + "; ".join(differences) + ")",
            path=path,
            fix="configure the size stored in the file, or point to a checkpoint of the configured size",
        )
    _check_state_dict(_expected_shapes(config), state, path=path, what=_describe(config))
    with torch.device("meta"):
        sam = build_sam_from_config(config)
    sam.load_state_dict(state, strict=True, assign=True)
    return sam.float().eval(), config


def detect_official_variant(state_dict: Mapping[str, torch.Tensor], path: Path | None = None) -> str:
    """The official size (``vit_b`` / ``vit_l`` / ``vit_h``, or ``sam-hq-vit-b`` / ``-l`` / ``-h``) of a plain
    SAM or SAM-HQ state dict.

    SAM-HQ when the mask decoder has SAM-HQ's keys; the size by the image encoder's width (dim 0 of
    ``image_encoder.patch_embed.proj.weight``), patch size and number of blocks. The caller still loads strictly,
    which checks every other shape.
    """
    if _PATCH_KEY not in state_dict:
        raise GroPromptError(
            f"not a SAM state dict: it has no key {_PATCH_KEY!r}",
            path=path,
            fix="point the segmentor checkpoint to an official sam_vit_{b,l,h}_*.pth or a file written by save_sam",
        )
    width, _, patch, _ = state_dict[_PATCH_KEY].shape
    blocks = {int(m.group(1)) for key in state_dict if (m := _BLOCK_KEY.match(key))}
    depth = max(blocks) + 1 if blocks else 0
    candidates = OFFICIAL_HQ_VARIANTS if hq_keys(state_dict) else OFFICIAL_VARIANTS
    for name in candidates:
        config = SAM_VARIANTS[name]
        if (config.encoder_width, config.encoder_depth, config.patch_size) == (width, depth, patch):
            return name
    official = ", ".join(f"{n} {_describe(SAM_VARIANTS[n])}" for n in candidates)
    raise GroPromptError(
        f"the {_kind(bool(hq_keys(state_dict)))} state dict matches no official size: found image encoder width "
        f"{width}, {depth} blocks, patch {patch}; official sizes: {official}",
        path=path,
        fix="use an official checkpoint, or for another size a file written by save_sam (it stores its config)",
    )


def _check_model_kind(state: Mapping[str, torch.Tensor], expect: SamConfig, path: Path) -> None:
    """Raise a named error when the file is SAM-HQ and the configured size is SAM, or the reverse."""
    found = hq_keys(state)
    if bool(found) == expect.hq:
        return
    try:
        name = detect_official_variant(state, path)
        suggestion = f"set the segmentor variant to {name} (groprompt infer --segmentor-variant {name})"
    except GroPromptError:  # not an official size: only the kind can be named
        suggestion = f"configure a {_kind(bool(found))} size of the file's shape"
    if found:
        raise GroPromptError(
            f"the checkpoint is a SAM-HQ model (its mask decoder has SAM-HQ's keys, e.g. {found[0]}) but a plain "
            "SAM size is configured",
            path=path,
            fix=f"{suggestion}, or leave the variant out to detect it from the file",
        )
    raise GroPromptError(
        f"a SAM-HQ size is configured but the checkpoint is a plain SAM model (its mask decoder has none of "
        f"SAM-HQ's keys {', '.join(HQ_KEY_FAMILIES)})",
        path=path,
        fix=f"{suggestion}, or point the segmentor to the SAM-HQ release file (sam_hq_vit_{{b,l,h}}.pth) of the "
            "configured size",
    )


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], SamConfig | None]:
    """The state dict of a checkpoint file and, for groprompt files, its stored config."""
    if path.is_dir():
        found = sorted(p.name for p in path.iterdir() if p.suffix in (".pth", ".pt") and p.is_file())
        inside = f"; it holds {', '.join(found[:3])}" if found else ", and holds no .pth or .pt file"
        raise GroPromptError(
            f"the SAM checkpoint is a folder, not a file{inside}",
            path=path,
            fix="point to the checkpoint file itself: an official sam_vit_{b,l,h}_*.pth or a .pt written by "
                "save_sam (e.g. FOLDER/sam_vit_b_01ec64.pth)",
        )
    if not path.is_file():
        raise GroPromptError(
            "SAM checkpoint not found",
            path=path,
            fix="download the official checkpoint (or train the stand-in) and set its path in the config",
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not a checkpoint
        raise GroPromptError(
            f"cannot read the SAM checkpoint: {type(error).__name__}: {str(error).splitlines()[0]}",
            path=path,
            fix="the file is not a PyTorch checkpoint or is truncated; download or train it again",
        ) from error
    if isinstance(payload, dict) and "format" in payload:
        if payload["format"] != CHECKPOINT_FORMAT or not {"config", "model"} <= payload.keys():
            raise GroPromptError(
                f"unsupported checkpoint format {payload['format']!r} (expected {CHECKPOINT_FORMAT!r} with "
                "'config' and 'model')",
                path=path,
                fix="write the checkpoint with groprompt.segmentation.save_sam",
            )
        return payload["model"], SamConfig.from_dict(payload["config"])
    if isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return payload, None
    raise GroPromptError(
        f"not a SAM checkpoint: it holds a {type(payload).__name__}, not a state dict",
        path=path,
        fix="point to an official sam_vit_{b,l,h}_*.pth or a file written by save_sam",
    )


def _expected_shapes(config: SamConfig) -> dict[str, torch.Size]:
    with torch.device("meta"):
        return {name: tensor.shape for name, tensor in build_sam_from_config(config).state_dict().items()}


def _check_state_dict(expected: Mapping[str, torch.Size], found: Mapping[str, torch.Tensor], *, path: Path,
                      what: str) -> None:
    """Raise a named error unless ``found`` has exactly the keys and shapes of ``expected``."""
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    wrong = [key for key in expected if key in found and tuple(found[key].shape) != tuple(expected[key])]
    if not (missing or unexpected or wrong):
        return
    details = []
    if wrong:
        key = wrong[0]
        details.append(f"{len(wrong)} shapes differ, first {key}: expected {tuple(expected[key])}, "
                       f"found {tuple(found[key].shape)}")
    if missing:
        details.append(f"{len(missing)} keys missing, first {missing[0]}")
    if unexpected:
        details.append(f"{len(unexpected)} unexpected keys, first {unexpected[0]}")
    raise GroPromptError(
        f"the SAM weights do not fit {what}: " + "; ".join(details),
        path=path,
        fix="set the segmentor size to the one the checkpoint was made for, or use a checkpoint of the configured size",
    )


def _kind(hq: bool) -> str:
    return "SAM-HQ" if hq else "SAM"


def _describe(config: SamConfig) -> str:
    return (f"({_kind(config.hq)}, image encoder width {config.encoder_width}, {config.encoder_depth} blocks, patch "
            f"{config.patch_size}, input {config.image_size}px, prompt width {config.prompt_width})")
