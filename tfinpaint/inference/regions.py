"""Context windows around the holes of a large image: what the "crop" strategy runs.

A photo from a camera with a few strokes painted on it is mostly known pixels: running the
network on all 24 million of them costs minutes and gigabytes for nothing. `hole_windows` groups
the holes into regions (8-connected components, after joining those closer than `join` pixels)
and gives each a window of context around it: `context` times the region's box on each axis
(2 by default), at least `min_side` (the model's training size: the network has learnt what a
hole looks like at that scale) and never past the image. Windows that overlap are merged into
their union until none overlaps, so every hole pixel lies in exactly one window, and each
window is inpainted as an image of its own.
"""

import cv2
import numpy as np

__all__ = [
    "AUTO_PAD_PIXELS",
    "AUTO_MAX_TILES",
    "choose_strategy",
    "hole_depth",
    "max_hole_depth",
    "hole_windows",
    "tile_starts",
    "windows_area",
]

# The "auto" rule's limits (see `choose_strategy`).
AUTO_PAD_PIXELS = 1024 * 1024
AUTO_CROP_AREA = 0.5
AUTO_MAX_TILES = 16
# How deep a hole (the largest distance from a hole pixel to the nearest known pixel, in the
# network's input pixels) the network fills well, as a share of its training size. Measured on
# pconv_small_photos (trained at 256 px) with strokes across a 2560 px photo at full
# resolution: depth 21 and 41 px kept the photo's colours (hole chroma 52 and 51 against 51);
# at 61 and 81 px the middle of the stroke turned grey-blue (45 and 38 against 50), the colour
# streaks of tiled fills. 48 px at 256.
HOLE_DEPTH_SHARE = 48 / 256
# A crop window spans this many times its group of holes on each axis: context on every side
# as wide as the holes themselves. At 3, the three strokes of a 24 MP test photo merged into one
# window over 26 % of it, downscaled 6x; at 2 they keep windows of their own.
CROP_CONTEXT = 2.0


def _window(low, high, side, limit):
    """[start, stop) of `side` pixels centred on [low, high), shifted to fit [0, limit)."""
    side = min(max(side, high - low), limit)
    start = (low + high - side) // 2
    start = min(max(start, 0), limit - side)
    return start, start + side


def _merge(boxes):
    """Unions of overlapping (top, left, bottom, right) boxes until no two overlap."""
    boxes = [tuple(int(v) for v in box) for box in boxes]
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        array = np.asarray(boxes)
        for i in range(len(boxes)):
            top, left, bottom, right = array[i]
            overlap = (
                (array[:, 0] < bottom)
                & (array[:, 2] > top)
                & (array[:, 1] < right)
                & (array[:, 3] > left)
            )
            overlap[i] = False
            if overlap.any():
                group = np.concatenate([array[i : i + 1], array[overlap]])
                union = (
                    int(group[:, 0].min()),
                    int(group[:, 1].min()),
                    int(group[:, 2].max()),
                    int(group[:, 3].max()),
                )
                boxes = [box for j, box in enumerate(boxes) if j != i and not overlap[j]]
                boxes.append(union)
                merged = True
                break
    return sorted(boxes)


