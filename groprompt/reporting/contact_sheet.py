"""Contact sheets: a grid of video frames with masks and boxes drawn over them, a title and a coloured caption.

Two layers: :func:`render_sheet` draws any frames with any :class:`Overlay` s (ground truth, or a method's
predicted masks and boxes, as in the paper's Fig. 2), and :func:`video_sheet` builds the overlays of a
:class:`~groprompt.data.model.Video`'s ground truth and lists its expressions in their objects' colours, so a
person can see what a benchmark asks. Pure PIL, so it runs anywhere and is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from groprompt.data.model import Video, tight_box
from groprompt.files import atomic_path

PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 80, 80), (80, 200, 255), (255, 210, 40), (120, 230, 90), (230, 110, 255), (255, 150, 40),
    (40, 230, 200), (255, 120, 190), (170, 170, 255), (200, 255, 140),
)
"""Overlay colours, bright enough to read on the dark sheet; object ``k`` (in ``object_ids`` order) gets ``k``."""
BACKGROUND = (28, 28, 32)
TEXT = (235, 235, 235)
TILE_WIDTH = 240
"""Frames are scaled to about this width, pixels (96-pixel frames by 2.5: small objects stay visible)."""
GAP = 6


@dataclass(frozen=True)
class Overlay:
    """What to draw, in one colour, on every tile of a sheet.

    Attributes:
        colour: RGB, 0..255.
        masks: one ``(H, W) bool`` mask per tile, or None where there is none; None for no masks at all.
        boxes: ``(K, 4)`` float ``(x0, y0, x1, y1)`` pixels of the original frame (exclusive ends), one row per
            tile, nan rows where there is no box; None for no boxes.
        dashed: draw the boxes dashed (e.g. predictions over solid ground truth).
        fill: opacity of the masks' tint in [0, 1]; 0 draws outlines only, leaving the frame's colours visible.
    """

    colour: tuple[int, int, int]
    masks: Sequence[np.ndarray | None] | None = None
    boxes: np.ndarray | None = None
    dashed: bool = False
    fill: float = 0.45


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow built without FreeType: the small bitmap font
        return ImageFont.load_default()


def select_frames(num_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly from the first to the last frame (all frames if fewer)."""
    if count >= num_frames:
        return list(range(num_frames))
    return sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, count)})


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: Sequence[float], colour: tuple[int, int, int],
                      width: int, dash: int = 6) -> None:
    x0, y0, x1, y1 = box
    for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(end[0] - start[0]), abs(end[1] - start[1]))
        steps = max(1, int(length // dash))
        for k in range(0, steps, 2):
            a, b = k / steps, min(1.0, (k + 1) / steps)
            draw.line([(start[0] + (end[0] - start[0]) * a, start[1] + (end[1] - start[1]) * a),
                       (start[0] + (end[0] - start[0]) * b, start[1] + (end[1] - start[1]) * b)],
                      fill=colour, width=width)


def _tile(frame: np.ndarray, overlays: Sequence[Overlay], index: int, scale: float, label: str,
          font: ImageFont.ImageFont) -> Image.Image:
    """One frame scaled by ``scale`` with the ``index``-th mask and box of every overlay, and a corner label."""
    height, width = frame.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    canvas = np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR), dtype=np.float32).copy()
    for overlay in overlays:
        mask = overlay.masks[index] if overlay.masks is not None else None
        if mask is None or not mask.any():
            continue
        big = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)) > 0
        colour = np.asarray(overlay.colour, dtype=np.float32)
        canvas[big] = canvas[big] * (1 - overlay.fill) + colour * overlay.fill
        # A solid outline keeps the mask's shape readable where its tint is faint or absent.
        inner = big.copy()
        inner[1:, :] &= big[:-1, :]
        inner[:-1, :] &= big[1:, :]
        inner[:, 1:] &= big[:, :-1]
        inner[:, :-1] &= big[:, 1:]
        canvas[big & ~inner] = colour
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for overlay in overlays:
        if overlay.boxes is None or np.isnan(overlay.boxes[index]).any():
            continue
        box = [float(v) * scale for v in overlay.boxes[index]]
        box[2], box[3] = box[2] - 1, box[3] - 1  # exclusive ends -> last pixel drawn
        if overlay.dashed:
            _dashed_rectangle(draw, box, overlay.colour, width=2)
        else:
            draw.rectangle(box, outline=overlay.colour, width=2)
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    draw.rectangle([0, 0, right - left + 6, bottom - top + 6], fill=BACKGROUND)
    draw.text((3 - left, 3 - top), label, fill=TEXT, font=font)
    return image


