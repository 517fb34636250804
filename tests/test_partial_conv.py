"""Tests of tfinpaint.layers.partial_conv.PartialConv2D against a numpy reference written from
the definition (Liu et al. 2018, eq. (1)-(2); SPEC.md section 1)."""

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_layer_test

from tfinpaint.layers.partial_conv import PartialConv2D


def reference_partial_conv(x, hole_mask, kernel, bias, strides, padding, dilation, multi_channel):
    """Partial convolution by explicit loops over windows (float64).

    Zero padding for "same" follows TensorFlow: total = max((out - 1) * stride + extent - size, 0),
    with total // 2 before and the rest (the extra one) after. "symmetric" follows NVIDIA's
    `nn.Conv2d(padding=p)`: p = (k - 1) * d // 2 on both sides, out = (size + 2p - extent) //
    stride + 1. Padded positions are holes (the mask is padded with validity 0).
    Returns (y, new_hole_mask, count) with count the number of valid mask entries per window.
    """
    x = x.astype(np.float64)
    valid = 1.0 - hole_mask.astype(np.float64)
    batch, height, width, channels = x.shape
    kernel_h, kernel_w, _, filters = kernel.shape
    extent_h = (kernel_h - 1) * dilation[0] + 1
    extent_w = (kernel_w - 1) * dilation[1] + 1
    if padding == "same":
        out_h, out_w = math.ceil(height / strides[0]), math.ceil(width / strides[1])
        pad_h = max((out_h - 1) * strides[0] + extent_h - height, 0)
        pad_w = max((out_w - 1) * strides[1] + extent_w - width, 0)
        pads = ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    elif padding == "symmetric":
        pad_h, pad_w = (kernel_h - 1) * dilation[0] // 2, (kernel_w - 1) * dilation[1] // 2
        out_h = (height + 2 * pad_h - extent_h) // strides[0] + 1
        out_w = (width + 2 * pad_w - extent_w) // strides[1] + 1
        pads = ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0))
    else:
        out_h = (height - extent_h) // strides[0] + 1
        out_w = (width - extent_w) // strides[1] + 1
        pads = ((0, 0),) * 4
    x_pad = np.pad(x, pads)
    valid_pad = np.pad(valid, pads)

    window = kernel_h * kernel_w * (channels if multi_channel else 1)
    y = np.zeros((batch, out_h, out_w, filters))
    count = np.zeros((batch, out_h, out_w))
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                rows = slice(i * strides[0], i * strides[0] + extent_h, dilation[0])
                cols = slice(j * strides[1], j * strides[1] + extent_w, dilation[1])
                x_window = x_pad[b, rows, cols, :]  # (kh, kw, C)
                valid_window = valid_pad[b, rows, cols, :]  # (kh, kw, 1 or C)
                count[b, i, j] = valid_window.sum()
                if count[b, i, j] == 0:
                    continue  # No valid input: output 0, location stays a hole.
                weighted = np.tensordot(x_window * valid_window, kernel, axes=3)  # (F,)
                y[b, i, j] = weighted * window / count[b, i, j] + bias
    new_hole = (count == 0).astype(np.float64)[..., None]
    if multi_channel:
        new_hole = np.repeat(new_hole, filters, axis=-1)
    return y, new_hole, count


