"""Names read from dataset files never lead outside the dataset's folders (groprompt.safe_names).

The rule itself for each kind of bad name; every reader (Ref-YouTube-VOS/SynRVOS, Ref-DAVIS17 and its conversion,
A2D-Sentences, JHMDB-Sentences, a user's reader through open_dataset) refusing a bad video name, frame name or
expression id where the split opens, naming the file and the entry, before any frame is read; and the measured
case end to end: ``groprompt infer`` on a SynRVOS split whose video is ``../../../outside/evil`` writes nothing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from datasets_fixtures import A2DVideo, JHMDBVideo, ToyVideo, moving_squares, write_a2d, write_davis, write_jhmdb, \
    write_refytvos

import groprompt.prompting
import groprompt.segmentation
from groprompt.cli import main
from groprompt.data import load_a2d, load_jhmdb, load_refdavis, load_refytvos, open_dataset, registry
from groprompt.data.davis_convert import EXPRESSION_FILES, convert_davis
from groprompt.errors import GroPromptError
from groprompt.safe_names import NAME_BYTES, check_name, check_within, name_problem

EVIL = "../../../outside/evil"
"""The measured case: from <root>/<split>/JPEGImages, this is <root>/../outside/evil."""

BAD_NAMES = {
    "parent": ("..", "starts with '.'"),
    "current": (".", "starts with '.'"),
    "hidden": (".partial", "starts with '.'"),
    "relative path": (EVIL, "path separator '/'"),
    "absolute path": ("/etc/passwd", "path separator '/'"),
    "windows path": ("C:\\Windows\\evil", "path separator '\\\\\\\\'"),
    "nul": ("v\x00", "control character '\\\\x00'"),
    "newline": ("v\nw", "control character '\\\\n'"),
    "delete": ("v\x7f", "control character '\\\\x7f'"),
    "empty": ("", "it is empty"),
    "too long": ("v" * (NAME_BYTES + 1), f"longer than {NAME_BYTES} bytes"),
    "not a string": (5, "it is a int, not a string"),
}
"""Kind of bad name -> (name, what the error says of it)."""

GOOD_NAMES = ["003234408d", "00005", "-0-6bXyq9SQ", "(Rad)Schlag_die_Bank!_pushup_f_cm_np1_le_bad_2", "a..b", "v.",
              "bike-packing", "日本の動画", "x" * NAME_BYTES]
"""Names of the real datasets' shapes (Ref-YouTube-VOS, frames, A2D/YouTube ids, JHMDB, DAVIS) and edge cases."""


@pytest.mark.parametrize("kind", BAD_NAMES)
def test_each_kind_of_bad_name_is_refused_with_the_file_and_entry(kind: str):
    name, says = BAD_NAMES[kind]
    with pytest.raises(GroPromptError, match=f"video name {re.escape(repr(name))} is not a plain name: .*{says}") \
            as error:
        check_name(name, "video name", path=Path("data/meta.json"), dataset="synrvos")
    assert "[dataset synrvos, file data/meta.json]" in str(error.value) and "fix: each video name must be" in \
        str(error.value)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_plain_names_pass(name: str):
    assert name_problem(name) is None and check_name(name, "video name", path=None) == name


def test_check_within_resolves_links(tmp_path: Path):
    root, outside = tmp_path / "out", tmp_path / "outside"
    (root / "inside").mkdir(parents=True)
    outside.mkdir()
    assert check_within(root, root / "inside" / "new" / "file.png", "output folder") == root / "inside" / "new" / \
        "file.png"
    with pytest.raises(GroPromptError, match=r"resolves to .*/outside/x\.csv, outside the output folder"):
        check_within(root, root / ".." / "outside" / "x.csv", "output folder")
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(GroPromptError, match=r"resolves to .*outside/x\.csv, outside the output folder") as error:
        check_within(root, root / "link" / "x.csv", "output folder")
    assert "remove the symbolic link" in str(error.value)


# Ref-YouTube-VOS layout (SynRVOS, Ref-YouTube-VOS, Ref-DAVIS17)

def _video(name: str = "v") -> ToyVideo:
    return ToyVideo(name, moving_squares(num_frames=3), [{"exp": "the red square", "obj_id": "1"},
                                                         {"exp": "the green square", "obj_id": "2"}])


