"""F, the contour accuracy of DAVIS (docs/method_spec.md §8), exact and without dilating whole frames.

The official DAVIS-2017 code dilates both boundary maps with a disk and counts the boundary pixels of one mask that
fall inside the dilated boundary of the other. A pixel lies inside the dilation of boundary ``B`` by scikit-image's
``disk(r)`` exactly when some pixel of ``B`` sits at an integer offset ``(dy, dx)`` with ``dy² + dx² <= r²``. This
module tests that directly for the boundary pixels only, which gives the same counts (hence bit-identical F) at a
fraction of the cost:

1. pixels on both boundaries match at offset 0 (one look-up per boundary pixel);
2. the other boundary's occupancy on a grid of ``r × r`` blocks discards pixels with no other-boundary pixel in
   their 3 × 3 block neighbourhood (they cannot match: no offset of the disk reaches further than one block);
3. the rest are looked up at the disk's offsets, nearest first, in chunks of growing size; a pixel leaves as soon
   as it matches, so the cost follows how far the two boundaries are apart, not the frame size.

Pixels outside the frame never match, as with ``cv2.dilate``'s default border in the official code. Frames are
processed in batches, each boundary map padded by the radius so that offsets never reach into another frame.

A mask's boundary (:class:`Boundaries`: map, pixels, block occupancy) is computed once and paired with any number of
other masks' (:meth:`BoundaryScan.f`), so scoring every (prediction, object) pair of a video builds each mask's
boundary once per frame; a video's ground-truth boundaries can be kept sparse (:class:`FrameBoundaries`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import disk

from groprompt.errors import GroPromptError
from groprompt.metrics._inputs import check_masks

DEFAULT_BOUND_TH = 0.008
"""DAVIS' tolerance: 0.8% of the image diagonal."""

_BATCH_PIXELS = 1 << 23
"""Frames per batch are chosen so that one batch holds about this many (padded) pixels, bounding memory."""


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """The DAVIS boundary map (``_seg2bmap`` at the mask's own resolution) of ``(H, W)`` or ``(T, H, W)`` bool masks.

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour; on the last row only
    the right neighbour counts, on the last column only the lower one, and the bottom-right pixel never is. The frame
    edge itself is never a boundary: a mask touching it has boundary pixels only where it changes value inside the
    frame (a full frame has none). Returns a bool array of the same shape.
    """
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(mask.shape, dtype=bool)
    _write_boundary(mask, out)
    return out


def _write_boundary(mask: np.ndarray, out: np.ndarray) -> None:
    """Write the boundary map of ``mask`` (``(H, W)`` or ``(T, H, W)`` bool) into ``out`` (same shape, zero-filled)."""
    if mask.ndim == 3:
        # Frame by frame: a frame's temporaries stay in the cache, several times faster than whole stacks.
        for frame, frame_out in zip(mask, out, strict=True):
            _write_boundary(frame, frame_out)
        return
    here = mask[:-1, :-1]
    inner = out[:-1, :-1]
    np.not_equal(here, mask[:-1, 1:], out=inner)
    inner |= here ^ mask[1:, :-1]
    inner |= here ^ mask[1:, 1:]
    np.not_equal(mask[-1, :-1], mask[-1, 1:], out=out[-1, :-1])
    np.not_equal(mask[:-1, -1], mask[1:, -1], out=out[:-1, -1])


def tolerance_radius(height: int, width: int, bound_th: float = DEFAULT_BOUND_TH) -> int:
    """The dilation radius in pixels: ``bound_th`` itself if >= 1, else ``ceil(bound_th * ‖(H, W)‖)`` (DAVIS).

    A ``bound_th >= 1`` must be a whole number: scikit-image's ``disk`` of a fractional radius is off-centre.
    """
    if not bound_th >= 0:
        raise GroPromptError(f"boundary tolerance bound_th must be >= 0, got {bound_th}")
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise GroPromptError(
                f"boundary tolerance bound_th={bound_th} is a fractional number of pixels",
                fix="give a whole number of pixels (>= 1) or a fraction of the image diagonal (< 1)",
            )
        return int(bound_th)
    # The same float64 expression as the official code, so the rounding up happens at the same place.
    return int(np.ceil(bound_th * np.linalg.norm((height, width))))


