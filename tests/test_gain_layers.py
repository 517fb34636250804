"""GAIN's gradient layers (SPEC.md section 5): Grad against cv2.Sobel, the generator's gray
gradient map against the dataset's, the GAI block's equations and mask bookkeeping against a
numpy reference built on PartialConv2D's, and the mask-shrinkage priority."""

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_layer_test
from test_partial_conv import reference_partial_conv

from tfinpaint.data import gradients as data_gradients
from tfinpaint.layers.gradient import (
    GAIBlock,
    GAIStack,
    Grad,
    dilate_hole_mask,
    gray_sobel,
    shrink_hole_mask,
    shrinkage_priority,
    sobel,
)
from tfinpaint.layers.resample import upsample_bilinear_2x


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def reference_sobel(x):
    """Per-channel Sobel by explicit taps on the reflect-101 padded map (float64):
    (B, H, W, C) -> (B, H, W, 2C), d/dx and d/dy of channel c at 2c and 2c + 1."""
    x = x.astype(np.float64)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    kernel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)
    height, width = x.shape[1:3]
    d_dx, d_dy = np.zeros_like(x), np.zeros_like(x)
    for i in range(3):
        for j in range(3):
            window = padded[:, i : i + height, j : j + width]
            d_dx += kernel_x[i, j] * window
            d_dy += kernel_x.T[i, j] * window
    return np.stack([d_dx, d_dy], axis=-1).reshape(*x.shape[:3], 2 * x.shape[3])


def reference_dilated_hole(hole_mask):
    """1 where any pixel of the reflect-101 3x3 stencil is a hole."""
    padded = np.pad(hole_mask, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    height, width = hole_mask.shape[1:3]
    windows = [padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)]
    return np.max(windows, axis=0)


def reference_grad(x, hole_mask):
    dilated = reference_dilated_hole(hole_mask)
    return reference_sobel(x) * (1.0 - dilated), dilated


def _hole_mask(seed, height, width, rate=0.3):
    rng = np.random.default_rng(seed)
    hole_mask = (rng.uniform(size=(2, height, width, 1)) < rate).astype("float32")
    hole_mask[0, 2:9, 3:11] = 1.0
    hole_mask[1, 5:, :6] = 1.0
    return hole_mask


# === Sobel and Grad ===


def test_grad_matches_cv2_sobel_per_channel():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, size=(2, 12, 14, 3)).astype("float32")
    hole_mask = _hole_mask(1, 12, 14)
    gradients, gradient_hole = (_np(t) for t in Grad()([x, hole_mask]))
    assert gradients.shape == (2, 12, 14, 6) and gradient_hole.shape == (2, 12, 14, 1)
    kernel = np.ones((3, 3), np.uint8)
    for b in range(2):
        # The hole dilated by 1 with the border Sobel reads: OpenCV's dilation, reflect-101.
        dilated = cv2.dilate(hole_mask[b, :, :, 0], kernel, borderType=cv2.BORDER_REFLECT_101)
        np.testing.assert_array_equal(gradient_hole[b, :, :, 0], dilated)
        valid = dilated == 0
        assert valid.any() and (~valid).any()
        for c in range(3):
            for axis, (dx, dy) in enumerate(((1, 0), (0, 1))):
                expected = cv2.Sobel(x[b, :, :, c], cv2.CV_32F, dx, dy, ksize=3)
                actual = gradients[b, :, :, 2 * c + axis]
                np.testing.assert_allclose(actual[valid], expected[valid], atol=1e-5)
                assert np.all(actual[~valid] == 0.0)


def test_grad_ignores_hole_pixels_and_matches_numpy_reference():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(2, 9, 11, 2)).astype("float32")
    hole_mask = _hole_mask(3, 9, 11)
    noisy = np.where(hole_mask > 0, rng.uniform(size=x.shape), x).astype("float32")
    expected, expected_hole = reference_grad(x, hole_mask)
    for inputs in (x, noisy):
        gradients, gradient_hole = (_np(t) for t in Grad()([inputs, hole_mask]))
        np.testing.assert_allclose(gradients, expected, atol=1e-5)
        np.testing.assert_array_equal(gradient_hole, expected_hole)


def test_gray_sobel_equals_the_datasets_gradients():
    rng = np.random.default_rng(4)
    images = rng.uniform(size=(2, 16, 24, 3)).astype("float32")
    expected = _np(data_gradients.sobel_gradients(images))
    np.testing.assert_allclose(_np(gray_sobel(images)), expected, atol=2e-6)
    opencv = data_gradients.opencv_sobel_gradients(images)
    np.testing.assert_allclose(_np(gray_sobel(images)), opencv, atol=2e-6)


