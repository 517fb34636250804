"""Run configuration, stage/phase schedules, resume merging and run reporting."""

import json

import numpy as np
import pytest

from tfinpaint.training import config as config_lib
from tfinpaint.training import reporting


def test_segment_bounds_from_absolute_steps():
    assert config_lib.segment_bounds(100, 3, "phase", steps=[20, 30]) == [
        (0, 20),
        (20, 50),
        (50, 100),
    ]


def test_segment_bounds_from_fractions_and_defaults():
    assert config_lib.segment_bounds(10, 3, "phase", fractions=[0.2, 0.5, 0.3]) == [
        (0, 2),
        (2, 7),
        (7, 10),
    ]
    assert config_lib.segment_bounds(8, 2, "stage", default_fractions=(0.75, 0.25)) == [
        (0, 6),
        (6, 8),
    ]
    assert config_lib.segment_bounds(5, 1, "stage") == [(0, 5)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps=[5], fractions=[0.5, 0.5]), "either --stage_steps or --stage_fractions"),
        (dict(steps=[5, 2]), "takes 1 lengths"),
        (dict(steps=[10]), "sum to less than --steps=10"),
        (dict(fractions=[0.5, 0.4]), "sum to 1"),
        (dict(fractions=[0.5]), "takes 2 values"),
    ],
)
def test_segment_bounds_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        config_lib.segment_bounds(10, 2, "stage", default_fractions=(0.5, 0.5), **kwargs)


def test_fractions_too_fine_for_steps():
    with pytest.raises(ValueError, match="too short"):
        config_lib.segment_bounds(2, 3, "phase", fractions=[0.2, 0.5, 0.3])


def test_resolve_fills_family_defaults_and_keeps_explicit_values():
    config = config_lib.TrainConfig(model="pconv", workdir="w", steps=7, options={"a": 1})
    resolved = config.resolve(
        {"image_size": 64, "steps": 300, "checkpoint_every": 50, "options": {"a": 0, "b": 2}}
    )
    assert resolved.steps == 7 and resolved.image_size == 64
    assert resolved.sample_every == 50
    assert resolved.options == {"a": 1, "b": 2}


def test_validate_names_the_bad_setting():
    config = config_lib.TrainConfig(model="pconv", workdir="w").resolve(
        {
            "image_size": 0,
            "batch_size": 2,
            "steps": 3,
            "log_every": 1,
            "checkpoint_every": 1,
            "val_batch_size": 2,
        }
    )
    with pytest.raises(ValueError, match="--image_size must be a positive integer, got 0"):
        config.validate()


def test_mixed_precision_setting_reads_old_booleans_and_names_bad_values():
    # Runs saved before bfloat16 existed stored a bool: True was mixed_float16.
    old = config_lib.TrainConfig.from_dict(
        {"model": "pconv", "workdir": "w", "mixed_precision": True}
    )
    assert old.mixed_precision == "float16"
    assert config_lib.TrainConfig(model="pconv", workdir="w").mixed_precision == "none"
    config = config_lib.TrainConfig(model="pconv", workdir="w", mixed_precision="fp8").resolve(
        {
            "image_size": 64,
            "batch_size": 2,
            "steps": 3,
            "log_every": 1,
            "checkpoint_every": 1,
            "val_batch_size": 2,
        }
    )
    with pytest.raises(ValueError, match="--mixed_precision must be none, float16 or bfloat16"):
        config.validate()


def test_merge_for_resume(tmp_path):
    saved = config_lib.TrainConfig(model="pconv", workdir="old", preset="tiny", steps=10)
    path = str(tmp_path / "config.json")
    config_lib.save_config(saved, path)
    saved = config_lib.load_config(path)
    given = config_lib.TrainConfig(model="pconv", workdir="new", preset="tiny", steps=20)
    merged = config_lib.merge_for_resume(saved, given, ["model", "steps", "workdir"])
    assert merged.steps == 20 and merged.workdir == "new"
    other = config_lib.TrainConfig(model="pconv", workdir="new", preset="paper")
    with pytest.raises(ValueError, match="preset='tiny'.*preset='paper'"):
        config_lib.merge_for_resume(saved, other, ["preset"])


def test_unknown_setting_in_saved_config():
    with pytest.raises(ValueError, match="Unknown training settings"):
        config_lib.TrainConfig.from_dict({"model": "pconv", "workdir": "w", "colour": 1})


def test_metrics_log_drops_records_past_the_resume_step(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    log = reporting.MetricsLog(path)
    for step in (2, 4, 6):
        log.append({"step": step, "loss": np.float32(step / 10), "psnr": float("inf")})
    reporting.MetricsLog(path, resume_step=4)
    records = reporting.read_metrics(path)
    assert [r["step"] for r in records] == [2, 4]
    assert records[0]["loss"] == pytest.approx(0.2)
    assert records[0]["psnr"] is None  # Strict JSON: an infinite PSNR is written as null.
    json.dumps(records)


def test_sample_grid_layout():
    images = np.full((2, 4, 5, 3), 0.25, np.float32)
    holes = np.zeros((2, 4, 5, 1), np.float32)
    holes[:, 1:3, 1:3] = 1
    raw = np.full_like(images, 0.75)
    grid = reporting.sample_grid(images, holes, raw, raw)
    assert grid.shape == (8, 20, 3) and grid.dtype == np.uint8
    assert grid[1, 1, 0] == 255  # holes drawn white in the input column
    assert grid[0, 0, 0] == 64  # known pixel of the input column
    assert grid[0, 5, 0] == 191  # raw column