def boundary_measure(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, bound_th: float = DEFAULT_BOUND_TH
) -> float | np.ndarray:
    """F of boolean masks, bit-identical to the official DAVIS-2017 ``db_eval_boundary`` (docs/method_spec.md §8).

    Args:
        pred, gt: ``(H, W)`` or ``(T, H, W)`` bool masks of one shape.
        void: optional bool mask of the same shape. As in the official code, void pixels are cleared from both
            masks before their boundaries are taken (so a void region can create boundary pixels at its edge).
        bound_th: tolerance, see :func:`tolerance_radius`.

    Returns:
        ``2PR / (P + R)`` in [0, 1], where P is the share of predicted-boundary pixels within the tolerance disk of
        the ground-truth boundary and R the reverse. Empty predicted boundary: P=1, R=0 (F=0) if the ground truth
        has one; non-empty predicted boundary and empty ground-truth boundary: P=0, R=1 (F=0); both empty: F=1.
        A ``float`` for one frame, a ``(T,) float64`` array for a stack.
    """
    pred, gt, void = check_masks(pred, gt, void, "boundary measure F")
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
        void = None if void is None else void[None]
    frames, height, width = pred.shape
    scan = BoundaryScan(height, width, tolerance_radius(height, width, bound_th))
    f = np.empty(frames, dtype=np.float64)
    for window in scan.batches(frames):
        pred_part = pred[window] if void is None else pred[window] & ~void[window]
        gt_part = gt[window] if void is None else gt[window] & ~void[window]
        f[window] = scan.f(scan.of_masks(pred_part), scan.of_masks(gt_part))
    return float(f[0]) if single else f


