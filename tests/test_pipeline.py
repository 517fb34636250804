"""Tests for tfinpaint.data.pipeline (build_dataset and its data ops) and data.preview."""

import hashlib
import io
import itertools
import logging

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tfinpaint.data import pipeline, preview
from tfinpaint.data.gradients import sobel_gradients
from tfinpaint.data.sources import ImageReader, decode

_SIZE = 32


def _photo(height, width, seed):
    """A smooth random colour image (JPEG-friendly) with distinct channels."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Six photos of assorted sizes, JPEG and PNG, the smallest below the crop size."""
    root = tmp_path_factory.mktemp("photos")
    shapes = [(48, 64), (64, 48), (40, 90), (72, 72), (20, 30), (50, 50)]
    for index, (height, width) in enumerate(shapes):
        extension = ".jpg" if index % 2 == 0 else ".png"
        bgr = _photo(height, width, index)[:, :, ::-1]
        assert cv2.imwrite(str(root / f"photo_{index}{extension}"), bgr)
    return str(root)


def _first_batch(dataset):
    return {key: value.numpy() for key, value in next(iter(dataset)).items()}


def _assert_batches_equal(first, second):
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


# === build_dataset ===


def test_shapes_dtypes_and_ranges(folder):
    dataset = pipeline.build_dataset(folder, _SIZE, 4, seed=0, with_gradients=True)
    spec = dataset.element_spec
    assert spec["images"].shape == (4, _SIZE, _SIZE, 3)
    assert spec["masks"].shape == (4, _SIZE, _SIZE, 1)
    assert spec["boxes"].shape == (4, 4)
    assert spec["gradients"].shape == (4, _SIZE, _SIZE, 2)
    batch = _first_batch(dataset)
    assert batch["images"].dtype == np.float32
    assert batch["masks"].dtype == np.float32 and batch["boxes"].dtype == np.int32
    assert 0.0 <= batch["images"].min() and batch["images"].max() <= 1.0
    assert set(np.unique(batch["masks"])) <= {0.0, 1.0}
    assert batch["masks"].sum() > 0
    boxes = batch["boxes"]
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2:] <= _SIZE)


def test_boxes_bound_the_holes(folder):
    batch = _first_batch(pipeline.build_dataset(folder, _SIZE, 4, masks="rect", seed=1))
    for hole_mask, (y0, x0, y1, x1) in zip(batch["masks"][..., 0], batch["boxes"]):
        rows, columns = np.nonzero(hole_mask)
        assert (rows.min(), columns.min(), rows.max() + 1, columns.max() + 1) == (y0, x0, y1, x1)


def test_masks_differ_within_a_batch(folder):
    batch = _first_batch(pipeline.build_dataset(folder, _SIZE, 4, seed=2))
    masks = batch["masks"]
    assert all(not np.array_equal(masks[0], masks[i]) for i in range(1, 4))


def test_reproducible_with_seed(folder):
    def build(seed):
        return pipeline.build_dataset(folder, _SIZE, 3, seed=seed, with_gradients=True)

    first = [{k: v.numpy() for k, v in batch.items()} for batch in build(7).take(3)]
    again = [{k: v.numpy() for k, v in batch.items()} for batch in build(7).take(3)]
    for batch, repeated in zip(first, again):
        _assert_batches_equal(batch, repeated)
    other = _first_batch(build(8))
    assert not np.array_equal(first[0]["masks"], other["masks"])


def test_unseeded_training_differs_between_builds(folder):
    first = _first_batch(pipeline.build_dataset(folder, _SIZE, 4))
    second = _first_batch(pipeline.build_dataset(folder, _SIZE, 4))
    assert not np.array_equal(first["masks"], second["masks"])


def test_training_repeats_and_draws_new_masks_each_epoch(folder, tmp_path):
    # One image, one per batch: every batch is a new epoch of the same file, and each must
    # still get its own mask (seeds follow the stream position, not the file).
    list_file = tmp_path / "one.txt"
    list_file.write_text(f"{folder}/photo_3.png\n")
    dataset = pipeline.build_dataset(str(list_file), _SIZE, 1, seed=3, flip=False)
    batches = [batch for batch in dataset.take(4)]
    assert len(batches) == 4
    masks = [batch["masks"].numpy() for batch in batches]
    assert all(not np.array_equal(masks[0], other) for other in masks[1:])
    evaluation = pipeline.build_dataset(str(list_file), _SIZE, 1, training=False, repeat=3)
    eval_masks = [batch["masks"].numpy() for batch in evaluation]
    assert len(eval_masks) == 3
    assert all(np.array_equal(eval_masks[0], other) for other in eval_masks[1:])


