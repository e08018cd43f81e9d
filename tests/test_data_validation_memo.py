"""A split's files are checked once per unchanged file (groprompt.data.validation.FileChecks): a second open reads
no image, a changed file is read again and its new defect found, a corrupt memo is ignored, concurrent opens are
safe, and the thread pool finds the same first defect as the checks in order."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from datasets_fixtures import JHMDBVideo, ToyVideo, moving_squares, write_jhmdb, write_refytvos

import groprompt.data.validation as validation
from groprompt.data import load_jhmdb, load_refytvos, open_dataset
from groprompt.errors import GroPromptError
from groprompt.masks import write_label_png

SIZE = (24, 32)
FRAMES = 3


def _videos(count: int = 2) -> list[ToyVideo]:
    return [ToyVideo(f"v{i}", moving_squares(num_frames=FRAMES, size=SIZE, num_objects=2),
                     [{"exp": "the red square", "obj_id": "1"}, {"exp": "the green square", "obj_id": "2"}])
            for i in range(count)]


@pytest.fixture
def reads(tmp_path, monkeypatch) -> list[str]:
    """Every split is remembered, the memo lives in tmp_path; returns the paths of the files actually read."""
    monkeypatch.setenv(validation.MEMO_ENV, str(tmp_path / "memo"))
    monkeypatch.setattr(validation, "MEMO_MIN_FILES", 0)
    read: list[str] = []
    inspect = validation._inspect

    def counting(path: str, label_ids: bool) -> tuple:
        read.append(path)
        return inspect(path, label_ids)

    monkeypatch.setattr(validation, "_inspect", counting)
    return read


@pytest.fixture
def root(tmp_path) -> Path:
    return write_refytvos(tmp_path / "data", "train", _videos())


def _memo_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "memo").glob("*.json"))


def _view(dataset) -> list:
    return [(v.name, v.size, v.object_ids, v.frame_paths, dict(v.annotations.pngs)) for v in dataset.videos]


def test_a_second_open_reads_no_file(reads, root, tmp_path):
    first = open_dataset("refytvos", root, "train")
    assert len(reads) == 2 * 2 * FRAMES and len(_memo_files(tmp_path)) == 1  # frames and masks of two videos
    reads.clear()
    second = open_dataset("refytvos", root, "train")
    assert reads == [] and _view(second) == _view(first)
    assert second.videos[0].annotations.read(1).masks.keys() == {1, 2}


def test_a_changed_file_is_read_again_and_its_new_defect_found(reads, root):
    load_refytvos(root, "train")
    jpeg = root / "train" / "JPEGImages" / "v1" / "00005.jpg"
    os.utime(jpeg)
    reads.clear()
    load_refytvos(root, "train")
    assert reads == [str(jpeg)]
    # Same size and modification time, its end marker gone: the status-change time tells.
    status, data = jpeg.stat(), jpeg.read_bytes()
    jpeg.write_bytes(data[:-2] + b"\0\0")
    os.utime(jpeg, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert jpeg.stat().st_size == status.st_size
    with pytest.raises(GroPromptError, match=r"frame file is truncated(?s:.*)v1(?s:.*)00005\.jpg"):
        load_refytvos(root, "train")
    # A mask rewritten with a label meta.json does not declare, after the split was remembered.
    jpeg.write_bytes(data)
    load_refytvos(root, "train")
    labels = moving_squares(num_frames=FRAMES, size=SIZE)[2]
    labels[0:2, 0:2] = 7
    write_label_png(root / "train" / "Annotations" / "v0" / "00010.png", labels)
    with pytest.raises(GroPromptError, match=r"label values \[7\] are not objects declared"):
        load_refytvos(root, "train")


def test_checks_across_files_are_made_again_from_what_is_remembered(reads, tmp_path):
    """meta.json loses object 2 after the first open: every remembered mask holding 2 is now a defect."""
    videos = [ToyVideo("v0", moving_squares(num_frames=FRAMES, size=SIZE), [{"exp": "the red square", "obj_id": "1"}])]
    root = write_refytvos(tmp_path / "data", "train", videos)
    load_refytvos(root, "train")
    meta = root / "train" / "meta.json"
    meta.write_text(meta.read_text().replace('"2": {"category": "shape"', '"9": {"category": "shape"'))
    reads.clear()
    with pytest.raises(GroPromptError, match=r"label values \[2\] are not objects declared"):
        load_refytvos(root, "train")
    assert reads == []  # found from the remembered label ids


@pytest.mark.parametrize("damage", ["garbage", "truncated", "one byte", "other kind"])
def test_a_corrupt_memo_is_ignored_and_every_file_read_again(reads, root, tmp_path, damage):
    load_refytvos(root, "train")
    memo, = _memo_files(tmp_path)
    data = memo.read_bytes()
    if damage == "garbage":
        memo.write_bytes(b"\x00not json")
    elif damage == "truncated":
        memo.write_bytes(data[: len(data) // 2])
    elif damage == "one byte":  # an entry's mode P -> L: the body no longer matches its digest
        memo.write_bytes(data.replace(b'"P"', b'"L"', 1))
    else:
        memo.write_bytes(data.replace(b"image-checks/", b"image-checkz/", 1))
    assert memo.read_bytes() != data
    # A defect that a trusted memo would hide: the truncated frame keeps its size and times but for ctime, and the
    # memo is corrupt, so the frame must be read.
    reads.clear()
    load_refytvos(root, "train")
    assert len(reads) == 2 * 2 * FRAMES
    reads.clear()
    load_refytvos(root, "train")
    assert reads == []  # rewritten whole


def test_concurrent_opens_in_threads_and_processes(reads, root, tmp_path):
    errors: list[BaseException] = []

    def open_split() -> None:
        try:
            load_refytvos(root, "train")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_split) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    script = ("import sys; import groprompt.data.validation as v; v.MEMO_MIN_FILES = 0; "
              "from groprompt.data import load_refytvos\n"
              "for _ in range(5): load_refytvos(sys.argv[1], 'train')\n")
    env = {**os.environ, validation.MEMO_ENV: str(tmp_path / "memo"), "PYTHONPATH": str(Path.cwd())}
    jobs = [subprocess.Popen([sys.executable, "-c", script, str(root)], env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    for job in jobs:
        assert job.wait(timeout=120) == 0, job.stderr.read()
    memo, = _memo_files(tmp_path)
    assert not list(memo.parent.glob(".*tmp*"))  # no temporary file left behind
    reads.clear()
    load_refytvos(root, "train")
    assert reads == []
    # A defect made while the memo is shared is found by every job.
    jpeg = root / "train" / "JPEGImages" / "v0" / "00000.jpg"
    jpeg.write_bytes(b"not a JPEG")
    jobs = [subprocess.Popen([sys.executable, "-c", script, str(root)], env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    for job in jobs:
        assert job.wait(timeout=120) == 1 and "frame file cannot be read" in job.stderr.read()


def test_the_thread_pool_finds_the_first_defect_in_order(reads, tmp_path, monkeypatch):
    root = write_refytvos(tmp_path / "data", "train", _videos(4))
    (root / "train" / "JPEGImages" / "v3" / "00005.jpg").write_bytes(b"broken")
    labels = moving_squares(num_frames=FRAMES, size=SIZE)[1]
    labels[0:2, 0:2] = 7
    write_label_png(root / "train" / "Annotations" / "v1" / "00005.png", labels)
    monkeypatch.setattr(validation, "_CHUNK", 2)
    monkeypatch.setenv(validation.THREADS_ENV, "4")
    worker_threads: set[str] = set()
    inspect = validation._inspect

    def recording(path: str, label_ids: bool) -> tuple:
        worker_threads.add(threading.current_thread().name)
        return inspect(path, label_ids)

    monkeypatch.setattr(validation, "_inspect", recording)
    with pytest.raises(GroPromptError, match=r"label values \[7\](?s:.*)video v1"):
        load_refytvos(root, "train")
    assert all(name.startswith("groprompt-check") for name in worker_threads)
    # The files that passed are remembered; the defective ones are read again at every open.
    reads.clear()
    with pytest.raises(GroPromptError, match=r"label values \[7\](?s:.*)video v1"):
        load_refytvos(root, "train")
    assert reads == [str(root / "train" / "JPEGImages" / "v3" / "00005.jpg")]


def test_no_memo_when_off_or_for_a_small_split(root, tmp_path, monkeypatch):
    monkeypatch.setenv(validation.MEMO_ENV, str(tmp_path / "memo"))
    load_refytvos(root, "train")  # 12 files, below MEMO_MIN_FILES
    assert _memo_files(tmp_path) == []
    monkeypatch.setattr(validation, "MEMO_MIN_FILES", 0)
    monkeypatch.setenv(validation.MEMO_ENV, "off")
    load_refytvos(root, "train")
    assert _memo_files(tmp_path) == [] and validation.memo_folder() is None
    monkeypatch.delenv(validation.MEMO_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert validation.memo_folder() == tmp_path / "cache" / "groprompt" / "validated-files"


def test_an_unwritable_memo_only_costs_reading(reads, root, tmp_path, monkeypatch):
    (tmp_path / "blocked").write_text("a file where the memo folder should be")
    monkeypatch.setenv(validation.MEMO_ENV, str(tmp_path / "blocked" / "memo"))
    load_refytvos(root, "train")
    load_refytvos(root, "train")
    assert len(reads) == 2 * 2 * 2 * FRAMES


def test_jhmdb_frames_are_remembered(reads, tmp_path):
    masks = moving_squares(num_frames=4, num_objects=1) == 1
    root = write_jhmdb(tmp_path / "jhmdb", [JHMDBVideo("pullup_man_1", "pullup", masks, "a man pulling up",
                                                       samples=[1, 2, 4])])
    first = load_jhmdb(root)
    assert len(reads) == 4
    reads.clear()
    assert load_jhmdb(root).videos[0].size == first.videos[0].size and reads == []
    np.testing.assert_array_equal(first.videos[0].read_frame(0), load_jhmdb(root).videos[0].read_frame(0))
