"""A large checkpoint is hashed once (groprompt/fingerprints.py): its digest is remembered by the file's status, so
a start of infer or train does not read 2.4 GB again, and any change of the file's bytes is hashed anew. The SAM
cache key is that digest (the weights are not hashed in memory at every start)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import groprompt.fingerprints as fingerprints
from groprompt.segmentation import SAM_VARIANTS, Segmentor, build_sam, save_sam


@pytest.fixture
def memo(tmp_path, monkeypatch) -> list[Path]:
    """Every file is "large", the memo lives in tmp_path; returns the list of files actually read."""
    monkeypatch.setenv(fingerprints.MEMO_ENV, str(tmp_path / "memo" / "digests.json"))
    monkeypatch.setattr(fingerprints, "MEMO_MIN_BYTES", 0)
    read: list[Path] = []
    hash_file = fingerprints._hash_file

    def counting(path: Path) -> str:
        read.append(path)
        return hash_file(path)

    monkeypatch.setattr(fingerprints, "_hash_file", counting)
    return read


def _rewrite_keeping_time(path: Path, data: bytes) -> None:
    status = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def test_an_unchanged_file_is_hashed_once_and_a_changed_one_again(memo, tmp_path):
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"weights" * 1000)
    first = fingerprints.path_digest(checkpoint)
    assert fingerprints.path_digest(checkpoint) == first and memo == [checkpoint]
    # Same size, same modification time, other bytes: the status-change time tells.
    _rewrite_keeping_time(checkpoint, b"Weights" * 1000)
    changed = fingerprints.path_digest(checkpoint)
    assert changed != first and memo == [checkpoint] * 2
    # Touched or copied: read once more, and the digest is the content's.
    os.utime(checkpoint)
    copy = tmp_path / "copy.pth"
    copy.write_bytes(checkpoint.read_bytes())
    assert fingerprints.path_digest(checkpoint) == fingerprints.path_digest(copy) == changed
    assert len(memo) == 4 and fingerprints.path_digest(copy) == changed and len(memo) == 4


def test_a_folder_remembers_its_large_files(memo, tmp_path):
    folder = tmp_path / "grounder"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"w" * 100)
    (folder / "config.json").write_text("{}")
    digest = fingerprints.path_digest(folder)
    assert fingerprints.path_digest(folder) == digest and len(memo) == 2
    (folder / "config.json").write_text('{"d_model": 64}')
    assert fingerprints.path_digest(folder) != digest and len(memo) == 3  # only the changed file is read


def test_small_files_and_an_unwritable_memo_only_cost_reading(tmp_path, monkeypatch):
    monkeypatch.setenv(fingerprints.MEMO_ENV, str(tmp_path / "no" / "such" / "dir" / "digests.json"))
    (tmp_path / "no").write_text("a file where the memo's folder should be")
    large = tmp_path / "large.bin"
    large.write_bytes(b"x" * 64)
    monkeypatch.setattr(fingerprints, "MEMO_MIN_BYTES", 16)
    assert fingerprints.path_digest(large) == fingerprints.file_digest(large)
    monkeypatch.setattr(fingerprints, "MEMO_MIN_BYTES", 1 << 30)
    memo = tmp_path / "memo.json"
    monkeypatch.setenv(fingerprints.MEMO_ENV, str(memo))
    fingerprints.path_digest(large)
    assert not memo.exists()  # below the threshold nothing is remembered


def test_the_sam_cache_key_is_the_files_digest_remembered(memo, tmp_path, monkeypatch):
    torch.manual_seed(0)
    path = tmp_path / "sam_tiny.pt"
    save_sam(build_sam("tiny"), SAM_VARIANTS["tiny"], path)
    first = Segmentor.from_checkpoint(path)
    monkeypatch.setattr("groprompt.segmentation.segmentor.weights_digest",
                        lambda sam: pytest.fail("the weights were hashed in memory"))
    assert Segmentor.from_checkpoint(path).fingerprint == first.fingerprint and memo == [path]
    sam = build_sam("tiny")
    with torch.no_grad():
        sam.image_encoder.neck[1].weight.add_(1.0)
    save_sam(sam, SAM_VARIANTS["tiny"], path)
    assert Segmentor.from_checkpoint(path).fingerprint != first.fingerprint and memo == [path] * 2


@pytest.mark.parametrize("damage", [b"{not json", b"", "edited"])
def test_a_corrupt_digest_memo_is_ignored(memo, tmp_path, damage):
    """A memo whose body does not match its recorded digest (or that is not a memo at all) reads as empty: the
    file is hashed again, never given a digest from a damaged entry."""
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"weights" * 1000)
    digest = fingerprints.path_digest(checkpoint)
    memo_file = tmp_path / "memo" / "digests.json"
    data = memo_file.read_bytes()
    memo_file.write_bytes(data.replace(digest.encode(), b"0" * len(digest)) if damage == "edited" else damage)
    assert fingerprints.path_digest(checkpoint) == digest and memo == [checkpoint] * 2
    assert fingerprints.path_digest(checkpoint) == digest and len(memo) == 2  # the memo was written whole again
