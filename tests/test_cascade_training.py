"""The cascade model's two-stage training: stage switch, fresh stage-2 optimizers and
discriminator, and the generator/discriminator alternation."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_trainer_test, segment_data_arguments

from tfinpaint import losses
from tfinpaint.models import registry
from tfinpaint.training import reporting
from tfinpaint.training.cascade import CascadeOptions, CascadeTrainer
from tfinpaint.training.config import TrainConfig
from tfinpaint.training.loop import dataset_arguments, run_training


def _iterations(checkpoint_path):
    reader = tf.train.load_checkpoint(checkpoint_path)
    values = {}
    for stage in (1, 2):
        for network in ("generator", "discriminator"):
            key = f"{network}_optimizer_{stage}/iteration/.ATTRIBUTES/VARIABLE_VALUE"
            values[f"{network[0]}{stage}"] = int(reader.get_tensor(key))
    return values


def test_two_stages_with_fresh_optimizers_and_alternation(tmp_path):
    # 2 generator steps then 1 discriminator step: G G D G in each 4-step stage.
    config = TrainConfig(
        model="cascade",
        preset="tiny",
        workdir=str(tmp_path),
        batch_size=2,
        val_batch_size=2,
        steps=8,
        stage_steps=[4],
        log_every=2,
        checkpoint_every=4,
        vgg_weights="none",
        options={"generator_batches": 2, "discriminator_batches": 1},
    )
    summary = run_training(config)
    assert summary["step"] == 8
    records = reporting.read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["stage"]) for r in records] == [(2, 1), (4, 1), (6, 2), (8, 2)]
    assert "d_loss" not in records[0] and "d_loss" in records[1]  # steps 1-2 are G steps
    after_stage_1 = _iterations(str(tmp_path / "checkpoints" / "ckpt-4"))
    assert after_stage_1 == {"g1": 3, "d1": 1, "g2": 0, "d2": 0}
    final = _iterations(str(tmp_path / "checkpoints" / "ckpt-8"))
    assert final == {"g1": 3, "d1": 1, "g2": 3, "d2": 1}  # stage 2 started from fresh state


def test_stage_two_uses_larger_holes_and_the_alternation_is_ten_to_five():
    config = TrainConfig(model="cascade", preset="paper", workdir="unused").resolve(
        registry.get_preset("cascade", "paper")["training"]
    )
    assert config.masks == "rect:0.2-1"
    assert dataset_arguments(config, CascadeTrainer, 2)["masks"] == "rect:0.5-1"
    assert dataset_arguments(config, CascadeTrainer, 1)["masks"] == "rect:0.2-1"
    trainer = CascadeTrainer.create(registry.build_generator("cascade", "paper"), config)
    assert trainer.step_kinds == ("generator", "discriminator")
    assert set(trainer.discriminators) == {"stage_1", "stage_2"}
    kinds = [trainer.step_kind(i) for i in range(30)]
    assert kinds[:10] == ["generator"] * 10 and kinds[10:15] == ["discriminator"] * 5
    assert kinds[15:] == kinds[:15]


def test_cascade_trainer_protocol():
    # A generator step calls its stage's discriminator with training=True, and Keras'
    # SpectralNormalization then writes W / sigma into the kernel: the discriminator of the
    # stage changes (normalised, not trained); the other stage's stays bit-identical.
    run_trainer_test(
        "cascade",
        {
            (1, "generator"): {"generator", "discriminator_stage_1"},
            (1, "discriminator"): {"discriminator_stage_1"},
            (2, "generator"): {"generator", "discriminator_stage_2"},
            (2, "discriminator"): {"discriminator_stage_2"},
        },
    )


class _Recording:
    """Stands in for a discriminator: calls it and records its logits."""

    def __init__(self, discriminator):
        self.discriminator = discriminator
        self.trainable_variables = discriminator.trainable_variables
        self.logits = []

    def __call__(self, images, training=False):
        logits = self.discriminator(images, training=training)
        self.logits.append(np.asarray(logits, np.float64))
        return logits


@pytest.mark.parametrize("stage", [1, 2])
def test_discriminator_loss_is_half_the_bce(stage):
    # Seed 000: L_adv(tau) = -1/2 [E log D(X) + E log(1 - D(G(X)))].
    keras.utils.set_random_seed(0)
    config = TrainConfig(
        model="cascade", preset="tiny", workdir="unused", batch_size=2, vgg_weights="none"
    ).resolve(registry.get_preset("cascade", "tiny")["training"])
    assert config.options["d_loss_scale"] == 0.5
    trainer = CascadeTrainer.create(registry.build_generator("cascade", "tiny"), config)
    trainer.start_segment(stage)
    trainer.kind = "discriminator"
    recording = _Recording(trainer.discriminators[f"stage_{stage}"])
    trainer.discriminators[f"stage_{stage}"] = recording
    rng = np.random.default_rng(0)
    masks = np.zeros((2, 64, 64, 1), np.float32)
    masks[:, 8:40, 16:48] = 1
    batch = {"images": rng.random((2, 64, 64, 3)).astype(np.float32), "masks": masks}
    outputs = trainer.train_step({name: tf.constant(value) for name, value in batch.items()})
    real_logits, fake_logits = recording.logits
    reference_bce = -np.mean(np.log(1 / (1 + np.exp(-real_logits)))) - np.mean(
        np.log(1 - 1 / (1 + np.exp(-fake_logits)))
    )
    np.testing.assert_allclose(float(outputs["d_loss"][0]), 0.5 * reference_bce, rtol=1e-5)


def _tiny_generator_step_setup(options, seed):
    """(trainer at a stage-1 generator step, a 2-image 64 px batch) of the tiny preset."""
    keras.utils.set_random_seed(0)
    config = TrainConfig(
        model="cascade",
        preset="tiny",
        workdir="unused",
        batch_size=2,
        vgg_weights="none",
        options=options,
    ).resolve(registry.get_preset("cascade", "tiny")["training"])
    trainer = CascadeTrainer.create(registry.build_generator("cascade", "tiny"), config)
    trainer.start_segment(1)
    trainer.kind = "generator"
    rng = np.random.default_rng(seed)
    masks = np.zeros((2, 64, 64, 1), np.float32)
    masks[:, 8:40, 16:48] = 1
    batch = {
        "images": tf.constant(rng.random((2, 64, 64, 3)).astype(np.float32)),
        "masks": tf.constant(masks),
    }
    return trainer, batch


def test_zero_adversarial_weight_leaves_the_discriminator_out_of_generator_steps():
    # L1-only runs (the shipped-checkpoint runs): every step is a generator step (no
    # discriminator steps, whatever discriminator_batches says), a generator step does not call
    # the discriminator, so its spectral-norm state stays bit-identical and no term is logged.
    trainer, batch = _tiny_generator_step_setup({"loss_weights": {"adversarial": 0.0}}, seed=0)
    assert [trainer.step_kind(i) for i in range(30)] == ["generator"] * 30
    discriminator = trainer.discriminators["stage_1"]
    discriminator(np.zeros((1, 64, 64, 3), np.float32))  # built, as a checkpoint restore would
    before = [np.array(v) for v in discriminator.weights]
    generator_before = [np.array(v) for v in trainer.generator.trainable_weights]
    outputs = trainer.train_step(batch)
    assert "adversarial" not in outputs and "reconstruction" in outputs
    for old, new in zip(before, discriminator.weights, strict=True):
        np.testing.assert_array_equal(old, np.array(new))
    assert any(
        not np.array_equal(old, np.array(new))
        for old, new in zip(generator_before, trainer.generator.trainable_weights, strict=True)
    )


@pytest.mark.parametrize("name", ["l1", "mse"])
def test_reconstruction_loss_option(name):
    # The logged "reconstruction" of a generator step is the chosen hole-normalised loss of the
    # completed images, from the weights before the update.
    trainer, batch = _tiny_generator_step_setup(
        {"loss_weights": {"adversarial": 0.0}, "reconstruction_loss": name}, seed=1
    )
    completed = trainer.generator(batch, training=True)["inpainted"]
    loss = {"l1": losses.hole_normalised_l1, "mse": losses.hole_normalised_mse}[name]
    expected = float(loss(batch["images"], completed, batch["masks"]))
    outputs = trainer.train_step(batch)
    np.testing.assert_allclose(float(outputs["reconstruction"][0]), expected, rtol=1e-5)


def test_hole_psnr_term_joins_the_generator_loss_only_when_weighted():
    # Off by default (not the paper's): no term is logged. Weighted, it is minus the mean
    # per-image hole PSNR of the completed images and adds to the total with its weight.
    trainer, batch = _tiny_generator_step_setup({"loss_weights": {"adversarial": 0.0}}, seed=2)
    assert "hole_psnr" not in trainer.train_step(batch)
    trainer, batch = _tiny_generator_step_setup(
        {"loss_weights": {"adversarial": 0.0, "feature": 0.0, "hole_psnr": 0.25}}, seed=2
    )
    completed = trainer.generator(batch, training=True)["inpainted"]
    expected = float(losses.hole_psnr_loss(batch["images"], completed, batch["masks"]))
    outputs = trainer.train_step(batch)
    np.testing.assert_allclose(float(outputs["hole_psnr"][0]), expected, rtol=1e-5)
    total = float(outputs["reconstruction"][0]) + 0.25 * expected
    np.testing.assert_allclose(float(outputs["total"][0]), total, rtol=1e-5)


def test_unknown_reconstruction_loss_is_refused():
    with pytest.raises(ValueError, match="reconstruction_loss must be one of l1, mse"):
        CascadeOptions.parse({"reconstruction_loss": "l2"}, "cascade")


def test_augment_option_reaches_both_stages_data():
    def arguments(options, segment):
        return segment_data_arguments("cascade", options, segment)

    assert "augment" not in arguments({}, 1)  # The paper's: the pipeline's flip only.
    assert arguments({}, 2)["masks"] == "rect:0.5-1"
    for segment in (1, 2):
        assert arguments({"augment": "rot90"}, segment)["augment"] == "rot90"
    assert arguments({"augment": "rot90"}, 2)["masks"] == "rect:0.5-1"
    assert arguments({"augment": "rot90,channels"}, 1)["augment"] == "rot90,channels"


def test_bad_augment_option_is_refused_before_training(tmp_path):
    config = TrainConfig(
        model="cascade",
        preset="tiny",
        workdir=str(tmp_path / "run"),
        steps=4,
        vgg_weights="none",
        options={"augment": "rot45"},
    )
    with pytest.raises(ValueError, match="rot45"):
        run_training(config)
    assert not (tmp_path / "run" / "checkpoints").exists()
