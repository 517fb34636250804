"""Tests of tfinpaint.models.pconv: the PConv U-Net generator (SPEC.md section 1)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_generator_test

from tfinpaint.layers.partial_conv import PartialConv2D
from tfinpaint.models import registry
from tfinpaint.models.pconv import PRESETS, PConvUNet


def _batch(size, batch_size=2, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(batch_size, size, size, 3)).astype("float32")
    masks = (rng.uniform(size=(batch_size, size, size, 1)) < 0.1).astype("float32")
    masks[0, size // 4 : size // 2, size // 8 : size // 2 + 3] = 1.0  # A large hole too.
    masks[-1, size // 2 :, size // 3 :] = 1.0
    return {"images": images, "masks": masks}


def _num_params(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def _expected_trainable_params(config, bias_with_batch_norm):
    """Counts the U-Net's trainable parameters from the architecture, independently of Keras."""
    enc_filters = config["encoder_filters"]
    enc_kernels = config["encoder_kernel_sizes"]
    dec_filters = config["decoder_filters"]
    total, in_channels = 0, 3
    for index, (filters, kernel) in enumerate(zip(enc_filters, enc_kernels)):
        has_bn = index > 0
        total += kernel * kernel * in_channels * filters
        total += filters if (bias_with_batch_norm or not has_bn) else 0
        total += 2 * filters if has_bn else 0  # gamma, beta
        in_channels = filters
    skip_channels = [3, *enc_filters[:-1]][::-1]  # Fine skips last; the image at the end.
    for index, (filters, skip) in enumerate(zip(dec_filters, skip_channels)):
        has_bn = index < len(dec_filters) - 1
        total += 3 * 3 * (in_channels + skip) * filters
        total += filters if (bias_with_batch_norm or not has_bn) else 0
        total += 2 * filters if has_bn else 0
        in_channels = filters
    return total


def test_paper_preset_parameter_count():
    model = registry.build_generator("pconv", "paper")  # Built only: no forward pass at 512 px.
    trainable = _num_params(model.trainable_weights)
    non_trainable = _num_params(model.non_trainable_weights)
    # NVIDIA's layer keeps every conv bias (holes are re-masked to 0 after it, so BN does not
    # cancel it): 32,848,849 kernel weights + 5,507 biases + 10,880 BN gamma/beta.
    assert PRESETS["paper"]["generator"]["use_bias_with_batch_norm"] is True
    assert trainable == _expected_trainable_params(
        PRESETS["paper"]["generator"], bias_with_batch_norm=True
    )
    assert trainable == 32_865_236
    assert abs(trainable - 32.87e6) < 0.005e6  # README: "32.87 M".
    assert non_trainable == 10_880  # BN moving mean/variance: 2 * (2,944 + 2,496).
    assert model.depth == 8 and model.size_multiple == 256
    assert len(model.encoder_batch_norms) == 7 and len(model.decoder_batch_norms) == 7
    assert all(layer.use_bias for layer in model.encoder_convs + model.decoder_convs)

    # Without the biases before BatchNorm only the first encoder and last decoder conv keep one.
    without_biases = registry.build_generator("pconv", "paper", use_bias_with_batch_norm=False)
    assert _num_params(without_biases.trainable_weights) == 32_859_796
    assert _num_params(without_biases.trainable_weights) == _expected_trainable_params(
        PRESETS["paper"]["generator"], bias_with_batch_norm=False
    )


def test_paper_preset_architecture():
    model = registry.build_generator("pconv", "paper")
    encoder = [model.get_layer(f"encoder_pconv_{i}") for i in range(1, 9)]
    assert [layer.kernel_size[0] for layer in encoder] == [7, 5, 5, 3, 3, 3, 3, 3]
    assert [layer.filters for layer in encoder] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert all(layer.strides == (2, 2) for layer in encoder)
    # NVIDIA's padding, so that ported weights sample the same stride-2 grid.
    assert model.padding == "symmetric"
    assert all(layer.padding == "symmetric" for layer in encoder)
    decoder = [model.get_layer(f"decoder_pconv_{i}") for i in range(1, 9)]
    assert [layer.filters for layer in decoder] == [512, 512, 512, 512, 256, 128, 64, 3]
    assert all(layer.kernel_size == (3, 3) and layer.strides == (1, 1) for layer in decoder)
    assert all(layer.padding == "symmetric" for layer in decoder)
    # Decoder input channels: upsampled features + skip of the same scale (image at the end).
    assert [layer.kernel.shape[2] for layer in decoder] == [
        1024,
        1024,
        1024,
        1024,
        768,
        384,
        192,
        67,
    ]
    names = {layer.name for layer in model.layers}
    assert "encoder_bn_1" not in names and "decoder_bn_8" not in names
    assert {f"encoder_bn_{i}" for i in range(2, 9)} <= names
    assert {f"decoder_bn_{i}" for i in range(1, 8)} <= names


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("decoder_mask_mode", ["channelwise", "union"])
def test_tiny_generator_contract(size, decoder_mask_mode):
    model = registry.build_generator("pconv", "tiny", decoder_mask_mode=decoder_mask_mode)
    outputs = run_generator_test(model, _batch(size, seed=size))
    assert set(outputs) == {"raw", "inpainted"}


