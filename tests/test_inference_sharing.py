"""``groprompt infer`` with its shared work (the prompter's image half once per frame for all expressions, SAM
encoding a window of frames per call and decoding all boxes of a frame in one call, a loader and a writer thread)
gives the boxes and masks of the unshared path: every expression on its own copy of its frame through Grounding
DINO's own forward, every frame through SAM alone and every box decoded alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos

from groprompt.boxes import normalized_cxcywh_to_pixel_xyxy
from groprompt.cli import main
from groprompt.data.registry import open_dataset
from groprompt.inference import read_boxes, read_masks
from groprompt.prompting import build_prompter, preprocess_frames, query_confidence, select_top1
from groprompt.segmentation import SAM_VARIANTS, Segmentor, build_sam, load_sam, save_sam

BASELINES = Path(__file__).resolve().parents[1] / "baselines"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sharing")
    expressions = [{"exp": "the upper square", "obj_id": "1"}, {"exp": "the lower square", "obj_id": "2"},
                   {"exp": "a red box moving right", "obj_id": "1"}]
    videos = [ToyVideo("v1", moving_squares(num_frames=4, size=(64, 96), num_objects=2, side=12, step=9),
                       expressions),
              ToyVideo("v2", moving_squares(num_frames=2, size=(64, 96), num_objects=2, side=10), expressions[:2])]
    torch.manual_seed(0)
    build_prompter("tiny").detector.save_pretrained(folder / "prompter")
    save_sam(build_sam("tiny"), SAM_VARIANTS["tiny"], folder / "sam.pt")
    return {"data": write_refytvos(folder / "data", "train", videos), "prompter": folder / "prompter",
            "sam": folder / "sam.pt", "out": folder / "out"}


def _unshared(inputs: dict[str, Path]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``video -> exp_id -> ((T, 4) boxes, (T, H, W) masks)`` without any sharing or batching."""
    prompter = build_prompter("tiny", inputs["prompter"]).eval()
    segmentor = Segmentor(load_sam(inputs["sam"])[0], batch_size=1, decode_batch_size=1)
    result: dict[str, dict[str, tuple[list, list]]] = {}
    with torch.no_grad():
        for video in open_dataset("refytvos", inputs["data"], "train"):
            per_expression = result.setdefault(video.name, {e.exp_id: ([], []) for e in video.expressions})
            for index in range(video.num_frames):
                frame = video.read_frame(index)
                pixels = preprocess_frames(np.array(frame[None]))
                embedding = segmentor.embed(frame[None])[0].half()  # as the cache stores it
                for expression in video.expressions:
                    text = prompter.tokenize([expression.text])
                    output = prompter.detector(pixel_values=pixels, input_ids=text["input_ids"],
                                               token_type_ids=text["token_type_ids"],
                                               attention_mask=text["attention_mask"])
                    scores = query_confidence(output.logits, text["attention_mask"].bool())
                    box = normalized_cxcywh_to_pixel_xyxy(select_top1(scores, output.pred_boxes)[1].numpy(),
                                                          video.size[1], video.size[0])
                    boxes, masks = per_expression[expression.exp_id]
                    boxes.append(box[0])
                    masks.append(segmentor.segment(embedding, box, video.size)[0])
    return {video: {exp: (np.array(boxes), np.array(masks)) for exp, (boxes, masks) in expressions.items()}
            for video, expressions in result.items()}


def test_shared_inference_gives_the_unshared_boxes_and_masks(inputs):
    assert main(["infer", "--method", "grounded-sam", "--option", f"checkpoint={inputs['prompter']}", "--option",
                 "size=tiny", "--option", "batch_size=2", "--dataset-kind", "refytvos", "--data",
                 str(inputs["data"]), "--split", "train", "--segmentor", str(inputs["sam"]), "--out",
                 str(inputs["out"]), "--baselines-dir", str(BASELINES)]) == 0
    reference = _unshared(inputs)
    compared = 0
    for video, expressions in reference.items():
        boxes = read_boxes(inputs["out"] / "boxes" / f"{video}.csv")
        masks = read_masks(inputs["out"] / "masks" / f"{video}.json")
        for exp_id, (expected_boxes, expected_masks) in expressions.items():
            np.testing.assert_allclose(boxes[exp_id][1], expected_boxes, rtol=0, atol=1e-3)  # CSV: 3 decimals
            assert np.array_equal(masks[exp_id], expected_masks), (video, exp_id)
            compared += expected_masks.any(axis=(1, 2)).sum()
    assert compared >= 8  # masks that are not empty were compared, not only empty ones
