"""Tiny random SAM 2 video models saved as Hugging Face folders, for the tests of the SAM 2 baselines.

The sizes are the smallest transformers' ``Sam2VideoModel`` runs with: its memory attention's key width is fixed at
64 (the memory encoder's output), and its object pointers are split into ``hidden / 64`` tokens, which only works
for a hidden width above 64; everything else is shrunk. Nothing here downloads.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    Sam2HieraDetConfig,
    Sam2ImageProcessor,
    Sam2VideoConfig,
    Sam2VideoModel,
    Sam2VideoProcessor,
    Sam2VideoVideoProcessor,
)


def tiny_sam2_config(side: int = 64) -> Sam2VideoConfig:
    """A ~0.5M-parameter SAM 2 for ``side``-pixel inputs (a multiple of 64)."""
    dims = [8, 16, 32, 64]
    backbone = Sam2HieraDetConfig(
        hidden_size=dims[0], num_attention_heads=1, image_size=[side, side], blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=dims, num_attention_heads_per_stage=[1, 1, 1, 1], window_size_per_stage=[4, 4, 4, 4],
        global_attention_blocks=[3], window_positional_embedding_background_size=[4, 4])
    features = side // 4
    vision = {"backbone_config": backbone.to_dict(), "backbone_channel_list": dims[::-1], "fpn_hidden_size": 128,
              "backbone_feature_sizes": [[features, features], [features // 2] * 2, [features // 4] * 2]}
    return Sam2VideoConfig(
        vision_config=vision, image_size=side,
        prompt_encoder_config={"hidden_size": 128, "image_size": side, "patch_size": 16},
        mask_decoder_config={"hidden_size": 128, "mlp_dim": 128, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
        memory_attention_hidden_size=128, memory_attention_num_layers=1, memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[side // 16, side // 16], memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64, mask_downsampler_embed_dim=128, memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=64)


def save_tiny_sam2(folder: Path, side: int = 64, seed: int = 0) -> Path:
    """A random tiny SAM 2 and its processor written with ``save_pretrained`` into ``folder``; returns it."""
    torch.manual_seed(seed)
    Sam2VideoModel(tiny_sam2_config(side)).save_pretrained(folder)
    size = {"height": side, "width": side}
    Sam2VideoProcessor(image_processor=Sam2ImageProcessor(size=size, mask_size={"height": side // 4, "width": side // 4}),
                       video_processor=Sam2VideoVideoProcessor(size=size)).save_pretrained(folder)
    return folder
