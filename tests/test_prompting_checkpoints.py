"""Checkpoints of the Swin + BERT architecture: original IDEA-Research .pth conversion, HF folder round trip.

The original-format state dict is built here from a random small Swin-backbone detector by the test's own inverse
of the documented naming (the original GroundingDINO module names; fused q/k/v stacked in that order), written
independently of the converter's rule table, so a wrong rule shows up as a tensor that lands in the wrong place.
"""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, GroundingDinoConfig, SwinConfig

from groprompt.errors import GroPromptError
from groprompt.prompting import build_detector, load_hf_detector, load_original_weights
from groprompt.prompting.checkpoints import convert_key

SWIN = "model.backbone.conv_encoder.model."


def _small_config() -> GroundingDinoConfig:
    swin = SwinConfig(embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], window_size=7, image_size=224,
                      out_indices=[2, 3, 4])
    bert = BertConfig(vocab_size=1100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=48)
    return GroundingDinoConfig(backbone_config=swin, text_config=bert, d_model=32, encoder_layers=2,
                               decoder_layers=2, encoder_ffn_dim=40, decoder_ffn_dim=40, encoder_attention_heads=4,
                               decoder_attention_heads=4, num_queries=5, num_feature_levels=4)


def _original_state_dict(hf: dict[str, torch.Tensor], config: GroundingDinoConfig) -> dict[str, torch.Tensor]:
    """The detector's weights under the original GroundingDINO names (with a DDP ``module.`` prefix)."""
    out: dict[str, torch.Tensor] = {}

    def copy(original: str, converted: str) -> None:
        for p in ("weight", "bias"):
            if f"{converted}.{p}" in hf:
                out[f"{original}.{p}"] = hf[f"{converted}.{p}"]

    def fuse(original: str, converted: str, names: tuple[str, str, str]) -> None:
        for p in ("weight", "bias"):
            out[f"{original}_{p}" if original.endswith("in_proj") else f"{original}.{p}"] = torch.cat(
                [hf[f"{converted}.{name}.{p}"] for name in names])

    copy("backbone.0.patch_embed.proj", SWIN + "swin.embeddings.patch_embeddings.projection")
    copy("backbone.0.patch_embed.norm", SWIN + "swin.embeddings.norm")
    for i, depth in enumerate(config.backbone_config.depths):
        for j in range(depth):
            o, c = f"backbone.0.layers.{i}.blocks.{j}", f"{SWIN}swin.encoder.layers.{i}.blocks.{j}"
            copy(f"{o}.norm1", f"{c}.layernorm_before")
            copy(f"{o}.norm2", f"{c}.layernorm_after")
            fuse(f"{o}.attn.qkv", f"{c}.attention", ("q_proj", "k_proj", "v_proj"))
            copy(f"{o}.attn.proj", f"{c}.attention.o_proj")
            out[f"{o}.attn.relative_position_bias_table"] = hf[
                f"{c}.attention.relative_position_bias.relative_position_bias_table"]
            out[f"{o}.attn.relative_position_index"] = torch.zeros(49, 49, dtype=torch.long)  # a buffer, dropped
            copy(f"{o}.mlp.fc1", f"{c}.mlp.fc1")
            copy(f"{o}.mlp.fc2", f"{c}.mlp.fc2")
        if i < 3:
            copy(f"backbone.0.layers.{i}.downsample.reduction", f"{SWIN}swin.encoder.layers.{i}.downsample.reduction")
            copy(f"backbone.0.layers.{i}.downsample.norm", f"{SWIN}swin.encoder.layers.{i}.downsample.norm")
    for stage in (1, 2, 3):  # the original's out_indices (1, 2, 3) are transformers' stages 2, 3, 4
        copy(f"backbone.0.norm{stage}", f"{SWIN}hidden_states_norms.stage{stage + 1}")
    for key, tensor in hf.items():
        if key.startswith("model.text_backbone."):
            out["bert." + key.removeprefix("model.text_backbone.")] = tensor
    out["bert.pooler.dense.weight"] = torch.zeros(32, 32)  # unused by Grounding DINO, dropped
    out["bert.embeddings.position_ids"] = torch.arange(512)[None]
    copy("feat_map", "model.text_projection")
    for level in range(config.num_feature_levels):
        copy(f"input_proj.{level}.0", f"model.input_proj_vision.{level}.0")
        copy(f"input_proj.{level}.1", f"model.input_proj_vision.{level}.1")
    qkv = ("query", "key", "value")
    for i in range(config.encoder_layers):
        c = f"model.encoder.layers.{i}"
        o = f"transformer.encoder.layers.{i}"
        for name in ("sampling_offsets", "attention_weights", "value_proj", "output_proj"):
            copy(f"{o}.self_attn.{name}", f"{c}.deformable_layer.self_attn.{name}")
        copy(f"{o}.norm1", f"{c}.deformable_layer.self_attn_layer_norm")
        copy(f"{o}.linear1", f"{c}.deformable_layer.fc1")
        copy(f"{o}.linear2", f"{c}.deformable_layer.fc2")
        copy(f"{o}.norm2", f"{c}.deformable_layer.final_layer_norm")
        o = f"transformer.encoder.text_layers.{i}"
        fuse(f"{o}.self_attn.in_proj", f"{c}.text_enhancer_layer.self_attn", qkv)
        copy(f"{o}.self_attn.out_proj", f"{c}.text_enhancer_layer.self_attn.out_proj")
        copy(f"{o}.linear1", f"{c}.text_enhancer_layer.fc1")
        copy(f"{o}.linear2", f"{c}.text_enhancer_layer.fc2")
        copy(f"{o}.norm1", f"{c}.text_enhancer_layer.layer_norm_before")
        copy(f"{o}.norm2", f"{c}.text_enhancer_layer.layer_norm_after")
        o = f"transformer.encoder.fusion_layers.{i}"
        out[f"{o}.gamma_v"] = hf[f"{c}.fusion_layer.vision_param"]
        out[f"{o}.gamma_l"] = hf[f"{c}.fusion_layer.text_param"]
        copy(f"{o}.layer_norm_v", f"{c}.fusion_layer.layer_norm_vision")
        copy(f"{o}.layer_norm_l", f"{c}.fusion_layer.layer_norm_text")
        for short, long in (("v", "vision"), ("l", "text")):
            for kind in ("", "values_", "out_"):
                copy(f"{o}.attn.{kind}{short}_proj", f"{c}.fusion_layer.attn.{kind}{long}_proj")
    for i in range(config.decoder_layers):
        o, c = f"transformer.decoder.layers.{i}", f"model.decoder.layers.{i}"
        for name in ("sampling_offsets", "attention_weights", "value_proj", "output_proj"):
            copy(f"{o}.cross_attn.{name}", f"{c}.encoder_attn.{name}")
        copy(f"{o}.norm1", f"{c}.encoder_attn_layer_norm")
        fuse(f"{o}.ca_text.in_proj", f"{c}.encoder_attn_text", qkv)
        copy(f"{o}.ca_text.out_proj", f"{c}.encoder_attn_text.out_proj")
        copy(f"{o}.catext_norm", f"{c}.encoder_attn_text_layer_norm")
        fuse(f"{o}.self_attn.in_proj", f"{c}.self_attn", qkv)
        copy(f"{o}.self_attn.out_proj", f"{c}.self_attn.out_proj")
        copy(f"{o}.norm2", f"{c}.self_attn_layer_norm")
        copy(f"{o}.linear1", f"{c}.fc1")
        copy(f"{o}.linear2", f"{c}.fc2")
        copy(f"{o}.norm3", f"{c}.final_layer_norm")
        for layer in range(3):  # the shared box head appears under both names in the original, as here
            copy(f"bbox_embed.{i}.layers.{layer}", f"bbox_embed.{i}.layers.{layer}")
            copy(f"transformer.decoder.bbox_embed.{i}.layers.{layer}", f"model.decoder.bbox_embed.{i}.layers.{layer}")
    copy("transformer.decoder.norm", "model.decoder.layer_norm")
    for layer in range(2):
        copy(f"transformer.decoder.ref_point_head.layers.{layer}",
             f"model.decoder.reference_points_head.layers.{layer}")
    for layer in range(3):
        copy(f"transformer.enc_out_bbox_embed.layers.{layer}", f"model.encoder_output_bbox_embed.layers.{layer}")
    copy("transformer.enc_output", "model.enc_output")
    copy("transformer.enc_output_norm", "model.enc_output_norm")
    out["transformer.level_embed"] = hf["model.level_embed"]
    out["transformer.tgt_embed.weight"] = hf["model.query_position_embeddings.weight"]
    return {"module." + key: value.clone() for key, value in out.items()}


