"""Dataset kinds: the built-in ones, kinds found in a folder of modules and through entry points, load failures
reported without hiding the rest, declarations checked, `groprompt datasets`, and open_dataset by kind."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.cli import main
from groprompt.data import registry
from groprompt.data.refytvos import load_refytvos
from groprompt.data.registry import DatasetKind, dataset_kind, dataset_kinds, discover_dataset_kinds, open_dataset
from groprompt.errors import GroPromptError

BUILTIN = ["synrvos", "refytvos", "refdavis", "a2d", "jhmdb", "mevis"]

TOY = textwrap.dedent('''
    """A benchmark stored in the Ref-YouTube-VOS layout, with a test split only its server scores."""
    from groprompt.data import DatasetKind, load_refytvos

    TOY = DatasetKind("toy", "ToyBench", load_refytvos, "per-expression", unscored_splits=("test",),
                      table="table1")
''')


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_refytvos(tmp_path, "train", [ToyVideo("v", moving_squares(), [{"exp": "x", "obj_id": "1"}])])


@pytest.fixture()
def kinds_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder of kind modules that this process reads (as the workflow points its steps at one)."""
    folder = tmp_path / "dataset_kinds"
    folder.mkdir()
    monkeypatch.setenv(registry.FOLDER_VARIABLE, str(folder))
    return folder


def test_kinds_open_their_reader(root: Path, kinds_folder: Path):
    assert list(dataset_kinds().kinds) == BUILTIN
    dataset = open_dataset("refytvos", root, "train")
    assert dataset.name == "refytvos" and dataset.videos[0].dataset == "refytvos"
    # SynRVOS is written in the Ref-YouTube-VOS layout and read by that same reader, under its own name.
    assert dataset_kind("synrvos").reader is load_refytvos
    assert open_dataset("synrvos", root, "train").videos[0].dataset == "synrvos"
    assert open_dataset("refytvos", root, "train", dataset_name="mine").name == "mine"


def test_unknown_kind_lists_the_known_ones(root: Path, kinds_folder: Path):
    with pytest.raises(GroPromptError, match=r"unknown dataset kind 'refcoco' \(known: a2d, jhmdb, mevis, refdavis, refytvos"):
        open_dataset("refcoco", root, "train")


def test_unknown_option_lists_the_options(root: Path):
    with pytest.raises(GroPromptError, match=r"has no option\(s\) \['fps'\] \(options: dataset_name\)"):
        open_dataset("a2d", root, "train", fps=5)


def test_a_module_in_the_folder_adds_a_kind(root: Path, kinds_folder: Path):
    (kinds_folder / "toy.py").write_text(TOY)
    found = dataset_kinds()
    assert list(found.kinds) == [*BUILTIN, "toy"] and not found.failures
    assert found.sources["toy"] == str(kinds_folder / "toy.py")
    toy = dataset_kind("toy")
    assert (toy.name, toy.family, toy.table) == ("ToyBench", "jf", "table1")
    assert toy.scores("valid") and not toy.scores("test")
    # Table 1's column groups: the paper's order, then the new kind.
    assert [kind.key for kind in found.table_kinds("table1")] == ["refytvos", "refdavis", "toy"]
    assert open_dataset("toy", root, "train").videos[0].dataset == "toy"


def test_broken_modules_are_reported_and_the_rest_stays(kinds_folder: Path):
    (kinds_folder / "toy.py").write_text(TOY)
    (kinds_folder / "broken.py").write_text("import no_such_module_here\n")
    # Names a built-in kind it builds on, and declares none of its own.
    (kinds_folder / "empty.py").write_text("from groprompt.data import BUILTIN_KINDS\nSYNRVOS = BUILTIN_KINDS[0]\n")
    (kinds_folder / "twin.py").write_text(TOY.replace("ToyBench", "Another"))  # read after toy.py: key taken
    (kinds_folder / "_private.py").write_text("raise RuntimeError('never imported')\n")
    found = discover_dataset_kinds(kinds_folder)
    assert list(found.kinds) == [*BUILTIN, "toy"] and found.kinds["toy"].name == "ToyBench"
    failures = {failure.source: failure.error for failure in found.failures}
    assert set(failures) == {str(kinds_folder / name) for name in ("broken.py", "empty.py", "twin.py")}
    assert failures[str(kinds_folder / "broken.py")].startswith("ModuleNotFoundError: No module named "
                                                                "'no_such_module_here' (broken.py:1)")
    assert failures[str(kinds_folder / "empty.py")] == "declares no DatasetKind at module level"
    assert failures[str(kinds_folder / "twin.py")] == f"key 'toy' is already taken by {kinds_folder / 'toy.py'}"
    with pytest.raises(GroPromptError, match=r"unknown dataset kind 'mine'.*broken.py failed to load: "
                                             r"ModuleNotFoundError"):
        found.get("mine")


