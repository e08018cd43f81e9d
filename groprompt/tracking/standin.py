"""The stand-in SAM 2 of the embedded default: one tiny ``Sam2VideoConfig`` and its processor, sized for SynRVOS.

SynRVOS frames are 96x96 (``docs/synthetic_benchmark.md``); the stand-in SAM reads them at 128 (``docs/stack_notes.md``),
and so does this tracker, so both see the same pixels per object. Everything that the library derives from the
input size at 1024 (the backbone's three feature-map sizes at strides 4, 8 and 16, the memory attention's RoPE grid
at stride 16, the prompt encoder's image and mask sizes, the mask downsampler's total stride) is set here from
``image_size`` instead, so the model, ``save_pretrained`` / ``from_pretrained`` and ``Sam2VideoModel``'s video API
work unchanged.

Sizes (``standin_sam2_config()``: 2.24M parameters, 9 MB in float32): a four-stage Hiera 24/48/96/192 wide with
1/1/2/1 blocks (global attention in the third stage's last block; 0.71M with its neck), a 128-wide neck, prompt
encoder and two-way mask decoder (0.77M), two 128-wide memory-attention layers with RoPE on the 8x8 stride-16 grid
(0.50M), a 64-channel memory encoder with one fuser block (0.20M), and seven memory slots as in SAM 2. The memory is
64 channels because the library's memory cross-attention reads 64-channel keys, and the rest 128 wide because the
library splits object pointers into memory-wide tokens only when they are wider than the memory (with one mask per
prompt, equal widths would hand it pointers of the wrong rank). Two choices differ from SAM 2's defaults, both so
that training optimises exactly what inference computes (``groprompt.pretraining.tracker``):

* dropout 0 in the memory attention and its RoPE (SAM 2 trains with 0.1; the training forward runs the library's
  inference code, in eval mode, where dropout is off anyway);
* one mask per prompt, always: ``multimask_output_in_sam=False`` and no dynamic multimask selection, so the mask
  decoder's first mask token is both the prompted frame's and every propagated frame's output. SAM 2 picks among
  three masks by its IoU head where a single click is ambiguous; a box prompt already gets a single mask in SAM 2,
  and SynRVOS objects are not ambiguous, so the IoU head is left unused (and untrained).

One more departs from SAM 2's defaults so that every way of running the model sees the object pointers' temporal
positions on one scale: ``max_object_pointers_in_encoder=8`` (SAM 2: 16). The library divides a pointer's frame
offset by ``max_object_pointers_in_encoder - 1`` when streaming, but by ``min(video length, max) - 1`` on a whole
video; with 8, clips and videos of 8 frames or more (every SynRVOS video) use 7 both ways, as training does.
"""

from __future__ import annotations

from groprompt.errors import GroPromptError

STANDIN_IMAGE_SIZE = 128
"""Input side of the stand-in tracker, pixels (SynRVOS' 96x96 frames are resized to it, as for the stand-in SAM)."""


