"""``--option key=value`` parsing and typing for ``groprompt infer`` (groprompt.inference.options)."""

from __future__ import annotations

from pathlib import Path

import pytest

from groprompt.errors import GroPromptError
from groprompt.inference import parse_option_pairs, typed_options
from groprompt.methods import accepts_option, check_options
from groprompt.methods import Method


class Typed(Method):
    name, description = "typed", "test method"

    def __init__(self, checkpoint: Path, size: str = "tiny", batch_size: int = 8, threshold: float = 0.5,
                 flip: bool = False, tokenizer: Path | None = None, note=None) -> None:
        self.checkpoint = checkpoint

    def predict(self, frame, index, expressions, ground_truth=None):
        return []


class Bare(Method):
    name, description = "bare", "test method"

    def predict(self, frame, index, expressions, ground_truth=None):
        return []


def test_pairs_split_at_the_first_equals_sign():
    assert parse_option_pairs(["a=1", "path=x=y", "empty="]) == {"a": "1", "path": "x=y", "empty": ""}


@pytest.mark.parametrize("pairs, message", [
    (["novalue"], "not of the form key=value"),
    (["=3"], "not of the form key=value"),
    (["a=1", "a=2"], "given twice"),
])
def test_malformed_pairs_are_errors(pairs, message):
    with pytest.raises(GroPromptError, match=message):
        parse_option_pairs(pairs)


def test_values_take_the_annotated_types():
    raw = {"checkpoint": "ckpt/dir", "size": "swin-t", "batch_size": "4", "threshold": "1e-3", "flip": "Yes",
           "tokenizer": "none", "note": "kept"}
    typed = typed_options(Typed, raw)
    assert typed == {"checkpoint": Path("ckpt/dir"), "size": "swin-t", "batch_size": 4, "threshold": 0.001,
                     "flip": True, "tokenizer": None, "note": "kept"}
    assert type(typed["batch_size"]) is int and type(typed["flip"]) is bool
    assert typed_options(Typed, {"tokenizer": "tok"}) == {"tokenizer": Path("tok")}
    assert typed_options(Typed, {"flip": "off"}) == {"flip": False}


@pytest.mark.parametrize("raw, message", [
    ({"batch_size": "eight"}, "batch_size='eight' is not an integer"),
    ({"batch_size": "2.5"}, "batch_size='2.5' is not an integer"),
    ({"threshold": "high"}, "threshold='high' is not a number"),
    ({"flip": "maybe"}, "flip='maybe' is not true or false"),
])
def test_mistyped_values_are_named(raw, message):
    with pytest.raises(GroPromptError, match=f"method 'typed' option {message}"):
        typed_options(Typed, raw)


def test_unknown_and_missing_options_are_named():
    check_options(Typed, {"checkpoint": Path("x")})
    with pytest.raises(GroPromptError, match="needs option.s. checkpoint") as error:
        check_options(Typed, {"size": "tiny"})
    assert "--option checkpoint=VALUE" in str(error.value)
    with pytest.raises(GroPromptError, match="has no option.s. colour; valid: checkpoint, size, batch_size"):
        check_options(Typed, {"checkpoint": "x", "colour": "red"})
    # A method without __init__ takes no options (object.__init__ would swallow them and fail later).
    check_options(Bare, {})
    with pytest.raises(GroPromptError, match="'bare' has no option.s. device; valid: none"):
        check_options(Bare, {"device": "cpu"})


def test_accepts_option():
    assert accepts_option(Typed, "batch_size") and not accepts_option(Typed, "device")
    assert not accepts_option(Bare, "device") and not accepts_option(Bare, "args")
