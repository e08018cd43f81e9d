"""Method options from the command line: ``--option key=value`` strings typed by the method's ``__init__``.

The strings of ``groprompt infer --option`` become the types the signature declares (``int``, ``float``,
``bool``, ``str``, ``pathlib.Path``, or ``X | None`` of these), and unknown, missing or mistyped options are named
errors before any model is loaded (names are checked by :func:`groprompt.methods.check_options`).
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from groprompt.errors import GroPromptError
from groprompt.methods import Method
from groprompt.typed_values import MISMATCH, split_pairs, type_name, typed_value, union_members


def parse_option_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["key=value", ...]`` -> ``{key: value}``; a pair without ``=`` or a repeated key is an error."""
    return split_pairs(pairs, "--option")


def typed_options(cls: type[Method], raw: dict[str, str]) -> dict[str, Any]:
    """Convert option strings to the types of ``cls.__init__``'s annotations; unannotated options stay strings.

    Names are not checked here (:func:`check_options`). Raises :class:`GroPromptError` for a value that does not
    parse as its declared type.
    """
    hints = _init_hints(cls)
    return {key: _convert(cls.name, key, value, hints.get(key)) for key, value in raw.items()}


def path_options(cls: type[Method]) -> list[str]:
    """The options of ``cls`` typed as paths (``Path`` or ``Path | None``): files or folders a run reads, which the
    workflow checks exist before any job runs."""
    return [key for key, hint in _init_hints(cls).items()
            if key != "return" and (hint is Path or Path in union_members(hint))]


def _init_hints(cls: type[Method]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that cannot be resolved: fall back to passing strings through
        return {}


def _convert(method: str, key: str, value: str, hint: Any) -> Any:
    if hint is None or hint is Any:
        return value
    converted = typed_value(value, hint)
    if converted is MISMATCH:
        expected = type_name(hint)
        raise GroPromptError(f"method {method!r} option {key}={value!r} is not {expected}",
                             fix=f"pass --option {key}=<{expected}>")
    return converted