def standin_sam2_config(image_size: int = STANDIN_IMAGE_SIZE):
    """The ``transformers.Sam2VideoConfig`` of the stand-in tracker, at input side ``image_size`` (a multiple of 32:
    the Hiera backbone halves the stride-4 patch grid three times).

    Returns:
        a config from which ``Sam2VideoModel(config)`` builds a randomly initialised stand-in.
    """
    from transformers import Sam2HieraDetConfig, Sam2VideoConfig, Sam2VisionConfig

    if image_size < 64 or image_size % 32:
        raise GroPromptError(f"the stand-in SAM 2's input side must be a multiple of 32, at least 64; got {image_size}",
                             fix="pass an image_size such as 96, 128 or 256")
    hidden, memory = 128, 64  # see the module docstring
    stride4, stride8, stride16 = image_size // 4, image_size // 8, image_size // 16
    embed_dims = [24, 48, 96, 192]
    backbone = Sam2HieraDetConfig(
        hidden_size=embed_dims[0],
        num_attention_heads=1,
        image_size=[image_size, image_size],
        blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=embed_dims,
        num_attention_heads_per_stage=[1, 1, 2, 4],
        # windows divide the stride-4 grid (the window position embedding is tiled over it); stage 3 (stride 16)
        # attends globally in its last block (index 3 of the 5 blocks)
        window_size_per_stage=[8, 4, 4, 4],
        global_attention_blocks=[3],
        window_positional_embedding_background_size=[4, 4],
    )
    vision = Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=embed_dims[::-1],
        backbone_feature_sizes=[[stride4, stride4], [stride8, stride8], [stride16, stride16]],
        fpn_hidden_size=hidden,
    )
    return Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config={"hidden_size": hidden, "image_size": image_size, "patch_size": 16,
                               "mask_input_channels": 16},
        mask_decoder_config={"hidden_size": hidden, "mlp_dim": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
                             "iou_head_hidden_dim": 64, "dynamic_multimask_via_stability": False},
        image_size=image_size,
        num_maskmem=7,
        max_object_pointers_in_encoder=8,
        multimask_output_in_sam=False,
        multimask_output_for_tracking=False,
        memory_attention_hidden_size=hidden,
        memory_attention_num_layers=2,
        memory_attention_num_attention_heads=1,
        memory_attention_feed_forward_hidden_size=512,
        memory_attention_dropout=0.0,
        memory_attention_rope_feat_sizes=[stride16, stride16],
        memory_attention_rope_dropout=0.0,
        memory_encoder_hidden_size=hidden,
        memory_encoder_output_channels=memory,
        mask_downsampler_embed_dim=hidden,
        mask_downsampler_kernel_size=4,  # two 4x4, stride-4 steps (1 -> 16 -> 256 channels) instead of four
        mask_downsampler_stride=4,
        mask_downsampler_padding=0,
        mask_downsampler_total_stride=16,
        memory_fuser_num_layers=1,
        memory_fuser_embed_dim=hidden,
        memory_fuser_intermediate_dim=256,
    )


def build_standin_sam2(image_size: int = STANDIN_IMAGE_SIZE):
    """A randomly initialised ``Sam2VideoModel`` of :func:`standin_sam2_config` (seed torch first), in eval mode,
    its two random Fourier position bases made one.

    SAM 2 encodes prompt coordinates and image positions with one random Fourier basis, which is how the mask
    decoder relates a box to image pixels. ``Sam2VideoModel`` keeps two buffers that are never trained
    (``shared_image_embedding`` for the image, ``prompt_encoder.shared_embedding`` for prompts) and ties neither:
    a released checkpoint sets both to the same values, but two random draws give a model that cannot find where a
    box is (a first training run without this ignored its box prompts). Both are saved with the weights.
    """
    import torch
    from transformers import Sam2VideoModel

    model = Sam2VideoModel(standin_sam2_config(image_size)).eval()
    with torch.no_grad():
        model.prompt_encoder.shared_embedding.positional_embedding.copy_(
            model.shared_image_embedding.positional_embedding)
    return model


def standin_sam2_processor(image_size: int = STANDIN_IMAGE_SIZE):
    """The ``transformers.Sam2VideoProcessor`` matching :func:`standin_sam2_config`: frames resized (bilinear) to
    ``image_size`` squared and ImageNet-normalised; prompts normalised to ``image_size``; low-resolution mask logits
    (``image_size / 4`` squared) upsampled back to the frame by ``post_process_masks``."""
    from transformers import Sam2ImageProcessor, Sam2VideoProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    size = {"height": image_size, "width": image_size}
    mask_size = {"height": image_size // 4, "width": image_size // 4}
    return Sam2VideoProcessor(image_processor=Sam2ImageProcessor(size=size, mask_size=mask_size),
                              video_processor=Sam2VideoVideoProcessor(size=size), target_size=image_size)
