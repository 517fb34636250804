"""Per-sample hole-mask generators for the tf.data pipeline (SPEC.md section 7, "Masks").

Every generator is a pure function of a stateless seed, so a mask can be drawn inside
`tf.data.Dataset.map(..., num_parallel_calls=tf.data.AUTOTUNE)` and redrawn identically later:
the same seed gives the same mask, eagerly or in a graph, whatever the thread that runs it.
Masks are (S, S, 1) float32 in {0, 1} with **1 = hole**; each comes with the hole's bounding
box `[y0, x0, y1, x1]` (end-exclusive, `[0, 0, 0, 0]` for an empty mask), which GLCIC's local
discriminator crops around.

Kinds and the papers they come from:

- `rect`: one rectangle (GLCIC 96-128 px; cascade U[low, 1]; DeepGIN 30-70 % per side).
- `freeform`: DeepFill v2 brush strokes (Yu et al., ICCV 2019), `freeform:box` adds its box,
  `freeform:scaled` scales the stroke widths with the image size (not the reference).
- `ca`: the AIM 2020 / DeepGIN cellular-automata masks.
- `thin`, `medium`, `thick`: the LaMa evaluation presets (Suvorov et al., WACV 2022).
- `irregular:DIR`: PNG files such as the NVIDIA irregular mask set (Liu et al., ECCV 2018).
- `mixed:` a weighted choice per sample; `each:` / `deepgin` several masks per image.

Rectangles are pure TensorFlow. Everything else is drawn with OpenCV (DeepFill v2 strokes with
Pillow, as the reference draws them) inside `tf.numpy_function` from
`np.random.default_rng(seed)`: SPEC's speed note measured a dense TF stroke rasteriser at ~15
masks/s against ~1000/s for a cv2 loop.

Example:

    mask_fns = make_mask_fns("freeform", image_size=256)
    sample = mask_fns[0](tf.constant([7, 42]))
    sample["masks"].shape, sample["boxes"]  # (256, 256, 1), [y0, x0, y1, x1]
"""

import logging
import math
import os
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from tfinpaint.data import image_files, sources

SPEC_GRAMMAR = """Mask spec grammar (the `masks=` argument of the data pipeline):

  rect                 one rectangle, each side U[0.25, 0.5] of the image side, uniform position
  rect:LOW-HIGH        sides in [LOW, HIGH]: numbers <= 1 are fractions of the image side
                       (rect:0.2-1, rect:0.3-0.7), integers > 1 are pixels (rect:96-128)
  freeform             DeepFill v2 brush strokes, 12-39 px wide at every image_size as in the
                       reference: mean hole ratio about 0.44 at 64 px, 0.15 at 256, 0.085 at 512
  freeform:box         the same strokes OR a DeepFill v2 random box (half the image side)
  freeform:scaled      stroke widths scaled by image_size / 256 (not the reference: every size
                       then covers about as much as 256 px does); freeform:box+scaled for both
  ca                   cellular automata (AIM 2020 / DeepGIN), mean hole ratio about 0.5
  thin | medium | thick
                       LaMa presets (lengths and widths scaled by image_size / 256), <= 50 % hole
  irregular:DIR        PNG masks found recursively under DIR (see `irregular_polarity`)
  mixed:KIND=W,...     one KIND per sample, chosen with probability proportional to W
                       (mixed:rect:0.3-0.7=1,freeform=2,ca=1)
  each:KIND,...        k masks per image, one of each KIND (the pipeline repeats each image k times)
  deepgin              alias of each:rect:0.3-0.7,freeform,ca (DeepGIN's three masks per image)

KIND inside mixed: and each: is any of the simple kinds above (not mixed, each or deepgin).
"""

POLARITIES = ("hole_white", "hole_black")

_VALID_SPECS_TEXT = (
    "one of rect, rect:LOW-HIGH, freeform[:box|scaled|box+scaled], ca, thin, medium, thick, "
    "irregular:DIR, mixed:KIND=W,..., each:KIND,... or deepgin"
)
_SIMPLE_KINDS_TEXT = (
    "rect, rect:LOW-HIGH, freeform[:box|scaled|box+scaled], ca, thin, medium, thick or "
    "irregular:DIR"
)
_DEEPGIN_KINDS = ("rect:0.3-0.7", "freeform", "ca")
_MIN_IMAGE_SIZE = 8

# `rect` without a range: each side a quarter to a half of the image side.
_DEFAULT_RECT_RANGE = (0.25, 0.5)

# DeepFill v2 brush strokes (`brush_stroke_mask` in the reference); pixel sizes are at 256 px.
_FREEFORM_REFERENCE_SIZE = 256
_FREEFORM_MIN_STROKES, _FREEFORM_MAX_STROKES = 1, 3
_FREEFORM_MIN_VERTICES, _FREEFORM_MAX_VERTICES = 4, 11
_FREEFORM_MEAN_ANGLE = 2 * math.pi / 5
_FREEFORM_ANGLE_RANGE = 2 * math.pi / 15
_FREEFORM_MIN_WIDTH, _FREEFORM_MAX_WIDTH = 12, 40  # int(U[12, 40)) -> 12..39 px
# DeepFill v2's training box: a 128 px square at 256 px whose sides each shrink by 0..16 px
# (`random_bbox` with height = width = 128, `bbox2mask` with max_delta = 32).
_FREEFORM_BOX_FRACTION = 0.5
_FREEFORM_BOX_MAX_SHRINK = 16
# Options of `freeform:`, in the order `_kind_text` writes them.
_FREEFORM_OPTIONS = ("box", "scaled")