def test_symmetric_padding_generator_contract_and_grid():
    # The tiny preset keeps "same"; the paper's "symmetric" at tiny sizes.
    assert registry.build_generator("pconv", "tiny").padding == "same"
    symmetric = registry.build_generator("pconv", "tiny", padding="symmetric")
    outputs = run_generator_test(symmetric, _batch(64, seed=8))
    assert set(outputs) == {"raw", "inpainted"}
    run_generator_test(symmetric, _batch(64, seed=9), training=True)
    # Same weights, same sizes, but a one-pixel shift of the encoder's stride-2 grid.
    same = registry.build_generator("pconv", "tiny", padding="same")
    same.set_weights(symmetric.get_weights())
    batch = _batch(64, seed=10)
    assert np.abs(same(batch)["raw"] - symmetric(batch)["raw"]).max() > 1e-3
    # The encoder pads each side explicitly; the stride-1 decoder equals "same".
    encoder = symmetric.get_layer("encoder_pconv_1")
    assert encoder.padding == "symmetric" and encoder._explicit_pads() == (3, 3)
    assert symmetric.get_layer("decoder_pconv_1")._explicit_pads() is None


def test_tiny_generator_contract_in_training_mode_and_mixed_precision():
    model = registry.build_generator("pconv", "tiny")
    run_generator_test(model, _batch(64, seed=1), training=True)
    mixed = registry.build_generator("pconv", "tiny", dtype="mixed_float16")
    assert mixed.get_layer("encoder_pconv_1").compute_dtype == "float16"
    run_generator_test(mixed, _batch(64, seed=2))


def test_mask_modes_agree_without_holes_and_differ_with_holes():
    channelwise = registry.build_generator("pconv", "tiny", decoder_mask_mode="channelwise")
    union = registry.build_generator("pconv", "tiny", decoder_mask_mode="union")
    union.set_weights(channelwise.get_weights())
    batch = _batch(64, seed=3)
    no_holes = {"images": batch["images"], "masks": np.zeros_like(batch["masks"])}
    np.testing.assert_allclose(
        channelwise(no_holes)["raw"], union(no_holes)["raw"], rtol=1e-4, atol=1e-5
    )
    difference = np.abs(channelwise(batch)["raw"] - union(batch)["raw"])
    assert difference.max() > 1e-3


def _reference_unet(model, images, hole_masks, training):
    """The channel-wise U-Net of SPEC.md written plainly: decoder partial convolutions in
    `multi_channel=True` mode on each half's mask broadcast to its channels, every layer
    masking its own input. The model reaches the same result with grouped masks and with the
    features masked once per level (`inputs_masked`)."""

    def reference_conv(layer, multi_channel):
        config = layer.get_config()
        config.update(name=None, mask_groups=None, inputs_masked=False)
        config["multi_channel"] = multi_channel
        twin = PartialConv2D.from_config(config)
        channels = layer.input_channels
        twin.build(
            [(None, None, None, channels), (None, None, None, channels if multi_channel else 1)]
        )
        twin.set_weights(layer.get_weights())
        return twin

    batch_norms = {layer.name: layer for layer in model.layers if "_bn_" in layer.name}
    features, hole_mask = images * (1.0 - hole_masks), hole_masks
    skips = [(features, hole_mask)]
    for index in range(model.depth):
        conv = reference_conv(model.get_layer(f"encoder_pconv_{index + 1}"), False)
        features, hole_mask = conv([features, hole_mask])
        if f"encoder_bn_{index + 1}" in batch_norms:
            features = batch_norms[f"encoder_bn_{index + 1}"](features, training=training)
        features = keras.ops.relu(features)
        skips.append((features, hole_mask))
    skips.pop()
    for index in range(model.depth):
        skip_features, skip_hole_mask = skips.pop()
        features = keras.ops.repeat(keras.ops.repeat(features, 2, axis=1), 2, axis=2)
        hole_mask = keras.ops.repeat(keras.ops.repeat(hole_mask, 2, axis=1), 2, axis=2)
        channel_masks = keras.ops.concatenate(
            [
                keras.ops.repeat(hole_mask, features.shape[-1], axis=-1),
                keras.ops.repeat(skip_hole_mask, skip_features.shape[-1], axis=-1),
            ],
            axis=-1,
        )
        conv = reference_conv(model.get_layer(f"decoder_pconv_{index + 1}"), True)
        features, hole_mask = conv(
            [keras.ops.concatenate([features, skip_features], axis=-1), channel_masks]
        )
        hole_mask = hole_mask[..., :1]
        if index < model.depth - 1:
            features = batch_norms[f"decoder_bn_{index + 1}"](features, training=training)
            features = keras.ops.leaky_relu(features, 0.2)
    return features


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_channelwise_decoder_equals_the_plain_multi_channel_definition(training):
    model = registry.build_generator(
        "pconv", "tiny", padding="symmetric", use_bias_with_batch_norm=True
    )
    rng = np.random.default_rng(6)
    for weight in model.non_trainable_weights:  # BN statistics away from 0 / 1.
        weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
    batch = _batch(64, seed=7)
    batch["masks"][1, :20] *= 0.5  # Soft mask values as well.
    expected = _reference_unet(model, batch["images"], batch["masks"], training)
    raw = model(batch, training=training)["raw"]
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-5)


