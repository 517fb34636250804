"""Inference: loading trained runs and saved generators, inpainting images of any size, and
tools/inpaint.py (single files and folders)."""

import json
import os
import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import checkpointing, inference
from tfinpaint.models import registry
from tfinpaint.models.saving import save_generator

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MODELS = registry.list_models()
_HEIGHT, _WIDTH = 301, 451


@pytest.fixture(scope="module")
def run_dir(trained_run):
    return trained_run


@pytest.fixture(scope="module")
def generators():
    keras.utils.set_random_seed(0)
    return {name: registry.build_generator(name, "tiny") for name in _MODELS}


class EchoGenerator(keras.Model):
    """A stand-in generator whose raw output is its input image (holes included), so any
    misplaced pad, crop, tile or blend shows up as a pixel difference."""

    def __init__(self, multiple=8, **kwargs):
        images = keras.Input((None, None, 3), name="images")
        masks = keras.Input((None, None, 1), name="masks")
        raw = keras.layers.Identity(name="raw")(images)
        inpainted = raw * masks + images * (1.0 - masks)
        super().__init__(
            {"images": images, "masks": masks}, {"raw": raw, "inpainted": inpainted}, **kwargs
        )
        self.size_multiple = multiple


def _image_and_mask(height=_HEIGHT, width=_WIDTH, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    hole_mask = np.zeros((height, width), np.float32)
    hole_mask[height // 5 : height // 2, width // 7 : width // 2] = 1.0
    hole_mask[height - 40 : height - 10, width - 90 : width - 3] = 1.0  # near the border
    return image, hole_mask


# === inpaint ===


@pytest.mark.parametrize("name", _MODELS)
@pytest.mark.parametrize("strategy,max_size", [("pad", None), ("tile", 128), ("resize", 96)])
def test_inpaint_any_size_keeps_size_dtype_and_known_pixels(generators, name, strategy, max_size):
    image, hole_mask = _image_and_mask()
    holes = hole_mask > 0.5
    result = inference.inpaint(generators[name], image, hole_mask, strategy, max_size)
    assert result.shape == image.shape and result.dtype == np.uint8
    np.testing.assert_array_equal(result[~holes], image[~holes])
    assert not np.array_equal(result[holes], image[holes])  # The holes were filled.

    float_image = image.astype(np.float32) / 255.0
    result = inference.inpaint(generators[name], float_image, hole_mask, strategy, max_size)
    assert result.shape == image.shape and result.dtype == np.float32
    np.testing.assert_array_equal(result[~holes], float_image[~holes])
    assert result.min() >= 0.0 and result.max() <= 1.0


@pytest.mark.parametrize("name", _MODELS)
def test_pad_equals_the_generator_on_a_multiple_size(generators, name):
    generator = generators[name]
    side = 4 * generator.size_multiple
    rng = np.random.default_rng(1)
    image = rng.random((side, side, 3), dtype=np.float32)
    hole_mask = np.zeros((side, side, 1), np.float32)
    hole_mask[side // 4 : side // 2, side // 3 :] = 1.0
    expected = generator({"images": image[None], "masks": hole_mask[None]}, training=False)
    expected = np.clip(np.asarray(expected["inpainted"])[0], 0.0, 1.0)
    np.testing.assert_allclose(inference.inpaint(generator, image, hole_mask), expected, atol=1e-6)


@pytest.mark.parametrize("strategy,max_size", [("pad", None), ("tile", 64), ("tile", 40)])
def test_pad_and_tile_put_every_output_pixel_in_place(strategy, max_size):
    # EchoGenerator returns its input: a correct pad/crop/tile/blend gives the image back.
    image = np.random.default_rng(2).random((_HEIGHT, _WIDTH, 3), dtype=np.float32)
    hole_mask = np.ones((_HEIGHT, _WIDTH), np.float32)
    result = inference.inpaint(EchoGenerator(8), image, hole_mask, strategy, max_size)
    np.testing.assert_allclose(result, image, atol=1e-6)


def test_tile_skips_tiles_without_holes_and_counts_calls():
    calls = []

    class Counting(EchoGenerator):
        def __call__(self, inputs, *args, **kwargs):
            calls.append(tuple(inputs["images"].shape))
            return super().__call__(inputs, *args, **kwargs)

    image, _ = _image_and_mask()
    hole_mask = np.zeros((_HEIGHT, _WIDTH), np.float32)
    hole_mask[5:20, 5:20] = 1.0  # Only in the first tile.
    inference.inpaint(Counting(8), image, hole_mask, "tile", 128)
    assert calls == [(1, 128, 128, 3)]


def test_resize_pastes_an_upsampled_low_resolution_output():
    # A smooth image survives the down/up round trip closely: the output is in place.
    y, x = np.mgrid[0:_HEIGHT, 0:_WIDTH].astype(np.float32)
    image = np.stack([y / _HEIGHT, x / _WIDTH, (x + y) / (_HEIGHT + _WIDTH)], axis=-1)
    hole_mask = np.zeros((_HEIGHT, _WIDTH), np.float32)
    hole_mask[50:200, 100:300] = 1.0
    result = inference.inpaint(EchoGenerator(8), image, hole_mask, "resize", 100)
    assert np.abs(result - image).max() < 0.02


class OrientedGenerator(EchoGenerator):
    """A stand-in generator whose raw output depends on the image's orientation (a fixed 3x3
    convolution of the input, plus a left-to-right ramp), so that a self-ensemble view turned
    back the wrong way gives another result."""

    def __init__(self, multiple=8, **kwargs):
        super().__init__(multiple, **kwargs)
        kernel = np.random.default_rng(7).normal(size=(3, 3, 3, 3)).astype(np.float32) * 0.2
        self.kernel = tf.constant(kernel)

    def __call__(self, inputs, *args, **kwargs):
        images = tf.convert_to_tensor(inputs["images"], tf.float32)
        width = tf.shape(images)[2]
        ramp = tf.cast(tf.range(width), tf.float32) / tf.cast(width, tf.float32)
        raw = tf.nn.conv2d(images, self.kernel, 1, "SAME") + ramp[None, None, :, None]
        return {"raw": raw, "inpainted": raw}


def test_ensemble_averages_the_turned_back_views_of_four_rotations_and_a_flip():
    height, width = 40, 24  # Not square: the quarter turns run at 24 x 40.
    rng = np.random.default_rng(4)
    image = rng.random((height, width, 3), dtype=np.float32)
    hole_mask = np.zeros((height, width), np.float32)
    hole_mask[8:30, 4:20] = 1.0
    holes = hole_mask > 0.5
    generator = OrientedGenerator(8)

    def raw(view):
        out = generator({"images": view[None], "masks": np.zeros(view.shape[:2] + (1,))})["raw"]
        return np.asarray(out)[0]

    expected = (
        raw(image)
        + np.rot90(raw(np.ascontiguousarray(np.rot90(image, 1))), -1)
        + np.rot90(raw(np.ascontiguousarray(np.rot90(image, 2))), -2)
        + np.rot90(raw(np.ascontiguousarray(np.rot90(image, 3))), -3)
        + raw(np.ascontiguousarray(image[:, ::-1]))[:, ::-1]
    ) / 5.0
    expected = np.where(holes[..., None], np.clip(expected, 0.0, 1.0), image)
    result = inference.inpaint(generator, image, hole_mask, ensemble=True)
    np.testing.assert_allclose(result, expected, atol=1e-5)
    np.testing.assert_array_equal(result[~holes], image[~holes])
    single = inference.inpaint(generator, image, hole_mask)
    assert np.abs(single - result).max() > 0.01  # The views do differ.
    # Every view in place: the echo's ensemble gives the image back.
    echo = inference.inpaint(EchoGenerator(8), image, np.ones_like(hole_mask), ensemble=True)
    np.testing.assert_allclose(echo, image, atol=1e-6)


def test_polyphase_runs_interleaved_sub_images_and_puts_every_pixel_back():
    calls = []

    class Recording(EchoGenerator):
        def __call__(self, inputs, *args, **kwargs):
            calls.append(np.asarray(inputs["images"]).copy())
            return super().__call__(inputs, *args, **kwargs)

    image = np.random.default_rng(5).random((_HEIGHT, _WIDTH, 3), dtype=np.float32)
    hole_mask = np.ones((_HEIGHT, _WIDTH), np.float32)
    result = inference.inpaint(Recording(8), image, hole_mask, "polyphase", 128)
    np.testing.assert_allclose(result, image, atol=1e-6)
    # 301 x 451 at most 128 per side: 3 x 4 phases of 101 x 113, padded to 104 x 120 (x8).
    assert len(calls) == 12 and all(call.shape == (1, 104, 120, 3) for call in calls)
    np.testing.assert_allclose(calls[0][0, :101, :113], image[0::3, 0::4], atol=1e-7)
    np.testing.assert_allclose(calls[5][0, :100, :113], image[1::3, 1::4], atol=1e-7)
    # Phases without holes are skipped; an image within max_size is one pad call.
    calls.clear()
    hole_mask = np.zeros((_HEIGHT, _WIDTH), np.float32)
    hole_mask[0, 0] = 1.0  # Only in phase (0, 0).
    inference.inpaint(Recording(8), image, hole_mask, "polyphase", 128)
    assert len(calls) == 1
    calls.clear()
    inference.inpaint(Recording(8), image, np.ones((_HEIGHT, _WIDTH)), "polyphase", 512)
    assert [call.shape for call in calls] == [(1, 304, 456, 3)]


def test_polyphase_with_ensemble_keeps_known_pixels(generators):
    image, hole_mask = _image_and_mask(100, 48)  # Two phases of 50 x 48 (padded to 64 x 48).
    holes = hole_mask > 0.5
    result = inference.inpaint(
        generators["deepgin"], image, hole_mask, "polyphase", 64, ensemble=True
    )
    assert result.shape == image.shape and result.dtype == np.uint8
    np.testing.assert_array_equal(result[~holes], image[~holes])
    assert not np.array_equal(result[holes], image[holes])


def test_uint8_holes_are_rounded_and_float_holes_clipped():
    image = np.full((16, 16, 3), 7, np.uint8)
    hole_mask = np.zeros((16, 16), bool)
    hole_mask[4:8, 4:8] = True

    class Constant(EchoGenerator):
        def __call__(self, inputs, *args, **kwargs):
            raw = np.full(inputs["images"].shape, 1.3, np.float32)
            raw[..., 0] = 100.6 / 255.0
            return {"raw": raw}

    result = inference.inpaint(Constant(), image, hole_mask)
    assert result[5, 5].tolist() == [101, 255, 255] and result[0, 0].tolist() == [7, 7, 7]
    result = inference.inpaint(Constant(), image / 255.0, hole_mask)
    np.testing.assert_allclose(result[5, 5], [100.6 / 255.0, 1.0, 1.0], rtol=1e-6)


def test_mask_forms_and_binarisation():
    image = np.random.default_rng(3).random((24, 20, 3))
    generator = EchoGenerator(4)
    hole_mask = np.zeros((24, 20), np.float32)
    hole_mask[2:5, 3:9] = 0.6  # >= 0.5: holes
    hole_mask[10:12, 3:9] = 0.4  # < 0.5: known
    expected = inference.inpaint(generator, image, hole_mask >= 0.5)
    for form in (hole_mask, hole_mask[..., None], (hole_mask >= 0.5).astype(np.uint8)):
        np.testing.assert_array_equal(inference.inpaint(generator, image, form), expected)
    no_holes = np.zeros((24, 20))
    np.testing.assert_array_equal(inference.inpaint(generator, image, no_holes), image)


def test_bad_inputs_raise_one_clear_sentence():
    generator = EchoGenerator(8)
    image, hole_mask = _image_and_mask()
    with pytest.raises(ValueError, match=r"300x451.*301x451"):
        inference.inpaint(generator, image, hole_mask[:300])
    with pytest.raises(ValueError, match="strategy"):
        inference.inpaint(generator, image, hole_mask, strategy="stretch")
    with pytest.raises(ValueError, match="max_size"):
        inference.inpaint(generator, image, hole_mask, strategy="tile")
    with pytest.raises(ValueError, match="max_size"):
        inference.inpaint(generator, image, hole_mask, strategy="pad", max_size=64)
    with pytest.raises(ValueError, match="tile_overlap"):
        inference.inpaint(generator, image, hole_mask, "tile", 64, tile_overlap=64)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        inference.inpaint(generator, image[..., :2], hole_mask)
    with pytest.raises(ValueError, match="dtype"):
        inference.inpaint(generator, image.astype(np.int32), hole_mask)
    # uint16 (16-bit files) is supported: known pixels stay exact at full depth.
    image16 = image.astype(np.uint16) * 257 + 3
    result16 = inference.inpaint(generator, image16, hole_mask)
    holes = np.asarray(hole_mask) >= 0.5
    assert result16.dtype == np.uint16
    np.testing.assert_array_equal(result16[~holes], image16[~holes])


def test_telea_poisson_postprocessing_keeps_known_pixels(generators):
    image, hole_mask = _image_and_mask(64, 80)
    result = inference.inpaint(
        generators[_MODELS[0]], image, hole_mask, postprocess="telea_poisson"
    )
    np.testing.assert_array_equal(result[hole_mask < 0.5], image[hole_mask < 0.5])


# === load_generator ===


def test_load_generator_from_run_checkpoint_and_saved_pair(run_dir):
    generator, info = inference.load_generator(run_dir, with_info=True)
    assert info["model"] == "pconv" and info["preset"] == "tiny"
    assert info["image_size"] == 32 and info["step"] == 4 and info["source"] == "checkpoint"
    from_json, json_info = inference.load_generator(
        os.path.join(run_dir, "generator.json"), with_info=True
    )
    from_weights = inference.load_generator(os.path.join(run_dir, "generator.weights.h5"))
    assert json_info["source"] == "generator.json" and json_info["step"] == 4
    for a, b, c in zip(generator.weights, from_json.weights, from_weights.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())
    fresh = registry.build_generator("pconv", "tiny")
    assert any(
        not np.array_equal(a.numpy(), b.numpy())
        for a, b in zip(generator.weights, fresh.weights, strict=True)
    )
    older, older_info = inference.load_generator(
        os.path.join(run_dir, "checkpoints", "ckpt-2"), with_info=True
    )
    assert older_info["step"] == 2
    assert isinstance(older, type(generator))


def test_load_generator_uses_the_run_config_and_overrides(tmp_path):
    overrides = {"decoder_mask_mode": "union"}
    # Fresh random kernels: a generator that was not restored would differ from this one.
    generator = registry.build_generator("pconv", "tiny", **overrides)
    config = {
        "model": "pconv",
        "preset": "tiny",
        "generator_overrides": overrides,
        "image_size": 48,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    checkpoint = tf.train.Checkpoint(
        step=tf.Variable(7, dtype=tf.int64), generator=checkpointing.VariablesByPath(generator)
    )
    tf.train.CheckpointManager(checkpoint, str(tmp_path / "checkpoints"), 2).save(7)

    loaded, info = inference.load_generator(str(tmp_path), with_info=True)
    assert loaded.decoder_mask_mode == "union"
    assert info["step"] == 7 and info["image_size"] == 48
    image, hole_mask = _image_and_mask(32, 48)
    np.testing.assert_array_equal(
        inference.inpaint(loaded, image, hole_mask), inference.inpaint(generator, image, hole_mask)
    )


def test_load_generator_from_a_saved_pair_folder(tmp_path, generators):
    name = _MODELS[-1]
    save_generator(generators[name], name, "tiny", str(tmp_path))
    loaded, info = inference.load_generator(str(tmp_path), with_info=True)
    assert info["model"] == name and info["image_size"] is None
    image, hole_mask = _image_and_mask(40, 40)
    np.testing.assert_array_equal(
        inference.inpaint(loaded, image, hole_mask),
        inference.inpaint(generators[name], image, hole_mask),
    )


def test_load_generator_rejects_other_paths(tmp_path):
    with pytest.raises(ValueError, match="neither config.json"):
        inference.load_generator(str(tmp_path))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="Cannot load a generator"):
        inference.load_generator(str(tmp_path / "notes.txt"))
    (tmp_path / "config.json").write_text(json.dumps({"model": "pconv", "preset": "tiny"}))
    with pytest.raises(ValueError, match="no checkpoint"):
        inference.load_generator(str(tmp_path))


# === Files and tools/inpaint.py ===


def _write_inputs(folder, sizes, polarity="hole_white"):
    os.makedirs(folder / "images", exist_ok=True)
    os.makedirs(folder / "masks", exist_ok=True)
    rng = np.random.default_rng(4)
    for index, (height, width) in enumerate(sizes):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / "images" / f"photo{index}.png"), image)
        hole_mask = np.zeros((height, width), np.uint8)
        hole_mask[height // 4 : height // 2, width // 3 : width // 2] = 255
        if polarity == "hole_black":
            hole_mask = 255 - hole_mask
        cv2.imwrite(str(folder / "masks" / f"photo{index}.png"), hole_mask)


def test_read_image_and_hole_mask_formats(tmp_path):
    rgb = np.random.default_rng(5).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "gray16.png"), np.full((9, 11), 65535, np.uint16))
    np.testing.assert_array_equal(inference.read_image(str(tmp_path / "a.png")), rgb)
    mask16 = np.zeros((9, 11), np.uint16)
    mask16[2:4, 2:6] = 40000  # 0.61 of the 16-bit range: a hole
    mask16[6:8, 2:6] = 30000  # 0.46: known
    cv2.imwrite(str(tmp_path / "m16.png"), mask16)
    holes = inference.read_hole_mask(str(tmp_path / "m16.png"))
    assert holes.dtype == bool and holes.sum() == 8 and holes[2:4, 2:6].all()
    np.testing.assert_array_equal(
        inference.read_hole_mask(str(tmp_path / "m16.png"), "hole_black"), ~holes
    )
    assert inference.read_image(str(tmp_path / "gray16.png")).shape == (9, 11, 3)


