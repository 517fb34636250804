"""GLCIC's three-phase schedule: exact phase boundaries, resume inside a phase, and which
networks each phase updates."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_trainer_test, segment_data_arguments

from tfinpaint import losses
from tfinpaint.models import registry
from tfinpaint.training import reporting
from tfinpaint.training.config import TrainConfig
from tfinpaint.training.glcic import GLCICTrainer
from tfinpaint.training.loop import run_training, schedule_bounds


def _config(workdir, **overrides):
    values = dict(
        model="glcic",
        preset="tiny",
        workdir=str(workdir),
        batch_size=2,
        val_batch_size=2,
        steps=7,
        phase_steps=[3, 2],
        log_every=1,
        checkpoint_every=2,
    )
    values.update(overrides)
    return TrainConfig(**values)


class _SimulatedKill(Exception):
    pass


def test_phases_switch_at_the_configured_steps_across_a_resume(tmp_path, monkeypatch):
    original_append = reporting.MetricsLog.append

    def append_then_die(self, record):
        if record["step"] == 5:
            raise _SimulatedKill()
        original_append(self, record)

    monkeypatch.setattr(reporting.MetricsLog, "append", append_then_die)
    with pytest.raises(_SimulatedKill):
        run_training(_config(tmp_path))
    monkeypatch.setattr(reporting.MetricsLog, "append", original_append)
    summary = run_training(_config(tmp_path))  # resumes from the step-4 checkpoint, phase 2
    assert summary["step"] == 7
    records = reporting.read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["phase"]) for r in records] == [
        (1, 1),
        (2, 1),
        (3, 1),
        (4, 2),
        (5, 2),
        (6, 3),
        (7, 3),
    ]
    # Each phase logs only what it trains.
    assert "d_loss" not in records[0] and "mse" in records[0]
    assert "mse" not in records[3] and "d_loss" in records[3]
    assert {"mse", "adversarial", "d_loss", "total"} <= set(records[6])
    config = json.loads((tmp_path / "config.json").read_text())
    assert len(config["generator_overrides"]["mean_pixel"]) == 3  # measured on the data


def test_phase_fractions_and_paper_defaults():
    config = TrainConfig(model="glcic", preset="paper", workdir="unused").resolve(
        registry.get_preset("glcic", "paper")["training"]
    )
    assert schedule_bounds(config, GLCICTrainer) == [
        (0, 90_000),
        (90_000, 100_000),
        (100_000, 500_000),
    ]
    seed = TrainConfig(model="glcic", preset="seed001", workdir="unused", steps=100).resolve(
        registry.get_preset("glcic", "seed001")["training"]
    )
    assert schedule_bounds(seed, GLCICTrainer) == [(0, 20), (20, 70), (70, 100)]
    assert seed.options["mse_region"] == "image" and seed.options["mse_weight"] == 10.0


def _all_weights(model):
    return [w.numpy().copy() for w in model.weights]


def _changed(before, model):
    return [not np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights)]


def _batch():
    rng = np.random.default_rng(0)
    holes = np.zeros((2, 64, 64, 1), np.float32)
    holes[:, 10:30, 20:40] = 1
    return {
        "images": rng.random((2, 64, 64, 3)).astype(np.float32),
        "masks": holes,
        "boxes": np.array([[10, 20, 30, 40]] * 2, np.int32),
    }


def _trainer(phase, preset="tiny", **options):
    keras.utils.set_random_seed(1)
    config = _config("unused", options=options).resolve(
        registry.get_preset("glcic", preset)["training"]
    )
    generator = registry.build_generator("glcic", "tiny")
    trainer = GLCICTrainer.create(generator, config)
    trainer.start_segment(phase)
    return trainer


@pytest.mark.parametrize(
    "phase, generator_trained, generator_statistics, discriminator_changes",
    [(1, True, True, False), (2, False, True, True), (3, True, True, True)],
)
def test_each_phase_updates_only_its_networks(
    phase, generator_trained, generator_statistics, discriminator_changes
):
    # Phase 2 runs the completion network in training mode, as GLCIC-PyTorch does: its
    # BatchNorm moving statistics move while its trainable weights stay put.
    trainer = _trainer(phase)
    generator = trainer.generator
    discriminator = trainer.discriminators["global_local"]
    g_before, d_before = _all_weights(generator), _all_weights(discriminator)
    trainer.run_step(iter(tf.data.Dataset.from_tensors(_batch())))
    g_changed, d_changed = _changed(g_before, generator), _changed(d_before, discriminator)
    trainable = {id(w) for w in generator.trainable_weights}
    g_trained = [c for c, w in zip(g_changed, generator.weights) if id(w) in trainable]
    g_statistics = [c for c, w in zip(g_changed, generator.weights) if id(w) not in trainable]
    assert any(g_trained) == generator_trained
    assert any(g_statistics) == generator_statistics
    assert any(d_changed) == discriminator_changes


def _recording_discriminate(trainer):
    """Replaces the trainer's discriminator call with one recording (boxes, logits)."""
    calls = []
    original = trainer._discriminate

    def discriminate(images, boxes):
        logits = original(images, boxes)
        calls.append((np.asarray(boxes), np.asarray(logits)))
        return logits

    trainer._discriminate = discriminate
    return calls


