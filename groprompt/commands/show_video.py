"""``groprompt show-video``: a contact sheet of one video with its ground truth and expressions, as a PNG."""

from __future__ import annotations

import argparse

NAME = "show-video"
HELP = "Draw a PNG contact sheet of a video: frames, ground-truth masks and boxes, expressions by kind."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset-kind", required=True,
                        help="dataset kind, as for groprompt infer (groprompt datasets lists them)")
    parser.add_argument("--data", required=True, help="dataset root folder")
    parser.add_argument("--split", default="valid", help="split (default: %(default)s)")
    parser.add_argument("--video", required=True, help="video name")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--frames", type=int, default=8, help="frames to show, spread over the video")
    parser.add_argument("--columns", type=int, default=4, help="frames per row")


def run(args: argparse.Namespace) -> int:
    from groprompt.data.registry import open_dataset
    from groprompt.errors import GroPromptError
    from groprompt.reporting.contact_sheet import save_sheet, video_sheet

    if args.frames < 1 or args.columns < 1:
        raise GroPromptError("--frames and --columns must be at least 1", fix="pass positive numbers")
    if not str(args.out).lower().endswith(".png"):
        raise GroPromptError("the contact sheet is a PNG", path=args.out, fix="give --out a .png name")
    video = open_dataset(args.dataset_kind, args.data, args.split).video(args.video)
    save_sheet(video_sheet(video, num_frames=args.frames, columns=args.columns), args.out)
    print(f"wrote {args.out}")
    return 0
