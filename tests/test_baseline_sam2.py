"""The SAM 2 baselines (Grounded-SAM-2, GT box + SAM 2) against transformers' own documented video API.

Each test runs the same frames, prompts and random tiny weights twice: through the harness (the method, or
``groprompt infer``) and through the calls transformers documents for ``Sam2VideoModel`` (streaming: one
``model(session, frame=...)`` per frame; whole video: ``init_video_session(video=...)``, a box prompt,
``propagate_in_video_iterator`` forward then ``reverse=True``), and asks for identical masks: the harness adds
nothing and loses nothing. The grounder is a random tiny Grounding DINO; its boxes mean nothing, but they are the
same boxes on both sides.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets_fixtures import ToyVideo, moving_squares, write_refytvos
from mevis_fixtures import two_birds, write_mevis
from tracking_fixtures import save_tiny_sam2
from transformers import Sam2VideoModel, Sam2VideoProcessor

from groprompt.cli import main
from groprompt.data.registry import open_dataset
from groprompt.errors import GroPromptError
from groprompt.inference import read_masks, run_inference
from groprompt.methods import VideoHeader, discover_methods
from groprompt.prompting import build_prompter
from groprompt.tracking.sam2 import Sam2Tracker

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASELINES = Path(__file__).resolve().parents[1] / "baselines"


def _late_object(num_frames: int) -> np.ndarray:
    """Two squares; the second enters at frame 2 (absent from the first frames)."""
    labels = moving_squares(num_frames=num_frames, size=(48, 64), num_objects=2, side=10, step=3)
    labels[:2][labels[:2] == 2] = 0
    return labels


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    videos = [ToyVideo("late", _late_object(5), [{"exp": "the red square", "obj_id": "1"},
                                                 {"exp": "the green square", "obj_id": "2"},
                                                 {"exp": "the square on the left", "obj_id": "1"}]),
              ToyVideo("one", moving_squares(num_frames=4, size=(48, 64), num_objects=1, side=10, step=3),
                       [{"exp": "the square", "obj_id": "1"}])]
    return write_refytvos(tmp_path_factory.mktemp("data"), "train", videos)


@pytest.fixture(scope="module")
def dataset(root):
    return open_dataset("refytvos", root, "train")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """(SAM 2 folder, grounder folder), random and tiny."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    build_prompter("tiny").detector.save_pretrained(folder / "grounder")
    return save_tiny_sam2(folder / "sam2"), folder / "grounder"


@pytest.fixture(scope="module")
def documented(models):
    """The model and processor as transformers' documentation loads them."""
    return (Sam2VideoModel.from_pretrained(models[0]).eval(), Sam2VideoProcessor.from_pretrained(models[0]))


def documented_stream(documented, frames, prompts_at):
    """Streaming inference as documented; ``prompts_at[t]`` = {object id: box} added on frame t. Returns per frame
    {object id: (H, W) bool}."""
    model, processor = documented
    session = processor.init_video_session(inference_device="cpu", dtype=torch.float32)
    found = []
    for t, frame in enumerate(frames):
        inputs = processor(images=frame, device="cpu", return_tensors="pt")
        if t in prompts_at:
            processor.add_inputs_to_inference_session(
                inference_session=session, frame_idx=t, obj_ids=list(prompts_at[t]),
                input_boxes=[[list(map(float, box)) for box in prompts_at[t].values()]],
                original_size=inputs.original_sizes[0])
        if not session.obj_ids:
            session.add_new_frame(inputs.pixel_values[0], frame_idx=t)
            found.append({})
            continue
        with torch.inference_mode():
            output = model(inference_session=session, frame_idx=t, frame=inputs.pixel_values[0])
        masks = processor.post_process_masks([output.pred_masks], original_sizes=inputs.original_sizes,
                                             binarize=True)[0]
        found.append({obj: masks[i, 0].numpy() for i, obj in enumerate(output.object_ids)})
    return found


