"""``groprompt train``: fine-tune the GroPrompt prompter from box supervision (docs/method_spec.md §2-§5).

    groprompt train --dataset-kind refytvos --data ROOT --split train --prompter GROUNDER --segmentor SAM.pth \\
        --config train.yaml --set lambda_f=0 --set lambda_v=0 --out runs/box_only [--resume] [--device cuda] \\
        [--precision bf16]
    groprompt train ... --set objective=detector --set lambda_f=0 --set lambda_v=0 --out runs/detector_loss
    torchrun --nproc_per_node 8 -m groprompt.cli train ...        # data-parallel, one clip per GPU

Every input path is checked, the config is validated and the dataset's box-only view is built before any model
loads. See :mod:`groprompt.training.loop` for what the output folder holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from groprompt.precision import DEFAULT_PRECISION, PRECISIONS

NAME = "train"
HELP = ("Fine-tune the GroPrompt prompter from box supervision (L_box, and TextCon/ModalCon when weighted; or, with "
        "--set objective=detector, Grounding DINO's own loss: the plain fine-tuning baseline).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset-kind", required=True,
                        help="dataset kind (`groprompt datasets` lists them)")
    parser.add_argument("--data", required=True, type=Path, help="dataset root folder")
    parser.add_argument("--split", default="train", help="split to train on (default: %(default)s)")
    parser.add_argument("--prompter", required=True, type=Path,
                        help="the pre-trained grounder to fine-tune: a Hugging Face folder (config.json + "
                             "model.safetensors) or an original Grounding DINO .pth; its size is the config's "
                             "prompter_size")
    parser.add_argument("--tokenizer", type=Path,
                        help="tokenizer folder, when the prompter checkpoint has none and its size bundles none")
    parser.add_argument("--segmentor", type=Path,
                        help="frozen SAM checkpoint (official sam_vit_*.pth or a groprompt SAM file); required "
                             "when lambda_f or lambda_v > 0, unused otherwise")
    parser.add_argument("--config", type=Path, help="training config YAML (keys of TrainingConfig; default: paper)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key (YAML value), e.g. --set lambda_f=0 --set lr_drop_epochs=[8]")
    parser.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, log, final prompter)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the last complete epoch checkpoint in --out (none: start fresh); its "
                             "config and inputs (paths and content digests of --data's metadata and of every "
                             "checkpoint) must be this run's, otherwise it is refused, naming what differs")
    parser.add_argument("--restart-if-changed", action="store_true",
                        help="with --resume: when the checkpoint's config or inputs differ, delete the run's files "
                             "in --out and start over instead of refusing (the workflow's mode)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available); torchrun ranks "
                                         "take cuda:LOCAL_RANK")
    parser.add_argument("--embedding-cache", type=Path,
                        help="SAM image-embedding cache folder shared with inference (default: memory only)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="numeric precision of the forward passes: fp32, tf32 (TensorFloat-32 matrix products "
                             "on CUDA; as fp32 on a CPU) or bf16 (autocast; weights and optimiser state stay "
                             "float32); recorded with the run, so --resume refuses another (default: %(default)s)")


def _check_inputs(args: argparse.Namespace, contrastive: bool) -> None:
    """Every input path exists and every output folder is writable (before anything is loaded)."""
    from groprompt.errors import GroPromptError
    from groprompt.files import check_writable

    needed = [(args.data, "dataset root (--data)", True), (args.prompter, "prompter checkpoint (--prompter)", None)]
    if args.tokenizer is not None:
        needed.append((args.tokenizer, "tokenizer folder (--tokenizer)", True))
    if contrastive:
        if args.segmentor is None:
            raise GroPromptError("TextCon/ModalCon (lambda_f or lambda_v > 0) need the frozen SAM: --segmentor is "
                                 "missing", fix="pass --segmentor SAM_CHECKPOINT, or set lambda_f=0 lambda_v=0")
        needed.append((args.segmentor, "SAM checkpoint (--segmentor)", False))
    for path, what, is_dir in needed:
        if not path.exists() or (is_dir is True and not path.is_dir()) or (is_dir is False and not path.is_file()):
            raise GroPromptError(f"{what} not found", path=path, fix="check the path")
    if args.out.exists() and not args.out.is_dir():
        raise GroPromptError("--out exists and is not a folder", path=args.out, fix="choose a folder for the run")
    check_writable(args.out, "run folder (--out)")
    if args.embedding_cache is not None:
        check_writable(args.embedding_cache, "embedding cache folder (--embedding-cache)")


def run(args: argparse.Namespace) -> int:
    from groprompt.commands._stopping import stop_cleanly

    again = "run the same command" if args.resume else "rerun with --resume"
    return stop_cleanly(NAME, lambda: _train(args),
                        f"the epochs completed are kept in {args.out / 'checkpoints'}: {again} to continue")


def _train(args: argparse.Namespace) -> int:
    from groprompt.data.registry import open_dataset
    from groprompt.fingerprints import dataset_digest, path_digest
    from groprompt.training import box_only_videos, load_training_config, setup_distributed, teardown_distributed
    from groprompt.training import train as train_prompter

    config = load_training_config(args.config, args.overrides)
    _check_inputs(args, config.contrastive)
    if args.restart_if_changed and not args.resume:
        from groprompt.errors import GroPromptError

        raise GroPromptError("--restart-if-changed applies to a resumed run only", fix="add --resume")
    if args.segmentor is not None and not config.contrastive:
        print("groprompt train: note: --segmentor is not used (lambda_f = lambda_v = 0: no TextCon/ModalCon)",
              file=sys.stderr)
    context = setup_distributed(args.device)
    try:
        dataset = open_dataset(args.dataset_kind, args.data, args.split)
        videos = box_only_videos(dataset, progress=context.is_main)

        def models():
            from groprompt.prompting import build_prompter
            from groprompt.segmentation import EmbeddingCache, Segmentor

            prompter = build_prompter(config.prompter_size, args.prompter, args.tokenizer)
            if not config.contrastive:
                return prompter, None
            cache = EmbeddingCache(args.embedding_cache)
            return prompter, Segmentor.from_checkpoint(args.segmentor, device=context.device, cache=cache,
                                                       precision=args.precision)

        read = {"prompter": args.prompter, "tokenizer": args.tokenizer,
                "segmentor": args.segmentor if config.contrastive else None}
        run_inputs = {"dataset_kind": args.dataset_kind, "data": str(args.data.resolve()), "split": args.split,
                      "data_digest": dataset_digest(dataset)}
        for key, path in read.items():
            run_inputs[key] = None if path is None else str(path.resolve())
            run_inputs[f"{key}_digest"] = None if path is None else path_digest(path)
        summary = train_prompter(config, videos, models, args.out, resume=args.resume, run=run_inputs,
                                 restart_if_changed=args.restart_if_changed, context=context,
                                 precision=args.precision)
    finally:
        teardown_distributed(context)
    if context.is_main:
        print(f"trained {summary.epochs} epochs, {summary.steps} steps on {summary.pairs} (video, expression) pairs "
              f"({summary.unusable_expressions} expressions without a present object left out; "
              f"{summary.skipped_contrastive} clips without a negative sentence) in {summary.seconds:.1f} s "
              f"({summary.precision}); "
              f"prompter written to {summary.prompter_dir}")
    return 0
