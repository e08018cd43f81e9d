"""``groprompt infer``: run one method over a dataset split and write boxes, masks and the evaluation layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from groprompt.precision import DEFAULT_PRECISION, PRECISIONS

NAME = "infer"
HELP = "Run one method over a dataset split: a box per frame and expression, SAM masks, PNGs for evaluation."

_EPILOG = """\
Outputs under --out: boxes/<video>.csv (exp_id, frame, x0, y0, x1, y1, score; pixels, empty = no box),
masks/<video>.json (RLE per expression per frame), Annotations/<video>/<exp_id>/<frame>.png (0/255; pass
Annotations as `groprompt evaluate --pred`), done/<video>.json (written last; finished videos are skipped on a
rerun), run_stats.json, and with --submission submission.zip (the evaluation server's archive: every PNG as
<video>/<exp_id>/<frame>.png, under Annotations/ for Ref-YouTube-VOS, at the archive's root for MeViS).
A rerun into the same folder continues it: videos finished by a run of the same identity are kept. The identity
is the method, its options, the precision, the split, and content digests of the dataset's metadata, the
--segmentor file and every option that is a path (a prompter checkpoint); sizes and times play no part (they only
tell when a large file's remembered digest must be computed again). A folder holding results of
another identity is refused, naming what differs; --restart-if-changed deletes them and starts over instead
(the workflow's mode)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("--method", required=True, help="method name (`groprompt methods` lists them)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a method option, typed by the method's signature (repeatable), e.g. "
                             "--option checkpoint=ckpt/prompter --option size=tiny")
    parser.add_argument("--offer", action="append", default=[], metavar="KEY=VALUE",
                        help="a standard option passed only if the method's __init__ takes KEY and --option does "
                             "not set it (repeatable); the workflow offers every method the pre-trained grounder, "
                             "the prompter size and the tokenizer")
    parser.add_argument("--dataset-kind", required=True,
                        help="dataset kind (`groprompt datasets` lists them: synrvos, refytvos, refdavis, a2d, jhmdb, "
                             "mevis, and yours)")
    parser.add_argument("--data", type=Path, required=True, help="dataset root folder")
    parser.add_argument("--split", required=True, help="split to run on (e.g. valid)")
    parser.add_argument("--segmentor", type=Path, default=None,
                        help="SAM or SAM-HQ checkpoint: an official sam_vit_{b,l,h}_*.pth or sam_hq_vit_{b,l,h}.pth, "
                             "or a groprompt SAM file (required unless the method outputs masks itself)")
    parser.add_argument("--segmentor-variant", default=None,
                        help="expected SAM size (vit_b, vit_l, vit_h, tiny) or SAM-HQ size (sam-hq-vit-b, "
                             "sam-hq-vit-l, sam-hq-vit-h, sam-hq-tiny); a checkpoint of another size or kind is an "
                             "error (default: the size and kind stored in or detected from the file)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="numeric precision of SAM and of the method's prompter, if it has a `precision` option: "
                             "fp32, tf32 (TensorFloat-32 matrix products on CUDA; as fp32 on a CPU) or bf16 "
                             "(autocast); part of the run's identity and of the embedding-cache key "
                             "(default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder of SAM image embeddings shared by methods and jobs (default: memory only)")
    parser.add_argument("--submission", action="store_true",
                        help="also write OUT/submission.zip, the dataset's evaluation server's archive "
                             "(<video>/<exp_id>/<frame>.png in the folder the dataset kind names: Annotations/ for "
                             "Ref-YouTube-VOS, the archive's root for MeViS)")
    parser.add_argument("--restart-if-changed", action="store_true",
                        help="when --out holds results of another run (other method, options, data or checkpoint "
                             "contents), delete them and start over instead of refusing (default: refuse)")
    parser.add_argument("--baselines-dir", default="baselines",
                        help="folder of baseline modules to discover (default: ./baselines)")
    parser.add_argument("--device", default="cpu",
                        help="device of the segmentor, and of the method if it has a `device` option not given "
                             "with --option (default: cpu)")


def run(args: argparse.Namespace) -> int:
    from groprompt.commands._stopping import stop_cleanly

    return stop_cleanly(NAME, lambda: _infer(args), "finished videos are kept: run the same command to continue")


def _infer(args: argparse.Namespace) -> int:
    from groprompt.data.registry import dataset_kind, open_dataset
    from groprompt.inference import check_method_fits, parse_option_pairs, run_inference, typed_options
    from groprompt.methods import accepts_option, check_options, discover_methods

    registry = discover_methods(args.baselines_dir)
    cls = registry.get(args.method)
    options = typed_options(cls, parse_option_pairs(args.option))
    offered = {key: value for key, value in parse_option_pairs(args.offer).items()
               if key not in options and accepts_option(cls, key)}
    options.update(typed_options(cls, offered))
    check_options(cls, options)
    if "precision" in options:
        from groprompt.errors import GroPromptError

        raise GroPromptError(f"method {args.method!r}: its precision is the run's, set with --precision (SAM's too)",
                             fix=f"pass --precision {options['precision']} instead of --option precision=...")
    dataset = open_dataset(args.dataset_kind, args.data, args.split)
    check_method_fits(cls, dataset, has_segmentor=args.segmentor is not None or cls.outputs_masks)
    _check_writable_folders(args)
    segmentor = None if cls.outputs_masks else _segmentor(args)
    created = dict(options)
    if accepts_option(cls, "device") and "device" not in created:
        created["device"] = args.device
    if accepts_option(cls, "precision"):
        created["precision"] = args.precision
    method = registry.create(args.method, created)

    read = {"segmentor": None if segmentor is None else args.segmentor}
    stats = run_inference(method, dataset, args.out, segmentor=segmentor, options=options,
                          submission=args.submission,
                          submission_folder=dataset_kind(args.dataset_kind).submission_folder, files=read,
                          restart_if_changed=args.restart_if_changed, precision=args.precision)
    cache = stats["segmentor_cache"]
    print(f"{args.method} on {dataset.name} {dataset.split}: {stats['videos_run']} videos run, "
          f"{stats['videos_skipped']} already done; {stats['frames']} frames, {stats['expression_frames']} "
          f"expression-frames in {stats['seconds']:.1f} s")
    if cache is not None:
        print(f"SAM image encoder passes {cache['encoder_passes']}, cache hits {cache['memory_hits']} memory + "
              f"{cache['disk_hits']} disk, distinct frames {cache['distinct_frames']}")
    print(f"wrote {args.out}" + (f" and {args.out / 'submission.zip'}" if args.submission else ""))
    return 0


def _segmentor(args: argparse.Namespace):
    """The frozen SAM of ``--segmentor`` with its embedding cache, on ``--device``, in ``--precision``; its cache
    fingerprint names the file's content digest (remembered across runs: no 2.4 GB read at each start)."""
    from groprompt.devices import resolve_device
    from groprompt.fingerprints import path_digest
    from groprompt.segmentation import EmbeddingCache, Segmentor, build_sam, load_sam

    device = resolve_device(args.device)
    if args.segmentor_variant is None:
        sam, _ = load_sam(args.segmentor)
    else:
        sam = build_sam(args.segmentor_variant, args.segmentor)
    return Segmentor(sam, device=device, precision=args.precision, cache=EmbeddingCache(args.cache),
                     weights=path_digest(args.segmentor))


def _check_writable_folders(args: argparse.Namespace) -> None:
    """--out and --cache can be written (before any model loads)."""
    from groprompt.files import check_writable

    check_writable(args.out, "output folder (--out)")
    if args.cache is not None:
        check_writable(args.cache, "embedding cache folder (--cache)")