def documented_whole_video(documented, frames, frame_idx, boxes):
    """Whole-video inference as documented, fresh session: boxes {object id: box} on ``frame_idx``, propagated
    forward, then backward. Returns {object id: (T, H, W) bool}."""
    model, processor = documented
    session = processor.init_video_session(video=list(frames), inference_device="cpu", dtype=torch.float32)
    processor.add_inputs_to_inference_session(inference_session=session, frame_idx=frame_idx, obj_ids=list(boxes),
                                              input_boxes=[[list(map(float, b)) for b in boxes.values()]])
    height, width = frames[0].shape[:2]
    masks = {obj: np.zeros((len(frames), height, width), dtype=bool) for obj in boxes}
    for reverse in (False, True):
        for output in model.propagate_in_video_iterator(session, start_frame_idx=frame_idx, reverse=reverse):
            found = processor.post_process_masks([output.pred_masks], original_sizes=[[height, width]])[0]
            for i, obj in enumerate(output.object_ids):
                masks[obj][output.frame_idx] = found[i, 0].numpy()
    return masks


def run_method(method, video):
    """The method over one video as the runner drives it: {expression position: (T, H, W) bool}."""
    oracle = method.uses_ground_truth
    method.start(VideoHeader.of(video) if method.online else video)
    per_frame = []
    for t in range(video.num_frames):
        outputs = method.predict(video.read_frame(t), t, video.expressions, video.annotation(t) if oracle else None)
        per_frame.append([output.mask for output in outputs])
        for output in outputs:  # a mask method's box is its mask's tight box, None where empty
            assert (output.box is None) == (not output.mask.any())
    return {k: np.stack([frame[k] for frame in per_frame]) for k in range(len(video.expressions))}


def stacked(per_frame, obj, num_frames, size):
    return np.stack([per_frame[t].get(obj, np.zeros(size, dtype=bool)) for t in range(num_frames)])


def test_gt_box_sam2_equals_documented_streaming_with_a_late_object(models, documented, dataset):
    method = discover_methods(BASELINES).create("gt-box-sam2", {"tracker": models[0]})
    assert method.online and method.uses_ground_truth and method.outputs_masks
    video = dataset.video("late")
    frames = [video.read_frame(t) for t in range(video.num_frames)]
    prompts_at: dict[int, dict[int, np.ndarray]] = {}
    for k, expression in enumerate(video.expressions):  # each expression's first appearance
        first = next(t for t in range(video.num_frames) if video.annotation(t).box(expression.obj_id) is not None)
        prompts_at.setdefault(first, {})[k] = video.annotation(first).box(expression.obj_id)
    assert sorted(prompts_at) == [0, 2]  # the green square enters at frame 2
    expected = documented_stream(documented, frames, prompts_at)
    found = run_method(method, video)
    for k in range(len(video.expressions)):
        np.testing.assert_array_equal(found[k], stacked(expected, k, len(frames), video.size))
    assert not found[1][:2].any()  # before its prompt the late object has empty masks


def test_gt_box_sam2_tracks_each_referent_from_its_own_first_frame_and_unites_them(models, documented, tmp_path):
    """MeViS's tiny video (mevis_fixtures.two_birds) through groprompt's runner: every referent of every expression
    is an object of one documented streaming session, prompted with its ground-truth box on the first frame where
    it is present, and each expression's mask is the union of its referents' masks."""
    root = write_mevis(tmp_path / "mevis", "valid_u", [two_birds()])
    video = open_dataset("mevis", root, "valid_u").video("birds")
    frames = [video.read_frame(t) for t in range(video.num_frames)]
    prompts_at: dict[int, dict[int, np.ndarray]] = {}
    objects, number = [], 0
    for expression in video.expressions:  # one SAM 2 object per referent, numbered in order
        objects.append([])
        for referent in expression.referents:
            first = next(t for t in range(video.num_frames) if video.annotation(t).box(referent) is not None)
            prompts_at.setdefault(first, {})[number] = video.annotation(first).box(referent)
            objects[-1].append(number)
            number += 1
    assert sorted(prompts_at) == [0, 1, 2]  # the bar's first RLE is empty: prompted on frame 1; right bird on 2
    expected = documented_stream(documented, frames, prompts_at)
    method = discover_methods(BASELINES).create("gt-box-sam2", {"tracker": models[0]})
    run_inference(method, open_dataset("mevis", root, "valid_u"), tmp_path / "out", segmentor=None, progress=False)
    found = read_masks(tmp_path / "out" / "masks" / "birds.json")
    for expression, numbers in zip(video.expressions, objects, strict=True):
        union = np.logical_or.reduce([stacked(expected, obj, len(frames), video.size) for obj in numbers])
        np.testing.assert_array_equal(found[expression.exp_id], union)