def _random_case(seed, height, width, channels, multi_channel, hole_rate=0.4):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(2, height, width, channels)).astype("float32")
    mask_channels = channels if multi_channel else 1
    hole_mask = (rng.uniform(size=(2, height, width, mask_channels)) < hole_rate).astype("float32")
    # A large hole so that some windows see no valid input at all.
    hole_mask[0, 1 : height - 1, 1 : width // 2 + 2, :] = 1.0
    return x, hole_mask


CASES = {
    "k3_s1_same": {"kernel_size": 3, "strides": 1, "padding": "same", "dilation_rate": 1},
    "k4x3_s1_same_asymmetric_pad": {"kernel_size": (4, 3), "strides": 1, "padding": "same"},
    "k3_s2_same_even_size": {"kernel_size": 3, "strides": 2, "padding": "same"},
    "k5_s2_same": {"kernel_size": 5, "strides": 2, "padding": "same"},
    "k7_s2_same": {"kernel_size": 7, "strides": 2, "padding": "same"},
    "k3_d2_same": {"kernel_size": 3, "strides": 1, "padding": "same", "dilation_rate": 2},
    "k3_s2_valid": {"kernel_size": 3, "strides": 2, "padding": "valid"},
    "k3_d2_valid": {"kernel_size": 3, "padding": "valid", "dilation_rate": (2, 1)},
    "k3_s1_same_no_bias": {"kernel_size": 3, "padding": "same", "use_bias": False},
    # NVIDIA / PConv-Keras padding: stride 2 on even sizes is where it differs from "same".
    "k3_s2_symmetric_even_size": {"kernel_size": 3, "strides": 2, "padding": "symmetric"},
    "k5_s2_symmetric_even_size": {"kernel_size": 5, "strides": 2, "padding": "symmetric"},
    "k7_s2_symmetric_even_size": {"kernel_size": 7, "strides": 2, "padding": "symmetric"},
    "k7x3_s2_symmetric_odd_size": {
        "kernel_size": (7, 3),
        "strides": 2,
        "padding": "symmetric",
        "input_size": (13, 11),
    },
    "k3_s1_symmetric": {"kernel_size": 3, "padding": "symmetric"},
    "k4x3_s1_symmetric_even_kernel": {"kernel_size": (4, 3), "padding": "symmetric"},
    "k3_d2_symmetric": {"kernel_size": 3, "padding": "symmetric", "dilation_rate": 2},
    "k2x3_d3x2_symmetric": {"kernel_size": (2, 3), "padding": "symmetric", "dilation_rate": (3, 2)},
    "k5_s2_symmetric_no_bias": {
        "kernel_size": 5,
        "strides": 2,
        "padding": "symmetric",
        "use_bias": False,
    },
}


@pytest.mark.parametrize("multi_channel", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_numpy_reference(case, multi_channel):
    kwargs = dict(filters=5, multi_channel=multi_channel, **CASES[case])
    height, width = kwargs.pop("input_size", (12, 14))
    x, hole_mask = _random_case(
        len(case), height=height, width=width, channels=4, multi_channel=multi_channel
    )
    layer = PartialConv2D(**kwargs)
    layer.build([x.shape, hole_mask.shape])
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=layer.kernel.shape).astype("float32")
    layer.kernel.assign(kernel)
    bias = np.zeros(5, "float32")
    if layer.use_bias:
        bias = rng.normal(size=(5,)).astype("float32")
        layer.bias.assign(bias)

    y, new_hole = layer([x, hole_mask])
    y, new_hole = keras.ops.convert_to_numpy(y), keras.ops.convert_to_numpy(new_hole)
    y_ref, new_hole_ref, count = reference_partial_conv(
        x,
        hole_mask,
        kernel,
        bias,
        layer.strides,
        layer.padding,
        layer.dilation_rate,
        multi_channel,
    )
    assert y.shape == y_ref.shape and new_hole.shape == new_hole_ref.shape
    # The case must exercise windows with no valid input and partially valid ones.
    window = layer.window_size
    assert (count == 0).any() and ((count > 0) & (count < window)).any()
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(new_hole, new_hole_ref)
    empty = count == 0
    assert np.all(y[empty] == 0.0), "windows without valid input must give exactly 0"
    assert np.all(new_hole[empty] == 1.0) and np.all(new_hole[~empty] == 0.0)


@pytest.mark.parametrize("padding", ["same", "symmetric"])
@pytest.mark.parametrize("groups", [(3, 2), (1, 4, 2)])
def test_mask_groups_equal_multi_channel_on_the_repeated_mask(groups, padding):
    # mask_groups is multi_channel=True on a mask constant over each group of channels, with
    # the count taken over G channels: same window, counts, outputs and mask (one channel).
    rng = np.random.default_rng(len(groups))
    channels = sum(groups)
    x = rng.uniform(-1.0, 1.0, size=(2, 12, 14, channels)).astype("float32")
    group_holes = (rng.uniform(size=(2, 12, 14, len(groups))) < 0.4).astype("float32")
    group_holes[0, 1:11, 1:9, :] = 1.0  # Windows with no valid input at all.
    expanded_holes = np.repeat(group_holes, groups, axis=-1)
    grouped = PartialConv2D(5, 3, padding=padding, mask_groups=list(groups))
    multi = PartialConv2D(5, 3, padding=padding, multi_channel=True)
    grouped.build([x.shape, group_holes.shape])
    multi.build([x.shape, expanded_holes.shape])
    grouped.set_weights([rng.normal(size=w.shape).astype("float32") for w in grouped.weights])
    multi.set_weights(grouped.get_weights())
    assert grouped.window_size == multi.window_size == 9 * channels

    y, new_hole = (keras.ops.convert_to_numpy(t) for t in grouped([x, group_holes]))
    y_multi, new_hole_multi = (keras.ops.convert_to_numpy(t) for t in multi([x, expanded_holes]))
    assert new_hole.shape == (2, 12, 14, 1)
    np.testing.assert_array_equal(new_hole[..., 0], new_hole_multi[..., 0])
    assert new_hole.min() == 0.0 and new_hole.max() == 1.0
    np.testing.assert_allclose(y, y_multi, rtol=1e-6, atol=1e-6)
    y_ref, _, _ = reference_partial_conv(
        x, expanded_holes, *grouped.get_weights(), (1, 1), padding, (1, 1), multi_channel=True
    )
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    config = grouped.get_config()
    assert config["mask_groups"] == list(groups)
    assert PartialConv2D.from_config(config).get_config() == config


@pytest.mark.parametrize("kwargs", [{}, {"mask_groups": [3, 2]}], ids=["single", "groups"])
def test_inputs_masked_skips_only_the_input_multiplication(kwargs):
    rng = np.random.default_rng(8)
    x = rng.uniform(-1.0, 1.0, size=(2, 12, 14, 5)).astype("float32")
    groups = kwargs.get("mask_groups", [5])
    hole_mask = (rng.uniform(size=(2, 12, 14, len(groups))) < 0.4).astype("float32")
    hole_mask[0, :5] *= 0.5  # Soft values: the layer must not multiply a second time.
    layer = PartialConv2D(4, 3, **kwargs)
    premasked = PartialConv2D(4, 3, inputs_masked=True, **kwargs)
    layer.build([x.shape, hole_mask.shape])
    premasked.build([x.shape, hole_mask.shape])
    premasked.set_weights(layer.get_weights())
    masked_x = x * np.repeat(1.0 - hole_mask, groups, axis=-1)
    y, new_hole = layer([x, hole_mask])
    y_pre, new_hole_pre = premasked([masked_x, hole_mask])
    np.testing.assert_allclose(y_pre, y, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(new_hole_pre, new_hole)
    assert PartialConv2D.from_config(premasked.get_config()).inputs_masked


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mask_groups": [2, 0]}, "non-empty list of positive ints"),
        ({"mask_groups": 3}, "non-empty list of positive ints"),
        ({"mask_groups": [2, 1], "multi_channel": True}, "multi_channel=False"),
    ],
)
def test_mask_groups_argument_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PartialConv2D(4, 3, **kwargs)


