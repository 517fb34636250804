"""A family registered from tests/ trains, checkpoints, resumes, loads and exports through the
generic paths (the loop, inference, export and the benchmark know nothing of it)."""

import os

import numpy as np
import pytest
import toy_family
from harness import run_generator_test, run_trainer_test

from tfinpaint import benchmark, export, inference
from tfinpaint.models import build_discriminators, build_generator, list_models, size_multiple
from tfinpaint.models.saving import load_saved_generator
from tfinpaint.training import reporting
from tfinpaint.training.config import TrainConfig
from tfinpaint.training.loop import run_training


@pytest.fixture(scope="module", autouse=True)
def toy():
    toy_family.register()
    yield
    toy_family.unregister()


def _batch(size=32):
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, size, size, 3)).astype("float32")
    hole_masks = np.zeros((2, size, size, 1), "float32")
    hole_masks[:, 8:20, 4:24] = 1.0
    return {"images": images, "masks": hole_masks}


def test_registered_through_the_public_api():
    assert "toy" in list_models()
    assert size_multiple("toy", "tiny") == 4
    assert set(build_discriminators("toy", "tiny")) == {"critic"}
    with pytest.raises(ValueError, match="divisible by 4"):
        build_generator("toy", "tiny")(_batch(30))


def test_generator_contract():
    run_generator_test(build_generator("toy", "tiny"), _batch())


def test_trainer_protocol():
    # A generator step runs the spectral-normalised critic with training=True, which writes
    # W / sigma into its kernel.
    run_trainer_test(
        "toy",
        {
            (1, "generator"): {"generator", "discriminator_critic"},
            (1, "critic"): {"discriminator_critic"},
            (2, "generator"): {"generator", "discriminator_critic"},
            (2, "critic"): {"discriminator_critic"},
        },
    )


def test_trains_resumes_loads_and_exports(tmp_path):
    workdir = str(tmp_path / "run")
    config = dict(model="toy", preset="tiny", workdir=workdir, vgg_weights="none")
    run_training(TrainConfig(**config, steps=4))
    summary = run_training(TrainConfig(**config, steps=6))
    assert summary["step"] == 6
    records = reporting.read_metrics(os.path.join(workdir, "metrics.jsonl"))
    # Fractions 0.5, 0.5: stages (0, 2), (2, 4), then (0, 3), (3, 6) once --steps grows to 6.
    # A restart from step 0 would log (2, 1), (3, 1), ...: the run resumed at step 4 in stage 2.
    assert [(r["step"], r["stage"]) for r in records] == [(2, 1), (4, 2), (6, 2)]
    assert "d_loss" in records[-1] and "l1" in records[-1]

    loaded = inference.load_generator(workdir)
    saved, _ = load_saved_generator(os.path.join(workdir, "generator.json"))
    batch = _batch()
    np.testing.assert_array_equal(np.asarray(loaded(batch)["raw"]), np.asarray(saved(batch)["raw"]))
    image = (batch["images"][0] * 255).astype(np.uint8)[:30, :27]
    result = inference.inpaint(loaded, image, batch["masks"][0, :30, :27, 0])
    known = batch["masks"][0, :30, :27, 0] == 0
    np.testing.assert_array_equal(result[known], image[known])

    export.export_saved_model(loaded, str(tmp_path / "serving"), version=1)
    tflite = export.export_tflite(loaded, str(tmp_path / "toy.tflite"), 32)
    assert tflite["probe_max_abs_error"] < 1e-4


def test_benchmark_times_every_stage_and_step_kind():
    records = benchmark.benchmark_train_step("toy", "tiny", steps=1, warmup=0, count=False)
    assert [(r["segment"], r["step_kind"]) for r in records] == [
        (1, "generator"),
        (1, "critic"),
        (2, "generator"),
        (2, "critic"),
    ]