@pytest.fixture(scope="module")
def source():
    """A small random detector whose every parameter is distinct noise, and its original-format checkpoint."""
    torch.manual_seed(0)
    config = _small_config()
    detector = build_detector(config)
    with torch.no_grad():
        for param in detector.parameters():
            param.normal_()
    return config, detector, _original_state_dict(detector.state_dict(), config)


def test_documented_names_convert_as_stated():
    assert convert_key("backbone.0.norm1.weight") == SWIN + "hidden_states_norms.stage2.weight"
    assert convert_key("backbone.0.layers.2.blocks.5.attn.qkv.bias") == tuple(
        f"{SWIN}swin.encoder.layers.2.blocks.5.attention.{name}.bias" for name in ("q_proj", "k_proj", "v_proj"))
    assert convert_key("transformer.decoder.layers.3.ca_text.in_proj_weight") == tuple(
        f"model.decoder.layers.3.encoder_attn_text.{name}.weight" for name in ("query", "key", "value"))
    assert convert_key("transformer.tgt_embed.weight") == "model.query_position_embeddings.weight"
    assert convert_key("transformer.enc_output_norm.bias") == "model.enc_output_norm.bias"
    bert_key = "encoder.layer.0.output.dense.weight"
    assert convert_key("bert." + bert_key) == "model.text_backbone." + bert_key
    assert convert_key("transformer.decoder.layers.0.unknown.weight") is None


