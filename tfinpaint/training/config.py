"""Training configuration: every setting of a run, its defaults per family and preset, the
stage/phase schedule, and every check a run's settings pass before any work.

A run's `config.json` is `TrainConfig.to_dict()` after `resolve()` has filled every default, so
it records every setting that shaped the run. `prepare_config` resolves, checks and returns it
with the family's typed options parsed once (`TrainConfig.typed_options`).

Schedules. A family declares its stages/phases as data: a tuple of `Segment`s (name, cycle of
step kinds, default share of `--steps`). A run gives their lengths with one flag:

    --schedule=SEGMENT[,SEGMENT...]     one SEGMENT per stage/phase, in order:
                                        NAME:LENGTH, LENGTH, or (the last) NAME alone

LENGTH is either a step count (an integer) or a fraction of `--steps` (a number with a decimal
point), never a mix. With step counts every segment but the last has one and the last runs to
`--steps` (name it alone, or leave it out); with fractions every segment has one and they sum
to 1. NAME, where given, must be the family's name for that segment (`Segment.name`). Examples,
for GLCIC (phases completion, discriminator, joint):

    --schedule=completion:90000,discriminator:10000,joint   (the same as --schedule=90000,10000)
    --schedule=completion:0.18,discriminator:0.02,joint:0.8 (the same as --schedule=0.18,0.02,0.8)

The older flags are aliases of the same lengths: `--stage_steps`/`--phase_steps` list the step
counts of all segments but the last, `--stage_fractions`/`--phase_fractions` all the fractions
(the family's `segment_kind` says which pair applies). Saved runs keep whichever form they were
given in, so a config.json written with the old flags still loads and resumes.
"""

import copy
import dataclasses
import inspect
import json
import math
import os
import re
import typing

from tfinpaint import files, json_files, losses, precision, runs
from tfinpaint.data import masks, pipeline, sources
from tfinpaint.models import registry

# Settings a resumed run may change; anything else must match the run's config.json.
RESUMABLE_OVERRIDES = ("steps", "log_every", "checkpoint_every", "sample_every", "keep_checkpoints")

# Dict settings a run saves resolved: a resume compares only the keys given again.
_MERGED_ON_RESUME = ("options", "generator_overrides")

# The settings that give the schedule's lengths: `schedule` and its four aliases.
SCHEDULE_FIELDS = ("schedule", "stage_steps", "stage_fractions", "phase_steps", "phase_fractions")