def _rename(path: Path, change) -> None:
    """Rewrite a JSON file of the layout through ``change(videos)``."""
    data = json.loads(path.read_text())
    change(data["videos"])
    path.write_text(json.dumps(data))


def _rename_video(videos: dict, name: str) -> None:
    videos[name] = videos.pop("v")


def _rename_frame(videos: dict, name: str) -> None:
    videos["v"]["frames"][1] = name


def _rename_expression(videos: dict, name: str) -> None:
    videos["v"]["expressions"][name] = videos["v"]["expressions"].pop("1")


ENTRIES = {
    "video name in meta_expressions.json": (_rename_video, "meta_expressions", "video name"),
    "video name in meta.json": (_rename_video, "meta", "video name"),
    "frame name": (_rename_frame, "meta_expressions", "frame name"),
    "expression id": (_rename_expression, "meta_expressions", "expression id"),
}


@pytest.mark.parametrize("bad", ["relative path", "absolute path", "parent", "nul", "newline"])
@pytest.mark.parametrize("entry", ENTRIES)
def test_refytvos_refuses_a_bad_name_in_either_json_file(tmp_path: Path, entry: str, bad: str):
    change, file, what = ENTRIES[entry]
    root = write_refytvos(tmp_path / "data", "train", [_video()])
    path = root / "meta_expressions" / "train" / "meta_expressions.json" if file == "meta_expressions" else \
        root / "train" / "meta.json"
    name = BAD_NAMES[bad][0]
    _rename(path, lambda videos: change(videos, name))
    with pytest.raises(GroPromptError, match=f"{what} {re.escape(repr(name))} is not a plain name") as error:
        load_refytvos(root, "train", dataset_name="synrvos")
    message = str(error.value)
    assert f"file {path}]" in message and "dataset synrvos" in message
    if what != "video name":
        assert "video v" in message


def test_names_are_checked_before_any_frame_is_read(tmp_path: Path):
    # Video "a" has a truncated frame, video "b" a bad expression id: the name is reported, so no frame was read.
    root = write_refytvos(tmp_path / "data", "train", [_video("a"), _video("b")])
    (root / "train" / "JPEGImages" / "a" / "00000.jpg").write_bytes(b"not a JPEG")
    _rename(root / "meta_expressions" / "train" / "meta_expressions.json",
            lambda videos: videos["b"]["expressions"].update({"../x": videos["b"]["expressions"].pop("0")}))
    with pytest.raises(GroPromptError, match=r"expression id '\.\./x' is not a plain name"):
        load_refytvos(root, "train")


def test_the_measured_split_no_longer_opens(tmp_path: Path):
    # The fixture writes the evil video's frames where its name leads: outside the dataset root.
    root = write_refytvos(tmp_path / "data", "train", [_video(EVIL)])
    assert (tmp_path / "outside" / "evil" / "00000.jpg").is_file()
    with pytest.raises(GroPromptError, match=r"video name '\.\./\.\./\.\./outside/evil' is not a plain name: it "
                                             r"holds the path separator '/'") as error:
        load_refytvos(root, "train", dataset_name="synrvos")
    assert f"file {root / 'meta_expressions' / 'train' / 'meta_expressions.json'}" in str(error.value)


def test_refdavis_refuses_a_bad_name(tmp_path: Path):
    expressions = [{"exp": f"object {obj} set {k}", "obj_id": str(obj)} for obj in (1, 2) for k in range(4)]
    root = write_refytvos(tmp_path / "refdavis", "valid", [ToyVideo("dogs", moving_squares(), expressions)])
    assert len(load_refdavis(root, "valid").videos) == 1
    _rename(root / "meta_expressions" / "valid" / "meta_expressions.json",
            lambda videos: videos["dogs"]["expressions"].update({"a\\b": videos["dogs"]["expressions"].pop("3")}))
    with pytest.raises(GroPromptError, match=r"expression id 'a\\\\b' is not a plain name") as error:
        load_refdavis(root, "valid")
    assert "dataset refdavis, video dogs" in str(error.value)