def test_mask_groups_must_cover_the_input_channels():
    layer = PartialConv2D(4, 3, mask_groups=[2, 2])
    with pytest.raises(ValueError, match="summing to the 5 input channels"):
        layer([np.zeros((1, 8, 8, 5), "float32"), np.zeros((1, 8, 8, 2), "float32")])
    with pytest.raises(ValueError, match=r"2 mask channel\(s\) with mask_groups=\[2, 2\]"):
        PartialConv2D(4, 3, mask_groups=[2, 2])(
            [np.zeros((1, 8, 8, 4), "float32"), np.zeros((1, 8, 8, 1), "float32")]
        )


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("height, width", [(12, 14), (13, 11), (12, 11)])
def test_symmetric_padding_size_and_agreement_with_same(kernel_size, strides, height, width):
    # For odd k, output size floor((H + 2p - (k - 1) - 1) / s) + 1 = ceil(H / s), as "same".
    x, hole_mask = _random_case(kernel_size, height, width, 3, multi_channel=False)
    symmetric = PartialConv2D(4, kernel_size, strides=strides, padding="symmetric")
    same = PartialConv2D(4, kernel_size, strides=strides, padding="same")
    y_symmetric, hole_symmetric = symmetric([x, hole_mask])
    same([x, hole_mask])
    same.set_weights(symmetric.get_weights())
    y_same, hole_same = same([x, hole_mask])
    expected_size = (math.ceil(height / strides), math.ceil(width / strides))
    assert tuple(y_symmetric.shape[1:3]) == tuple(hole_symmetric.shape[1:3]) == expected_size
    y_symmetric, y_same = (
        keras.ops.convert_to_numpy(y_symmetric),
        keras.ops.convert_to_numpy(y_same),
    )
    # Identical pads at stride 1 and on odd sizes; "same" pads only bottom/right at stride 2 on
    # an even size, which moves its sampling grid by one pixel along that axis.
    if strides == 1 or (height % 2 == 1 and width % 2 == 1):
        np.testing.assert_allclose(y_symmetric, y_same, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(hole_symmetric, hole_same)
    else:
        assert np.abs(y_symmetric - y_same).max() > 1e-3


def test_symmetric_padding_uses_an_explicit_pad_only_where_same_differs():
    def explicit_pads(**kwargs):
        layer = PartialConv2D(2, **kwargs, padding="symmetric")
        return layer._explicit_pads()

    assert explicit_pads(kernel_size=3) is None  # "same" pads 1 + 1 already.
    assert explicit_pads(kernel_size=3, dilation_rate=2) is None
    assert explicit_pads(kernel_size=3, strides=2) == (1, 1)
    assert explicit_pads(kernel_size=(7, 5), strides=2) == (3, 2)
    assert explicit_pads(kernel_size=(4, 3)) == (1, 1)  # "same" would pad 1 + 2 rows.


@pytest.mark.parametrize("multi_channel", [False, True], ids=["single", "multi"])
def test_fully_valid_mask_is_plain_convolution(multi_channel):
    # Guards PConv-Keras bug #67: with a multi-channel mask the window is kh*kw*C_in; using
    # kh*kw would scale every output by 1 / C_in.
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(2, 9, 9, 6)).astype("float32")
    hole_mask = np.zeros((2, 9, 9, 6 if multi_channel else 1), "float32")
    layer = PartialConv2D(
        4, 3, padding="valid", multi_channel=multi_channel, bias_initializer="ones"
    )
    y, new_hole = layer([x, hole_mask])
    expected = keras.ops.conv(x, layer.kernel, padding="valid") + 1.0
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert layer.window_size == (9 * 6 if multi_channel else 9)
    assert np.all(keras.ops.convert_to_numpy(new_hole) == 0.0)


