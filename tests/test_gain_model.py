"""GAIN generator and discriminators (SPEC.md section 5): the paper's parameter count from the
architecture, the dict contract (known pixels exact, holes without influence), the generator's
own gradient map, the priority blocks, config and save/load round trips, spectral norm in both
critics."""

import os
import tempfile

import cv2
import keras
import numpy as np
import pytest
import skimage.data
from harness import json_round_trip, random_batch, run_generator_test

from tfinpaint.data import gradients as data_gradients
from tfinpaint.models import registry
from tfinpaint.models.gain import PRESETS, GAINDiscriminator, GAINGenerator

TINY = PRESETS["tiny"]["generator"]
PAPER_PARAMETERS = 59_044_092


@pytest.fixture(scope="module")
def tiny_generator():
    keras.utils.set_random_seed(0)
    return GAINGenerator(**TINY)


def gai_parameters(image_in, gradient_in, image_out, gradient_out, kernel_size=3):
    """PConv_II, PConv_GG, PConv_GI (k x k) and PConv_IG (3x3 on 2 x image_out channels)."""
    k2 = kernel_size * kernel_size
    return (
        (k2 * image_in * image_out + image_out)
        + (k2 * gradient_in * gradient_out + gradient_out)
        + (k2 * gradient_in * image_out + image_out)
        + (9 * 2 * image_out * gradient_out + gradient_out)
    )


