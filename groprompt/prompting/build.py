"""Building the Grounding DINO prompter (docs/method_spec.md §1): from a config, a Hugging Face folder, or from the
original IDEA-Research ``.pth`` (converted by :mod:`groprompt.prompting.checkpoints`).

The model is ``transformers.GroundingDinoForObjectDetection``. The PyPI package ``groundingdino-py`` is not used:
its BERT wrapper calls ``get_extended_attention_mask``, which transformers 5 removed, so its model cannot be
built beside transformers 5; it also fetches BERT from a hub by default. Nothing here downloads: every checkpoint
and tokenizer is a local path (``from_pretrained`` always gets a folder and ``local_files_only=True``).

Every builder returns a detector whose parameters all have ``requires_grad`` True (transformers' backbone loader
freezes a ResNet backbone; that is undone here). Which parts train is :func:`freezing.apply_freezing`'s job alone.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from transformers import AutoTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection, PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

from groprompt.errors import GroPromptError
from groprompt.hf_folders import check_hf_folder, load_pretrained, read_safetensors
from groprompt.prompting.checkpoints import load_original_weights
from groprompt.prompting.config import prompter_size
from groprompt.prompting.prompter import Prompter

TEXT_BACKBONE_IGNORED_KEYS = frozenset({"pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids"})
"""Keys of a BERT checkpoint that Grounding DINO's text backbone does not have: the pooler (built without it) and
the position-id buffer older transformers versions saved."""


def build_detector(size: str | GroundingDinoConfig) -> GroundingDinoForObjectDetection:
    """A randomly initialised detector of a named size (or of a config), on the current default device.

    For a named size, the size's ``text_logit_init_scale`` multiplies the weight of the encoder's last text
    LayerNorm (docs/stack_notes.md: at d_model 64 the text-to-query logits otherwise start around +-28). Works under
    ``with torch.device("meta"):`` (no memory, for counting). Loads no pretrained weights.
    """
    if isinstance(size, GroundingDinoConfig):
        config, scale = size, 1.0
    else:
        spec = prompter_size(size)
        config, scale = spec.build_config(), spec.text_logit_init_scale
    detector = GroundingDinoForObjectDetection(config)
    if scale != 1.0:
        with torch.no_grad():
            detector.model.encoder.layers[-1].text_enhancer_layer.layer_norm_after.weight.mul_(scale)
    return detector.requires_grad_(True)


def load_text_backbone(detector: GroundingDinoForObjectDetection, directory: str | Path) -> list[str]:
    """Load a BERT-architecture ``model.safetensors`` from ``directory`` into the detector's text backbone.

    Returns the checkpoint keys that were not used, which may only be those of
    :data:`TEXT_BACKBONE_IGNORED_KEYS`; a missing key, any other unexpected key or a wrong shape raises
    :class:`GroPromptError` naming the file.
    """
    path = Path(directory) / "model.safetensors"
    if not path.is_file():
        raise GroPromptError("text backbone weights not found", path=path,
                             fix="give a folder holding config.json, model.safetensors and the tokenizer files")
    state = read_safetensors(path)
    try:
        result = detector.model.text_backbone.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise GroPromptError(f"text backbone weights do not fit the prompter's text config: {error}", path=path,
                             fix="use text weights of the size the prompter config names") from None
    unexpected = sorted(set(result.unexpected_keys) - TEXT_BACKBONE_IGNORED_KEYS)
    if result.missing_keys or unexpected:
        raise GroPromptError(
            f"text backbone weights do not match: missing {result.missing_keys[:5]}, unexpected {unexpected[:5]}",
            path=path, fix="use a BERT-architecture checkpoint of the text config's size",
        )
    return sorted(result.unexpected_keys)


def _has_tokenizer(directory: Path) -> bool:
    return (directory / "vocab.txt").is_file() or (directory / "tokenizer.json").is_file()


def load_hf_detector(directory: str | Path, text_backbone_dir: str | Path | None = None
                     ) -> GroundingDinoForObjectDetection:
    """Load a Hugging Face Grounding DINO folder (``config.json`` + ``model.safetensors``) from local disk.

    The folder may omit the whole text backbone (every ``model.text_backbone.*`` tensor, and nothing else): a
    released stand-in does (:mod:`groprompt.releases`), since its text backbone is frozen and ships in a Python
    package. It is then loaded from ``text_backbone_dir`` (the size's bundled text folder); without one, or with a
    folder that lacks other tensors too, the folder is refused.
    """
    directory = Path(directory)
    what = "Grounding DINO checkpoint"
    check_hf_folder(directory, what=what)
    with _library_quiet():  # the library prints a table of the omitted text-backbone tensors
        detector, loading = load_pretrained(GroundingDinoForObjectDetection, directory, what=what,
                                            output_loading_info=True)
    missing = set(loading["missing_keys"])
    if missing:
        text_keys = {key for key in detector.state_dict() if key.startswith(TEXT_BACKBONE_PREFIX)}
        if missing != text_keys:
            other = sorted(missing - text_keys)
            raise GroPromptError(f"the {what} lacks {len(missing)} tensors ({', '.join((other or sorted(missing))[:3])}"
                                 ", ...): only a released stand-in may omit, and then exactly, its text backbone",
                                 path=directory, fix="copy the folder again, or train it again")
        if text_backbone_dir is None:
            raise GroPromptError(f"the {what} omits its text backbone, and this prompter size bundles none",
                                 path=directory, fix="load it as the size it was trained as (tiny)")
        load_text_backbone(detector, text_backbone_dir)
    return detector.requires_grad_(True)


TEXT_BACKBONE_PREFIX = "model.text_backbone."
"""Prefix of the text backbone's keys in a detector's state dict (what a released stand-in leaves out)."""


@contextlib.contextmanager
def _library_quiet():
    previous = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(previous)


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerBase:
    """The BERT tokenizer saved in a local folder (``vocab.txt`` or ``tokenizer.json``)."""
    directory = Path(directory)
    if not _has_tokenizer(directory):
        raise GroPromptError("tokenizer files (vocab.txt or tokenizer.json) not found", path=directory,
                             fix="give the local folder of the text backbone's tokenizer, e.g. bert-base-uncased")
    return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)


def build_prompter(
    size: str,
    checkpoint: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
) -> Prompter:
    """The prompter of a named size, on CPU, in eval mode (training code calls ``.train()``).

    Args:
        size: a name of :data:`~groprompt.prompting.config.PROMPTER_SIZES`.
        checkpoint: None (random init; a size whose text backbone ships in a package, ``tiny``, loads it), a
            Hugging Face folder (``config.json`` + ``model.safetensors``), or an original IDEA-Research ``.pth``.
        tokenizer_dir: the tokenizer folder; defaults to the HF checkpoint folder if it holds one, else the
            size's bundled text folder.
    """
    spec = prompter_size(size)
    if checkpoint is not None and not Path(checkpoint).exists():
        raise GroPromptError("prompter checkpoint not found", path=checkpoint,
                             fix="give a Hugging Face Grounding DINO folder or an original .pth file")
    bundled = spec.bundled_text_dir() if spec.bundled_text_dir else None
    folder = Path(checkpoint) if checkpoint is not None and Path(checkpoint).is_dir() else None
    if tokenizer_dir is None:
        tokenizer_dir = folder if folder is not None and _has_tokenizer(folder) else bundled
    if tokenizer_dir is None:
        raise GroPromptError(f"prompter size {size!r} needs a tokenizer folder", path=checkpoint,
                             fix="set the prompter's tokenizer to the local bert-base-uncased folder")
    tokenizer = load_tokenizer(tokenizer_dir)  # before the weights: a missing tokenizer fails fast
    if folder is not None:
        detector = load_hf_detector(folder, text_backbone_dir=bundled)
    else:
        detector = build_detector(size)
        if checkpoint is not None:
            load_original_weights(detector, checkpoint)
        elif bundled is not None:
            load_text_backbone(detector, bundled)
    prompter = Prompter(detector, tokenizer, shortest_edge=spec.shortest_edge, longest_edge=spec.longest_edge)
    return prompter.eval()