def test_evaluation_is_deterministic_in_file_order(folder):
    dataset = pipeline.build_dataset(folder, _SIZE, 4, training=False)
    assert dataset.element_spec["images"].shape == (None, _SIZE, _SIZE, 3)
    first_pass = [{k: v.numpy() for k, v in batch.items()} for batch in dataset]
    second_pass = [{k: v.numpy() for k, v in batch.items()} for batch in dataset]
    rebuilt = pipeline.build_dataset(folder, _SIZE, 4, training=False)
    rebuilt_pass = [{k: v.numpy() for k, v in batch.items()} for batch in rebuilt]
    assert [len(batch["images"]) for batch in first_pass] == [4, 2]  # Remainder kept.
    for batches in (second_pass, rebuilt_pass):
        for batch, other in zip(first_pass, batches):
            _assert_batches_equal(batch, other)
    # File order and centre crops: the first image is photo_0 (48x64) cropped in its middle.
    expected = _photo(48, 64, 0)[8:40, 16:48] / 255.0
    np.testing.assert_allclose(first_pass[0]["images"][0], expected, atol=0.08)


def test_evaluation_repeats_the_same_masks_on_every_pass(folder):
    dataset = pipeline.build_dataset(folder, _SIZE, 6, training=False, repeat=2)
    first, second = [batch["masks"].numpy() for batch in dataset]
    np.testing.assert_array_equal(first, second)


def test_each_mode_emits_every_image_once_per_mask_function(folder):
    dataset = pipeline.build_dataset(folder, _SIZE, 6, masks="deepgin", seed=4)
    batch = _first_batch(dataset)
    images, masks = batch["images"], batch["masks"]
    for start in (0, 3):
        np.testing.assert_array_equal(images[start], images[start + 1])
        np.testing.assert_array_equal(images[start], images[start + 2])
        assert not np.array_equal(masks[start], masks[start + 1])
        assert not np.array_equal(masks[start + 1], masks[start + 2])
    assert not np.array_equal(images[0], images[3])


def test_each_mode_in_evaluation_counts(folder):
    dataset = pipeline.build_dataset(folder, _SIZE, 4, masks="each:rect,ca", training=False)
    assert sum(len(batch["images"]) for batch in dataset) == 12


def test_with_gradients_equals_sobel_of_the_images(folder):
    batch = _first_batch(pipeline.build_dataset(folder, _SIZE, 3, seed=5, with_gradients=True))
    expected = sobel_gradients(batch["images"]).numpy()
    np.testing.assert_allclose(batch["gradients"], expected, atol=1e-5)


def test_cached_and_streamed_decoding_give_the_same_batches(folder):
    for training in (True, False):
        batches = [
            _first_batch(
                pipeline.build_dataset(
                    folder, _SIZE, 4, seed=6, training=training, cache_decoded=cache_decoded
                )
            )
            for cache_decoded in (True, False)
        ]
        _assert_batches_equal(*batches)


def test_resize_short_side_in_the_pipeline(folder):
    dataset = pipeline.build_dataset(folder, _SIZE, 6, training=False, resize_short_side=(40, 60))
    batch = _first_batch(dataset)
    assert batch["images"].shape == (6, _SIZE, _SIZE, 3)


def test_corrupt_file_is_skipped_in_the_pipeline(folder, tmp_path, caplog):
    list_file = tmp_path / "list.txt"
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    list_file.write_text(f"{folder}/photo_0.jpg\nbad.jpg\n{folder}/photo_1.png\n")
    with caplog.at_level(logging.WARNING):
        batches = list(pipeline.build_dataset(str(list_file), _SIZE, 4, training=False))
    assert [len(batch["images"]) for batch in batches] == [2]
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert f"Skipping unreadable image {bad} (1 skipped so far)" in messages
    # A listed file that does not exist is refused before any work, not skipped.
    list_file.write_text(f"{folder}/photo_0.jpg\nbad.jpg\nmissing.png\n")
    with pytest.raises(ValueError, match=r"1 of 3 listed files are missing, first: .*missing"):
        pipeline.build_dataset(str(list_file), _SIZE, 4, training=False)


