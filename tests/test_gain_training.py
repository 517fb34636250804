"""GAIN training (SPEC.md section 5): the trainer protocol with MirroredStrategy parity (the
critics' gradient penalty nests a tape inside the update's), the penalty and its interpolation
weights, the paper preset, and a command-line run that resumes."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_trainer_test, segment_data_arguments

from tfinpaint.data import pipeline
from tfinpaint.data.gradients import sobel_gradients
from tfinpaint.layers.gradient import dilate_hole_mask
from tfinpaint.models import registry
from tfinpaint.training import reporting
from tfinpaint.training.config import TrainConfig
from tfinpaint.training.gain import GAINTrainer, gradient_penalty, interpolation_weights
from tfinpaint.training.loop import run_training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(REPO, "tools", "train.py")


def test_trainer_steps_change_the_expected_networks_and_match_on_two_replicas():
    # A generator step calls both critics with training=True, and Keras' SpectralNormalization
    # then writes W / sigma into their kernels: they change (normalised, not trained). The
    # harness also runs a generator and a critic step (with the gradient penalty) on two
    # logical CPUs under MirroredStrategy and compares the weights with one device's.
    run_trainer_test(
        "gain",
        {
            (1, "generator"): {"generator", "discriminator_image", "discriminator_gradient"},
            (1, "discriminator"): {"discriminator_image", "discriminator_gradient"},
        },
    )


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = sum(w * x) has gradient w at every x_hat: penalty (||w|| - 1)^2 per sample.
    rng = np.random.default_rng(0)
    weights = tf.constant(rng.normal(size=(1, 4, 4, 2)), tf.float32)
    real = tf.constant(rng.random((3, 4, 4, 2)), tf.float32)
    fake = tf.constant(rng.random((3, 4, 4, 2)), tf.float32)
    hole_masks = tf.zeros((3, 4, 4, 1))
    seen = []

    def discriminate(samples, masks):
        seen.append((samples.shape, masks.shape))
        return tf.reduce_sum(samples[..., :2] * weights, axis=[1, 2, 3])

    real_logits, fake_logits, penalty = gradient_penalty(
        discriminate, real, fake, hole_masks, tf.fill([3, 1, 1, 1], 0.3)
    )
    assert seen == [((9, 4, 4, 2), (9, 4, 4, 1))]  # one call on real, fake, x_hat
    np.testing.assert_allclose(real_logits, discriminate(real, hole_masks), rtol=1e-6)
    np.testing.assert_allclose(fake_logits, discriminate(fake, hole_masks), rtol=1e-6)
    expected = (np.linalg.norm(weights.numpy()) - 1.0) ** 2
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)


def test_interpolation_weights_follow_the_sample_across_replicas():
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "conftest.py splits the CPU into two logical devices"
    mirrored = tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
    single = interpolation_weights(4, 7, 1).numpy()
    per_replica = mirrored.run(tf.function(lambda: interpolation_weights(2, 7, 1)))
    replicated = np.concatenate(
        [t.numpy() for t in mirrored.experimental_local_results(per_replica)]
    )
    np.testing.assert_array_equal(replicated, single)
    assert single.shape == (4, 1, 1, 1) and np.all((single >= 0) & (single < 1))
    assert len(np.unique(single)) == 4
    assert not np.array_equal(interpolation_weights(4, 8, 1).numpy(), single)  # new each step
    assert not np.array_equal(interpolation_weights(4, 7, 0).numpy(), single)  # per critic


def test_completed_gradients_take_the_prediction_in_the_stencil_hole():
    rng = np.random.default_rng(1)
    predicted, target = rng.random((2, 1, 8, 8, 2)).astype("float32")
    hole_masks = np.zeros((1, 8, 8, 1), "float32")
    hole_masks[:, 3:5, 2:6] = 1.0
    completed = GAINTrainer.completed_gradients(predicted, target, hole_masks).numpy()
    dilated = np.broadcast_to(
        keras.ops.convert_to_numpy(dilate_hole_mask(hole_masks)) > 0, target.shape
    )
    assert dilated.sum() == 2 * 4 * 6
    np.testing.assert_array_equal(completed, np.where(dilated, predicted, target))


def test_paper_preset_optimizers_and_step_cycle():
    config = TrainConfig(model="gain", preset="paper", workdir="unused").resolve(
        registry.get_preset("gain", "paper")["training"]
    )
    assert (config.batch_size, config.image_size) == (8, 256)
    assert GAINTrainer.with_gradients
    trainer = GAINTrainer(registry.build_generator("gain", "tiny"), config)
    names = (
        "generator_optimizer",
        "discriminator_optimizer_image",
        "discriminator_optimizer_gradient",
    )
    assert sorted(trainer.optimizers) == sorted(names)
    for name in names:
        adam = trainer.optimizers[name]
        assert float(adam.learning_rate) == pytest.approx(1e-4)
        assert (adam.beta_1, adam.beta_2) == (0.5, 0.999)
    assert trainer.loss_weights == {"l1_image": 1.0, "l1_gradient": 1.0, "adversarial": 0.01}
    assert trainer.options.gradient_penalty_weight == 10.0
    assert [trainer.step_kind(i) for i in range(4)] == ["generator", "discriminator"] * 2
    config.options = {"discriminator_steps": 2}
    trainer = GAINTrainer(registry.build_generator("gain", "tiny"), config)
    assert [trainer.step_kind(i) for i in range(6)] == [
        "generator",
        "discriminator",
        "discriminator",
    ] * 2
    for options, name in (
        ({"discriminator_steps": 0}, "discriminator_steps"),
        ({"gradient_penalty_weight": -1.0}, "gradient_penalty_weight"),
        ({"beta_1": 1.0}, "beta_1"),
    ):
        with pytest.raises(ValueError, match=f"The gain option {name} takes"):
            GAINTrainer.Options.parse(options, "gain")


def test_zero_adversarial_weight_trains_the_generator_alone():
    # A reconstruction-only run: every step is a generator step, the critics are not called
    # (their spectral-norm state stays bit-identical), and only the L1 terms are logged; the
    # logged total is their sum, from the weights before the update.
    config = TrainConfig(
        model="gain",
        preset="tiny",
        workdir="unused",
        image_size=32,
        batch_size=2,
        vgg_weights="none",
        options={"loss_weights": {"adversarial": 0.0}},
    ).resolve(registry.get_preset("gain", "tiny")["training"])
    trainer = GAINTrainer.create(registry.build_generator("gain", "tiny"), config)
    assert [trainer.step_kind(i) for i in range(4)] == ["generator"] * 4
    trainer.start_segment(1)
    trainer.kind = "generator"
    rng = np.random.default_rng(0)
    images = rng.random((2, 32, 32, 3)).astype(np.float32)
    masks = np.zeros((2, 32, 32, 1), np.float32)
    masks[:, 8:24, 4:20] = 1
    batch = {
        "images": tf.constant(images),
        "masks": tf.constant(masks),
        "gradients": tf.constant(rng.normal(size=(2, 32, 32, 2)).astype(np.float32)),
    }
    critics = [trainer.discriminators[name] for name in ("image", "gradient")]
    for critic in critics:  # built, as a checkpoint restore would
        critic(np.zeros((1, 32, 32, critic.input_channels), np.float32))
    before = [[np.array(v) for v in critic.weights] for critic in critics]
    outputs = trainer.generator({"images": batch["images"], "masks": batch["masks"]}, training=True)
    expected = float(
        tf.reduce_mean(tf.abs(outputs["raw"] - images))
        + tf.reduce_mean(tf.abs(outputs["gradients"] - batch["gradients"]))
    )
    results = trainer.train_step(batch)
    assert sorted(results) == ["l1_gradient", "l1_image", "total"]
    np.testing.assert_allclose(float(results["total"][0]), expected, rtol=1e-5)
    for critic, old in zip(critics, before, strict=True):
        for value, new in zip(old, critic.weights, strict=True):
            np.testing.assert_array_equal(value, np.array(new))


def test_hole_weight_weighs_the_hole_and_the_gradient_hole():
    # h x mean(m |d|) + mean((1 - m) |d|) over every element, written out in numpy: the image
    # term with the hole, the gradient term with the hole dilated by 1 (a 3 x 3 max).
    rng = np.random.default_rng(1)
    images, raw = rng.random((2, 2, 16, 16, 3)).astype(np.float32)
    gradients, predicted = rng.normal(size=(2, 2, 16, 16, 2)).astype(np.float32)
    hole = np.zeros((2, 16, 16, 1), np.float32)
    hole[0, 4:9, 5:11] = 1
    hole[1, 10:13, 2:6] = 1
    padded = np.pad(hole, ((0, 0), (1, 1), (1, 1), (0, 0)))
    dilated = np.max(
        [padded[:, y : y + 16, x : x + 16] for y in range(3) for x in range(3)], axis=0
    )

    def expected(target, prediction, mask, weight):
        difference = np.abs(prediction - target)
        return weight * np.mean(mask * difference) + np.mean((1 - mask) * difference)

    outputs = {"raw": tf.constant(raw), "gradients": tf.constant(predicted)}
    for weight in (1.0, 5.0):
        config = TrainConfig(
            model="gain",
            preset="tiny",
            workdir="unused",
            vgg_weights="none",
            options={"loss_weights": {"adversarial": 0.0}, "hole_weight": weight},
        ).resolve(registry.get_preset("gain", "tiny")["training"])
        trainer = GAINTrainer.create(registry.build_generator("gain", "tiny"), config)
        terms = trainer.generator_terms(
            tf.constant(images), tf.constant(gradients), tf.constant(hole), outputs
        )
        image_term = expected(images, raw, hole, weight)
        gradient_term = expected(gradients, predicted, dilated, weight)
        np.testing.assert_allclose(float(terms["l1_image"]), image_term, rtol=1e-5)
        np.testing.assert_allclose(float(terms["l1_gradient"]), gradient_term, rtol=1e-5)
        np.testing.assert_allclose(float(terms["total"]), image_term + gradient_term, rtol=1e-5)
    with pytest.raises(ValueError, match="hole_weight takes a float > 0"):
        GAINTrainer.Options.parse({"hole_weight": 0.0}, "gain")


def test_augment_option_shuffles_channels_before_the_sobel_maps(tmp_path):
    # The family option reaches the data; the Sobel maps the gradient losses compare with are
    # those of the augmented crop, not of the photo as stored.
    assert "augment" not in segment_data_arguments("gain", {}, 1, preset="tiny")
    arguments = segment_data_arguments("gain", {"augment": "channels"}, 1, preset="tiny")
    assert arguments["augment"] == "channels" and arguments["with_gradients"]
    arguments.update(source="samples", image_size=32, batch_size=8, seed=3, shuffle_buffer=1)
    plain = next(iter(pipeline.build_dataset(**{**arguments, "augment": None})))
    shuffled = next(iter(pipeline.build_dataset(**arguments)))
    np.testing.assert_allclose(
        shuffled["gradients"], sobel_gradients(shuffled["images"]), atol=1e-5
    )
    assert not np.allclose(shuffled["images"], plain["images"])
    # The same crops, each with its channels permuted: the per-pixel sorted values agree.
    np.testing.assert_allclose(
        np.sort(shuffled["images"], axis=-1), np.sort(plain["images"], axis=-1), atol=1e-6
    )
    workdir = tmp_path / "run"
    config = TrainConfig(
        model="gain",
        preset="tiny",
        workdir=str(workdir),
        data="samples",
        image_size=32,
        steps=2,
        vgg_weights="none",
        options={"augment": "rot45"},
    )
    with pytest.raises(ValueError, match="rot45"):
        run_training(config)
    assert not (workdir / "checkpoints").exists()


def _train_cli(*args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, TRAIN, *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_cli_tiny_run_trains_and_resumes(tmp_path):
    workdir = tmp_path / "run"
    common = [
        "--model=gain",
        "--preset=tiny",
        "--data=samples",
        f"--workdir={workdir}",
        "--log_every=1",
        "--checkpoint_every=1",
        "--vgg_weights=none",
    ]
    # One generator step, then the resumed run's critic step: one step kind traced per process.
    first = _train_cli(*common, "--steps=1")
    assert first.returncode == 0, first.stderr[-3000:]
    second = _train_cli(*common, "--steps=2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Resuming from step 1" in second.stderr
    records = reporting.read_metrics(workdir / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    assert "l1_gradient" in records[0] and "penalty_image" not in records[0]
    assert "penalty_image" in records[1] and "penalty_gradient" in records[1]
    assert (workdir / "config.json").exists()
    assert all(
        np.isfinite(value) for r in records for value in r.values() if isinstance(value, float)
    )
