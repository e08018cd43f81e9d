"""``groprompt params``: Table 5's parameter counts, built on the meta device from a config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from groprompt.cli import main
from groprompt.prompting import apply_freezing, build_detector
from groprompt.prompting.modalcon import ModalConHead
from groprompt.segmentation import build_sam

DATA = Path(__file__).parent / "data"


def _run(tmp_path: Path, config: Path) -> dict:
    out = tmp_path / "params.json"
    assert main(["params", "--config", str(config), "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_paper_setting_trains_about_15m(tmp_path, capsys):
    report = _run(tmp_path, DATA / "params_paper_swin_t.yaml")
    assert "decoder box head" in capsys.readouterr().out
    trainable = report["totals"]["all"]["trainable"]
    assert 10e6 <= trainable <= 20e6
    # The same count straight from requires_grad of independently built models: decoder + box head + ModalCon.
    with torch.device("meta"):
        detector = build_detector("swin-t")
        apply_freezing(detector, ["decoder", "bbox_embed"])
        head = ModalConHead(prompt_dim=512, visual_dim=256, text_dim=768)
        sam = build_sam("vit_h")
    expected = sum(p.numel() for p in detector.parameters() if p.requires_grad)
    assert report["totals"]["prompter"]["trainable"] == expected
    assert trainable == expected + sum(p.numel() for p in head.parameters())
    assert report["totals"]["segmentor"] == {"parameters": sum(p.numel() for p in sam.parameters()), "trainable": 0}
    assert report["totals"]["prompter"]["parameters"] == sum(p.numel() for p in detector.parameters())
    components = report["components"]
    assert sum(row["parameters"] for row in components) == report["totals"]["all"]["parameters"]
    assert {row["component"] for row in components} >= {"image backbone", "text backbone", "encoder (feature enhancer)",
                                                        "decoder", "decoder box head", "ModalCon head",
                                                        "SAM image encoder", "SAM prompt encoder", "SAM mask decoder"}


def test_swin_b_has_the_same_trainable_prompter_as_swin_t(tmp_path):
    swin_b = _run(tmp_path, DATA / "params_paper_swin_b.yaml")
    swin_t = _run(tmp_path, DATA / "params_paper_swin_t.yaml")
    assert swin_b["totals"]["prompter"]["trainable"] == swin_t["totals"]["prompter"]["trainable"]
    assert swin_b["totals"]["prompter"]["parameters"] > swin_t["totals"]["prompter"]["parameters"]


def test_tiny_setting(tmp_path):
    report = _run(tmp_path, DATA / "params_tiny.yaml")
    assert report["prompter_size"] == "tiny" and report["trainable_groups"] == ["decoder", "bbox_embed"]
    text = next(row for row in report["components"] if row["component"] == "text backbone")
    assert text["trainable"] == 0 and 22e6 < text["parameters"] < 23e6  # MiniLM-L6
    head = next(row for row in report["components"] if row["component"] == "ModalCon head")
    assert head["parameters"] == head["trainable"] == sum(
        p.numel() for p in ModalConHead(prompt_dim=128, visual_dim=64, text_dim=384).parameters())


@pytest.mark.parametrize("text, named", [
    ("prompter: {size: tiny, trainabel: [decoder]}\n", "prompter.trainabel"),
    ("prompter: {size: tiny}\nsegmenter: {variant: tiny}\n", "segmenter"),
    ("prompter: {size: swin-l}\n", "swin-l"),
    ("prompter: {size: tiny, trainable: [decoders]}\n", "decoders"),
    ("prompter: {size: tiny}\nmodalcon: {enabled: true}\n", "needs a segmentor"),
])
def test_config_errors_name_the_problem(tmp_path, capsys, text, named):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    assert main(["params", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert named in error and "bad.yaml" in error
