"""Loading a trained generator from whatever names it: a run, a checkpoint prefix, a saved
generator or a shipped name.

`load_generator(path_or_name)` rebuilds a generator from a training run folder (its latest
checkpoint, or the mean of its newest few: `average_last`), from a checkpoint prefix inside a
run, from a saved `NAME.json` + `NAME.weights.h5` pair (DESIGN.md, Checkpoints), or from the name
of a checkpoint shipped with the package (`catalogue`). A run folder is read through its owner,
`runs.RunDir` (its settings as a `TrainConfig`, its readable checkpoints); this module spells none
of a run's file names.

Example:
```python
from tfinpaint import inference
generator, info = inference.load_generator("runs/pconv_tiny", with_info=True)
generator = inference.load_generator("NAME")  # a shipped checkpoint
```
"""

import os

import numpy as np
import tensorflow as tf

from tfinpaint import checkpointing, json_files, runs
from tfinpaint import precision as precision_lib
from tfinpaint.data import image_files
from tfinpaint.inference import catalogue
from tfinpaint.models import registry
from tfinpaint.models.ensemble import SelfEnsemble
from tfinpaint.models.saving import load_saved_generator

__all__ = ["describe", "load_generator"]


def load_generator(
    path, with_info=False, precision=None, offered_only=False, average_last=None, ensemble=None
):
    """Loads a trained generator from a run directory, a saved generator or a shipped name.

    Args:
        path: str. One of
            - the name of a shipped checkpoint (`"NAME"`, see `list_checkpoints()`):
              `NAME.json` + `NAME.weights.h5` in `checkpoints_dir()`. A shipped name wins over
              a file or folder of the same name in the current directory (write `./NAME` for
              that one);
            - a training run directory (with `config.json`): the generator is built through the
              registry from the run's `model`, `preset` and `generator_overrides` and restored
              from the latest checkpoint in `checkpoints/`; a run without checkpoints but with
              `generator.json` loads that;
            - a checkpoint prefix inside a run (`RUN/checkpoints/ckpt-400`);
            - a directory holding `generator.json` + `generator.weights.h5`;
            - a generator description `NAME.json` or its weights file `NAME.weights.h5`
              (float32 or float16 weights; the network is float32 either way).
        with_info: bool. Also return a description of what was loaded.
        precision: None (the dtype policy the generator was saved with, or the global one for
            a run's checkpoint), "float32" or "bfloat16" (`tfinpaint.precision`: built under
            `mixed_bfloat16`; the float32 weights load into its float32 variables). Any family
            can be loaded in any precision unless `offered_only`.
        offered_only: bool. Refuse (ValueError, before building anything) a `precision` the
            family does not offer for inference (`registry.check_inference_precision`), as
            inpaint.py and export.py do.
        average_last: None or int >= 1. Only for a training run or a checkpoint prefix in one:
            the generator's weights are the mean of its `average_last` newest checkpoints (those
            at or before the named prefix), a checkpoint average in the manner of Polyak
            averaging / SWA that smooths the step-to-step noise of the last stretch of
            training. Floating-point variables are averaged (batch-norm moving statistics
            too, not re-estimated); any others come from the newest. 1 (or None) loads the one
            checkpoint.
        ensemble: None, True or False. Whether the returned model is the generator's test-time
            self-ensemble (`models.SelfEnsemble`: the mean of its outputs for the input as it
            is, rotated three ways and flipped; five times the compute). None follows what was
            loaded: a saved generator or shipped checkpoint whose JSON says `"ensemble": true`
            (written by `ship_checkpoint(..., ensemble=True)`) is wrapped, nothing else is.

    Returns:
        The Keras generator or, with `with_info=True`, `(generator, info)` where `info` is a
        dict with `model`, `preset`, `image_size` (the training image size, None when unknown),
        `step` (None when unknown), `source` ("checkpoint", "generator.json" or "shipped"),
        `name` (the shipped name, else None), `description` (the JSON's one-line description,
        else None), `path` (the checkpoint prefix or JSON file read), `files` (every file
        read), `averaged_steps` (the steps of the averaged checkpoints, newest first, or
        None; a shipped checkpoint reports what its JSON recorded) and `ensemble` (whether the
        model returned is the self-ensemble).

    Raises:
        ValueError: `path` is none of the above, names files that are missing, or is an unknown
            name (the shipped names are listed); or `average_last` is not a positive integer,
            is given for something other than a run or checkpoint prefix, or exceeds the
            checkpoints the run holds; or `ensemble` is not None, True or False.
    """
    if ensemble is not None and not isinstance(ensemble, bool):
        raise ValueError(f"Received ensemble={ensemble!r}; expected None, True or False.")
    path = os.fspath(path)
    average_last = _check_average_last(average_last)
    dtype = None if precision is None else precision_lib.policy_name(precision)

    def check(model):  # Called with the family's name before anything is built.
        if offered_only and precision is not None:
            registry.check_inference_precision(model, precision)

    build = {"dtype": dtype, "check": check}
    is_name = catalogue.is_name(path)
    is_shipped = catalogue.is_shipped(path)
    run = runs.RunDir(path)
    is_run = not is_shipped and run.has_config()
    is_prefix = not is_shipped and not os.path.isdir(path) and os.path.isfile(path + ".index")
    if average_last > 1 and not (is_run or is_prefix):
        raise ValueError(
            f"average_last={average_last} (--average_last) averages a training run's "
            f"checkpoints, but {path} is not a run directory or a checkpoint prefix."
        )
    if is_shipped:
        generator, info = _load_shipped(catalogue.checkpoints_dir(), path, **build)
    elif os.path.isdir(path):
        if is_run:
            generator, info = _load_from_run(run, average_last=average_last, **build)
        elif run.has_generator():
            generator, info = _load_from_description(run.generator_json, **build)
        else:
            raise ValueError(
                f"{path} holds neither {runs.CONFIG} (a training run) nor {runs.GENERATOR_JSON} "
                "(a saved generator); expected one of them."
            )
    elif path.endswith(catalogue.WEIGHTS_SUFFIX) and os.path.isfile(path):
        json_path = path[: -len(catalogue.WEIGHTS_SUFFIX)] + ".json"
        if not os.path.isfile(json_path):
            raise ValueError(
                f"The weights file {path} has no description beside it; expected {json_path}."
            )
        generator, info = _load_from_description(json_path, **build)
    elif path.endswith(".json") and os.path.isfile(path):
        generator, info = _load_from_description(path, **build)
    elif is_prefix:
        generator, info = _load_from_run(
            runs.RunDir.of_checkpoint(path), checkpoint=path, average_last=average_last, **build
        )
    elif is_name:
        raise ValueError(catalogue.unknown_name_message(path))
    else:
        kind = image_files.describe_file_type(path)
        what = "" if kind in ("missing", "a regular file") else f" ({path} is {kind})"
        raise ValueError(
            f"Cannot load a generator from {path}{what}: expected a training run directory, a "
            f"checkpoint prefix, a {runs.GENERATOR_JSON} or a {catalogue.WEIGHTS_SUFFIX} file."
        )
    info["precision"] = precision_lib.precision_of(generator.dtype_policy.name)
    info["parameters"] = int(generator.count_params())
    info["overrides"] = registry.generator_overrides(
        info["model"], info["preset"], generator.get_config()
    )
    saved_ensemble = info.pop("saved_ensemble", False)
    info["ensemble"] = saved_ensemble if ensemble is None else ensemble
    if info["ensemble"]:
        generator = SelfEnsemble(generator)
    return (generator, info) if with_info else generator