def test_every_trainable_weight_gets_a_gradient():
    model = registry.build_generator("pconv", "tiny")
    batch = _batch(64, seed=4)
    with tf.GradientTape() as tape:
        outputs = model(batch, training=True)
        loss = tf.reduce_mean(tf.abs(outputs["raw"] - batch["images"]))
    gradients = tape.gradient(loss, model.trainable_weights)
    missing = [w.path for w, g in zip(model.trainable_weights, gradients) if g is None]
    assert not missing, missing
    assert all(np.all(np.isfinite(g.numpy())) for g in gradients)


def test_dynamic_sizes_in_tf_function():
    model = registry.build_generator("pconv", "tiny")
    spec = {
        "images": tf.TensorSpec((None, None, None, 3), tf.float32),
        "masks": tf.TensorSpec((None, None, None, 1), tf.float32),
    }
    serve = tf.function(lambda inputs: model(inputs, training=False), input_signature=[spec])
    for size in (64, 80):
        batch = _batch(size, seed=size)
        np.testing.assert_allclose(
            serve(batch)["inpainted"], model(batch)["inpainted"], rtol=1e-5, atol=1e-6
        )
    # Unknown at trace time, so not checked up front; it still fails, at a concatenation.
    with pytest.raises(tf.errors.InvalidArgumentError):
        serve(_batch(72))


@pytest.mark.parametrize("height, width", [(60, 64), (64, 72), (100, 100)])
def test_indivisible_size_raises(height, width):
    model = registry.build_generator("pconv", "tiny")
    images = np.zeros((1, height, width, 3), "float32")
    masks = np.zeros((1, height, width, 1), "float32")
    message = f"size {height}x{width}; expected a height and width divisible by 16"
    with pytest.raises(ValueError, match=message):
        model({"images": images, "masks": masks})
    with pytest.raises(ValueError, match=message):
        model({"images": keras.Input((height, width, 3)), "masks": keras.Input((height, width, 1))})


def test_bad_inputs_raise():
    model = registry.build_generator("pconv", "tiny")
    images = np.zeros((1, 64, 64, 3), "float32")
    with pytest.raises(ValueError, match="masks of size 32x64; expected the same size"):
        model({"images": images, "masks": np.zeros((1, 32, 64, 1), "float32")})
    with pytest.raises(ValueError, match="1 mask channel"):
        model({"images": images, "masks": np.zeros((1, 64, 64, 3), "float32")})
    with pytest.raises(ValueError, match="masks"):  # Keras's input check names the key.
        model({"images": images})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"encoder_kernel_sizes": [7, 5, 5]}, "the same number of each"),
        ({"decoder_filters": [32, 16, 8, 4]}, "3 filters"),
        ({"decoder_mask_mode": "max"}, "decoder_mask_mode='max'"),
        ({"encoder_filters": [8, 0, 32, 32]}, "encoder_filters"),
        ({"encoder_filters": 8}, "expected a list of ints"),
        ({"padding": "valid"}, "padding='valid'"),
        ({"padding": "symmetric", "decoder_kernel_size": 4}, "odd decoder_kernel_size"),
    ],
)
def test_bad_config_raises(overrides, message):
    with pytest.raises(ValueError, match=message):
        registry.build_generator("pconv", "tiny", **overrides)