def test_all_unreadable_source_raises_instead_of_spinning(tmp_path):
    (tmp_path / "a.png").write_bytes(b"junk")
    (tmp_path / "b.jpg").write_bytes(b"junk")
    # Refused when the dataset is built, before tf.data runs anything.
    with pytest.raises(ValueError, match=r"No decodable image in .* \(2 files tried\)"):
        pipeline.build_dataset(str(tmp_path), _SIZE, 2)
    # Files that break after that check still stop the pipeline instead of spinning.
    (tmp_path / "c.png").write_bytes(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1])
    for cache_decoded in (True, False):
        dataset = pipeline.build_dataset(str(tmp_path), _SIZE, 2, cache_decoded=cache_decoded)
        (tmp_path / "c.png").write_bytes(b"junk")
        with pytest.raises(tf.errors.OpError, match="All 3 images of source"):
            next(iter(dataset))
        (tmp_path / "c.png").write_bytes(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1])


def test_samples_source():
    dataset = pipeline.build_dataset("samples", 48, 4, seed=0, masks="rect")
    assert _first_batch(dataset)["images"].shape == (4, 48, 48, 3)


def test_tfds_source(tmp_path):
    with tfds.testing.mock_data(num_examples=5, data_dir=str(tmp_path)):
        dataset = pipeline.build_dataset("tfds:mnist", _SIZE, 2, training=False, masks="rect")
        batches = list(dataset)
    assert [len(batch["images"]) for batch in batches] == [2, 2, 1]
    images = batches[0]["images"].numpy()
    np.testing.assert_array_equal(images[..., 0], images[..., 1])  # Gray made RGB.


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": 0}, "image_size=0"),
        ({"image_size": 32.0}, "image_size=32.0"),
        ({"image_size": True}, "image_size=True"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"batch_size": "4"}, "batch_size='4'"),
        ({"masks": ""}, "masks=''"),
        ({"seed": -1}, "seed=-1"),
        ({"resize_short_side": (16, 64)}, "resize_short_side=\\(16, 64\\)"),
        ({"resize_short_side": (64, 40)}, "resize_short_side=\\(64, 40\\)"),
        ({"resize_short_side": 48}, "resize_short_side=48"),
        ({"repeat": 0}, "repeat=0"),
        ({"flip": "yes"}, "flip='yes'"),
        ({"shuffle_buffer": 0}, "shuffle_buffer=0"),
        ({"num_parallel_calls": 0}, "num_parallel_calls=0"),
    ],
)
def test_bad_arguments_raise(folder, kwargs, message):
    arguments = {"source": folder, "image_size": _SIZE, "batch_size": 2}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        pipeline.build_dataset(**arguments)