def test_davis_conversion_refuses_a_bad_video_name_before_writing(tmp_path: Path):
    lines = b'dogs 1 "a dog"\n'
    davis = write_davis(tmp_path / "davis", {"dogs": moving_squares(num_objects=1)},
                        {"train": ["dogs"], "val": ["../../escaped"]},
                        {name: lines for name, _ in EXPRESSION_FILES})
    out = tmp_path / "converted"
    with pytest.raises(GroPromptError, match=r"video name '\.\./\.\./escaped' is not a plain name") as error:
        convert_davis(davis, out)
    assert f"file {davis / 'ImageSets' / '2017' / 'val.txt'}" in str(error.value)
    assert not out.exists()


def test_a2d_refuses_a_bad_video_name(tmp_path: Path):
    root = write_a2d(tmp_path / "a2d", [A2DVideo("clip", moving_squares(num_frames=4), 0, annotated=[1],
                                                 queries=[("1", "the red square")])])
    for name in ("Release/videoset.csv", "text_annotations/a2d_annotation.txt"):
        path = root / name
        path.write_text(path.read_text().replace("clip,", "../Release/clips320H/clip,"))
    with pytest.raises(GroPromptError, match=r"video name '\.\./Release/clips320H/clip' is not a plain name") \
            as error:
        load_a2d(root, "train")
    assert f"file {root / 'Release' / 'videoset.csv'}" in str(error.value)


def test_jhmdb_refuses_a_bad_video_name(tmp_path: Path):
    masks = moving_squares(num_frames=3, num_objects=1) == 1
    root = write_jhmdb(tmp_path / "jhmdb", [JHMDBVideo("run_1", "run", masks, "a man running", samples=[1, 2, 3])])
    (root / "jhmdb_annotation.txt").write_text("video_id,query\nrun\x00_1,a man running\n")
    with pytest.raises(GroPromptError, match=r"video name 'run\\x00_1' is not a plain name: it holds the control "
                                             r"character '\\x00'") as error:
        load_jhmdb(root)
    assert f"file {root / 'jhmdb_annotation.txt'}" in str(error.value)


def test_open_dataset_checks_a_users_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = write_refytvos(tmp_path / "data", "train", [_video()])

    def careless(root, split, *, dataset_name="careless"):
        dataset = load_refytvos(root, split, dataset_name=dataset_name)
        return replace(dataset, videos=tuple(replace(video, name=EVIL) for video in dataset.videos))

    kind = registry.DatasetKind("careless", "Careless", careless, "per-expression")
    monkeypatch.setattr(registry, "dataset_kind", lambda key: kind)
    with pytest.raises(GroPromptError, match=r"video name '\.\./\.\./\.\./outside/evil' is not a plain name") \
            as error:
        open_dataset("careless", root, "train")
    assert f"file {root}]" in str(error.value) and "or the reader, if it is yours" in str(error.value)


# End to end: the measured case

def _files(folder: Path) -> set[str]:
    return {os.path.relpath(os.path.join(top, name), folder) for top, dirs, files in os.walk(folder)
            for name in dirs + files}


def test_infer_on_the_evil_split_refuses_before_writing(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch):
    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("a model was loaded although the dataset names a path")

    for module, name in ((groprompt.segmentation, "load_sam"), (groprompt.segmentation, "build_sam"),
                         (groprompt.prompting, "build_prompter")):
        monkeypatch.setattr(module, name, no_model)
    root = write_refytvos(tmp_path / "data", "valid", [_video("fine"), _video(EVIL)])
    segmentor = tmp_path / "sam.pt"
    segmentor.write_bytes(b"never read")
    out = tmp_path / "runs" / "out"
    before = _files(tmp_path)
    assert main(["infer", "--method", "gt-box-sam", "--dataset-kind", "synrvos", "--data", str(root), "--split",
                 "valid", "--segmentor", str(segmentor), "--out", str(out),
                 "--baselines-dir", str(Path(__file__).resolve().parents[1] / "baselines")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("groprompt infer: error: video name '../../../outside/evil' is not a plain name"), err
    assert f"file {root / 'meta_expressions' / 'valid' / 'meta_expressions.json'}]\n  fix: " in err
    assert _files(tmp_path) == before  # nothing written: not in --out, not beside it, not outside
