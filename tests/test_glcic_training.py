"""GLCIC's three-phase schedule: exact phase boundaries, resume inside a phase, and which
networks each phase updates."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_trainer_test

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


@pytest.mark.parametrize(
    "phase, generator_changes, discriminator_changes",
    [(1, True, False), (2, False, True), (3, True, True)],
)
def test_each_phase_updates_only_its_networks(phase, generator_changes, discriminator_changes):
    keras.utils.set_random_seed(1)
    config = _config("unused").resolve(registry.get_preset("glcic", "tiny")["training"])
    generator = registry.build_generator("glcic", "tiny")
    trainer = GLCICTrainer.create(generator, config)
    trainer.start_segment(phase)
    rng = np.random.default_rng(0)
    holes = np.zeros((2, 64, 64, 1), np.float32)
    holes[:, 10:30, 20:40] = 1
    batch = {
        "images": rng.random((2, 64, 64, 3)).astype(np.float32),
        "masks": holes,
        "boxes": np.array([[10, 20, 30, 40]] * 2, np.int32),
    }
    discriminator = trainer.discriminators["global_local"]
    g_before, d_before = _all_weights(generator), _all_weights(discriminator)
    trainer.run_step(iter(tf.data.Dataset.from_tensors(batch)))
    g_changed, d_changed = _changed(g_before, generator), _changed(d_before, discriminator)
    assert any(g_changed) == generator_changes
    assert any(d_changed) == discriminator_changes
    if not generator_changes:  # BatchNorm statistics included
        assert not any(g_changed)


def test_glcic_trainer_protocol():
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
