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


# --- --schedule: one flag for the stage/phase lengths, the four older flags its aliases ---------


def _trainer(model):
    from tfinpaint.models import registry

    return registry.get_family(model).load("trainer")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("completion:90000,discriminator:10000,joint", ("steps", [90000, 10000])),
        ("completion:90000,discriminator:10000", ("steps", [90000, 10000])),
        ("90000,10000", ("steps", [90000, 10000])),
        ("0.18,0.02,0.8", ("fractions", [0.18, 0.02, 0.8])),
        ("completion:0.18, discriminator:0.02, joint:0.8", ("fractions", [0.18, 0.02, 0.8])),
    ],
)
def test_parse_schedule_reads_steps_and_fractions(text, expected):
    assert config_lib.parse_schedule(text, _trainer("glcic").schedule, "phase") == expected


@pytest.mark.parametrize(
    "model, schedule, aliases",
    [
        ("glcic", "completion:30,discriminator:20,joint", dict(phase_steps=[30, 20])),
        ("glcic", "0.2,0.5,0.3", dict(phase_fractions=[0.2, 0.5, 0.3])),
        ("pconv", "train:70", dict(stage_steps=[70])),
        ("cascade", "first:0.5,additional:0.5", dict(stage_fractions=[0.5, 0.5])),
        ("deepgin", "warmup:20,main", dict(stage_steps=[20])),
    ],
)
def test_schedule_and_its_aliases_give_the_same_bounds(model, schedule, aliases):
    trainer_cls = _trainer(model)
    new = config_lib.TrainConfig(model=model, workdir="w", steps=100, schedule=schedule)
    old = config_lib.TrainConfig(model=model, workdir="w", steps=100, **aliases)
    bounds = config_lib.schedule_bounds(new, trainer_cls)
    assert bounds == config_lib.schedule_bounds(old, trainer_cls)
    # Not the preset's default: the flag changed the bounds.
    default = config_lib.TrainConfig(model=model, workdir="w", steps=100)
    assert bounds != config_lib.schedule_bounds(default, trainer_cls)


def test_paper_schedules_as_declared_segments():
    # GLCIC's paper T_C = 90k, T_D = 10k of 500k; DeepGIN's 10 warm-up epochs of 110.
    glcic = config_lib.TrainConfig(model="glcic", workdir="w", steps=500_000)
    assert config_lib.schedule_bounds(glcic, _trainer("glcic")) == [
        (0, 90_000),
        (90_000, 100_000),
        (100_000, 500_000),
    ]
    deepgin = config_lib.TrainConfig(model="deepgin", workdir="w", steps=110_000)
    assert config_lib.schedule_bounds(deepgin, _trainer("deepgin")) == [
        (0, 10_010),
        (10_010, 110_000),
    ]
    names = [segment.name for segment in _trainer("glcic").schedule]
    assert names == ["completion", "discriminator", "joint"]


@pytest.mark.parametrize(
    "model, kwargs, message",
    [
        ("glcic", dict(schedule="completion:2,joint:1,discriminator"), "names phase 2 'joint'"),
        ("glcic", dict(schedule="2,0.5,0.3"), "mixes step counts and fractions"),
        ("glcic", dict(schedule="2,3,4"), "the last runs to --steps"),
        ("glcic", dict(schedule="2,,joint"), "empty entry"),
        ("glcic", dict(schedule="0.5,0.5,0.5"), "--schedule must be positive and sum to 1"),
        ("glcic", dict(schedule="0.5,0.5"), "--schedule takes 3 values"),
        ("glcic", dict(schedule="5"), "--schedule takes 2 lengths"),
        ("glcic", dict(schedule="5,6,joint,extra"), "has 4 entries"),
        ("glcic", dict(schedule="completion:x,discriminator:y,joint:z"), "no number"),
        ("glcic", dict(schedule="3,3", phase_steps=[3, 3]), "either --schedule or --phase_steps"),
        ("glcic", dict(schedule="3,3", stage_steps=[3]), "trains in phases, not stages"),
        ("gain", dict(schedule="0.5,0.5"), "single stage: drop --schedule"),
        ("pconv", dict(schedule="train:10"), "--schedule=10 must be positive and sum to less"),
    ],
)
def test_bad_schedule_is_refused_in_one_sentence(model, kwargs, message):
    config = config_lib.TrainConfig(model=model, workdir="w", steps=10, **kwargs)
    with pytest.raises(ValueError, match=message) as raised:
        config_lib.schedule_bounds(config, _trainer(model))
    text = str(raised.value)
    assert text.endswith(".") and "\n" not in text


def test_resume_compares_the_schedule_whatever_flag_gave_it(tmp_path):
    # A run saved by the old flags resumes with the same lengths given by --schedule.
    saved = config_lib.TrainConfig(model="pconv", workdir="w", steps=10, stage_steps=[4])
    same = config_lib.TrainConfig(model="pconv", workdir="w", steps=12, schedule="train:4")
    merged = config_lib.merge_for_resume(saved, same, ["schedule", "steps"])
    assert merged.stage_steps == [4] and merged.schedule is None and merged.steps == 12
    other = config_lib.TrainConfig(model="pconv", workdir="w", steps=10, schedule="train:5")
    with pytest.raises(ValueError, match="holds a run with the schedule steps 4"):
        config_lib.merge_for_resume(saved, other, ["schedule"])
    # And a saved --schedule run resumes with the alias flag.
    path = tmp_path / "config.json"
    config_lib.save_config(same, path)
    loaded = config_lib.load_config(path)
    alias = config_lib.TrainConfig(model="pconv", workdir="w", stage_steps=[4])
    assert config_lib.merge_for_resume(loaded, alias, ["stage_steps"]).schedule == "train:4"


def test_options_are_parsed_once_and_carried_on_the_config():
    trainer_cls = _trainer("cascade")
    config = config_lib.TrainConfig(model="cascade", workdir="w", options={"d_loss_scale": 1.0})
    first = trainer_cls.family_options(config)
    assert first is trainer_cls.family_options(config) and first.d_loss_scale == 1.0
    assert config.replace(steps=3).typed_options(trainer_cls.Options) is first
    config.options = {"d_loss_scale": 2.0}  # A changed dict is parsed anew.
    assert trainer_cls.family_options(config).d_loss_scale == 2.0
