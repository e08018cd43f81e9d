"""Hugging Face model folders on local disk: one check before anything loads, one way to load.

A folder as ``save_pretrained`` writes it (``config.json``, ``model.safetensors`` or a sharded index, and for
models that come with one, the processor's ``processor_config.json`` / ``preprocessor_config.json``) is how users
hold Grounding DINO, SAM 2 and SAM 3 checkpoints. :func:`check_hf_folder` finds what is wrong with one (not a folder,
a missing file, a model of another type, a truncated weights file) and names it, before a frame is read or a model
is built. Loading is always local (``local_files_only=True``): nothing downloads at run time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from groprompt.errors import GroPromptError
from groprompt.releases import verify_release

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
"""A folder holds its weights in one file or in shards listed by an index."""
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
"""Either is written by a processor's ``save_pretrained`` (the newer layout keeps everything in the first)."""

_NO_HUB = "give a local folder written by save_pretrained (hub ids are not fetched: nothing downloads)"


def check_hf_folder(directory: str | Path, *, what: str, model_types: Sequence[str] = (),
                    needs_processor: bool = False, extra_files: Sequence[str] = ()) -> dict[str, Any]:
    """The parsed ``config.json`` of a usable model folder; a :class:`GroPromptError` naming the problem otherwise.

    Args:
        directory: the folder.
        what: what the folder is for, as the user knows it (``"SAM 2 checkpoint (option tracker)"``).
        model_types: the ``model_type`` values of ``config.json`` accepted; empty accepts any.
        needs_processor: the folder must also hold the processor's configuration (:data:`PROCESSOR_FILES`).
        extra_files: further files the folder must hold (a tokenizer's, say).
    """
    directory = Path(directory)
    if directory.is_file():
        raise GroPromptError(f"the {what} is a file, not a folder", path=directory,
                             fix=f"point to the folder that holds config.json and model.safetensors; {_NO_HUB}")
    if not directory.is_dir():
        raise GroPromptError(f"{what} folder not found", path=directory, fix=_NO_HUB)
    verify_release(directory)  # a released stand-in: its files must be the released bytes
    missing = [name for name in ("config.json", *extra_files) if not (directory / name).is_file()]
    if not any((directory / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if needs_processor and not any((directory / name).is_file() for name in PROCESSOR_FILES):
        missing.append(" or ".join(PROCESSOR_FILES))
    if missing:
        raise GroPromptError(f"{what} folder lacks {', '.join(missing)}", path=directory, fix=_NO_HUB)
    config_path = directory / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise GroPromptError(f"cannot read the {what}'s config.json ({error})", path=config_path,
                             fix="the file is truncated or not JSON: copy the folder again") from None
    if not isinstance(config, dict):
        raise GroPromptError(f"the {what}'s config.json holds a {type(config).__name__}, not an object",
                             path=config_path, fix="copy the folder again")
    found = config.get("model_type")
    if model_types and found not in model_types:
        raise GroPromptError(f"the {what} holds a {found!r} model, expected {' or '.join(map(repr, model_types))}",
                             path=directory, fix=f"point to a folder of a {model_types[0]!r} model")
    if (directory / "model.safetensors").is_file():
        read_safetensors(directory / "model.safetensors", tensors=False, what=what)
    return config


def read_safetensors(path: Path, tensors: bool = True, what: str | None = None) -> dict:
    """The tensors of a ``.safetensors`` file (with ``tensors`` False: only its header is read and checked,
    which also finds a truncated file); a truncated or corrupt file is a :class:`GroPromptError` naming it (and
    ``what`` it belongs to, if given)."""
    import safetensors
    import safetensors.torch

    try:
        if tensors:
            return safetensors.torch.load_file(str(path))
        with safetensors.safe_open(str(path), framework="pt"):
            return {}
    except (safetensors.SafetensorError, OSError) as error:
        of = f" of the {what}" if what else ""
        raise GroPromptError(f"cannot read the weights file{of} ({error})", path=path,
                             fix="the file is truncated or corrupt: copy or train it again") from None


def load_pretrained(cls: Any, directory: str | Path, *, what: str, **kwargs: Any) -> Any:
    """``cls.from_pretrained(directory, local_files_only=True, **kwargs)`` (a model or processor class), with the
    library's errors for a malformed folder turned into one :class:`GroPromptError` naming it.

    Call :func:`check_hf_folder` first: this only reports what that check cannot see (weights of another
    architecture, a config the library refuses).
    """
    try:
        return cls.from_pretrained(str(directory), local_files_only=True, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as error:
        first = str(error).splitlines()[0] if str(error) else ""
        raise GroPromptError(f"cannot load the {what} ({type(error).__name__}: {first})", path=directory,
                             fix=f"give a folder written by save_pretrained of {cls.__name__}'s kind") from None