def test_bad_sources_raise(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        pipeline.build_dataset(str(tmp_path / "nowhere"), _SIZE, 2)
    with pytest.raises(ValueError, match="No images found in folder"):
        pipeline.build_dataset(str(tmp_path), _SIZE, 2)
    with pytest.raises(ValueError, match="expected a folder"):
        pipeline.build_dataset(None, _SIZE, 2)


def test_unknown_mask_spec_raises(folder):
    with pytest.raises(ValueError):
        pipeline.build_dataset(folder, _SIZE, 2, masks="squiggles")


# === Data ops, eagerly and inside Dataset.map ===


def _coordinate_image(height, width):
    """uint8 image whose pixels spell their own (y, x): a crop shows where it came from."""
    rows, columns = np.mgrid[0:height, 0:width]
    return np.stack([rows, columns, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def _in_map(op, example):
    dataset = tf.data.Dataset.from_tensors(example).map(op)
    return {key: value.numpy() for key, value in next(iter(dataset)).items()}


def _eager(op, example):
    return {key: np.asarray(value) for key, value in op(example).items()}


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_random_crop_is_a_seeded_window(run):
    image = _coordinate_image(50, 70)
    offsets = set()
    for seed in range(6):

        def op(example, seed=seed):
            return pipeline.random_crop(example, _SIZE, tf.constant([seed, 1]))

        crop = run(op, {"images": image})["images"]
        assert crop.shape == (_SIZE, _SIZE, 3) and crop.dtype == np.uint8
        y0, x0 = int(crop[0, 0, 0]), int(crop[0, 0, 1])
        np.testing.assert_array_equal(crop, image[y0 : y0 + _SIZE, x0 : x0 + _SIZE])
        np.testing.assert_array_equal(run(op, {"images": image})["images"], crop)
        offsets.add((y0, x0))
    assert len(offsets) > 1


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_center_crop(run):
    image = _coordinate_image(50, 70)
    crop = run(lambda example: pipeline.center_crop(example, _SIZE), {"images": image})
    np.testing.assert_array_equal(crop["images"], image[9:41, 19:51])


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_crops_scale_up_images_smaller_than_the_crop(run):
    image = np.linspace(0.0, 1.0, 30, dtype=np.float32)[None, :, None] * np.ones((20, 30, 3))
    image = image.astype(np.float32)
    for op in (
        lambda example: pipeline.random_crop(example, _SIZE, tf.constant([0, 1])),
        lambda example: pipeline.center_crop(example, _SIZE),
    ):
        crop = run(op, {"images": image})["images"]
        assert crop.shape == (_SIZE, _SIZE, 3) and crop.dtype == np.float32
        # The short side (20 px) is scaled to 32: the ramp spans 20/29 of its range.
        span = crop[0, -1, 0] - crop[0, 0, 0]
        assert span == pytest.approx(19.0 / 29.0, abs=0.03)


def _ramp_window(crop):
    """The source window side of a crop of `_ramp_image`, read off the ramp's slope."""
    return (crop[0, -1, 0] - crop[0, 0, 0]) / (_SIZE - 1) * 300.0 * _SIZE


def _ramp_image():
    # Value = x / 300 (float32), 100 x 300 pixels: the slope of a crop gives its scale.
    ramp = np.arange(300, dtype=np.float32)[None, :, None] / 300.0
    return np.broadcast_to(ramp, (100, 300, 3)).copy()


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_resize_short_side_range(run):
    windows = []
    for seed in range(8):

        def op(example, seed=seed):
            return pipeline.random_crop(example, _SIZE, tf.constant([seed, 2]), (40, 80))

        windows.append(_ramp_window(run(op, {"images": _ramp_image()})["images"]))
    # Short side 100 scaled to 40..80: the 32 px crop covers 40..80 source pixels.
    assert all(38.0 <= window <= 82.0 for window in windows), windows
    assert max(windows) - min(windows) > 5.0
    centre = run(lambda e: pipeline.center_crop(e, _SIZE, 60), {"images": _ramp_image()})
    assert _ramp_window(centre["images"]) == pytest.approx(32 * 100 / 60, abs=1.5)


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_random_flip(run):
    image = _coordinate_image(8, 10)
    flipped = 0
    for seed in range(12):

        def op(example, seed=seed):
            return pipeline.random_flip(example, tf.constant([seed, 3]))

        result = run(op, {"images": image})["images"]
        if np.array_equal(result, image[:, ::-1]):
            flipped += 1
        else:
            np.testing.assert_array_equal(result, image)
    assert 0 < flipped < 12


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_to_float(run):
    image = np.array([[[0, 51, 255]]], np.uint8)
    result = run(pipeline.to_float, {"images": image})["images"]
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [[[0.0, 0.2, 1.0]]])


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_add_mask(run):
    from tfinpaint.data.masks import make_mask_fns

    (mask_fn,) = make_mask_fns("rect", _SIZE)
    example = {"images": np.zeros((_SIZE, _SIZE, 3), np.float32)}
    first = run(lambda e: pipeline.add_mask(e, mask_fn, tf.constant([1, 2])), example)
    again = run(lambda e: pipeline.add_mask(e, mask_fn, tf.constant([1, 2])), example)
    other = run(lambda e: pipeline.add_mask(e, mask_fn, tf.constant([1, 3])), example)
    assert first["masks"].shape == (_SIZE, _SIZE, 1) and first["boxes"].shape == (4,)
    np.testing.assert_array_equal(first["masks"], again["masks"])
    assert not np.array_equal(first["masks"], other["masks"])


def _jpeg_bytes(image_rgb, exif_orientation=None):
    buffer = io.BytesIO()
    kwargs = {"quality": 90}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    Image.fromarray(image_rgb).save(buffer, "JPEG", **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("run", [_eager, _in_map])
@pytest.mark.parametrize("kind", ["plain", "gray", "progressive", "rotated", "cmyk", "png"])
def test_decode_and_crop_matches_decode_then_crop(run, kind):
    photo = _photo(45, 70, 10)
    if kind == "png":
        encoded = cv2.imencode(".png", photo[:, :, ::-1])[1].tobytes()
    elif kind == "cmyk":
        buffer = io.BytesIO()
        Image.fromarray(photo).convert("CMYK").save(buffer, "JPEG", quality=95)
        encoded = buffer.getvalue()
    elif kind == "gray":
        encoded = cv2.imencode(".jpg", photo[:, :, 1])[1].tobytes()
    elif kind == "progressive":
        buffer = io.BytesIO()
        Image.fromarray(photo).save(buffer, "JPEG", progressive=True, quality=80)
        encoded = buffer.getvalue()
    else:
        encoded = _jpeg_bytes(photo, exif_orientation=6 if kind == "rotated" else None)
    example = {"encoded": encoded, "names": f"{kind}.jpg"}
    reader = ImageReader()
    decoded = run(lambda e: decode(e, reader), example)
    if kind == "rotated":
        assert decoded["images"].shape == (70, 45, 3)  # EXIF rotation applied.
    seed = tf.constant([4, 5])
    for crop_op, fused_op in (
        (
            lambda e: pipeline.random_crop(e, _SIZE, seed, (40, 60)),
            lambda e: pipeline.decode_and_random_crop(e, _SIZE, seed, (40, 60), reader=reader),
        ),
        (
            lambda e: pipeline.center_crop(e, _SIZE),
            lambda e: pipeline.decode_and_center_crop(e, _SIZE, reader=reader),
        ),
    ):
        expected = crop_op({"images": decoded["images"]})["images"].numpy()
        fused = run(fused_op, example)
        assert bool(fused["valid"])
        np.testing.assert_array_equal(fused["images"], expected)


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_decode_and_crop_flags_unreadable_items(run, caplog):
    example = {"encoded": b"\xff\xd8\xff broken", "names": "broken.jpg"}
    with caplog.at_level(logging.WARNING):
        result = run(
            lambda e: pipeline.decode_and_random_crop(e, _SIZE, tf.constant([1, 1])), example
        )
    assert not bool(result["valid"])
    assert result["images"].shape == (_SIZE, _SIZE, 3)
    assert "Skipping unreadable image broken.jpg" in caplog.text


# === Benchmark helper and preview ===


def test_benchmark_dataset(folder):
    dataset = pipeline.build_dataset(folder, _SIZE, 2, training=False)
    result = pipeline.benchmark_dataset(dataset, num_batches=10, warmup_batches=1)
    assert result["num_batches"] == 2  # 6 images: one warm-up batch, then two more.
    assert result["num_samples"] == 4
    assert result["samples_per_s"] > 0 and result["cpu_ms_per_sample"] > 0


def test_preview_grid_and_save(folder, tmp_path):
    batch = next(iter(pipeline.build_dataset(folder, _SIZE, 3, seed=0, with_gradients=True)))
    grid = preview.preview_grid(batch, gap=2)
    assert grid.shape == (3 * _SIZE + 2 * 2, 5 * _SIZE + 4 * 2, 3) and grid.dtype == np.uint8
    hole_mask = batch["masks"].numpy()[0, ..., 0]
    np.testing.assert_array_equal(grid[:_SIZE, _SIZE + 2 : 2 * _SIZE + 2, 0], hole_mask * 255)
    without_gradients = {key: batch[key] for key in ("images", "masks")}
    np.testing.assert_allclose(preview.preview_grid(without_gradients, gap=2), grid, atol=1)
    output = tmp_path / "nested" / "preview.png"
    assert preview.save_png(output, grid) == str(output)
    np.testing.assert_array_equal(cv2.imread(str(output))[:, :, ::-1], grid)
    with pytest.raises(ValueError, match="already exists"):
        preview.save_png(output, grid)
    preview.save_png(output, grid[:10], overwrite=True)
    assert cv2.imread(str(output)).shape[0] == 10
    with pytest.raises(ValueError, match="expected at least 'images' and 'masks'"):
        preview.preview_grid({"images": batch["images"]})


# === Augmentation (the `augment` ops and build_dataset's hook) ===


def _dihedral(image):
    """The 8 flips and 90-degree rotations of an (H, W, C) array (square H = W)."""
    return [np.rot90(base, k) for base in (image, image[:, ::-1]) for k in range(4)]


def _which(result, candidates):
    matches = [i for i, candidate in enumerate(candidates) if np.array_equal(result, candidate)]
    assert matches, "the result is none of the expected transforms"
    return matches[0]


def _draws(run, op, image, candidates, num_seeds, salt):
    """Which of `candidates` a seeded data op gives for seeds [0, salt] ... [num_seeds - 1,
    salt]; each result is uint8, shaped like the candidates and the same when run again."""
    drawn = set()
    for seed in range(num_seeds):

        def seeded(example, seed=seed):
            return op(example, tf.constant([seed, salt]))

        result = run(seeded, {"images": image})["images"]
        assert result.shape == candidates[0].shape and result.dtype == np.uint8
        drawn.add(_which(result, candidates))
        np.testing.assert_array_equal(run(seeded, {"images": image})["images"], result)
    return drawn


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_random_rot90_is_one_of_four_rotations(run):
    image = _coordinate_image(8, 8)
    rotations = [np.rot90(image, k) for k in range(4)]
    assert _draws(run, pipeline.random_rot90, image, rotations, 16, 4) == {0, 1, 2, 3}


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_random_polyphase_is_a_strided_slice(run):
    image = _coordinate_image(16, 12)
    phases = [image[dy::2, dx::2] for dy in (0, 1) for dx in (0, 1)]
    assert phases[0].shape == (8, 6, 3)
    assert _draws(run, pipeline.random_polyphase, image, phases, 16, 5) == {0, 1, 2, 3}
    # Odd sides: every phase keeps floor(side / 2) rows and columns.
    odd = run(lambda e: pipeline.random_polyphase(e, tf.constant([0, 5])), {"images": image[:15]})
    assert odd["images"].shape == (7, 6, 3)


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_random_channels_is_one_of_six_channel_orders(run):
    rows, columns = np.mgrid[0:6, 0:7]
    # Three distinct channels, so every order of them is a different array.
    image = np.stack([rows, columns + 10, rows + columns + 30], axis=-1).astype(np.uint8)
    orders = [image[..., list(order)] for order in itertools.permutations(range(3))]
    assert _draws(run, pipeline.random_channels, image, orders, 40, 7) == set(range(6))


def test_random_channels_refuses_images_without_three_channels():
    with pytest.raises(ValueError, match="needs RGB images with 3 channels; got shape"):
        pipeline.random_channels({"images": np.zeros((4, 4, 1), np.uint8)}, tf.constant([0, 1]))


def test_channels_in_the_pipeline_reorders_channels_only(folder):
    # Same seed: crops and masks keep their seeds; each augmented image is one channel order
    # of the plain one, and the gradients are those of the reordered image.
    def batches(**kwargs):
        dataset = pipeline.build_dataset(folder, _SIZE, 4, seed=12, with_gradients=True, **kwargs)
        return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(2)]

    plain, augmented = batches(), batches(augment="channels")
    drawn = set()
    for before, after in zip(plain, augmented):
        np.testing.assert_array_equal(before["masks"], after["masks"])
        np.testing.assert_array_equal(before["boxes"], after["boxes"])
        for image, shuffled in zip(before["images"], after["images"]):
            orders = [image[..., list(order)] for order in itertools.permutations(range(3))]
            drawn.add(_which(shuffled, orders))
        expected = sobel_gradients(after["images"]).numpy()
        np.testing.assert_allclose(after["gradients"], expected, atol=1e-5)
    assert len(drawn) > 2


def _total_variation(image):
    return sum(np.abs(np.diff(image, axis=axis)).sum() for axis in (0, 1))


def test_blur_in_the_pipeline_blurs_images_only(folder):
    def batches(**kwargs):
        dataset = pipeline.build_dataset(folder, _SIZE, 4, seed=12, with_gradients=True, **kwargs)
        return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(2)]

    plain, augmented = batches(), batches(augment="blur")
    kept = 0
    for before, after in zip(plain, augmented):
        np.testing.assert_array_equal(before["masks"], after["masks"])
        np.testing.assert_array_equal(before["boxes"], after["boxes"])
        for image, result in zip(before["images"], after["images"]):
            if np.array_equal(image, result):
                kept += 1
            else:  # Blurred: smoother.
                assert _total_variation(result) < _total_variation(image)
        expected = sobel_gradients(after["images"]).numpy()
        np.testing.assert_allclose(after["gradients"], expected, atol=1e-5)
    assert 0 < kept < 8


def test_adding_channels_keeps_the_other_ops_draws(folder):
    # Each op draws from its own seed row, so listing "channels" beside "rot90" changes the
    # colours and nothing else: undoing the channel order gives the rot90-only stream.
    def batch(augment):
        dataset = pipeline.build_dataset(folder, _SIZE, 4, seed=16, augment=augment)
        return _first_batch(dataset)

    rotated, both = batch("rot90"), batch("rot90,channels")
    np.testing.assert_array_equal(rotated["masks"], both["masks"])
    for image, shuffled in zip(rotated["images"], both["images"]):
        _which(shuffled, [image[..., list(o)] for o in itertools.permutations(range(3))])


def _numpy_gaussian_blur(image, sigma, radius=9):
    """Reference: per pixel, the Gaussian-weighted mean of the pixels within `radius` that
    exist, weights exp(-(dy^2 + dx^2) / (2 sigma^2)) (separable, so one 2-D sum)."""
    image = image.astype(np.float64)
    height, width = image.shape[:2]
    result = np.zeros_like(image)
    for y in range(height):
        for x in range(width):
            ys = np.arange(max(0, y - radius), min(height, y + radius + 1))
            xs = np.arange(max(0, x - radius), min(width, x + radius + 1))
            weights = np.exp(-((ys[:, None] - y) ** 2 + (xs[None, :] - x) ** 2) / (2 * sigma**2))
            window = image[ys[:, None], xs[None, :]]
            result[y, x] = np.tensordot(weights, window, axes=([0, 1], [0, 1])) / weights.sum()
    return result


@pytest.mark.parametrize("sigma", [0.5, 1.7, 3.0])
def test_gaussian_blur_matches_a_numpy_reference(sigma):
    # Smaller than the kernel (19 taps) on one side: the border handling is tested too.
    image = np.random.default_rng(3).uniform(0, 255, (12, 23, 3)).astype(np.float32)
    result = pipeline.gaussian_blur(tf.constant(image), tf.constant(sigma)).numpy()
    np.testing.assert_allclose(result, _numpy_gaussian_blur(image, sigma), rtol=1e-4, atol=1e-3)
    # A constant image stays constant, to the edges.
    flat = pipeline.gaussian_blur(tf.fill([7, 9, 3], 200.0), tf.constant(sigma)).numpy()
    np.testing.assert_allclose(flat, 200.0, rtol=1e-5)


@pytest.mark.parametrize("run", [_eager, _in_map])
def test_random_blur_blurs_half_the_crops_with_a_drawn_sigma(run):
    image = np.random.default_rng(4).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    blurred = 0
    for seed in range(40):

        def op(example, seed=seed):
            return pipeline.random_blur(example, tf.constant([seed, 8]))

        result = run(op, {"images": image})["images"]
        assert result.shape == image.shape and result.dtype == np.uint8
        draw = tf.random.stateless_uniform([2], tf.constant([seed, 8])).numpy()
        if draw[0] < pipeline.BLUR_PROBABILITY:
            low, high = pipeline.BLUR_SIGMA_RANGE
            sigma = low + (high - low) * draw[1]
            expected = np.clip(np.round(_numpy_gaussian_blur(image, sigma)), 0, 255)
            # float32 against float64 may round a .5 the other way.
            assert np.abs(result.astype(np.int64) - expected).max() <= 1
            blurred += 1
        else:
            np.testing.assert_array_equal(result, image)
    assert 10 < blurred < 30


def test_augment_ops_give_the_same_draws_eagerly_and_in_map():
    image = _coordinate_image(10, 10)
    for name, op in pipeline.AUGMENT_OPS.items():
        for seed in range(6):

            def seeded(example, op=op, seed=seed):
                return op(example, tf.constant([seed, 6]))

            eager, mapped = _eager(seeded, {"images": image}), _in_map(seeded, {"images": image})
            np.testing.assert_array_equal(eager["images"], mapped["images"], err_msg=name)


def test_parse_augment():
    assert pipeline.parse_augment("rot90,polyphase,flip") == ("rot90", "polyphase", "flip")
    assert pipeline.parse_augment(" flip , rot90 ") == ("flip", "rot90")
    assert pipeline.parse_augment(["polyphase"]) == ("polyphase",)
    assert pipeline.parse_augment("channels,rot90,blur") == ("channels", "rot90", "blur")
    for nothing in (None, "", " ", (), []):
        assert pipeline.parse_augment(nothing) == ()
    assert pipeline.AUGMENT_OPS["flip"] is pipeline.random_flip


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"augment": "flip,rotate"},
            "unknown op 'rotate'; expected .*flip, rot90, polyphase, channels, blur",
        ),
        ({"augment": "flip,,rot90"}, "unknown op ''"),
        ({"augment": ["Flip"]}, "unknown op 'Flip'"),
        ({"augment": "flip,rot90,flip"}, "flip is listed more than once"),
        ({"augment": 90}, "augment=90; expected None or op names"),
        ({"augment": ["flip", 1]}, "augment=\\['flip', 1\\]"),
        ({"augment": "flip", "flip": True}, "would flip twice"),
        (
            {"augment": "polyphase", "resize_short_side": (40, 80)},
            "polyphase crop side \\(64\\) <= low",
        ),
    ],
)
def test_bad_augment_raises_before_any_work(tmp_path, kwargs, message):
    # A missing source would raise too: the augment error comes first, before any listing.
    arguments = {"source": str(tmp_path / "nowhere"), "image_size": _SIZE, "batch_size": 2}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        pipeline.build_dataset(**arguments)


