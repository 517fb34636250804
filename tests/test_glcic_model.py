"""GLCIC networks (SPEC.md section 2), the local crop op and the OpenCV post-processing."""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import json_round_trip, random_batch, run_generator_test, run_layer_test

from tfinpaint import postprocess
from tfinpaint.layers.crop import LocalCrop, crop_local, local_crop_boxes
from tfinpaint.models import glcic, registry


def _discriminator(preset, **overrides):
    return registry.build_discriminators("glcic", preset, global_local=overrides)["global_local"]


# === Completion network ===


def test_paper_generator_parameter_count():
    generator = registry.build_generator("glcic", "paper")
    trainable = sum(int(np.prod(w.shape)) for w in generator.trainable_weights)
    # Convolutions with biases 6,066,179 + BatchNorm gamma/beta 5,952 (+ 5,952 moving stats).
    assert trainable == 6_072_131
    assert generator.count_params() == 6_078_083
    assert abs(generator.count_params() - 6.07e6) / 6.07e6 < 2e-3  # SPEC: ~6.07 M


@pytest.mark.parametrize("training", [False, True])
def test_tiny_generator_contract(training):
    generator = registry.build_generator("glcic", "tiny")
    # Dynamic, non-square sizes (multiples of 4); the harness checks shapes, float32, exact known
    # pixels, raw in the holes, and that hole pixels of the input do not change any output.
    outputs = run_generator_test(generator, random_batch(2, 64, 48), training=training)
    assert set(outputs) == {"raw", "inpainted"}
    assert np.all((outputs["raw"] >= 0) & (outputs["raw"] <= 1))
    small = generator(random_batch(1, 32, 36, seed=1))
    assert tuple(small["inpainted"].shape) == (1, 32, 36, 3)


def test_generator_hole_pixels_do_not_leak():
    generator = registry.build_generator("glcic", "tiny")
    batch = random_batch(2, 32, 32, seed=3)
    holes = batch["masks"] > 0.5
    ones = dict(batch, images=np.where(holes, 1.0, batch["images"]).astype("float32"))
    zeros = dict(batch, images=np.where(holes, 0.0, batch["images"]).astype("float32"))
    np.testing.assert_array_equal(generator(ones)["raw"], generator(zeros)["raw"])


def test_input_fill_is_mean_filled_and_centred():
    mean = [0.2, 0.5, 0.7]
    batch = random_batch(2, 16, 16)
    filled = keras.ops.convert_to_numpy(
        glcic.GLCICInputFill(mean_pixel=mean)([batch["images"], batch["masks"]])
    )
    holes = batch["masks"]
    expected = np.where(holes > 0.5, np.float32(0.0), batch["images"] - np.float32(mean))
    np.testing.assert_allclose(filled[..., :3], expected, atol=1e-7)
    np.testing.assert_array_equal(filled[..., 3:], holes)
    run_layer_test(
        glcic.GLCICInputFill,
        {"mean_pixel": mean},
        [batch["images"], batch["masks"]],
        expected_output_shape=(2, 16, 16, 4),
        expected_num_trainable_weights=0,
    )


def test_generator_rejects_sizes_not_multiple_of_4():
    generator = registry.build_generator("glcic", "tiny")
    with pytest.raises(ValueError, match="divisible by 4"):
        generator(random_batch(1, 30, 32))
    batch = random_batch(1, 32, 32)
    with pytest.raises(ValueError, match="masks"):
        generator({"images": batch["images"], "masks": np.zeros((1, 16, 16, 1), "float32")})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mean_pixel": [0.5, 0.5]}, "mean_pixel"),
        ({"mean_pixel": [0.5, 0.5, 2.0]}, "mean_pixel"),
        ({"base_filters": 7}, "base_filters"),
        ({"dilation_rates": [2, 0]}, "dilation_rates"),
        ({"filters": 8}, "Unknown argument.*GLCICCompletionNetwork: 'filters'"),
    ],
)
def test_generator_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        registry.build_generator("glcic", "tiny", **kwargs)


def test_unknown_presets():
    with pytest.raises(ValueError, match="Unknown preset 'huge' for model 'glcic'"):
        registry.build_generator("glcic", "huge")
    with pytest.raises(ValueError, match="Unknown preset 'huge' for model 'glcic'"):
        _discriminator("huge")


