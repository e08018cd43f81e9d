"""``groprompt pretrain-tracker``: train the stand-in SAM 2 on SynRVOS videos, box on one frame, masks propagated
(:mod:`groprompt.pretraining.tracker`; the embedded default's released stand-in is ``releases/standin-sam2/``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from groprompt.commands._pretraining import add_pretraining_arguments, prepare

NAME = "pretrain-tracker"
HELP = ("Train the stand-in SAM 2 from random weights: a ground-truth box on a clip's first frame, the masks "
        "propagated by its memory and supervised on every frame; writes a Hugging Face folder.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pretraining_arguments(
        parser, out_help="Hugging Face folder to write (config.json, model.safetensors, processor_config.json; "
                         "loadable by Sam2VideoModel / Sam2VideoProcessor.from_pretrained)",
        eval_frames=100, eval_measure="propagated J", model="SAM 2 (only the stand-in, tiny)")
    parser.set_defaults(split="train", batch_size=1, eval_every=100)
    parser.add_argument("--stills", type=int, default=4,
                        help="one-frame samples (prompted frame only) per update, beside --batch-size clips "
                             "(default: %(default)s)")
    parser.add_argument("--clip-length", type=int, default=8, help="frames per training clip (default: %(default)s)")
    parser.add_argument("--max-objects", type=int, default=3,
                        help="objects prompted per clip, at most (default: %(default)s)")
    parser.add_argument("--reverse-rate", type=float, default=0.25,
                        help="share of clips played backwards (default: %(default)s)")
    parser.add_argument("--box-jitter", type=float, default=0.1,
                        help="each box side moves by up to this fraction of the box size (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=128,
                        help="the stand-in's input side, a multiple of 32 (default: %(default)s; SynRVOS frames are "
                             "96x96)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>.state.pt, written after every evaluation (--eval-every), if it "
                             "exists (same options required)")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop after this many steps in all, writing --out and the state (rerun with --resume "
                             "to go on)")


def state_path(out: Path) -> Path:
    """The resumable training state of the run writing ``out``: ``<out>.state.pt`` beside the folder."""
    return out.with_name(out.name + ".state.pt")


def run(args: argparse.Namespace) -> int:
    from groprompt.data.registry import open_dataset
    from groprompt.errors import GroPromptError
    from groprompt.pretraining import write_metrics
    from groprompt.pretraining.tracker import (
        TrackerPretrainConfig,
        load_track_videos,
        pretrain_tracker,
        save_tracker,
        split_heldout_videos,
    )

    if args.size != "tiny":
        raise GroPromptError(f"pretrain-tracker trains only the tiny stand-in SAM 2, got --size {args.size}",
                             fix="leave --size out; real SAM 2 checkpoints are loaded, not trained, by the harness")
    config = TrackerPretrainConfig(steps=args.steps, clips_per_step=args.batch_size, stills_per_step=args.stills,
                                   clip_length=args.clip_length,
                                   max_objects=args.max_objects, reverse_rate=args.reverse_rate, lr=args.lr,
                                   weight_decay=args.weight_decay, box_jitter=args.box_jitter,
                                   eval_every=args.eval_every, seed=args.seed,
                                   image_size=args.image_size)
    device = prepare(args)
    if args.out.exists() and not args.out.is_dir():
        raise GroPromptError("--out exists and is not a folder; it must name the Hugging Face folder to write",
                             path=args.out, fix="pass a folder path such as models/standin-sam2")
    state = state_path(args.out)
    if state.exists() and not args.resume:
        raise GroPromptError("a training state of an earlier run lies beside --out", path=state,
                             fix="pass --resume to continue it, or delete it to train from scratch")

    videos = load_track_videos(open_dataset(args.dataset_kind, args.data, args.split))
    train, heldout = split_heldout_videos(videos, args.eval_frames)
    print(f"pretrain-tracker: {len(train)} videos for training, {len(heldout)} held-out videos")
    model, processor, metrics = pretrain_tracker(train, heldout, config, state_path=state, resume=args.resume,
                                                 stop_after=args.stop_after, device=device)
    for record in metrics["history"]:
        print(f"  step {record['step']:>6}  {record['seconds']:8.1f} s  loss {record['loss']:.4f}  held-out "
              f"propagated J {record['heldout_track_j']:.3f}")
    save_tracker(model, processor, args.out)
    metrics_file = write_metrics(args.out, {"data": str(args.data), "split": args.split, **metrics})
    done = "" if metrics["steps"] == config.steps else (
        f" (stopped after {metrics['steps']} of {config.steps} steps; rerun with --resume to continue from {state})")
    print(f"pretrain-tracker: held-out propagated J {metrics['heldout_track_j']:.3f} (ground-truth box on each "
          f"object's first frame) after {metrics['steps']} steps, {metrics['seconds']:.1f} s; wrote {args.out} and "
          f"{metrics_file}{done}")
    return 0
