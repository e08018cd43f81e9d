"""The frozen SAM (or SAM-HQ) segmentor: sizes, checkpoints, embedding cache, the segmentor itself
(docs/method_spec.md §6)."""

from groprompt.segmentation.build import build_sam, build_sam_from_config, detect_official_variant, load_sam, save_sam
from groprompt.segmentation.cache import CacheStats, EmbeddingCache, FrameEmbedding, encoder_fingerprint, weights_digest
from groprompt.segmentation.config import OFFICIAL_HQ_VARIANTS, OFFICIAL_VARIANTS, SAM_VARIANTS, SamConfig
from groprompt.segmentation.hq import HQ_KEY_FAMILIES, is_sam_hq
from groprompt.segmentation.segmentor import Segmentor

__all__ = [
    "HQ_KEY_FAMILIES",
    "OFFICIAL_HQ_VARIANTS",
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
    "is_sam_hq",
    "load_sam",
    "save_sam",
    "weights_digest",
]
