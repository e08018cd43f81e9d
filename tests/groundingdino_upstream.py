"""The key names and shapes of IDEA-Research's released Grounding DINO checkpoints, written down from the upstream
model definition (no download): the expected list behind ``tests/data/groundingdino_upstream_keys.txt``.

Source: https://github.com/IDEA-Research/GroundingDINO at commit 856dde20aee659246248e20734ef9ba5214f5e44
(2024-08-12), read file by file; the converter (groprompt/prompting/checkpoints.py) was not consulted. Each family
below names the upstream module that creates it. The settings are those of ``groundingdino/config/
GroundingDINO_SwinT_OGC.py`` (``groundingdino_swint_ogc.pth``) and ``GroundingDINO_SwinB_cfg.py``
(``groundingdino_swinb_cogcoor.pth``); the two files differ only in ``backbone`` (``swin_T_224_1k`` /
``swin_B_384_22k``), whose sizes ``build_swin_transformer`` (backbone/swin_transformer.py) fixes.

A released file holds ``model.state_dict()`` of that model, so it also holds what ``state_dict`` keeps beside the
parameters:

* persistent buffers: Swin's ``attn.relative_position_index`` (``register_buffer`` in ``WindowAttention``) and
  BERT's ``embeddings.position_ids``, which transformers < 4.31 (the one the files were saved with) kept persistent;
* BERT's pooler: ``BertModelWarper`` keeps ``bert_model.pooler`` (frozen, unused);
* shared modules under every name: the decoder's box head ``bbox_embed.<i>`` is one MLP (``dec_pred_bbox_embed_share
  = True``) assigned to ``self.bbox_embed`` and ``self.transformer.decoder.bbox_embed``, so each of the 6 x 3 layers
  appears under both names; ``enc_out_bbox_embed`` is a copy (``two_stage_bbox_embed_share = False``);
* ``label_enc.weight``: the training model's denoising label embedding, ``nn.Embedding(dn_labelbook_size + 1,
  hidden_dim)`` as in DINO's ``dino.py``, which the released inference code (groundingdino.py) no longer builds, so
  ``load_model`` reports it as unexpected (demo/image_editing_with_groundingdino_*.ipynb print
  ``unexpected_keys=['label_enc.weight']``; GroundingDINO issue #271).

Modules without parameters hold no keys: the sine position encoding (``backbone.1``), ``ContrastiveEmbed`` (every
``class_embed``), dropouts and activations (``relu``). ``python tests/groundingdino_upstream.py`` rewrites the data
file; a test checks that the file equals this expansion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KEY_FILE = Path(__file__).parent / "data" / "groundingdino_upstream_keys.txt"
Shape = tuple[int, ...]

# Shared settings of GroundingDINO_SwinT_OGC.py and GroundingDINO_SwinB_cfg.py.
HIDDEN_DIM = 256  # hidden_dim
NHEADS = 8  # nheads
DIM_FEEDFORWARD = 2048  # dim_feedforward
ENC_LAYERS = DEC_LAYERS = 6  # enc_layers, dec_layers
NUM_QUERIES = 900  # num_queries
NUM_FEATURE_LEVELS = 4  # num_feature_levels
N_POINTS = 4  # enc_n_points, dec_n_points
RETURN_INTERM_INDICES = (1, 2, 3)  # return_interm_indices: Swin's out_indices
DN_LABELBOOK_SIZE = 2000  # dn_labelbook_size
# text_encoder_type = "bert-base-uncased": BertModel.from_pretrained, so the sizes of bert-base-uncased's config.json.
BERT_VOCAB, BERT_HIDDEN, BERT_LAYERS, BERT_INTERMEDIATE, BERT_POSITIONS, BERT_TYPES = 30522, 768, 12, 3072, 512, 2


@dataclass(frozen=True)
class Swin:
    """``model_para_dict`` of ``build_swin_transformer`` (patch 4, mlp_ratio 4, qkv_bias, patch_norm, no ape)."""

    embed_dim: int
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_size: int


RELEASES = {
    "swint_ogc": Swin(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7),
    "swinb_cogcoor": Swin(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), window_size=12),
}
"""The released checkpoint (``groundingdino_<name>.pth``) -> its Swin backbone (swin_T_224_1k, swin_B_384_22k)."""


class _Keys(dict[str, Shape]):
    """A state dict's shapes, built module by module as torch's layers name their tensors."""

    def linear(self, name: str, out_features: int, in_features: int, bias: bool = True) -> None:
        self[f"{name}.weight"] = (out_features, in_features)
        if bias:
            self[f"{name}.bias"] = (out_features,)

    def norm(self, name: str, dim: int) -> None:  # nn.LayerNorm, nn.GroupNorm
        self[f"{name}.weight"] = (dim,)
        self[f"{name}.bias"] = (dim,)

    def mlp(self, name: str, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        """``utils.MLP``: ``layers.<k>`` Linear layers input -> hidden x (num_layers - 1) -> output."""
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        for k in range(num_layers):
            self.linear(f"{name}.layers.{k}", dims[k + 1], dims[k])

    def multihead_attention(self, name: str, dim: int) -> None:  # nn.MultiheadAttention(dim, heads)
        self[f"{name}.in_proj_weight"] = (3 * dim, dim)
        self[f"{name}.in_proj_bias"] = (3 * dim,)
        self.linear(f"{name}.out_proj", dim, dim)

    def deformable_attention(self, name: str) -> None:
        """``ms_deform_attn.MultiScaleDeformableAttention(embed_dim, num_heads, num_levels, num_points)``."""
        points = NHEADS * NUM_FEATURE_LEVELS * N_POINTS
        self.linear(f"{name}.sampling_offsets", points * 2, HIDDEN_DIM)
        self.linear(f"{name}.attention_weights", points, HIDDEN_DIM)
        self.linear(f"{name}.value_proj", HIDDEN_DIM, HIDDEN_DIM)
        self.linear(f"{name}.output_proj", HIDDEN_DIM, HIDDEN_DIM)


def _swin(keys: _Keys, swin: Swin) -> list[int]:
    """backbone/swin_transformer.py ``SwinTransformer`` as ``backbone.0``; returns ``num_features`` per stage."""
    c = swin.embed_dim
    keys["backbone.0.patch_embed.proj.weight"] = (c, 3, 4, 4)  # PatchEmbed: Conv2d(3, embed_dim, 4, stride 4)
    keys["backbone.0.patch_embed.proj.bias"] = (c,)
    keys.norm("backbone.0.patch_embed.norm", c)
    num_features = [c * 2**i for i in range(len(swin.depths))]
    window = swin.window_size
    for i, (depth, heads) in enumerate(zip(swin.depths, swin.num_heads)):
        dim = num_features[i]
        for j in range(depth):  # BasicLayer.blocks: SwinTransformerBlock
            block = f"backbone.0.layers.{i}.blocks.{j}"
            keys.norm(f"{block}.norm1", dim)
            keys[f"{block}.attn.relative_position_bias_table"] = ((2 * window - 1) ** 2, heads)  # WindowAttention
            keys[f"{block}.attn.relative_position_index"] = (window * window, window * window)
            keys.linear(f"{block}.attn.qkv", 3 * dim, dim)
            keys.linear(f"{block}.attn.proj", dim, dim)
            keys.norm(f"{block}.norm2", dim)
            keys.linear(f"{block}.mlp.fc1", 4 * dim, dim)  # Mlp, mlp_ratio 4
            keys.linear(f"{block}.mlp.fc2", dim, 4 * dim)
        if i < len(swin.depths) - 1:  # PatchMerging on every stage but the last
            keys.linear(f"backbone.0.layers.{i}.downsample.reduction", 2 * dim, 4 * dim, bias=False)
            keys.norm(f"backbone.0.layers.{i}.downsample.norm", 4 * dim)
    for i in RETURN_INTERM_INDICES:  # "add a norm layer for each output": norm<i>
        keys.norm(f"backbone.0.norm{i}", num_features[i])
    return num_features


def _bert(keys: _Keys) -> None:
    """bertwarper.py ``BertModelWarper``: BERT's embeddings, encoder and pooler, as ``bert``."""
    keys["bert.embeddings.word_embeddings.weight"] = (BERT_VOCAB, BERT_HIDDEN)
    keys["bert.embeddings.position_embeddings.weight"] = (BERT_POSITIONS, BERT_HIDDEN)
    keys["bert.embeddings.token_type_embeddings.weight"] = (BERT_TYPES, BERT_HIDDEN)
    keys.norm("bert.embeddings.LayerNorm", BERT_HIDDEN)
    keys["bert.embeddings.position_ids"] = (1, BERT_POSITIONS)
    for layer in range(BERT_LAYERS):
        prefix = f"bert.encoder.layer.{layer}"
        for name in ("query", "key", "value"):
            keys.linear(f"{prefix}.attention.self.{name}", BERT_HIDDEN, BERT_HIDDEN)
        keys.linear(f"{prefix}.attention.output.dense", BERT_HIDDEN, BERT_HIDDEN)
        keys.norm(f"{prefix}.attention.output.LayerNorm", BERT_HIDDEN)
        keys.linear(f"{prefix}.intermediate.dense", BERT_INTERMEDIATE, BERT_HIDDEN)
        keys.linear(f"{prefix}.output.dense", BERT_HIDDEN, BERT_INTERMEDIATE)
        keys.norm(f"{prefix}.output.LayerNorm", BERT_HIDDEN)
    keys.linear("bert.pooler.dense", BERT_HIDDEN, BERT_HIDDEN)