def test_generator_config_round_trip_and_save_load():
    generator = registry.build_generator("glcic", "tiny", mean_pixel=[0.4, 0.45, 0.5])
    config = generator.get_config()
    assert config["mean_pixel"] == pytest.approx([0.4, 0.45, 0.5])
    assert config["dilation_rates"] == [2, 4]
    restored = glcic.GLCICCompletionNetwork.from_config(json_round_trip(config))
    assert json_round_trip(restored.get_config()) == json_round_trip(config)
    batch = random_batch(2, 32, 32)
    expected = generator(batch)
    with tempfile.TemporaryDirectory() as tmp_dir:
        path = os.path.join(tmp_dir, "glcic.keras")
        generator.save(path)
        loaded = keras.saving.load_model(path)
    assert isinstance(loaded, glcic.GLCICCompletionNetwork)
    actual = loaded(batch)
    for key in ("raw", "inpainted"):
        np.testing.assert_array_equal(actual[key], expected[key])


def test_generator_mixed_precision_keeps_known_pixels_exact():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        generator = registry.build_generator("glcic", "tiny")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    outputs = run_generator_test(generator, random_batch(2, 32, 32))
    assert outputs["inpainted"].dtype == np.float32


# === Discriminator ===


def test_paper_discriminator_parameter_count_and_forward():
    disc = _discriminator("paper")
    trainable = sum(int(np.prod(w.shape)) for w in disc.trainable_weights)
    assert disc.count_params() == 45_070_593
    assert trainable == 45_063_681
    # Both branches end at 4x4x512 before the flatten, as in the paper.
    assert tuple(disc.get_layer("global_flatten").output.shape) == (None, 8192)
    assert tuple(disc.get_layer("local_flatten").output.shape) == (None, 8192)
    outputs = disc(
        {
            "images": np.random.default_rng(0).uniform(size=(1, 256, 256, 3)).astype("float32"),
            "boxes": np.array([[100, 120, 210, 240]], "int32"),
        }
    )
    assert tuple(outputs["logits"].shape) == (1, 1)
    np.testing.assert_allclose(
        outputs["probs"], keras.ops.sigmoid(outputs["logits"]), rtol=1e-6, atol=1e-7
    )


def test_seed001_discriminator():
    disc = _discriminator("seed001")
    assert disc.image_size == 64 and disc.local_size == 28
    assert tuple(disc.get_layer("local_crop").output.shape) == (None, 28, 28, 3)
    # Paper layer counts at 64 / 28 px: six and five stride-2 layers end at 1x1x512.
    assert tuple(disc.get_layer("global_flatten").output.shape) == (None, 512)
    assert disc.count_params() == 29_341_953


@pytest.mark.parametrize("head", ["flatten", "gap"])
def test_tiny_discriminator_shapes_and_gradients(head):
    disc = _discriminator("tiny", head=head)
    images = tf.constant(np.random.default_rng(1).uniform(size=(3, 64, 64, 3)), tf.float32)
    boxes = tf.constant([[0, 0, 20, 25], [40, 44, 64, 64], [20, 10, 44, 34]], tf.int32)
    with tf.GradientTape() as tape:
        tape.watch(images)
        outputs = disc({"images": images, "boxes": boxes}, training=True)
    assert tuple(outputs["logits"].shape) == (3, 1)
    assert tuple(outputs["probs"].shape) == (3, 1)
    assert outputs["logits"].dtype == tf.float32
    grads = tape.gradient(outputs["logits"], images)
    assert np.all(np.isfinite(grads)) and np.any(grads != 0)
    pooled = "global_gap" if head == "gap" else "global_flatten"
    assert disc.get_layer(pooled) is not None


def test_gap_head_has_fewer_parameters_than_flatten():
    flatten = _discriminator("tiny")
    gap = _discriminator("tiny", head="gap")
    # Flatten: 4x4x32 -> dense 64 per branch; GAP: 32 -> dense 64.
    dense_difference = 2 * (4 * 4 * 32 - 32) * 64
    assert flatten.count_params() - gap.count_params() == dense_difference


def test_discriminator_config_round_trip_and_errors():
    disc = _discriminator("tiny", head="gap")
    config = disc.get_config()
    restored = glcic.GLCICDiscriminator.from_config(json_round_trip(config))
    assert json_round_trip(restored.get_config()) == json_round_trip(config)
    assert config["head"] == "gap" and config["local_size"] == 32
    with pytest.raises(ValueError, match="head"):
        _discriminator("tiny", head="max")
    with pytest.raises(ValueError, match="local_size"):
        _discriminator("tiny", local_size=96)
    with pytest.raises(ValueError, match="incompatible"):
        disc({"images": np.zeros((1, 32, 32, 3), "float32"), "boxes": np.zeros((1, 4), "int32")})


# === Local crop ===


