"""Several boxes per expression and frame: the prompter's ``multi_box_threshold``, GT box + SAM on expressions that
refer to several objects, and the runner's union of masks.

A random tiny Grounding DINO (as in test_baselines) and a random tiny SAM: their boxes and masks mean nothing, so the
tests check which boxes are prompted, that each is decoded alone and the masks united, and what is recorded. Dataset:
two videos of 24 x 32 frames (datasets_fixtures.moving_squares).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos
from mevis_fixtures import two_birds, write_mevis

from groprompt.cli import main
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError
from groprompt.inference import read_boxes, read_masks, run_inference
from groprompt.inference.prompts import RECORD_KEY
from groprompt.methods import FrameOutput, Method, discover_methods
from groprompt.methods.prompter import GroPrompt
from groprompt.prompting import build_prompter
from groprompt.segmentation import Segmentor, load_sam

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASELINES = Path(__file__).resolve().parents[1] / "baselines"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    videos = [ToyVideo("v1", moving_squares(num_frames=3, size=(24, 32), num_objects=2),
                       [{"exp": "the upper square", "obj_id": "1"}, {"exp": "the lower square", "obj_id": "2"}]),
              ToyVideo("v2", moving_squares(num_frames=2, size=(24, 32), num_objects=1),
                       [{"exp": "the square", "obj_id": "1"}])]
    return write_refytvos(root, "train", videos)


@pytest.fixture(scope="module")
def prompter(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("prompter")
    torch.manual_seed(0)
    build_prompter("tiny").detector.save_pretrained(folder)
    return folder


def run(method: Method, root: Path, sam_file: Path, out: Path, options: dict | None = None) -> Segmentor:
    segmentor = Segmentor(load_sam(sam_file)[0])
    run_inference(method, open_dataset("refytvos", root, "train"), out, segmentor=segmentor, options=options,
                  progress=False)
    return segmentor


def masks_json(out: Path, video: str) -> dict:
    return json.loads((out / "masks" / f"{video}.json").read_text())


def test_top1_is_kept_and_recorded_alone_when_no_query_passes(root, prompter, sam_file, tmp_path):
    plain = GroPrompt(checkpoint=prompter, size="tiny")
    strict = GroPrompt(checkpoint=prompter, size="tiny", multi_box_threshold=1.0)  # no confidence exceeds 1
    run(plain, root, sam_file, tmp_path / "plain")
    run(strict, root, sam_file, tmp_path / "strict", {"multi_box_threshold": 1.0})
    for video in ("v1", "v2"):
        # Same top-1 boxes, scores and masks as the paper's method, to the byte.
        assert (tmp_path / "plain/boxes" / f"{video}.csv").read_bytes() == \
            (tmp_path / "strict/boxes" / f"{video}.csv").read_bytes()
        for png in sorted((tmp_path / "plain/Annotations" / video).rglob("*.png")):
            assert png.read_bytes() == (tmp_path / "strict" / png.relative_to(tmp_path / "plain")).read_bytes()
        plain_json, strict_json = masks_json(tmp_path / "plain", video), masks_json(tmp_path / "strict", video)
        assert plain_json["expressions"] == strict_json["expressions"] and plain_json["records"] == {}
        for record in strict_json["records"].values():
            assert all(len(frame) == 1 for frame in record[RECORD_KEY])

    frame = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    expressions = open_dataset("refytvos", root, "train").video("v1").expressions
    top_boxes, top_scores = plain.top1_boxes(frame, [expression.text for expression in expressions])
    above_all = GroPrompt(checkpoint=prompter, size="tiny", multi_box_threshold=float(top_scores.max()))
    for output, box, score in zip(above_all.predict(frame, 0, expressions), top_boxes, top_scores, strict=True):
        np.testing.assert_array_equal(output.box, box)  # below the threshold, kept all the same
        assert output.score == score and output.extra_boxes.shape == (0, 4)


def test_union_equals_each_prompted_box_decoded_alone(root, prompter, sam_file, tmp_path):
    dataset = open_dataset("refytvos", root, "train")
    probe = GroPrompt(checkpoint=prompter, size="tiny")
    first = dataset.video("v1")
    _, scores = probe.query_boxes(first.read_frame(0), [e.text for e in first.expressions])
    threshold = float(np.sort(scores[0])[-4])  # three queries of the first expression pass on frame 0
    method = GroPrompt(checkpoint=prompter, size="tiny", multi_box_threshold=threshold)
    segmentor = run(method, root, sam_file, tmp_path / "out", {"multi_box_threshold": threshold})

    several = 0
    for video in dataset:
        masks = read_masks(tmp_path / "out/masks" / f"{video.name}.json")
        records = masks_json(tmp_path / "out", video.name)["records"]
        for t in range(video.num_frames):
            frame = video.read_frame(t)
            boxes, scores = probe.query_boxes(frame, [e.text for e in video.expressions])
            embedding = segmentor.embed(frame[None])[0]
            for k, expression in enumerate(video.expressions):
                order = np.argsort(-scores[k], kind="stable")
                prompted = [order[0]] + [q for q in order[1:] if scores[k, q] > threshold]
                recorded = np.array(records[expression.exp_id][RECORD_KEY][t])
                np.testing.assert_allclose(recorded[:, :4], boxes[k, prompted], atol=5e-4)
                np.testing.assert_allclose(recorded[:, 4], scores[k, prompted], atol=5e-7)
                alone = [segmentor.segment(embedding, boxes[k, q][None], frame.shape[:2])[0] for q in prompted]
                np.testing.assert_array_equal(masks[expression.exp_id][t], np.logical_or.reduce(alone))
                several += len(prompted) > 1
    assert several >= 1


class FixedBoxes(Method):
    """Object 1's first-frame box with object 2's as an extra box, for every expression and frame."""

    name = "fixed-boxes"
    description = "test method"

    def predict(self, frame, index, expressions, ground_truth=None):
        return [FrameOutput(box=np.array([2.0, 4.0, 8.0, 10.0]), score=0.9,
                            extra_boxes=np.array([[2.0, 12.0, 8.0, 18.0]]), extra_scores=np.array([0.4]))
                for _ in expressions]


def test_runner_unites_the_masks_and_records_every_prompted_box(root, sam_file, tmp_path):
    segmentor = run(FixedBoxes(), root, sam_file, tmp_path / "out")
    video = open_dataset("refytvos", root, "train").video("v1")
    masks = read_masks(tmp_path / "out/masks/v1.json")
    records = masks_json(tmp_path / "out", "v1")["records"]
    for t in range(video.num_frames):
        each = segmentor.segment_frames([video.read_frame(t)], [np.array([[2.0, 4, 8, 10], [2, 12, 8, 18]])],
                                        [f"check/{t}"])[0]
        for exp_id in ("0", "1"):
            np.testing.assert_array_equal(masks[exp_id][t], each[0] | each[1])
            assert records[exp_id][RECORD_KEY][t] == [[2.0, 4.0, 8.0, 10.0, 0.9], [2.0, 12.0, 8.0, 18.0, 0.4]]


@pytest.mark.parametrize(("output", "outputs_masks", "message"), [
    (FrameOutput(box=None, extra_boxes=np.zeros((1, 4))), False, "extra boxes beside no box"),
    (FrameOutput(box=np.zeros(4), extra_boxes=np.zeros(4)), False, r"extra boxes of shape \(4,\)"),
    (FrameOutput(box=np.zeros(4), extra_boxes=np.zeros((2, 4)), extra_scores=np.zeros(3)), False,
     r"\(3,\) extra scores for 2 extra boxes"),
    (FrameOutput(box=None, mask=np.ones((24, 32), bool), extra_boxes=np.zeros((1, 4))), True,
     "segments itself but returned extra boxes"),
])
def test_malformed_extra_boxes_are_named(root, sam_file, tmp_path, output, outputs_masks, message):
    class Broken(Method):
        name = "broken"
        description = "test method"

        def predict(self, frame, index, expressions, ground_truth=None):
            return [output for _ in expressions]

    Broken.outputs_masks = outputs_masks
    with pytest.raises(GroPromptError, match=message):
        run(Broken(), root, sam_file, tmp_path / "out")


def test_threshold_option_is_checked(prompter, root, sam_file, tmp_path, capsys):
    with pytest.raises(GroPromptError, match=r"multi_box_threshold must lie in \[0, 1\], got 1.5"):
        GroPrompt(checkpoint=prompter, size="tiny", multi_box_threshold=1.5)
    command = ["infer", "--method", "groprompt", "--dataset-kind", "refytvos", "--data", str(root), "--split",
               "train", "--segmentor", str(sam_file), "--out", str(tmp_path / "out"), "--option",
               f"checkpoint={prompter}", "--option", "size=tiny"]
    assert main([*command, "--option", "multi_box_threshold=high"]) == 2
    assert "multi_box_threshold='high' is not" in capsys.readouterr().err
    assert main([*command, "--option", "multi_box_threshold=0.5"]) == 0
    stats = json.loads((tmp_path / "out" / "run_stats.json").read_text())
    assert stats["options"]["multi_box_threshold"] == 0.5


# ---------------------------------------------------------------------------------------------- GT box + SAM
def test_gt_box_sam_prompts_every_present_referent_and_unites_the_masks(sam_file, tmp_path):
    """MeViS's tiny video (mevis_fixtures.two_birds): each expression's mask on a frame is the OR of SAM's masks of
    its present referents' own ground-truth boxes, each decoded alone; boxes.csv holds the first present one's box;
    every box prompted is recorded; a frame where no referent is present gets no box and an empty mask."""
    root = write_mevis(tmp_path / "mevis", "valid_u", [two_birds()])
    dataset = open_dataset("mevis", root, "valid_u")
    method = discover_methods(BASELINES).create("gt-box-sam", {})
    segmentor = Segmentor(load_sam(sam_file)[0])
    run_inference(method, dataset, tmp_path / "out", segmentor=segmentor, progress=False)
    video = dataset.video("birds")
    masks = read_masks(tmp_path / "out/masks/birds.json")
    boxes = read_boxes(tmp_path / "out/boxes/birds.csv")
    records = masks_json(tmp_path / "out", "birds")["records"]
    several = 0
    for t in range(video.num_frames):
        frame, truth = video.read_frame(t), video.annotation(t)
        embedding = segmentor.embed(frame[None])[0]
        for expression in video.expressions:
            present = [truth.box(obj) for obj in expression.referents if truth.box(obj) is not None]
            alone = [segmentor.segment(embedding, box[None], frame.shape[:2])[0] for box in present]
            expected = np.logical_or.reduce(alone) if alone else np.zeros(video.size, dtype=bool)
            np.testing.assert_array_equal(masks[expression.exp_id][t], expected)
            first = present[0] if present else [np.nan] * 4
            np.testing.assert_array_equal(boxes[expression.exp_id][1][t], first)
            recorded = records[expression.exp_id][RECORD_KEY][t]
            assert [row[:4] for row in recorded] == [list(map(float, box)) for box in present]
            several += len(present) > 1
    assert several == 3  # "the birds and the branch": right bird and bar in frames 2-3, left bird and bar in 1


def test_gt_box_sam_single_object_outputs_are_unchanged(root, sam_file, tmp_path):
    """Expressions of one object: one box per frame, as before; no record of prompted boxes."""
    method = discover_methods(BASELINES).create("gt-box-sam", {})
    run(method, root, sam_file, tmp_path / "out")
    dataset = open_dataset("refytvos", root, "train")
    for video in dataset:
        assert masks_json(tmp_path / "out", video.name)["records"] == {}
        found = read_boxes(tmp_path / "out/boxes" / f"{video.name}.csv")
        for expression in video.expressions:
            truth = np.stack([video.annotation(t).box(expression.obj_id) for t in range(video.num_frames)])
            np.testing.assert_array_equal(found[expression.exp_id][1], truth)


def test_an_oracle_reading_one_object_is_refused_several_before_any_frame(sam_file, tmp_path):
    class OneObject(Method):
        name = "one-object"
        description = "test oracle"
        uses_ground_truth = True

        def predict(self, frame, index, expressions, ground_truth=None):
            raise AssertionError("no frame may be read")

    root = write_mevis(tmp_path / "mevis", "valid_u", [two_birds()])
    with pytest.raises(GroPromptError, match="method 'one-object' reads one object per expression, but 2 "
                                             "expressions of this split refer to several") as error:
        run_inference(OneObject(), open_dataset("mevis", root, "valid_u"), tmp_path / "out",
                      segmentor=Segmentor(load_sam(sam_file)[0]), progress=False)
    assert "several_referents = True" in str(error.value) and not (tmp_path / "out" / "masks").exists()