def render_sheet(frames: Sequence[np.ndarray], overlays: Sequence[Overlay] = (), *,
                 frame_labels: Sequence[str] | None = None, title: str = "",
                 caption: Sequence[tuple[str, tuple[int, int, int]]] = (), columns: int = 4,
                 tile_width: int = TILE_WIDTH,
                 row_labels: Sequence[tuple[str, tuple[int, int, int]]] | None = None) -> Image.Image:
    """A sheet of ``frames`` (``(H, W, 3) uint8`` RGB, all one size) in a grid, overlays drawn on each.

    Args:
        overlays: each holds one mask/box per frame (see :class:`Overlay`).
        frame_labels: text in each tile's corner (default: the tile number).
        title: a line above the grid.
        caption: ``(text, colour)`` lines below the grid, each with a swatch of its colour.
        columns: tiles per row.
        tile_width: width of a tile, pixels.
        row_labels: ``(text, colour)`` per grid row, written in a margin left of the row (e.g. the method whose
            predictions the row shows); None for no margin.
    """
    if not frames:
        raise ValueError("a contact sheet needs at least one frame")
    labels = list(frame_labels) if frame_labels is not None else [str(i) for i in range(len(frames))]
    font, small = _font(16), _font(13)
    scale = tile_width / frames[0].shape[1]
    tiles = [_tile(frame, overlays, i, scale, labels[i], small) for i, frame in enumerate(frames)]
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"{len(row_labels)} row labels for a grid of {rows} rows")
    tile_w, tile_h = tiles[0].size
    line = 22
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    margin = max((measure.textlength(text, font=font) for text, _ in row_labels or ()), default=-GAP)
    left = GAP + int(margin) + GAP if row_labels else GAP
    grid_top = GAP + (line + GAP if title else 0)
    grid_h = rows * tile_h + (rows - 1) * GAP
    sheet_w = left + columns * tile_w + columns * GAP
    sheet_h = grid_top + grid_h + GAP + (len(caption) * line + GAP if caption else 0)
    sheet = Image.new("RGB", (sheet_w, sheet_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((GAP, GAP), title, fill=TEXT, font=font)
    for row, (text, colour) in enumerate(row_labels or ()):
        _, top, _, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text((GAP, grid_top + row * (tile_h + GAP) + (tile_h - bottom - top) // 2), text, fill=colour,
                  font=font)
    for k, tile in enumerate(tiles):
        row, column = divmod(k, columns)
        sheet.paste(tile, (left + column * (tile_w + GAP), grid_top + row * (tile_h + GAP)))
    y = grid_top + grid_h + GAP
    for text, colour in caption:
        draw.rectangle([GAP, y + 4, GAP + 12, y + 16], fill=colour)
        draw.text((GAP + 20, y + 1), text, fill=colour, font=font)
        y += line
    return sheet


def video_sheet(video: Video, *, num_frames: int = 8, columns: int = 4,
                tile_width: int = TILE_WIDTH) -> Image.Image:
    """A sheet of ``num_frames`` frames of ``video`` spread over its length, with every object's ground-truth
    mask (outlined) and tight box in the object's colour, and the video's expressions (with their kind) in the colour of
    the object each refers to. A video without ground truth shows frames and expressions only."""
    indices = select_frames(video.num_frames, num_frames)
    frames = [video.read_frame(i) for i in indices]
    colours = {obj: PALETTE[k % len(PALETTE)] for k, obj in enumerate(video.object_ids)}
    overlays = []
    if video.has_annotations:
        truth = [video.annotation(i) if video.annotations.annotated(i) else None for i in indices]
        for obj, colour in colours.items():
            masks = [a.masks.get(obj) if a is not None else None for a in truth]
            boxes = np.stack([tight_box(m) if m is not None else np.full(4, np.nan) for m in masks])
            # Outlines only: a tint would change the colours the expressions speak about.
            overlays.append(Overlay(colour=colour, masks=masks, boxes=boxes, fill=0.0))
    caption = []
    for expression in video.expressions:
        kind = f"[{expression.kind}] " if expression.kind else ""
        target = f"obj {expression.obj_id}: " if expression.obj_id is not None else ""
        caption.append((f"{target}{kind}{expression.text}", colours.get(expression.obj_id, TEXT)))
    height, width = video.size
    title = (f"{video.dataset} / {video.split} / {video.name}: {video.num_frames} frames of {width}x{height}, "
             f"{len(video.object_ids)} objects, {len(video.expressions)} expressions")
    return render_sheet(frames, overlays, frame_labels=[f"t={i}" for i in indices], title=title, caption=caption,
                        columns=columns, tile_width=tile_width)


def save_sheet(sheet: Image.Image, path: str | Path) -> None:
    """Write ``sheet`` as a PNG, atomically."""
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