def test_plan_jobs_checks_everything_before_work(tmp_path):
    _write_inputs(tmp_path, [(20, 30), (24, 16)])
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    jobs = inference.plan_jobs(str(images), str(masks), str(out))
    assert [os.path.basename(job[2]) for job in jobs] == ["photo0.png", "photo1.png"]
    # Never an input as output, even with overwrite; existing outputs need --overwrite.
    image_file = str(images / "photo0.png")
    with pytest.raises(ValueError, match="is an input file"):
        inference.plan_jobs(image_file, str(masks / "photo0.png"), image_file, overwrite=True)
    with pytest.raises(ValueError, match="is an input file"):
        inference.plan_jobs(str(images), str(masks), str(masks), overwrite=True)
    (tmp_path / "existing.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="--overwrite"):
        inference.plan_jobs(image_file, str(masks / "photo0.png"), str(tmp_path / "existing.png"))
    assert inference.plan_jobs(
        image_file, str(masks / "photo0.png"), str(tmp_path / "existing.png"), overwrite=True
    )
    # Images without masks are listed.
    os.remove(masks / "photo1.png")
    with pytest.raises(ValueError, match=r"1 image\(s\).*photo1"):
        inference.plan_jobs(str(images), str(masks), str(out))
    with pytest.raises(ValueError, match="two files or two folders"):
        inference.plan_jobs(str(images), str(masks / "photo0.png"), str(out))


def _run_tool(*args):
    return subprocess.run(
        [sys.executable, os.path.join(_ROOT, "tools", "inpaint.py"), *args],
        capture_output=True,
        text=True,
        cwd=_ROOT,
        timeout=300,
    )


def test_inpaint_tool_single_file_and_folders(tmp_path, run_dir):
    _write_inputs(tmp_path, [(45, 61), (32, 32), (30, 70)], polarity="hole_black")
    single = tmp_path / "single.png"
    result = _run_tool(
        f"--workdir={run_dir}",
        f"--image={tmp_path / 'images' / 'photo0.png'}",
        f"--mask={tmp_path / 'masks' / 'photo0.png'}",
        f"--output={single}",
        "--mask_polarity=hole_black",
        "--strategy=tile",
        "--max_size=32",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    image = cv2.imread(str(tmp_path / "images" / "photo0.png"))
    output = cv2.imread(str(single))
    holes = cv2.imread(str(tmp_path / "masks" / "photo0.png"), cv2.IMREAD_GRAYSCALE) < 128
    assert output.shape == image.shape
    np.testing.assert_array_equal(output[~holes], image[~holes])
    generator = inference.load_generator(run_dir)
    expected = inference.inpaint(generator, image[..., ::-1], holes, "tile", 32)[..., ::-1]
    # Another process may round a hole pixel the other way.
    assert np.abs(output.astype(int) - expected).max() <= 1

    out_dir = tmp_path / "out"
    folder_args = (
        f"--checkpoint={os.path.join(run_dir, 'generator.json')}",
        f"--image={tmp_path / 'images'}",
        f"--mask={tmp_path / 'masks'}",
        f"--output={out_dir}",
        "--mask_polarity=hole_black",
    )
    result = _run_tool(*folder_args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(out_dir)) == ["photo0.png", "photo1.png", "photo2.png"]
    for stem in ("photo1", "photo2"):
        image = cv2.imread(str(tmp_path / "images" / f"{stem}.png"))
        holes = cv2.imread(str(tmp_path / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE) < 128
        output = cv2.imread(str(out_dir / f"{stem}.png"))
        assert output.shape == image.shape
        np.testing.assert_array_equal(output[~holes], image[~holes])
