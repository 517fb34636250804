"""Tests of DeepGIN's layers (SPEC.md section 4): the replicate-padded convolution, the SPD
block, the non-local self-attention and the aligned-corners bilinear resize, against numpy
references written from the definitions."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import assert_float_close, run_layer_test

from tfinpaint.layers.attention import SelfAttention2D
from tfinpaint.layers.dilation import SPD4_DILATION_RATES, SPD8_DILATION_RATES, SPDBlock
from tfinpaint.layers.padding import ReplicatePadConv2D, replicate_pad
from tfinpaint.layers.resample import BilinearResize2D

RNG = np.random.default_rng(0)


def _random(*shape):
    return RNG.uniform(-1.0, 1.0, size=shape).astype("float32")


def reference_replicate_conv2d(x, kernel, bias, stride=1, dilation=1, pad=None):
    """Replicate-padded "valid" convolution by explicit loops over the kernel taps, float64."""
    x = x.astype(np.float64)
    kernel = kernel.astype(np.float64)
    kernel_size, _, _, filters = kernel.shape
    if pad is None:
        pad = dilation * (kernel_size - 1) // 2
    x_pad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    extent = dilation * (kernel_size - 1) + 1
    out_h = (x_pad.shape[1] - extent) // stride + 1
    out_w = (x_pad.shape[2] - extent) // stride + 1
    y = np.zeros((x.shape[0], out_h, out_w, filters)) + bias
    for tap_i in range(kernel_size):
        for tap_j in range(kernel_size):
            rows = x_pad[
                :,
                tap_i * dilation : tap_i * dilation + stride * (out_h - 1) + 1 : stride,
                tap_j * dilation : tap_j * dilation + stride * (out_w - 1) + 1 : stride,
            ]
            y += rows @ kernel[tap_i, tap_j]  # (B, h, w, C_in) @ (C_in, F) -> (B, h, w, F)
    return y


def _conv_weights(layer):
    """(kernel, bias) of a ReplicatePadConv2D."""
    return [np.asarray(w) for w in layer.conv.weights]


def test_replicate_pad_matches_numpy_edge_pad():
    x = _random(2, 5, 6, 3)
    for padding, np_pad in (
        (2, ((2, 2), (2, 2))),
        (((1, 3), (0, 10)), ((1, 3), (0, 10))),
        (0, ((0, 0), (0, 0))),
    ):
        expected = np.pad(x, ((0, 0), *np_pad, (0, 0)), mode="edge")
        np.testing.assert_array_equal(np.asarray(replicate_pad(x, padding)), expected)


def test_replicate_pad_rejects_bad_padding():
    with pytest.raises(ValueError, match="padding"):
        replicate_pad(_random(1, 4, 4, 1), -1)


@pytest.mark.parametrize(
    "kernel_size, strides, dilation_rate",
    [(7, 1, 1), (4, 2, 1), (3, 1, 10), (3, 1, 1)],
)
def test_replicate_pad_conv_matches_numpy_reference(kernel_size, strides, dilation_rate):
    x = _random(2, 12, 12, 4)
    layer = ReplicatePadConv2D(
        5, kernel_size, strides=strides, dilation_rate=dilation_rate, activation=None
    )
    y = np.asarray(layer(x))
    kernel, bias = _conv_weights(layer)
    expected = reference_replicate_conv2d(x, kernel, bias, strides, dilation_rate)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_replicate_pad_conv_keeps_or_halves_size():
    x = np.zeros((1, 16, 16, 3), "float32")
    assert ReplicatePadConv2D(8, 7)(x).shape == (1, 16, 16, 8)
    assert ReplicatePadConv2D(8, 4, strides=2)(x).shape == (1, 8, 8, 8)
    assert ReplicatePadConv2D(8, 3, dilation_rate=10)(x).shape == (1, 16, 16, 8)


def test_replicate_pad_conv_initialization_is_he_normal_times_0_1():
    keras.utils.set_random_seed(0)
    layer = ReplicatePadConv2D(256, 3)
    layer.build((None, 8, 8, 128))
    kernel, bias = _conv_weights(layer)
    expected_std = 0.1 * np.sqrt(2.0 / (3 * 3 * 128))
    assert abs(kernel.std() / expected_std - 1.0) < 0.02
    # Untruncated normal: some weights lie beyond two standard deviations.
    assert np.abs(kernel).max() > 3 * expected_std
    np.testing.assert_array_equal(bias, 0.0)


def test_replicate_pad_conv_harness():
    run_layer_test(
        ReplicatePadConv2D,
        {"filters": 8, "kernel_size": 4, "strides": 2, "activation": "leaky_relu"},
        _random(2, 16, 16, 4),
        expected_output_shape=(2, 8, 8, 8),
        expected_num_trainable_weights=2,
    )


def test_replicate_pad_conv_rejects_stride_with_dilation():
    with pytest.raises(ValueError, match="dilation_rate"):
        ReplicatePadConv2D(4, 3, strides=2, dilation_rate=2)


def reference_spd_block(x, block):
    branches = []
    for branch, rate in zip(block.branches, block.dilation_rates):
        kernel, bias = _conv_weights(branch)
        branches.append(np.maximum(reference_replicate_conv2d(x, kernel, bias, 1, rate), 0.0))
    kernel, bias = _conv_weights(block.fuse)
    return x + reference_replicate_conv2d(np.concatenate(branches, axis=-1), kernel, bias)


@pytest.mark.parametrize("dilation_rates", [SPD8_DILATION_RATES, SPD4_DILATION_RATES])
def test_spd_block_matches_numpy_reference(dilation_rates):
    x = _random(2, 12, 12, 16)
    block = SPDBlock(16, dilation_rates=dilation_rates)
    y = np.asarray(block(x))
    assert block.branch_filters == 16 // len(dilation_rates)
    np.testing.assert_allclose(y, reference_spd_block(x, block), atol=1e-5)


def test_spd_block_parameter_count():
    # 8 x (9 * 256 * 32 + 32) + 9 * 256 * 256 + 256: one G1 bottleneck block.
    block = SPDBlock(256)
    block.build((None, 16, 16, 256))
    assert block.count_params() == 8 * (9 * 256 * 32 + 32) + 9 * 256 * 256 + 256


def test_spd_block_harness():
    run_layer_test(
        SPDBlock,
        {"filters": 16, "dilation_rates": SPD4_DILATION_RATES},
        _random(2, 16, 16, 16),
        expected_output_shape=(2, 16, 16, 16),
        expected_num_trainable_weights=10,
    )


def test_spd_block_errors():
    with pytest.raises(ValueError, match="divisible"):
        SPDBlock(12, dilation_rates=SPD8_DILATION_RATES)
    with pytest.raises(ValueError, match="dilation_rates"):
        SPDBlock(8, dilation_rates=(0, 1))
    with pytest.raises(ValueError, match="channels"):
        SPDBlock(8, dilation_rates=(1, 2))(_random(1, 8, 8, 4))


def reference_self_attention(x, layer):
    def conv1x1(features, conv):
        kernel, bias = (np.asarray(w).astype(np.float64) for w in conv.weights)
        return features @ kernel[0, 0] + bias

    batch, height, width, channels = x.shape
    x = x.astype(np.float64)
    flat = x.reshape(batch, height * width, channels)
    theta, phi, g = (conv1x1(flat, conv) for conv in (layer.theta, layer.phi, layer.g))
    logits = theta @ phi.transpose(0, 2, 1)  # (B, N, N), no 1/sqrt(d)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    out = conv1x1(weights @ g, layer.output_conv)
    return x + out.reshape(batch, height, width, channels)


def test_self_attention_matches_numpy_reference():
    x = 3.0 * _random(2, 6, 5, 8)
    layer = SelfAttention2D(8)
    layer.build(x.shape)
    # Larger weights than the 0.1-scaled init, so the softmax is far from uniform and a
    # missing or extra 1/sqrt(d) scaling would show.
    for variable in layer.weights:
        variable.assign(RNG.normal(size=variable.shape).astype("float32"))
    y = np.asarray(layer(x))
    expected = reference_self_attention(x, layer)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "max_logits",
    [
        1000,  # N = 96 pixels: 10 query rows per chunk, the last chunk 6 rows (padded).
        50,  # Fewer logits than keys: one query row per chunk.
    ],
)
def test_self_attention_chunked_queries_match_the_direct_form(max_logits):
    # In float64: the chunked and direct forms sum the same terms in another order, and in
    # float32 the softmax turns that rounding into differences that depend on the CPU's
    # kernels (4.8e-5 on an AVX2-only EPYC, 6e-5 here with oneDNN off, against outputs of 57).
    # The float32 graph is the same code; the reference test above covers float32 numerics.
    x = (3.0 * _random(2, 8, 12, 8)).astype("float64")
    direct = SelfAttention2D(8, max_logits_per_image=None, dtype="float64")
    direct.build(x.shape)
    for variable in direct.weights:
        variable.assign(RNG.normal(size=variable.shape))
    expected = np.asarray(direct(x))
    np.testing.assert_allclose(expected, reference_self_attention(x, direct), rtol=1e-9, atol=0)
    chunked = SelfAttention2D(8, max_logits_per_image=max_logits, dtype="float64")
    chunked.build(x.shape)
    chunked.set_weights(direct.get_weights())
    dynamic = tf.function(
        lambda t: chunked(t), input_signature=[tf.TensorSpec((None, None, None, 8), tf.float64)]
    )
    static = tf.function(lambda t: chunked(t))
    # The longest sum: a softmax row over the 8 x 12 = 96 keys.
    terms = x.shape[1] * x.shape[2]
    for name, call in (("eager", chunked), ("dynamic", dynamic), ("static", static)):
        assert_float_close(call(x), expected, terms, "float64", err_msg=name)
    # The chunked graph has the loop; a map within the bound, or training, takes the direct form.
    assert any("While" in op.type for op in static.get_concrete_function(x).graph.get_operations())
    small = tf.function(lambda t: chunked(t)).get_concrete_function(x[:, :2, :3])
    assert not any("While" in op.type for op in small.graph.get_operations())
    trained = tf.function(lambda t: chunked(t, training=True)).get_concrete_function(x)
    assert not any("While" in op.type for op in trained.graph.get_operations())
    assert_float_close(chunked(x, training=True), expected, terms, "float64")
    # Keras' functional graph (dynamic sizes, as the generators build it) keeps the bound.
    inputs = keras.Input((None, None, 8), dtype="float64")
    model = keras.Model(inputs, chunked(inputs))
    assert_float_close(model(x), expected, terms, "float64")


def test_self_attention_harness():
    run_layer_test(
        SelfAttention2D,
        {"filters": 8},
        _random(2, 8, 8, 8),
        expected_output_shape=(2, 8, 8, 8),
        expected_num_trainable_weights=8,
    )


@pytest.mark.parametrize(
    "layer_cls, kwargs, shape",
    [
        (SPDBlock, {"filters": 8, "dilation_rates": SPD4_DILATION_RATES}, (1, 8, 8, 8)),
        (SelfAttention2D, {"filters": 8}, (1, 4, 4, 8)),
    ],
)
def test_kernel_initializer_reaches_every_convolution_and_survives_config(layer_cls, kwargs, shape):
    layer = layer_cls(**kwargs, kernel_initializer="ones")
    layer.build(shape)
    restored = layer_cls.from_config(layer.get_config())
    restored.build(shape)
    for model in (layer, restored):
        kernels = [w for w in model.weights if w.path.endswith("kernel")]
        assert kernels and all(np.all(np.asarray(k) == 1.0) for k in kernels)
    # The default stays the reference's He-normal x 0.1 (not serialised: None).
    assert layer_cls(**kwargs).get_config()["kernel_initializer"] is None


def test_self_attention_errors():
    with pytest.raises(ValueError, match="even"):
        SelfAttention2D(7)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="max_logits_per_image"):
            SelfAttention2D(8, max_logits_per_image=bad)
    with pytest.raises(ValueError, match="channels"):
        SelfAttention2D(8)(_random(1, 4, 4, 6))


def reference_resize_align_corners(x, out_h, out_w):
    """Bilinear resize with aligned corners, float64, from the definition."""

    def axis_weights(in_size, out_size):
        weights = np.zeros((out_size, in_size))
        for i in range(out_size):
            position = i * (in_size - 1) / max(out_size - 1, 1)
            low = int(np.floor(position))
            high = min(low + 1, in_size - 1)
            weights[i, low] += 1.0 - (position - low)
            weights[i, high] += position - low
        return weights

    rows = axis_weights(x.shape[1], out_h)
    cols = axis_weights(x.shape[2], out_w)
    return np.einsum("ih,bhwc,jw->bijc", rows, x.astype(np.float64), cols)


@pytest.mark.parametrize("factor, downsample", [(2, False), (4, False), (4, True)])
def test_bilinear_resize_matches_numpy_reference(factor, downsample):
    x = _random(2, 8, 12, 3)
    y = np.asarray(BilinearResize2D(factor, downsample=downsample)(x))
    out_h, out_w = (2, 3) if downsample else (8 * factor, 12 * factor)
    np.testing.assert_allclose(y, reference_resize_align_corners(x, out_h, out_w), atol=1e-5)
    # Corners aligned: the corner pixels are copied exactly.
    np.testing.assert_allclose(y[:, [0, -1]][:, :, [0, -1]], x[:, [0, -1]][:, :, [0, -1]])


def test_bilinear_resize_harness():
    run_layer_test(
        BilinearResize2D,
        {"factor": 2},
        _random(2, 8, 8, 4),
        expected_output_shape=(2, 16, 16, 4),
        expected_num_trainable_weights=0,
        run_training_check=False,  # no weights to train
    )


def test_bilinear_resize_dynamic_sizes_in_one_trace():
    layer = BilinearResize2D(4, downsample=True)
    resize = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2), tf.float32)])
    assert tuple(resize(_random(1, 16, 8, 2)).shape) == (1, 4, 2, 2)
    assert tuple(resize(_random(2, 32, 12, 2)).shape) == (2, 8, 3, 2)
