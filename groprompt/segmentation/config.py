"""SAM sizes by registry: a config object that describes any size, and the named sizes the harness knows.

The official sizes (``vit_b``, ``vit_l``, ``vit_h``) reproduce segment-anything's ``build_sam.py`` settings and
load the official ``sam_vit_*.pth`` files; ``tiny`` is the stand-in segmentor of the embedded default
(``docs/stack_notes.md``, "Training the stand-in models"). ``sam-hq-vit-{b,l,h}`` are the same sizes with SAM-HQ's
mask decoder (``hq=True``, :mod:`groprompt.segmentation.hq`) and load the official ``sam_hq_vit_*.pth`` files;
``sam-hq-tiny`` is the tiny size with it, for tests. Every size is assembled from the official packages' own modules
(``Sam(image_encoder, prompt_encoder, mask_decoder)``, see :mod:`groprompt.segmentation.build`): segment-anything's,
or segment-anything-hq's for SAM-HQ, so the segmentor is the official code (docs/method_spec.md §6).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from groprompt.errors import GroPromptError


@dataclass(frozen=True)
class SamConfig:
    """The shape of a SAM model. The defaults are the official ViT-B.

    Attributes:
        image_size: side of the square encoder input in pixels; frames are resized so their longest side is this,
            then zero-padded to a square.
        patch_size: ViT patch side in pixels; the image embedding is ``image_size // patch_size`` on a side.
        encoder_width: ViT token width (``embed_dim``; 768 / 1024 / 1280 for ViT-B / L / H).
        encoder_depth: number of ViT blocks.
        encoder_heads: attention heads per ViT block.
        encoder_window_size: side of the attention window, in tokens, of the windowed blocks.
        encoder_global_attn_indexes: the blocks (0-based) that attend globally instead of in windows.
        encoder_mlp_ratio: ViT MLP hidden width as a multiple of ``encoder_width``.
        prompt_width: channels of the image embedding, of the prompt tokens and of the mask decoder (256 for the
            official sizes); a box prompt embeds to ``2 * prompt_width`` numbers.
        mask_in_chans: hidden channels of the prompt encoder's mask-input branch.
        decoder_depth: layers of the two-way transformer of the mask decoder.
        decoder_heads: attention heads of the mask decoder.
        decoder_mlp_dim: MLP hidden width of the mask decoder's transformer.
        iou_head_depth, iou_head_hidden_dim: the mask-quality head.
        num_multimask_outputs: masks of the ambiguity-aware output (one more token is the single-mask output).
        hq: SAM-HQ (Ke et al., NeurIPS 2023) instead of SAM: the same image and prompt encoders, and a mask
            decoder (``MaskDecoderHQ``) with an extra HQ output token that also reads the output of the encoder's
            first global-attention block. The official HQ files hold SAM's weights plus the decoder's ``hf_token``,
            ``hf_mlp``, ``compress_vit_feat``, ``embedding_encoder`` and ``embedding_maskfeature``.
    """

    image_size: int = 1024
    patch_size: int = 16
    encoder_width: int = 768
    encoder_depth: int = 12
    encoder_heads: int = 12
    encoder_window_size: int = 14
    encoder_global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    encoder_mlp_ratio: float = 4.0
    prompt_width: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3
    hq: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder_global_attn_indexes", tuple(self.encoder_global_attn_indexes))
        problems = []
        if self.image_size % self.patch_size:
            problems.append(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.encoder_width % self.encoder_heads:
            problems.append(f"encoder_width {self.encoder_width} is not divisible by encoder_heads "
                            f"{self.encoder_heads}")
        bad = [i for i in self.encoder_global_attn_indexes if not 0 <= i < self.encoder_depth]
        if bad:
            problems.append(f"encoder_global_attn_indexes {bad} are not blocks of a depth-{self.encoder_depth} encoder")
        # The decoder upscales to prompt_width // 8 channels; its cross-attention runs at half width.
        if self.prompt_width % 8:
            problems.append(f"prompt_width {self.prompt_width} is not a multiple of 8")
        elif (self.prompt_width // 2) % self.decoder_heads:
            problems.append(f"prompt_width / 2 = {self.prompt_width // 2} is not divisible by decoder_heads "
                            f"{self.decoder_heads}")
        if self.hq and not self.encoder_global_attn_indexes:
            problems.append("SAM-HQ's decoder reads the first global-attention block's output, but "
                            "encoder_global_attn_indexes is empty")
        if self.mask_in_chans % 4:
            problems.append(f"mask_in_chans {self.mask_in_chans} is not a multiple of 4")
        if problems:
            raise GroPromptError(
                "invalid SAM config: " + "; ".join(problems),
                fix="adjust the segmentor's size settings so that the listed constraints hold",
            )

    @property
    def embedding_size(self) -> int:
        """Side of the image embedding in tokens (64 for the official sizes)."""
        return self.image_size // self.patch_size

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible values (tuples become lists)."""
        values = dataclasses.asdict(self)
        values["encoder_global_attn_indexes"] = list(self.encoder_global_attn_indexes)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SamConfig:
        """The inverse of :meth:`to_dict`; an unknown key is an error (a typo must not fall back to a default)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GroPromptError(
                f"unknown SAM config keys {unknown}",
                fix=f"use only these keys: {', '.join(sorted(known))}",
            )
        return cls(**values)


SAM_VARIANTS: dict[str, SamConfig] = {
    "vit_b": SamConfig(),
    "vit_l": SamConfig(encoder_width=1024, encoder_depth=24, encoder_heads=16,
                       encoder_global_attn_indexes=(5, 11, 17, 23)),
    "vit_h": SamConfig(encoder_width=1280, encoder_depth=32, encoder_heads=16,
                       encoder_global_attn_indexes=(7, 15, 23, 31)),
    # The stand-in of the embedded default (docs/stack_notes.md): 128-pixel input, 16x16x64 embedding, 0.36M parameters.
    "tiny": SamConfig(image_size=128, patch_size=8, encoder_width=64, encoder_depth=2, encoder_heads=4,
                      encoder_window_size=4, encoder_global_attn_indexes=(1,), prompt_width=64, decoder_heads=4,
                      decoder_mlp_dim=256, iou_head_hidden_dim=64),
}
SAM_VARIANTS |= {f"sam-hq-{name.replace('_', '-')}": dataclasses.replace(SAM_VARIANTS[name], hq=True)
                 for name in ("vit_b", "vit_l", "vit_h", "tiny")}
"""The named sizes: the three official SAM sizes, the tiny stand-in, and each of them with SAM-HQ's decoder
(``sam-hq-vit-b``, ``sam-hq-vit-l``, ``sam-hq-vit-h``, ``sam-hq-tiny``)."""

OFFICIAL_VARIANTS = ("vit_b", "vit_l", "vit_h")
"""Sizes whose checkpoints are plain state dicts from the SAM release (``sam_vit_{b,l,h}_*.pth``)."""

OFFICIAL_HQ_VARIANTS = ("sam-hq-vit-b", "sam-hq-vit-l", "sam-hq-vit-h")
"""Sizes whose checkpoints are plain state dicts from the SAM-HQ release (``sam_hq_vit_{b,l,h}.pth``)."""


def resolve_config(variant: str | SamConfig) -> SamConfig:
    """The config of a named size, or ``variant`` itself when it already is a config."""
    if isinstance(variant, SamConfig):
        return variant
    try:
        return SAM_VARIANTS[variant]
    except KeyError:
        raise GroPromptError(
            f"unknown SAM variant {variant!r}",
            fix=f"choose one of: {', '.join(SAM_VARIANTS)}",
        ) from None
