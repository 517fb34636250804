"""ContextualAttention (DeepFill v1, SPEC.md section 6) against a numpy reference, chunking,
per-sample masks, serialization, dynamic sizes and builtin-only TFLite.

The numpy reference follows the definition step by step, the way the authors' TF1 function
computes it: `tf.image.extract_patches`-style 'SAME' patches, a per-image convolution with the
normalised patches, the fusion as identity-kernel convolutions of the flattened score map with
the reshapes and transposes between them, and a transposed convolution for the pasting. Its
building blocks are checked against the TensorFlow ops they stand for
(`test_reference_building_blocks_match_tensorflow`).
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from harness import run_layer_test

from tfinpaint import export
from tfinpaint.layers import ContextualAttention
from tfinpaint.models import InpaintingGenerator

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --- The numpy reference -------------------------------------------------------------------


def _ref_nearest_indices(in_size, out_size):
    """TF1 `resize_nearest_neighbor(align_corners=True)`: roundf(i * scale), float32 scale."""
    if out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    position = np.arange(out_size).astype(np.float32) * scale  # float32 products, as in C++.
    # floor(p + 0.5) in float64 is exactly roundf(p) for the float32 values p >= 0.
    return np.minimum(np.floor(position.astype(np.float64) + 0.5).astype(int), in_size - 1)


def _ref_resize_nearest(x, out_height, out_width):
    rows = _ref_nearest_indices(x.shape[1], out_height)
    cols = _ref_nearest_indices(x.shape[2], out_width)
    return x[:, rows][:, :, cols]


def _ref_patches(x, size, stride):
    """`extract_image_patches(x, size, stride, rates 1, 'SAME')`: (B, oh, ow, size, size, C)."""
    batch, height, width, channels = x.shape
    out_h, out_w = -(-height // stride), -(-width // stride)
    pad_h = max((out_h - 1) * stride + size - height, 0)
    pad_w = max((out_w - 1) * stride + size - width, 0)
    padded = np.pad(
        x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    )
    out = np.zeros((batch, out_h, out_w, size, size, channels), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[:, i, j] = padded[:, i * stride : i * stride + size, j * stride : j * stride + size]
    return out


def _ref_conv_same(x, kernel):
    """`conv2d(x, kernel, stride 1, 'SAME')` of one image (H, W, Cin), kernel (k, k, Cin, Cout)."""
    height, width, _ = x.shape
    kh, kw = kernel.shape[:2]
    padded = np.pad(
        x,
        (((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2), (0, 0)),
    )
    out = 0.0
    for ky in range(kh):
        for kx in range(kw):
            out = out + padded[ky : ky + height, kx : kx + width] @ kernel[ky, kx]
    return out


def _ref_conv_transpose_same(x, kernel, out_height, out_width, stride):
    """`conv2d_transpose(x, kernel (k, k, Cout, Cin), output size, stride, 'SAME')`, one image."""
    height, width, _ = x.shape
    size = kernel.shape[0]
    full = np.zeros(((height - 1) * stride + size, (width - 1) * stride + size, kernel.shape[2]))
    for ky in range(size):
        for kx in range(size):
            rows = slice(ky, ky + (height - 1) * stride + 1, stride)
            cols = slice(kx, kx + (width - 1) * stride + 1, stride)
            full[rows, cols] += x @ kernel[ky, kx].T
    top = max((height - 1) * stride + size - out_height, 0) // 2
    left = max((width - 1) * stride + size - out_width, 0) // 2
    return full[top : top + out_height, left : left + out_width]


def reference_contextual_attention(
    foreground,
    background,
    hole_mask,
    ksize=3,
    stride=1,
    rate=2,
    fuse_k=3,
    softmax_scale=10.0,
    fuse=True,
    downsample="align_corners",
):
    """DeepFill v1's contextual attention in float64 numpy, one mask per sample.

    Returns (output (B, H, W, C) float32, offsets (B, H/rate, W/rate, 2), and the attention
    (B, H/rate, W/rate, L) for tie checks).
    """
    f, b, mask = (np.asarray(v, np.float64) for v in (foreground, background, hole_mask))
    batch, height, width, channels = f.shape
    # 1. Raw 2r x 2r background patches at stride r * stride.
    raw = _ref_patches(b, 2 * rate, rate * stride)
    # 2. Nearest downsampling of foreground, background and mask.
    if downsample == "align_corners":
        f, b, mask = (
            _ref_resize_nearest(v, v.shape[1] // rate, v.shape[2] // rate) for v in (f, b, mask)
        )
    else:
        f, b, mask = (v[:, rate // 2 :: rate, rate // 2 :: rate] for v in (f, b, mask))
    fh, fw = f.shape[1:3]
    patches = _ref_patches(b, ksize, stride)
    ph, pw = patches.shape[1:3]
    num_bg = ph * pw
    mask_patches = _ref_patches(mask, ksize, stride)
    eye = np.eye(fuse_k)[:, :, None, None]
    outputs, offsets, attentions = [], [], []
    for i in range(batch):
        # 3. Normalised patches as convolution kernels (k, k, C, L); scores (fh, fw, L).
        kernel = patches[i].reshape(num_bg, ksize, ksize, channels).transpose(1, 2, 3, 0)
        kernel = kernel / np.maximum(np.sqrt((kernel**2).sum(axis=(0, 1, 2))), 1e-4)
        scores = _ref_conv_same(f[i], kernel)
        # 4. Fusion: identity-kernel convolutions of the flattened map, transposed between.
        if fuse:
            y = _ref_conv_same(scores.reshape(fh * fw, num_bg, 1), eye)[..., 0]
            y = y.reshape(fh, fw, ph, pw).transpose(1, 0, 3, 2).reshape(fh * fw, num_bg, 1)
            y = _ref_conv_same(y, eye)[..., 0]
            scores = y.reshape(fw, fh, pw, ph).transpose(1, 0, 3, 2).reshape(fh, fw, num_bg)
        # 5. This sample's mask: patches with any hole pixel are unavailable.
        available = (mask_patches[i].reshape(num_bg, -1).mean(axis=1) == 0).astype(np.float64)
        scores = scores * available * softmax_scale
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attention = weights / weights.sum(axis=-1, keepdims=True) * available
        attentions.append(attention)
        best = attention.argmax(axis=-1)
        offsets.append(
            np.stack(
                [
                    best // pw * stride - np.arange(fh)[:, None],
                    best % pw * stride - np.arange(fw)[None, :],
                ],
                axis=-1,
            )
        )
        # 6. Paste the raw patches: transposed convolution at stride rate, divided by 4.
        raw_kernel = raw[i].reshape(num_bg, 2 * rate, 2 * rate, channels).transpose(1, 2, 3, 0)
        outputs.append(_ref_conv_transpose_same(attention, raw_kernel, height, width, rate) / 4.0)
    return np.stack(outputs).astype(np.float32), np.stack(offsets), np.stack(attentions)


def test_reference_building_blocks_match_tensorflow():
    rng = np.random.default_rng(0)
    for size in range(2, 80):
        x = np.arange(size, dtype=np.float32).reshape(1, size, 1, 1)
        for out in {size // 2, max(size // 3, 1), max(size // 4, 1), size}:
            expected = tf.compat.v1.image.resize_nearest_neighbor(x, [out, 1], align_corners=True)
            np.testing.assert_array_equal(_ref_resize_nearest(x, out, 1), expected.numpy())
    x = rng.normal(size=(2, 9, 7, 3)).astype(np.float32)
    for size, stride in ((3, 1), (4, 2), (2, 1), (5, 2), (3, 3)):
        expected = tf.image.extract_patches(
            x, [1, size, size, 1], [1, stride, stride, 1], [1, 1, 1, 1], "SAME"
        ).numpy()
        np.testing.assert_array_equal(
            _ref_patches(x, size, stride).reshape(expected.shape), expected
        )
    kernel = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)
    expected = tf.nn.conv2d(x[:1], kernel, 1, "SAME").numpy()[0]
    np.testing.assert_allclose(_ref_conv_same(x[0], kernel), expected, atol=1e-5)
    y = rng.normal(size=(1, 5, 4, 6)).astype(np.float32)
    for rate in (1, 2, 3):
        kernel = rng.normal(size=(2 * rate, 2 * rate, 3, 6)).astype(np.float32)
        expected = tf.nn.conv2d_transpose(y, kernel, [1, 5 * rate, 4 * rate, 3], rate, "SAME")
        got = _ref_conv_transpose_same(y[0], kernel, 5 * rate, 4 * rate, rate)
        np.testing.assert_allclose(got, expected.numpy()[0], atol=1e-5)


# --- The layer against the reference -------------------------------------------------------


def _inputs(height, width, channels=4, bg_size=None, seed=0):
    """Batch 2: foreground, background (the foreground unless bg_size), a different hole per
    sample (sample 1's hole is big enough to leave few available patches)."""
    rng = np.random.default_rng(seed)
    foreground = rng.uniform(size=(2, height, width, channels)).astype("float32")
    if bg_size is None:
        background = foreground
        bg_h, bg_w = height, width
    else:
        bg_h, bg_w = bg_size
        background = rng.uniform(size=(2, bg_h, bg_w, channels)).astype("float32")
    hole_mask = np.zeros((2, bg_h, bg_w, 1), "float32")
    hole_mask[0, 2 : bg_h // 2, 3 : bg_w // 2 + 2] = 1.0
    hole_mask[1, bg_h // 3 :, bg_w // 4 : bg_w - 2] = 1.0
    return foreground, background, hole_mask


def _check_against_reference(layer_kwargs, height, width, bg_size=None, channels=4, seed=0):
    inputs = _inputs(height, width, channels, bg_size, seed)
    layer = ContextualAttention(return_offsets=True, **layer_kwargs)
    output, offsets = (np.asarray(v) for v in layer(list(inputs)))
    reference_kwargs = {k: v for k, v in layer_kwargs.items() if k != "chunk_size"}
    expected, expected_offsets, attention = reference_contextual_attention(
        *inputs, **reference_kwargs
    )
    assert output.shape == expected.shape and output.dtype == np.float32
    assert np.abs(output - expected).max() <= 1e-4
    # Offsets are an argmax: compare them where the best weight leads the second clearly.
    top2 = np.sort(attention, axis=-1)[..., -2:]
    clear = top2[..., 1] - top2[..., 0] > 1e-5
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(offsets[clear], expected_offsets[clear])
    return output


@pytest.mark.parametrize(
    "layer_kwargs, height, width, bg_size",
    [
        ({}, 16, 16, None),
        ({"fuse": False}, 16, 16, None),
        ({}, 24, 32, None),
        ({}, 18, 14, None),  # 9 x 7 matching grid: odd sizes.
        ({"rate": 1}, 10, 12, None),
        ({"rate": 1, "fuse": False}, 9, 7, None),
        ({}, 16, 24, (12, 16)),  # Foreground and background of different sizes.
        ({"stride": 2}, 16, 16, None),
        ({"ksize": 5, "fuse_k": 5, "softmax_scale": 5.0}, 24, 20, None),
        ({"fuse_k": 4}, 20, 18, None),  # Even fuse kernel: asymmetric 'SAME' padding.
        ({"rate": 3}, 18, 24, None),
        ({"downsample": "half_pixel"}, 24, 20, None),
    ],
)
def test_matches_reference(layer_kwargs, height, width, bg_size):
    _check_against_reference(layer_kwargs, height, width, bg_size)


@pytest.mark.parametrize(
    "layer_kwargs, height, width, chunk_size",
    [
        ({}, 24, 32, 32),  # 12 x 16 grid in blocks of 2 rows.
        ({}, 18, 14, 5),  # Blocks of one row (chunk_size < row width), odd grid.
        ({"fuse": False}, 18, 14, 20),
        ({"ksize": 5, "fuse_k": 5}, 24, 20, 9),  # Wrapped rows two deep, one-row blocks.
        ({"fuse_k": 4}, 20, 18, 27),  # Blocks of 3 rows, the last one shorter.
        ({"rate": 1}, 10, 12, 13),
        ({"stride": 2}, 24, 16, 16),
    ],
)
def test_chunked_matches_reference_and_unchunked(layer_kwargs, height, width, chunk_size):
    chunked = _check_against_reference({**layer_kwargs, "chunk_size": chunk_size}, height, width)
    unchunked = ContextualAttention(chunk_size=None, **layer_kwargs)(list(_inputs(height, width)))
    assert np.abs(chunked - np.asarray(unchunked)).max() <= 1e-5


def test_masks_are_per_sample():
    foreground, background, hole_mask = _inputs(16, 20)
    layer = ContextualAttention()
    batched = np.asarray(layer([foreground, background, hole_mask]))
    for i in range(2):
        alone = layer([foreground[i : i + 1], background[i : i + 1], hole_mask[i : i + 1]])
        np.testing.assert_allclose(batched[i : i + 1], np.asarray(alone), atol=1e-6)
    # The reference code's bug (sample 0's mask for the whole batch) would give another output.
    first_mask_only = np.repeat(hole_mask[:1], 2, axis=0)
    other = np.asarray(layer([foreground, background, first_mask_only]))
    assert np.abs(other[1] - batched[1]).max() > 1e-2


def test_attention_never_points_at_patches_touching_the_hole():
    foreground, background, hole_mask = _inputs(16, 16)
    _, offsets = ContextualAttention(return_offsets=True)([foreground, background, hole_mask])
    offsets = np.asarray(offsets)
    fh, fw = offsets.shape[1:3]
    rows = np.arange(fh)[None, :, None] + offsets[..., 0]
    cols = np.arange(fw)[None, None, :] + offsets[..., 1]
    # 3 x 3 patches of the downsampled mask that hold a hole pixel.
    small = _ref_resize_nearest(hole_mask, fh, fw)
    touching = _ref_patches(small, 3, 1).reshape(2, fh, fw, -1).max(axis=-1) > 0
    for i in range(2):
        assert touching[i].any() and not touching[i].all()
        assert not touching[i][rows[i], cols[i]].any()


def test_everything_hole_gives_zeros_and_gradients_are_finite():
    foreground, background, _ = _inputs(16, 16)
    layer = ContextualAttention()
    output = layer([foreground, background, np.ones((2, 16, 16, 1), "float32")])
    np.testing.assert_array_equal(np.asarray(output), 0.0)
    hole_mask = _inputs(16, 16)[2]
    x = tf.constant(foreground)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer([x, x, hole_mask]) ** 2)
    gradient = tape.gradient(loss, x).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0


def test_unknown_sizes_in_a_graph_match_eager():
    """A graph traced with unknown height and width (a SavedModel's serving signature) takes
    the whole-map path; eager calls of the same sizes may be chunked."""
    layer = ContextualAttention(chunk_size=16)
    spec = [
        tf.TensorSpec((None, None, None, 4), tf.float32),
        tf.TensorSpec((None, None, None, 4), tf.float32),
        tf.TensorSpec((None, None, None, 1), tf.float32),
    ]
    traced = tf.function(lambda f, b, m: layer([f, b, m]), input_signature=spec)
    for height, width in ((16, 16), (18, 24)):
        inputs = _inputs(height, width)
        expected = np.asarray(layer(list(inputs)))
        np.testing.assert_allclose(traced(*inputs).numpy(), expected, atol=1e-5)


# --- Keras contracts -----------------------------------------------------------------------


@pytest.mark.parametrize("return_offsets", [False, True])
def test_layer_contract(return_offsets):
    inputs = list(_inputs(16, 16))
    shapes = (2, 16, 16, 4) if not return_offsets else [(2, 16, 16, 4), (2, 8, 8, 2)]
    run_layer_test(
        ContextualAttention,
        {"chunk_size": 32, "softmax_scale": 8.0, "return_offsets": return_offsets},
        inputs,
        expected_output_shape=shapes,
        expected_num_trainable_weights=0,
        run_training_check=False,  # No weights to train; gradients: test_everything_hole_...
        saving_atol=1e-6,
    )


def test_config_round_trip():
    layer = ContextualAttention(
        ksize=5,
        stride=2,
        rate=1,
        fuse_k=5,
        softmax_scale=4.0,
        fuse=False,
        chunk_size=None,
        downsample="half_pixel",
        return_offsets=True,
        name="ca",
    )
    config = layer.get_config()
    for key, value in {
        "ksize": 5,
        "stride": 2,
        "rate": 1,
        "fuse_k": 5,
        "softmax_scale": 4.0,
        "fuse": False,
        "chunk_size": None,
        "downsample": "half_pixel",
        "return_offsets": True,
        "name": "ca",
    }.items():
        assert config[key] == value
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is ContextualAttention and revived.get_config() == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate": 0}, "rate=0"),
        ({"ksize": 2.5}, "ksize=2.5"),
        ({"chunk_size": 0}, "chunk_size=0"),
        ({"fuse_k": True}, "fuse_k=True"),
        ({"downsample": "bilinear"}, "downsample='bilinear'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ContextualAttention(**kwargs)


def test_bad_inputs():
    foreground, background, hole_mask = _inputs(16, 16)
    with pytest.raises(ValueError, match="list"):
        ContextualAttention()([foreground, background])
    with pytest.raises(ValueError, match="multiples of 2"):
        ContextualAttention()([foreground[:, :15], background[:, :15], hole_mask[:, :15]])
    with pytest.raises(ValueError, match="channels"):
        ContextualAttention()([foreground, background[..., :3], hole_mask])
    with pytest.raises(ValueError, match="same height and width"):
        ContextualAttention()([foreground, background, hole_mask[:, :8]])
    with pytest.raises(ValueError, match="smaller fuse_k"):
        ContextualAttention(fuse_k=7)([foreground[:, :4], background[:, :4], hole_mask[:, :4]])


# --- TFLite ----------------------------------------------------------------------------------


class AttentionGenerator(InpaintingGenerator):
    """A generator whose raw output is contextual attention of the image on itself."""

    def __init__(self, chunk_size=1024, **kwargs):
        inputs = InpaintingGenerator.make_inputs()
        attention = ContextualAttention(chunk_size=chunk_size, name="contextual_attention")
        raw = attention([inputs["images"], inputs["images"], inputs["masks"]])
        super().__init__(inputs, raw, **kwargs)


@pytest.mark.parametrize("chunk_size, size", [(1024, (16, 16)), (24, (16, 24))])
def test_tflite_builtin_ops_match_keras(tmp_path, chunk_size, size):
    """Converted through the export path (Keras 3 -> SavedModel -> TFLiteConverter, builtin ops
    only, Flex never added); the second case runs the chunked path (4 blocks of 2 rows)."""
    generator = AttentionGenerator(chunk_size=chunk_size)
    path = str(tmp_path / "attention.tflite")
    result = export.export_tflite(generator, path, size)
    assert not [op for op in result["ops"] if op.startswith(("CUSTOM", "Flex"))]
    assert "BATCH_MATMUL" in result["ops"] and "SOFTMAX" in result["ops"]
    runner = Interpreter(model_path=path).get_signature_runner("serving_default")
    for seed in (0, 1):
        images, _, masks = _inputs(*size, channels=3, seed=seed)
        images, masks = images[:1], masks[1:]
        got = runner(images=images, masks=masks)["inpainted"]
        expected = export.inpaint_graph(generator, tf.constant(images), tf.constant(masks))
        assert np.abs(got - expected.numpy()).max() < 1e-4


# --- Memory ----------------------------------------------------------------------------------

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tfinpaint
    import tensorflow as tf
    from tfinpaint.layers import ContextualAttention

    def peak_mib():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024

    channels, mode = int(sys.argv[1]), sys.argv[2]
    x = tf.random.uniform((1, 256, 256, channels), seed=0)
    hole_mask = np.zeros((1, 256, 256, 1), "float32")
    hole_mask[:, 64:192, 80:200] = 1.0
    layer = ContextualAttention()
    layer([x[:, :16, :16], x[:, :16, :16], hole_mask[:, :16, :16]])  # Runtime start-up.
    call = layer if mode == "eager" else tf.function(layer)
    baseline = peak_mib()
    output = call([x, x, tf.constant(hole_mask)])
    assert np.isfinite(output.numpy()).all()
    print(f"{baseline:.0f} {peak_mib():.0f}")
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("channels", [64, 128])
@pytest.mark.parametrize("mode", ["eager", "function"])
def test_peak_memory_of_a_256_feature_map(channels, mode):
    """The GAIN paper generator's attention at 1024 px input: a 256 x 256 x C feature map at
    rate 2 (16384 x 16384 scores unchunked, 1 GiB): the default chunking keeps the process's
    peak RSS (VmHWM, TF runtime included) under 2.5 GiB in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(channels), mode],
        capture_output=True,
        text=True,
        cwd=_ROOT,
        env={**os.environ, "PYTHONPATH": _ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"},
        check=True,
    )
    baseline, peak = (float(v) for v in result.stdout.split()[-2:])
    print(f"channels {channels}, {mode}: baseline {baseline:.0f} MiB, peak {peak:.0f} MiB")
    assert peak < 2560
