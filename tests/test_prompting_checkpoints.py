"""Checkpoints of the Swin + BERT architecture: original IDEA-Research .pth conversion, HF folder round trip.

The original-format state dict is built here from a random small Swin-backbone detector by the test's own inverse
of the documented naming (the original GroundingDINO module names; fused q/k/v stacked in that order), written
independently of the converter's rule table, so a wrong rule shows up as a tensor that lands in the wrong place.
Like the released files it also holds the tensors the conversion drops (``label_enc.weight``, BERT's
``position_ids`` and pooler, Swin's ``relative_position_index``).

The names and shapes of the released files themselves (Swin-T OGC and Swin-B) are the list of
``tests/data/groundingdino_upstream_keys.txt``, written down from the upstream model code
(``tests/groundingdino_upstream.py``); they are checked against the detectors of the paper configs on the meta device.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml
from groundingdino_upstream import KEY_FILE, RELEASES, read_key_file, upstream_keys
from transformers import BertConfig, GroundingDinoConfig, SwinConfig

from groprompt.errors import GroPromptError
from groprompt.prompting import build_detector, load_hf_detector, load_original_weights
from groprompt.prompting.checkpoints import IGNORED_ORIGINAL_KEYS, convert_key, convert_original_state_dict

SWIN = "model.backbone.conv_encoder.model."
DATA = Path(__file__).parent / "data"


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
    out["bert.pooler.dense.bias"] = torch.zeros(32)
    out["bert.embeddings.position_ids"] = torch.arange(512)[None]  # a constant buffer, dropped
    out["label_enc.weight"] = torch.zeros(2001, config.d_model)  # denoising training only, dropped
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


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_original_checkpoint_round_trip(tmp_path, source, prefix):
    """Saved with DistributedDataParallel's ``module.`` prefix (the released files) or without (a plain save)."""
    config, detector, original = source
    path = tmp_path / "groundingdino_small.pth"
    torch.save({"model": {prefix + key.removeprefix("module."): value for key, value in original.items()}}, path)
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


@pytest.mark.parametrize("key", ["module.label_enc.bias", "label_enc.weight.extra", "module.label_encoder.weight",
                                 "bert.embeddings.position_ids_v2", "bert.pooler.activation.weight"])
def test_only_the_listed_keys_are_ignored(tmp_path, source, key):
    """A key next to an ignored one (another tensor of the same module, a longer name) is still unknown."""
    config, _, original = source
    path = tmp_path / "near_miss.pth"
    torch.save({"model": dict(original, **{key: torch.zeros(1)})}, path)
    with pytest.raises(GroPromptError) as caught:
        load_original_weights(build_detector(config), path)
    assert "unknown keys in the checkpoint" in str(caught.value)
    assert key in str(caught.value) and "near_miss.pth" in str(caught.value)


# ------------------------------------------------------------------------------ the released files' key list
RELEASED = {"swint_ogc": "params_paper_swin_t.yaml", "swinb_cogcoor": "params_paper_swin_b.yaml"}
"""Released checkpoint (groundingdino_<name>.pth) -> the project's paper config of that prompter."""
EXPECTED_DROPPED = {
    "label_enc.weight": (2001, 256),
    "bert.embeddings.position_ids": (1, 512),
    "bert.pooler.dense.weight": (768, 768),
    "bert.pooler.dense.bias": (768,),
}
"""What the conversion may drop besides Swin's ``relative_position_index`` buffers (one per block)."""


@pytest.fixture(scope="module")
def released_keys() -> dict[str, dict[str, tuple[int, ...]]]:
    keys = read_key_file()
    assert keys == {name: upstream_keys(name) for name in RELEASES}, \
        f"{KEY_FILE} is stale: rerun python tests/groundingdino_upstream.py"
    return keys


def _dropped(key: str) -> bool:
    return any(re.fullmatch(pattern, key) for pattern in IGNORED_ORIGINAL_KEYS)


@pytest.mark.parametrize("release", RELEASED)
def test_every_key_of_the_released_files_lands(tmp_path, released_keys, release):
    """Every key of the released file (the upstream list, shapes included) maps onto the detector of the matching
    paper config with the detector's shape, except exactly the ignored ones; every parameter of the detector is
    filled. Checked on the meta device (no memory), then through the loader on a meta-tensor file."""
    keys = released_keys[release]
    size = yaml.safe_load((DATA / RELEASED[release]).read_text())["prompter"]["size"]
    with torch.device("meta"):
        detector = build_detector(size).to("meta")  # .to: a few tensors are made outside the device context
        state = {"module." + key: torch.empty(shape) for key, shape in keys.items()}
    blocks = sum(key.endswith(".attn.qkv.weight") for key in keys)
    assert blocks == (12 if release == "swint_ogc" else 24)  # Swin depths 2-2-6-2 / 2-2-18-2
    dropped = {key: shape for key, shape in keys.items() if _dropped(key)}
    indices = {key for key in dropped if key.endswith(".attn.relative_position_index")}
    assert len(indices) == blocks
    assert {key: dropped[key] for key in dropped.keys() - indices} == EXPECTED_DROPPED
    converted, unknown = convert_original_state_dict(state)
    assert unknown == []
    expected = detector.state_dict()
    assert [key for key in converted if key not in expected] == []
    assert {key: tuple(tensor.shape) for key, tensor in converted.items()} == {
        key: tuple(expected[key].shape) for key in converted}
    assert sorted(expected.keys() - converted.keys()) == [
        f"{SWIN}swin.layernorm.bias", f"{SWIN}swin.layernorm.weight"]  # transformers' unused Swin head norm
    path = tmp_path / f"groundingdino_{release}.pth"
    torch.save({"model": state}, path)
    load_original_weights(detector, path)  # the loader's own checks: unknown, shape, missing


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