def test_augment_none_leaves_the_stream_byte_identical(tmp_path):
    # Digest of the first three batches, recorded with the pipeline before `augment` existed
    # (PNG patterns, rect masks: stateless TF ops only, so the bytes are platform-stable).
    # The training stream's file shuffle (`Dataset.shuffle(seed=...)`) pairs its seed with TF's
    # global seed, which an earlier test in the same process may have set (e.g.
    # `keras.utils.set_random_seed`, as training does): reset to "no global seed", the state
    # the digest was recorded in.
    tf.random.set_seed(None)
    for index, (height, width) in enumerate([(40, 56), (48, 48), (36, 60)]):
        rows, columns, channels = np.mgrid[0:height, 0:width, 0:3]
        image = ((rows * 7 + columns * 3 + channels * 50 + index * 20) % 256).astype(np.uint8)
        assert cv2.imwrite(str(tmp_path / f"pattern_{index}.png"), image[:, :, ::-1])
    digests = set()
    for augment in ({}, {"augment": None}, {"augment": ""}, {"augment": ()}):
        dataset = pipeline.build_dataset(str(tmp_path), _SIZE, 2, masks="rect", seed=11, **augment)
        digest = hashlib.sha256()
        for batch in dataset.take(3):
            for key in sorted(batch):
                digest.update(key.encode())
                digest.update(batch[key].numpy().tobytes())
        digests.add(digest.hexdigest())
    assert digests == {"c84abcf7e0610e9f6b7da32818454c3228a577c334f1c5de982ced2a6c95fc73"}


