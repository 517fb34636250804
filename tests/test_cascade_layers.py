"""Tests of the cascade generator's layers (SPEC.md section 3): the CD block, the
depthwise-separable residual block, the fuse block, the SN discriminator block and the
nearest-neighbour resampling layers, with numpy references written from the definitions."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_layer_test
from keras import ops

from tfinpaint.layers.blocks import FuseBlock, SeparableResidualBlock, SNResidualBlock
from tfinpaint.layers.dilation import CDBlock
from tfinpaint.layers.resample import NearestDownsample2D, NearestUpsample2D

RNG = np.random.default_rng(0)


def _random(*shape):
    return RNG.uniform(-1.0, 1.0, size=shape).astype("float32")


def leaky_relu(x):
    return np.where(x > 0, x, 0.2 * x)


def reference_conv2d(x, kernel, bias=None, dilation=1):
    """'same' convolution (stride 1, odd kernel) by explicit loops over the kernel taps and
    output pixels, float64. With an odd kernel the dilated extent is odd, so "same" pads
    dilation * (k - 1) / 2 on every side."""
    x = x.astype(np.float64)
    kernel = kernel.astype(np.float64)
    kernel_h, kernel_w, _, filters = kernel.shape
    pad_h, pad_w = dilation * (kernel_h - 1) // 2, dilation * (kernel_w - 1) // 2
    x_pad = np.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)))
    batch, height, width, _ = x.shape
    y = np.zeros((batch, height, width, filters))
    for i in range(height):
        for j in range(width):
            for tap_i in range(kernel_h):
                for tap_j in range(kernel_w):
                    pixel = x_pad[:, i + tap_i * dilation, j + tap_j * dilation, :]  # (B, C)
                    y[:, i, j, :] += pixel @ kernel[tap_i, tap_j]  # (B, C) @ (C, F) -> (B, F)
    if bias is not None:
        y += bias
    return y


def reference_depthwise_conv2d(x, kernel):
    """'same' 3x3 depthwise convolution (depth multiplier 1), float64."""
    channels = x.shape[-1]
    out = np.zeros(x.shape)
    for c in range(channels):
        out[..., c] = reference_conv2d(x[..., c : c + 1], kernel[:, :, c : c + 1, :])[..., 0]
    return out


def reference_cd_block(x, kernels, biases, rates=(1, 2, 4, 8)):
    """CD block from the definition: per-rate dilated conv + activation, hierarchical sums
    y1, y1+y2, y1+y2+y4, y1+y2+y4+y8, concatenation, residual addition."""
    branches = [
        leaky_relu(reference_conv2d(x, k, b, dilation=r))
        for k, b, r in zip(kernels, biases, rates, strict=True)
    ]
    merged = [branches[0]]
    for branch in branches[1:]:
        merged.append(merged[-1] + branch)
    return x + np.concatenate(merged, axis=-1)


def _kernel_and_bias(layer):
    return keras.ops.convert_to_numpy(layer.kernel), keras.ops.convert_to_numpy(layer.bias)


# --- CD block ---


def test_cd_block_harness():
    run_layer_test(
        CDBlock,
        {"dilation_rates": (1, 2, 4, 8)},
        _random(2, 16, 16, 8),
        expected_output_shape=(2, 16, 16, 8),
        expected_num_trainable_weights=8,
        expected_num_non_trainable_weights=0,
        saving_atol=1e-6,
    )


def test_cd_block_splits_channels_into_quarters():
    block = CDBlock()
    block.build((None, None, None, 16))
    assert [branch.dilation_rate for branch in block.branches] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    for branch in block.branches:
        assert tuple(branch.kernel.shape) == (3, 3, 16, 4)  # C -> C/4 per rate
    # Each quarter of the output is a running sum: quarter k depends on branches 0..k only.
    x = _random(1, 12, 12, 16)
    for branch in block.branches[1:]:
        branch.kernel.assign(np.zeros(branch.kernel.shape, "float32"))
        branch.bias.assign(np.zeros(branch.bias.shape, "float32"))
    residual = keras.ops.convert_to_numpy(block(x)) - x
    for quarter in range(1, 4):
        np.testing.assert_allclose(
            residual[..., 4 * quarter : 4 * quarter + 4], residual[..., :4], atol=1e-6
        )


@pytest.mark.parametrize("channels", [6, 10])
def test_cd_block_rejects_channels_not_divisible_by_four(channels):
    with pytest.raises(ValueError, match=f"{channels} channels"):
        CDBlock()(_random(1, 8, 8, channels))


def test_cd_block_rejects_bad_rates():
    with pytest.raises(ValueError, match="dilation_rates"):
        CDBlock(dilation_rates=())


def test_cd_block_matches_numpy_reference():
    x = _random(2, 18, 18, 8)
    block = CDBlock()
    y = keras.ops.convert_to_numpy(block(x))
    params = [_kernel_and_bias(branch) for branch in block.branches]
    expected = reference_cd_block(x, [k for k, _ in params], [b for _, b in params])
    np.testing.assert_allclose(y, expected, atol=1e-4)


# --- Separable residual block ---


@pytest.mark.parametrize("normalization", [None, "instance"])
def test_separable_residual_block_harness(normalization):
    run_layer_test(
        SeparableResidualBlock,
        {"filters": 8, "normalization": normalization},
        _random(2, 16, 16, 8),
        expected_output_shape=(2, 16, 16, 8),
        expected_num_trainable_weights=6 if normalization is None else 8,
        saving_atol=1e-6,
    )


def test_separable_residual_block_matches_numpy_reference():
    x = _random(2, 10, 10, 4)
    block = SeparableResidualBlock(4)
    y = keras.ops.convert_to_numpy(block(x))

    def separable(conv, inputs):
        depthwise = keras.ops.convert_to_numpy(conv.depthwise_kernel)  # (3, 3, C, 1)
        pointwise = keras.ops.convert_to_numpy(conv.pointwise_kernel)  # (1, 1, C, F)
        bias = keras.ops.convert_to_numpy(conv.bias)
        return reference_depthwise_conv2d(inputs, depthwise) @ pointwise[0, 0] + bias

    hidden = leaky_relu(separable(block.conv_1, x))
    expected = leaky_relu(x + separable(block.conv_2, hidden))
    np.testing.assert_allclose(y, expected, atol=1e-4)
    # Depthwise-separable: 9C + C^2 + C parameters per convolution, not 9C^2 + C.
    assert block.count_params() == 2 * (9 * 4 + 4 * 4 + 4)


def test_separable_residual_block_errors():
    with pytest.raises(ValueError, match="6 channels"):
        SeparableResidualBlock(8)(_random(1, 8, 8, 6))
    with pytest.raises(ValueError, match="normalization"):
        SeparableResidualBlock(8, normalization="layer")


# --- Fuse block ---


@pytest.mark.parametrize("normalization", [None, "batch", "instance"])
def test_fuse_block_harness(normalization):
    run_layer_test(
        FuseBlock,
        {"filters": 8, "normalization": normalization},
        [_random(2, 8, 8, 16), _random(2, 16, 16, 8)],
        expected_output_shape=(2, 16, 16, 8),
        expected_num_trainable_weights=4 if normalization is None else 6,
        saving_atol=1e-6,
    )


def test_fuse_block_has_no_normalization_by_default():
    fuse = FuseBlock(8)
    fuse([_random(1, 4, 4, 16), _random(1, 8, 8, 8)])
    assert fuse.low_res_norm is None and fuse.high_res_norm is None
    assert {w.path.split("/")[-1] for w in fuse.weights} == {"kernel", "bias"}


def test_fuse_block_matches_numpy_reference():
    low_res, high_res = _random(2, 6, 6, 8), _random(2, 12, 12, 4)
    fuse = FuseBlock(4)
    y = keras.ops.convert_to_numpy(fuse([low_res, high_res]))
    upsampled = np.repeat(np.repeat(low_res, 2, axis=1), 2, axis=2)  # nearest x2
    low_kernel, low_bias = _kernel_and_bias(fuse.low_res_conv)
    high_kernel, high_bias = _kernel_and_bias(fuse.high_res_conv)
    expected = leaky_relu(
        reference_conv2d(upsampled, low_kernel, low_bias)
        + reference_conv2d(high_res, high_kernel, high_bias)
    )
    np.testing.assert_allclose(y, expected, atol=1e-4)


def test_fuse_block_instance_normalization_matches_numpy_reference():
    low_res, high_res = _random(2, 4, 4, 8), _random(2, 8, 8, 4)
    fuse = FuseBlock(4, normalization="instance")
    y = keras.ops.convert_to_numpy(fuse([low_res, high_res]))
    epsilon = fuse.low_res_norm.epsilon

    def instance_norm(v):  # per example and channel; gamma = 1, beta = 0 at initialisation
        mean = v.mean(axis=(1, 2), keepdims=True)
        var = v.var(axis=(1, 2), keepdims=True)
        return (v - mean) / np.sqrt(var + epsilon)

    upsampled = np.repeat(np.repeat(low_res, 2, axis=1), 2, axis=2)
    low = reference_conv2d(upsampled, keras.ops.convert_to_numpy(fuse.low_res_conv.kernel))
    high = reference_conv2d(high_res, keras.ops.convert_to_numpy(fuse.high_res_conv.kernel))
    expected = leaky_relu(instance_norm(low) + instance_norm(high))
    np.testing.assert_allclose(y, expected, atol=1e-4)


def test_fuse_block_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="twice"):
        FuseBlock(4)([_random(1, 4, 4, 8), _random(1, 10, 10, 4)])
    with pytest.raises(ValueError, match="normalization"):
        FuseBlock(4, normalization="group")


# --- SN residual discriminator block ---


@pytest.mark.parametrize("downsample", [True, False])
def test_sn_residual_block_harness(downsample):
    side = 8 if downsample else 16
    run_layer_test(
        SNResidualBlock,
        {"filters": 8, "downsample": downsample},
        _random(2, 16, 16, 4),
        expected_output_shape=(2, side, side, 8),
        # No call_kwargs: a model built with training=True would re-normalise its kernels on
        # every call, so its outputs would change between the save/load comparison's calls.
        # fit() still runs the power iteration (it calls with training=True).
        # conv_1, conv_2 and the 1x1 shortcut: kernel + bias each, plus one vector_u each.
        expected_num_trainable_weights=6,
        expected_num_non_trainable_weights=3,
        saving_atol=1e-6,
    )


def test_sn_residual_block_identity_shortcut_and_spectral_norm():
    block = SNResidualBlock(8, downsample=False)
    x = _random(2, 8, 8, 8)
    y = block(x, training=False)
    assert block.conv_shortcut is None
    assert isinstance(block.conv_1, keras.layers.SpectralNormalization)
    assert isinstance(block.conv_2, keras.layers.SpectralNormalization)
    kernel_before = keras.ops.convert_to_numpy(block.conv_1.layer.kernel).copy()
    block(x, training=False)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(block.conv_1.layer.kernel), kernel_before
    )
    for _ in range(20):  # one power iteration per call
        block(x, training=True)
    for conv in (block.conv_1, block.conv_2):
        kernel = keras.ops.convert_to_numpy(conv.layer.kernel)
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert abs(sigma - 1.0) < 0.05, sigma
    assert y.shape == (2, 8, 8, 8)


# --- Resampling ---


def test_resample_layers_harness():
    run_layer_test(
        NearestDownsample2D,
        {"factor": 4},
        _random(2, 16, 16, 3),
        expected_output_shape=(2, 4, 4, 3),
        run_training_check=False,
    )
    run_layer_test(
        NearestUpsample2D,
        {"factor": 2},
        _random(2, 8, 8, 3),
        expected_output_shape=(2, 16, 16, 3),
        run_training_check=False,
    )


@pytest.mark.parametrize("factor", [2, 4])
def test_resample_layers_are_nearest_neighbour(factor):
    x = _random(2, 16, 24, 3)
    down = keras.ops.convert_to_numpy(NearestDownsample2D(factor)(x))
    resized = ops.image.resize(x, (16 // factor, 24 // factor), interpolation="nearest")
    np.testing.assert_array_equal(down, keras.ops.convert_to_numpy(resized))
    up = keras.ops.convert_to_numpy(NearestUpsample2D(factor)(x))
    np.testing.assert_array_equal(up, np.repeat(np.repeat(x, factor, axis=1), factor, axis=2))


def test_resample_layers_trace_with_dynamic_sizes():
    down, up = NearestDownsample2D(2), NearestUpsample2D(2)
    roundtrip = tf.function(
        lambda x: up(down(x)), input_signature=[tf.TensorSpec((None, None, None, 3))]
    )
    for side in (8, 20):
        x = _random(1, side, side, 3)
        assert tuple(roundtrip(x).shape) == (1, side, side, 3)
    with pytest.raises(ValueError, match="positive integer"):
        NearestUpsample2D(0)
