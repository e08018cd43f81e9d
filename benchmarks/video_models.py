"""The video models of the SAM 2 and SAM 3 baselines as Hugging Face folders with random weights, offline, at the
benchmark's two sizes (and, for SAM 3, the tiny one the tests use too).

* SAM 2, ``paper``: SAM 2.1 Hiera-L (the official ``sam2.1_hiera_l`` settings: Hiera of 144 channels, stages of 2,
  6, 36 and 4 blocks, global attention in blocks 23, 33, 43; the library's defaults for the rest, 1024-pixel input);
  ``tiny``: the embedded default's stand-in shape (:func:`groprompt.tracking.standin.standin_sam2_config`).
* SAM 3, ``paper``: transformers' ``Sam3VideoConfig()`` (the released model's shape, about 860M parameters);
  ``tiny``: about 4M parameters at 112 pixels, its detection thresholds lowered to 0.2 so that random weights detect
  something. Both with a character-level CLIP tokenizer written here: speed does not depend on which tokens the ids
  stand for, and SAM 3's text encoder takes 32 tokens whatever the vocabulary (longer prompts are cut to fit).
"""

from __future__ import annotations

import string
from pathlib import Path

SAM3_TINY_IMAGE_SIZE, SAM3_TINY_PATCH = 112, 14


def write_sam2(folder: Path, size: str) -> Path:
    """A random SAM 2 video model of ``size`` (``paper`` or ``tiny``) and its processor, saved into ``folder``."""
    from transformers import Sam2HieraDetConfig, Sam2VideoConfig, Sam2VideoModel

    from groprompt.tracking.standin import standin_sam2_config, standin_sam2_processor

    if size == "tiny":
        config, processor = standin_sam2_config(), standin_sam2_processor()
    else:
        from transformers import Sam2ImageProcessor, Sam2VideoProcessor
        from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

        dims = [144, 288, 576, 1152]
        backbone = Sam2HieraDetConfig(hidden_size=144, num_attention_heads=2, blocks_per_stage=[2, 6, 36, 4],
                                      embed_dim_per_stage=dims, num_attention_heads_per_stage=[2, 4, 8, 16],
                                      window_size_per_stage=[8, 4, 16, 8], global_attention_blocks=[23, 33, 43])
        config = Sam2VideoConfig(vision_config={"backbone_config": backbone.to_dict(),
                                                "backbone_channel_list": dims[::-1]})
        processor = Sam2VideoProcessor(image_processor=Sam2ImageProcessor(), video_processor=Sam2VideoVideoProcessor())
    Sam2VideoModel(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def write_sam3(folder: Path, size: str, thresholds: float | None = None) -> Path:
    """A random SAM 3 video model of ``size`` (``paper`` or ``tiny``), its processor and a character-level
    tokenizer, saved into ``folder``; ``thresholds`` overrides both detection thresholds (tiny: 0.2)."""
    from transformers import CLIPTokenizer, Sam3VideoConfig, Sam3VideoModel, Sam3VideoProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor
    from transformers.models.sam3.image_processing_sam3 import Sam3ImageProcessor

    chars = list(string.ascii_lowercase + string.digits + ".,'-")
    vocab = {token: i for i, token in enumerate(["<|startoftext|>", "<|endoftext|>", *chars,
                                                 *(c + "</w>" for c in chars)])}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    if size == "tiny":
        config, image_size = _tiny_sam3_config(len(vocab)), SAM3_TINY_IMAGE_SIZE
        thresholds = 0.2 if thresholds is None else thresholds
    else:
        config = Sam3VideoConfig()
        image_size = config.tracker_config.image_size
    if thresholds is not None:
        config.score_threshold_detection = config.new_det_thresh = thresholds
    Sam3VideoModel(config).save_pretrained(folder)
    frame = {"height": image_size, "width": image_size}
    Sam3VideoProcessor(image_processor=Sam3ImageProcessor(size=frame),
                       video_processor=Sam2VideoVideoProcessor(size=frame, image_mean=[0.5] * 3, image_std=[0.5] * 3),
                       tokenizer=tokenizer).save_pretrained(folder)
    return folder


def _tiny_sam3_config(vocabulary: int):
    """About 4M parameters. Every width the tracker shares with the detector is 128: the tracker's memory is 64
    channels wide (fixed in the library), and its object pointers are split into memory-wide tokens only when the
    model is wider."""
    from transformers import Sam3VideoConfig

    grid = SAM3_TINY_IMAGE_SIZE // SAM3_TINY_PATCH
    vision = {"model_type": "sam3_vision_model", "fpn_hidden_size": 128,
              "backbone_feature_sizes": [[4 * grid] * 2, [2 * grid] * 2, [grid] * 2],
              "backbone_config": {"model_type": "sam3_vit_model", "hidden_size": 32, "intermediate_size": 64,
                                  "num_hidden_layers": 2, "num_attention_heads": 2,
                                  "image_size": SAM3_TINY_IMAGE_SIZE, "patch_size": SAM3_TINY_PATCH,
                                  "window_size": 4, "global_attn_indexes": [1], "pretrain_image_size": 56}}
    text = {"model_type": "clip_text_model", "vocab_size": vocabulary, "hidden_size": 32, "intermediate_size": 64,
            "projection_dim": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 32,
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    block = {"hidden_size": 128, "num_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    detector = {"vision_config": vision, "text_config": text, "geometry_encoder_config": block,
                "detr_encoder_config": block, "detr_decoder_config": {**block, "num_queries": 4},
                "mask_decoder_config": {"hidden_size": 128, "num_attention_heads": 2}}
    tracker = {"vision_config": vision, "image_size": SAM3_TINY_IMAGE_SIZE,
               "prompt_encoder_config": {"hidden_size": 128, "image_size": SAM3_TINY_IMAGE_SIZE,
                                         "patch_size": SAM3_TINY_PATCH},
               "mask_decoder_config": {"hidden_size": 128, "mlp_dim": 64, "num_attention_heads": 2,
                                       "iou_head_hidden_dim": 32},
               "memory_attention_hidden_size": 128, "memory_attention_num_layers": 1,
               "memory_attention_feed_forward_hidden_size": 128, "memory_attention_rope_feat_sizes": [grid, grid],
               "memory_encoder_hidden_size": 128, "memory_encoder_output_channels": 64,
               "mask_downsampler_embed_dim": 128, "memory_fuser_embed_dim": 128, "memory_fuser_intermediate_dim": 64}
    return Sam3VideoConfig(detector_config=detector, tracker_config=tracker, low_res_mask_size=4 * grid)
