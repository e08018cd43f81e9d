"""``key=value`` pairs from the command line and values typed by an annotation, for every step that takes them.

``groprompt infer --option key=value`` (typed by a method's ``__init__``) and ``groprompt train --set key=value``
(typed by the training config's fields, after reading the value as YAML) split their pairs with
:func:`split_pairs` and type the values with :func:`typed_value`, so both accept and refuse the same things.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from groprompt.errors import GroPromptError

MISMATCH = object()
"""What :func:`typed_value` returns for a value that is not of the type."""

_SUPPORTED = (bool, int, float, Path, str, type(None))
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
_NONE = {"none", "null"}


def split_pairs(pairs: Sequence[str], flag: str) -> dict[str, str]:
    """``["key=value", ...]`` -> ``{key: value}``, split at the first ``=``; a pair without ``=`` or a key, or a
    repeated key, is an error naming ``flag`` (e.g. ``--option``)."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        key = key.strip()
        if not separator or not key:
            raise GroPromptError(f"{flag} {pair!r} is not of the form key=value",
                                 fix=f"write each as {flag} key=value")
        if key in values:
            raise GroPromptError(f"{flag} {key} is given twice", fix="give each key once")
        values[key] = value
    return values


def union_members(hint: Any) -> tuple[Any, ...]:
    """The members of ``X | Y`` (or ``Optional[X]``), else ``(hint,)``."""
    return typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)


def typed_value(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` (``bool``, ``int``, ``float``, ``str``, ``Path``, ``tuple[X, ...]``, or a union of these
    with None), or :data:`MISMATCH`; a value for any other hint is returned as it is.

    Text converts as its type reads it (``"4"`` is an int, ``"off"`` a bool, ``"none"`` is None where None is
    allowed); a YAML value must already be of the type, except that an int is a float and a text float is a float
    (PyYAML reads ``1e-4``, without a dot, as text). A bool is never an int.
    """
    members = union_members(hint)
    if not any(member in _SUPPORTED or typing.get_origin(member) is tuple for member in members):
        return value  # a type this module does not read (e.g. a method's own class): passed as given
    if type(None) in members and (value is None or (isinstance(value, str) and value.strip().lower() in _NONE)):
        return None
    for kind in (bool, int, float, Path, str, *[member for member in members if typing.get_origin(member) is tuple]):
        if kind in members:
            converted = _as(value, kind)
            if converted is not MISMATCH:
                return converted
    return MISMATCH


def _as(value: Any, kind: Any) -> Any:
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list | tuple):
            return MISMATCH
        items = [_as(element, typing.get_args(kind)[0]) for element in value]
        return MISMATCH if any(item is MISMATCH for item in items) else tuple(items)
    if isinstance(value, str) and kind is not str:
        return _from_text(value.strip(), kind)
    if kind is bool:
        return value if isinstance(value, bool) else MISMATCH
    if kind in (int, float) and isinstance(value, bool):
        return MISMATCH
    if kind is int:
        return value if isinstance(value, int) else MISMATCH
    if kind is float:
        return float(value) if isinstance(value, int | float) else MISMATCH
    if kind is Path:
        return value if isinstance(value, Path) else MISMATCH
    return value if isinstance(value, str) else MISMATCH


def _from_text(text: str, kind: Any) -> Any:
    if kind is bool:
        return True if text.lower() in _TRUE else False if text.lower() in _FALSE else MISMATCH
    if kind is Path:
        return Path(text)
    try:
        return kind(text)
    except ValueError:
        return MISMATCH


_PLURALS = {int: "integers", float: "numbers", str: "strings"}


def type_name(hint: Any) -> str:
    """``hint`` in words, for errors: "an integer", "a number or null", "a list of integers"."""
    return " or ".join(_member_name(member) for member in union_members(hint))


def _member_name(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        return f"a list of {_PLURALS[typing.get_args(kind)[0]]}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path",
            type(None): "null"}.get(kind, str(kind))
