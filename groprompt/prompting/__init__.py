"""The proposal generator (docs/method_spec.md §1): Grounding DINO from transformers as a one-box-per-frame prompter.

Public API (imported on first use, so that importing a light submodule such as the ModalCon head does not load
transformers):

* sizes: :data:`PROMPTER_SIZES`, :func:`prompter_config`;
* building: :func:`build_detector`, :func:`build_prompter`, :func:`load_hf_detector`, :func:`load_text_backbone`,
  :func:`load_tokenizer`, :func:`load_original_weights` (dropping only :data:`IGNORED_ORIGINAL_KEYS`);
* running: :class:`Prompter`, :class:`PrompterOutput`, :class:`ImageFeatures` (the text-independent half, computed
  once per frame), :func:`normalize_sentence`, :func:`query_confidence`, :func:`select_top1`,
  :func:`preprocess_frames`;
* freezing: :data:`PARAMETER_GROUPS`, :data:`DEFAULT_TRAINABLE`, :func:`apply_freezing`, :func:`count_parameters`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PROMPTER_SIZES": "config",
    "prompter_config": "config",
    "build_detector": "build",
    "build_prompter": "build",
    "load_hf_detector": "build",
    "load_text_backbone": "build",
    "load_tokenizer": "build",
    "load_original_weights": "checkpoints",
    "IGNORED_ORIGINAL_KEYS": "checkpoints",
    "ImageFeatures": "prompter",
    "Prompter": "prompter",
    "PrompterOutput": "prompter",
    "normalize_sentence": "prompter",
    "query_confidence": "prompter",
    "select_top1": "prompter",
    "preprocess_frames": "prompter",
    "PARAMETER_GROUPS": "freezing",
    "DEFAULT_TRAINABLE": "freezing",
    "apply_freezing": "freezing",
    "count_parameters": "freezing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
