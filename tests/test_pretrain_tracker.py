"""The stand-in SAM 2 and its training: the config round-trips through the Hugging Face layout; the training
forward is the library's inference computation (same masks and logits); a few steps lower the loss on a tiny
generated SynRVOS; a stopped run resumed from its state ends with the weights of an uninterrupted one; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from groprompt.cli import main
from groprompt.data.refytvos import load_refytvos
from groprompt.data.synrvos import generate_synrvos, get_preset
from groprompt.errors import GroPromptError
from groprompt.pretraining.tracker import (
    TrackerPretrainConfig,
    build_standin_tracker,
    clip_logits,
    load_track_videos,
    pretrain_tracker,
    propagate_box,
    sample_clip,
    save_tracker,
    split_heldout_videos,
    tracking_loss,
)
from groprompt.tracking.standin import build_standin_sam2, standin_sam2_config, standin_sam2_processor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

IMAGE_SIZE = 64
"""The tests' stand-in input side (the released one reads 128): 64x64 frames, fast steps."""

TINY = get_preset("smoke").replace(name="tiny-tracker", frame_size=64, train_videos=4, valid_videos=1,
                                   pretrain_frames=1, frames_min=4, frames_max=5)


def tiny_config(**changes) -> TrackerPretrainConfig:
    settings = {"steps": 4, "clips_per_step": 1, "stills_per_step": 1, "clip_length": 3, "max_objects": 2,
                "eval_every": 2, "image_size": IMAGE_SIZE, "lr": 1e-3}
    return TrackerPretrainConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def synrvos_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synrvos") / "data"
    generate_synrvos(root, TINY, seed=3, workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def videos(synrvos_root: Path):
    return load_track_videos(load_refytvos(synrvos_root, "train"), progress=False)


def present_model(seed: int = 0):
    """A random stand-in whose object-score head always says "present", so masks are not all empty."""
    model, processor = build_standin_tracker(tiny_config(seed=seed))
    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
    return model.eval(), processor


# ---------------------------------------------------------------- config


def test_config_round_trips_and_runs_the_video_api(tmp_path: Path) -> None:
    from transformers import Sam2VideoConfig, Sam2VideoModel, Sam2VideoProcessor

    config = standin_sam2_config()
    assert config.image_size == 128
    assert config.vision_config.backbone_feature_sizes == [[32, 32], [16, 16], [8, 8]]
    assert config.memory_attention_rope_feat_sizes == [8, 8]
    torch.manual_seed(0)
    model = Sam2VideoModel(config).eval()
    save_tracker(model, standin_sam2_processor(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors", "processor_config.json"]
    assert Sam2VideoConfig.from_pretrained(tmp_path).to_dict() == config.to_dict()
    loaded = Sam2VideoModel.from_pretrained(tmp_path).eval()
    processor = Sam2VideoProcessor.from_pretrained(tmp_path)
    assert processor.target_size == 128 and processor.video_processor.size["height"] == 128
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    frames = np.random.default_rng(0).integers(0, 256, (4, 96, 96, 3), dtype=np.uint8)
    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
        loaded.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
    first = propagate_box(model, standin_sam2_processor(), frames, np.array([20, 20, 60, 50]))
    again = propagate_box(loaded, processor, frames, np.array([20, 20, 60, 50]))
    assert first.shape == (4, 96, 96) and np.array_equal(first, again)


def test_the_stand_in_relates_prompts_to_pixels_with_one_position_basis(tmp_path: Path) -> None:
    from transformers import Sam2VideoModel

    torch.manual_seed(0)
    model = build_standin_sam2(IMAGE_SIZE)
    image_basis = model.shared_image_embedding.positional_embedding
    assert torch.equal(model.prompt_encoder.shared_embedding.positional_embedding, image_basis)
    assert not torch.equal(Sam2VideoModel(standin_sam2_config(IMAGE_SIZE)).prompt_encoder.shared_embedding
                           .positional_embedding, image_basis)  # the library alone draws two
    save_tracker(model, standin_sam2_processor(IMAGE_SIZE), tmp_path)
    loaded = Sam2VideoModel.from_pretrained(tmp_path)
    assert torch.equal(loaded.prompt_encoder.shared_embedding.positional_embedding, image_basis)
    assert torch.equal(loaded.shared_image_embedding.positional_embedding, image_basis)


def test_config_refuses_a_size_the_backbone_cannot_halve() -> None:
    with pytest.raises(GroPromptError, match="multiple of 32"):
        standin_sam2_config(100)


# ---------------------------------------------------------------- training forward = inference API


def library_logits(model, processor, frames: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(K, T, H, W)`` mask logits and ``(K, T)`` object scores from the library's documented video API."""
    session = processor.init_video_session(video=list(frames), inference_device="cpu")
    processor.add_inputs_to_inference_session(session, frame_idx=0, obj_ids=list(range(1, len(boxes) + 1)),
                                              input_boxes=[boxes.tolist()])
    height, width = frames.shape[1:3]
    logits, scores = {}, {}
    model(inference_session=session, frame_idx=0)
    for output in model.propagate_in_video_iterator(session):
        logits[output.frame_idx] = processor.post_process_masks([output.pred_masks], original_sizes=[[height, width]],
                                                                binarize=False)[0][:, 0]
        scores[output.frame_idx] = output.object_score_logits.reshape(-1)
    assert sorted(logits) == list(range(len(frames)))
    return (torch.stack([logits[t] for t in range(len(frames))], 1).numpy(),
            torch.stack([scores[t] for t in range(len(frames))], 1).numpy())


@pytest.mark.parametrize("objects", [1, 2])
def test_training_forward_equals_the_inference_api(videos, objects: int) -> None:
    model, processor = present_model()
    rng = np.random.default_rng(5)
    clip = sample_clip(videos, rng, tiny_config(clip_length=4, max_objects=objects))
    mask_logits, score_logits = clip_logits(model, processor, clip.frames, clip.boxes)
    assert mask_logits.requires_grad and mask_logits.shape == (len(clip.boxes), 4, 64, 64)
    reference, reference_scores = library_logits(model, processor, clip.frames, clip.boxes)
    np.testing.assert_allclose(mask_logits.detach().numpy(), reference, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(score_logits.detach().numpy(), reference_scores, atol=1e-4, rtol=1e-4)
    assert np.array_equal(mask_logits.detach().numpy() > 0, reference > 0)
    assert 0 < np.mean(reference > 0) < 1  # masks neither empty nor full: the comparison is not vacuous


def test_propagate_box_is_the_library_api_from_a_later_frame(videos) -> None:
    model, processor = present_model()
    video = videos[0]
    box = np.array([10.0, 12.0, 40.0, 44.0])
    masks = propagate_box(model, processor, video.frames, box, prompt_frame=1)
    assert not masks[0].any()  # before the prompt: nothing
    reference, _ = library_logits(model, processor, video.frames[1:], box[None])
    assert np.array_equal(masks[1:], reference[0] > 0)


def streaming_logits(model, processor, frames: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``(T, H, W)`` mask logits of one box on frame 0 through the library's streaming API (frames one by one)."""
    session = processor.init_video_session(inference_device="cpu")
    logits = []
    with torch.inference_mode():
        for t, frame in enumerate(frames):
            inputs = processor(images=frame, return_tensors="pt")
            if t == 0:
                processor.add_inputs_to_inference_session(session, frame_idx=0, obj_ids=[1], input_boxes=[[box.tolist()]],
                                                          original_size=inputs.original_sizes[0])
            output = model(session, frame_idx=t, frame=inputs.pixel_values[0])
            logits.append(processor.post_process_masks([output.pred_masks], original_sizes=[frames.shape[1:3]],
                                                       binarize=False)[0][0, 0])
    return torch.stack(logits).numpy()


def test_streaming_computes_what_training_trains(videos) -> None:
    """Training runs whole clips; the online baseline (gt-box-sam2) streams frames one by one. With the stand-in's
    ``max_object_pointers_in_encoder`` the library scales the object pointers' temporal positions alike both ways
    (groprompt.tracking.standin), and the masks agree."""
    model, processor = present_model()
    assert model.config.max_object_pointers_in_encoder == 8
    frames = next(v for v in videos if v.num_frames >= 4).frames[:4]
    box = np.array([10.0, 12.0, 40.0, 44.0])
    whole, _ = clip_logits(model, processor, frames, box[None])
    np.testing.assert_allclose(whole.detach().numpy()[0], streaming_logits(model, processor, frames, box), atol=1e-4)


def test_the_gradient_reaches_earlier_frames_through_the_memory(videos) -> None:
    model, processor = present_model()
    clip = sample_clip(videos, np.random.default_rng(1), tiny_config())
    mask_logits, _ = clip_logits(model, processor, clip.frames, clip.boxes)
    mask_logits[:, -1].sum().backward()  # the last frame only
    assert model.memory_encoder.projection.weight.grad.abs().sum() > 0
    assert model.memory_attention.layers[0].cross_attn_image.k_proj.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- loss and training


def test_tracking_loss_hand_values() -> None:
    masks = torch.zeros(1, 2, 2, 2)
    masks[0, 0, 0, 0] = 1  # present on frame 0 only
    logits = torch.zeros(1, 2, 2, 2)
    # p = 0.5 everywhere: pixel BCE ln 2; dice on frame 0 = 1 - (1 + 1) / (2 + 1 + 1); frame 1 (absent) is left out
    assert tracking_loss(logits, torch.zeros(1, 2), masks).item() == pytest.approx(2 * np.log(2) + 0.5, rel=1e-6)
    # the object score: BCE on both frames, "present" on frame 0 only
    assert tracking_loss(logits, torch.tensor([[0.0, -50.0]]), masks).item() == pytest.approx(
        np.log(2) + 0.5 + np.log(2) / 2, rel=1e-5)
    # an object absent from every frame: only the object-score term, which still has a gradient
    absent = tracking_loss(logits.requires_grad_(), torch.zeros(1, 2), torch.zeros(1, 2, 2, 2))
    assert absent.item() == pytest.approx(np.log(2))
    absent.backward()


def test_a_few_steps_lower_the_loss(videos) -> None:
    config = tiny_config(steps=12, eval_every=0, lr=2e-3)
    train, heldout = videos[:-1], videos[-1:]
    fixed = [sample_clip(train, np.random.default_rng(100 + i), config) for i in range(3)]

    def fixed_loss(model, processor) -> float:
        with torch.no_grad():
            return float(np.mean([tracking_loss(*clip_logits(model, processor, c.frames, c.boxes),
                                                torch.as_tensor(c.masks, dtype=torch.float32)).item()
                                  for c in fixed]))

    before = fixed_loss(*build_standin_tracker(config))
    model, processor, metrics = pretrain_tracker(train, heldout, config, progress=False)
    assert fixed_loss(model, processor) < 0.5 * before
    assert metrics["steps"] == 12 and [r["step"] for r in metrics["history"]] == [12]
    assert 0 <= metrics["heldout_track_j"] <= 1


def test_a_stopped_run_resumes_to_the_uninterrupted_weights(videos, tmp_path: Path) -> None:
    config = tiny_config()
    train, heldout = videos[:-1], videos[-1:]
    whole, _, whole_metrics = pretrain_tracker(train, heldout, config, progress=False)
    state = tmp_path / "run.state.pt"
    _, _, stopped = pretrain_tracker(train, heldout, config, state_path=state, stop_after=2, progress=False)
    assert stopped["steps"] == 2 and state.is_file()
    resumed, _, metrics = pretrain_tracker(train, heldout, config, state_path=state, resume=True, progress=False)
    assert [r["step"] for r in metrics["history"]] == [2, 4]
    assert metrics["history"][0] == stopped["history"][0]
    assert [r["loss"] for r in metrics["history"]] == [r["loss"] for r in whole_metrics["history"]]
    for name, tensor in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, msg=name)
    with pytest.raises(GroPromptError, match="other settings"):
        pretrain_tracker(train, heldout, tiny_config(lr=5e-4), state_path=state, resume=True, progress=False)


def test_settings_are_checked() -> None:
    with pytest.raises(GroPromptError, match="clip length"):
        tiny_config(clip_length=1)
    with pytest.raises(GroPromptError, match="reverse rate"):
        tiny_config(reverse_rate=1.5)
    with pytest.raises(GroPromptError, match="per step"):
        tiny_config(stills_per_step=-1)


def test_heldout_videos_are_whole_and_last(videos) -> None:
    train, heldout = split_heldout_videos(videos, 1)
    assert [v.name for v in heldout] == [videos[-1].name]
    assert [v.name for v in train] == [v.name for v in videos[:-1]]


def test_a_split_without_videos_to_track_is_a_named_error(synrvos_root: Path) -> None:
    with pytest.raises(GroPromptError, match="pretrain"):  # one still frame per video
        load_track_videos(load_refytvos(synrvos_root, "pretrain"), progress=False)


# ---------------------------------------------------------------- CLI


def test_cli_writes_a_folder_the_library_loads_and_resumes(synrvos_root: Path, tmp_path: Path) -> None:
    from transformers import Sam2VideoModel, Sam2VideoProcessor

    out = tmp_path / "standin-sam2"
    args = ["pretrain-tracker", "--data", str(synrvos_root), "--steps", "2", "--eval-every", "1", "--eval-frames", "1",
            "--clip-length", "3", "--batch-size", "1", "--stills", "1", "--image-size", str(IMAGE_SIZE), "--threads", "1", "--out", str(out)]
    assert main([*args, "--stop-after", "1"]) == 0
    assert json.loads((tmp_path / "standin-sam2.metrics.json").read_text())["steps"] == 1
    assert main(args) == 2  # a state beside --out and no --resume
    assert main([*args, "--resume"]) == 0
    metrics = json.loads((tmp_path / "standin-sam2.metrics.json").read_text())
    assert [r["step"] for r in metrics["history"]] == [1, 2] and metrics["split"] == "train"
    assert Sam2VideoModel.from_pretrained(out).config.image_size == IMAGE_SIZE
    assert Sam2VideoProcessor.from_pretrained(out).target_size == IMAGE_SIZE