def test_grounded_sam2_first_frame_equals_documented_streaming(models, documented, dataset):
    method = discover_methods(BASELINES).create("grounded-sam-2", {"checkpoint": models[1], "tracker": models[0],
                                                                   "size": "tiny"})
    assert method.online
    for video in dataset:
        frames = [video.read_frame(t) for t in range(video.num_frames)]
        boxes, _ = method.top1_boxes(frames[0], [e.text for e in video.expressions])
        expected = documented_stream(documented, frames, {0: dict(enumerate(boxes))})
        found = run_method(method, video)
        for k in range(len(video.expressions)):
            np.testing.assert_array_equal(found[k], stacked(expected, k, len(frames), video.size))


def test_grounded_sam2_best_frame_is_offline_and_equals_documented_whole_video(models, documented, dataset):
    method = discover_methods(BASELINES).create("grounded-sam-2", {"checkpoint": models[1], "tracker": models[0],
                                                                   "size": "tiny", "prompt_frame": "best"})
    assert not method.online
    video = dataset.video("late")
    frames = [video.read_frame(t) for t in range(video.num_frames)]
    texts = [e.text for e in video.expressions]
    per_frame = [method.top1_boxes(frame, texts) for frame in frames]
    scores = np.stack([s for _, s in per_frame])
    found = run_method(method, video)
    for k in range(len(texts)):
        best = int(np.flatnonzero(scores[:, k] == scores[:, k].max())[0])
        expected = documented_whole_video(documented, frames, best, {k: per_frame[best][0][k]})
        np.testing.assert_array_equal(found[k], expected[k])
        assert method.expression_records()[video.expressions[k].exp_id]["frame"] == best


def test_whole_video_tracking_with_several_prompt_frames_equals_fresh_sessions(models, documented, dataset):
    """Objects prompted on different frames share one session (reset between prompt frames): the masks equal one
    fresh documented session per prompt frame, including objects prompted together on one frame."""
    tracker = Sam2Tracker(models[0])
    video = dataset.video("late")
    frames = [video.read_frame(t) for t in range(video.num_frames)]
    prompts = {0: (3, np.array([20.0, 4, 40, 20])), 1: (0, np.array([2.0, 12, 14, 24])),
               2: (3, np.array([30.0, 10, 60, 40]))}
    masklets = tracker.track(frames, prompts)
    for frame_idx, objects in ((3, [0, 2]), (0, [1])):
        expected = documented_whole_video(documented, frames, frame_idx, {obj: prompts[obj][1] for obj in objects})
        for obj in objects:
            np.testing.assert_array_equal(masklets.masks[obj], expected[obj])
            assert np.isfinite(masklets.scores[obj]).all() and ((0 <= masklets.scores[obj]) &
                                                                (masklets.scores[obj] <= 1)).all()