def _reference_bce(real_logits, fake_logits):
    """-mean(log sigmoid(real)) - mean(log(1 - sigmoid(fake))), in float64."""
    real = 1.0 / (1.0 + np.exp(-real_logits.astype(np.float64)))
    fake = 1.0 / (1.0 + np.exp(-fake_logits.astype(np.float64)))
    return -np.mean(np.log(real)) - np.mean(np.log(1.0 - fake))


@pytest.mark.parametrize("phase", [2, 3])
def test_real_images_are_cropped_at_an_independent_random_box(phase):
    trainer = _trainer(phase)
    calls = _recording_discriminate(trainer)
    batch = _batch()
    trainer.train_step({name: tf.constant(value) for name, value in batch.items()})
    (real_boxes, _), (fake_boxes, _) = calls[:2]  # discriminator_step: real, then fake
    np.testing.assert_array_equal(fake_boxes, batch["boxes"])
    local = trainer.discriminators["global_local"].local_size
    assert real_boxes.shape == (2, 4)
    np.testing.assert_array_equal(real_boxes[:, 2:] - real_boxes[:, :2], local)
    assert real_boxes.min() >= 0 and real_boxes.max() <= 64
    # The box drawer is uniform over every position inside the image, whatever the holes.
    draws = trainer.random_local_boxes(20_000).numpy()
    corners = draws[:, :2]
    assert corners.min() == 0 and corners.max() == 64 - local
    np.testing.assert_allclose(corners.mean(axis=0), (64 - local) / 2, atol=0.3)
    counts = np.bincount(corners[:, 0], minlength=64 - local + 1)
    expected = len(draws) / (64 - local + 1)
    assert np.all(np.abs(counts - expected) < 6 * np.sqrt(expected))
    assert abs(np.corrcoef(corners[:, 0], corners[:, 1])[0, 1]) < 0.05


def test_phase_two_runs_the_completion_network_in_training_mode():
    trainer = _trainer(2)
    calls = []
    original = trainer._discriminate
    trainer._discriminate = lambda images, boxes: (
        calls.append(np.asarray(images)) or original(images, boxes)
    )
    batch = _batch()
    inputs = {"images": batch["images"], "masks": batch["masks"]}
    expected = {
        mode: np.asarray(trainer.generator(inputs, training=mode)["inpainted"])
        for mode in (True, False)
    }
    trainer.train_step({name: tf.constant(value) for name, value in batch.items()})
    fakes = calls[1]
    np.testing.assert_allclose(fakes, expected[True], atol=1e-5)
    assert not np.allclose(fakes, expected[False], atol=1e-3)


@pytest.mark.parametrize("alpha_scale", [True, False])
def test_phase_three_discriminator_loss_alpha_scale(alpha_scale):
    trainer = _trainer(3, d_loss_alpha_scale=alpha_scale, adv_weight=0.25)
    calls = _recording_discriminate(trainer)
    batch = _batch()
    outputs = trainer.train_step({name: tf.constant(value) for name, value in batch.items()})
    (_, real_logits), (_, fake_logits) = calls[:2]
    expected = _reference_bce(real_logits, fake_logits) * (0.25 if alpha_scale else 1.0)
    np.testing.assert_allclose(float(outputs["d_loss"][0]), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "region, normalisation", [("hole", "all_elements"), ("hole", "hole"), ("image", "all_elements")]
)
def test_completion_mse_normalisation_matches_numpy(region, normalisation):
    rng = np.random.default_rng(3)
    y_true = rng.random((2, 8, 8, 3)).astype(np.float32)
    y_pred = rng.random((2, 8, 8, 3)).astype(np.float32)
    hole = np.zeros((2, 8, 8, 1), np.float32)
    hole[0, 1:4, 2:7] = 1
    hole[1, 5:8, 0:3] = 1
    squared = (hole * (y_pred - y_true)).astype(np.float64) ** 2
    if region == "image":
        expected = np.mean((y_pred - y_true).astype(np.float64) ** 2)
    elif normalisation == "all_elements":  # GLCIC-PyTorch: mean over all B*H*W*C elements
        expected = squared.sum() / squared.size
    else:  # divided by the hole elements (B*H*W hole pixels x C channels)
        expected = squared.sum() / (hole.sum() * 3)
    value = losses.glcic_completion_mse(y_true, y_pred, hole, region, normalisation)
    np.testing.assert_allclose(float(value), expected, rtol=1e-6)


