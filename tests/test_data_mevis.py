"""MeViS reader on a tiny dataset written in the official layout (and broken variants of it): objects from the
aligned obj_id / anno_id lists, expressions with several referents, RLE masks read lazily, every defect named."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from mevis_fixtures import EMPTY, H, W, MevisVideo, anno_id, block, two_birds, write_mevis

from groprompt.data import mevis, open_dataset, tight_box
from groprompt.data.validation import MEMO_ENV
from groprompt.errors import GroPromptError


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    for split in ("train", "valid_u"):
        write_mevis(tmp_path, split, [two_birds()])
    return write_mevis(tmp_path, "valid", [two_birds()], with_masks=False)


def test_objects_and_expressions_with_one_or_several_referents(root: Path):
    dataset = open_dataset("mevis", root, "valid_u")
    assert dataset.name == "mevis" and [v.name for v in dataset] == ["birds"]
    video = dataset.video("birds")
    assert video.frame_names == ("00000", "00001", "00002", "00003") and video.size == (H, W)
    assert video.object_ids == (1, 2, 3)  # labels are MeViS obj_id + 1
    assert [(e.exp_id, e.obj_id, e.obj_ids, e.referents) for e in video.expressions] == [
        ("0", 1, None, (1,)), ("1", None, (1, 2), (1, 2)), ("2", None, (1, 2, 3), (1, 2, 3)), ("3", 3, None, (3,))]
    assert video.expressions[1].text == "the two birds taking turns"


def test_masks_are_read_per_frame_and_an_empty_rle_is_an_absent_object(root: Path):
    video = open_dataset("mevis", root, "train").video("birds")
    birds = two_birds()
    assert video.annotated_frames().all()
    assert sorted(video.annotation(0).masks) == [1]  # object 3's frame-0 RLE decodes to an empty mask
    assert sorted(video.annotation(1).masks) == [1, 3] and sorted(video.annotation(2).masks) == [2, 3]
    for t in range(4):
        annotation = video.annotation(t)
        for obj_id, masks in birds.objects.items():
            np.testing.assert_array_equal(annotation.mask(obj_id + 1, (H, W)), masks[t])


def test_union_of_objects_present_in_different_frames(root: Path):
    video = open_dataset("mevis", root, "train").video("birds")
    turns = video.expressions[1].referents
    unions = [video.annotation(t).union_mask(turns, video.size) for t in range(4)]
    np.testing.assert_array_equal(unions[0], block(slice(2, 6), slice(1, 5)))
    np.testing.assert_array_equal(unions[3], block(slice(2, 6), slice(9, 13)))
    assert [video.annotation(t).union_box(turns, video.size).tolist() for t in range(4)] == [
        [1, 2, 5, 6], [1, 2, 5, 6], [9, 2, 13, 6], [9, 2, 13, 6]]
    everything = video.annotation(2).union_box(video.expressions[2].referents, video.size)
    assert everything.tolist() == [5, 2, 13, 10]  # right bird and bar
    view = video.box_only()
    for t in range(4):
        np.testing.assert_array_equal(view.union_boxes(turns)[t], tight_box(unions[t]))
    assert np.isnan(view.union_boxes((3,))[0]).all()


def test_valid_split_has_no_ground_truth_and_no_objects(root: Path):
    video = open_dataset("mevis", root, "valid").video("birds")
    assert video.annotations is None and video.object_ids == ()
    assert all(e.obj_id is None and e.referents == () for e in video.expressions)
    assert video.expressions[0].text == "the bird on the left"


def test_datasets_lists_mevis(capsys: pytest.CaptureFixture[str]):
    from groprompt.cli import main

    assert main(["datasets", "--json"]) == 0
    kinds = {kind["key"]: kind for kind in json.loads(capsys.readouterr().out)["kinds"]}
    assert kinds["mevis"]["evaluation"] == "per-expression" and kinds["mevis"]["unscored_splits"] == ["valid"]
    assert kinds["mevis"]["table"] == "mevis" and kinds["mevis"]["reader"] == "groprompt.data.mevis:load_mevis"
    assert kinds["mevis"]["submission_folder"] == ""  # the server's archive holds the video folders at its root


def _edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _expressions(data: dict) -> dict:
    return data["videos"]["birds"]["expressions"]


FIRST = str(anno_id(0, 0))
BRANCH = str(anno_id(0, 2))
DEFECTS = {
    "no mask_dict": ("mask_dict.json", None, r"mask_dict.json of split 'train' is missing"),
    "track missing": ("mask_dict.json", lambda d: d.pop(FIRST),
                      rf"anno_id {FIRST}, which an expression of the video names, has no masks \[.*video birds"),
    "track too short": ("mask_dict.json", lambda d: d[FIRST].pop(),
                        rf"anno_id {FIRST} has 3 entries; the video has 4 frames"),
    "mask of another size": ("mask_dict.json", lambda d: d[FIRST][0].update(size=[H, W + 1]),
                             rf"anno_id {FIRST} is \[12, 17\] but the video's frames are \[12, 16\].*frame 00000"),
    "short counts": ("mask_dict.json", lambda d: d[FIRST][1].update(counts="3"),
                     rf"anno_id {FIRST} is malformed \(RLE runs cover 3 pixels.*frame 00001.*mask_dict.json"),
    "uncompressed counts": ("mask_dict.json", lambda d: d[FIRST][1].update(counts=[H * W]),
                            "not a COCO RLE with a compressed counts string"),
    "never present": ("mask_dict.json", lambda d: d.update({BRANCH: [None] * 4}),
                      rf"anno_id {BRANCH} has no mask in any frame"),
    "lists of other lengths": ("meta_expressions.json", lambda d: _expressions(d)["1"]["anno_id"].pop(),
                               r"obj_id \[0, 1\] and anno_id \[1000\] differ in length.*expression 1"),
    "object with two tracks": ("meta_expressions.json", lambda d: _expressions(d)["3"].update(obj_id=[0]),
                               rf"obj_id 0 has anno_id {BRANCH} here but {FIRST} in another expression.*expression 3"),
    "track of two objects": ("meta_expressions.json",
                             lambda d: _expressions(d)["3"].update(obj_id=[5], anno_id=[int(FIRST)]),
                             rf"anno_id {FIRST} has obj_id 5 here but 0 in another expression.*expression 3"),
    "no referent": ("meta_expressions.json", lambda d: _expressions(d)["0"].update(obj_id=[], anno_id=[]),
                    r"refers to no object.*no-target.*expression 0"),
    "no anno_id": ("meta_expressions.json", lambda d: _expressions(d)["0"].pop("anno_id"),
                   r'expected "obj_id" and "anno_id" lists.*expression 0'),
    "object id out of range": ("meta_expressions.json", lambda d: _expressions(d)["0"].update(obj_id=[254]),
                               r"not an integer in 0\.\.253"),
    "repeated object": ("meta_expressions.json",
                        lambda d: _expressions(d)["1"].update(obj_id=[0, 0], anno_id=[int(FIRST)] * 2),
                        r"names an object twice"),
    "punctuation only": ("meta_expressions.json", lambda d: _expressions(d)["2"].update(exp=" ?! "),
                         r"expression is without a letter or digit.*expression 2"),
    "path in a video name": ("meta_expressions.json",
                             lambda d: d["videos"].update({"../birds": d["videos"].pop("birds")}),
                             r"video name '\.\./birds' is not a plain name"),
    "path in an expression id": ("meta_expressions.json", lambda d: _expressions(d).update({"a/b": {"exp": "x"}}),
                                 r"expression id 'a/b' is not a plain name"),
}


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_defect_is_one_error_naming_the_file_and_entry(root: Path, defect: str):
    name, change, message = DEFECTS[defect]
    path = root / "train" / name
    if change is None:
        path.unlink()
    else:
        _edit_json(path, change)
    with pytest.raises(GroPromptError, match=message) as raised:
        open_dataset("mevis", root, "train")
    assert raised.value.path is not None and raised.value.path.name in (name, "train")


def test_frame_defects_are_named(root: Path):
    (root / "train" / "JPEGImages" / "birds" / "00002.jpg").unlink()
    with pytest.raises(GroPromptError, match=r"listed frame is missing.*video birds, frame 00002"):
        open_dataset("mevis", root, "train")
    jpeg = root / "valid_u" / "JPEGImages" / "birds" / "00001.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:-40])
    with pytest.raises(GroPromptError, match=r"frame file is truncated.*00001.jpg"):
        open_dataset("mevis", root, "valid_u")


def test_unknown_split_lists_the_splits(root: Path):
    with pytest.raises(GroPromptError, match=r"no expressions file for split 'test' \(splits found: train, valid, "
                                             r"valid_u\)"):
        open_dataset("mevis", root, "test")


def test_a_changed_mask_dict_is_checked_again_and_an_unchanged_one_remembered(root: Path, tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(MEMO_ENV, str(tmp_path / "memo"))
    monkeypatch.setattr(mevis, "MEMO_MIN_FILES", 1)
    checked, check = [], mevis.rle_runs
    monkeypatch.setattr(mevis, "rle_runs", lambda rle: checked.append(check(rle)))
    open_dataset("mevis", root, "train")
    assert len(checked) == 8  # the entries of the three tracks that are not null
    open_dataset("mevis", root, "train")
    assert len(checked) == 8  # remembered: only the sizes were checked
    _edit_json(root / "train" / "meta_expressions.json", lambda d: _expressions(d)["0"].update(exp="the left bird"))
    open_dataset("mevis", root, "train")
    assert len(checked) == 16  # another expressions file may name other tracks
    open_dataset("mevis", root, "train")
    _edit_json(root / "train" / "mask_dict.json", lambda d: d[FIRST][1].update(counts="3"))
    with pytest.raises(GroPromptError, match="malformed"):
        open_dataset("mevis", root, "train")


def test_a_split_that_too_few_rles_is_not_remembered(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(MEMO_ENV, str(tmp_path / "memo"))
    open_dataset("mevis", root, "train")
    assert not (tmp_path / "memo").exists() or not os.listdir(tmp_path / "memo")


def test_a_mask_that_cannot_be_decoded_when_read_is_a_named_error(tmp_path: Path):
    source = mevis.MaskDictSource({1: [None, {"size": [H, W], "counts": "3"}]}, {1: "77"}, ("a", "b"),
                                  dataset="mevis", video="v", path=tmp_path / "mask_dict.json")
    assert source.read(0).masks == {} and source.annotated(1) and not source.annotated(2)
    with pytest.raises(GroPromptError, match=r"anno_id 77 cannot be decoded.*video v, frame b.*mask_dict.json"):
        source.read(1)


def test_object_present_nowhere_but_as_empty_rles_is_kept_absent(tmp_path: Path):
    video = MevisVideo("ghost", {0: np.stack([block(slice(0, 2), slice(0, 2)), EMPTY]), 1: np.stack([EMPTY, EMPTY])},
                       [{"exp": "the ghost", "obj_id": [1]}, {"exp": "the dot", "obj_id": [0]}],
                       empty_rles={(1, 0)})
    write_mevis(tmp_path, "train", [video])
    loaded = open_dataset("mevis", tmp_path, "train").video("ghost")
    assert loaded.object_ids == (1, 2) and not any(2 in loaded.annotation(t).masks for t in range(2))