def test_infer_runs_both_methods_end_to_end_writes_masks_and_resumes(models, root, tmp_path, capsys):
    for method, options in (("gt-box-sam2", [f"tracker={models[0]}"]),
                            ("grounded-sam-2", [f"tracker={models[0]}", f"checkpoint={models[1]}", "size=tiny",
                                                "prompt_frame=best"])):
        out = tmp_path / method
        flags = [flag for option in options for flag in ("--option", option)]
        command = ["infer", "--method", method, *flags, "--dataset-kind", "refytvos", "--data", str(root),
                   "--split", "train", "--out", str(out), "--baselines-dir", str(BASELINES)]
        assert main(command) == 0
        stats = json.loads((out / "run_stats.json").read_text())
        assert stats["videos_run"] == 2 and stats["segmentor_cache"] is None  # no SAM: the method segments
        assert stats["file_digests"]["option tracker"]  # a retrained tracker invalidates finished videos
        assert sorted(p.name for p in (out / "masks").iterdir()) == ["late.json", "one.json"]
        records = json.loads((out / "masks" / "late.json").read_text())["records"]
        if method == "grounded-sam-2":  # each expression's prompt: its most confident frame, box and score
            assert sorted(records) == ["0", "1", "2"]
            assert all(r["prompt_frame"] == "best" and 0 <= r["frame"] < 5 and len(r["box"]) == 4
                       and 0 <= r["score"] <= 1 for r in records.values())
        written = (out / "masks" / "late.json").read_bytes()
        assert main(command) == 0  # the same command again: finished videos are kept, not recomputed
        again = json.loads((out / "run_stats.json").read_text())
        assert again["videos_skipped"] == 2 and (out / "masks" / "late.json").read_bytes() == written


@pytest.mark.parametrize("damage, message", [
    (lambda folder: (folder / "processor_config.json").unlink(), "lacks processor_config.json"),
    (lambda folder: (folder / "model.safetensors").unlink(), "lacks model.safetensors"),
    (lambda folder: (folder / "config.json").write_text('{"model_type": "grounding-dino"}'),
     "holds a 'grounding-dino' model, expected 'sam2_video'"),
    (lambda folder: (folder / "model.safetensors").write_bytes(b"\x00" * 10), "cannot read the weights file"),
])
def test_a_broken_tracker_folder_is_one_named_error_before_any_frame(models, tmp_path, damage, message):
    import shutil

    folder = Path(shutil.copytree(models[0], tmp_path / "sam2"))
    damage(folder)
    with pytest.raises(GroPromptError, match=message) as error:
        discover_methods(BASELINES).create("gt-box-sam2", {"tracker": folder})
    assert "option tracker" in str(error.value) and str(folder) in str(error.value)


def test_a_file_or_a_missing_folder_or_a_bad_prompt_frame_is_refused(models, tmp_path):
    registry = discover_methods(BASELINES)
    with pytest.raises(GroPromptError, match="is a file, not a folder"):
        registry.create("gt-box-sam2", {"tracker": models[0] / "config.json"})
    with pytest.raises(GroPromptError, match="folder not found"):
        registry.create("gt-box-sam2", {"tracker": tmp_path / "nowhere"})
    with pytest.raises(GroPromptError, match="unknown prompt_frame 'last'"):
        registry.create("grounded-sam-2", {"checkpoint": models[1], "tracker": models[0], "prompt_frame": "last"})


def test_bf16_autocast_runs_both_apis_and_stays_near_fp32(models, dataset):
    """bf16 (the one precision knob: autocast, float32 weights) through both APIs on the CPU: bool masks at the
    frame's size, scores in [0, 1], and the masks mostly those of fp32 (the logits move by bf16 rounding)."""
    video = dataset.video("late")
    frames = [video.read_frame(t) for t in range(video.num_frames)]
    prompts = {0: (1, np.array([20.0, 4, 40, 20]))}
    exact = Sam2Tracker(models[0]).track(frames, prompts)
    bf16 = Sam2Tracker(models[0], precision="bf16")
    rounded = bf16.track(frames, prompts)
    assert rounded.masks[0].shape == exact.masks[0].shape and rounded.masks[0].dtype == bool
    assert ((0 <= rounded.scores[0]) & (rounded.scores[0] <= 1)).all()
    assert (rounded.masks[0] == exact.masks[0]).mean() > 0.9
    streamed = bf16.stream().step(frames[0], {0: prompts[0][1]})
    assert streamed.masks[0].shape == video.size and 0 <= streamed.scores[0] <= 1