def _f_from_counts(
    n_pred: np.ndarray, n_gt: np.ndarray, pred_matched: np.ndarray, gt_matched: np.ndarray
) -> np.ndarray:
    """F per frame from boundary-pixel counts, with the official edge rules and the official float operations."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_pred == 0, 1.0, np.where(n_gt == 0, 0.0, pred_matched / n_pred.astype(np.float64)))
        recall = np.where(n_gt == 0, 1.0, np.where(n_pred == 0, 0.0, gt_matched / n_gt.astype(np.float64)))
        total = precision + recall
        return np.where(total == 0, 0.0, 2 * precision * recall / total)


@dataclass(frozen=True)
class Boundaries:
    """The boundary of one mask on a batch of frames, in the padded geometry of a :class:`BoundaryScan`: what F
    needs of a mask, computed once and paired with any number of other masks' boundaries.

    Attributes:
        flat: ``(frames * frame_size,)`` bool, the padded boundary maps (for look-ups at disk offsets).
        points: sorted flat indices of the boundary pixels.
        blocks: the ``block × block`` cell of each point.
        near: flat bool per cell: does the cell or one of its 8 neighbours hold a boundary pixel?
        counts: ``(frames,)`` boundary pixels per frame.
    """

    flat: np.ndarray
    points: np.ndarray
    blocks: np.ndarray
    near: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class FrameBoundaries:
    """Boundary pixels of a mask stack kept frame by frame, sparse (a few per cent of the pixels), so that a video's
    ground-truth boundaries can be kept and paired with every prediction of it.

    Attributes:
        local: each boundary pixel's flat index inside its padded frame, frame after frame.
        indptr: ``(T + 1,)``: frame ``t``'s pixels are ``local[indptr[t]:indptr[t + 1]]``.
    """

    local: np.ndarray
    indptr: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        """``(T,)`` boundary pixels per frame."""
        return np.diff(self.indptr)


class BoundaryScan:
    """Counts boundary pixels within ``disk(radius)`` of another boundary, for batches of ``(H, W)`` frames.

    Padded geometry: each frame's boundary map sits at rows/columns ``radius ..`` of a zero frame whose sides are
    multiples of the block size, so every disk offset of an in-frame pixel stays inside its own padded frame.
    """

    def __init__(self, height: int, width: int, radius: int) -> None:
        self.radius = radius
        self.block = max(radius, 1)
        self.padded = (
            _round_up(height + 2 * radius, self.block),
            _round_up(width + 2 * radius, self.block),
        )
        self.shape = (height, width)
        self._blocks = (self.padded[0] // self.block, self.padded[1] // self.block)
        self.frame_size = self.padded[0] * self.padded[1]
        self.batch = max(1, _BATCH_PIXELS // self.frame_size)
        dy, dx = _disk_offsets(radius)
        nonzero = (dy != 0) | (dx != 0)
        self.offsets = (dy * self.padded[1] + dx)[nonzero]
        self.chunks = _chunk_bounds(len(self.offsets))

    def batches(self, frames: int) -> list[slice]:
        """Frame windows of at most :attr:`batch` frames covering ``range(frames)``."""
        return [slice(start, min(start + self.batch, frames)) for start in range(0, frames, self.batch)]

    def of_masks(self, mask: np.ndarray) -> Boundaries:
        """The boundaries of ``(t, H, W)`` bool masks (``t`` at most :attr:`batch`)."""
        out = np.zeros((len(mask), *self.padded), dtype=bool)
        r = self.radius
        _write_boundary(mask, out[:, r : r + self.shape[0], r : r + self.shape[1]])
        flat = out.reshape(-1)
        return self._with_points(flat, np.flatnonzero(flat), len(mask))

    def frame_boundaries(self, mask: np.ndarray) -> FrameBoundaries:
        """The sparse per-frame boundaries of a ``(T, H, W)`` bool stack."""
        local, counts = [], []
        for window in self.batches(len(mask)):
            part = self.of_masks(mask[window])
            local.append(part.points % self.frame_size)
            counts.append(part.counts)
        counts = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return FrameBoundaries(np.concatenate(local) if local else np.zeros(0, dtype=np.int64), indptr)

    def of_frames(self, boundaries: FrameBoundaries, window: slice) -> Boundaries:
        """The :class:`Boundaries` of frames ``window`` (at most :attr:`batch` of them) of a sparse stack."""
        counts = np.diff(boundaries.indptr[window.start : window.stop + 1])
        local = boundaries.local[boundaries.indptr[window.start] : boundaries.indptr[window.stop]]
        points = local + np.repeat(np.arange(len(counts), dtype=np.int64) * self.frame_size, counts)
        flat = np.zeros(len(counts) * self.frame_size, dtype=bool)
        flat[points] = True
        return self._with_points(flat, points, len(counts))

    def _with_points(self, flat: np.ndarray, points: np.ndarray, frames: int) -> Boundaries:
        blocks = self._block_index(points)
        rows, cols = self._blocks
        occupied = np.zeros(frames * rows * cols, dtype=bool)
        occupied[blocks] = True
        near = ndimage.maximum_filter(occupied.reshape(frames, rows, cols), size=(1, 3, 3), mode="constant")
        counts = np.bincount(points // self.frame_size, minlength=frames)
        return Boundaries(flat, points, blocks, near.reshape(-1), counts)

    def f(self, pred: Boundaries, gt: Boundaries) -> np.ndarray:
        """``(t,) float64`` F of a batch from the two masks' boundaries, bit-identical to the official code."""
        return _f_from_counts(pred.counts, gt.counts, self.matched(pred, gt), self.matched(gt, pred))

    def matched(self, source: Boundaries, target: Boundaries) -> np.ndarray:
        """Per frame, how many ``source`` pixels have a ``target`` pixel within the disk."""
        frames = len(source.counts)
        # Offset 0 first: where the boundaries coincide, nothing needs looking up.
        away = ~target.flat[source.points]
        points, blocks = source.points[away], source.blocks[away]
        unmatched = np.bincount(points // self.frame_size, minlength=frames)
        # Pixels with no target pixel in their 3 x 3 cell neighbourhood cannot match: no disk offset reaches further.
        points = points[target.near[blocks]]
        for start, stop in self.chunks:
            if points.size == 0:
                break
            hit = np.zeros(points.size, dtype=bool)
            for offset in self.offsets[start:stop]:
                hit |= target.flat[points + offset]
            unmatched -= np.bincount(points[hit] // self.frame_size, minlength=frames)
            points = points[~hit]
        return source.counts - unmatched

    def _block_index(self, points: np.ndarray) -> np.ndarray:
        """Flat index of the ``block × block`` cell holding each point (flat padded index)."""
        frame, offset = np.divmod(points, self.frame_size)
        y, x = np.divmod(offset, self.padded[1])
        rows, cols = self._blocks
        return (frame * rows + y // self.block) * cols + x // self.block


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _disk_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """The offsets ``(dy, dx)`` of scikit-image's ``disk(radius)`` (``dy² + dx² <= radius²``), nearest first."""
    dy, dx = np.nonzero(disk(radius))
    dy, dx = dy - radius, dx - radius
    order = np.argsort(dy * dy + dx * dx, kind="stable")
    return dy[order], dx[order]


def _chunk_bounds(count: int) -> list[tuple[int, int]]:
    """Chunks of the offset list that double in size (4, 8, 16, ...): most pixels match among the nearest few."""
    bounds, start, size = [], 0, 4
    while start < count:
        bounds.append((start, min(start + size, count)))
        start, size = start + size, size * 2
    return bounds
