"""Tests of the per-sample mask generators (tfinpaint/data/masks.py, SPEC.md section 7)."""

import math

import cv2
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageDraw

from tfinpaint.data import masks as masks_lib

SIZE = 64
NUM_SEEDS = 24

# Every simple kind; `irregular` needs a folder and is tested on its own below.
SIMPLE_SPECS = ["rect", "rect:0.2-1", "rect:20-25", "freeform", "freeform:box", "ca"]
SIMPLE_SPECS += ["freeform:scaled"]
SIMPLE_SPECS += ["thin", "medium", "thick"]


def _one_fn(spec, size=SIZE, **kwargs):
    mask_fns = masks_lib.make_mask_fns(spec, size, **kwargs)
    assert len(mask_fns) == 1
    return mask_fns[0]


def _draw_many(mask_fn, num_seeds=NUM_SEEDS, base_seed=11):
    """Masks and boxes of seeds [base_seed, i], i < num_seeds, drawn inside Dataset.map."""
    dataset = tf.data.Dataset.range(num_seeds).map(
        lambda index: mask_fn(tf.stack([tf.constant(base_seed, tf.int64), index])),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    batch = next(iter(dataset.batch(num_seeds)))
    return batch["masks"].numpy(), batch["boxes"].numpy()


def _tight_box(hole):
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    if rows.size == 0:
        return [0, 0, 0, 0]
    return [rows[0], cols[0], rows[-1] + 1, cols[-1] + 1]


def _assert_valid_samples(masks, boxes, size=SIZE):
    assert masks.dtype == np.float32 and masks.shape[1:] == (size, size, 1)
    assert boxes.dtype == np.int32 and boxes.shape[1:] == (4,)
    assert set(np.unique(masks)) <= {0.0, 1.0}
    for hole, box in zip(masks[..., 0], boxes):
        assert list(box) == _tight_box(hole)


def _write_png(path, image):
    assert cv2.imwrite(str(path), image)


# === Every kind: binary, shapes, boxes, reproducibility, eager == Dataset.map ===


@pytest.mark.parametrize("spec", SIMPLE_SPECS)
def test_kind_is_binary_reproducible_and_per_sample(spec):
    mask_fn = _one_fn(spec)
    masks, boxes = _draw_many(mask_fn)
    _assert_valid_samples(masks, boxes)
    assert (masks.reshape(NUM_SEEDS, -1).sum(axis=1) > 0).all()  # no kind here draws empty
    # Per sample: every seed of one Dataset.map gives its own mask.
    assert len({hole.tobytes() for hole in masks}) == NUM_SEEDS

    # Eagerly, with an int32 seed, the same seed gives the same mask and box as in the map.
    for index in (0, 5):
        eager = mask_fn(tf.constant([11, index], tf.int32))
        assert eager["masks"].shape == (SIZE, SIZE, 1) and eager["masks"].dtype == tf.float32
        assert eager["boxes"].dtype == tf.int32
        np.testing.assert_array_equal(eager["masks"].numpy(), masks[index])
        np.testing.assert_array_equal(eager["boxes"].numpy(), boxes[index])
    again = mask_fn(tf.constant([11, 5], tf.int64))
    np.testing.assert_array_equal(again["masks"].numpy(), masks[5])
    # A fresh set of functions for the same spec draws the same masks: nothing global.
    np.testing.assert_array_equal(_one_fn(spec)(np.array([11, 5]))["masks"].numpy(), masks[5])


def test_static_shapes_inside_dataset_map():
    for spec in ("rect", "freeform", "mixed:rect=1,ca=1"):
        mask_fn = _one_fn(spec)
        dataset = tf.data.Dataset.random(seed=3).batch(2).map(mask_fn)
        assert dataset.element_spec["masks"].shape == (SIZE, SIZE, 1)
        assert dataset.element_spec["boxes"].shape == (4,)
        assert dataset.element_spec["boxes"].dtype == tf.int32


def test_nondeterministic_map_order_keeps_masks_tied_to_seeds():
    mask_fn = _one_fn("freeform")
    dataset = tf.data.Dataset.range(16).map(
        lambda index: (index, mask_fn(tf.stack([tf.constant(2, tf.int64), index]))["masks"]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    for index, hole in dataset:
        expected = mask_fn(tf.constant([2, int(index)], tf.int64))["masks"]
        np.testing.assert_array_equal(hole.numpy(), expected.numpy())


def test_negative_and_large_seeds():
    mask_fn = _one_fn("ca")
    low = mask_fn(tf.constant([-1, -(2**62)], tf.int64))["masks"].numpy()
    high = mask_fn(tf.constant([-1, 2**62], tf.int64))["masks"].numpy()
    assert set(np.unique(low)) <= {0.0, 1.0}
    assert not np.array_equal(low, high)


def test_bad_seed_raises():
    mask_fn = _one_fn("rect")
    with pytest.raises(ValueError, match="seed"):
        mask_fn(tf.constant([1.0, 2.0]))
    with pytest.raises(ValueError, match="seed"):
        mask_fn(tf.constant([[1, 2]]))
    with pytest.raises(ValueError, match="seed"):
        mask_fn(tf.constant([1, 2, 3]))


# === Rectangles ===


@pytest.mark.parametrize(
    "spec, size, min_side, max_side",
    [
        ("rect", SIZE, 16, 32),  # U[0.25, 0.5] of 64 px
        ("rect:0.2-1", SIZE, 13, 64),
        ("rect:0.3-0.7", SIZE, 19, 45),
        ("rect:20-25", SIZE, 20, 25),  # seed 001's GLCIC variant
        ("rect:96-128", 256, 96, 128),  # GLCIC
    ],
)
def test_rect_sides_and_position(spec, size, min_side, max_side):
    masks, boxes = _draw_many(_one_fn(spec, size), num_seeds=40)
    _assert_valid_samples(masks, boxes, size)
    heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert heights.min() >= min_side and heights.max() <= max_side
    assert widths.min() >= min_side and widths.max() <= max_side
    assert not np.array_equal(heights, widths)  # the sides are drawn independently
    # The hole is exactly the box: one solid rectangle.
    areas = masks.reshape(len(masks), -1).sum(axis=1)
    np.testing.assert_array_equal(areas, heights * widths)
    ratios = areas / size**2
    assert ratios.min() >= (min_side / size) ** 2 and ratios.max() <= (max_side / size) ** 2
    # Uniform position: over 40 draws the rectangles spread over the image.
    assert boxes[:, 0].min() < size // 8 and boxes[:, 2].max() > size - size // 8


def test_rect_wider_than_image_raises():
    with pytest.raises(ValueError, match="image_size"):
        masks_lib.make_mask_fns("rect:96-128", SIZE)


# === Free-form strokes ===


# The DeepFill v2 reference's mean hole ratios as the fidelity issue measured them.
_ISSUE_MEAN_HOLE_RATIOS = {256: 0.140, 512: 0.081}


def _reference_brush_stroke_mask(rs, size):
    """DeepFill v2 `brush_stroke_mask` (inpaint_ops.py) for a square image, written from the
    algorithm for this test: its own legacy `np.random.RandomState`, its own Pillow drawing.

    Kept as the reference draws (clip to [0, size], Normal scale r // 2); the flips are left out
    because they do not change the hole ratio (the reference discards them too).
    """
    radius = math.sqrt(2 * size * size) / 8
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    for _ in range(rs.randint(1, 4)):
        num_vertices = rs.randint(4, 12)
        angle_min = 2 * math.pi / 5 - rs.uniform(0, 2 * math.pi / 15)
        angle_max = 2 * math.pi / 5 + rs.uniform(0, 2 * math.pi / 15)
        angles = [
            2 * math.pi - rs.uniform(angle_min, angle_max)
            if i % 2 == 0
            else rs.uniform(angle_min, angle_max)
            for i in range(num_vertices)
        ]
        vertices = [(int(rs.randint(0, size)), int(rs.randint(0, size)))]
        for angle in angles:
            length = np.clip(rs.normal(radius, radius // 2), 0, 2 * radius)
            x = np.clip(vertices[-1][0] + length * math.cos(angle), 0, size)
            y = np.clip(vertices[-1][1] + length * math.sin(angle), 0, size)
            vertices.append((int(x), int(y)))
        width = int(rs.uniform(12, 40))
        draw.line(vertices, fill=1, width=width)
        for x, y in vertices:
            draw.ellipse((x - width // 2, y - width // 2, x + width // 2, y + width // 2), fill=1)
    return np.asarray(image, np.float32)


@pytest.mark.parametrize("size, num_samples", [(256, 1500), (512, 800)])
def test_freeform_mean_hole_ratio_matches_deepfill_v2(size, num_samples):
    # Per-mask std is about 0.08 at 256 px and 0.047 at 512 px, so these sample counts give a
    # standard error of the difference of the two means of about 0.003 (256) and 0.0023 (512);
    # 4 standard errors (0.012, 0.009) is a bound sampling noise does not reach and the old
    # size / 256 width scaling (+0.064 at 512 px) far exceeds. cv2's 1-2 px wider lines moved
    # the 256 px mean by only +0.004 on the same seeds, below any affordable sampling bound:
    # `test_freeform_stroke_is_exactly_width_pixels_wide` checks the rasteriser itself.
    ours = masks_lib.hole_ratio_stats("freeform", size, num_samples=num_samples, seed=3)
    rs = np.random.RandomState(size)
    reference = np.array(
        [_reference_brush_stroke_mask(rs, size).mean() for _ in range(num_samples)]
    )
    standard_error = math.sqrt((ours["std"] ** 2 + reference.var()) / num_samples)
    assert abs(ours["mean"] - reference.mean()) < 4 * standard_error
    # The issue's constants. With Pillow 13 the reference algorithm measures 0.150 at 256 px
    # (5000 masks, standard error 0.001; 500-mask means span 0.149-0.155), not 0.140, so the
    # 256 px bound is 0.015 rather than 0.01; 512 px agrees (0.0855 measured, 0.081 issued).
    tolerance = {256: 0.015, 512: 0.01}[size]
    assert abs(ours["mean"] - _ISSUE_MEAN_HOLE_RATIOS[size]) < tolerance


@pytest.mark.parametrize("width", [12, 13, 20, 25, 38, 39])
def test_freeform_stroke_is_exactly_width_pixels_wide(width):
    # Pillow's `line(width=w)` as in the reference; cv2.polylines(thickness=w) is w + 1 or w + 2.
    image = Image.new("L", (128, 128), 0)
    masks_lib._draw_stroke(ImageDraw.Draw(image), [(20, 40), (100, 40), (100, 110)], width)
    hole = np.asarray(image)
    assert hole[:, 60].sum() == width  # across the horizontal segment, away from the joints
    assert hole[80, :].sum() == width  # across the vertical one
    # The joint disc: Pillow's ellipse of bounding box v +- w // 2 (2 * (w // 2) + 1 px).
    assert hole[40, 100 - width // 2] == 1 and hole[40, 100 + width // 2 + 1] == 0


def test_freeform_strokes_within_bounds():
    for size in (SIZE, 256):
        masks, boxes = _draw_many(_one_fn("freeform", size), num_seeds=40)
        _assert_valid_samples(masks, boxes, size)
        assert masks.reshape(len(masks), -1).mean(axis=1).min() > 0
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= size).all()


def _median_inscribed_radius(masks):
    """Median over masks of the radius of the largest disc that fits inside the holes."""
    radii = [
        cv2.distanceTransform(np.pad(hole.astype(np.uint8), 1), cv2.DIST_L2, 5).max()
        for hole in masks[..., 0]
    ]
    return float(np.median(radii))


def test_freeform_widths_are_pixels_at_every_size():
    # The reference's 12-39 px at 256 and at 512 px: the stroke half-widths stay the same.
    small, _ = _draw_many(_one_fn("freeform", 256), num_seeds=30)
    large, _ = _draw_many(_one_fn("freeform", 512), num_seeds=30)
    assert 0.8 < _median_inscribed_radius(large) / _median_inscribed_radius(small) < 1.25


def test_freeform_scaled_widths_scale_with_image_size():
    small, _ = _draw_many(_one_fn("freeform:scaled"), num_seeds=30)
    large, _ = _draw_many(_one_fn("freeform:scaled", 256), num_seeds=30)
    assert 2.5 < _median_inscribed_radius(large) / _median_inscribed_radius(small) < 5.5
    # So every size covers about as much as 256 px does, unlike the reference.
    assert abs(small.mean() - large.mean()) < 0.05


def test_freeform_scaled_is_plain_freeform_at_256_px():
    seed = tf.constant([4, 9], tf.int64)
    for spec in ("freeform", "freeform:box"):
        options = "box+scaled" if spec.endswith("box") else "scaled"
        plain = _one_fn(spec, 256)(seed)["masks"].numpy()
        scaled = _one_fn(f"freeform:{options}", 256)(seed)["masks"].numpy()
        np.testing.assert_array_equal(plain, scaled)


@pytest.mark.parametrize(
    "spec, text",
    [
        ("freeform", "freeform"),
        ("freeform:box", "freeform:box"),
        ("freeform:scaled", "freeform:scaled"),
        ("freeform:scaled+box", "freeform:box+scaled"),
    ],
)
def test_freeform_spec_options(spec, text):
    assert _one_fn(spec).spec == text


def test_freeform_box_adds_a_solid_box():
    # DeepFill v2's box: 128 px less 0-16 px on each side at 256 px, so at least 24 px at 64.
    boxed, boxes = _draw_many(_one_fn("freeform:box"), num_seeds=12)
    _assert_valid_samples(boxed, boxes)
    kernel = np.ones((24, 24), np.uint8)
    for hole in boxed[..., 0].astype(np.uint8):
        assert cv2.erode(hole, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0).any()
    plain, _ = _draw_many(_one_fn("freeform"), num_seeds=12)
    assert boxed.mean() > plain.mean() + 0.05


class _FixedCoinRng:
    """A numpy Generator whose `random()` (the flip coins) always returns `coin`."""

    def __init__(self, seed, coin):
        self._rng = np.random.default_rng(seed)
        self._coin = coin

    def __getattr__(self, name):
        return getattr(self._rng, name)

    def random(self, *args, **kwargs):
        self._rng.random(*args, **kwargs)
        return self._coin


def test_freeform_flips_both_axes():
    # The reference computes its random flips and throws them away; here they are applied.
    for seed in range(5):
        unflipped = masks_lib._draw_freeform(_FixedCoinRng(seed, 0.99), SIZE, with_box=False)
        flipped = masks_lib._draw_freeform(_FixedCoinRng(seed, 0.0), SIZE, with_box=False)
        assert unflipped.any()
        np.testing.assert_array_equal(flipped, unflipped[::-1, ::-1])


# === Cellular automata ===


def test_ca_mean_hole_ratio_near_one_half():
    masks, boxes = _draw_many(_one_fn("ca", 256), num_seeds=50)
    _assert_valid_samples(masks, boxes, 256)
    ratios = masks.reshape(len(masks), -1).mean(axis=1)
    assert 0.42 < ratios.mean() < 0.58
    assert ratios.min() > 0


def test_ca_draws_several_scales():
    # Scale 1 gives speckle (many connected components), scale 8 big blobs (few).
    masks, _ = _draw_many(_one_fn("ca", 128), num_seeds=30)
    counts = [cv2.connectedComponents(hole.astype(np.uint8))[0] for hole in masks[..., 0]]
    assert min(counts) < 10 and max(counts) > 40


def test_ca_redraws_empty_grids_at_small_sizes():
    # At 16 px scale 8 is a 2 x 2 grid, which the zero border always erases.
    masks, _ = _draw_many(_one_fn("ca", 16), num_seeds=40)
    assert (masks.reshape(40, -1).sum(axis=1) > 0).all()


# === LaMa presets ===


@pytest.mark.parametrize("spec", ["thin", "medium", "thick"])
def test_lama_masks_cover_at_most_half(spec):
    masks, boxes = _draw_many(_one_fn(spec), num_seeds=40)
    _assert_valid_samples(masks, boxes)
    ratios = masks.reshape(len(masks), -1).mean(axis=1)
    assert ratios.max() <= 0.5 and ratios.min() > 0
    assert ratios.mean() > 0.1


def test_lama_redraw_discards_large_masks():
    preset = masks_lib._LAMA_PRESETS["thick"]
    too_big = [
        seed
        for seed in range(300)
        if masks_lib._draw_lama_once(np.random.default_rng(seed), SIZE, preset).mean() > 0.5
    ]
    assert too_big, "no thick draw above 50 % in 300 seeds"
    for seed in too_big[:5]:
        hole = masks_lib._draw_lama(np.random.default_rng(seed), SIZE, preset)
        assert 0 < hole.mean() <= 0.5


def test_lama_thick_strokes_are_wider_than_thin():
    thin, _ = _draw_many(_one_fn("thin"), num_seeds=30)
    thick, _ = _draw_many(_one_fn("thick"), num_seeds=30)
    assert _median_inscribed_radius(thick) > 1.5 * _median_inscribed_radius(thin)


# === Irregular masks from files ===


@pytest.fixture
def mask_folders(tmp_path):
    """Three 128 px PNGs with known holes, white = hole in one folder, inverted in another."""
    holes = []
    for index in range(3):
        hole = np.zeros((128, 128), np.uint8)
        hole[10 + 30 * index : 40 + 30 * index, 8 : 8 + 16 * (index + 1)] = 255
        cv2.circle(hole, (100, 30 + 30 * index), 10 + 4 * index, 255, -1)
        holes.append(hole)
    white, black = tmp_path / "white", tmp_path / "black"
    for folder, invert in ((white, False), (black, True)):
        (folder / "nested").mkdir(parents=True)
        for index, hole in enumerate(holes):
            # One file in a subfolder checks the recursive search.
            target = folder / "nested" if index == 2 else folder
            _write_png(target / f"mask_{index}.png", 255 - hole if invert else hole)
    expected = [
        (cv2.resize(hole, (SIZE, SIZE), interpolation=cv2.INTER_NEAREST) >= 128).astype(np.float32)
        for hole in holes
    ]
    return white, black, expected


def test_irregular_eval_resizes_files_in_both_polarities(mask_folders):
    white, black, expected = mask_folders
    white_fn = _one_fn(f"irregular:{white}", training=False, irregular_polarity="hole_white")
    black_fn = _one_fn(f"irregular:{black}", training=False, irregular_polarity="hole_black")
    white_masks, white_boxes = _draw_many(white_fn, num_seeds=30)
    black_masks, black_boxes = _draw_many(black_fn, num_seeds=30)
    _assert_valid_samples(white_masks, white_boxes)
    _assert_valid_samples(black_masks, black_boxes)
    chosen = set()
    for hole in white_masks[..., 0]:
        matches = [i for i, candidate in enumerate(expected) if np.array_equal(hole, candidate)]
        assert len(matches) == 1
        chosen.add(matches[0])
    assert chosen == {0, 1, 2}  # the seed picks every file, the nested one included
    # The same seeds pick the same files (sorted listing) and the inverted files give the
    # same holes under hole_black.
    np.testing.assert_array_equal(white_masks, black_masks)
    # The wrong polarity turns the holes into the valid region.
    inverted, _ = _draw_many(
        _one_fn(f"irregular:{white}", training=False, irregular_polarity="hole_black"), num_seeds=30
    )
    np.testing.assert_array_equal(inverted, 1 - white_masks)


def test_irregular_training_augments(mask_folders):
    white, _, expected = mask_folders
    mask_fn = _one_fn(f"irregular:{white}", training=True)
    masks, boxes = _draw_many(mask_fn, num_seeds=30)
    _assert_valid_samples(masks, boxes)
    assert len({hole.tobytes() for hole in masks}) == 30
    assert not any(np.array_equal(hole, e) for hole in masks[..., 0] for e in expected)
    ratios = masks.reshape(len(masks), -1).mean(axis=1)
    assert ratios.min() > 0
    # Dilation by 9-49 px at 512 px (1-6 px at 64) enlarges the holes on average.
    assert ratios.mean() > np.mean([e.mean() for e in expected])
    again = mask_fn(tf.constant([11, 3], tf.int64))["masks"].numpy()
    np.testing.assert_array_equal(again, masks[3])


def test_irregular_training_dilates_holes(tmp_path):
    # An 8 px square at 512 px is at most 9 px across at 256 px after the crop's zoom and any
    # rotation; the 9-49 px dilation (4-24 px at 256) makes it clearly larger.
    dot = np.zeros((512, 512), np.uint8)
    dot[252:260, 252:260] = 255
    _write_png(tmp_path / "dot.png", dot)
    masks, boxes = _draw_many(_one_fn(f"irregular:{tmp_path}", 256), num_seeds=20)
    _assert_valid_samples(masks, boxes, 256)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert sides.min() >= 4 and np.median(sides) > 12
    assert len(set(sides.tolist())) > 3  # a random kernel size


def test_irregular_missing_or_empty_folder_raises(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        masks_lib.make_mask_fns(f"irregular:{tmp_path / 'nowhere'}", SIZE)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("not a mask")
    with pytest.raises(ValueError, match="no PNG"):
        masks_lib.make_mask_fns(f"irregular:{tmp_path / 'empty'}", SIZE)


# === mixed: and each: ===


def test_mixed_chooses_every_kind_by_weight():
    mask_fn = _one_fn("mixed:rect:20-25=1,rect:40-45=1,ca=2")
    masks, boxes = _draw_many(mask_fn, num_seeds=60)
    _assert_valid_samples(masks, boxes)
    kinds = []
    for hole, (y0, x0, y1, x1) in zip(masks[..., 0], boxes):
        is_rectangle = hole.sum() == (y1 - y0) * (x1 - x0)
        side = max(y1 - y0, x1 - x0)
        if is_rectangle and 20 <= side <= 25:
            kinds.append("small")
        elif is_rectangle and 40 <= side <= 45:
            kinds.append("large")
        else:
            kinds.append("ca")
    counts = {kind: kinds.count(kind) for kind in ("small", "large", "ca")}
    assert min(counts.values()) > 0, counts
    assert counts["ca"] > max(counts["small"], counts["large"]), counts


def test_mixed_with_numpy_kinds_is_reproducible():
    mask_fn = _one_fn("mixed:rect:0.3-0.7=1,freeform=2,ca=1")
    masks, boxes = _draw_many(mask_fn)
    _assert_valid_samples(masks, boxes)
    np.testing.assert_array_equal(mask_fn(tf.constant([11, 7]))["masks"].numpy(), masks[7])


def test_each_and_deepgin_return_one_fn_per_kind():
    assert masks_lib.num_masks_per_image("deepgin") == 3
    assert masks_lib.num_masks_per_image("each:rect,ca") == 2
    assert masks_lib.num_masks_per_image("mixed:rect=1,ca=1") == 1
    assert masks_lib.num_masks_per_image("freeform") == 1
    mask_fns = masks_lib.make_mask_fns("deepgin", SIZE)
    assert len(mask_fns) == 3
    seed = tf.constant([4, 2])
    rect, freeform, ca = (fn(seed) for fn in mask_fns)
    y0, x0, y1, x1 = rect["boxes"].numpy()
    assert rect["masks"].numpy().sum() == (y1 - y0) * (x1 - x0)  # a solid 30-70 % rectangle
    assert 19 <= y1 - y0 <= 45 and 19 <= x1 - x0 <= 45
    for sample in (freeform, ca):
        hole = sample["masks"].numpy()
        y0, x0, y1, x1 = sample["boxes"].numpy()
        assert 0 < hole.sum() < (y1 - y0) * (x1 - x0)  # not a rectangle

    # One seed, k functions: independent masks even when the kinds are the same.
    first, second = masks_lib.make_mask_fns("each:freeform,freeform", SIZE)
    assert not np.array_equal(first(seed)["masks"].numpy(), second(seed)["masks"].numpy())
    _, more = masks_lib.make_mask_fns("each:freeform,freeform", SIZE)
    np.testing.assert_array_equal(more(seed)["masks"].numpy(), second(seed)["masks"].numpy())


# === Spec errors and statistics ===


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "circle",
        "rect:0.5",
        "rect:0-0.5",
        "rect:0.7-0.3",
        "rect:1-25",
        "rect:0.5-25",
        "rect:a-b",
        "rect:",
        "freeform:round",
        "freeform:",
        "freeform:box+box",
        "freeform:box+",
        "freeform:box,scaled",
        "ca:3",
        "thin:",
        "irregular:",
        "mixed:",
        "mixed:rect",
        "mixed:rect=0",
        "mixed:rect=-1",
        "mixed:rect=x",
        "mixed:rect=1,blob=1",
        "mixed:deepgin=1",
        "each:",
        "each:rect,,ca",
        "each:deepgin",
        "each:mixed:rect=1",
        None,
    ],
)
def test_bad_specs_raise(spec):
    with pytest.raises(ValueError, match="expected"):
        masks_lib.make_mask_fns(spec, SIZE)


def test_unknown_spec_message_lists_valid_kinds():
    with pytest.raises(ValueError) as error:
        masks_lib.num_masks_per_image("circle")
    message = str(error.value)
    for kind in ("rect", "freeform", "ca", "thin", "medium", "thick", "irregular", "mixed"):
        assert kind in message
    assert "each" in message and "deepgin" in message


@pytest.mark.parametrize(
    "kwargs",
    [{"image_size": 4}, {"image_size": 64.0}, {"image_size": 64, "irregular_polarity": "white"}],
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match="expected"):
        masks_lib.make_mask_fns("rect", **kwargs)


def test_hole_ratio_stats():
    stats = masks_lib.hole_ratio_stats("rect:20-25", SIZE, num_samples=30, seed=1)
    assert stats["num_masks"] == 30
    assert 400 / 4096 <= stats["min"] <= stats["p5"] <= stats["median"] <= stats["p95"]
    assert stats["p95"] <= stats["max"] <= 625 / 4096
    assert stats["min"] <= stats["mean"] <= stats["max"] and stats["std"] > 0
    assert stats["empty_fraction"] == 0
    assert masks_lib.hole_ratio_stats("rect:20-25", SIZE, num_samples=30, seed=1) == stats
    pooled = masks_lib.hole_ratio_stats("deepgin", SIZE, num_samples=10)
    assert pooled["num_masks"] == 30
    with pytest.raises(ValueError, match="num_samples"):
        masks_lib.hole_ratio_stats("rect", SIZE, num_samples=0)
