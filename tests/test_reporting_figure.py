"""The qualitative figure: deterministic choice of the example, hand-checked caption figures, a PNG on disk.

Two toy videos in the SynRVOS (Ref-YouTube-VOS) layout, 3 frames of 24x32 (moving_squares: object k is a 6x6
square at rows 4 + 8(k - 1), columns 2 + 2t). ``still`` has appearance expressions only; ``moving`` has a motion
expression, so it is the example. Two methods' infer folders: gt-box-sam outputs the exact tight box and mask;
grounded-sam the box shifted 3 pixels right and that box filled as its mask: IoU 18 / 54 = 1/3 for both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos
from PIL import Image

from groprompt.cli import main
from groprompt.data.model import tight_box
from groprompt.data.registry import dataset_kind, open_dataset
from groprompt.errors import GroPromptError
from groprompt.inference.outputs import OutputLayout, VideoWriter
from groprompt.reporting import figures
from groprompt.reporting.figures import MethodOutputs, choose_examples, qualitative_figure

SHIFT = 3


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("figure")
    videos = [
        ToyVideo("still", moving_squares(), [{"exp": "the red square", "obj_id": "1", "kind": "appearance"}]),
        ToyVideo("moving", moving_squares(), [{"exp": "the red square", "obj_id": "1", "kind": "appearance"},
                                              {"exp": "the green square moving right", "obj_id": "2",
                                               "kind": "motion"}]),
    ]
    write_refytvos(root / "data", "valid", videos)
    dataset = open_dataset("synrvos", root / "data", "valid")
    for key, shift in (("gt", 0), ("gsam", SHIFT)):
        layout = OutputLayout(root / key)
        for video in dataset:
            writer = VideoWriter(layout, video)
            for t in range(video.num_frames):
                annotation = video.annotation(t)
                boxes = np.stack([tight_box(annotation.mask(e.obj_id, video.size)) + [shift, 0, shift, 0]
                                  for e in video.expressions])
                masks = np.zeros((len(boxes), *video.size), bool)
                for k, (x0, y0, x1, y1) in enumerate(boxes.astype(int)):
                    masks[k, y0:y1, x0:x1] = True
                writer.add_frame(t, boxes, np.ones(len(boxes)), masks)
            writer.finish({"method": key})
    return {"data": root / "data", "gt": root / "gt", "gsam": root / "gsam", "root": root}


def test_example_choice_prefers_motion(toy):
    dataset = open_dataset("synrvos", toy["data"], "valid")
    (video, expression), = choose_examples(dataset, 1)
    assert (video.name, expression.kind, expression.exp_id) == ("moving", "motion", "1")
    assert [v.name for v, _ in choose_examples(dataset, 5)] == ["moving", "still"]


def test_caption_figures_by_hand(toy, monkeypatch):
    captured = {}

    def fake_render(frames, overlays, **kwargs):
        captured.update(kwargs, frames=frames, overlays=overlays)
        return Image.new("RGB", (10, 10))

    monkeypatch.setattr(figures, "render_sheet", fake_render)
    dataset = open_dataset("synrvos", toy["data"], "valid")
    methods = [MethodOutputs("grounded-sam", toy["gsam"]), MethodOutputs("gt-box-sam", toy["gt"])]
    qualitative_figure(dataset, dataset_kind("synrvos"), methods, num_frames=2)
    assert "SynRVOS (synthetic), not Ref-DAVIS17" in captured["title"] and "moving" in captured["title"]
    lines = [text for text, _ in captured["caption"]]
    assert lines[0] == 'expression [motion]: "the green square moving right" (object 2)'
    assert "Grounded-SAM: predicted mask and box (dashed); box IoU 0.33, J 0.33 over 3 frames" in lines
    assert "GT box + SAM: predicted mask and box (dashed); box IoU 1.00, J 1.00 over 3 frames" in lines
    assert [label for label, _ in captured["row_labels"]] == ["ground truth", "Grounded-SAM", "GT box + SAM"]
    assert len(captured["frames"]) == 3 * 2  # 3 rows of 2 frames (first and last)
    assert captured["frame_labels"][:2] == ["t=0", "t=2"]


def test_figure_cli_writes_png(toy, tmp_path, capsys):
    out = tmp_path / "figure.png"
    code = main(["figure", "--dataset-kind", "synrvos", "--data", str(toy["data"]), "--split", "valid",
                 "--method", f"grounded-sam={toy['gsam']}", "--method", f"gt-box-sam={toy['gt']}",
                 "--examples", "2", "--frames", "3", "--out", str(out)])
    assert code == 0
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 600 and image.height > 600
        pixels = np.asarray(image.convert("RGB"))
    assert (pixels == 255).all(axis=-1).any()  # the white ground-truth overlay was drawn
    capsys.readouterr()


def test_missing_outputs_are_named(toy, tmp_path):
    dataset = open_dataset("synrvos", toy["data"], "valid")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GroPromptError, match="boxes file is missing"):
        qualitative_figure(dataset, dataset_kind("synrvos"), [MethodOutputs("grounded-sam", empty)])



def test_multi_object_expression_is_drawn_against_the_union(tmp_path, monkeypatch):
    """MeViS's tiny video, "the two birds taking turns" (objects 1 and 2, one in frames 0-1, the other in 2-3): the
    ground truth drawn is their union, and a method whose masks and boxes are exactly that union scores 1; the title
    of SynRVOS generated in the MeViS layout says it is synthetic."""
    from mevis_fixtures import two_birds, write_mevis

    captured = {}

    def fake_render(frames, overlays, **kwargs):
        captured.update(kwargs, overlays=overlays)
        return Image.new("RGB", (10, 10))

    monkeypatch.setattr(figures, "render_sheet", fake_render)
    root = write_mevis(tmp_path / "mevis", "valid_u", [two_birds()])
    video = open_dataset("mevis", root, "valid_u").video("birds")
    unions = [np.stack([video.annotation(t).union_mask(e.referents, video.size) for e in video.expressions])
              for t in range(video.num_frames)]
    writer = VideoWriter(OutputLayout(tmp_path / "gt"), video)
    for t, union in enumerate(unions):
        writer.add_frame(t, np.stack([tight_box(mask) for mask in union]), np.ones(len(union)), union)
    writer.finish({"method": "gt"})
    figures.example_panel(video, video.expressions[1], [MethodOutputs("gt-box-sam", tmp_path / "gt")],
                          dataset_kind("mevis").generated(), num_frames=4)
    assert "SynRVOS in the MeViS layout (synthetic), not MeViS" in captured["title"]
    lines = [text for text, _ in captured["caption"]]
    assert lines[0] == 'expression: "the two birds taking turns" (objects 1+2)'
    assert "GT box + SAM: predicted mask and box (dashed); box IoU 1.00, J 1.00 over 4 frames" in lines
    drawn = captured["overlays"][0].masks[:4]  # the ground-truth row: left bird, left bird, right bird, right bird
    for t, mask in enumerate(drawn):
        np.testing.assert_array_equal(mask, unions[t][1])
    assert drawn[0].any() and drawn[3].any() and not (drawn[0] & drawn[3]).any()
