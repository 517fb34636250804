"""Tests of the cascade generator and its discriminators (tfinpaint.models.cascade; SPEC.md
section 3)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_generator_test

from tfinpaint.layers.blocks import FuseBlock, SeparableResidualBlock
from tfinpaint.layers.dilation import CDBlock
from tfinpaint.models import registry
from tfinpaint.models.cascade import (
    PRESETS,
    CascadeDiscriminator,
    CascadeGenerator,
    CascadePyramidDiscriminator,
)


def build_cascade_generator(preset, **overrides):
    return registry.build_generator("cascade", preset, **overrides)


def build_cascade_discriminator(preset, stage=1):
    return registry.build_discriminators("cascade", preset)[f"stage_{stage}"]


def _batch(size, batch_size=2, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(batch_size, size, size, 3)).astype("float32")
    masks = np.zeros((batch_size, size, size, 1), "float32")
    for index in range(batch_size):
        y0, x0 = rng.integers(0, size // 2, size=2)
        height, width = rng.integers(size // 5, size // 2, size=2)
        masks[index, y0 : y0 + height, x0 : x0 + width] = 1.0
    return {"images": images, "masks": masks}


def _numpy(value):
    return keras.ops.convert_to_numpy(value)


@pytest.fixture(scope="module")
def tiny_generator():
    return build_cascade_generator("tiny")


@pytest.fixture(scope="module")
def paper_generator():
    return build_cascade_generator("paper")


# --- Generator ---


def test_paper_preset_parameter_count(paper_generator):
    num_params = paper_generator.count_params()
    # Paper: 0.344 M parameters, 1.3 MB in float32; ours: 339,555 (1.36 MB).
    assert 300_000 <= num_params <= 400_000, num_params
    assert 1.2e6 <= 4 * num_params <= 1.6e6
    assert not paper_generator.non_trainable_weights


def test_paper_preset_follows_the_cascade_design(paper_generator):
    config = PRESETS["paper"]["generator"]
    widths, depths = config["level_widths"], config["extractor_depths"]
    assert len(widths) == 3  # pyramid 1, 1/2, 1/4
    # Lowest resolution deepest and widest, highest shallowest and narrowest.
    assert list(widths) == sorted(widths) and widths[0] < widths[-1]
    assert list(depths) == sorted(depths) and depths[0] < depths[-1]

    layers = {layer.name: layer for layer in paper_generator.layers}
    # Exactly one downsampling per level: the stride-2 stem.
    strided = [
        layer.name
        for layer in paper_generator.layers
        if isinstance(layer, keras.layers.Conv2D) and tuple(layer.strides) != (1, 1)
    ]
    assert sorted(strided) == ["level_0_stem", "level_1_stem", "level_2_stem"]
    # CD blocks after extraction at levels 1 and 2, after fusion at level 1, none at level 0.
    cd_names = sorted(name for name, layer in layers.items() if isinstance(layer, CDBlock))
    assert cd_names == ["level_1_extract_cd_0", "level_1_refine_cd_0", "level_2_extract_cd_0"]
    fuse_names = sorted(name for name, layer in layers.items() if isinstance(layer, FuseBlock))
    assert fuse_names == ["level_0_fuse", "level_1_fuse"]
    assert all(layers[name].normalization is None for name in fuse_names)
    residual = [layer for layer in layers.values() if isinstance(layer, SeparableResidualBlock)]
    assert len(residual) == sum(depths) + sum(config["fusion_depths"])


def test_tiny_forward_at_64(tiny_generator):
    outputs = run_generator_test(tiny_generator, _batch(64))
    assert outputs["raw"].min() >= 0.0 and outputs["raw"].max() <= 1.0


def test_paper_forward_at_256(paper_generator):
    outputs = run_generator_test(paper_generator, _batch(256, batch_size=1))
    assert outputs["raw"].min() >= 0.0 and outputs["raw"].max() <= 1.0


def test_same_weights_run_at_1024(tiny_generator):
    small = tiny_generator(_batch(64, batch_size=1))
    large = tiny_generator(_batch(1024, batch_size=1))
    assert tuple(small["inpainted"].shape) == (1, 64, 64, 3)
    assert tuple(large["inpainted"].shape) == (1, 1024, 1024, 3)
    assert tuple(large["raw"].shape) == (1, 1024, 1024, 3)


def test_dynamic_sizes_in_one_trace(tiny_generator):
    spec = {
        "images": tf.TensorSpec((None, None, None, 3), tf.float32),
        "masks": tf.TensorSpec((None, None, None, 1), tf.float32),
    }
    run = tf.function(lambda batch: tiny_generator(batch)["inpainted"], input_signature=[spec])
    for size in (32, 72):
        batch = _batch(size)
        np.testing.assert_allclose(
            _numpy(run(batch)), _numpy(tiny_generator(batch)["inpainted"]), atol=1e-5
        )


def test_known_pixels_exact_and_holes_ignored(tiny_generator):
    batch = _batch(64)
    outputs = tiny_generator(batch)
    known = np.broadcast_to(batch["masks"] == 0, batch["images"].shape)
    np.testing.assert_array_equal(_numpy(outputs["inpainted"])[known], batch["images"][known])
    # Hole pixels replaced with anything (here: bright white) leave every output unchanged.
    whitened = dict(batch, images=np.where(known, batch["images"], 1.0).astype("float32"))
    for key in ("raw", "inpainted"):
        np.testing.assert_array_equal(_numpy(tiny_generator(whitened)[key]), _numpy(outputs[key]))


def test_extra_batch_keys_are_ignored(tiny_generator):
    batch = _batch(32)
    with_boxes = dict(batch, boxes=np.zeros((2, 4), "int32"))
    np.testing.assert_array_equal(
        _numpy(tiny_generator(with_boxes)["inpainted"]), _numpy(tiny_generator(batch)["inpainted"])
    )


def test_size_errors(tiny_generator):
    with pytest.raises(ValueError, match="divisible by 8"):
        tiny_generator(_batch(60))
    batch = _batch(64)
    with pytest.raises(ValueError, match="size"):
        tiny_generator({"images": batch["images"], "masks": batch["masks"][:, :32, :32]})


def test_config_errors():
    with pytest.raises(ValueError, match="preset"):
        build_cascade_generator("huge")
    with pytest.raises(ValueError, match="extractor_depths"):
        build_cascade_generator("tiny", extractor_depths=(1, 1))
    with pytest.raises(ValueError, match="channels divisible"):
        build_cascade_generator("tiny", level_widths=(8, 10, 16))


def test_generator_config_round_trip_and_weights(tmp_path, tiny_generator):
    config = json.loads(json.dumps(tiny_generator.get_config()))
    for key in PRESETS["tiny"]["generator"]:
        assert key in config
    restored = CascadeGenerator.from_config(config)
    assert restored.count_params() == tiny_generator.count_params()
    assert json.loads(json.dumps(restored.get_config())) == config
    revived = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(tiny_generator)))
    )
    assert type(revived) is CascadeGenerator

    path = os.path.join(tmp_path, "generator.weights.h5")
    tiny_generator.save_weights(path)
    restored.load_weights(path)
    keras_path = os.path.join(tmp_path, "generator.keras")
    tiny_generator.save(keras_path)
    loaded = keras.saving.load_model(keras_path)
    assert type(loaded) is CascadeGenerator
    batch = _batch(64)
    for model in (restored, loaded):
        for key in ("raw", "inpainted"):
            np.testing.assert_array_equal(
                _numpy(model(batch)[key]), _numpy(tiny_generator(batch)[key])
            )


def test_fuse_normalization_ablation_builds():
    generator = build_cascade_generator("tiny", fuse_normalization="instance")
    outputs = run_generator_test(generator, _batch(32))
    assert outputs["inpainted"].shape == (2, 32, 32, 3)


def test_full_resolution_head_starts_as_the_paper_design(tiny_generator):
    # Our addition (not the paper's): 0 blocks is the paper's network; > 0 adds a head whose
    # last convolution starts at zero, so with the paper weights copied in the output is equal.
    generator = build_cascade_generator("tiny", full_resolution_blocks=2)
    width = PRESETS["tiny"]["generator"]["level_widths"][0]
    head = (9 * 7 * width + width) + 2 * 2 * (9 * width + width * width + width) + 9 * width * 3 + 3
    assert generator.count_params() == tiny_generator.count_params() + head
    values = {w.path: w for w in tiny_generator.weights}
    for weight in generator.weights:
        if weight.path in values:
            weight.assign(values[weight.path])
        else:
            assert weight.path.startswith("full_resolution")
    batch = _batch(64)
    outputs = run_generator_test(generator, batch)
    np.testing.assert_allclose(
        _numpy(outputs["raw"]), _numpy(tiny_generator(batch)["raw"]), atol=1e-6
    )
    # The head changes the output once its last convolution moves off zero, and the known
    # pixels still pass unchanged.
    kernel = generator.get_layer("full_resolution_output").kernel
    kernel.assign(np.full(kernel.shape, 0.05, "float32"))
    changed = generator(batch)
    assert np.abs(_numpy(changed["raw"]) - _numpy(outputs["raw"])).max() > 1e-3
    known = np.broadcast_to(batch["masks"] == 0, batch["images"].shape)
    np.testing.assert_array_equal(_numpy(changed["inpainted"])[known], batch["images"][known])
    config = json.loads(json.dumps(generator.get_config()))
    assert config["full_resolution_blocks"] == 2
    assert CascadeGenerator.from_config(config).count_params() == generator.count_params()


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_full_resolution_head_refuses_bad_depths(value):
    with pytest.raises(ValueError, match="full_resolution_blocks=.*expected an int >= 0"):
        build_cascade_generator("tiny", full_resolution_blocks=value)


def test_generator_trains_one_step(tiny_generator):
    generator = build_cascade_generator("tiny")
    batch = _batch(32)
    optimizer = keras.optimizers.Adam(1e-3)
    with tf.GradientTape() as tape:
        outputs = generator(batch, training=True)
        loss = tf.reduce_mean(tf.abs(outputs["inpainted"] - batch["images"]))
    grads = tape.gradient(loss, generator.trainable_variables)
    assert all(grad is not None for grad in grads)
    optimizer.apply(grads, generator.trainable_variables)
    assert np.isfinite(float(loss))


# --- Discriminators ---


def _spectral_layers(model):
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.SpectralNormalization)
    ]


def _top_singular_value(layer):
    kernel = _numpy(layer.layer.kernel)
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


@pytest.mark.parametrize("stage", [1, 2])
def test_every_discriminator_weight_layer_is_spectrally_normalised(stage):
    discriminator = build_cascade_discriminator("tiny", stage=stage)
    wrapped = {id(layer.layer) for layer in _spectral_layers(discriminator)}
    weighted = [
        layer
        for layer in discriminator._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    assert weighted and all(id(layer) in wrapped for layer in weighted)
    # tiny: 4 blocks x (2 convs + shortcut) + the logits dense layer, per branch.
    assert len(wrapped) == 13 * stage


@pytest.mark.parametrize("stage", [1, 2])
def test_spectral_norm_normalises_with_training_true(stage):
    keras.utils.set_random_seed(stage)  # The power iteration starts from a random vector.
    discriminator = build_cascade_discriminator("tiny", stage=stage)
    images = _batch(32)["images"]
    logits = discriminator(images, training=False)
    assert tuple(logits.shape) == (2, 1)
    sigmas = [_top_singular_value(layer) for layer in _spectral_layers(discriminator)]
    assert max(abs(s - 1.0) for s in sigmas) > 0.2  # not normalised before training=True
    discriminator(images, training=False)
    assert [_top_singular_value(x) for x in _spectral_layers(discriminator)] == sigmas
    # One power iteration per call: from the random initial u, sigma converges (from above,
    # as the estimate is a lower bound) within 5 % after about 10-20 calls for most draws;
    # 60 leaves room for a small spectral gap.
    for _ in range(60):
        discriminator(images, training=True)
    for layer in _spectral_layers(discriminator):
        assert abs(_top_singular_value(layer) - 1.0) < 0.05, layer.path


def test_paper_discriminators():
    stage_1 = build_cascade_discriminator("paper", stage=1)
    stage_2 = build_cascade_discriminator("paper", stage=2)
    assert isinstance(stage_1, CascadeDiscriminator)
    assert isinstance(stage_2, CascadePyramidDiscriminator)
    assert stage_1.widths == PRESETS["paper"]["discriminators"]["stage_1"]["widths"]
    assert stage_2.count_params() == 2 * stage_1.count_params()
    images = _batch(256, batch_size=1)["images"]
    assert tuple(stage_1(images, training=True).shape) == (1, 1)
    assert tuple(stage_2(images, training=True).shape) == (1, 1)


def test_discriminator_sums_over_positions_by_default():
    # Issue 14: a global mean bounded the spectrally normalised logits (see the class
    # docstring); the sum is the mean times the number of positions of the last feature map.
    summed = CascadeDiscriminator(widths=(8, 16))
    averaged = CascadeDiscriminator(widths=(8, 16), pooling="mean")
    assert summed.get_config()["pooling"] == "sum"
    assert CascadeDiscriminator.from_config(averaged.get_config()).pooling == "mean"
    assert build_cascade_discriminator("paper", stage=2).branches[0].pooling == "sum"
    images = _batch(32)["images"]
    summed(images)
    averaged(images)
    averaged.set_weights(summed.get_weights())
    bias = _numpy(summed.get_layer("logits").layer.bias)
    positions = (32 // 4) ** 2  # two halvings
    np.testing.assert_allclose(
        _numpy(summed(images)) - bias, positions * (_numpy(averaged(images)) - bias), rtol=1e-4
    )
    with pytest.raises(ValueError, match="pooling"):
        CascadeDiscriminator(widths=(8, 16), pooling="max")


def test_pyramid_discriminator_averages_two_independent_branches():
    discriminator = build_cascade_discriminator("tiny", stage=2)
    branch_0, branch_1 = discriminator.branches
    assert isinstance(branch_0, CascadeDiscriminator)
    assert isinstance(branch_1, CascadeDiscriminator)
    ids_0 = {id(v) for v in branch_0.weights}
    ids_1 = {id(v) for v in branch_1.weights}
    assert ids_0.isdisjoint(ids_1)
    assert len(discriminator.weights) == len(branch_0.weights) + len(branch_1.weights)
    assert any(
        not np.array_equal(_numpy(a), _numpy(b))
        for a, b in zip(branch_0.trainable_weights, branch_1.trainable_weights, strict=True)
        if a.shape == b.shape
    )
    images = _batch(32)["images"]
    half = _nearest_numpy(images, 2)  # the half-size pyramid level: nearest, as the paper
    expected = (_numpy(branch_0(images)) + _numpy(branch_1(half))) / 2.0
    np.testing.assert_allclose(_numpy(discriminator(images)), expected, atol=1e-6)
    assert not np.allclose(_numpy(branch_0(images)), _numpy(branch_1(half)))


def test_pyramid_discriminator_average_option_pools_2x2():
    discriminator = CascadePyramidDiscriminator(widths=(8, 16), downsampling="average")
    assert discriminator.get_config()["downsampling"] == "average"
    branch_0, branch_1 = discriminator.branches
    images = _batch(32)["images"]
    # numpy 2x2 box filter: (B, 16, 2, 16, 2, 3) averaged over the cell axes.
    half = images.reshape(2, 16, 2, 16, 2, 3).mean(axis=(2, 4))
    expected = (_numpy(branch_0(images)) + _numpy(branch_1(half))) / 2.0
    np.testing.assert_allclose(_numpy(discriminator(images)), expected, atol=1e-5)
    with pytest.raises(ValueError, match="downsampling"):
        CascadePyramidDiscriminator(widths=(8, 16), downsampling="bilinear")


def _nearest_numpy(images, factor):
    """Nearest-neighbour downsampling from its definition: output pixel i samples the input at
    the half-pixel-centre coordinate floor((i + 0.5) * factor)."""
    height, width = images.shape[1] // factor, images.shape[2] // factor
    rows = np.floor((np.arange(height) + 0.5) * factor).astype(int)
    cols = np.floor((np.arange(width) + 0.5) * factor).astype(int)
    return images[:, rows][:, :, cols]


def test_every_generator_downsampling_is_nearest_neighbour(tiny_generator):
    # Seed 000, section 3.1: resolution changes use nearest-neighbour scaling. The pyramid
    # levels are nearest-downsampled copies of the network input, and each level's stride-2
    # stem convolution equals its stride-1 convolution followed by nearest x1/2 downsampling.
    batch = _batch(32)
    images, masks = batch["images"], batch["masks"]
    network_input = np.concatenate([(images * 2 - 1) * (1 - masks), masks], axis=-1)
    for level in range(len(tiny_generator.level_widths)):
        factor = 2**level
        pyramid = tiny_generator.get_layer(f"pyramid_{level}")
        level_input = _numpy(pyramid(network_input))
        np.testing.assert_array_equal(level_input, _nearest_numpy(network_input, factor))
        stem = tiny_generator.get_layer(f"level_{level}_stem")
        kernel, bias = (_numpy(w) for w in stem.weights)
        dense = _numpy(
            tf.nn.leaky_relu(
                tf.nn.conv2d(level_input, kernel, strides=1, padding="SAME") + bias, alpha=0.2
            )
        )
        np.testing.assert_allclose(
            _numpy(stem(level_input)), _nearest_numpy(dense, 2), rtol=1e-5, atol=1e-5
        )


def test_discriminator_errors():
    with pytest.raises(ValueError, match="no discriminator stage_3: its discriminators are"):
        registry.build_discriminators("cascade", "tiny", stage_3={})
    with pytest.raises(ValueError, match="preset"):
        registry.build_discriminators("cascade", "huge")
    with pytest.raises(ValueError, match="Unknown stage_1 discriminator argument"):
        registry.build_discriminators("cascade", "tiny", stage_1={"depth": 3})


@pytest.mark.parametrize("stage", [1, 2])
def test_discriminator_config_round_trip_and_weights(tmp_path, stage):
    discriminator = build_cascade_discriminator("tiny", stage=stage)
    config = json.loads(json.dumps(discriminator.get_config()))
    restored = type(discriminator).from_config(config)
    assert json.loads(json.dumps(restored.get_config())) == config
    images = _batch(32)["images"]
    discriminator(images, training=True)  # normalise once so the saved kernels are W / sigma
    path = os.path.join(tmp_path, "discriminator.weights.h5")
    discriminator.save_weights(path)
    restored.load_weights(path)
    np.testing.assert_array_equal(
        _numpy(restored(images, training=False)), _numpy(discriminator(images, training=False))
    )