def test_multi_channel_mask_is_broadcast_to_output_channels():
    x, hole_mask = _random_case(0, 10, 10, 3, multi_channel=True)
    y, new_hole = PartialConv2D(7, 3, strides=2, multi_channel=True)([x, hole_mask])
    assert tuple(y.shape) == (2, 5, 5, 7) and tuple(new_hole.shape) == (2, 5, 5, 7)
    new_hole = keras.ops.convert_to_numpy(new_hole)
    np.testing.assert_array_equal(new_hole, np.repeat(new_hole[..., :1], 7, axis=-1))


def test_no_gradient_through_the_mask():
    x, hole_mask = _random_case(5, 8, 8, 3, multi_channel=False)
    x, hole_mask = tf.constant(x), tf.constant(hole_mask)
    layer = PartialConv2D(4, 3)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, hole_mask])
        y, new_hole = layer([x, hole_mask])
        loss = tf.reduce_sum(y**2) + tf.reduce_sum(new_hole)
    mask_gradient = tape.gradient(loss, hole_mask)
    assert mask_gradient is None or np.all(mask_gradient.numpy() == 0.0)
    x_gradient = tape.gradient(loss, x).numpy()
    # Hole pixels of x are never read, so they get no gradient; known pixels do.
    holes = np.broadcast_to(hole_mask.numpy() > 0.5, x_gradient.shape)
    assert np.all(x_gradient[holes] == 0.0) and np.any(x_gradient[~holes] != 0.0)