def _numpy_crop_boxes_ok(holes, crops, height, width, crop_size):
    for (y0, x0, y1, x1), (cy0, cx0, cy1, cx1) in zip(holes, crops, strict=True):
        assert (cy1 - cy0, cx1 - cx0) == (crop_size, crop_size)
        assert 0 <= cy0 and cy1 <= height and 0 <= cx0 and cx1 <= width
        assert cy0 <= y0 and y1 <= cy1 and cx0 <= x0 and x1 <= cx1, ((y0, x0, y1, x1), crops)


# Holes at the four borders, the four corners and the middle of a 64x64 image (seed 001 sizes).
_HOLES_64 = [
    [0, 20, 22, 45],  # top
    [42, 20, 64, 45],  # bottom
    [20, 0, 45, 21],  # left
    [20, 39, 45, 64],  # right
    [0, 0, 25, 25],  # top-left
    [0, 39, 25, 64],  # top-right
    [39, 0, 64, 25],  # bottom-left
    [39, 39, 64, 64],  # bottom-right
    [21, 22, 41, 45],  # middle
    [30, 30, 31, 31],  # single pixel
    [2, 1, 30, 29],  # exactly the crop size
]


def test_local_crop_boxes_contain_holes_at_borders_corners_middle():
    crops = keras.ops.convert_to_numpy(local_crop_boxes(_HOLES_64, 64, 28))
    assert crops.dtype == np.int32
    _numpy_crop_boxes_ok(_HOLES_64, crops, 64, 64, 28)
    # Centred when there is room: the middle hole's centre is the crop's centre (within 1/2 px).
    (y0, x0, y1, x1), (cy0, cx0, cy1, cx1) = _HOLES_64[8], crops[8]
    assert abs((y0 + y1) - (cy0 + cy1)) <= 1 and abs((x0 + x1) - (cx0 + cx1)) <= 1


def test_local_crop_boxes_exhaustive_small_image():
    # Every hole (in y; x is the same code) of side <= crop in a 20x17 image.
    height, width, crop = 20, 17, 8
    holes = [
        [y0, x0, y1, x1]
        for y0 in range(height)
        for y1 in range(y0 + 1, min(height, y0 + crop) + 1)
        for x0, x1 in ((0, 3), (14, 17), (5, 13))
    ]
    crops = keras.ops.convert_to_numpy(local_crop_boxes(holes, (height, width), crop))
    _numpy_crop_boxes_ok(holes, crops, height, width, crop)


def test_local_crop_boxes_large_hole_is_centred_and_truncated():
    crops = keras.ops.convert_to_numpy(local_crop_boxes([[10, 4, 50, 44]], 64, 28))
    assert crops.tolist() == [[16, 10, 44, 38]]  # 40 px hole: 6 px cut on each side


def test_local_crop_boxes_errors():
    with pytest.raises(ValueError, match="crop_size"):
        local_crop_boxes([[0, 0, 4, 4]], 32, 40)
    with pytest.raises(ValueError, match="crop_size"):
        local_crop_boxes([[0, 0, 4, 4]], 32, 0)


def test_crop_local_values_eager_and_under_xla():
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(len(_HOLES_64), 64, 64, 3)).astype("float32")
    crops_boxes = keras.ops.convert_to_numpy(local_crop_boxes(_HOLES_64, 64, 28))
    crops = keras.ops.convert_to_numpy(crop_local(images, crops_boxes, 28))
    assert crops.shape == (len(_HOLES_64), 28, 28, 3)
    for b, (y0, x0, y1, x1) in enumerate(crops_boxes):
        np.testing.assert_array_equal(crops[b], images[b, y0:y1, x0:x1])

    @tf.function(
        jit_compile=True,
        input_signature=[
            tf.TensorSpec((None, None, None, 3), tf.float32),
            tf.TensorSpec((None, 4), tf.int32),
        ],
    )
    def compiled(x, hole_boxes):
        size = tf.shape(x)[1:3]
        return crop_local(x, local_crop_boxes(hole_boxes, (size[0], size[1]), 28), 28)

    np.testing.assert_array_equal(compiled(images, np.array(_HOLES_64, "int32")), crops)


