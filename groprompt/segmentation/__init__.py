"""The frozen SAM segmentor: sizes, checkpoints, embedding cache, the segmentor itself (docs/method_spec.md §6)."""

from groprompt.segmentation.build import build_sam, build_sam_from_config, detect_official_variant, load_sam, save_sam
from groprompt.segmentation.cache import CacheStats, EmbeddingCache, FrameEmbedding, encoder_fingerprint, weights_digest
from groprompt.segmentation.config import OFFICIAL_VARIANTS, SAM_VARIANTS, SamConfig
from groprompt.segmentation.segmentor import Segmentor

__all__ = [
    "OFFICIAL_VARIANTS",
    "SAM_VARIANTS",
    "CacheStats",
    "EmbeddingCache",
    "FrameEmbedding",
    "SamConfig",
    "Segmentor",
    "build_sam",
    "build_sam_from_config",
    "detect_official_variant",
    "encoder_fingerprint",
    "load_sam",
    "save_sam",
    "weights_digest",
]