def test_unknown_preset_raises():
    with pytest.raises(
        ValueError, match="Unknown preset 'huge' for model 'pconv': expected one of paper, tiny"
    ):
        registry.build_generator("pconv", "huge")


def test_encoder_batchnorm_freezing():
    model = registry.build_generator("pconv", "tiny")
    encoder_bns = model.encoder_batch_norms
    assert [layer.name for layer in encoder_bns] == ["encoder_bn_2", "encoder_bn_3", "encoder_bn_4"]
    num_trainable = len(model.trainable_weights)
    batch = _batch(64, seed=5)

    def moving_means():
        encoder = [layer.moving_mean.numpy().copy() for layer in encoder_bns]
        decoder = [layer.moving_mean.numpy().copy() for layer in model.decoder_batch_norms]
        return encoder, decoder

    model.set_encoder_batchnorm_frozen(True)
    assert len(model.trainable_weights) == num_trainable - 2 * len(encoder_bns)
    trainable_ids = {id(w) for w in model.trainable_weights}
    assert not any(id(layer.gamma) in trainable_ids for layer in encoder_bns)
    encoder_before, decoder_before = moving_means()
    model(batch, training=True)
    encoder_after, decoder_after = moving_means()
    # Frozen encoder BN runs in inference mode: no statistics update. The decoder's still learn.
    for before, after in zip(encoder_before, encoder_after):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(decoder_before, decoder_after))
    # The frozen layer's training-mode output is its inference output.
    probe = np.random.default_rng(0).normal(2.0, 3.0, size=(4, 8, 8, 16)).astype("float32")
    np.testing.assert_allclose(
        encoder_bns[0](probe, training=True), encoder_bns[0](probe, training=False), rtol=1e-6
    )

    model.set_encoder_batchnorm_frozen(False)
    assert len(model.trainable_weights) == num_trainable
    model(batch, training=True)
    encoder_unfrozen, _ = moving_means()
    assert any(not np.array_equal(b, a) for b, a in zip(encoder_after, encoder_unfrozen))


def test_config_round_trip_and_weights_h5(tmp_path):
    model = registry.build_generator(
        "pconv", "tiny", decoder_mask_mode="union", padding="symmetric", name="pconv_generator"
    )
    config = model.get_config()
    assert config["decoder_mask_mode"] == "union" and config["name"] == "pconv_generator"
    assert config["padding"] == "symmetric"
    assert {key: config[key] for key in PRESETS["tiny"]["generator"]} == PRESETS["tiny"][
        "generator"
    ]
    config = json.loads(json.dumps(config))  # What generator.json holds.
    restored = PConvUNet.from_config(config)
    assert json.loads(json.dumps(restored.get_config())) == config
    assert restored.get_layer("encoder_pconv_1").padding == "symmetric"
    # Configs written before the padding option existed load with TensorFlow's "same".
    legacy = {key: value for key, value in config.items() if key != "padding"}
    assert PConvUNet.from_config(legacy).padding == "same"

    batch = _batch(64, seed=6)
    model(batch, training=True)  # Move the BN statistics away from their initial values.
    path = os.path.join(tmp_path, "generator.weights.h5")
    model.save_weights(path)
    restored.load_weights(path)
    for key in ("raw", "inpainted"):
        np.testing.assert_array_equal(restored(batch)[key], model(batch)[key])


def test_keras_file_save_and_load(tmp_path):
    model = registry.build_generator("pconv", "tiny")
    batch = _batch(64, seed=7)
    expected = model(batch)
    path = os.path.join(tmp_path, "generator.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, PConvUNet)
    assert isinstance(loaded.get_layer("encoder_pconv_1"), PartialConv2D)
    for key in ("raw", "inpainted"):
        np.testing.assert_array_equal(loaded(batch)[key], expected[key])


def test_symmetric_padding_exports_to_tflite_with_builtin_ops(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from tfinpaint import export

    keras.utils.set_random_seed(0)
    model = registry.build_generator("pconv", "tiny", padding="symmetric")
    path = str(tmp_path / "pconv_symmetric.tflite")
    result = export.export_tflite(model, path, 64)
    assert all(not op.startswith(("CUSTOM", "Flex")) for op in result["ops"]), result["ops"]
    assert "PAD" in result["ops"] or "PADV2" in result["ops"]  # The explicit symmetric pads.
    batch = _batch(64, batch_size=1, seed=11)
    got = Interpreter(model_path=path).get_signature_runner("serving_default")(**batch)
    expected = np.clip(model(batch)["inpainted"], 0.0, 1.0)
    assert np.abs(got["inpainted"] - expected).max() < 1e-3
    assert result["probe_max_abs_error"] < 1e-3