def describe(info):
    """One line naming what `load_generator(..., with_info=True)` loaded, as it really is.

    E.g. "pconv_small_photos (pconv, preset paper with encoder_filters=[32, 64, ...], ...: not
    the paper network; 4,684,628 parameters, float32, self-ensemble)": the shipped name when
    there is one, and the generator overrides, so a narrowed network is never called "paper".
    """
    overrides = info.get("overrides") or {}
    if overrides:
        architecture = (
            f"preset {info['preset']} with "
            + ", ".join(f"{key}={value}" for key, value in sorted(overrides.items()))
            + f": not the {info['preset']} network"
        )
    else:
        architecture = f"the {info['preset']} preset's network"
    return (
        f"{info.get('name') or info['model']} ({info['model']}, {architecture}; "
        f"{info['parameters']:,} parameters, {info['precision']}"
        + (", self-ensemble" if info["ensemble"] else "")
        + ")"
    )


def _check_average_last(value):
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"Received average_last={value!r} (--average_last); expected a positive integer "
            "(the number of newest checkpoints to average)."
        )
    return int(value)


def _load_from_description(json_path, dtype=None, check=None):
    generator, description = load_saved_generator(json_path, dtype=dtype, check_model=check)
    info = {
        "model": description["model"],
        "preset": description.get("preset"),
        "image_size": description.get("image_size"),
        "step": description.get("step"),
        "source": "generator.json",
        "name": None,
        "description": catalogue.one_line(description.get("description")) or None,
        "averaged_steps": description.get("averaged_steps"),
        "saved_ensemble": bool(description.get("ensemble", False)),
        "path": json_path,
        "files": [json_path, os.path.join(os.path.dirname(json_path), description["weights"])],
    }
    return generator, info


