"""Segmentor pre-training: schedule, loss, jitter and box baselines against hand-computed values; data loading
from a Ref-YouTube-VOS-layout fixture; a few training steps (determinism, learning, checkpoint) and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets_fixtures import STILL_SIZE, two_box_stills, write_refytvos

from groprompt.cli import main
from groprompt.data.refytvos import load_refytvos
from groprompt.errors import GroPromptError
from groprompt.pretraining import (
    BoxMaskSet,
    SegmentorPretrainConfig,
    adamw_warmup_cosine,
    bce_dice_loss,
    box_masks,
    box_prompt_logits,
    filled_box_iou,
    jitter_boxes,
    load_box_masks,
    metrics_path,
    pretrain_segmentor,
    sam_pixels,
    sample_batches,
    warmup_cosine,
)
from groprompt.segmentation import EmbeddingCache, Segmentor, build_sam, load_sam

SIZE = STILL_SIZE


EXPRESSIONS = [{"exp": "the red box", "obj_id": "1"}, {"exp": "the green box", "obj_id": "2"}]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pretrain_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synrvos")
    write_refytvos(root, "pretrain", two_box_stills(24, EXPRESSIONS))
    write_refytvos(root, "boxless", two_box_stills(2, EXPRESSIONS), with_annotations=False)
    return root


@pytest.fixture(scope="module")
def samples(pretrain_root: Path) -> BoxMaskSet:
    return load_box_masks(load_refytvos(pretrain_root, "pretrain"), progress=False)


# ---------------------------------------------------------------- schedule, loss, jitter, box baseline


def test_warmup_cosine_hand_values() -> None:
    def factor(step: int) -> float:
        return warmup_cosine(step, total_steps=11, warmup_steps=2, final_fraction=0.1)

    assert factor(0) == pytest.approx(0.5)  # warm-up: (step + 1) / 2
    assert factor(1) == pytest.approx(1.0)
    assert factor(2) == pytest.approx(1.0)  # cosine starts at the peak
    assert factor(6) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway through steps 2..10: cos(pi/2) = 0
    assert factor(10) == pytest.approx(0.1)  # the last step ends at final_fraction
    assert factor(25) == pytest.approx(0.1)


def test_optimizer_follows_the_schedule() -> None:
    weight = torch.nn.Parameter(torch.zeros(3))
    optimizer, scheduler = adamw_warmup_cosine([weight], lr=0.2, weight_decay=0.0, total_steps=5, warmup_steps=1,
                                               final_fraction=0.0)
    seen = []
    for _ in range(5):
        seen.append(optimizer.param_groups[0]["lr"])
        weight.sum().backward()
        optimizer.step()
        scheduler.step()
    # warm-up step 0 at the full rate (1/1), then cos over steps 1..4: 1, 0.5(1+cos(pi/3)), 0.5(1+cos(2pi/3)), 0
    assert seen == pytest.approx([0.2, 0.2, 0.15, 0.05, 0.0])
    with pytest.raises(GroPromptError, match="warm-up steps"):
        adamw_warmup_cosine([weight], lr=0.1, weight_decay=0.0, total_steps=5, warmup_steps=5)


def test_sample_batches_walk_through_permutations() -> None:
    batches = sample_batches(np.random.default_rng(0), 5, 3)
    drawn = np.concatenate([next(batches) for _ in range(10)])  # 30 indices = 6 epochs of 5
    assert all(sorted(drawn[i:i + 5]) == [0, 1, 2, 3, 4] for i in range(0, 30, 5))
    again = sample_batches(np.random.default_rng(0), 5, 3)
    np.testing.assert_array_equal(np.concatenate([next(again) for _ in range(10)]), drawn)


def test_bce_dice_loss_hand_values() -> None:
    target = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    # p = 0.5 everywhere: BCE = ln 2; dice = 1 - (2 * 0.5 + 1) / (2 + 1 + 1) = 0.5
    assert bce_dice_loss(torch.zeros(1, 2, 2), target).item() == pytest.approx(math.log(2) + 0.5)
    # confident and right: BCE = ln(1 + e^-10) ~ 4.5e-5; dice ~ 6e-5
    confident = torch.tensor([[[10.0, -10.0], [-10.0, -10.0]]])
    assert bce_dice_loss(confident, target).item() == pytest.approx(1.06e-4, abs=1e-5)
    # confident and wrong on one pixel of two masks: BCE = (10 + ln(1 + e^-10)) / 8 ~ 1.25; dice of the empty-target
    # mask: 1 - 1 / (1 + 1) = 0.5, of the right one ~ 0; mean 0.25
    wrong = torch.cat([confident, torch.tensor([[[10.0, -10.0], [-10.0, -10.0]]])])
    targets = torch.cat([target, torch.zeros(1, 2, 2)])
    assert bce_dice_loss(wrong, targets).item() == pytest.approx(1.25 + 0.25, abs=1e-3)


class FixedOffsets:
    """Stands in for a NumPy generator: ``uniform`` returns ``offsets * high`` (offsets in [-1, 1])."""

    def __init__(self, offsets: list[float]) -> None:
        self.offsets = np.array(offsets)

    def uniform(self, low: float, high: float, size: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(self.offsets * high, size)


def test_jitter_moves_each_side_by_its_axis_extent_and_clips() -> None:
    box = np.array([[10.0, 20.0, 30.0, 60.0]])  # 20 wide, 40 high
    moved = jitter_boxes(box, FixedOffsets([1.0, -1.0, 0.5, -0.5]), 0.1, size=(100, 100))
    np.testing.assert_allclose(moved, [[12.0, 16.0, 31.0, 58.0]])
    clipped = jitter_boxes(np.array([[0.0, 1.0, 20.0, 100.0]]), FixedOffsets([-1.0, -1.0, 1.0, 1.0]), 0.1,
                           size=(100, 25))
    np.testing.assert_allclose(clipped, [[0.0, 0.0, 22.0, 100.0]])  # y0 1 - 9.9 -> 0; x1 22 < 25; y1 capped
    rng = np.random.default_rng(3)
    many = jitter_boxes(np.repeat(box, 500, axis=0), rng, 0.1, size=(100, 100))
    assert np.all(np.abs(many - box) <= [2, 4, 2, 4]) and np.all(np.abs(many - box).max(axis=0) > [1.8, 3.6, 1.8, 3.6])


def test_box_masks_and_filled_box_iou_hand_values() -> None:
    np.testing.assert_array_equal(box_masks(np.array([[1.0, 0.0, 3.0, 2.0]]), (3, 4))[0],
                                  [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    assert not box_masks(np.array([[1.6, 0.0, 2.4, 1.0]]), (2, 4)).any()  # no pixel centre inside
    labels = np.zeros((2, 4, 4), dtype=np.uint8)
    labels[0, 0:2, 0:2] = 1
    labels[0, 1, 1] = 0  # an L of 3 pixels in a 2x2 box: IoU 3/4
    labels[1, 0:3, 1] = 2  # a 1x3 bar: its box is itself, IoU 1
    one = BoxMaskSet(frames=np.zeros((2, 4, 4, 3), np.uint8), labels=labels, keys=("a", "b"),
                     videos=np.array([0, 1]), frame_index=np.array([0, 1]), obj_ids=np.array([1, 2]),
                     boxes=np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 2.0, 3.0]]))
    assert filled_box_iou(one) == pytest.approx((0.75 + 1.0) / 2)


# ---------------------------------------------------------------- data


def test_load_box_masks_reads_every_object(samples: BoxMaskSet, pretrain_root: Path) -> None:
    videos = two_box_stills(24, EXPRESSIONS)
    assert samples.num_frames == 24 and len(samples) == 48 and samples.size == SIZE
    assert samples.frames.shape == (24, *SIZE, 3) and samples.frames.dtype == np.uint8
    assert samples.keys[5] == "refytvos/pretrain/still_005/00000"
    for index in (0, 7, 47):
        frame, obj = samples.frame_index[index], samples.obj_ids[index]
        expected = videos[frame].labels[0] == obj
        np.testing.assert_array_equal(samples.masks(np.array([index]))[0], expected)
        rows, cols = np.flatnonzero(expected.any(1)), np.flatnonzero(expected.any(0))
        np.testing.assert_array_equal(samples.boxes[index], [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
    # frames are the JPEGs: red object pixels are red
    first = samples.masks(np.array([0]))[0]
    assert samples.frames[0][first].mean(axis=0)[0] > 180


def test_heldout_split_takes_whole_last_videos() -> None:
    videos = np.array([0, 0, 1, 2, 2, 2])
    labels = np.ones((6, 2, 2), dtype=np.uint8)
    data = BoxMaskSet(frames=np.arange(6, dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3),
                      labels=labels, keys=tuple("abcdef"), videos=videos, frame_index=np.arange(6),
                      obj_ids=np.ones(6, dtype=np.int64), boxes=np.tile([0.0, 0.0, 2.0, 2.0], (6, 1)))
    train, held = data.split_heldout(2)
    assert held.keys == ("d", "e", "f") and train.keys == ("a", "b", "c")
    assert held.frames[:, 0, 0, 0].tolist() == [3, 4, 5] and held.frame_index.tolist() == [0, 1, 2]
    train, held = data.split_heldout(4)
    assert held.keys == ("c", "d", "e", "f") and train.keys == ("a", "b")
    with pytest.raises(GroPromptError, match="leaves no frame to train on"):
        data.split_heldout(5)
    with pytest.raises(GroPromptError, match="at least 1 frame"):
        data.split_heldout(0)


def test_split_without_masks_is_refused(pretrain_root: Path) -> None:
    with pytest.raises(GroPromptError, match="no ground-truth masks"):
        load_box_masks(load_refytvos(pretrain_root, "boxless"), progress=False)


# ---------------------------------------------------------------- training


def test_training_forward_matches_inference(samples: BoxMaskSet) -> None:
    torch.manual_seed(1)
    sam = build_sam("tiny")
    segmentor = Segmentor(build_sam("tiny"), cache=EmbeddingCache(storage_dtype=torch.float32))
    segmentor.sam.load_state_dict(sam.state_dict())
    frames, boxes, rows = samples.frames[:3], samples.boxes[:6], samples.frame_index[:6]  # 2 objects a frame
    with torch.no_grad():
        pixels = sam_pixels(sam, frames)
        embeddings = segmentor.embed(list(frames))
        torch.testing.assert_close(sam.image_encoder(pixels), embeddings)
        logits = box_prompt_logits(sam, pixels[rows], torch.as_tensor(boxes), SIZE)
    expected = np.concatenate([segmentor.segment(embeddings[t], boxes[rows == t], SIZE) for t in range(3)])
    assert logits.shape == (6, *SIZE)
    agree = np.mean((logits > 0).numpy() == expected)
    assert agree > 0.999, agree


def test_same_seed_same_weights_and_learning(samples: BoxMaskSet) -> None:
    train, held = samples.split_heldout(4)
    short = SegmentorPretrainConfig(steps=3, batch_size=4, seed=5)
    first, _ = pretrain_segmentor(train, held, short, progress=False)
    second, _ = pretrain_segmentor(train, held, short, progress=False)
    other, _ = pretrain_segmentor(train, held, SegmentorPretrainConfig(steps=3, batch_size=4, seed=6), progress=False)
    for (name, a), b, c in zip(first.state_dict().items(), second.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, c) for a, c in zip(first.state_dict().values(), other.state_dict().values()))

    config = SegmentorPretrainConfig(steps=20, batch_size=8, lr=3e-3, eval_every=10, seed=0)
    _, untrained = pretrain_segmentor(train, held, SegmentorPretrainConfig(steps=1, lr=1e-9), progress=False)
    _, metrics = pretrain_segmentor(train, held, config, progress=False)
    losses = [record["loss"] for record in metrics["history"]]  # mean loss of steps 1-10, of steps 11-20
    assert [record["step"] for record in metrics["history"]] == [10, 20]
    assert losses[1] < 0.8 * losses[0], losses
    assert metrics["heldout_mask_iou"] > untrained["heldout_mask_iou"] + 0.1, (metrics, untrained)
    assert metrics["filled_box_iou"] == pytest.approx(1.0)  # solid rectangles: the box is the mask
    assert (metrics["train_frames"], metrics["heldout_frames"], metrics["heldout_objects"]) == (20, 4, 8)


def test_bad_settings_fail_before_training() -> None:
    with pytest.raises(GroPromptError, match="steps must be >= 1"):
        SegmentorPretrainConfig(steps=0)
    with pytest.raises(GroPromptError, match="box jitter"):
        SegmentorPretrainConfig(steps=5, box_jitter=0.6)


# ---------------------------------------------------------------- command line


def test_cli_writes_loadable_checkpoint_and_metrics(pretrain_root: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "models" / "sam_tiny.pt"
    code = main(["pretrain-segmentor", "--data", str(pretrain_root), "--out", str(out), "--steps", "2",
                 "--batch-size", "4", "--eval-frames", "3", "--seed", "1"])
    assert code == 0
    sam, config = load_sam(out)
    assert config.image_size == 128 and not sam.training
    assert Segmentor.from_checkpoint(out).embedding_shape == (64, 16, 16)
    metrics = json.loads(metrics_path(out).read_text())
    assert metrics_path(out).name == "sam_tiny.pt.metrics.json"
    assert {"steps", "seconds", "heldout_mask_iou", "filled_box_iou"} <= metrics.keys()
    assert metrics["steps"] == 2 and metrics["heldout_frames"] == 3 and 0 <= metrics["heldout_mask_iou"] <= 1
    assert "held-out mask IoU" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["sam_tiny.pt", "sam_tiny.pt.metrics.json"]


@pytest.mark.parametrize(("change", "message"), [
    ({"--data": "missing"}, "dataset root not found"),
    ({"--split": "boxless"}, "no ground-truth masks"),
    ({"--steps": "0"}, "steps must be >= 1"),
    ({"--size": "vit_q"}, "unknown SAM variant"),
    ({"--eval-frames": "24"}, "leaves no frame to train on"),
])
def test_cli_user_errors(pretrain_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture, change: dict,
                         message: str) -> None:
    options = {"--data": str(pretrain_root), "--out": str(tmp_path / "sam.pt"), "--steps": "2"}
    options.update({key: str(tmp_path / value) if key == "--data" else value for key, value in change.items()})
    code = main(["pretrain-segmentor", *[part for item in options.items() for part in item]])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sam.pt").exists()
