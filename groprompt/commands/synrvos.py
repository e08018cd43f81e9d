"""``groprompt synrvos``: generate the SynRVOS benchmark (docs/synthetic_benchmark.md) into a folder."""

from __future__ import annotations

import argparse
import os
import time

NAME = "synrvos"
HELP = "Generate SynRVOS, the synthetic referring-video benchmark, in the Ref-YouTube-VOS (or MeViS) layout."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from groprompt.data.synrvos.presets import PRESETS
    from groprompt.data.synrvos.mevis_writer import DEFAULT_MULTI_OBJECT_SHARE
    from groprompt.data.synrvos.writer import LAYOUTS

    parser.add_argument("--out", required=True, help="dataset folder to create (must be new or empty)")
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS),
                        help="sizes and content knobs (default: %(default)s; smoke is for CI)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed + preset = same bytes")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes generating videos (default: %(default)s); does not change the output")
    parser.add_argument("--layout", default=LAYOUTS[0], choices=LAYOUTS,
                        help="on-disk layout (default: %(default)s): refytvos writes pretrain / train / valid as "
                             "Ref-YouTube-VOS; mevis writes train / valid_u / valid as MeViS, with expressions that "
                             "refer to several objects")
    parser.add_argument("--multi-object-share", type=float,
                        help="--layout mevis only: share of expressions that refer to several objects, in [0, 1) "
                             f"(default {DEFAULT_MULTI_OBJECT_SHARE}); synrvos.json records the share written")
    sizes = parser.add_argument_group("overrides of the preset's sizes")
    sizes.add_argument("--frame-size", type=int, help="side of the square frames, pixels")
    sizes.add_argument("--train-videos", type=int, help="videos in the train split")
    sizes.add_argument("--valid-videos", type=int, help="videos in the valid split")
    sizes.add_argument("--pretrain-frames", type=int, help="still frames in the pretrain split")


def run(args: argparse.Namespace) -> int:
    from groprompt.data.synrvos.presets import get_preset
    from groprompt.data.synrvos.writer import generate_synrvos
    from groprompt.errors import GroPromptError

    if args.workers < 1:
        raise GroPromptError(f"--workers must be at least 1, got {args.workers}", fix="pass --workers 1 or more")
    config = get_preset(args.preset).replace(frame_size=args.frame_size, train_videos=args.train_videos,
                                             valid_videos=args.valid_videos, pretrain_frames=args.pretrain_frames)
    start = time.perf_counter()
    manifest = generate_synrvos(args.out, config, args.seed, workers=args.workers, force=args.force,
                                layout=args.layout, multi_object_share=args.multi_object_share)
    counts = ", ".join(f"{split} {stats['videos']} videos / {stats['expressions']} expressions"
                       for split, stats in manifest["splits"].items())
    share = manifest.get("multi_object_share")
    several = f"; {share['realised']:.1%} refer to several objects" if share else ""
    print(f"SynRVOS ({config.name}, seed {args.seed}) written to {args.out} in {time.perf_counter() - start:.1f} s: "
          f"{counts}{several}")
    return 0
