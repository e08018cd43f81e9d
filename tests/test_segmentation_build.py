"""SAM sizes, builds and checkpoints (groprompt.segmentation.config / build)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from segment_anything import sam_model_registry

from groprompt.errors import GroPromptError
from groprompt.segmentation import (
    OFFICIAL_VARIANTS,
    SAM_VARIANTS,
    SamConfig,
    build_sam,
    detect_official_variant,
    load_sam,
    save_sam,
)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta_state(variant: str) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return build_sam(variant).state_dict()


# Facts from docs/stack_notes.md (segment-anything), in millions of parameters.
@pytest.mark.parametrize("variant, encoder_m", [("vit_b", 89.7), ("vit_l", 308.3), ("vit_h", 637.0)])
def test_official_sizes_on_meta_device_have_the_published_parameter_counts(variant: str, encoder_m: float) -> None:
    with torch.device("meta"):
        sam = build_sam(variant)
    assert all(p.is_meta for p in sam.parameters())
    assert abs(_count(sam.image_encoder) / 1e6 - encoder_m) < 0.1
    assert abs(_count(sam.prompt_encoder) - 6.2e3) < 100
    assert abs(_count(sam.mask_decoder) / 1e6 - 4.06) < 0.01
    assert not sam.training


@pytest.mark.parametrize("variant", OFFICIAL_VARIANTS)
def test_official_sizes_match_segment_anything_builders_key_for_key(variant: str) -> None:
    with torch.device("meta"):
        official = sam_model_registry[variant]().state_dict()
    ours = _meta_state(variant)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in official.items()}


def test_tiny_size_is_the_stand_in_of_the_stack_notes() -> None:
    sam = build_sam("tiny")
    assert abs(_count(sam) / 1e6 - 0.36) < 0.01
    assert sam.image_encoder.img_size == 128
    assert tuple(sam.image_encoder(torch.zeros(1, 3, 128, 128)).shape) == (1, 64, 16, 16)


def test_unknown_variant_lists_the_valid_names() -> None:
    with pytest.raises(GroPromptError) as error:
        build_sam("vit_x")
    assert "vit_x" in str(error.value)
    for name in ("vit_b", "vit_l", "vit_h", "tiny"):
        assert name in str(error.value)


def test_config_checks_cross_field_rules_and_round_trips_through_a_dict() -> None:
    with pytest.raises(GroPromptError, match="not a multiple of patch_size"):
        SamConfig(image_size=100, patch_size=16)
    with pytest.raises(GroPromptError, match=r"\[5\] are not blocks"):
        SamConfig(encoder_depth=2, encoder_global_attn_indexes=(1, 5))
    with pytest.raises(GroPromptError, match="unknown SAM config keys"):
        SamConfig.from_dict({"image_size": 128, "img_size": 128})
    tiny = SAM_VARIANTS["tiny"]
    assert SamConfig.from_dict(tiny.to_dict()) == tiny
    assert tiny.to_dict()["encoder_global_attn_indexes"] == [1]


@pytest.mark.parametrize("variant", OFFICIAL_VARIANTS)
def test_official_variant_is_detected_from_state_dict_shapes(variant: str) -> None:
    assert detect_official_variant(_meta_state(variant)) == variant


def test_state_dict_of_another_size_is_not_taken_for_an_official_one(tmp_path: Path) -> None:
    path = tmp_path / "sam_custom.pth"
    torch.save(build_sam("tiny").state_dict(), path)
    with pytest.raises(GroPromptError) as error:
        load_sam(path)
    message = str(error.value)
    assert "width 64, 2 blocks" in message and str(path) in message and "fix:" in message


def test_tiny_checkpoint_round_trip_keeps_weights_config_and_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    sam = build_sam("tiny")
    path = tmp_path / "tiny_sam.pt"
    save_sam(sam, SAM_VARIANTS["tiny"], path)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny_sam.pt"]  # no temporary file left behind

    loaded, config = load_sam(path)
    assert config == SAM_VARIANTS["tiny"]
    assert not loaded.training
    assert not any(t.is_meta for t in [*loaded.parameters(), *loaded.buffers()])
    for name, tensor in sam.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    image = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(loaded.image_encoder(image), sam.image_encoder(image))
    assert torch.equal(build_sam("tiny", checkpoint=path).image_encoder.pos_embed, sam.image_encoder.pos_embed)


def test_plain_state_dict_loads_strictly_as_the_configured_size(tmp_path: Path) -> None:
    sam = build_sam("tiny")
    path = tmp_path / "plain.pth"
    torch.save(sam.state_dict(), path)
    loaded = build_sam("tiny", checkpoint=path)
    assert torch.equal(loaded.mask_decoder.iou_token.weight, sam.mask_decoder.iou_token.weight)


def test_wrong_shape_checkpoint_names_the_first_mismatching_key(tmp_path: Path) -> None:
    narrow = dataclasses.replace(SAM_VARIANTS["tiny"], encoder_width=32)
    path = tmp_path / "narrow.pth"
    torch.save(build_sam(narrow).state_dict(), path)
    with pytest.raises(GroPromptError) as error:
        build_sam("tiny", checkpoint=path)
    message = str(error.value)
    assert "first image_encoder.pos_embed: expected (1, 16, 16, 64), found (1, 16, 16, 32)" in message
    assert str(path) in message


def test_groprompt_checkpoint_of_another_size_names_the_differing_settings(tmp_path: Path) -> None:
    narrow = dataclasses.replace(SAM_VARIANTS["tiny"], encoder_width=32)
    path = tmp_path / "narrow.pt"
    save_sam(build_sam(narrow), narrow, path)
    with pytest.raises(GroPromptError, match="encoder_width: file 32, configured 64"):
        build_sam("tiny", checkpoint=path)
    with pytest.raises(GroPromptError, match="do not fit the config"):
        save_sam(build_sam(narrow), SAM_VARIANTS["tiny"], tmp_path / "wrong.pt")


def test_missing_or_foreign_checkpoint_files_are_named_errors(tmp_path: Path) -> None:
    with pytest.raises(GroPromptError, match="not found"):
        load_sam(tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(GroPromptError, match="cannot read the SAM checkpoint"):
        load_sam(junk)
    listing = tmp_path / "list.pth"
    torch.save([1, 2, 3], listing)
    with pytest.raises(GroPromptError, match="holds a list"):
        load_sam(listing)
    no_encoder = tmp_path / "decoder_only.pth"
    torch.save(build_sam("tiny").mask_decoder.state_dict(), no_encoder)
    with pytest.raises(GroPromptError, match="no key 'image_encoder.patch_embed.proj.weight'"):
        load_sam(no_encoder)
