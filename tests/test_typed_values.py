"""key=value pairs and typed values, shared by `infer --option` and `train --set`."""

from __future__ import annotations

from pathlib import Path

import pytest

from groprompt.errors import GroPromptError
from groprompt.typed_values import MISMATCH, split_pairs, type_name, typed_value


def test_pairs_split_at_the_first_equals_and_name_the_flag():
    assert split_pairs(["a=1", "b=x=y", "c="], "--set") == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(GroPromptError, match="--set 'novalue' is not of the form key=value"):
        split_pairs(["novalue"], "--set")
    with pytest.raises(GroPromptError, match="--option a is given twice"):
        split_pairs(["a=1", "a=2"], "--option")


@pytest.mark.parametrize("value, hint, expected", [
    ("4", int, 4), (4, int, 4), ("off", bool, False), ("1", bool, True), (True, bool, True),
    ("1e-4", float, 1e-4), (3, float, 3.0), ("x/y", Path, Path("x/y")), ("none", Path | None, None),
    (None, int | None, None), ([8, 11], tuple[int, ...], (8, 11)), ("swin-t", str, "swin-t"),
])
def test_values_take_their_types(value, hint, expected):
    converted = typed_value(value, hint)
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize("value, hint", [
    ("2.5", int), (3.5, int), (True, int), ("maybe", bool), ("fast", float), (False, float), (11, tuple[int, ...]),
    ("decoder", tuple[str, ...]), ([1], int | None), (5, str), (None, int),
])
def test_mismatches(value, hint):
    assert typed_value(value, hint) is MISMATCH


def test_other_types_pass_through_and_names_read_as_words():
    marker = object()
    assert typed_value(marker, list[int]) is marker
    assert type_name(int | None) == "an integer or null"
    assert type_name(tuple[str, ...]) == "a list of strings"
    assert type_name(bool) == "true or false"
