"""Contact sheets: frames, ground-truth outlines and boxes in object colours, expressions; the show-video step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from groprompt.cli import main
from groprompt.data.model import Expression, FrameAnnotation, Video
from groprompt.data.synrvos import generate_synrvos, get_preset
from groprompt.reporting.contact_sheet import GAP, PALETTE, Overlay, render_sheet, select_frames, video_sheet


class Truth:
    """In-memory ground truth: object 1 a 10x20 rectangle on every frame, object 2 only on frame 0."""

    def annotated(self, frame_index: int) -> bool:
        return True

    def read(self, frame_index: int) -> FrameAnnotation:
        one = np.zeros((48, 64), dtype=bool)
        one[10:20, 10:30] = True
        masks = {1: one}
        if frame_index == 0:
            two = np.zeros((48, 64), dtype=bool)
            two[30:40, 40:50] = True
            masks[2] = two
        return FrameAnnotation(masks=masks)


def toy_video(num_frames: int = 3) -> Video:
    grey = np.full((48, 64, 3), 100, dtype=np.uint8)
    return Video(
        dataset="toy", split="valid", name="v", frame_names=tuple(f"{t:05d}" for t in range(num_frames)),
        frame_paths=tuple(Path(f"{t}.jpg") for t in range(num_frames)), size=(48, 64), object_ids=(1, 2),
        expressions=(Expression("0", "the wide box", 1, kind="appearance"),
                     Expression("1", "the box moving away", 2, kind="motion")),
        annotations=Truth(), frame_reader=lambda index: grey,
    )


def pixels_of(image: Image.Image, colour: tuple[int, int, int]) -> int:
    return int(np.all(np.asarray(image) == colour, axis=-1).sum())


def test_select_frames_spreads_from_first_to_last():
    assert select_frames(16, 4) == [0, 5, 10, 15]
    assert select_frames(3, 8) == [0, 1, 2]
    assert select_frames(10, 1) == [0]


def test_video_sheet_outlines_ground_truth_in_object_colours():
    sheet = video_sheet(toy_video(), num_frames=3, columns=3, tile_width=128)  # scale 2
    assert sheet.width == 3 * 128 + 4 * GAP
    array = np.asarray(sheet)
    top = GAP + 22 + GAP  # below the title line
    # Object 1's box spans frame pixels 10..29 x 10..19 -> tile pixels 20..58 x 20..38; outline width 2.
    assert tuple(array[top + 20, GAP + 40]) == PALETTE[0]  # top edge of the box
    assert tuple(array[top + 29, GAP + 40]) == (100, 100, 100)  # inside: outlines only, the frame shows through
    # Object 2 appears on frame 0 only: its colour is in the first tile and the caption, not in the third tile.
    third = array[top:top + 96, GAP + 2 * (128 + GAP):GAP + 3 * 128 + 2 * GAP]
    assert not np.all(third == PALETTE[1], axis=-1).any()
    first = array[top:top + 96, GAP:GAP + 128]
    assert np.all(first == PALETTE[1], axis=-1).any()
    caption = Image.fromarray(array[top + 96 + GAP:])
    assert pixels_of(caption, PALETTE[0]) > 50 and pixels_of(caption, PALETTE[1]) > 50


def test_render_sheet_fills_masks_and_dashes_predicted_boxes():
    frame = np.zeros((20, 20, 3), dtype=np.uint8)
    mask = np.zeros((20, 20), dtype=bool)
    mask[5:15, 5:15] = True
    boxes = np.array([[2.0, 2.0, 18.0, 18.0], [np.nan] * 4])
    overlay = Overlay((200, 0, 0), masks=[mask, None], boxes=boxes, dashed=True, fill=0.5)
    sheet = render_sheet([frame, frame], [overlay], columns=2, tile_width=80)  # scale 4
    array = np.asarray(sheet)
    first = array[GAP:GAP + 80, GAP:GAP + 80]
    assert tuple(first[40, 40]) == (100, 0, 0)  # half the overlay colour over black
    edge = first[8, 30:71, 0]  # the box's top edge, right of the corner label
    assert 0 < (edge == 200).sum() < edge.size  # dashed: some of it, not all of it
    second = array[GAP:GAP + 80, 2 * GAP + 80:2 * GAP + 160]
    assert second[30:, :].max() == 0  # no mask and no box on the second frame


def test_show_video_cli_writes_a_legible_png(tmp_path: Path):
    root = tmp_path / "synrvos"
    config = get_preset("smoke").replace(name="tiny", train_videos=1, valid_videos=1, pretrain_frames=1)
    generate_synrvos(root, config, seed=0, workers=1, progress=False)
    out = tmp_path / "sheet.png"
    data = ["--dataset-kind", "synrvos", "--data", str(root)]
    assert main(["show-video", *data, "--split", "valid", "--video", "valid_00000", "--out", str(out)]) == 0
    with Image.open(out) as sheet:
        assert sheet.format == "PNG" and sheet.width == 4 * 240 + 5 * GAP
        assert sheet.height > 2 * 240 + 2 * 22  # two rows of tiles, a title and at least one expression
    assert main(["show-video", *data, "--video", "nope", "--out", str(out)]) == 2
    assert main(["show-video", *data, "--video", "valid_00000", "--out", str(tmp_path / "x.jpg")]) == 2
    with pytest.raises(SystemExit):  # the flags of every other step, not show-video's old --root and --dataset
        main(["show-video", "--root", str(root), "--dataset", "synrvos", "--video", "valid_00000", "--out", str(out)])
