"""Training configuration: every setting of a run, its defaults per family and preset, and the
stage/phase schedule.

A run's `config.json` is `TrainConfig.to_dict()` after `resolve()` has filled every default, so
it records every setting that shaped the run. Schedules: families with stages (PConv, the cascade
model) take `stage_steps` / `stage_fractions`; GLCIC takes `phase_steps` / `phase_fractions`.
Absolute steps list the first N-1 segment lengths (the last runs to `steps`); fractions list
all N and sum to 1.
"""

import dataclasses
import json
import math
import os
import typing

from tfinpaint import files, json_files, precision
from tfinpaint.models import registry

# Settings a resumed run may change; anything else must match the run's config.json.
RESUMABLE_OVERRIDES = ("steps", "log_every", "checkpoint_every", "sample_every", "keep_checkpoints")

# Dict settings a run saves resolved: a resume compares only the keys given again.
_MERGED_ON_RESUME = ("options", "generator_overrides")

# Settings whose None means "take the family/preset default".
_FAMILY_DEFAULTED = (
    "image_size",
    "batch_size",
    "steps",
    "masks",
    "learning_rate",
    "d_learning_rate",
    "log_every",
    "checkpoint_every",
    "val_batch_size",
    "resize_short_side",
)


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run (the flags of tools/train.py, one field each).

    Fields left None take the family's default for the chosen preset (`resolve`).
    """

    model: str
    workdir: str
    preset: str = "paper"
    data: str = "samples"
    data_dir: str | None = None
    split: str | None = None
    image_size: int | None = None
    batch_size: int | None = None
    steps: int | None = None
    masks: str | None = None
    irregular_polarity: str = "hole_white"
    resize_short_side: list | None = None
    seed: int = 0
    strategy: str = "auto"
    # "none", "float16" or "bfloat16" (tfinpaint.precision); runs saved before bfloat16 existed
    # stored a bool: True meant float16 (`__post_init__` reads it so).
    mixed_precision: str = "none"
    jit_compile: bool = False
    vgg_weights: str = "imagenet"
    learning_rate: float | None = None
    d_learning_rate: float | None = None
    stage_steps: list | None = None
    stage_fractions: list | None = None
    phase_steps: list | None = None
    phase_fractions: list | None = None
    log_every: int | None = None
    checkpoint_every: int | None = None
    sample_every: int | None = None
    val_batch_size: int | None = None
    keep_checkpoints: int = 3
    generator_overrides: dict = dataclasses.field(default_factory=dict)
    options: dict = dataclasses.field(default_factory=dict)
    # Fine-tuning: a trained generator of the same family and architecture (what
    # `inference.load_generator` takes) whose weights a new run starts from; optimizers start
    # fresh at step 0. A resumed run continues from its own checkpoint instead.
    init_from: str | None = None

    def __post_init__(self):
        if isinstance(self.mixed_precision, bool):
            self.mixed_precision = "float16" if self.mixed_precision else "none"

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown training settings {unknown}: expected names from {sorted(known)}."
            )
        return cls(**values)

    def resolve(self, defaults):
        """A copy with every None default filled from `defaults` (the family's for the preset)."""
        values = self.to_dict()
        for name in _FAMILY_DEFAULTED:
            if values[name] is None and name in defaults:
                values[name] = defaults[name]
        # A preset's default schedule applies only when neither form was given.
        for kind in ("stage", "phase"):
            given = values[f"{kind}_steps"] or values[f"{kind}_fractions"]
            if not given and f"{kind}_fractions" in defaults:
                values[f"{kind}_fractions"] = list(defaults[f"{kind}_fractions"])
        if values["sample_every"] is None:
            values["sample_every"] = values["checkpoint_every"]
        options = dict(defaults.get("options", {}))
        options.update(values["options"])
        values["options"] = options
        return TrainConfig.from_dict(values)

    def validate(self):
        """Checks value ranges, in one sentence per problem, before any work starts."""
        for name in (
            "image_size",
            "batch_size",
            "steps",
            "log_every",
            "checkpoint_every",
            "sample_every",
            "val_batch_size",
            "keep_checkpoints",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"--{name} must be a positive integer, got {value!r}.")
        for name in ("learning_rate", "d_learning_rate"):
            _check_rate(f"--{name}", getattr(self, name))
        for name, value in self.options.items():
            if name.endswith("learning_rate"):
                _check_rate(f"--options {name}", value)
        if self.init_from is not None and not (isinstance(self.init_from, str) and self.init_from):
            raise ValueError(
                f"--init_from takes a path or a checkpoint name, got {self.init_from!r}."
            )
        if os.path.exists(self.workdir) and not os.path.isdir(self.workdir):
            raise ValueError(
                f"--workdir={self.workdir} is an existing file; expected a directory (new, or a "
                "run to resume)."
            )
        if self.strategy not in ("auto", "default", "mirrored", "multiworker"):
            raise ValueError(
                f"--strategy must be one of auto, default, mirrored, multiworker; got "
                f"'{self.strategy}'."
            )
        if self.mixed_precision not in precision.MIXED_PRECISIONS:
            raise ValueError(
                f"--mixed_precision must be {precision.MIXED_PRECISIONS_TEXT} (a bare "
                f"--mixed_precision means float16), got '{self.mixed_precision}'."
            )
        if self.irregular_polarity not in ("hole_white", "hole_black"):
            raise ValueError(
                f"--irregular_polarity must be hole_white or hole_black, got "
                f"'{self.irregular_polarity}'."
            )


def _check_rate(name, value):
    """A learning rate must be a positive finite number (None: the family has no such rate)."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")


def check_options(config, trainer_cls):
    """Refuses `--options` the family's trainer does not take (its `Options` dataclass) or of
    the wrong type, and `loss_weights` names outside the family's `LOSS_WEIGHT_NAMES`."""
    loss_weights = config.options.get("loss_weights")
    if loss_weights is not None and not isinstance(loss_weights, dict):
        raise ValueError(
            f"--options loss_weights must be a JSON object of loss weights, got {loss_weights!r}."
        )
    trainer_cls.Options.parse(config.options, config.model)
    weight_names = trainer_cls.LOSS_WEIGHT_NAMES
    if loss_weights and weight_names is not None:
        unknown = sorted(set(loss_weights) - set(weight_names))
        if unknown:
            raise ValueError(
                registry.unknown_keys_message(
                    "--options loss_weights name(s)", unknown, weight_names
                )
            )


def check_family_settings(config, family, trainer_cls):
    """The `--options` and `--generator_config` checks (run before any work)."""
    check_options(config, trainer_cls)
    registry.check_arguments(
        family.load("generator"), config.generator_overrides, what="--generator_config key(s)"
    )


def save_config(config, path):
    """Writes config.json atomically (a kill never leaves a half-written file)."""
    files.write_json(path, config.to_dict(), indent=2, sort_keys=True)


# The JSON values each TrainConfig field type accepts (an int is a valid float).
_JSON_TYPES = {str: (str,), int: (int,), float: (int, float), bool: (bool,), list: (list,)}
_JSON_TYPES[dict] = (dict,)


def _check_saved_types(values, path):
    """Refuses a saved field whose JSON type its TrainConfig field cannot hold (one sentence)."""
    for field in dataclasses.fields(TrainConfig):
        if field.name not in values:
            continue
        value = values[field.name]
        kinds = typing.get_args(field.type) or (field.type,)
        optional = type(None) in kinds
        kinds = [kind for kind in kinds if kind is not type(None)]
        allowed = tuple(t for kind in kinds for t in _JSON_TYPES.get(kind, (object,)))
        if field.name == "mixed_precision":
            allowed += (bool,)  # Runs saved before bfloat16 stored a bool.
        if value is None and optional:
            continue
        if (
            value is None
            or (isinstance(value, bool) and bool not in allowed)
            or not isinstance(value, allowed)
        ):
            raise ValueError(
                f"{path} sets {field.name} to {json_files.json_type_name(value)} "
                f"({json.dumps(value)[:60]}); expected the config.json of a training run, "
                f"where {field.name} is {' or '.join(kind.__name__ for kind in kinds)}."
            )


def load_config(path):
    """Reads a run's config.json: one sentence naming the file for anything that is not a
    JSON object of TrainConfig's fields with their types."""
    values = json_files.load_json_object(path, "the config.json of a training run")
    _check_saved_types(values, path)
    try:
        return TrainConfig.from_dict(values)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def merge_for_resume(saved, given, explicit_names):
    """The saved config of a run, updated with the explicitly given settings a resume may change.

    Args:
        saved: TrainConfig. The run's config.json.
        given: TrainConfig. The settings of this invocation.
        explicit_names: iterable of str. Names of the settings the user set explicitly.

    Raises:
        ValueError: when an explicit setting contradicts the saved run and cannot change.
    """
    values = saved.to_dict()
    for name in explicit_names:
        new_value = getattr(given, name)
        if name in _MERGED_ON_RESUME:
            # The saved dict is the given one resolved (options filled in with their defaults,
            # GLCIC's measured mean_pixel added): the given keys must agree with it.
            new_value = dict(values.get(name) or {}, **new_value)
        if name in RESUMABLE_OVERRIDES:
            values[name] = new_value
        elif name != "workdir" and new_value != values.get(name):
            raise ValueError(
                f"The workdir {given.workdir} holds a run with {name}={values.get(name)!r}, "
                f"but {name}={new_value!r} was given: use a new --workdir, or drop the flag "
                f"to resume (only {', '.join(RESUMABLE_OVERRIDES)} may change on resume)."
            )
    values["workdir"] = given.workdir
    return TrainConfig.from_dict(values)


def segment_bounds(
    total_steps, num_segments, kind, steps=None, fractions=None, default_fractions=None
):
    """Step ranges [(start, end), ...] of a run's stages or phases.

    Args:
        total_steps: int. The run's length (`--steps`).
        num_segments: int. How many stages/phases the family has.
        kind: str. "stage" or "phase", for the messages (flags are `--{kind}_steps`).
        steps: list of int or None. Lengths of the first num_segments - 1 segments; the last
            runs to `total_steps`.
        fractions: list of float or None. The share of each of the num_segments segments.
        default_fractions: list of float. Used when neither is given.

    Raises:
        ValueError: when both are given, the counts are wrong, or the lengths do not fit.
    """
    if num_segments == 1:
        if steps or fractions:
            raise ValueError(
                f"This model trains in a single {kind}: drop --{kind}_steps and --{kind}_fractions."
            )
        return [(0, total_steps)]
    if steps and fractions:
        raise ValueError(f"Give either --{kind}_steps or --{kind}_fractions, not both.")
    if steps:
        steps = [int(s) for s in steps]
        if len(steps) != num_segments - 1:
            raise ValueError(
                f"--{kind}_steps takes {num_segments - 1} lengths (the last {kind} runs to "
                f"--steps), got {len(steps)}: {steps}."
            )
        if any(s <= 0 for s in steps) or sum(steps) >= total_steps:
            raise ValueError(
                f"--{kind}_steps={','.join(map(str, steps))} must be positive and sum to less "
                f"than --steps={total_steps} so that the last {kind} has steps."
            )
        lengths = steps + [total_steps - sum(steps)]
    else:
        fractions = [float(f) for f in (fractions or default_fractions)]
        if len(fractions) != num_segments:
            raise ValueError(
                f"--{kind}_fractions takes {num_segments} values, got {len(fractions)}: "
                f"{fractions}."
            )
        if any(f <= 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
            raise ValueError(f"--{kind}_fractions must be positive and sum to 1, got {fractions}.")
        boundaries = [round(total_steps * sum(fractions[: i + 1])) for i in range(num_segments)]
        lengths = [b - a for a, b in zip([0] + boundaries[:-1], boundaries)]
        if any(length <= 0 for length in lengths):
            raise ValueError(
                f"--steps={total_steps} is too short for --{kind}_fractions={fractions}: "
                f"every {kind} needs at least one step."
            )
    bounds, start = [], 0
    for length in lengths:
        bounds.append((start, start + length))
        start += length
    return bounds


def schedule_bounds(config, trainer_cls):
    """[(start, end), ...] of the family's stages/phases for this run's settings."""
    kind = trainer_cls.segment_kind or "stage"
    steps = getattr(config, f"{kind}_steps")
    fractions = getattr(config, f"{kind}_fractions")
    other = "phase" if kind == "stage" else "stage"
    if getattr(config, f"{other}_steps") or getattr(config, f"{other}_fractions"):
        raise ValueError(
            f"Model '{config.model}' trains in {kind}s, not {other}s: use --{kind}_steps or "
            f"--{kind}_fractions."
        )
    return segment_bounds(
        config.steps,
        trainer_cls.num_segments,
        kind,
        steps=steps,
        fractions=fractions,
        default_fractions=trainer_cls.default_segment_fractions,
    )