def test_mixed_precision_runs_finite_and_keeps_exact_masks():
    x, hole_mask = _random_case(6, 16, 16, 8, multi_channel=True)
    reference = PartialConv2D(8, 3, multi_channel=True)
    y32, hole32 = reference([x, hole_mask])
    mixed = PartialConv2D(8, 3, multi_channel=True, dtype="mixed_float16")
    mixed([x, hole_mask])
    mixed.set_weights(reference.get_weights())
    y16, hole16 = mixed([x, hole_mask])
    assert y16.dtype == "float16" and mixed.kernel.dtype == "float32"
    y16 = keras.ops.convert_to_numpy(y16).astype("float32")
    assert np.all(np.isfinite(y16))
    np.testing.assert_allclose(y16, y32, rtol=2e-2, atol=2e-2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(hole16).astype("float32"), hole32)

    # And under the global policy, inside a functional model.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        image = keras.Input((None, None, 8))
        hole = keras.Input((None, None, 1))
        features, hole_out = PartialConv2D(8, 3, strides=2)([image, hole])
        features, hole_out = PartialConv2D(4, 3)([features, hole_out])
        model = keras.Model([image, hole], [features, hole_out])
        outputs = model([x, hole_mask[..., :1]])
        assert outputs[0].dtype == "float16"
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs[0]).astype("float32")))
    finally:
        keras.config.set_dtype_policy(previous)


def test_epsilon_defaults():
    x, hole_mask = _random_case(7, 8, 8, 2, multi_channel=False)
    layer32 = PartialConv2D(2, 3)
    layer16 = PartialConv2D(2, 3, dtype="mixed_float16")
    layer_explicit = PartialConv2D(2, 3, epsilon=1e-3)
    assert layer32._effective_epsilon() == 1e-8
    assert layer16._effective_epsilon() == 1e-6
    assert layer_explicit._effective_epsilon() == 1e-3
    layer32([x, hole_mask])
    assert layer32.get_config()["epsilon"] is None


@pytest.mark.parametrize("padding", ["same", "symmetric"])
def test_inside_tf_function_with_dynamic_shapes(padding):
    layer = PartialConv2D(6, 3, strides=2, padding=padding)

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, None, None, 3), tf.float32),
            tf.TensorSpec((None, None, None, 1), tf.float32),
        ]
    )
    def apply(x, hole_mask):
        return layer([x, hole_mask])

    for size in (8, 11):
        x, hole_mask = _random_case(size, size, size, 3, multi_channel=False)
        y_graph, hole_graph = apply(x, hole_mask)
        y_eager, hole_eager = layer([x, hole_mask])
        np.testing.assert_allclose(y_graph, y_eager, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(hole_graph, hole_eager)


def test_chained_functional_model_save_and_load(tmp_path):
    image = keras.Input((None, None, 3))
    hole = keras.Input((None, None, 1))
    features, hole_out = PartialConv2D(8, 5, strides=2, name="pconv_1")([image, hole])
    features, hole_out = PartialConv2D(4, 3, multi_channel=False, name="pconv_2")(
        [features, hole_out]
    )
    model = keras.Model([image, hole], [features, hole_out])
    x, hole_mask = _random_case(8, 16, 16, 3, multi_channel=False)
    expected = model([x, hole_mask])
    path = os.path.join(tmp_path, "pconv.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("pconv_1"), PartialConv2D)
    for want, got in zip(expected, loaded([x, hole_mask])):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), want)
    # Dynamic height and width: another size runs too.
    x, hole_mask = _random_case(9, 24, 20, 3, multi_channel=False)
    assert tuple(loaded([x, hole_mask])[0].shape) == (2, 12, 10, 4)