def _load_from_run(run, checkpoint=None, dtype=None, check=None, average_last=1):
    """The generator of the run `run` (a `runs.RunDir`), restored from `checkpoint` (default:
    the newest), or the mean of it and the older ones (`average_last`)."""
    config = run.read_config()
    found = run.checkpoints()
    if checkpoint is None:
        checkpoint = found[0] if found else None
    if checkpoint is None:
        if run.has_generator() and average_last == 1:
            return _load_from_description(run.generator_json, dtype=dtype, check=check)
        raise ValueError(
            f"The run {run.path} has no checkpoint in {runs.CHECKPOINTS}/"
            + (f" and no {runs.GENERATOR_JSON}" if average_last == 1 else "")
            + " yet; train it first."
        )
    prefixes = [checkpoint]
    if average_last > 1:
        older = [
            prefix
            for prefix in found
            if checkpointing.checkpoint_prefix_number(prefix)
            < checkpointing.checkpoint_prefix_number(checkpoint)
        ]
        prefixes += older[: average_last - 1]
        if len(prefixes) < average_last:
            raise ValueError(
                f"average_last={average_last} (--average_last) asks for more checkpoints than "
                f"{run.path} holds at or before {os.path.basename(checkpoint)} ({len(prefixes)}); "
                "train with a larger --keep_checkpoints or average fewer."
            )
    for prefix in prefixes:
        problem = checkpointing.verify_checkpoint(prefix)
        if problem:
            raise ValueError(
                f"The checkpoint is unreadable: {problem}; rerun tools/train.py on {run.path} "
                "(it moves damaged checkpoints aside and resumes from the newest good one) or "
                "name an older checkpoint prefix."
            )
    if check is not None:
        check(config.model)
    overrides = dict(config.generator_overrides or {})
    if dtype is not None:
        overrides["dtype"] = dtype
    generator = registry.build_generator(config.model, config.preset, **overrides)
    # The checkpoint also holds optimizers, step and discriminators, which are not wanted here;
    # every generator variable must be found, though.
    steps = [_checkpoint_step(prefix) for prefix in prefixes]
    if len(prefixes) == 1:
        checkpointing.restore_networks(checkpoint, {"generator": generator}, verify=False)
    else:
        _restore_average(generator, prefixes)
    info = {
        "model": config.model,
        "preset": config.preset,
        "image_size": config.image_size,
        "step": steps[0],
        "source": "checkpoint",
        "name": None,
        "description": None,
        "path": checkpoint,
        "files": [
            run.config_path,
            *(f for prefix in prefixes for f in checkpointing.checkpoint_files(prefix)),
        ],
        "averaged_steps": steps if len(prefixes) > 1 else None,
    }
    return generator, info


def _checkpoint_step(prefix):
    try:
        return int(tf.train.load_variable(prefix, "step/.ATTRIBUTES/VARIABLE_VALUE"))
    except (tf.errors.NotFoundError, ValueError):
        return None


def _restore_average(generator, prefixes):
    """Sets the generator's floating-point variables to their mean over `prefixes` (the first
    is the newest; the other variables keep its values)."""
    sums = None
    for prefix in reversed(prefixes):  # The newest last, so it leaves the non-float values.
        checkpointing.restore_networks(prefix, {"generator": generator}, verify=False)
        values = [np.asarray(variable.numpy(), np.float64) for variable in generator.weights]
        sums = values if sums is None else [a + b for a, b in zip(sums, values)]
    for variable, total in zip(generator.weights, sums):
        if tf.as_dtype(variable.dtype).is_floating:
            variable.assign((total / len(prefixes)).astype(variable.dtype))


def _load_shipped(folder, name, dtype=None, check=None):
    """The shipped checkpoint `name` in `folder`: its two files, and a JSON that names its own
    weights file."""
    json_path, weights_path = catalogue.checkpoint_paths(folder, name)
    for path in (json_path, weights_path):
        if not os.path.isfile(path):
            raise ValueError(
                f"The checkpoint '{name}' is incomplete: {path} is missing (a checkpoint is "
                f"{name}.json + {name}{catalogue.WEIGHTS_SUFFIX})."
            )
    description = json_files.load_json_object(json_path, "a generator description")
    weights_name = description.get("weights")
    if weights_name != f"{name}{catalogue.WEIGHTS_SUFFIX}":
        # Else two names could share, or swap, one weights file without anyone noticing.
        raise ValueError(
            f"{json_path} names the weights file {weights_name!r}; a checkpoint's JSON must name "
            f"{name}{catalogue.WEIGHTS_SUFFIX}, the file beside it."
        )
    generator, info = _load_from_description(json_path, dtype=dtype, check=check)
    info.update(source="shipped", name=name)
    return generator, info