def _transformer(keys: _Keys) -> None:
    """transformer.py ``Transformer`` (two_stage_type "standard", embed_init_tgt, text enhancer and fusion layers,
    text cross-attention) as ``transformer``."""
    d = HIDDEN_DIM
    for k in range(ENC_LAYERS):
        layer = f"transformer.encoder.layers.{k}"  # DeformableTransformerEncoderLayer(d_ffn = dim_feedforward)
        keys.deformable_attention(f"{layer}.self_attn")
        keys.norm(f"{layer}.norm1", d)
        keys.linear(f"{layer}.linear1", DIM_FEEDFORWARD, d)
        keys.linear(f"{layer}.linear2", d, DIM_FEEDFORWARD)
        keys.norm(f"{layer}.norm2", d)
        # transformer_vanilla.TransformerEncoderLayer(nhead // 2, dim_feedforward // 2)
        layer = f"transformer.encoder.text_layers.{k}"
        keys.multihead_attention(f"{layer}.self_attn", d)
        keys.linear(f"{layer}.linear1", DIM_FEEDFORWARD // 2, d)
        keys.linear(f"{layer}.linear2", d, DIM_FEEDFORWARD // 2)
        keys.norm(f"{layer}.norm1", d)
        keys.norm(f"{layer}.norm2", d)
        # fuse_modules.BiAttentionBlock(v_dim = l_dim = d, embed_dim = dim_feedforward // 2, nhead // 2)
        layer = f"transformer.encoder.fusion_layers.{k}"
        embed = DIM_FEEDFORWARD // 2
        keys.norm(f"{layer}.layer_norm_v", d)
        keys.norm(f"{layer}.layer_norm_l", d)
        for name in ("v_proj", "l_proj", "values_v_proj", "values_l_proj"):  # BiMultiHeadAttention
            keys.linear(f"{layer}.attn.{name}", embed, d)
        keys.linear(f"{layer}.attn.out_v_proj", d, embed)
        keys.linear(f"{layer}.attn.out_l_proj", d, embed)
        keys[f"{layer}.gamma_v"] = (d,)
        keys[f"{layer}.gamma_l"] = (d,)
    for k in range(DEC_LAYERS):
        layer = f"transformer.decoder.layers.{k}"  # DeformableTransformerDecoderLayer(use_text_cross_attention)
        keys.deformable_attention(f"{layer}.cross_attn")
        keys.norm(f"{layer}.norm1", d)
        keys.multihead_attention(f"{layer}.ca_text", d)
        keys.norm(f"{layer}.catext_norm", d)
        keys.multihead_attention(f"{layer}.self_attn", d)
        keys.norm(f"{layer}.norm2", d)
        keys.linear(f"{layer}.linear1", DIM_FEEDFORWARD, d)
        keys.linear(f"{layer}.linear2", d, DIM_FEEDFORWARD)
        keys.norm(f"{layer}.norm3", d)
    keys.norm("transformer.decoder.norm", d)  # TransformerDecoder(decoder_norm)
    keys.mlp("transformer.decoder.ref_point_head", 2 * d, d, d, 2)  # MLP(query_dim // 2 * d_model, d, d, 2)
    keys["transformer.level_embed"] = (NUM_FEATURE_LEVELS, d)
    keys["transformer.tgt_embed.weight"] = (NUM_QUERIES, d)
    keys.linear("transformer.enc_output", d, d)
    keys.norm("transformer.enc_output_norm", d)


def upstream_keys(release: str) -> dict[str, Shape]:
    """Every key of ``groundingdino_<release>.pth``'s ``"model"`` state dict (without a ``module.`` prefix) and its
    shape, in the order of the families above."""
    keys = _Keys()
    num_features = _swin(keys, RELEASES[release])
    _bert(keys)
    keys.linear("feat_map", HIDDEN_DIM, BERT_HIDDEN)  # groundingdino.py: nn.Linear(bert hidden, hidden_dim)
    # input_proj: a 1x1 Conv2d + GroupNorm(32) per backbone output, then a 3x3 stride-2 Conv2d from the last one.
    channels = [num_features[i] for i in RETURN_INTERM_INDICES]
    for level in range(NUM_FEATURE_LEVELS):
        in_channels, kernel = (channels[level], 1) if level < len(channels) else (channels[-1], 3)
        keys[f"input_proj.{level}.0.weight"] = (HIDDEN_DIM, in_channels, kernel, kernel)
        keys[f"input_proj.{level}.0.bias"] = (HIDDEN_DIM,)
        keys.norm(f"input_proj.{level}.1", HIDDEN_DIM)
    _transformer(keys)
    for k in range(DEC_LAYERS):  # the shared box head, under both of its names
        keys.mlp(f"bbox_embed.{k}", HIDDEN_DIM, HIDDEN_DIM, 4, 3)
        keys.mlp(f"transformer.decoder.bbox_embed.{k}", HIDDEN_DIM, HIDDEN_DIM, 4, 3)
    keys.mlp("transformer.enc_out_bbox_embed", HIDDEN_DIM, HIDDEN_DIM, 4, 3)
    keys["label_enc.weight"] = (DN_LABELBOOK_SIZE + 1, HIDDEN_DIM)
    return dict(keys)


HEADER = """\
# Keys of IDEA-Research's released Grounding DINO checkpoints ({"model": state_dict}), one per line:
#     <key> <shape in groundingdino_swint_ogc.pth> <shape in groundingdino_swinb_cogcoor.pth>
# a shape as comma-separated sizes, "-" where the file has no such key. Written down from the upstream model code
# (IDEA-Research/GroundingDINO 856dde20, groundingdino/models/GroundingDINO/*.py and the configs
# GroundingDINO_SwinT_OGC.py / GroundingDINO_SwinB_cfg.py), not downloaded: tests/groundingdino_upstream.py says
# which module gives each family and generates this file (python tests/groundingdino_upstream.py).
"""


def render() -> str:
    """The data file's text: the header, then every key of either release with its shape in each."""
    releases = {name: upstream_keys(name) for name in RELEASES}
    names = list(dict.fromkeys(key for shapes in releases.values() for key in shapes))
    lines = [" ".join([key, *(",".join(map(str, shapes[key])) if key in shapes else "-"
                              for shapes in releases.values())]) for key in names]
    return HEADER + "\n".join(lines) + "\n"


def read_key_file(path: Path = KEY_FILE) -> dict[str, dict[str, Shape]]:
    """The data file as {release: {key: shape}}, releases in :data:`RELEASES` order."""
    releases: dict[str, dict[str, Shape]] = {name: {} for name in RELEASES}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        key, *shapes = line.split()
        for name, shape in zip(RELEASES, shapes, strict=True):
            if shape != "-":
                releases[name][key] = tuple(int(size) for size in shape.split(","))
    return releases


if __name__ == "__main__":
    KEY_FILE.write_text(render())
    print(f"wrote {KEY_FILE}")
