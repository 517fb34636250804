"""DeepGIN's discriminators, losses and two-stage training (warm-up, then hinge GAN)."""

import keras
import numpy as np
import pytest
from harness import run_trainer_test

from tfinpaint.models import registry
from tfinpaint.models.deepgin import DeepGINDiscriminator, average_pool_exclude_pad
from tfinpaint.training import reporting
from tfinpaint.training.config import TrainConfig
from tfinpaint.training.deepgin import DeepGINTrainer, weighted_l1
from tfinpaint.training.loop import dataset_arguments, run_training

# The training tests use the tiny generator without SPD blocks: tracing the steps is most of
# their time, and the blocks (tested in test_deepgin_model.py) change nothing in the protocol.
_LEAN = {"num_coarse_spd_blocks": 0, "num_refine_spd_blocks": 0}


def test_paper_discriminators_shapes_and_parameter_counts():
    discriminators = registry.build_discriminators("deepgin", "paper")
    assert list(discriminators) == ["scale_1", "scale_2"]
    images = np.zeros((1, 256, 256, 6), "float32")
    shapes = {}
    for name, discriminator in discriminators.items():
        # 6*64*16+64 + 64*128*16+128 + 128*256*16+256 + 256*256*16+256.
        trainable = sum(int(np.prod(v.shape)) for v in discriminator.trainable_weights)
        assert trainable == 1_710_784
        shapes[name] = tuple(discriminator(images, training=True).shape)
    # Zero padding 2, 4x4 kernels: 256 -> 129 -> 65 -> 66 -> 67; on the pooled 128: 35.
    assert shapes == {"scale_1": (1, 67, 67, 256), "scale_2": (1, 35, 35, 256)}


def test_discriminator_convolutions_are_spectral_normalised():
    discriminator = DeepGINDiscriminator(filters=4, output_channels=3)
    wrappers = [
        layer
        for layer in discriminator.layers
        if isinstance(layer, keras.layers.SpectralNormalization)
    ]
    assert len(wrappers) == 4
    discriminator(np.random.default_rng(0).random((2, 32, 32, 6), "float32"), training=True)
    for wrapper in wrappers:
        kernel = keras.ops.convert_to_numpy(wrapper.layer.kernel)
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        # One power iteration per call from a random u: close to, not exactly, 1.
        assert 0.3 < sigma < 1.5, (wrapper.name, sigma)
    assert discriminator.get_config()["output_channels"] == 3
    with pytest.raises(ValueError, match="scale_factor"):
        DeepGINDiscriminator(scale_factor=3)


def test_average_pool_leaves_the_padding_out_of_the_count():
    x = np.random.default_rng(0).random((1, 6, 6, 1)).astype("float32")
    pooled = keras.ops.convert_to_numpy(average_pool_exclude_pad(x))[0, :, :, 0]
    padded = np.pad(x[0, :, :, 0], 1, constant_values=np.nan)
    expected = np.array(
        [
            [np.nanmean(padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3]) for j in range(3)]
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(pooled, expected, rtol=1e-6)


def test_weighted_l1_is_five_to_one_over_all_elements():
    rng = np.random.default_rng(0)
    prediction = rng.random((2, 8, 8, 3)).astype("float32")
    target = rng.random((2, 8, 8, 3)).astype("float32")
    hole = (rng.random((2, 8, 8, 1)) > 0.5).astype("float32")
    difference = np.abs(prediction - target)
    expected = 5 * np.mean(hole * difference) + np.mean((1 - hole) * difference)
    value = keras.ops.convert_to_numpy(weighted_l1(prediction, target, hole))
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    soft = rng.random((2, 8, 8, 1)).astype("float32")  # the lr term's downsampled mask
    expected = 5 * np.mean(soft * difference) + np.mean((1 - soft) * difference)
    value = keras.ops.convert_to_numpy(weighted_l1(prediction, target, soft))
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_trainer_steps_change_the_expected_networks():
    # Stage 1 (warm-up) has generator steps only. A generator step of stage 2 calls both
    # discriminators with training=True, and Keras' SpectralNormalization then writes W / sigma
    # into their kernels: they change (normalised, not trained).
    run_trainer_test(
        "deepgin",
        {
            (1, "generator"): {"generator"},
            (2, "generator"): {"generator", "discriminator_scale_1", "discriminator_scale_2"},
            (2, "discriminator"): {"discriminator_scale_1", "discriminator_scale_2"},
        },
        generator_overrides=_LEAN,
    )


def test_paper_preset_data_and_optimizers():
    config = TrainConfig(model="deepgin", preset="paper", workdir="unused").resolve(
        registry.get_preset("deepgin", "paper")["training"]
    )
    arguments = dataset_arguments(config, DeepGINTrainer, 1)
    assert (config.batch_size, config.masks, config.image_size) == (12, "deepgin", 256)
    assert arguments["augment"] == "rot90,polyphase,flip"
    assert arguments["resize_short_side"] == (512, 512)
    assert dataset_arguments(config, DeepGINTrainer, 2)["augment"] == "rot90,polyphase,flip"
    trainer = DeepGINTrainer(registry.build_generator("deepgin", "tiny"), config)
    generator_adam = trainer.optimizers["generator_optimizer"]
    assert generator_adam.global_clipnorm == 3.0
    assert (generator_adam.beta_1, generator_adam.beta_2) == (0.5, 0.999)
    assert float(generator_adam.learning_rate) == pytest.approx(1e-4)
    for scale in ("scale_1", "scale_2"):
        adam = trainer.optimizers[f"discriminator_optimizer_{scale}"]
        assert float(adam.learning_rate) == pytest.approx(4e-4)
        assert adam.beta_1 == 0.5 and adam.global_clipnorm is None
    assert trainer.segment_step_kinds(1) == ("generator",)
    trainer.start_segment(2)
    assert [trainer.step_kind(i) for i in range(4)] == ["generator", "discriminator"] * 2


def test_tiny_run_trains_both_stages_and_resumes(tmp_path):
    settings = dict(
        model="deepgin",
        preset="tiny",
        workdir=str(tmp_path),
        vgg_weights="none",
        batch_size=3,
        val_batch_size=3,
        stage_steps=[1],
        log_every=1,
        checkpoint_every=2,
        generator_overrides=_LEAN,
    )
    # Warm-up G, then main G; the resumed run continues with the main stage's D step.
    summary = run_training(TrainConfig(steps=2, **settings))
    assert summary["step"] == 2
    summary = run_training(TrainConfig(steps=3, **settings))
    assert summary["step"] == 3
    records = reporting.read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert [r["stage"] for r in records] == [1, 2, 2]
    assert "adversarial" not in records[0] and "d_loss" not in records[0]
    assert "adversarial" in records[1] and "d_loss" in records[2]
    assert all(np.isfinite(r["total"]) for r in records if "total" in r)