def expected_parameters(a, g, structure_blocks, content_blocks, rates, attention_convs, stem=2):
    down = gai_parameters(3, stem, a, g) + gai_parameters(a, g, 2 * a, 2 * g)
    middle = gai_parameters(2 * a, 2 * g, 2 * a, 2 * g)
    return {
        "gradient_stem": 9 * 2 * stem + stem,
        "structure": down + structure_blocks * len(rates) * middle,
        "content": down + (content_blocks * len(rates) + attention_convs) * middle,
        # Back to one branch's width at half resolution, halved again at full (DeepFill v1).
        "decoder": gai_parameters(4 * a, 4 * g, a, g)
        + gai_parameters(a, g, a // 2, g // 2)
        + gai_parameters(a // 2, g // 2, 3, 2),
    }


def _count(generator, part):
    if part == "gradient_stem":
        return generator.get_layer(part).count_params()
    trunk = generator.get_layer("trunk")
    if part == "content":
        return trunk.content.count_params() + trunk.content_attention_convs.count_params()
    return getattr(trunk, part).count_params()


def test_paper_parameter_count():
    # Built only: a forward pass at 256 px is too slow for the default suite.
    generator = GAINGenerator()
    expected = expected_parameters(64, 128, 6, 2, (2, 4, 8, 16), 2)
    assert {prefix: _count(generator, prefix) for prefix in expected} == expected
    assert generator.count_params() == sum(expected.values()) == PAPER_PARAMETERS
    assert len(generator.non_trainable_weights) == 0
    trunk = generator.get_layer("trunk")
    assert trunk.count_params() + _count(generator, "gradient_stem") == PAPER_PARAMETERS
    structure = trunk.structure
    assert [block.name for block in structure.blocks[:2]] == ["down_1", "down_2"]
    assert [block.strides for block in structure.blocks[:2]] == [2, 2]
    dilated = structure.blocks[2:]
    assert [block.dilation_rate for block in dilated] == [2, 4, 8, 16] * 6
    # The first four dilation blocks, 4 GAI blocks each, hold the mask back with delta 0.4.
    assert [block.shrinkage_delta for block in dilated] == [0.4] * 16 + [None] * 8
    content = trunk.content
    assert [block.dilation_rate for block in content.blocks[2:]] == [2, 4, 8, 16] * 2
    assert all(block.shrinkage_delta is None for block in content.blocks)
    decoder = trunk.decoder
    assert decoder.upsample == (True, True, False)
    assert [(b.image_filters, b.gradient_filters) for b in decoder.blocks] == [
        (64, 128),
        (32, 64),
        (3, 2),
    ]


@pytest.mark.parametrize("training", [False, True])
def test_tiny_generator_contract(tiny_generator, training):
    outputs = run_generator_test(tiny_generator, random_batch(2, 32, 48), training=training)
    assert set(outputs) == {"raw", "inpainted", "gradients"}
    assert outputs["gradients"].shape == (2, 32, 48, 2)
    assert all(outputs[key].dtype == np.float32 for key in outputs)


def test_generator_gradient_map_is_the_datasets_inside_the_stencil(tiny_generator):
    batch = random_batch(2, 32, 32, seed=3)
    stem = tiny_generator.get_layer("gradient_stem")
    probe = keras.Model(tiny_generator.input, stem.input)
    gradient_map, gradient_hole = (np.asarray(t) for t in probe(batch))
    for b in range(2):
        dilated = cv2.dilate(
            batch["masks"][b, :, :, 0], np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REFLECT_101
        )
        np.testing.assert_array_equal(gradient_hole[b, :, :, 0], dilated)
    expected = data_gradients.opencv_sobel_gradients(batch["images"]) * (1.0 - gradient_hole)
    np.testing.assert_allclose(gradient_map, expected, atol=2e-6)


def test_structure_branch_holds_the_mask_back(tiny_generator):
    # The priority block fills fewer hole pixels than the plain update would (delta 0). The
    # hole must outlast the two stride-2 blocks: 40 px of 64 leave 8 of 16 at the quarter scale.
    batch = random_batch(2, 64, 64, seed=4)
    batch["masks"][:] = 0.0
    batch["masks"][:, 12:52, 12:52] = 1.0
    plain = GAINGenerator(**dict(TINY, shrinkage_delta=0.0))
    plain.set_weights(tiny_generator.get_weights())

    def hole_after_priority_block(generator):
        trunk = generator.get_layer("trunk")
        flows = keras.Model(generator.input, trunk.input)(batch)
        structure = trunk.structure
        for name in ("down_1", "down_2", "dilation_1_1"):
            flows = structure.get_block(name)(flows)
        return np.asarray(flows[2])

    held, full = hole_after_priority_block(tiny_generator), hole_after_priority_block(plain)
    assert full.sum() > 0
    assert np.all(held >= full) and held.sum() > full.sum()


def test_sizes_must_be_multiples_of_eight(tiny_generator):
    assert tiny_generator.size_multiple == 8
    assert GAINGenerator.size_multiple_for({"attention_rate": 1}) == 4
    with pytest.raises(ValueError, match="divisible by 8"):
        tiny_generator(random_batch(1, 36, 32))


def test_config_errors():
    with pytest.raises(ValueError, match="image_filters"):
        GAINGenerator(image_filters=0)
    with pytest.raises(ValueError, match="num_priority_blocks"):
        GAINGenerator(**dict(TINY, num_priority_blocks=2))
    with pytest.raises(ValueError, match="attention_flows"):
        GAINGenerator(**dict(TINY, attention_flows="both"))
    with pytest.raises(ValueError, match="shrinkage_delta"):
        GAINGenerator(**dict(TINY, shrinkage_delta=2.0))
    for scale in (0, -1.0, "big", True):
        with pytest.raises(ValueError, match="kernel_init_scale"):
            GAINGenerator(**dict(TINY, kernel_init_scale=scale))


@pytest.mark.parametrize("scale, bounded", [(None, True), (1.0, False)])
def test_flows_stay_level_through_the_paper_depth_at_initialisation(scale, bounded):
    """The paper's 6 x 4 structure and 2 x 4 content blocks, narrowed: at the default
    kernel_init_scale a photo's raw output at initialisation stays near the image range; at
    Glorot scale (1.0) the flows double block after block (the reason for the default)."""
    keras.utils.set_random_seed(0)
    overrides = {} if scale is None else {"kernel_init_scale": scale}
    generator = registry.build_generator(
        "gain", "paper", image_filters=4, gradient_filters=8, **overrides
    )
    photo = cv2.resize(skimage.data.astronaut(), (64, 64), interpolation=cv2.INTER_AREA)
    images = np.repeat(photo[None].astype("float32") / 255.0, 2, axis=0)
    masks = np.zeros((2, 64, 64, 1), "float32")
    masks[:, 16:44, 20:50] = 1.0
    raw = np.abs(np.asarray(generator({"images": images, "masks": masks})["raw"])).max()
    if bounded:
        assert raw < 10.0, raw
    else:
        assert raw > 1e3, raw


def test_residual_init_scale_makes_the_dilation_blocks_residual_near_the_identity():
    # The paper's depth narrowed; residual_init_scale 0.1: the dilation blocks and the
    # attention's convolutions are residual and their kernels start at 0.1 x the others'
    # standard deviation (measured); the parameter count is the plain network's.
    overrides = dict(image_filters=8, gradient_filters=8)
    keras.utils.set_random_seed(0)
    plain = registry.build_generator("gain", "paper", **overrides)
    keras.utils.set_random_seed(0)
    generator = registry.build_generator("gain", "paper", residual_init_scale=0.1, **overrides)
    assert generator.count_params() == plain.count_params()
    trunk, plain_trunk = generator.get_layer("trunk"), plain.get_layer("trunk")
    assert trunk.structure.residual == (False, False) + (True,) * 24
    assert trunk.content.residual == (False, False) + (True,) * 8
    assert trunk.content_attention_convs.residual == (True, True)
    assert not any(trunk.decoder.residual) and not any(plain_trunk.structure.residual)

    def kernel_std(block):
        return np.std(np.asarray(block.conv_ii.kernel))

    for block, plain_block in zip(
        trunk.structure.blocks, plain_trunk.structure.blocks, strict=True
    ):
        ratio = kernel_std(block) / kernel_std(plain_block)
        expected = 0.1 if block.name.startswith("dilation") else 1.0
        assert abs(ratio - expected) < 0.1 * expected, (block.name, ratio)
    for block in trunk.content_attention_convs.blocks:
        ratio = kernel_std(block) / kernel_std(plain_trunk.content_attention_convs.blocks[0])
        assert abs(ratio - 0.1) < 0.01, (block.name, ratio)
    config = json_round_trip(generator.get_config())
    assert config["residual_init_scale"] == 0.1
    restored = GAINGenerator.from_config(config)
    restored.set_weights(generator.get_weights())
    batch = random_batch(1, 64, 64)
    np.testing.assert_array_equal(restored(batch)["raw"], generator(batch)["raw"])
    assert plain.get_config()["residual_init_scale"] is None
    for scale in (0, -0.1, "small", True):
        with pytest.raises(ValueError, match="residual_init_scale"):
            GAINGenerator(**dict(TINY, residual_init_scale=scale))


def test_config_round_trip_and_save_load(tiny_generator):
    config = tiny_generator.get_config()
    assert config["dilation_rates"] == (2,) and config["num_priority_blocks"] == 1
    restored = GAINGenerator.from_config(json_round_trip(config))
    assert json_round_trip(restored.get_config()) == json_round_trip(config)
    batch = random_batch(2, 32, 32)
    expected = tiny_generator(batch)
    with tempfile.TemporaryDirectory() as tmp_dir:
        path = os.path.join(tmp_dir, "gain.keras")
        tiny_generator.save(path)
        loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GAINGenerator)
    actual = loaded(batch)
    for key in ("raw", "inpainted", "gradients"):
        np.testing.assert_array_equal(actual[key], expected[key])


def test_separate_attention_and_mixed_precision_keep_the_contract():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        generator = GAINGenerator(**dict(TINY, attention_flows="separate"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    attentions = generator.get_layer("trunk").attentions
    assert [layer.name for layer in attentions] == [
        "content_attention_image",
        "content_attention_gradient",
    ]
    outputs = run_generator_test(generator, random_batch(2, 32, 32))
    assert outputs["gradients"].dtype == np.float32


# === Discriminators ===


def test_paper_discriminators_shapes_and_parameter_counts():
    discriminators = registry.build_discriminators("gain", "paper")
    assert list(discriminators) == ["image", "gradient"]

    def conv(c_in, c_out):
        return 25 * c_in * c_out + c_out

    body = conv(64, 128) + conv(128, 256) + 3 * conv(256, 256)
    expected = {"image": conv(4, 64) + body, "gradient": conv(3, 64) + body}
    for name, channels in (("image", 4), ("gradient", 3)):
        discriminator = discriminators[name]
        trainable = sum(int(np.prod(v.shape)) for v in discriminator.trainable_weights)
        assert trainable == expected[name]
        # Six stride-2 convolutions: 256 -> 4.
        logits = discriminator(np.zeros((1, 256, 256, channels), "float32"), training=True)
        assert tuple(logits.shape) == (1, 4, 4, 256)


def test_discriminator_convolutions_are_spectral_normalised():
    discriminator = GAINDiscriminator(input_channels=3, filters=4, num_layers=3)
    wrappers = [
        layer
        for layer in discriminator.layers
        if isinstance(layer, keras.layers.SpectralNormalization)
    ]
    convolutions = [
        layer for layer in discriminator._flatten_layers() if isinstance(layer, keras.layers.Conv2D)
    ]
    assert len(wrappers) == len(convolutions) == 3
    discriminator(np.random.default_rng(0).random((2, 32, 32, 3), "float32"), training=True)
    for wrapper in wrappers:
        kernel = keras.ops.convert_to_numpy(wrapper.layer.kernel)
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        # One power iteration per call from a random u: close to, not exactly, 1.
        assert 0.3 < sigma < 1.5, (wrapper.name, sigma)
    assert json_round_trip(discriminator.get_config())["input_channels"] == 3
    with pytest.raises(ValueError, match="num_layers"):
        GAINDiscriminator(num_layers=0)
