"""Tests of the multi-scale harmonic fill: the layer (`tfinpaint.layers.harmonic_fill`), its numpy
twin the evaluation's "harmonic" baseline (`postprocess.harmonic_inpaint`), and the PConv U-Net's
fill head that starts from it, and the families built on it (`fill_input`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_generator_test, run_layer_test

from tfinpaint import postprocess
from tfinpaint.layers.gradient import gray_sobel
from tfinpaint.layers.harmonic_fill import HarmonicFill, harmonic_fill
from tfinpaint.models import registry
from tfinpaint.training import init_from


def _reference_fill(image, holes, levels, iterations):
    """The definition, one pixel at a time: (H, W, C) float64 image, (H, W) bool holes."""
    height, width, channels = image.shape
    values = np.where(holes[..., None], 0.0, image)
    weights = (~holes).astype(np.float64)
    pyramid = [(values, weights)]
    for _ in range(levels):
        values, weights = pyramid[-1]
        h, w = values.shape[0] // 2, values.shape[1] // 2
        coarse, coarse_weights = np.zeros((h, w, channels)), np.zeros((h, w))
        for i in range(h):
            for j in range(w):
                cell = weights[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                if cell.sum() > 0:
                    cell_values = values[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                    coarse[i, j] = (cell_values * cell[..., None]).sum((0, 1)) / cell.sum()
                    coarse_weights[i, j] = 1.0
        pyramid.append((coarse, coarse_weights))
    values, weights = pyramid[-1]
    mean = (values * weights[..., None]).sum((0, 1)) / weights.sum()
    filled = np.where(weights[..., None] > 0, values, mean)
    for level in range(levels, -1, -1):
        values, weights = pyramid[level]
        h, w = weights.shape
        if level < levels:
            # Bilinear x2, half-pixel centres: fine pixel i samples coarse (i + 0.5) / 2 - 0.5.
            up = np.zeros((h, w, channels))
            for i in range(h):
                for j in range(w):
                    y = min(max((i + 0.5) / 2 - 0.5, 0), filled.shape[0] - 1)
                    x = min(max((j + 0.5) / 2 - 0.5, 0), filled.shape[1] - 1)
                    y0, x0 = int(np.floor(y)), int(np.floor(x))
                    y1, x1 = min(y0 + 1, filled.shape[0] - 1), min(x0 + 1, filled.shape[1] - 1)
                    dy, dx = y - y0, x - x0
                    up[i, j] = (
                        filled[y0, x0] * (1 - dy) * (1 - dx)
                        + filled[y0, x1] * (1 - dy) * dx
                        + filled[y1, x0] * dy * (1 - dx)
                        + filled[y1, x1] * dy * dx
                    )
            filled = np.where(weights[..., None] > 0, values, up)
        for _ in range(iterations):
            new = filled.copy()
            for i in range(h):
                for j in range(w):
                    if weights[i, j] == 0:
                        neighbours = [
                            filled[max(i - 1, 0), j],
                            filled[min(i + 1, h - 1), j],
                            filled[i, max(j - 1, 0)],
                            filled[i, min(j + 1, w - 1)],
                        ]
                        new[i, j] = np.mean(neighbours, axis=0)
            filled = new
    return np.where(holes[..., None], filled, image)


def _image_and_holes(size=16, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(size=(size, size, 3))
    holes = rng.uniform(size=(size, size)) < 0.3
    holes[2 : size // 2 + 3, 3 : size - 2] = True  # A hole wider than the first levels' cells.
    return image, holes


@pytest.mark.parametrize("levels, iterations", [(0, 3), (2, 3), (3, 5)])
def test_layer_and_numpy_baseline_match_the_pixelwise_definition(levels, iterations):
    image, holes = _image_and_holes()
    expected = _reference_fill(image, holes, levels, iterations)
    layer = harmonic_fill(
        image[None].astype("float32"), holes[None, ..., None].astype("float32"), levels, iterations
    )
    np.testing.assert_allclose(np.asarray(layer)[0], expected, rtol=0, atol=1e-5)
    baseline = postprocess.harmonic_inpaint(image, holes, levels=levels, iterations=iterations)
    np.testing.assert_allclose(baseline, expected, rtol=0, atol=1e-5)


def test_fill_converges_to_the_harmonic_solution():
    # Laplace's equation: with enough sweeps every hole pixel is the mean of its 4 neighbours.
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    image = np.stack([np.sin(3 * xx) * np.cos(2 * yy), xx * yy, np.exp(-xx)], -1)
    holes = np.zeros((32, 32), bool)
    holes[6:26, 4:20] = True
    filled = postprocess.harmonic_inpaint(image, holes, levels=3, iterations=400)
    padded = np.pad(filled, [(1, 1), (1, 1), (0, 0)], "edge")
    neighbours = 0.25 * (
        padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    )
    assert np.abs(filled - neighbours)[holes].max() < 1e-5  # Not converged: ~1e-2.
    # A harmonic function is its own fill; a product like x*y is harmonic too.
    assert np.abs(filled[..., 1] - image[..., 1])[holes].max() < 1e-3


def test_known_pixels_constants_and_no_holes():
    image, holes = _image_and_holes(32, seed=3)
    masks = holes[None, ..., None].astype("float32")
    out = np.asarray(harmonic_fill(image[None].astype("float32"), masks, 3, 8))[0]
    np.testing.assert_array_equal(out[~holes], image.astype("float32")[~holes])
    constant = np.full((1, 32, 32, 3), 0.25, "float32")
    np.testing.assert_allclose(np.asarray(harmonic_fill(constant, masks, 3, 8)), 0.25, atol=1e-7)
    # Hole pixels of the input are never read.
    garbage = image[None].astype("float32").copy()
    garbage[0][holes] = 1e6
    np.testing.assert_array_equal(np.asarray(harmonic_fill(garbage, masks, 3, 8))[0], out)
    no_holes = np.zeros_like(masks)
    np.testing.assert_array_equal(
        np.asarray(harmonic_fill(image[None].astype("float32"), no_holes, 3, 8))[0],
        image.astype("float32"),
    )


def test_soft_mask_pixels_blend_their_value_and_the_fill_once():
    # valid = 1 - mask weighs a pixel's own value against its neighbours' mean, once.
    image = (np.arange(16, dtype="float32") ** 2).reshape(1, 4, 4, 1)  # Not harmonic.
    masks = np.zeros((1, 4, 4, 1), "float32")
    masks[0, 1, 2, 0] = 0.25
    out = np.asarray(harmonic_fill(image, masks, levels=0, iterations=1))
    neighbours = (image[0, 0, 2] + image[0, 2, 2] + image[0, 1, 1] + image[0, 1, 3]) / 4
    np.testing.assert_allclose(out[0, 1, 2], 0.75 * image[0, 1, 2] + 0.25 * neighbours, atol=1e-6)


def test_layer_contract():
    image, holes = _image_and_holes()
    data = [
        np.stack([image, image[::-1]]).astype("float32"),
        np.stack([holes, holes[:, ::-1]])[..., None].astype("float32"),
    ]
    outputs = run_layer_test(
        HarmonicFill,
        {"levels": 2, "iterations": 4},
        data,
        expected_output_shape=(2, 16, 16, 3),
        expected_num_trainable_weights=0,
        # Its output stays float32 under any policy (the fill is the base a network adds to).
        run_mixed_precision_check=False,
    )
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    mixed = HarmonicFill(2, 4, dtype="mixed_float16")(data)
    assert keras.backend.standardize_dtype(mixed.dtype) == "float32"


def test_eager_layer_runs_one_graph_for_every_size():
    # Eagerly (TensorFlow) the layer runs the fill as one graph traced for any batch and size:
    # the definition's values to float rounding, known pixels exact, no retrace for a new size.
    from tfinpaint.layers import harmonic_fill as module  # noqa: PLC0415

    layer = HarmonicFill(levels=2, iterations=5)
    traced = module._traced_fill(2, 5, 3)
    before = traced.experimental_get_tracing_count()
    for size, batch in ((16, 1), (32, 2), (24, 3)):
        image, holes = _image_and_holes(size, seed=size)
        images = np.repeat(image[None], batch, 0).astype("float32")
        masks = np.repeat(holes[None, ..., None], batch, 0).astype("float32")
        out = np.asarray(layer([images, masks]))
        np.testing.assert_allclose(out[-1], _reference_fill(image, holes, 2, 5), atol=1e-5)
        np.testing.assert_array_equal(out[-1][~holes], images[-1][~holes])
    assert traced.experimental_get_tracing_count() - before <= 1


@pytest.mark.parametrize(
    "kwargs, message",
    [({"levels": -1}, "levels=-1"), ({"iterations": 0}, "iterations=0"), ({"levels": 2.0}, "2.0")],
)
def test_layer_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HarmonicFill(**kwargs)


def test_numpy_sweeps_over_the_hole_box_equal_sweeps_over_the_image():
    # One small hole far from the edges, one touching them: the box must change nothing.
    rng = np.random.default_rng(9)
    image = rng.uniform(size=(64, 48, 3)).astype(np.float32)
    for box in ((slice(20, 30), slice(10, 22)), (slice(0, 12), slice(40, 48))):
        holes = np.zeros((64, 48), bool)
        holes[box] = True
        expected = np.asarray(
            harmonic_fill(image[None], holes[None, ..., None].astype("float32"), 4, 16)
        )[0]
        got = postprocess.harmonic_inpaint(image, holes, levels=4, iterations=16)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_numpy_baseline_any_size_uint8_and_errors():
    rng = np.random.default_rng(5)
    image = (rng.uniform(size=(37, 51, 3)) * 255).astype(np.uint8)
    holes = np.zeros((37, 51), bool)
    holes[5:30, 10:40] = True
    filled = postprocess.classical_inpaint(image, holes[..., None], "harmonic")
    assert filled.shape == image.shape and filled.dtype == np.uint8
    np.testing.assert_array_equal(filled[~holes], image[~holes])
    # Smooth inside: far less variation than the noise around it.
    assert filled[15:20, 20:30].astype(float).std() < image.astype(float).std() / 4
    gray = postprocess.harmonic_inpaint(image[..., 0], holes)
    assert gray.shape == (37, 51)
    np.testing.assert_array_equal(postprocess.harmonic_inpaint(image, ~np.ones_like(holes)), image)
    with pytest.raises(ValueError, match="Every pixel is a hole: harmonic"):
        postprocess.harmonic_inpaint(image, np.ones_like(holes))


def _pconv_batch(size=64):
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(2, size, size, 3)).astype("float32")
    masks = np.zeros((2, size, size, 1), "float32")
    masks[0, 10:40, 12:50] = 1.0
    masks[1, 30:, 5:30] = 1.0
    return {"images": images, "masks": masks}


def test_pconv_fill_head_starts_as_the_harmonic_fill_and_keeps_the_contract():
    keras.utils.set_random_seed(0)
    model = registry.build_generator("pconv", "tiny", fill_head_filters=[8, 8])
    batch = _pconv_batch()
    raw = np.asarray(model(batch)["raw"])
    fill = np.asarray(HarmonicFill(model.depth, 32)([batch["images"], batch["masks"]]))
    np.testing.assert_array_equal(raw, fill)
    run_generator_test(model, batch)
    restored = type(model).from_config(model.get_config())
    assert restored.fill_head_filters == [8, 8] and restored.fill_iterations == 32


def test_pconv_fill_head_learns_and_loads_a_headless_generator():
    keras.utils.set_random_seed(0)
    source = registry.build_generator("pconv", "tiny")
    target = registry.build_generator("pconv", "tiny", fill_head_filters=[8])
    weights = [(w.path, w.numpy()) for w in source.weights]

    class _Config:
        init_from, model, preset, generator_overrides = "source", "pconv", "tiny", {}

    values, fresh = init_from.initial_assignment(_Config, target, weights)
    assert sorted(fresh) == sorted(w.path for w in target.weights if "fill_head" in w.path)
    target.set_weights(values)
    for weight in target.weights:
        if "fill_head" not in weight.path:
            np.testing.assert_array_equal(weight.numpy(), dict(weights)[weight.path])
    # One step moves the head (its zero last layer gets a gradient through the ReLU layer's
    # output) and the U-Net.
    batch = _pconv_batch()
    optimizer = keras.optimizers.SGD(0.1)
    with tf.GradientTape() as tape:
        raw = target(batch, training=True)["raw"]
        loss = tf.reduce_mean(tf.abs(raw - batch["images"]) * batch["masks"])
    grads = tape.gradient(loss, target.trainable_weights)
    moved = {w.path for w, g in zip(target.trainable_weights, grads) if g is not None and np.any(g)}
    assert "fill_head_conv_2/kernel" in moved
    optimizer.apply(grads, target.trainable_weights)
    assert np.any(target.get_layer("fill_head_conv_2").kernel.numpy() != 0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"fill_head_filters": [8, 0]}, "fill_head_filters"),
        ({"fill_head_filters": "8"}, "fill_head_filters"),
        ({"fill_head_filters": [8], "fill_iterations": 0}, "fill_iterations"),
    ],
)
def test_pconv_bad_fill_head_config_raises(overrides, message):
    with pytest.raises(ValueError, match=message):
        registry.build_generator("pconv", "tiny", **overrides)


# PConv's fill head and fill input, and the cascade's (the family made for phones) for the rest:
# every family's graph exports in tests/test_export.py, and a conversion costs ~10-20 s.
@pytest.mark.parametrize(
    "family, overrides",
    [
        ("pconv", {"fill_head_filters": [8]}),
        ("pconv", {"fill_input": True}),
        ("cascade", {"fill_input": True}),
    ],
)
def test_on_the_fill_exports_to_tflite_with_builtin_ops(tmp_path, family, overrides):
    from ai_edge_litert.interpreter import Interpreter

    from tfinpaint import export

    keras.utils.set_random_seed(0)
    model = registry.build_generator(family, "tiny", **overrides)
    rng = np.random.default_rng(0)
    for weight in model.weights:  # The zero-init heads, so the export runs the whole graph.
        if weight.path.endswith("kernel") and not np.any(weight.numpy()):
            weight.assign(rng.normal(0, 0.05, weight.shape))
    path = str(tmp_path / f"{family}_on_the_fill.tflite")
    result = export.export_tflite(model, path, 64)
    assert all(not op.startswith(("CUSTOM", "Flex")) for op in result["ops"]), result["ops"]
    batch = {k: v[:1] for k, v in _pconv_batch().items()}
    got = Interpreter(model_path=path).get_signature_runner("serving_default")(**batch)
    expected = np.clip(model(batch)["inpainted"], 0.0, 1.0)
    assert np.abs(got["inpainted"] - expected).max() < 1e-3


def test_pconv_fill_input_with_a_fill_head_raises():
    with pytest.raises(ValueError, match="fill_input=True and fill_head_filters"):
        registry.build_generator("pconv", "tiny", fill_input=True, fill_head_filters=[8])
    with pytest.raises(ValueError, match="fill_input"):
        registry.build_generator("pconv", "tiny", fill_input="yes")


# Every family's `fill_input`: overrides (PConv's fill has the U-Net's depth in levels, the
# others take `fill_levels`), and layers that must move in training (the first, a deep one, the
# zero-init output).
_L5 = {"fill_levels": 5}
_ON_THE_FILL = [
    ("pconv", {}, {"encoder_pconv_1/kernel", "decoder_pconv_4/kernel"}),
    ("cascade", _L5, {"level_0_stem/kernel", "level_2_stem/kernel", "output_conv/kernel"}),
    (
        "cascade",
        {**_L5, "full_resolution_blocks": 1},
        {"level_0_stem/kernel", "full_resolution_output/kernel", "output_conv/kernel"},
    ),
    ("glcic", _L5, {"conv1/kernel", "dilated_conv1_d2/kernel", "output_conv/kernel"}),
    (
        "deepgin",
        _L5,
        {
            "coarse_enc_1/conv/kernel",
            "coarse_out/conv/kernel",
            "refine_out/conv/kernel",
            "refine_lr_out/conv/kernel",
        },
    ),
    (
        "gain",
        _L5,
        {
            "gradient_stem/kernel",
            "trunk/structure/down_1/conv_ii/kernel",
            "trunk/content/down_1/conv_gg/kernel",
            "trunk/decoder/head/conv_ii/kernel",
        },
    ),
]


@pytest.mark.parametrize("family, overrides, moving", _ON_THE_FILL)
def test_fill_input_starts_as_the_harmonic_fill_and_learns(family, overrides, moving):
    keras.utils.set_random_seed(0)
    model = registry.build_generator(family, "tiny", fill_input=True, **overrides)
    levels = overrides.get("fill_levels", getattr(model, "depth", None))
    assert model.size_multiple == 2**levels  # Above each family's own multiple here.
    batch = _pconv_batch()
    outputs = model(batch)
    raw = np.asarray(outputs["raw"])
    fill = HarmonicFill(levels, 32)([batch["images"], batch["masks"]])
    np.testing.assert_array_equal(raw, fill)
    if "gradients" in outputs:  # GAIN's gradient head starts at the fill's gradients.
        np.testing.assert_array_equal(outputs["gradients"], gray_sobel(fill))
    run_generator_test(model, batch)
    restored = type(model).from_config(model.get_config())
    assert restored.fill_input is True and restored.get_config() == model.get_config()
    # The fill reads no hole pixel, so neither does the network: the ground truth never leaks.
    changed = dict(batch, images=np.where(batch["masks"] > 0, 0.5, batch["images"]))
    optimizer = keras.optimizers.Adam(1e-2)
    for _ in range(2):  # The zero output layer moves first, then everything below it.
        with tf.GradientTape() as tape:
            raw = model(batch, training=True)["raw"]
            loss = tf.reduce_mean(tf.abs(raw - batch["images"]) * batch["masks"])
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)
    moved = {w.path for w, g in zip(model.trainable_weights, grads) if np.any(g)}
    assert moving <= moved, sorted(moved)
    after = np.asarray(model(batch)["raw"])
    assert np.abs(after - raw).max() > 1e-3
    np.testing.assert_allclose(after, model(changed)["raw"].numpy(), atol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(model(batch)["inpainted"]) * (1 - batch["masks"]),
        batch["images"] * (1 - batch["masks"]),
    )


@pytest.mark.parametrize("family", ["cascade", "glcic", "deepgin", "gain"])
@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"fill_input": 1}, "fill_input=1; expected a bool"),
        ({"fill_input": True, "fill_levels": 0}, "fill_levels=0; expected an int >= 1"),
        ({"fill_input": True, "fill_iterations": True}, "fill_iterations=True"),
    ],
)
def test_bad_fill_options_raise(family, overrides, message):
    with pytest.raises(ValueError, match=message):
        registry.build_generator(family, "tiny", **overrides)


@pytest.mark.parametrize("family, overrides", [case[:2] for case in _ON_THE_FILL[1:]])
def test_fill_input_starts_from_the_plain_network_at_the_fill(family, overrides):
    """`--init_from` a plain network (no `fill_input`; PConv's fill input has a channel more):
    its trunk is loaded, the zero-started corrections stay zero, so the run starts exactly at
    the fill."""
    keras.utils.set_random_seed(0)
    plain_overrides = {k: v for k, v in overrides.items() if k != "fill_levels"}
    source = registry.build_generator(family, "tiny", **plain_overrides)
    rng = np.random.default_rng(0)
    for weight in source.weights:  # A "trained" source: no weight at its initial value.
        weight.assign(weight.numpy() + rng.normal(0, 0.01, weight.shape))
    target = registry.build_generator(family, "tiny", fill_input=True, **overrides)
    weights = [(w.path, w.numpy()) for w in source.weights]

    class _Config:
        init_from, model, preset, generator_overrides = "source", family, "tiny", overrides

    values, fresh = init_from.initial_assignment(_Config, target, weights, source.get_config())
    target.set_weights(values)
    batch = _pconv_batch()
    fill = HarmonicFill(overrides["fill_levels"], 32)([batch["images"], batch["masks"]])
    np.testing.assert_array_equal(np.asarray(target(batch)["raw"]), fill)
    assert fresh
    source_values = dict(weights)
    for weight in target.weights:
        if weight.path in fresh:
            assert not np.any(weight.numpy()), weight.path
        else:
            np.testing.assert_array_equal(weight.numpy(), source_values[weight.path])
    # A source already on the fill loads whole.
    values, fresh = init_from.initial_assignment(_Config, target, weights, target.get_config())
    assert fresh == [] and all(
        np.array_equal(v, source_values[w.path]) for w, v in zip(target.weights, values)
    )
