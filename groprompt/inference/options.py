"""Method options from the command line: ``--option key=value`` strings typed by the method's ``__init__``.

The strings of ``groprompt infer --option`` become the types the signature declares (``int``, ``float``,
``bool``, ``str``, ``pathlib.Path``, or ``X | None`` of these), and unknown, missing or mistyped options are named
errors before any model is loaded (names are checked by :func:`groprompt.methods.check_options`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from groprompt.errors import GroPromptError
from groprompt.methods import Method

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
_NONE = {"none", "null"}


def parse_option_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["key=value", ...]`` -> ``{key: value}``; a pair without ``=`` or a repeated key is an error."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        key = key.strip()
        if not separator or not key:
            raise GroPromptError(f"method option {pair!r} is not of the form key=value",
                                 fix="write each option as --option key=value")
        if key in options:
            raise GroPromptError(f"method option {key!r} is given twice", fix="give each option once")
        options[key] = value
    return options


def typed_options(cls: type[Method], raw: dict[str, str]) -> dict[str, Any]:
    """Convert option strings to the types of ``cls.__init__``'s annotations; unannotated options stay strings.

    Names are not checked here (:func:`check_options`). Raises :class:`GroPromptError` for a value that does not
    parse as its declared type.
    """
    hints = _init_hints(cls)
    return {key: _convert(cls.name, key, value, hints.get(key)) for key, value in raw.items()}


def _init_hints(cls: type[Method]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that cannot be resolved: fall back to passing strings through
        return {}


def _convert(method: str, key: str, value: str, hint: Any) -> Any:
    """``value`` as ``hint`` (``int``, ``float``, ``bool``, ``str``, ``Path``, or an optional of one)."""
    if hint is None or hint is Any:
        return value
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    if type(None) in members and value.strip().lower() in _NONE:
        return None
    for kind in (bool, int, float, Path, str):
        if kind in members:
            return _as(method, key, value, kind)
    return value


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _as(method: str, key: str, value: str, kind: type) -> Any:
    text = value.strip()
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if kind in (int, float):
            return kind(text)
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}[kind]
        raise GroPromptError(f"method {method!r} option {key}={value!r} is not {expected}",
                             fix=f"pass --option {key}=<{expected}>") from None
    return Path(value) if kind is Path else value