def test_sobel_layout_is_x_then_y_per_channel():
    rows, cols = np.mgrid[0:5, 0:6].astype("float32")
    x = np.stack([cols, rows], axis=-1)[None]  # channel 0 grows along x, channel 1 along y
    out = _np(sobel(x))
    assert out.shape == (1, 5, 6, 4)
    np.testing.assert_array_equal(out[0, :, 1:-1, 0], 8.0)  # d/dx of channel 0
    np.testing.assert_array_equal(out[0, ..., 1], 0.0)  # d/dy of channel 0
    np.testing.assert_array_equal(out[0, ..., 2], 0.0)  # d/dx of channel 1
    np.testing.assert_array_equal(out[0, 1:-1, :, 3], 8.0)  # d/dy of channel 1


def test_grad_layer_contract():
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(2, 8, 8, 3)).astype("float32")
    run_layer_test(
        Grad,
        {},
        [x, _hole_mask(6, 8, 8)],
        expected_output_shape=[(2, 8, 8, 6), (2, 8, 8, 1)],
        expected_num_trainable_weights=0,
        run_training_check=False,  # No weights to train.
    )


# === GAI block ===


def _set_random_weights(block, seed):
    rng = np.random.default_rng(seed)
    weights = {}
    for name in ("conv_ii", "conv_gg", "conv_gi", "conv_ig"):
        layer = getattr(block, name)
        kernel = rng.normal(scale=0.3, size=layer.kernel.shape).astype("float32")
        bias = rng.normal(scale=0.1, size=layer.bias.shape).astype("float32")
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
        weights[name] = (kernel, bias)
    return weights


def reference_gai_block(image, gradient, hole_mask, weights, strides, dilation, activation):
    """The block's four equations with the numpy partial convolution (float64)."""

    def pconv(name, x, mask, strides=strides, dilation=dilation):
        kernel, bias = weights[name]
        y, new_hole, _ = reference_partial_conv(
            x, mask, kernel, bias, (strides,) * 2, "same", (dilation,) * 2, False
        )
        return y, new_hole

    image_ii, hole_ii = pconv("conv_ii", image, hole_mask)
    gradient_gg, hole_gg = pconv("conv_gg", gradient, hole_mask)
    image_gi, hole_gi = pconv("conv_gi", gradient, hole_mask)
    valid = 1.0 - hole_ii
    image_prime = image_ii * valid
    gradients, gradient_hole = reference_grad(image_prime, hole_ii)
    gradient_ig, hole_ig = pconv("conv_ig", gradients, gradient_hole, strides=1, dilation=1)
    return {
        "image": activation(image_prime + image_gi * valid),
        "gradient": activation(gradient_gg * valid + gradient_ig * valid),
        "holes": (hole_ii, hole_gg, hole_gi, hole_ig),
        "gradient_ig": gradient_ig,
    }


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