@dataclasses.dataclass(frozen=True)
class Segment:
    """One stage or phase of a family's schedule (data a trainer declares).

    Args:
        name: str. What `--schedule` calls it (e.g. "warmup", "joint").
        cycle: tuple of (step kind, count) pairs. The steps the segment repeats, in order:
            `(("generator", 10), ("discriminator", 5))` is 10 generator steps then 5
            discriminator steps; a count may be the name of an int option of the family
            (read per run). One `(None, 1)` pair: every step is of the one kind.
        fraction: float. The segment's default share of `--steps`.
    """

    name: str
    cycle: tuple
    fraction: float


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
    # The stage/phase lengths (`--schedule`, see the module docstring); the four lists below are
    # its older aliases, kept so that runs saved with them load.
    schedule: str | None = None
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

    def typed_options(self, options_cls):
        """`options` as the family's typed `options_cls` (a `TrainerOptions` subclass).

        Parsed once and carried on this config (`prepare_config` does it first, so a bad
        option fails before any work); parsed again only if `options` changes."""
        cached = self.__dict__.get("_typed_options")
        if cached is None or cached[0] is not options_cls or cached[1] != self.options:
            parsed = options_cls.parse(self.options, self.model)
            cached = (options_cls, copy.deepcopy(self.options), parsed)
            self.__dict__["_typed_options"] = cached
        return cached[2]

    def replace(self, **changes):
        """A copy with `changes`; the parsed options travel along when `options` is unchanged."""
        new = TrainConfig.from_dict(dict(self.to_dict(), **changes))
        if "options" not in changes and "_typed_options" in self.__dict__:
            new.__dict__["_typed_options"] = self.__dict__["_typed_options"]
        return new

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
        options = dict(defaults.get("options", {}))
        options.update(values["options"])
        # A preset's rates suit its own optimizer (GLCIC's 1.0 is Adadelta's); a run that
        # switches optimizer with --options takes that optimizer's rates from
        # `optimizer_rates`, unless it gives them.
        rates = defaults.get("optimizer_rates", {}).get(options.get("optimizer"), {})
        for name in _FAMILY_DEFAULTED:
            if values[name] is None and name in rates:
                values[name] = rates[name]
            elif values[name] is None and name in defaults:
                values[name] = defaults[name]
        # A preset's default schedule applies only when no form was given.
        for kind in ("stage", "phase"):
            given = values["schedule"] or values[f"{kind}_steps"] or values[f"{kind}_fractions"]
            if not given and f"{kind}_fractions" in defaults:
                values[f"{kind}_fractions"] = list(defaults[f"{kind}_fractions"])
        if values["sample_every"] is None:
            values["sample_every"] = values["checkpoint_every"]
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
    config.typed_options(trainer_cls.Options)  # Parsed once, here, and kept on the config.
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
    explicit_names = list(explicit_names)
    given_schedule = [name for name in explicit_names if name in SCHEDULE_FIELDS]
    if given_schedule:
        # One setting in five spellings: the lengths must agree, whichever flag gave them.
        saved_lengths, given_lengths = _schedule_lengths(saved), _schedule_lengths(given)
        if given_lengths != saved_lengths:
            given_text = ", ".join(f"{n}={getattr(given, n)!r}" for n in given_schedule)
            raise ValueError(
                f"The workdir {given.workdir} holds a run with the schedule "
                f"{_describe_lengths(saved_lengths)}, but {given_text} was given: use a new "
                f"--workdir, or drop the flag to resume (only {', '.join(RESUMABLE_OVERRIDES)} "
                "may change on resume)."
            )
        explicit_names = [name for name in explicit_names if name not in SCHEDULE_FIELDS]
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
    total_steps,
    num_segments,
    kind,
    steps=None,
    fractions=None,
    default_fractions=None,
    flag=None,
):
    """Step ranges [(start, end), ...] of a run's stages or phases.

    Args:
        total_steps: int. The run's length (`--steps`).
        num_segments: int. How many stages/phases the family has.
        kind: str. "stage" or "phase", for the messages.
        steps: list of int or None. Lengths of the first num_segments - 1 segments; the last
            runs to `total_steps`.
        fractions: list of float or None. The share of each of the num_segments segments.
        default_fractions: list of float. Used when neither is given.
        flag: str or None. The flag the messages name ("--schedule"); None: the alias flags
            `--{kind}_steps` and `--{kind}_fractions`.

    Raises:
        ValueError: when both are given, the counts are wrong, or the lengths do not fit.
    """
    steps_flag = flag or f"--{kind}_steps"
    fractions_flag = flag or f"--{kind}_fractions"
    if num_segments == 1:
        if steps or fractions:
            drop = flag or f"--{kind}_steps and --{kind}_fractions"
            raise ValueError(f"This model trains in a single {kind}: drop {drop}.")
        return [(0, total_steps)]
    if steps and fractions:
        raise ValueError(f"Give either --{kind}_steps or --{kind}_fractions, not both.")
    if steps:
        steps = [int(s) for s in steps]
        if len(steps) != num_segments - 1:
            raise ValueError(
                f"{steps_flag} takes {num_segments - 1} lengths (the last {kind} runs to "
                f"--steps), got {len(steps)}: {steps}."
            )
        if any(s <= 0 for s in steps) or sum(steps) >= total_steps:
            raise ValueError(
                f"{steps_flag}={','.join(map(str, steps))} must be positive and sum to less "
                f"than --steps={total_steps} so that the last {kind} has steps."
            )
        lengths = steps + [total_steps - sum(steps)]
    else:
        fractions = [float(f) for f in (fractions or default_fractions)]
        if len(fractions) != num_segments:
            raise ValueError(
                f"{fractions_flag} takes {num_segments} values, got {len(fractions)}: {fractions}."
            )
        if any(f <= 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
            raise ValueError(f"{fractions_flag} must be positive and sum to 1, got {fractions}.")
        boundaries = [round(total_steps * sum(fractions[: i + 1])) for i in range(num_segments)]
        lengths = [b - a for a, b in zip([0] + boundaries[:-1], boundaries)]
        if any(length <= 0 for length in lengths):
            raise ValueError(
                f"--steps={total_steps} is too short for {fractions_flag}={fractions}: "
                f"every {kind} needs at least one step."
            )
    bounds, start = [], 0
    for length in lengths:
        bounds.append((start, start + length))
        start += length
    return bounds


_INTEGER = re.compile(r"[+-]?\d+")


def parse_schedule(text, segments, kind="stage"):
    """The lengths a `--schedule` value gives: ("steps", [...]) or ("fractions", [...]).

    Args:
        text: str. The flag's value (syntax in the module docstring).
        segments: tuple of `Segment` or None. The family's, to check the names against (None:
            names are not checked).
        kind: str. "stage" or "phase", for the messages.

    Raises:
        ValueError: one sentence naming what is wrong and the syntax expected.
    """
    items = [item.strip() for item in str(text).split(",")]
    names = [segment.name for segment in segments] if segments is not None else None
    expected = f"expected {kind} lengths such as " + (
        f"'{','.join(f'{name}:N' for name in names[:-1])},{names[-1]}' (steps) or "
        f"'{','.join(f'{name}:0.5' for name in names)}' (fractions)"
        if names and len(names) > 1
        else "'90000,10000' (steps) or '0.9,0.1' (fractions)"
    )
    parsed = []  # (name or None, length text or None)
    for item in items:
        if not item:
            raise ValueError(f"--schedule={text} has an empty entry; {expected}.")
        name, _, length = item.rpartition(":") if ":" in item else ("", "", item)
        name, length = name.strip(), length.strip()
        if ":" not in item and not re.fullmatch(r"[0-9.eE+-]+", item):
            name, length = item, ""  # A name alone: the last segment of a step schedule.
        parsed.append((name or None, length or None))
    if names is not None:
        if len(parsed) > len(names):
            raise ValueError(
                f"--schedule={text} has {len(parsed)} entries, but model trains in "
                f"{len(names)} {kind}(s) ({', '.join(names)}); {expected}."
            )
        for position, (name, _) in enumerate(parsed):
            if name is not None and name != names[position]:
                raise ValueError(
                    f"--schedule={text} names {kind} {position + 1} '{name}', but this model's "
                    f"{kind}s are {', '.join(names)} in that order."
                )
    lengths = [length for _, length in parsed]
    if None in lengths[:-1]:
        raise ValueError(
            f"--schedule={text} leaves a length out before its last entry; {expected}."
        )
    if lengths[-1] is None:
        lengths = lengths[:-1]  # The last segment, named alone, runs to --steps.
        if not lengths:
            raise ValueError(f"--schedule={text} gives no length; {expected}.")
    integers = [bool(_INTEGER.fullmatch(length)) for length in lengths]
    if all(integers):
        if len(parsed) > len(lengths) or names is None or len(lengths) < len(names):
            return "steps", [int(length) for length in lengths]
        raise ValueError(
            f"--schedule={text} gives every {kind} a step count, but the last runs to --steps: "
            f"leave its length out (or give fractions with a decimal point, summing to 1)."
        )
    if any(integers) or len(parsed) > len(lengths):
        raise ValueError(
            f"--schedule={text} mixes step counts and fractions; give every length as an integer "
            "number of steps (the last left out) or every one as a fraction with a decimal point."
        )
    try:
        return "fractions", [float(length) for length in lengths]
    except ValueError:
        raise ValueError(f"--schedule={text} has a length that is no number; {expected}.") from None


def _schedule_lengths(config):
    """("steps"|"fractions", [...]) given by any of `SCHEDULE_FIELDS` of `config` (None for none;
    names are not checked here), for comparing a resume's flags with the saved run's."""
    if config.schedule:
        try:
            form, values = parse_schedule(config.schedule, None)
        except ValueError:
            return ("schedule", config.schedule)  # Refused later, with the family's names.
        return form, [float(v) if form == "fractions" else int(v) for v in values]
    for kind in ("stage", "phase"):
        if getattr(config, f"{kind}_steps"):
            return "steps", [int(v) for v in getattr(config, f"{kind}_steps")]
        if getattr(config, f"{kind}_fractions"):
            return "fractions", [float(v) for v in getattr(config, f"{kind}_fractions")]
    return None


def _describe_lengths(lengths):
    if lengths is None:
        return "of its preset"
    return f"{lengths[0]} {','.join(map(str, lengths[1]))}"


def schedule_lengths(config, trainer_cls):
    """The lengths the run `config` gives the family's stages/phases, whichever flag gave them.

    Returns:
        (flag, steps, fractions): the flag the messages name (None: the alias flags), and the
        step counts or the fractions (the other None; both None: the family's defaults).

    Raises:
        ValueError: the other kind's aliases (phases for a family with stages), two forms at
            once, or a `--schedule` that does not parse for the family.
    """
    kind = trainer_cls.segment_kind or "stage"
    other = "phase" if kind == "stage" else "stage"
    if getattr(config, f"{other}_steps") or getattr(config, f"{other}_fractions"):
        raise ValueError(
            f"Model '{config.model}' trains in {kind}s, not {other}s: use --{kind}_steps or "
            f"--{kind}_fractions."
        )
    steps = getattr(config, f"{kind}_steps")
    fractions = getattr(config, f"{kind}_fractions")
    if not config.schedule:
        return None, steps, fractions
    if steps or fractions:
        alias = f"--{kind}_steps" if steps else f"--{kind}_fractions"
        raise ValueError(f"Give either --schedule or {alias}, not both.")
    if trainer_cls.num_segments == 1:
        raise ValueError(f"This model trains in a single {kind}: drop --schedule.")
    # A family that sets num_segments itself instead of declaring segments has no names.
    segments = trainer_cls.schedule
    if len(segments) != trainer_cls.num_segments:
        segments = None
    form, values = parse_schedule(config.schedule, segments, kind)
    if form == "steps":
        return "--schedule", values, None
    return "--schedule", None, values


def schedule_bounds(config, trainer_cls):
    """[(start, end), ...] of the family's stages/phases for this run's settings."""
    flag, steps, fractions = schedule_lengths(config, trainer_cls)
    return segment_bounds(
        config.steps,
        trainer_cls.num_segments,
        trainer_cls.segment_kind or "stage",
        steps=steps,
        fractions=fractions,
        default_fractions=trainer_cls.default_segment_fractions,
        flag=flag,
    )


# --- Checks before any work (prepare_config) ------------------------------------------


def _explicit_fields(config):
    """Fields of `config` that differ from the dataclass defaults (for library callers)."""
    defaults = TrainConfig(model=config.model, workdir=config.workdir)
    return [
        f.name
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(defaults, f.name)
    ]


def dataset_kwargs(config):
    """The `build_dataset` arguments every dataset of the run `config` shares."""
    return dict(
        data_dir=config.data_dir,
        split=config.split,
        irregular_polarity=config.irregular_polarity,
        resize_short_side=tuple(config.resize_short_side) if config.resize_short_side else None,
    )


def prepare_config(config, explicit_names=None):
    """Resolves and checks a run's settings before any work: (config, family, trainer_cls).

    On an existing workdir, the saved config.json is the base and only the settings a resume
    may change are taken from `config`. The returned config carries the family's typed options
    (`typed_options`), parsed once here.
    """
    if explicit_names is None:
        explicit_names = _explicit_fields(config)
    family = registry.get_family(config.model)
    config_path = runs.RunDir(config.workdir).config_path
    if os.path.exists(config_path):
        config = merge_for_resume(load_config(config_path), config, explicit_names)
    trainer_cls = family.load("trainer")
    config = config.resolve(registry.get_preset(config.model, config.preset)["training"])
    config.validate()
    check_family_settings(config, family, trainer_cls)  # Parses the typed options, once.
    schedule_bounds(config, trainer_cls)
    check_data(config, trainer_cls)
    check_image_size(config)
    check_vgg_settings(config, trainer_cls)
    return config, family, trainer_cls


def check_vgg_settings(config, trainer_cls):
    """Checks `--vgg_weights` and the `vgg_flavour` option; returns the run's VGG flavour.

    Returns None for families without VGG terms, which refuse a `vgg_flavour` other than auto.
    """
    flavour = config.typed_options(trainer_cls.Options).vgg_flavour
    if not trainer_cls.uses_vgg:
        if flavour != losses.VGG_FLAVOUR_AUTO:
            raise ValueError(
                f"--options vgg_flavour={flavour!r} applies to models with VGG loss terms; "
                f"model '{config.model}' has none, so drop it."
            )
        return None
    return losses.resolve_vgg_flavour(flavour, losses.resolve_vgg_weights(config.vgg_weights))


def _inside(path, folder):
    """Whether `path` is `folder` or lies below it (real paths: links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_workdir_and_data(workdir, data, image_files):
    """Refuses a run folder that overlaps its data: training writes sample grids into the
    workdir, and a data folder around it would train on them at the next epoch.

    Args:
        workdir: str. `--workdir`.
        data: str. `--data`.
        image_files: list of str. The source's images (`sources.list_image_files`).
    """
    if os.path.isdir(data) and _inside(workdir, data):
        raise ValueError(
            f"--workdir={workdir} lies inside the data folder --data={data}, so its sample grids "
            "would become training images; put the workdir outside the data folder."
        )
    inside = [path for path in image_files if _inside(path, workdir)]
    if inside:
        raise ValueError(
            f"--data={data} has {len(inside)} image(s) inside --workdir={workdir} (first: "
            f"{inside[0]}), where training writes; keep the data outside the workdir."
        )


def check_data(config, trainer_cls):
    """Checks the image source and every segment's mask spec (cheap: lists files, parses)."""
    if sources.source_kind(config.data) != "tfds":
        image_files = sources.list_image_files(config.data)
        if config.data != "samples":
            check_workdir_and_data(config.workdir, config.data, image_files)
    for segment in range(1, trainer_cls.num_segments + 1):
        arguments = dataset_arguments(config, trainer_cls, segment)
        pipeline.parse_augment(arguments.get("augment"))
        masks.make_mask_fns(
            arguments["masks"],
            arguments["image_size"],
            training=True,
            irregular_polarity=config.irregular_polarity,
        )


def dataset_arguments(config, trainer_cls, segment=1):
    """`pipeline.build_dataset` keyword arguments for `segment` of the run `config`.

    The run's settings, then whatever the family changes for that segment
    (`trainer_cls.segment_data_overrides`: masks, image_size, augment, ...).
    """
    arguments = dict(
        source=config.data,
        image_size=config.image_size,
        batch_size=config.batch_size,
        masks=config.masks,
        with_gradients=trainer_cls.with_gradients,
        training=True,
        **dataset_kwargs(config),
    )
    overrides = trainer_cls.segment_data_overrides(config, segment)
    accepted = inspect.signature(pipeline.build_dataset).parameters
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ValueError(
            f"{trainer_cls.__name__}.segment_data_overrides gives {', '.join(unknown)}, which "
            "build_dataset does not take."
        )
    arguments.update(overrides)
    return arguments


def check_image_size(config):
    """Refuses an image size the generator of `config` (model, preset, overrides) cannot take."""
    multiple = registry.size_multiple(config.model, config.preset, **config.generator_overrides)
    if config.image_size % multiple:
        raise ValueError(
            f"--image_size={config.image_size} is not a multiple of {multiple}, which the "
            f"{config.model} '{config.preset}' generator needs."
        )