def hole_windows(holes, min_side, context=CROP_CONTEXT, join=None):
    """Non-overlapping windows (top, left, bottom, right) that hold every hole with context.

    Args:
        holes: bool array (H, W), True = hole.
        min_side: int. Smallest window side (clipped to the image), e.g. the training size.
        context: float >= 1. Each window spans this many times its region's box per axis.
        join: int or None. Holes closer than this many pixels form one region (default:
            min_side // 8), so that a dotted stroke or a speckled mask is one window, not
            thousands.

    Returns:
        A sorted list of (top, left, bottom, right) windows, half-open, inside the image; empty
        when there is no hole.
    """
    holes = np.asarray(holes, bool)
    if holes.ndim != 2:
        raise ValueError(f"Received holes of shape {holes.shape}; expected (H, W).")
    if not context >= 1.0:
        raise ValueError(f"Received context={context!r}; expected a number >= 1.")
    if not isinstance(min_side, (int, np.integer)) or min_side < 1:
        raise ValueError(f"Received min_side={min_side!r}; expected a positive int.")
    if not holes.any():
        return []
    height, width = holes.shape
    join = max(1, min_side // 8) if join is None else int(join)
    grouped = holes.astype(np.uint8)
    if join > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (join, join))
        grouped = cv2.dilate(grouped, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    boxes = []
    for label in range(1, count):
        left, top, box_w, box_h = (int(v) for v in stats[label, :4])
        # The dilated box holds the holes of the region; its own box is no larger.
        region = holes[top : top + box_h, left : left + box_w] & (
            labels[top : top + box_h, left : left + box_w] == label
        )
        if not region.any():
            continue
        rows, cols = np.nonzero(region.any(axis=1))[0], np.nonzero(region.any(axis=0))[0]
        low_y, high_y = top + int(rows[0]), top + int(rows[-1]) + 1
        low_x, high_x = left + int(cols[0]), left + int(cols[-1]) + 1
        side_y = max(min_side, int(np.ceil(context * (high_y - low_y))))
        side_x = max(min_side, int(np.ceil(context * (high_x - low_x))))
        window_top, window_bottom = _window(low_y, high_y, side_y, height)
        window_left, window_right = _window(low_x, high_x, side_x, width)
        boxes.append((window_top, window_left, window_bottom, window_right))
    return _merge(boxes)


def hole_depth(holes):
    """The largest distance (pixels, Euclidean) from a hole pixel to the nearest known pixel."""
    holes = np.asarray(holes, bool)
    if not holes.any():
        return 0.0
    if holes.all():
        return float(np.hypot(*holes.shape))
    distances = cv2.distanceTransform(holes.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    return float(distances.max())


def max_hole_depth(min_side):
    """The deepest hole a network trained at `min_side` px fills at its own scale."""
    return HOLE_DEPTH_SHARE * min_side


def windows_area(windows):
    """Total pixels of non-overlapping windows."""
    return sum((bottom - top) * (right - left) for top, left, bottom, right in windows)


def tile_starts(size, tile, overlap):
    """Evenly spread tile origins covering [0, size) with overlaps of at least `overlap`."""
    if size <= tile:
        return [0]
    count = int(np.ceil((size - tile) / (tile - overlap))) + 1
    return sorted({round(v) for v in np.linspace(0, size - tile, count)})


def _tiles_with_holes(holes, tile):
    """How many tiles of the tile strategy's layout (quarter overlaps) hold holes."""
    height, width = holes.shape
    return sum(
        bool(holes[top : top + tile, left : left + tile].any())
        for top in tile_starts(height, tile, tile // 4)
        for left in tile_starts(width, tile, tile // 4)
    )


def choose_strategy(holes, max_size, min_side, pad_fits=True):
    """The strategy "auto" runs for one image, and why, in a few words.

    The rule, in order:
    1. "pad" (the whole image at once, the best context) when the image has at most
       `AUTO_PAD_PIXELS` pixels (1 MP: seconds on 2 CPU cores, even as a self-ensemble), its
       memory estimate fits (`pad_fits`) and its holes are no deeper than the network fills
       well at full resolution (`max_hole_depth`);
    2. "crop" when the context windows around the holes (`hole_windows`) cover at most
       `AUTO_CROP_AREA` of the image, or when the holes are too deep for full resolution (crop
       downscales each window until its holes are shallow enough): a few strokes on a camera
       photo cost what a small image costs;
    3. "tile" when at most `AUTO_MAX_TILES` tiles of `max_size` hold holes: holes spread over
       a large image, still filled at full resolution;
    4. "resize" otherwise: the whole image downscaled to `max_size`, only its hole pixels
       upscaled back (fast and bounded, but the fills are softer).

    Args:
        holes: bool array (H, W).
        max_size: int. Largest side the network sees for crop, tile and resize.
        min_side: int. Smallest crop window side (the model's training size).
        pad_fits: bool. Whether "pad" fits the memory available.

    Returns:
        (strategy, reason): e.g. ("crop", "3 windows over 4 % of the image").
    """
    height, width = holes.shape
    depth = hole_depth(holes)
    shallow = depth <= max_hole_depth(min_side)
    if height * width <= AUTO_PAD_PIXELS and pad_fits and shallow:
        return "pad", f"{height}x{width} is at most {AUTO_PAD_PIXELS / 1e6:.1f} MP"
    windows = hole_windows(holes, min(min_side, max_size))
    share = windows_area(windows) / float(height * width)
    if share <= AUTO_CROP_AREA or not shallow:
        because = (
            f"holes {depth:.0f} px deep"
            if not shallow
            else f"over {100 * share:.0f} % of the image"
        )
        return "crop", f"{len(windows)} window(s), {because}"
    tiles = _tiles_with_holes(holes, max_size)
    if tiles <= AUTO_MAX_TILES:
        return "tile", f"holes in {tiles} tile(s) of {max_size} px"
    return "resize", f"holes in {tiles} tiles of {max_size} px, over {AUTO_MAX_TILES}"
