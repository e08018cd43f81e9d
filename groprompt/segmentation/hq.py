"""SAM-HQ in the segmentor: its official modules, the per-frame features its decoder needs, its single-mask output.

SAM-HQ (Ke et al., "Segment Anything in High Quality", NeurIPS 2023) keeps SAM's image and prompt encoders and adds
to the mask decoder (``segment_anything_hq.modeling.MaskDecoderHQ``) an HQ output token (``hf_token``, with its
hypernetwork ``hf_mlp``) that predicts a mask from a fused high-resolution feature map:

    hq_features = embedding_encoder(image embedding) + compress_vit_feat(early ViT feature)     (C/8, 4h, 4w)

where the early ViT feature is the output of the image encoder's first global-attention block (SAM-HQ's
``ImageEncoderViT`` returns it besides the embedding). The decoder adds ``embedding_maskfeature`` of its own
upscaled embedding to ``hq_features`` per prompt; the two terms above depend on the frame only.

So the segmentor computes ``hq_features`` once per frame, with the image embedding, and the embedding cache keeps
it (:attr:`~groprompt.segmentation.cache.FrameEmbedding.hq_features`): 32 x 256 x 256 for the official sizes, 4 MB a
frame in float16, where the early ViT feature itself would be 1280 x 64 x 64 = 10 MB for ViT-H and would be
upscaled again at every decoder call. The mask decoder then runs ``MaskDecoderHQ.predict_masks`` on it and
:func:`decode_single_masks` picks its outputs exactly as ``MaskDecoderHQ.forward`` does; tests/test_segmentation_hq.py
checks the masks equal ``segment_anything_hq.SamPredictor``'s.

Output for a box with ``multimask_output=False``: ``hq_token_only=False``, the default of
``SamPredictor.predict``: the mask logits are SAM's single-mask output plus the HQ token's ("use the HQ output to
correct SAM's output"). The SAM-HQ authors' demo says they set it so for quantitative evaluation on COCO, YTVOS,
DAVIS, UVO and LVIS, and suggest it for images holding several objects, as RVOS frames do (``hq_token_only=True``,
the HQ token's mask alone, only for images of a single object).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from types import ModuleType

import torch

from groprompt.errors import GroPromptError

HQ_KEY_FAMILIES = ("hf_token", "hf_mlp", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature")
"""The mask-decoder modules SAM-HQ adds to SAM; their keys are ``mask_decoder.<family>.*`` in a state dict."""

_MODELING = "segment_anything_hq.modeling"


def hq_modeling() -> ModuleType:
    """``segment_anything_hq.modeling``, imported on first use (it imports timm, about 3 s), so runs of plain SAM
    never pay for it."""
    try:
        with warnings.catch_warnings():
            # segment_anything_hq imports timm through paths timm deprecates (FutureWarning) and registers its
            # TinyViT builders under names timm already uses (UserWarning "Overwriting tiny_vit_..."). The harness
            # builds SAM-HQ's ViT models only, so neither concerns it; left alone they would greet every run.
            warnings.filterwarnings("ignore", message="Importing from timm", category=FutureWarning)
            warnings.filterwarnings("ignore", message="Overwriting tiny_vit_", category=UserWarning)
            import segment_anything_hq.modeling as modeling
    except ImportError as error:
        raise GroPromptError(
            f"SAM-HQ needs the packages segment-anything-hq and timm ({error})",
            fix="install the harness's dependencies again: pip install -e .",
        ) from error
    return modeling


def is_sam_hq(sam: torch.nn.Module) -> bool:
    """Whether ``sam`` has SAM-HQ's mask decoder (without importing segment_anything_hq when nothing did)."""
    modeling = sys.modules.get(_MODELING)
    return modeling is not None and isinstance(getattr(sam, "mask_decoder", None), modeling.MaskDecoderHQ)


def hq_keys(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """The keys of ``state_dict`` that only SAM-HQ's mask decoder has (empty for a plain SAM state dict)."""
    prefixes = tuple(f"mask_decoder.{family}." for family in HQ_KEY_FAMILIES)
    return [key for key in state_dict if key.startswith(prefixes)]


def frame_features(sam: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SAM-HQ's per-frame outputs of preprocessed images.

    Args:
        sam: a SAM-HQ model (segment_anything_hq's ``Sam``).
        images: ``(N, 3, S, S)`` float, as ``Sam.preprocess`` gives.

    Returns:
        the image embeddings ``(N, C, h, w)`` and the fused HQ features ``(N, C // 8, 4h, 4w)`` (see the module
        docstring), in the dtype the encoder computed in.
    """
    embeddings, interm_embeddings = sam.image_encoder(images)
    # interm_embeddings[0]: the first global-attention block's output, (N, h, w, width) channels-last, as
    # MaskDecoderHQ.forward takes it.
    early = interm_embeddings[0].permute(0, 3, 1, 2)
    decoder = sam.mask_decoder
    return embeddings, decoder.embedding_encoder(embeddings) + decoder.compress_vit_feat(early)


def decode_single_masks(decoder: torch.nn.Module, image_embedding: torch.Tensor, hq_features: torch.Tensor,
                        image_pe: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """Low-resolution mask logits of K prompts on one frame, as ``MaskDecoderHQ.forward`` gives them with
    ``multimask_output=False`` and ``hq_token_only=False`` (see the module docstring).

    Args:
        decoder: SAM-HQ's mask decoder.
        image_embedding: ``(1, C, h, w)``; hq_features: ``(1, C // 8, 4h, 4w)`` (:func:`frame_features`).
        image_pe: ``(1, C, h, w)`` dense positional encoding; sparse ``(K, T, C)`` and dense ``(K, C, h, w)``:
            the prompt encoder's outputs.

    Returns:
        ``(K, 1, 4h, 4w)`` logits.
    """
    masks, _ = decoder.predict_masks(image_embeddings=image_embedding, image_pe=image_pe,
                                     sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                     hq_features=hq_features)
    # Tokens: SAM's single-mask output first, its multimask outputs, the HQ token last.
    return masks[:, :1] + masks[:, -1:]


def hq_cached_modules(sam: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The decoder modules whose outputs the embedding cache stores with a SAM-HQ frame (they make
    ``hq_features``), by state-dict prefix; empty for plain SAM."""
    if not is_sam_hq(sam):
        return {}
    return {"mask_decoder.embedding_encoder": sam.mask_decoder.embedding_encoder,
            "mask_decoder.compress_vit_feat": sam.mask_decoder.compress_vit_feat}
