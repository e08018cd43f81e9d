"""open_dataset: kinds by name, options checked, the dataset named after its kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.data import registry
from groprompt.data.refytvos import load_refytvos
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_refytvos(tmp_path, "train", [ToyVideo("v", moving_squares(), [{"exp": "x", "obj_id": "1"}])])


def test_kinds_open_their_reader(root: Path):
    assert set(registry.KINDS) == {"refytvos", "refdavis", "a2d", "jhmdb", "synrvos"}
    dataset = open_dataset("refytvos", root, "train")
    assert dataset.name == "refytvos" and dataset.videos[0].dataset == "refytvos"
    # SynRVOS is written in the Ref-YouTube-VOS layout and read by that same reader, under its own name.
    assert registry.KINDS["synrvos"].reader is load_refytvos
    assert open_dataset("synrvos", root, "train").videos[0].dataset == "synrvos"
    assert open_dataset("refytvos", root, "train", dataset_name="mine").name == "mine"


def test_unknown_kind_lists_the_known_ones(root: Path):
    with pytest.raises(GroPromptError, match=r"unknown dataset kind 'refcoco' \(known: a2d, jhmdb, refdavis, refytvos"):
        open_dataset("refcoco", root, "train")


def test_unknown_option_lists_the_options(root: Path):
    with pytest.raises(GroPromptError, match=r"has no option\(s\) \['fps'\] \(options: dataset_name\)"):
        open_dataset("a2d", root, "train", fps=5)