def test_original_checkpoint_round_trip(tmp_path, source):
    config, detector, original = source
    path = tmp_path / "groundingdino_small.pth"
    torch.save({"model": original}, path)
    loaded = build_detector(config)
    load_original_weights(loaded, path)
    expected = detector.state_dict()
    compared = 0
    for key, tensor in loaded.state_dict().items():
        if ".swin.layernorm." in key:  # transformers' unused Swin head norm: not in the original
            continue
        torch.testing.assert_close(tensor, expected[key], msg=key)
        compared += 1
    assert compared == len(expected) - 2


def test_wrong_shape_names_file_and_key(tmp_path, source):
    config, _, original = source
    broken = dict(original, **{"module.transformer.level_embed": torch.zeros(3, 32)})
    path = tmp_path / "wrong_size.pth"
    torch.save({"model": broken}, path)
    with pytest.raises(GroPromptError) as caught:
        load_original_weights(build_detector(config), path)
    assert "wrong_size.pth" in str(caught.value) and "model.level_embed (3, 32)" in str(caught.value)


def test_unknown_and_missing_keys_are_errors(tmp_path, source):
    config, _, original = source
    path = tmp_path / "extra.pth"
    torch.save({"model": dict(original, **{"module.transformer.mystery.weight": torch.zeros(1)})}, path)
    with pytest.raises(GroPromptError, match=r"transformer\.mystery\.weight"):
        load_original_weights(build_detector(config), path)
    incomplete = {k: v for k, v in original.items() if "feat_map" not in k}
    torch.save({"model": incomplete}, path)
    with pytest.raises(GroPromptError, match=r"missing.*model\.text_projection"):
        load_original_weights(build_detector(config), path)
    torch.save({"state": {}}, path)
    with pytest.raises(GroPromptError, match="no 'model' state dict"):
        load_original_weights(build_detector(config), path)


def test_hf_folder_of_swin_and_bert_round_trips(tmp_path, source):
    """transformers saves Swin under its legacy names (as in the published HF folders) and renames them back on
    load; the BERT keys, whose names overlap those renames (``output.dense``), must come back untouched."""
    _, detector, _ = source
    detector.save_pretrained(tmp_path)
    loaded = load_hf_detector(tmp_path)
    expected = detector.state_dict()
    assert loaded.state_dict().keys() == expected.keys()
    for key, tensor in loaded.state_dict().items():
        torch.testing.assert_close(tensor, expected[key], msg=key)
