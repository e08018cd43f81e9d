"""``groprompt pretrain-segmentor``: train the stand-in SAM on box-to-mask pairs (``docs/architecture.md``, step 2)."""

from __future__ import annotations

import argparse

from groprompt.commands._pretraining import add_pretraining_arguments, prepare

NAME = "pretrain-segmentor"
HELP = "Pre-train the stand-in SAM from random weights on (frame, jittered box, mask) triples of an annotated split."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pretraining_arguments(
        parser, out_help="checkpoint to write (loadable by load_sam / Segmentor.from_checkpoint)", eval_frames=200,
        eval_measure="mask IoU", model="SAM")
    parser.add_argument("--box-jitter", type=float, default=0.1,
                        help="each box side moves by up to this fraction of the box size (default: %(default)s)")


def run(args: argparse.Namespace) -> int:

    from groprompt.data.registry import open_dataset
    from groprompt.errors import GroPromptError
    from groprompt.pretraining import (
        SegmentorPretrainConfig,
        load_box_masks,
        pretrain_segmentor,
        write_metrics,
    )
    from groprompt.segmentation import save_sam
    from groprompt.segmentation.config import resolve_config

    config = SegmentorPretrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                     weight_decay=args.weight_decay, box_jitter=args.box_jitter,
                                     eval_every=args.eval_every, seed=args.seed, sam=resolve_config(args.size))
    device = prepare(args)
    if args.out.is_dir():
        raise GroPromptError("--out is a folder; it must name the checkpoint file to write", path=args.out,
                             fix="pass a file path such as models/sam_tiny.pt")

    samples = load_box_masks(open_dataset(args.dataset_kind, args.data, args.split))
    train, heldout = samples.split_heldout(args.eval_frames)
    print(f"pretrain-segmentor: {len(train)} objects in {train.num_frames} frames for training, {len(heldout)} "
          f"objects in {heldout.num_frames} held-out frames")
    sam, metrics = pretrain_segmentor(train, heldout, config, device=device)
    save_sam(sam, config.sam, args.out)
    metrics_file = write_metrics(args.out, {"data": str(args.data), "split": args.split, **metrics})
    for record in metrics["history"]:
        print(f"  step {record['step']:>6}  {record['seconds']:8.1f} s  loss {record['loss']:.4f}  held-out mask IoU "
              f"{record['heldout_mask_iou']:.3f}")
    print(f"pretrain-segmentor: held-out mask IoU {metrics['heldout_mask_iou']:.3f} from ground-truth boxes (filled "
          f"boxes: {metrics['filled_box_iou']:.3f}) after {metrics['steps']} steps, {metrics['seconds']:.1f} s; "
          f"wrote {args.out} and {metrics_file}")
    return 0