def test_config_round_trip():
    layer = PartialConv2D(
        12,
        (5, 3),
        strides=2,
        padding="valid",
        use_bias=False,
        multi_channel=True,
        kernel_initializer="he_normal",
        epsilon=1e-7,
        name="pc",
    )
    config = layer.get_config()
    assert config["kernel_size"] == (5, 3) and config["strides"] == (2, 2)
    assert config["dilation_rate"] == (1, 1) and config["padding"] == "valid"
    assert config["multi_channel"] is True and config["epsilon"] == 1e-7
    restored = PartialConv2D.from_config(config)
    assert restored.get_config() == config
    assert isinstance(restored.kernel_initializer, keras.initializers.HeNormal)

    symmetric = PartialConv2D(4, 5, strides=2, padding="Symmetric")
    config = symmetric.get_config()
    assert config["padding"] == "symmetric"
    assert PartialConv2D.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "init_kwargs, expected_shapes",
    [
        ({"filters": 8, "kernel_size": 3, "strides": 2}, [(2, 8, 8, 8), (2, 8, 8, 1)]),
        ({"filters": 8, "kernel_size": 3, "multi_channel": True}, [(2, 16, 16, 8), (2, 16, 16, 8)]),
        (
            {
                "filters": 4,
                "kernel_size": 3,
                "dilation_rate": 2,
                "use_bias": False,
                "padding": "valid",
            },
            [(2, 12, 12, 4), (2, 12, 12, 1)],
        ),
        (
            {"filters": 8, "kernel_size": 5, "strides": 2, "padding": "symmetric"},
            [(2, 8, 8, 8), (2, 8, 8, 1)],
        ),
    ],
    ids=["single_stride2", "multi_channel", "dilated_valid_no_bias", "symmetric_stride2"],
)
def test_layer_harness(init_kwargs, expected_shapes):
    multi_channel = init_kwargs.get("multi_channel", False)
    x, hole_mask = _random_case(10, 16, 16, 3, multi_channel=multi_channel, hole_rate=0.3)
    run_layer_test(
        PartialConv2D,
        init_kwargs,
        [x, hole_mask],
        expected_output_shape=expected_shapes,
        expected_num_trainable_weights=2 if init_kwargs.get("use_bias", True) else 1,
        expected_num_non_trainable_weights=0,
    )


@pytest.mark.parametrize(
    "kwargs, x_shape, mask_shape, message",
    [
        ({"filters": 4, "kernel_size": 3}, (2, 8, 8, 3), (2, 8, 8, 3), "1 mask channel"),
        (
            {"filters": 4, "kernel_size": 3, "multi_channel": True},
            (2, 8, 8, 3),
            (2, 8, 8, 1),
            "3 mask channel",
        ),
        ({"filters": 4, "kernel_size": 3}, (2, 8, 8, 3), (2, 8, 8), "4D tensor"),
        ({"filters": 4, "kernel_size": 3}, (2, 8, 8, 3), (2, 8, 6, 1), "same height and width"),
    ],
)
def test_input_validation(kwargs, x_shape, mask_shape, message):
    with pytest.raises(ValueError, match=message):
        PartialConv2D(**kwargs)([np.zeros(x_shape, "float32"), np.zeros(mask_shape, "float32")])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0, "kernel_size": 3}, "filters=0"),
        ({"filters": 4, "kernel_size": (3, 3, 3)}, "kernel_size"),
        ({"filters": 4, "kernel_size": 3, "padding": "causal"}, "padding='causal'"),
        ({"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, "strides of 1"),
        ({"filters": 4, "kernel_size": 3, "epsilon": 0.0}, "epsilon"),
    ],
)
def test_argument_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PartialConv2D(**kwargs)


def test_single_input_is_rejected():
    with pytest.raises(ValueError, match="list"):
        PartialConv2D(4, 3)(np.zeros((1, 8, 8, 3), "float32"))
