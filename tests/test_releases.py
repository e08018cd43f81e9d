"""Released stand-ins (groprompt.releases, groprompt release): the digest list is the one `sha256sum -c` checks,
every loader refuses a released file whose bytes changed, and a grounder released without its text backbone loads
back equal to the trained one."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
import torch

from groprompt.cli import main
from groprompt.errors import GroPromptError
from groprompt.prompting import build_prompter
from groprompt.prompting.build import load_hf_detector
from groprompt.releases import MANIFEST, release_digests, verify_release, write_manifest
from groprompt.segmentation import SAM_VARIANTS, build_sam, load_sam, save_sam
from groprompt.training.checkpoint import export_prompter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


@pytest.fixture()
def release(tmp_path):
    folder = tmp_path / "rel"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"abc")
    (folder / "b.json").write_text("{}")
    write_manifest(folder, ["a.bin", "b.json"])
    return folder


def test_manifest_is_sha256sum_format(release):
    # hashlib's SHA-256 of b"abc" is the FIPS 180-2 test vector
    assert release_digests(release)["a.bin"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert (release / MANIFEST).read_text().splitlines()[0].endswith("  a.bin")
    if shutil.which("sha256sum"):
        checked = subprocess.run(["sha256sum", "-c", MANIFEST], cwd=release, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_verify_release_accepts_the_released_bytes_and_ignores_other_folders(release, tmp_path):
    assert verify_release(release) is True
    assert verify_release(release / "a.bin") is True
    plain = tmp_path / "plain"
    plain.mkdir()
    assert verify_release(plain) is False


def test_verify_release_names_a_changed_or_missing_file(release):
    (release / "b.json").write_text("{ }")
    with pytest.raises(GroPromptError, match="differs from the released one") as error:
        verify_release(release)
    assert "b.json" in str(error.value) and "git checkout" in str(error.value)
    assert verify_release(release / "a.bin") is True  # a file is checked alone
    (release / "a.bin").unlink()
    with pytest.raises(GroPromptError, match="missing"):
        verify_release(release / "a.bin")


def test_verify_release_refuses_unlisted_files_and_malformed_lists(release):
    (release / "extra.pt").write_bytes(b"x")
    with pytest.raises(GroPromptError, match="not one of the files"):
        verify_release(release / "extra.pt")
    (release / MANIFEST).write_text(f"{'0' * 64}  ../outside\n")
    with pytest.raises(GroPromptError, match="line 1"):
        verify_release(release)


def test_load_sam_refuses_a_changed_released_file(tmp_path):
    torch.manual_seed(0)
    save_sam(build_sam("tiny"), SAM_VARIANTS["tiny"], tmp_path / "sam.pt")
    (tmp_path / "sam.pt.metrics.json").write_text("{}")
    assert main(["release", "--segmentor", str(tmp_path / "sam.pt"), "--out", str(tmp_path / "rel")]) == 0
    released = tmp_path / "rel" / "segmentor.pt"
    assert release_digests(tmp_path / "rel").keys() == {"segmentor.pt", "metrics.json"}
    load_sam(released)
    _flip_last_byte(released)
    with pytest.raises(GroPromptError, match="differs from the released one"):
        load_sam(released)


@pytest.fixture(scope="module")
def trained_grounder(tmp_path_factory):
    """A stand-in grounder folder as pretrain-grounder writes it (whole detector, tokenizer, metrics beside)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("grounder") / "grounder"
    export_prompter(build_prompter("tiny"), folder)
    (folder.parent / "grounder.metrics.json").write_text(json.dumps({"top1_iou": 0.5}))
    return folder


def test_grounder_release_omits_the_text_backbone_and_loads_back_equal(trained_grounder, tmp_path):
    out = tmp_path / "standin-grounder"
    assert main(["release", "--grounder", str(trained_grounder), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["SHA256SUMS", "config.json", "metrics.json", "model.safetensors"]
    assert (out / "model.safetensors").stat().st_size < (trained_grounder / "model.safetensors").stat().st_size / 5
    assert json.loads((out / "metrics.json").read_text()) == {"top1_iou": 0.5}
    original = build_prompter("tiny", trained_grounder).detector.state_dict()
    loaded = build_prompter("tiny", out).detector.state_dict()
    assert loaded.keys() == original.keys()
    for key, tensor in original.items():
        assert torch.equal(loaded[key], tensor), key
    digest = hashlib.sha256((out / "config.json").read_bytes()).hexdigest()
    assert release_digests(out)["config.json"] == digest


def test_a_changed_released_grounder_is_refused_before_loading(trained_grounder, tmp_path):
    out = tmp_path / "standin-grounder"
    assert main(["release", "--grounder", str(trained_grounder), "--out", str(out)]) == 0
    _flip_last_byte(out / "model.safetensors")
    with pytest.raises(GroPromptError, match="model.safetensors"):
        build_prompter("tiny", out)


def test_a_folder_without_text_backbone_needs_the_bundled_one(trained_grounder, tmp_path):
    out = tmp_path / "standin-grounder"
    assert main(["release", "--grounder", str(trained_grounder), "--out", str(out)]) == 0
    with pytest.raises(GroPromptError, match="omits its text backbone"):
        load_hf_detector(out)  # no text folder given


def test_a_folder_missing_other_tensors_is_refused(trained_grounder, tmp_path):
    detector = build_prompter("tiny", trained_grounder).detector
    state = {key: value for key, value in detector.state_dict().items()
             if not key.startswith(("model.text_backbone.", "model.input_proj_vision.0."))}
    detector.save_pretrained(tmp_path, state_dict=state)
    with pytest.raises(GroPromptError, match="only a released stand-in may omit"):
        build_prompter("tiny", tmp_path)


def test_release_refuses_a_changed_text_backbone_and_an_existing_folder(trained_grounder, tmp_path):
    prompter = build_prompter("tiny", trained_grounder)
    with torch.no_grad():
        prompter.detector.model.text_backbone.embeddings.LayerNorm.bias.add_(1.0)
    changed = tmp_path / "changed"
    export_prompter(prompter, changed)
    (tmp_path / "changed.metrics.json").write_text("{}")
    assert main(["release", "--grounder", str(changed), "--out", str(tmp_path / "rel")]) == 2
    assert not (tmp_path / "rel").exists()
    (tmp_path / "rel").mkdir()
    assert main(["release", "--grounder", str(trained_grounder), "--out", str(tmp_path / "rel")]) == 2


def test_every_committed_release_matches_its_digests():
    """The releases the shipped configs name are complete and unchanged in the checkout (a file .gitignore kept out
    of the repository would be missing in a clone)."""
    from pathlib import Path

    releases = Path(__file__).resolve().parents[1] / "releases"
    folders = sorted(folder for folder in releases.iterdir() if (folder / MANIFEST).is_file())
    assert {"standin-grounder", "standin-sam"} <= {folder.name for folder in folders}
    for folder in folders:
        assert verify_release(folder) is True
        tracked = subprocess.run(["git", "ls-files", str(folder)], capture_output=True, text=True,
                                 cwd=releases.parent).stdout.split()
        if tracked:  # a git checkout: every listed file is committed
            assert {Path(path).name for path in tracked} >= set(release_digests(folder)), folder.name