def test_phase_one_mse_uses_the_configured_normalisation():
    batch = _batch()
    inputs = {"images": batch["images"], "masks": batch["masks"]}
    hole_fraction = batch["masks"].mean()
    values = {}
    for normalisation in ("all_elements", "hole"):
        trainer = _trainer(1, mse_normalisation=normalisation)
        raw = np.asarray(trainer.generator(inputs, training=True)["raw"], np.float64)
        squared = (batch["masks"] * (raw - batch["images"])) ** 2
        outputs = trainer.train_step({name: tf.constant(value) for name, value in batch.items()})
        values[normalisation] = float(outputs["mse"][0])
        denominator = squared.size if normalisation == "all_elements" else batch["masks"].sum() * 3
        np.testing.assert_allclose(values[normalisation], squared.sum() / denominator, rtol=1e-5)
    np.testing.assert_allclose(values["all_elements"], values["hole"] * hole_fraction, rtol=1e-5)


def test_mse_options_are_checked():
    with pytest.raises(ValueError, match="mse_normalisation to 'all_elements'"):
        GLCICTrainer.Options.parse({"mse_region": "image", "mse_normalisation": "hole"}, "glcic")
    with pytest.raises(ValueError, match="mse_normalisation must be"):
        GLCICTrainer.Options.parse({"mse_normalisation": "pixels"}, "glcic")


def test_paper_preset_follows_the_reference():
    options = GLCICTrainer.Options.parse(
        registry.get_preset("glcic", "paper")["training"]["options"], "glcic"
    )
    assert options.mse_normalisation == "all_elements" and options.d_loss_alpha_scale
    assert options.adv_weight == 0.0004


def test_seed001_fills_holes_with_black(tmp_path):
    # The preset fixes the fill: finalize_config must not measure (it would fail on this data).
    config = TrainConfig(
        model="glcic", preset="seed001", workdir=str(tmp_path), data=str(tmp_path / "missing")
    )
    assert GLCICTrainer.finalize_config(config) is config
    generator = registry.build_generator("glcic", "seed001")
    assert generator.mean_pixel == [0.0, 0.0, 0.0]
    batch = _batch()
    network_input = np.asarray(generator.get_layer("input_fill")([batch["images"], batch["masks"]]))
    holes = batch["masks"][..., 0] == 1
    assert np.all(network_input[..., :3][holes] == 0.0)  # black in [0, 1]
    np.testing.assert_array_equal(network_input[..., :3][~holes], batch["images"][~holes])
    np.testing.assert_array_equal(network_input[..., 3:], batch["masks"])


def test_glcic_trainer_protocol():
    # The harness compares trainable weights: phase 2 moves the completion network's BatchNorm
    # moving statistics (training mode, as the reference) but not its trainable weights.
    run_trainer_test(
        "glcic",
        {
            (1, None): {"generator"},
            (2, None): {"discriminator_global_local"},
            (3, None): {"generator", "discriminator_global_local"},
        },
        image_size=64,
        parity=False,  # Both networks normalise with BatchNorm, whose statistics are per replica.
    )


def test_the_same_command_with_generator_config_resumes(tmp_path):
    # The run measures the training data's mean pixel and saves it among the generator
    # overrides; giving the same --generator_config again must resume, not refuse.
    def config(steps, base_filters):
        return _config(
            tmp_path,
            steps=steps,
            phase_steps=[1, 1],
            checkpoint_every=1,
            generator_overrides={"base_filters": base_filters},
        )

    run_training(config(3, 8))
    saved = json.loads((tmp_path / "config.json").read_text())["generator_overrides"]
    assert saved["base_filters"] == 8 and len(saved["mean_pixel"]) == 3
    summary = run_training(config(4, 8))
    assert summary["step"] == 4
    resaved = json.loads((tmp_path / "config.json").read_text())["generator_overrides"]
    assert resaved == saved
    with pytest.raises(ValueError, match="generator_overrides=.*use a new --workdir"):
        run_training(config(5, 4))


def test_augment_option_reaches_every_phase_data(tmp_path):
    def arguments(options, phase):
        return segment_data_arguments("glcic", options, phase)

    assert "augment" not in arguments({}, 1)  # The paper's: the pipeline's flip only.
    for phase in (1, 2, 3):
        assert arguments({"augment": "channels"}, phase)["augment"] == "channels"
    with pytest.raises(ValueError, match="rot45"):
        run_training(_config(tmp_path / "run", options={"augment": "rot45"}))
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_adam_option_takes_adam_rates_unless_rates_are_given():
    # The paper preset's rates are Adadelta's 1.0; with the adam option the same 1.0 blew the
    # discriminator's weights up within 100 steps of a fine-tune that set only --learning_rate.
    defaults = registry.get_preset("glcic", "paper")["training"]

    def rates(**kwargs):
        config = TrainConfig(model="glcic", preset="paper", workdir="unused", **kwargs)
        config = config.resolve(defaults)
        return config.learning_rate, config.d_learning_rate

    assert rates() == (1.0, 1.0)
    assert rates(options={"optimizer": "adam"}) == (2e-4, 2e-4)
    assert rates(options={"optimizer": "adam"}, learning_rate=5e-5) == (5e-5, 2e-4)
    assert rates(options={"optimizer": "adam"}, d_learning_rate=1e-5) == (2e-4, 1e-5)
    assert rates(options={"optimizer": "adadelta"}, learning_rate=0.5) == (0.5, 1.0)