def test_an_entry_point_adds_a_kind(monkeypatch: pytest.MonkeyPatch):
    class EntryPoint:
        def __init__(self, name: str, target: object) -> None:
            self.name, self.value, self.target = name, f"my_package.kinds:{name.upper()}", target

        def load(self) -> object:
            if isinstance(self.target, Exception):
                raise self.target
            return self.target

    mine = DatasetKind("mine", "Mine", load_refytvos, None)
    points = [EntryPoint("mine", mine), EntryPoint("broken", ImportError("no h5py")), EntryPoint("odd", "text")]
    monkeypatch.setattr(registry, "entry_points", lambda group: points if group == registry.ENTRY_POINT_GROUP else [])
    found = discover_dataset_kinds(None)
    assert found.kinds["mine"] is mine and found.sources["mine"] == "entry point my_package.kinds:MINE"
    assert [(f.name, f.error.split(" (")[0]) for f in found.failures] == [
        ("broken", "ImportError: no h5py"), ("odd", "'text' is not a groprompt.data.DatasetKind")]


def test_generated_kind_is_captioned_as_synthetic():
    """SynRVOS generated in a kind's layout is read and tabulated as that kind, and its captions say what it is."""
    mevis = dataset_kind("mevis")
    generated = mevis.generated()
    assert (generated.key, generated.reader, generated.table) == ("mevis", mevis.reader, "mevis")
    assert generated.caption == "SynRVOS in the MeViS layout (synthetic), not MeViS"
    assert mevis.caption == "MeViS" and dataset_kind("synrvos").generated() is dataset_kind("synrvos")
    assert dataset_kind("synrvos").caption == "SynRVOS (synthetic), not Ref-DAVIS17"
    with pytest.raises(GroPromptError, match="dataset kind 'refdavis' cannot be generated"):
        dataset_kind("refdavis").generated()
    harness = DatasetKind("mine", "Mine", load_refytvos, "per-expression", table="mevis")
    assert harness.table == "mevis"


@pytest.mark.parametrize(("fields", "words"), [
    ({"key": "My Bench"}, "the key must be lower-case letters"),
    ({"evaluation": "referring", "table": "mevis"}, "mevis holds jf measures, but evaluation 'referring' gives"),
    ({"evaluation": "bleu"}, "unknown evaluation 'bleu'"),
    ({"table": "table9"}, "unknown table 'table9'"),
    ({"table": "table2"}, "table2 holds referring measures, but evaluation 'per-expression' gives jf"),
    ({"evaluation": None, "table": "table1"}, "table1 holds jf measures, but evaluation None gives none"),
    ({"unscored_splits": ["test"]}, "unscored_splits must be a tuple"),
    ({"reader": "load_refytvos"}, "is not callable"),
    ({"submission_folder": "../up"}, "submission_folder '../up' is not a plain folder name"),
])
def test_a_declaration_is_checked(fields: dict, words: str):
    declared = {"key": "mine", "name": "Mine", "reader": load_refytvos, "evaluation": "per-expression"} | fields
    with pytest.raises(GroPromptError, match=words):
        DatasetKind(**declared)


def test_datasets_json_lists_every_declared_field(kinds_folder: Path, capsys: pytest.CaptureFixture[str]):
    (kinds_folder / "toy.py").write_text(TOY)
    (kinds_folder / "broken.py").write_text("import no_such_module_here\n")
    assert main(["datasets", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [kind["key"] for kind in listing["kinds"]] == [*BUILTIN, "toy"]
    kinds = {kind["key"]: kind for kind in listing["kinds"]}
    assert kinds["toy"] == {
        "key": "toy", "name": "ToyBench", "reader": "groprompt.data.refytvos:load_refytvos",
        "evaluation": "per-expression", "family": "jf", "unscored_splits": ["test"], "table": "table1",
        "synthetic": False, "stands_in_for": "Ref-DAVIS17", "submission_folder": "Annotations", "synrvos_layout": None,
        "source": str(kinds_folder / "toy.py")}
    assert kinds["a2d"]["family"] == "referring" and kinds["a2d"]["reader"] == "groprompt.data.a2d:load_a2d"
    assert (kinds["mevis"]["table"], kinds["mevis"]["synrvos_layout"]) == ("mevis", "mevis")
    assert kinds["synrvos"]["synrvos_layout"] == "refytvos"
    assert kinds["synrvos"]["synthetic"] is True and kinds["refytvos"]["unscored_splits"] == ["valid", "test"]
    [failure] = listing["failures"]
    assert failure["name"] == "broken" and "no_such_module_here" in failure["error"]

    assert main(["datasets"]) == 0
    text = capsys.readouterr().out
    assert "toy       ToyBench: reader groprompt.data.refytvos:load_refytvos, evaluation per-expression; " \
           "unscored splits: test; feeds table1" in text
    assert "! broken" in text and f"(kind modules are read from {kinds_folder}/)" in text