@pytest.mark.parametrize(
    "strides, dilation, activation",
    [(1, 1, None), (2, 1, "elu"), (1, 2, "elu")],
    ids=["k3", "k3_s2", "k3_d2"],
)
def test_gai_block_matches_numpy_equations(strides, dilation, activation):
    rng = np.random.default_rng(7)
    image = rng.uniform(-1.0, 1.0, size=(2, 12, 14, 3)).astype("float32")
    gradient = rng.uniform(-1.0, 1.0, size=(2, 12, 14, 2)).astype("float32")
    hole_mask = _hole_mask(8, 12, 14, rate=0.2)
    # A valid line one pixel wide inside a hole: the dilated update leaves valid parts thinner
    # than the 3x3 stencil, where PConv_IG's own mask is smaller than M_{i+1}.
    hole_mask[:, 1:11, 1:13] = 1.0
    hole_mask[:, 2:10, 7] = 0.0
    block = GAIBlock(4, 5, strides=strides, dilation_rate=dilation, activation=activation)
    block([image, gradient, hole_mask])
    weights = _set_random_weights(block, 9)
    image_out, gradient_out, new_hole = (_np(t) for t in block([image, gradient, hole_mask]))

    act = _elu if activation == "elu" else (lambda x: x)
    expected = reference_gai_block(image, gradient, hole_mask, weights, strides, dilation, act)
    hole_ii, hole_gg, hole_gi, hole_ig = expected["holes"]
    # Mask bookkeeping: PConv_II, PConv_GG and PConv_GI update M_i alike; PConv_IG's update
    # of the dilated mask is a subset of M_{i+1}'s valid area, 0 outside its own.
    np.testing.assert_array_equal(hole_gg, hole_ii)
    np.testing.assert_array_equal(hole_gi, hole_ii)
    assert np.all(hole_ig >= hole_ii)
    assert np.all(
        expected["gradient_ig"][np.broadcast_to(hole_ig > 0, (*hole_ig.shape[:3], 5))] == 0
    )
    if dilation == 2:
        assert np.any(hole_ig > hole_ii), "the case must hold valid parts thinner than 3 pixels"
    np.testing.assert_array_equal(new_hole, hole_ii)
    np.testing.assert_allclose(image_out, expected["image"], atol=1e-4)
    np.testing.assert_allclose(gradient_out, expected["gradient"], atol=1e-4)
    holes = new_hole[..., 0] > 0
    assert np.all(image_out[holes] == 0.0) and np.all(gradient_out[holes] == 0.0)
    assert image_out.shape == (2, -(-12 // strides), -(-14 // strides), 4)


def test_gai_block_layer_contract():
    rng = np.random.default_rng(10)
    image = rng.uniform(size=(2, 8, 8, 3)).astype("float32")
    gradient = rng.uniform(size=(2, 8, 8, 2)).astype("float32")
    run_layer_test(
        GAIBlock,
        {
            "image_filters": 4,
            "gradient_filters": 6,
            "dilation_rate": 2,
            "activation": "elu",
            "shrinkage_delta": 0.4,
        },
        [image, gradient, _hole_mask(11, 8, 8)],
        expected_output_shape=[(2, 8, 8, 4), (2, 8, 8, 6), (2, 8, 8, 1)],
        expected_num_trainable_weights=8,
    )


def test_gai_block_refuses_bad_arguments():
    with pytest.raises(ValueError, match="image_filters"):
        GAIBlock(0, 4)
    with pytest.raises(ValueError, match="shrinkage_delta"):
        GAIBlock(4, 4, shrinkage_delta=1.5)
    with pytest.raises(ValueError, match="strides of 1"):
        GAIBlock(4, 4, strides=2, shrinkage_delta=0.4)


def test_gai_stack_is_its_blocks_in_sequence():
    rng = np.random.default_rng(18)
    inputs = [
        rng.uniform(size=(2, 8, 8, 3)).astype("float32"),
        rng.uniform(size=(2, 8, 8, 2)).astype("float32"),
        _hole_mask(19, 8, 8),
    ]
    blocks = [
        {"image_filters": 4, "gradient_filters": 6, "strides": 2, "name": "down"},
        {"image_filters": 4, "gradient_filters": 6, "activation": "elu", "name": "up"},
        {"image_filters": 3, "gradient_filters": 2, "dilation_rate": 2, "name": "out"},
    ]
    outputs = run_layer_test(
        GAIStack,
        {"blocks": blocks, "upsample": [False, True, False]},
        inputs,
        expected_output_shape=[(2, 8, 8, 3), (2, 8, 8, 2), (2, 8, 8, 1)],
        expected_num_trainable_weights=24,
    )
    stack = GAIStack(blocks, upsample=[False, True, False])
    stack(inputs)
    down = stack.get_block("down")(inputs)
    flows = stack.get_block("out")(stack.get_block("up")(down))
    for actual, expected in zip(stack(inputs), flows):
        np.testing.assert_array_equal(_np(actual), _np(expected))
    # The "up" block upsamples its inputs first: the flows bilinearly, the mask by repetition.
    up = stack.get_block("up")
    assert up.upsample and up.get_config()["upsample"]
    plain = GAIBlock(**blocks[1])
    upsampled = [
        keras.ops.image.resize(down[0], (8, 8), "bilinear"),
        keras.ops.image.resize(down[1], (8, 8), "bilinear"),
        np.repeat(np.repeat(_np(down[2]), 2, 1), 2, 2),
    ]
    plain(upsampled)
    plain.set_weights(up.get_weights())
    for actual, expected in zip(up(down), plain(upsampled)):
        np.testing.assert_allclose(_np(actual), _np(expected), rtol=1e-5, atol=1e-5)
    assert [tuple(_np(o).shape) for o in outputs] == [(2, 8, 8, 3), (2, 8, 8, 2), (2, 8, 8, 1)]
    with pytest.raises(ValueError, match="unique name"):
        GAIStack([{"image_filters": 1, "gradient_filters": 1}])
    with pytest.raises(ValueError, match="one per block"):
        GAIStack(blocks, upsample=[True])


def test_gai_stack_residual_blocks_add_their_input():
    # A residual block's flows are its input's plus its own; its mask is its own, and the
    # features stay 0 in the holes left (the block's holes lie within its input's).
    rng = np.random.default_rng(21)
    hole = np.zeros((2, 16, 16, 1), "float32")
    hole[0, 3:13, 4:12] = 1.0
    hole[1, 6:9, 1:15] = 1.0
    inputs = [
        rng.uniform(size=(2, 16, 16, 3)).astype("float32"),
        rng.normal(size=(2, 16, 16, 2)).astype("float32"),
        hole,
    ]
    blocks = [
        {"image_filters": 4, "gradient_filters": 6, "activation": "elu", "name": "first"},
        {"image_filters": 4, "gradient_filters": 6, "dilation_rate": 2, "name": "second"},
    ]
    stack = GAIStack(blocks, residual=[False, True])
    image, gradient, mask = (_np(x) for x in stack(inputs))
    assert stack.get_config()["residual"] == [False, True]
    first = [_np(x) for x in stack.get_block("first")(inputs)]
    second = [_np(x) for x in stack.get_block("second")(first)]
    np.testing.assert_allclose(image, first[0] + second[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gradient, first[1] + second[1], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(mask, second[2])
    assert mask.sum() > 0 and mask.sum() < first[2].sum()  # holes left, smaller than before
    holes = mask[..., 0] > 0.5
    assert not image[holes].any() and not gradient[holes].any()
    restored = GAIStack.from_config(stack.get_config())
    restored(inputs)
    restored.set_weights(stack.get_weights())
    np.testing.assert_array_equal(_np(restored(inputs)[0]), image)
    with pytest.raises(ValueError, match="one per block"):
        GAIStack(blocks, residual=[True])
    with pytest.raises(ValueError, match="changes the flows' size"):
        GAIStack([dict(blocks[0], strides=2)], residual=[True])
    with pytest.raises(ValueError, match="keeps the widths"):
        GAIStack([blocks[0]], residual=[True])(inputs)


# === Mask-shrinkage priority ===


def reference_priority(hole_mask, count, gradient_features):
    """SPEC.md's priority in float64: confidence x |unit border normal . isophote|."""
    valid = 1.0 - hole_mask.astype(np.float64)
    padded = np.pad(valid, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    height, width = valid.shape[1:3]
    smoothed = np.mean(
        [padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)], axis=0
    )
    normal = reference_sobel(smoothed)
    norm = np.hypot(normal[..., 0:1], normal[..., 1:2])
    unit = np.where(norm > 0, normal / np.where(norm > 0, norm, 1.0), 0.0)
    gradient = reference_sobel(gradient_features.astype(np.float64).mean(-1, keepdims=True))
    isophote = np.concatenate([-gradient[..., 1:2], gradient[..., 0:1]], axis=-1)
    return count / 9.0 * np.abs(np.sum(unit * isophote, axis=-1, keepdims=True))


def _shrinkage_case(seed):
    rng = np.random.default_rng(seed)
    image = rng.uniform(size=(2, 16, 16, 3)).astype("float32")
    gradient = rng.uniform(-1, 1, size=(2, 16, 16, 2)).astype("float32")
    hole_mask = np.zeros((2, 16, 16, 1), "float32")
    hole_mask[0, 3:12, 4:13] = 1.0
    hole_mask[1, 6:16, 2:9] = 1.0
    hole_mask[1, 1:4, 10:14] = 1.0
    return image, gradient, hole_mask


def test_priority_matches_numpy_reference():
    _, gradient, hole_mask = _shrinkage_case(12)
    rng = np.random.default_rng(13)
    features = rng.normal(size=(2, 16, 16, 5)).astype("float32")
    ones = np.ones((3, 3, 1, 1), "float32")
    count = _np(keras.ops.conv(1.0 - hole_mask, ones, padding="same"))
    priority = _np(shrinkage_priority(hole_mask, count / 9.0, features))
    expected = reference_priority(hole_mask, count, features)
    np.testing.assert_allclose(priority, expected, rtol=1e-4, atol=1e-4)
    # Away from any border the normal is 0, and so is the priority.
    assert np.all(priority[0, 6:9, 7:10] == 0.0)
    assert np.all(priority >= 0.0)


@pytest.mark.parametrize("dilation", [1, 2])
def test_delta_zero_is_the_plain_update_and_delta_keeps_a_subset(dilation):
    image, gradient, hole_mask = _shrinkage_case(14)
    plain = GAIBlock(4, 6, dilation_rate=dilation, activation="elu")
    outputs = {None: [_np(t) for t in plain([image, gradient, hole_mask])]}
    for delta in (0.0, 0.4, 1.0):
        block = GAIBlock(4, 6, dilation_rate=dilation, activation="elu", shrinkage_delta=delta)
        block([image, gradient, hole_mask])
        block.set_weights(plain.get_weights())
        outputs[delta] = [_np(t) for t in block([image, gradient, hole_mask])]

    plain_hole = outputs[None][2]
    # delta = 0: the plain partial-convolution update, exactly, and the same features.
    np.testing.assert_array_equal(outputs[0.0][2], plain_hole)
    for index in (0, 1):
        np.testing.assert_array_equal(outputs[0.0][index], outputs[None][index])
    filled = (hole_mask > 0) & (plain_hole == 0)
    assert filled[0].any() and filled[1].any()
    previous = filled
    for delta in (0.4, 1.0):
        new_hole = outputs[delta][2]
        kept = (hole_mask > 0) & (new_hole == 0)
        # A subset of the plain update that keeps every valid pixel valid, per sample some.
        assert np.all(new_hole >= plain_hole) and np.all(new_hole <= hole_mask + plain_hole)
        assert kept[0].any() and kept[1].any(), delta
        assert np.all(kept <= previous) and kept.sum() < filled.sum(), delta
        previous = kept
        holes = np.broadcast_to(new_hole > 0, outputs[delta][0].shape)
        assert np.all(outputs[delta][0][holes] == 0.0)


def test_shrink_keeps_pixels_at_or_above_delta_times_the_sample_maximum():
    image, gradient, hole_mask = _shrinkage_case(15)
    block = GAIBlock(4, 6, dilation_rate=2, shrinkage_delta=0.4)
    block([image, gradient, hole_mask])
    _set_random_weights(block, 16)
    new_hole = _np(block([image, gradient, hole_mask])[2])

    weights = {
        name: (_np(getattr(block, name).kernel), _np(getattr(block, name).bias))
        for name in ("conv_gg",)
    }
    gradient_gg, plain_hole, count = reference_partial_conv(
        gradient, hole_mask, *weights["conv_gg"], (1, 1), "same", (2, 2), False
    )
    priority = reference_priority(hole_mask, count[..., None], gradient_gg)
    candidates = (hole_mask > 0) & (plain_hole == 0)
    priority = np.where(candidates, priority, 0.0)
    threshold = 0.4 * priority.max(axis=(1, 2, 3), keepdims=True)
    assert np.all(threshold > 0)
    # Pixels too close to the threshold for float32 to decide are not compared.
    clear = np.abs(priority - threshold) > 1e-4 * threshold
    expected_kept = candidates & (priority >= threshold)
    kept = candidates & (new_hole == 0)
    np.testing.assert_array_equal(kept[clear], expected_kept[clear])
    assert expected_kept.sum() < candidates.sum()


def test_shrink_hole_mask_thresholds_per_sample():
    hole_mask = np.ones((2, 1, 4, 1), "float32")
    updated = np.zeros((2, 1, 4, 1), "float32")
    updated[:, :, 3] = 1.0  # The last pixel is not filled by the plain update.
    priority = np.array([[1.0, 2.0, 4.0, 100.0], [0.01, 0.02, 0.04, 0.0]], "float32")
    priority = priority.reshape(2, 1, 4, 1)
    new_hole = _np(shrink_hole_mask(hole_mask, updated, priority, 0.5))
    # Each sample against its own maximum among its fillable pixels (4 and 0.04).
    np.testing.assert_array_equal(new_hole[:, 0, :, 0], [[1, 0, 0, 1], [1, 0, 0, 1]])
    np.testing.assert_array_equal(_np(shrink_hole_mask(hole_mask, updated, priority, 0.0)), updated)
    # All priorities 0: nothing to rank by, the plain update.
    zeros = np.zeros_like(priority)
    np.testing.assert_array_equal(_np(shrink_hole_mask(hole_mask, updated, zeros, 0.4)), updated)


def test_upsample_bilinear_2x_matches_resize_and_traces_without_sizes():
    x = np.random.default_rng(20).normal(size=(2, 5, 7, 3)).astype("float32")
    expected = _np(keras.ops.image.resize(x, (10, 14), "bilinear"))
    np.testing.assert_allclose(_np(upsample_bilinear_2x(x)), expected, atol=1e-6)
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    traced = tf.function(upsample_bilinear_2x, input_signature=[spec])
    np.testing.assert_allclose(traced(x).numpy(), expected, atol=1e-6)


def test_dilate_hole_mask_is_the_stencil_validity():
    hole_mask = _hole_mask(17, 7, 9)
    np.testing.assert_array_equal(
        _np(dilate_hole_mask(hole_mask)), reference_dilated_hole(hole_mask)
    )
