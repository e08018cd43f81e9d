"""``groprompt pretrain-grounder``: train the stand-in Grounding DINO on still frames with grounding phrases, each
naming every box it fits (``docs/architecture.md``, step 2): the grounder Grounded-SAM uses zero-shot and GroPrompt
fine-tunes."""

from __future__ import annotations

import argparse

from groprompt.commands._pretraining import add_pretraining_arguments, prepare

NAME = "pretrain-grounder"
HELP = "Pre-train the stand-in Grounding DINO (tiny, MiniLM text) on (frame, phrase, boxes) samples of a split."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pretraining_arguments(
        parser, out_help="prompter checkpoint folder to write (Hugging Face layout: loadable by build_prompter, "
        "`groprompt train --prompter` and the prompter methods)", eval_frames=300, eval_measure="box IoU",
        model="prompter")
    parser.add_argument("--warmup-steps", type=int, default=50,
                        help="linear warm-up steps, at most half the run (default: %(default)s)")


def run(args: argparse.Namespace) -> int:

    from groprompt.data.registry import open_dataset
    from groprompt.errors import GroPromptError
    from groprompt.pretraining.grounder import GrounderPretrainConfig, pretrain_grounder
    from groprompt.pretraining.grounding_set import load_grounding_set
    from groprompt.pretraining.loop import write_metrics
    from groprompt.prompting.config import prompter_size
    from groprompt.training.checkpoint import export_prompter

    config = GrounderPretrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                    weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
                                    eval_every=args.eval_every, seed=args.seed, size=args.size)
    prompter_size(args.size)  # an unknown size fails before the data is read
    device = prepare(args)
    if args.out.is_file():
        raise GroPromptError("--out is a file; the prompter checkpoint is a folder", path=args.out,
                             fix="pass a folder path such as models/grounder_tiny")

    samples = load_grounding_set(open_dataset(args.dataset_kind, args.data, args.split))
    train, heldout = samples.split_heldout(args.eval_frames)
    print(f"pretrain-grounder: {len(train)} (frame, sentence) samples in {train.num_frames} frames for training, "
          f"{len(heldout)} in {heldout.num_frames} held-out frames")
    prompter, metrics = pretrain_grounder(train, heldout, config, device=device)
    export_prompter(prompter.to("cpu"), args.out)
    metrics_file = write_metrics(args.out, {"data": str(args.data), "split": args.split, **metrics})
    for record in metrics["history"]:
        print(f"  step {record['step']:>6}  {record['seconds']:8.1f} s  held-out top-1 box IoU "
              f"{record['top1_iou']:.3f}  (IoU>0.5: {record['top1_above_0_5']:.2f}, best query "
              f"{record['best_query_iou']:.3f})")
    print(f"pretrain-grounder: held-out top-1 box IoU {metrics['top1_iou']:.3f} after {metrics['steps']} steps, "
          f"{metrics['seconds']:.1f} s; wrote {args.out} and {metrics_file}")
    return 0