# Cellular automata (AIM 2020 / DeepGIN).
_CA_SCALES = (1, 2, 4, 8)
_CA_MIN_STEPS, _CA_MAX_STEPS = 2, 6
_CROSS_KERNEL = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))

# LaMa presets (configs/eval random_{thin,medium,thick}_256), pixel sizes at 256 px.
_LAMA_REFERENCE_SIZE = 256
_LAMA_MAX_HOLE_RATIO = 0.5
# Redraws before giving up on the 50 % bound. Measured rejection rates over 1000 draws:
# thin 3 %, medium 0.5 %, thick 41 % at 256 px (22 %, 1.5 %, 45 % at 64 px), so running out
# (0.45 ** 100) does not happen in practice; if it did, the smallest draw would be kept.
_LAMA_MAX_DRAWS = 100
_LAMA_PRESETS = {
    "thin": {
        "min_strokes": 4,
        "max_strokes": 50,
        "max_len": 40,
        "max_width": 10,
        "box": None,
    },
    "medium": {
        "min_strokes": 4,
        "max_strokes": 5,
        "max_len": 100,
        "max_width": 50,
        "box": {
            "probability": 0.3,
            "margin": 0,
            "min_size": 10,
            "max_size": 50,
            "min_boxes": 1,
            "max_boxes": 5,
        },
    },
    "thick": {
        "min_strokes": 1,
        "max_strokes": 5,
        "max_len": 200,
        "max_width": 100,
        "box": {
            "probability": 0.3,
            "margin": 10,
            "min_size": 30,
            "max_size": 150,
            "min_boxes": 1,
            "max_boxes": 3,
        },
    },
}

# NVIDIA irregular masks: sizes at 512 px, their native resolution.
_IRREGULAR_REFERENCE_SIZE = 512
logger = logging.getLogger(__name__)
_IRREGULAR_TRAIN_THRESHOLD = 0.6
_IRREGULAR_EVAL_THRESHOLD = 0.5
_IRREGULAR_MIN_DILATION, _IRREGULAR_MAX_DILATION = 9, 49
# The crop keeps 60-100 % of the file's side (a zoom of at most 1.67x), so a crop still shows a
# good part of the mask's structure.
_IRREGULAR_MIN_CROP = 0.6

# Redraws of an empty mask (cellular automata, augmented irregular masks) before giving up.
_MAX_EMPTY_REDRAWS = 20

# Salts folded into the seed so that the choice in `mixed:` and the k masks of `each:` are
# independent of the draws of the mask itself.
_MIXED_CHOICE_SALT = 0x6D697864
_RECT_POSITION_SALT = 1

MaskFn = Callable[[tf.Tensor], dict]


# === Spec parsing ===


def _parse_rect_range(spec, option):
    """Returns (low, high, in_pixels) for `rect:LOW-HIGH`."""
    error = ValueError(
        f"Mask spec {spec!r} has a bad rect side range {option!r}; expected rect:LOW-HIGH with "
        "0 < LOW <= HIGH <= 1 (fractions of the image side) or integers 1 < LOW <= HIGH (pixels)."
    )
    parts = option.split("-")
    if len(parts) != 2:
        raise error
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise error from None
    if 0 < low <= high <= 1:
        return low, high, False
    is_integer = all(p.strip().isdigit() for p in parts)
    if is_integer and 1 < low <= high:
        return int(low), int(high), True
    raise error


def _parse_freeform_options(spec, option):
    """Returns (with_box, scaled_widths) for `freeform[:OPTION[+OPTION]]`."""
    if option is None:
        return (False, False)
    names = option.split("+")
    if not all(name in _FREEFORM_OPTIONS for name in names) or len(set(names)) < len(names):
        raise ValueError(
            f"Mask spec {spec!r} has bad freeform options {option!r}; expected freeform, "
            "freeform:box, freeform:scaled or freeform:box+scaled."
        )
    return ("box" in names, "scaled" in names)


def _parse_simple(spec, text):
    """Parses one simple kind into (kind, option); `spec` is the whole string, for errors."""
    kind, colon, option = text.strip().partition(":")
    if kind == "rect":
        if not colon:
            return ("rect", (*_DEFAULT_RECT_RANGE, False))
        return ("rect", _parse_rect_range(spec, option.strip()))
    if kind == "freeform":
        return ("freeform", _parse_freeform_options(spec, option.strip() if colon else None))
    if kind in ("ca", "thin", "medium", "thick") and not colon:
        return (kind, None)
    if kind == "irregular" and option.strip():
        return ("irregular", option.strip())
    if kind in ("mixed", "each", "deepgin") and spec.strip() != text.strip():
        raise ValueError(
            f"Mask spec {spec!r} nests {text!r}; expected only {_SIMPLE_KINDS_TEXT} inside "
            "mixed: and each:."
        )
    raise ValueError(f"Unknown mask spec {spec!r} (at {text!r}); expected {_VALID_SPECS_TEXT}.")