def test_crop_local_gradient_reaches_exactly_the_cropped_pixels():
    images = tf.constant(np.random.default_rng(4).uniform(size=(2, 32, 32, 3)), tf.float32)
    crop_boxes = tf.constant([[0, 16, 12, 28], [20, 0, 32, 12]], tf.int32)
    weights = tf.constant(np.random.default_rng(5).uniform(size=(2, 12, 12, 3)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(images)
        loss = tf.reduce_sum(crop_local(images, crop_boxes, 12) * weights)
    grads = tape.gradient(loss, images).numpy()
    expected = np.zeros((2, 32, 32, 3), "float32")
    expected[0, 0:12, 16:28] = weights[0]
    expected[1, 20:32, 0:12] = weights[1]
    np.testing.assert_array_equal(grads, expected)


def test_local_crop_layer():
    images = np.random.default_rng(6).uniform(size=(4, 64, 64, 3)).astype("float32")
    hole_boxes = np.array(_HOLES_64[:4], "int32")
    out = run_layer_test(
        LocalCrop,
        {"crop_size": 28},
        [images, hole_boxes],
        expected_output_shape=(4, 28, 28, 3),
        expected_num_trainable_weights=0,
    )
    crops_boxes = keras.ops.convert_to_numpy(local_crop_boxes(hole_boxes, 64, 28))
    for b, (y0, x0, y1, x1) in enumerate(crops_boxes):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(out)[b], images[b, y0:y1, x0:x1])


# === Post-processing ===


def _smooth_image(height=64, width=80):
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack(
        [100 + 60 * np.sin(xx / 7.0), 120 + 50 * np.cos(yy / 5.0), 60 + xx + 0.5 * yy], axis=-1
    )
    return np.clip(image, 0, 255).astype(np.uint8)


_POST_HOLES = {
    "middle": (20, 30, 44, 56),
    "top": (0, 30, 18, 56),
    "bottom": (46, 30, 64, 56),
    "left": (20, 0, 44, 20),
    "right": (20, 60, 44, 80),
    "top-left": (0, 0, 20, 24),
    "bottom-right": (40, 50, 64, 80),
    "full-height": (0, 10, 64, 30),
}


@pytest.mark.parametrize("where", sorted(_POST_HOLES))
def test_telea_poisson_blend_known_pixels_and_border_holes(where):
    base = _smooth_image()
    y0, x0, y1, x1 = _POST_HOLES[where]
    holes = np.zeros(base.shape[:2], bool)
    holes[y0:y1, x0:x1] = True
    # A completion with the right texture but a colour offset: Poisson blending must pull the
    # hole towards the surroundings.
    completion = np.clip(base.astype(int) + 40 * holes[..., None], 0, 255).astype(np.uint8)
    out = postprocess.telea_poisson_blend(completion, holes)
    assert out.dtype == np.uint8 and out.shape == base.shape
    np.testing.assert_array_equal(out[~holes], completion[~holes])
    offset_error = np.abs(completion[holes].astype(int) - base[holes]).mean()
    blended_error = np.abs(out[holes].astype(int) - base[holes]).mean()
    assert blended_error < 0.5 * offset_error, (where, blended_error, offset_error)


def test_telea_poisson_blend_float_and_grayscale():
    base = _smooth_image().astype(np.float32) / 255.0
    holes = np.zeros(base.shape[:2], np.float32)
    holes[10:30, 20:40] = 1.0
    out = postprocess.telea_poisson_blend(base, holes[..., None])
    assert out.dtype == np.float32 and out.shape == base.shape
    np.testing.assert_array_equal(out[holes == 0], base[holes == 0])
    assert np.abs(out[holes == 1] - base[holes == 1]).mean() < 0.05
    gray = postprocess.telea_poisson_blend((base[..., 0] * 255).astype(np.uint8), holes > 0)
    assert gray.shape == base.shape[:2] and gray.dtype == np.uint8
    # No hole: an unchanged copy.
    unchanged = postprocess.telea_poisson_blend(base, np.zeros(base.shape[:2]))
    np.testing.assert_array_equal(unchanged, base)


@pytest.mark.parametrize("method", ["telea", "ns"])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_opencv_inpaint(method, dtype):
    base = _smooth_image()
    image = base if dtype == "uint8" else base.astype(np.float32) / 255.0
    holes = np.zeros(base.shape[:2], np.uint8)
    holes[0:12, 30:44] = 255  # touching the top border
    holes[30:40, 10:20] = 255
    damaged = image.copy()
    damaged[holes > 0] = 0
    out = postprocess.opencv_inpaint(damaged, holes, method=method)
    assert out.dtype == image.dtype and out.shape == image.shape
    np.testing.assert_array_equal(out[holes == 0], damaged[holes == 0])
    scale = 255.0 if dtype == "uint8" else 1.0
    error = np.abs(out[holes > 0].astype(np.float32) - image[holes > 0]).mean() / scale
    assert error < 0.08  # a smooth image is easy; the zero-filled damage is at ~0.4


def test_postprocess_errors():
    image = _smooth_image()
    with pytest.raises(ValueError, match="hole mask of shape"):
        postprocess.telea_poisson_blend(image, np.ones((10, 10)))
    with pytest.raises(ValueError, match="method"):
        postprocess.opencv_inpaint(image, np.ones(image.shape[:2]), method="fmm")