def test_augment_transforms_images_only_and_gradients_follow(folder):
    # Same seed: crops and masks keep their seeds, so the augmented images are flips and
    # rotations of the plain ones, and masks and boxes are unchanged.
    def batches(**kwargs):
        dataset = pipeline.build_dataset(folder, _SIZE, 4, seed=12, with_gradients=True, **kwargs)
        return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(2)]

    plain, augmented = batches(flip=False), batches(augment="flip,rot90")
    drawn = set()
    for before, after in zip(plain, augmented):
        np.testing.assert_array_equal(before["masks"], after["masks"])
        np.testing.assert_array_equal(before["boxes"], after["boxes"])
        for image, transformed in zip(before["images"], after["images"]):
            drawn.add(_which(transformed, _dihedral(image)))
        expected = sobel_gradients(after["images"]).numpy()
        np.testing.assert_allclose(after["gradients"], expected, atol=1e-5)
    assert len(drawn) > 2


@pytest.mark.parametrize("training, cache_decoded", [(True, None), (True, False), (False, None)])
def test_polyphase_in_the_pipeline_is_a_phase_of_the_2x_crop(folder, training, cache_decoded):
    def first(image_size, **kwargs):
        return _first_batch(
            pipeline.build_dataset(
                folder,
                image_size,
                4,
                seed=13,
                flip=False,
                training=training,
                cache_decoded=cache_decoded,
                **kwargs,
            )
        )

    twice, polyphase = first(2 * _SIZE), first(_SIZE, augment="polyphase", with_gradients=True)
    assert polyphase["images"].shape == (4, _SIZE, _SIZE, 3)
    for crop, phase in zip(twice["images"], polyphase["images"]):
        _which(phase, [crop[dy::2, dx::2] for dy in (0, 1) for dx in (0, 1)])
    expected = sobel_gradients(polyphase["images"]).numpy()
    np.testing.assert_allclose(polyphase["gradients"], expected, atol=1e-5)


def test_augment_is_reproducible_with_seed(folder):
    def build(seed):
        return pipeline.build_dataset(
            folder, _SIZE, 3, masks="each:rect,ca", seed=seed, augment="rot90,polyphase,flip"
        )

    first = [{k: v.numpy() for k, v in batch.items()} for batch in build(14).take(3)]
    again = [{k: v.numpy() for k, v in batch.items()} for batch in build(14).take(3)]
    for batch, repeated in zip(first, again):
        assert batch["images"].shape == (3, _SIZE, _SIZE, 3)
        _assert_batches_equal(batch, repeated)
    assert not np.array_equal(first[0]["images"], _first_batch(build(15))["images"])