def _parse_spec(spec):
    """Parses a spec into ("single", kind) / ("mixed", [(kind, weight)]) / ("each", [kind])."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"Unknown mask spec {spec!r}; expected {_VALID_SPECS_TEXT}.")
    text = spec.strip()
    if text == "deepgin":
        return ("each", [_parse_simple(spec, kind) for kind in _DEEPGIN_KINDS])
    head, _, body = text.partition(":")
    if head == "each":
        items = [item.strip() for item in body.split(",")]
        if not body.strip() or not all(items):
            raise ValueError(
                f"Mask spec {spec!r} has an empty kind list; expected each:KIND,KIND,... "
                f"with KIND one of {_SIMPLE_KINDS_TEXT}."
            )
        return ("each", [_parse_simple(spec, item) for item in items])
    if head == "mixed":
        choices = []
        for item in body.split(","):
            kind_text, equals, weight_text = item.strip().rpartition("=")
            try:
                weight = float(weight_text)
            except ValueError:
                weight = float("nan")
            if not equals or not kind_text or not (weight > 0 and math.isfinite(weight)):
                raise ValueError(
                    f"Mask spec {spec!r} has a bad entry {item.strip()!r}; expected "
                    "mixed:KIND=W,KIND=W,... with positive numeric weights W."
                )
            choices.append((_parse_simple(spec, kind_text), weight))
        return ("mixed", choices)
    return ("single", _parse_simple(spec, text))


def num_masks_per_image(spec: str) -> int:
    """Number of masks the pipeline draws per image for `spec`: k for `each:`, 3 for `deepgin`.

    Args:
        spec: str. A mask spec (see `SPEC_GRAMMAR`).

    Returns:
        int. The length of the list `make_mask_fns(spec, ...)` returns.
    """
    mode, kinds = _parse_spec(spec)
    return len(kinds) if mode == "each" else 1


# === Helpers shared by the numpy generators ===


def _redraw_while_empty(draw_once):
    """Calls `draw_once()` until it returns a hole; gives the last draw up after a few tries."""
    for _ in range(_MAX_EMPTY_REDRAWS):
        hole = draw_once()
        if hole.any():
            return hole
    return hole


def _numpy_box(hole):
    """Tight [y0, x0, y1, x1] (end-exclusive) of the nonzero pixels, zeros when empty."""
    rows = np.flatnonzero(hole.any(axis=1))
    if rows.size == 0:
        return np.zeros(4, np.int32)
    cols = np.flatnonzero(hole.any(axis=0))
    return np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1], np.int32)


def _rng_from_seed(seed):
    # Seeds may be negative int32/int64 tensors; SeedSequence wants non-negative integers, and
    # reducing modulo 2**64 keeps distinct seeds distinct.
    return np.random.default_rng([int(value) % (1 << 64) for value in seed])


def _numpy_generator(draw):
    """Wraps `draw(rng) -> (S, S) uint8 hole map` as a seed -> (masks, boxes) graph op."""

    def draw_from_seed(seed):
        hole = draw(_rng_from_seed(seed))
        return hole, _numpy_box(hole)

    def generate(seed):
        # stateful=False: the output depends on the seed alone, which lets tf.data and Grappler
        # treat the op as the pure function it is.
        hole, boxes = tf.numpy_function(
            draw_from_seed, [seed], [tf.uint8, tf.int32], stateful=False
        )
        # uint8 crosses the Python boundary (a quarter of the bytes); TF casts faster than numpy.
        return tf.cast(hole, tf.float32)[..., None], boxes

    return generate


def _scaled(pixels, scale):
    """A reference pixel size at another image size, at least one pixel."""
    return max(1, round(float(pixels) * scale))


# === Rectangles (pure TensorFlow) ===


def _rect_generator(image_size, low, high, in_pixels):
    size = image_size

    def generate(seed):
        if in_pixels:
            sides = tf.random.stateless_uniform(
                [2], seed, minval=low, maxval=high + 1, dtype=tf.int32
            )
        else:
            fractions = tf.random.stateless_uniform([2], seed, minval=low, maxval=high)
            sides = tf.cast(tf.round(fractions * size), tf.int32)
        sides = tf.clip_by_value(sides, 1, size)
        position_seed = tf.random.experimental.stateless_fold_in(seed, _RECT_POSITION_SALT)
        uniform = tf.random.stateless_uniform([2], position_seed)
        # Uniform integer start in [0, size - side] per axis; the minimum guards u -> 1.
        num_starts = size - sides + 1
        starts = tf.minimum(
            tf.cast(uniform * tf.cast(num_starts, tf.float32), tf.int32), num_starts - 1
        )
        ends = starts + sides
        index = tf.range(size)
        rows = (index >= starts[0]) & (index < ends[0])
        cols = (index >= starts[1]) & (index < ends[1])
        masks = tf.cast(rows[:, None] & cols[None, :], tf.float32)[..., None]
        boxes = tf.concat([starts, ends], axis=0)  # [y0, x0] + [y1, x1]
        return masks, boxes

    return generate


# === DeepFill v2 free-form strokes ===


def _draw_stroke(draw, vertices, width):
    """One DeepFill v2 stroke: a `width`-wide polyline with a round joint at every vertex.

    Drawn with Pillow, as the reference does (`ImageDraw.line(width=w)` plus an ellipse of
    bounding box v +- w // 2 per vertex), because OpenCV cannot draw the same stroke:
    `cv2.polylines(thickness=w)` is w + 1 px wide for even w and w + 2 px for odd w (only odd
    widths exist; its caps are round): on the same 1500 seeds at 256 px its strokes covered
    0.154 of the image against Pillow's 0.150. Pillow's wide line is exactly w px across a
    horizontal or vertical segment, and it is fast enough (~0.1 ms a mask at 256 px).
    """
    draw.line(vertices, fill=1, width=width)
    half = width // 2
    for x, y in vertices:
        draw.ellipse((x - half, y - half, x + half, y + half), fill=1)


def _draw_freeform(rng, size, with_box, scaled_widths=False):
    """DeepFill v2 `brush_stroke_mask`, with H and W kept apart and the flips actually done.

    The widths are the reference's 12-39 px at every image size, so the hole ratio falls with
    the size as in DeepFill v2 (about 0.44 at 64 px, 0.15 at 256 px, 0.085 at 512 px: the
    vertex spacing r grows with the image, the width does not). `scaled_widths=True`
    (`freeform:scaled`) multiplies them by size / 256 instead, so that every size looks like a
    256 px mask resized; that is not the reference. The optional box is a fraction of the image
    either way.
    """
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    scale = size / _FREEFORM_REFERENCE_SIZE
    radius = math.sqrt(size * size + size * size) / 8
    for _ in range(rng.integers(_FREEFORM_MIN_STROKES, _FREEFORM_MAX_STROKES + 1)):
        num_vertices = int(rng.integers(_FREEFORM_MIN_VERTICES, _FREEFORM_MAX_VERTICES + 1))
        angle_min = _FREEFORM_MEAN_ANGLE - rng.uniform(0, _FREEFORM_ANGLE_RANGE)
        angle_max = _FREEFORM_MEAN_ANGLE + rng.uniform(0, _FREEFORM_ANGLE_RANGE)
        angles = rng.uniform(angle_min, angle_max, num_vertices)
        angles[::2] = 2 * math.pi - angles[::2]  # turn the other way on even vertices
        lengths = np.clip(rng.normal(radius, radius / 2, num_vertices), 0, 2 * radius)
        width = int(rng.uniform(_FREEFORM_MIN_WIDTH, _FREEFORM_MAX_WIDTH))
        if scaled_widths:
            width = _scaled(width, scale)
        x, y = int(rng.integers(size)), int(rng.integers(size))
        vertices = [(x, y)]
        # Sequential because every vertex is clipped to the image before the next step.
        for angle, length in zip(angles.tolist(), lengths.tolist()):
            x = int(min(max(x + length * math.cos(angle), 0), size - 1))
            y = int(min(max(y + length * math.sin(angle), 0), size - 1))
            vertices.append((x, y))
        _draw_stroke(draw, vertices, width)
    hole = np.array(image)  # a writable copy: the box below is drawn into it
    if rng.random() < 0.5:
        hole = hole[:, ::-1]
    if rng.random() < 0.5:
        hole = hole[::-1, :]
    hole = np.ascontiguousarray(hole)
    if with_box:
        side = _scaled(_FREEFORM_BOX_FRACTION * _FREEFORM_REFERENCE_SIZE, scale)
        top, left = rng.integers(0, size - side + 1, 2)
        max_shrink = int(_FREEFORM_BOX_MAX_SHRINK * scale)
        shrink_y, shrink_x = rng.integers(0, max_shrink + 1, 2)
        hole[top + shrink_y : top + side - shrink_y, left + shrink_x : left + side - shrink_x] = 1
    return hole


# === Cellular automata ===


def _draw_ca_once(rng, size):
    scale = _CA_SCALES[rng.integers(len(_CA_SCALES))]
    grid_size = -(-size // scale)
    grid = (rng.random((grid_size, grid_size)) < 0.5).astype(np.uint8)
    for _ in range(rng.integers(_CA_MIN_STEPS, _CA_MAX_STEPS + 1)):
        # A 3x3 median of binary cells is a majority vote: at least 5 of the 9 are set. The
        # constant border makes the cells outside the grid count as 0 (SPEC's zero border).
        votes = cv2.boxFilter(grid, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
        grid = (votes >= 5).astype(np.uint8)
    full = grid_size * scale
    hole = cv2.resize(grid, (full, full), interpolation=cv2.INTER_NEAREST_EXACT)
    hole = np.ascontiguousarray(hole[:size, :size])
    if scale > 1:
        hole = cv2.dilate(hole, _CROSS_KERNEL)
    return hole


def _draw_ca(rng, size):
    """AIM 2020 / DeepGIN cellular automata: a smoothed coin-flip grid at a random scale.

    As in the reference (`ndimage.median_filter(mode="constant")`), the zero border erodes the
    grid at every step; on the coarse grids of small images (8 x 8 cells at 64 px and scale 8)
    that can erase everything. Empty draws are redrawn (an empty mask teaches nothing and
    divides hole-normalised losses by zero): 6 % of single draws at 64 px, none of 1000 at
    256 px.
    """
    return _redraw_while_empty(lambda: _draw_ca_once(rng, size))


# === LaMa presets ===


def _draw_lama_once(rng, size, preset):
    hole = np.zeros((size, size), np.uint8)
    scale = size / _LAMA_REFERENCE_SIZE
    num_strokes = int(rng.integers(preset["min_strokes"], preset["max_strokes"] + 1))
    # All draws at once (up to 5 segments per stroke): one Generator call per quantity instead
    # of several per segment, which dominated the cost of `thin` (up to 250 segments).
    starts = rng.integers(size, size=(num_strokes, 2)).tolist()
    num_segments = (1 + rng.integers(5, size=num_strokes)).tolist()
    angles = 0.01 + rng.integers(4, size=(num_strokes, 5))
    angles[::2] = 2 * math.pi - angles[::2]  # LaMa mirrors the direction of every other stroke
    lengths = (10 + rng.integers(preset["max_len"], size=(num_strokes, 5))) * scale
    widths = 5 + rng.integers(preset["max_width"], size=(num_strokes, 5))
    widths = np.maximum(1, np.rint(widths * scale)).astype(int)
    for (x, y), count, stroke_angles, stroke_lengths, stroke_widths in zip(
        starts, num_segments, angles.tolist(), lengths.tolist(), widths.tolist()
    ):
        for angle, length, width in zip(
            stroke_angles[:count], stroke_lengths[:count], stroke_widths[:count]
        ):
            # LaMa steps x with sin and y with cos; kept so the directions match the reference.
            end_x = min(max(int(x + length * math.sin(angle)), 0), size - 1)
            end_y = min(max(int(y + length * math.cos(angle)), 0), size - 1)
            cv2.line(hole, (x, y), (end_x, end_y), 1, width)
            x, y = end_x, end_y
    box = preset["box"]
    # SPEC reads "strokes plus boxes with probability 0.3": the boxes are added to the strokes
    # (LaMa's MixedMaskGenerator instead picks one of the two generators per mask).
    if box is not None and rng.random() < box["probability"]:
        margin = round(box["margin"] * scale)
        room = max(1, size - 2 * margin)
        for _ in range(rng.integers(box["min_boxes"], box["max_boxes"] + 1)):
            height, width = rng.integers(box["min_size"], box["max_size"], 2)
            height, width = min(_scaled(height, scale), room), min(_scaled(width, scale), room)
            top = int(rng.integers(margin, size - margin - height + 1))
            left = int(rng.integers(margin, size - margin - width + 1))
            hole[top : top + height, left : left + width] = 1
    return hole


def _draw_lama(rng, size, preset):
    """Draws until the hole ratio is at most 50 % (LaMa discards bigger masks)."""
    best, best_ratio = None, 2.0
    for _ in range(_LAMA_MAX_DRAWS):
        hole = _draw_lama_once(rng, size, preset)
        ratio = hole.mean()
        if ratio <= _LAMA_MAX_HOLE_RATIO:
            return hole
        if ratio < best_ratio:
            best, best_ratio = hole, ratio
    return best


# === Irregular masks from files ===


def _list_pngs(folder):
    """The PNG files under `folder`, checked before any run: entries that are not regular
    files are skipped with a warning (`sources.skip_non_regular`), and the first file that
    reads (`_IrregularFiles`) must exist, so a folder of damaged masks is refused here."""
    if not os.path.isdir(folder):
        kind = image_files.describe_file_type(folder)
        where = "does not exist" if kind == "missing" else f"is {kind}, not a folder"
        raise ValueError(
            f"Mask folder {folder!r} {where}; expected a folder of PNG masks for irregular:DIR."
        )
    paths = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if name.lower().endswith(".png")
    )
    paths = sources.skip_non_regular(paths)
    if not paths:
        raise ValueError(
            f"Mask folder {folder!r} holds no PNG files; expected at least one *.png under it "
            "(searched recursively) for irregular:DIR."
        )
    return paths


class _IrregularFiles:
    """The mask files of an `irregular:DIR` spec, read through the mask rule; damaged ones, and
    ones without a hole pixel, are skipped with one warning each, as the image pipeline skips
    damaged images.

    `level(index, polarity)` returns the hole level of file `index`, or of the next readable
    file after it (in sorted order, wrapping), so a damaged file never stops a run mid-way;
    the constructor reads files in order until one reads, refusing a folder with none.
    """

    def __init__(self, folder, paths, polarity):
        self.folder, self.paths, self.polarity = folder, paths, polarity
        self._bad = {}
        self._lock = threading.Lock()
        for index in range(len(paths)):
            if self._read(index) is not None:
                return
        first = next(iter(self._bad.items()))
        raise ValueError(
            f"None of the {len(paths)} PNG masks in {folder!r} is readable (first: {first[1]}); "
            "expected grayscale PNG masks for irregular:DIR."
        )

    def _read(self, index):
        path = self.paths[index]
        if path in self._bad:
            return None
        try:
            level = image_files.read_hole_level(path, self.polarity)
            if not (level >= 0.5).any():  # Never a silent 0 % of holes.
                raise ValueError(f"{path} has no hole pixel (nothing at or past 0.5)")
            return level
        except (OSError, ValueError) as error:
            with self._lock:
                first_time = path not in self._bad
                self._bad[path] = str(error).rstrip(".")
                count = len(self._bad)
            if first_time:
                logger.warning(
                    "Skipping damaged mask %s (%d of %d skipped so far): %s",
                    path,
                    count,
                    len(self.paths),
                    error,
                )
            return None

    def level(self, index):
        for step in range(len(self.paths)):
            level = self._read((index + step) % len(self.paths))
            if level is not None:
                return level
        raise ValueError(
            f"Every PNG mask in {self.folder!r} is unreadable; expected grayscale PNG masks."
        )


def _augment_irregular(rng, hole, size):
    """One random rotation, crop (with its translation), resize and dilation of a hole map."""
    source_height, source_width = hole.shape
    angle = rng.uniform(0, 2 * math.pi)
    crop = rng.uniform(_IRREGULAR_MIN_CROP, 1.0)
    shift_y, shift_x = rng.uniform(-0.5, 0.5, 2) * (1.0 - crop)
    # Inverse map, output pixel -> file pixel: rotate about the output centre, scale the crop
    # window to the output, then move to the window's centre in the file.
    cos, sin = math.cos(angle), math.sin(angle)
    scale_x, scale_y = crop * source_width / size, crop * source_height / size
    linear = np.array([[scale_x * cos, -scale_x * sin], [scale_y * sin, scale_y * cos]])
    window_centre = np.array(
        [
            (source_width - 1) / 2 + shift_x * source_width,
            (source_height - 1) / 2 + shift_y * source_height,
        ]
    )
    output_centre = np.full(2, (size - 1) / 2)
    affine = np.concatenate([linear, (window_centre - linear @ output_centre)[:, None]], axis=1)
    hole = cv2.warpAffine(
        hole,
        affine,
        (size, size),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    kernel_pixels = rng.integers(_IRREGULAR_MIN_DILATION, _IRREGULAR_MAX_DILATION + 1)
    kernel_size = _scaled(kernel_pixels, size / _IRREGULAR_REFERENCE_SIZE)
    if kernel_size > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))
        hole = cv2.dilate(hole, kernel)
    return hole


def _draw_irregular(rng, size, files, training):
    """One file chosen by the seed; in training, NVIDIA's augmentation (Liu et al., 2018).

    Training: binarise at 0.6, then a random rotation (any angle), a random crop of 60-100 % of
    the side at a uniform position (the translation), resized to `size` in the same affine warp
    (nearest), then the holes dilated by a random 9-49 px kernel at 512 px, scaled by
    size / 512. Dilating after the warp with an isotropic kernel is the same as dilating first
    (up to the crop's zoom) and costs far less at 512 px files. An augmentation that moves
    every hole out of the frame is redrawn. Evaluation: nearest resize to `size`, binarise at
    0.5, nothing random but the choice of file.
    """
    hole_level = files.level(int(rng.integers(len(files.paths))))
    if not training:
        resized = cv2.resize(hole_level, (size, size), interpolation=cv2.INTER_NEAREST)
        return (resized >= _IRREGULAR_EVAL_THRESHOLD).astype(np.uint8)
    hole = (hole_level >= _IRREGULAR_TRAIN_THRESHOLD).astype(np.uint8)
    if not hole.any():  # nothing to augment; an all-valid file stays empty
        return np.zeros((size, size), np.uint8)
    return _redraw_while_empty(lambda: _augment_irregular(rng, hole, size))


# === Building the mask functions ===


def _simple_generator(kind, image_size, training, irregular_polarity):
    """seed -> (masks, boxes) for one parsed simple kind."""
    name, option = kind
    size = image_size
    if name == "rect":
        low, high, in_pixels = option
        if in_pixels and high > size:
            raise ValueError(
                f"Mask spec rect:{low}-{high} asks for sides up to {high} px but image_size is "
                f"{size}; expected HIGH <= image_size."
            )
        return _rect_generator(size, low, high, in_pixels)
    if name == "freeform":
        with_box, scaled_widths = option
        return _numpy_generator(
            lambda rng: _draw_freeform(rng, size, with_box, scaled_widths=scaled_widths)
        )
    if name == "ca":
        return _numpy_generator(lambda rng: _draw_ca(rng, size))
    if name in _LAMA_PRESETS:
        preset = _LAMA_PRESETS[name]
        return _numpy_generator(lambda rng: _draw_lama(rng, size, preset))
    files = _IrregularFiles(option, _list_pngs(option), irregular_polarity)
    return _numpy_generator(lambda rng: _draw_irregular(rng, size, files, training))


def _mixed_generator(generators, weights):
    # Upper ends of each choice's slice of [0, 1) except the last (which runs to 1).
    bounds = tf.constant(np.cumsum(weights)[:-1] / np.sum(weights), tf.float32)

    def generate(seed):
        choice_seed = tf.random.experimental.stateless_fold_in(seed, _MIXED_CHOICE_SALT)
        uniform = tf.random.stateless_uniform([], choice_seed)
        index = tf.reduce_sum(tf.cast(uniform >= bounds, tf.int32))
        branches = [lambda branch=branch: branch(seed) for branch in generators]
        return tf.switch_case(index, branches)

    return generate


def _finalize(generate, image_size, spec_text, salt=None):
    """The public callable: checks the seed, sets static shapes, returns the dict."""

    # Eager callers (tests, statistics) run one graph call, traced once per seed dtype, instead
    # of a dozen eager ops; inside Dataset.map the ops go straight into the map's graph.
    compiled = tf.function(generate, autograph=False)

    def mask_fn(seed):
        seed = tf.convert_to_tensor(seed)
        if seed.dtype not in (tf.int32, tf.int64) or not seed.shape.is_compatible_with([2]):
            raise ValueError(
                f"Mask seed has dtype {seed.dtype.name} and shape {seed.shape}; expected an "
                "int32 or int64 tensor of shape (2,)."
            )
        seed = tf.ensure_shape(seed, [2])
        if salt is not None:
            seed = tf.random.experimental.stateless_fold_in(seed, salt)
        masks, boxes = compiled(seed) if tf.executing_eagerly() else generate(seed)
        return {
            "masks": tf.ensure_shape(masks, [image_size, image_size, 1]),
            "boxes": tf.ensure_shape(boxes, [4]),
        }

    mask_fn.spec = spec_text
    mask_fn.__name__ = f"mask_fn[{spec_text}]"
    return mask_fn


def _kind_text(kind):
    name, option = kind
    if name == "rect":
        low, high, _ = option
        return f"rect:{low}-{high}"
    if name == "freeform":
        options = [text for text, on in zip(_FREEFORM_OPTIONS, option) if on]
        return ":".join(["freeform", "+".join(options)]) if options else "freeform"
    if name == "irregular":
        return f"irregular:{option}"
    return name


def make_mask_fns(
    spec: str,
    image_size: int,
    *,
    training: bool = True,
    irregular_polarity: str = "hole_white",
) -> list[MaskFn]:
    """Builds the per-sample mask functions for a mask spec (SPEC.md section 7).

    Args:
        spec: str. What masks to draw; see `SPEC_GRAMMAR` (`"rect"`, `"rect:96-128"`,
            `"freeform"`, `"ca"`, `"thick"`, `"irregular:/data/masks"`,
            `"mixed:rect=1,freeform=2"`, `"deepgin"`, ...).
        image_size: int. Side S of the square masks, at least 8.
        training: bool. Only `irregular:` looks at it: True augments the files (random
            dilation, rotation, translation and crop), False only resizes them.
        irregular_polarity: str. Which colour of an `irregular:` file is the hole:
            `"hole_white"` (bright pixels are holes) or `"hole_black"` (dark pixels are holes,
            i.e. the file is a valid-pixel mask). Published copies of the NVIDIA set have been
            reported both ways (knazeri/edge-connect issues #20 and #24): look at one file.

    Returns:
        list of callables, one per mask drawn per image (one, or k for `each:`). Each maps a
        stateless seed, an int32 or int64 tensor of shape (2,), to
        `{"masks": float32 (S, S, 1) in {0, 1} with 1 = hole, "boxes": int32 (4,)}`, the box
        being the hole's tight bounding box `[y0, x0, y1, x1]` (end-exclusive; zeros when the
        mask is empty). The same seed gives the same mask, eagerly and inside `Dataset.map`.
        The k functions of `each:` fold their index into the seed, so they draw independent
        masks from one seed.

    Raises:
        ValueError: for a malformed spec, an unknown kind, a bad image size or polarity, a
            rectangle larger than the image, or an `irregular:` folder that is missing or
            holds no PNG.

    Example:

        mask_fns = make_mask_fns("deepgin", 256)  # three functions
        ds = tf.data.Dataset.random(seed=0).batch(2).map(
            mask_fns[1], num_parallel_calls=tf.data.AUTOTUNE
        )
    """
    is_int = isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool)
    if not is_int or image_size < _MIN_IMAGE_SIZE:
        raise ValueError(f"image_size is {image_size!r}; expected an int >= {_MIN_IMAGE_SIZE}.")
    if irregular_polarity not in POLARITIES:
        raise ValueError(
            f"irregular_polarity is {irregular_polarity!r}; expected one of {POLARITIES}."
        )
    image_size = int(image_size)
    mode, kinds = _parse_spec(spec)

    def build(kind):
        return _simple_generator(kind, image_size, training, irregular_polarity)

    if mode == "single":
        return [_finalize(build(kinds), image_size, _kind_text(kinds))]
    if mode == "each":
        return [
            _finalize(build(kind), image_size, _kind_text(kind), salt=index + 1)
            for index, kind in enumerate(kinds)
        ]
    generators = [build(kind) for kind, _ in kinds]
    weights = [weight for _, weight in kinds]
    return [_finalize(_mixed_generator(generators, weights), image_size, spec.strip())]


def hole_ratio_stats(
    spec: str,
    image_size: int,
    num_samples: int = 500,
    seed: int = 0,
    *,
    training: bool = True,
    irregular_polarity: str = "hole_white",
) -> dict:
    """Hole-ratio statistics of `num_samples` masks per mask function of `spec`.

    The masks of all functions are pooled (so `deepgin` gives 3 * num_samples ratios); sample i
    uses the seed `[seed, i]`.

    Args:
        spec: str. A mask spec (see `SPEC_GRAMMAR`).
        image_size: int. Mask side.
        num_samples: int. Masks drawn per mask function, at least 1.
        seed: int. Base seed.
        training: bool. Passed to `make_mask_fns`.
        irregular_polarity: str. Passed to `make_mask_fns`.

    Returns:
        dict with `num_masks`, `mean`, `std`, `min`, `p5`, `p25`, `median`, `p75`, `p95`, `max`
        (hole ratios in [0, 1]) and `empty_fraction` (share of masks without any hole).
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples is {num_samples!r}; expected an int >= 1.")
    mask_fns = make_mask_fns(
        spec, image_size, training=training, irregular_polarity=irregular_polarity
    )
    ratios = []
    for mask_fn in mask_fns:
        dataset = tf.data.Dataset.range(num_samples).map(
            lambda index, mask_fn=mask_fn: tf.reduce_mean(
                mask_fn(tf.stack([tf.constant(seed, tf.int64), index]))["masks"]
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        ratios.append(np.concatenate([batch.numpy() for batch in dataset.batch(1024)]))
    ratios = np.concatenate(ratios).astype(np.float64)
    p5, p25, median, p75, p95 = np.percentile(ratios, [5, 25, 50, 75, 95])
    return {
        "num_masks": int(ratios.size),
        "mean": float(ratios.mean()),
        "std": float(ratios.std()),
        "min": float(ratios.min()),
        "p5": float(p5),
        "p25": float(p25),
        "median": float(median),
        "p75": float(p75),
        "p95": float(p95),
        "max": float(ratios.max()),
        "empty_fraction": float(np.mean(ratios == 0)),
    }


def masks_per_second(
    spec: str,
    image_size: int,
    num_samples: int = 500,
    seed: int = 0,
    *,
    training: bool = True,
    irregular_polarity: str = "hole_white",
) -> dict:
    """Throughput of the mask functions of `spec`, eagerly and inside `Dataset.map`.

    Mask generation alone (no images): the eager figure calls each function in a Python loop,
    the `dataset_map` figure maps it over seeds with `num_parallel_calls=AUTOTUNE`, batches of
    64 and prefetch. The first call or batch (tracing) is not timed.

    Args:
        spec: str. A mask spec (see `SPEC_GRAMMAR`).
        image_size: int. Mask side.
        num_samples: int. Masks timed per function and mode, at least 1.
        seed: int. Base seed.
        training: bool. Passed to `make_mask_fns`.
        irregular_polarity: str. Passed to `make_mask_fns`.

    Returns:
        dict with `eager` and `dataset_map`, masks per second over all functions of `spec`.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples is {num_samples!r}; expected an int >= 1.")
    mask_fns = make_mask_fns(
        spec, image_size, training=training, irregular_polarity=irregular_polarity
    )
    eager_seconds = dataset_seconds = 0.0
    num_dataset_masks = 0
    for mask_fn in mask_fns:
        mask_fn(tf.constant([seed, -1], tf.int64))
        start = time.perf_counter()
        for index in range(num_samples):
            mask_fn(tf.constant([seed, index], tf.int64))
        eager_seconds += time.perf_counter() - start

        dataset = (
            tf.data.Dataset.range(num_samples + 64)
            .map(
                lambda index, mask_fn=mask_fn: mask_fn(
                    tf.stack([tf.constant(seed, tf.int64), index])
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .batch(64)
            .prefetch(tf.data.AUTOTUNE)
        )
        batches = iter(dataset)
        next(batches)
        start = time.perf_counter()
        for batch in batches:
            num_dataset_masks += int(batch["masks"].shape[0])
        dataset_seconds += time.perf_counter() - start
    return {
        "eager": len(mask_fns) * num_samples / eager_seconds,
        "dataset_map": num_dataset_masks / dataset_seconds,
    }
