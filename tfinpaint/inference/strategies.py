"""Inpainting with a trained generator: load a run, fill the holes of images of any size.

`load_generator(path_or_name)` rebuilds a generator from a training run directory (its latest
checkpoint), from a saved `generator.json` + `generator.weights.h5` pair (DESIGN.md,
Checkpoints), or from the name of a checkpoint shipped with the package (keras-hub
`from_preset` style: `load_generator("NAME")` reads `NAME.json` + `NAME.weights.h5` in
`checkpoints_dir()`); `list_checkpoints()` names the shipped ones with a one-line description
each, and `ship_checkpoint` writes one from a training run.

`inpaint(generator, image, hole_mask)` takes one HxWx3 image of any size, runs the network on it
(reflect-padded to the generator's size multiple, tiled, downscaled, or split into polyphase
sub-images), optionally as a test-time self-ensemble over four rotations and a flip, and returns
an image of the same size and dtype whose known pixels are exactly the input's.

The file helpers (`read_image`, `read_hole_mask`, `write_image`, `plan_jobs`, `check_jobs`)
are what `tools/inpaint.py` runs: every check on the paths happens in `plan_jobs` and every
image/mask pair is read once by `check_jobs`, before anything is written.

Example:
```python
from tfinpaint import inference
generator, info = inference.load_generator("runs/pconv_tiny", with_info=True)
result = inference.inpaint(generator, image_uint8, hole_mask, strategy="tile", max_size=256)
print(inference.list_checkpoints())  # {"NAME": "one-line description", ...}
generator = inference.load_generator("NAME")  # a shipped checkpoint
```
"""

import json
import logging
import os
import re

import cv2
import numpy as np
import tensorflow as tf

from tfinpaint import checkpointing, files, imageops, json_files, runs
from tfinpaint import postprocess as postprocess_lib
from tfinpaint import precision as precision_lib
from tfinpaint.data import image_files, sources
from tfinpaint.data.imageio import write_image
from tfinpaint.models import registry
from tfinpaint.models.ensemble import SelfEnsemble
from tfinpaint.models.saving import check_weights_dtype, load_saved_generator, save_generator

__all__ = [
    "CHECKPOINTS_DIR_ENV",
    "MASK_POLARITIES",
    "PACKAGE_CHECKPOINTS_DIR",
    "POSTPROCESSING",
    "STRATEGIES",
    "available_memory_bytes",
    "check_batch_memory",
    "check_inpaint_memory",
    "check_jobs",
    "checkpoints_dir",
    "empty_mask_warning",
    "estimate_inpaint_bytes",
    "format_checkpoint_list",
    "inpaint",
    "inpaint_file",
    "list_checkpoints",
    "load_generator",
    "plan_jobs",
    "read_hole_mask",
    "read_image",
    "same_file",
    "ship_checkpoint",
    "write_image",
]

STRATEGIES = ("pad", "tile", "resize", "polyphase")
POSTPROCESSING = ("none", "telea_poisson")
MASK_POLARITIES = ("hole_white", "hole_black")
# What a folder of images or masks is searched for (OpenCV reads all of these).
FOLDER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

_WEIGHTS_SUFFIX = ".weights.h5"

logger = logging.getLogger(__name__)

# The shipped generators are package data (setup.py), so a regular install has them as well as
# a source checkout; the repository's top-level `checkpoints` is a symlink to this folder,
# which lies beside this subpackage in `tfinpaint/`.
PACKAGE_CHECKPOINTS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints"
)
# Where bare names resolve instead, when set (another collection of checkpoints; the tests).
CHECKPOINTS_DIR_ENV = "TFINPAINT_CHECKPOINTS_DIR"
# A bare checkpoint name: letters, digits, '_', '-' and '.', no folder part; names that end in
# .json or .h5 are files.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# What ship_checkpoint writes: no dots, so NAME.json and NAME.weights.h5 never look alike.
_SHIP_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")


# The help of the tools' tri-state --ensemble flag (inpaint.py, evaluate.py, export.py), which
# they pass to load_generator(ensemble=...).
ENSEMBLE_FLAG_HELP = (
    "Run the test-time self-ensemble (the mean of the outputs for the image as it is, rotated by "
    "90, 180, 270 degrees and flipped: 5x the compute); --noensemble runs the single network. "
    "Default: what the checkpoint records (shipped with --ensemble or not)."
)


# --- Loading ---------------------------------------------------------------------------------


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
    is_name = _NAME_PATTERN.match(path) and not path.endswith((".json", ".h5"))
    is_shipped = is_name and path in _scan_checkpoints(checkpoints_dir())
    is_run = not is_shipped and os.path.isfile(runs.RunDir(path).config_path)
    is_prefix = not is_shipped and not os.path.isdir(path) and os.path.isfile(path + ".index")
    if average_last > 1 and not (is_run or is_prefix):
        raise ValueError(
            f"average_last={average_last} (--average_last) averages a training run's "
            f"checkpoints, but {path} is not a run directory or a checkpoint prefix."
        )
    if is_shipped:
        generator, info = _load_shipped(checkpoints_dir(), path, **build)
    elif os.path.isdir(path):
        if is_run:
            generator, info = _load_from_run(path, average_last=average_last, **build)
        elif os.path.isfile(runs.RunDir(path).generator_json):
            generator, info = _load_from_description(runs.RunDir(path).generator_json, **build)
        else:
            raise ValueError(
                f"{path} holds neither config.json (a training run) nor generator.json (a saved "
                "generator); expected one of them."
            )
    elif path.endswith(_WEIGHTS_SUFFIX) and os.path.isfile(path):
        json_path = path[: -len(_WEIGHTS_SUFFIX)] + ".json"
        if not os.path.isfile(json_path):
            raise ValueError(
                f"The weights file {path} has no description beside it; expected {json_path}."
            )
        generator, info = _load_from_description(json_path, **build)
    elif path.endswith(".json") and os.path.isfile(path):
        generator, info = _load_from_description(path, **build)
    elif is_prefix:
        run_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        generator, info = _load_from_run(
            run_dir, checkpoint=path, average_last=average_last, **build
        )
    elif is_name:
        raise ValueError(_unknown_name_message(path))
    else:
        kind = image_files.describe_file_type(path)
        what = "" if kind in ("missing", "a regular file") else f" ({path} is {kind})"
        raise ValueError(
            f"Cannot load a generator from {path}{what}: expected a training run directory, a "
            "checkpoint prefix, a generator.json or a .weights.h5 file."
        )
    info["precision"] = precision_lib.precision_of(generator.dtype_policy.name)
    saved_ensemble = info.pop("saved_ensemble", False)
    info["ensemble"] = saved_ensemble if ensemble is None else ensemble
    if info["ensemble"]:
        generator = SelfEnsemble(generator)
    return (generator, info) if with_info else generator


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
        "description": _one_line(description.get("description")) or None,
        "averaged_steps": description.get("averaged_steps"),
        "saved_ensemble": bool(description.get("ensemble", False)),
        "path": json_path,
        "files": [json_path, os.path.join(os.path.dirname(json_path), description["weights"])],
    }
    return generator, info


def _load_from_run(run_dir, checkpoint=None, dtype=None, check=None, average_last=1):
    run = runs.RunDir(run_dir)
    config_path = run.config_path
    if not os.path.isfile(config_path):
        raise ValueError(f"{run_dir} is not a training run: it has no config.json.")
    config = json_files.load_json_object(config_path, "a training run's config object")
    for key in ("model", "preset"):
        if key not in config:
            raise ValueError(f"{config_path} is not a training config: it has no '{key}'.")
        json_files.check_field(config, key, str, config_path, f"the run's {key} name")
    json_files.check_field(
        config, "generator_overrides", dict, config_path, "an object", required=False
    )
    found = run.checkpoints()
    if checkpoint is None:
        checkpoint = found[0] if found else None
    if checkpoint is None:
        json_path = run.generator_json
        if os.path.isfile(json_path) and average_last == 1:
            return _load_from_description(json_path, dtype=dtype, check=check)
        raise ValueError(
            f"The run {run_dir} has no checkpoint in checkpoints/"
            + (" and no generator.json" if average_last == 1 else "")
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
                f"{run_dir} holds at or before {os.path.basename(checkpoint)} ({len(prefixes)}); "
                "train with a larger --keep_checkpoints or average fewer."
            )
    for prefix in prefixes:
        problem = checkpointing.verify_checkpoint(prefix)
        if problem:
            raise ValueError(
                f"The checkpoint is unreadable: {problem}; rerun tools/train.py on {run_dir} "
                "(it moves damaged checkpoints aside and resumes from the newest good one) or "
                "name an older checkpoint prefix."
            )
    if check is not None:
        check(config["model"])
    overrides = dict(config.get("generator_overrides", {}))
    if dtype is not None:
        overrides["dtype"] = dtype
    generator = registry.build_generator(config["model"], config["preset"], **overrides)
    # The checkpoint also holds optimizers, step and discriminators, which are not wanted here;
    # every generator variable must be found, though.
    steps = [_checkpoint_step(prefix) for prefix in prefixes]
    if len(prefixes) == 1:
        checkpointing.restore_networks(checkpoint, {"generator": generator}, verify=False)
    else:
        _restore_average(generator, prefixes)
    info = {
        "model": config["model"],
        "preset": config["preset"],
        "image_size": config.get("image_size"),
        "step": steps[0],
        "source": "checkpoint",
        "name": None,
        "description": None,
        "path": checkpoint,
        "files": [config_path, *(f for p in prefixes for f in checkpointing.checkpoint_files(p))],
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


# --- Shipped checkpoints ---------------------------------------------------------------------


def checkpoints_dir():
    """The folder where bare checkpoint names resolve.

    `$TFINPAINT_CHECKPOINTS_DIR` when it is set, else `PACKAGE_CHECKPOINTS_DIR`: the package's
    `tfinpaint/checkpoints/` (the repository's `checkpoints/` links to it), which holds the
    generators that ship with tfinpaint.
    """
    return os.environ.get(CHECKPOINTS_DIR_ENV) or PACKAGE_CHECKPOINTS_DIR


def _one_line(text):
    """The first non-empty line of `text` (None and non-strings give "")."""
    if not isinstance(text, str):
        return ""
    lines = [line.strip() for line in text.strip().splitlines()]
    return lines[0] if lines else ""


def _scan_checkpoints(folder):
    """{name: {"json": True/False, "weights": True/False}} of the checkpoints in `folder`.

    A name is the stem of a `NAME.weights.h5` or of a `NAME.json` file. JSON files that parse
    but have no "model" key (a data manifest, say) are not checkpoints; unparseable ones are, so
    that loading them names the broken file. Hidden and temporary files are skipped.
    """
    if not os.path.isdir(folder):
        return {}
    found = {}
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.startswith(".") or not os.path.isfile(path):
            continue
        if entry.endswith(_WEIGHTS_SUFFIX):
            kind, name = "weights", entry[: -len(_WEIGHTS_SUFFIX)]
        elif entry.endswith(".json"):
            kind, name = "json", entry[: -len(".json")]
            try:
                content = json_files.load_json_object(path)
                is_description = "model" in content
            except ValueError:
                is_description = None  # Unreadable: a checkpoint, so loading it names the file.
            # A JSON of another shape (a list, say) beside NAME.weights.h5 is that checkpoint's
            # broken description; elsewhere (a data manifest) it is no checkpoint.
            if is_description is False or (
                is_description is None
                and not os.path.isfile(os.path.join(folder, name + _WEIGHTS_SUFFIX))
                and _parses_as_json(path)
            ):
                continue
        else:
            continue
        if name:
            found.setdefault(name, {"json": False, "weights": False})[kind] = True
    return found


def _parses_as_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
        return True
    except (OSError, ValueError, RecursionError):
        return False


def list_checkpoints(directory=None):
    """The shipped checkpoints and their one-line descriptions.

    Args:
        directory: str or None. The folder to list (default: `checkpoints_dir()`).

    Returns:
        dict {name: description}, sorted by name: each name loads with
        `load_generator(name)`. The description is the first line of the `description` field
        of `NAME.json`; a checkpoint without one, with an unreadable `NAME.json` or with a file
        missing gets a note in parentheses instead. Empty when nothing is shipped.
    """
    folder = checkpoints_dir() if directory is None else os.fspath(directory)
    listing = {}
    for name, kinds in _scan_checkpoints(folder).items():
        missing = [
            f"{name}{suffix}"
            for kind, suffix in (("json", ".json"), ("weights", _WEIGHTS_SUFFIX))
            if not kinds[kind]
        ]
        if missing:
            listing[name] = f"(incomplete: {missing[0]} is missing)"
            continue
        json_path = os.path.join(folder, f"{name}.json")
        try:
            description = _one_line(json_files.load_json_object(json_path).get("description"))
        except ValueError as error:  # Says what is wrong: not JSON, a list, empty...
            problem = str(error).replace(json_path, f"{name}.json").rstrip(".")
            description = f"(unreadable: {problem})"
        listing[name] = description or "(no description)"
    return listing


def format_checkpoint_list(directory=None):
    """What `tools/inpaint.py --list_checkpoints` prints: a header and `NAME  description` lines."""
    folder = checkpoints_dir() if directory is None else os.fspath(directory)
    listing = list_checkpoints(folder)
    if not listing:
        return f"No checkpoint in {folder} yet."
    width = max(len(name) for name in listing)
    lines = [f"Checkpoints in {folder} (load_generator(NAME), --checkpoint=NAME):"]
    lines += [f"  {name:<{width}}  {text}" for name, text in listing.items()]
    return "\n".join(lines)


def _unknown_name_message(name):
    folder = checkpoints_dir()
    names = sorted(_scan_checkpoints(folder))
    if names:
        return (
            f"Unknown checkpoint name '{name}' (and no such path); the checkpoints in {folder} "
            f"are: {', '.join(names)}."
        )
    kind = image_files.describe_file_type(folder)
    if kind not in ("a folder", "missing"):
        via = f" (${CHECKPOINTS_DIR_ENV})" if os.environ.get(CHECKPOINTS_DIR_ENV) else ""
        return (
            f"Unknown checkpoint name '{name}' (and no such path); {folder}{via} is {kind}, "
            "not a folder."
        )
    where = "does not exist" if kind == "missing" else "holds no checkpoint yet"
    return f"Unknown checkpoint name '{name}' (and no such path); {folder} {where}."


def _load_shipped(folder, name, dtype=None, check=None):
    json_path = os.path.join(folder, f"{name}.json")
    weights_path = os.path.join(folder, f"{name}{_WEIGHTS_SUFFIX}")
    for path in (json_path, weights_path):
        if not os.path.isfile(path):
            raise ValueError(
                f"The checkpoint '{name}' is incomplete: {path} is missing (a checkpoint is "
                f"{name}.json + {name}{_WEIGHTS_SUFFIX})."
            )
    description = json_files.load_json_object(json_path, "a generator description")
    weights_name = description.get("weights")
    if weights_name != f"{name}{_WEIGHTS_SUFFIX}":
        # Else two names could share, or swap, one weights file without anyone noticing.
        raise ValueError(
            f"{json_path} names the weights file {weights_name!r}; a checkpoint's JSON must name "
            f"{name}{_WEIGHTS_SUFFIX}, the file beside it."
        )
    generator, info = _load_from_description(json_path, dtype=dtype, check=check)
    info.update(source="shipped", name=name)
    return generator, info


def ship_checkpoint(
    source,
    name,
    description,
    directory=None,
    weights_dtype="float32",
    overwrite=False,
    average_last=None,
    ensemble=False,
):
    """Writes `NAME.json` + `NAME.weights.h5` of a trained generator into the checkpoints folder.

    Args:
        source: str. What `load_generator` takes: a training run (its newest checkpoint), a
            checkpoint prefix, or a saved generator.
        name: str. The checkpoint name: letters, digits, '_' and '-'.
        description: str. One line, shown by `list_checkpoints()`.
        directory: str or None. Where to write (default: `checkpoints_dir()`).
        weights_dtype: str. "float32" or "float16" (half the bytes; loads into the same float32
            network).
        overwrite: bool. Replace an existing checkpoint of that name.
        average_last: None or int. Ship the mean of the run's `average_last` newest
            checkpoints (see `load_generator`); the JSON records their steps as
            `averaged_steps`.
        ensemble: bool. Record `"ensemble": true` in the JSON: the checkpoint then loads as
            its test-time self-ensemble (see `load_generator`), unless the caller asks for
            `ensemble=False`. The weights are the single network's either way.

    Returns:
        dict with `json` and `weights` (the paths written), `bytes` (of the weights file),
        `model`, `preset`, `step`, `averaged_steps` (None unless averaged), `ensemble`, and
        `max_difference`: the largest absolute difference between
        the raw outputs of the source generator and of the written checkpoint, loaded back, on a
        fixed random image with a centred square hole (float16 rounding shows there).

    Raises:
        ValueError: one sentence, before anything is written: a bad name, description or dtype,
            an existing checkpoint without `overwrite`, an output that is one of the source's
            files, or a source `load_generator` refuses.
    """
    if not isinstance(name, str) or not _SHIP_NAME_PATTERN.match(name):
        raise ValueError(
            f"Received the checkpoint name {name!r}; expected letters, digits, '_' and '-' "
            "(starting with a letter or digit)."
        )
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        raise ValueError(
            f"Received the description {description!r}; expected one non-empty line of text."
        )
    check_weights_dtype(weights_dtype)
    folder = checkpoints_dir() if directory is None else os.fspath(directory)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"The checkpoints folder {folder} is a file; expected a folder.")
    json_path = os.path.join(folder, f"{name}.json")
    weights_path = os.path.join(folder, f"{name}{_WEIGHTS_SUFFIX}")
    existing = [path for path in (json_path, weights_path) if os.path.exists(path)]
    if existing and not overwrite:
        raise ValueError(
            f"The checkpoint '{name}' already exists ({existing[0]}); pass overwrite=True "
            "(--overwrite) to replace it."
        )
    if not isinstance(ensemble, bool):
        raise ValueError(f"Received ensemble={ensemble!r}; expected True or False.")
    generator, info = load_generator(
        source, with_info=True, average_last=average_last, ensemble=False
    )
    if any(same_file(out, path) for out in (json_path, weights_path) for path in info["files"]):
        raise ValueError(
            f"The checkpoint '{name}' would be written over its own source ({info['path']}); "
            "choose another name or folder."
        )
    save_generator(
        generator,
        info["model"],
        info["preset"],
        folder,
        stem=name,
        extra={
            "description": description.strip(),
            "image_size": info["image_size"],
            "step": info["step"],
            **({"averaged_steps": info["averaged_steps"]} if info["averaged_steps"] else {}),
            **({"ensemble": True} if ensemble else {}),
        },
        weights_dtype=weights_dtype,
    )
    shipped = _load_from_description(json_path)[0]
    return {
        "json": json_path,
        "weights": weights_path,
        "bytes": os.path.getsize(weights_path),
        "model": info["model"],
        "preset": info["preset"],
        "step": info["step"],
        "averaged_steps": info["averaged_steps"],
        "ensemble": ensemble,
        "max_difference": _max_raw_difference(generator, shipped, info["image_size"]),
    }


def _max_raw_difference(generator, other, image_size):
    multiple = generator.size_multiple
    side = max(multiple, (image_size or 64) // multiple * multiple)
    rng = np.random.default_rng(0)
    images = rng.random((1, side, side, 3), dtype=np.float32)
    hole_mask = np.zeros((1, side, side, 1), np.float32)
    hole_mask[:, side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = 1.0
    inputs = {"images": images, "masks": hole_mask}
    a = np.asarray(generator(inputs, training=False)["raw"], np.float32)
    b = np.asarray(other(inputs, training=False)["raw"], np.float32)
    return float(np.abs(a - b).max())


# --- Inpainting arrays -----------------------------------------------------------------------


def inpaint(
    generator,
    image,
    hole_mask,
    strategy="pad",
    max_size=None,
    tile_overlap=None,
    postprocess="none",
    ensemble=False,
):
    """Fills the holes of one image of any size; known pixels come back exactly.

    Args:
        generator: a tfinpaint generator (`keras.Model` called with `images` and `masks`).
        image: array (H, W, 3), uint8, uint16 or float in [0, 1]. Any H and W.
        hole_mask: array (H, W) or (H, W, 1); bool or numbers, hole where >= 0.5.
        strategy: str. How the network sees the image:
            - "pad": the whole image at once, reflect-padded at the bottom and right to the
              generator's size multiple, and cropped back;
            - "tile": overlapping tiles of at most `max_size` x `max_size` (rounded down to
              the size multiple), each padded as needed; the tiles' raw outputs are blended with
              linear ramps over the overlaps; tiles without holes are skipped;
            - "resize": when the image is larger than `max_size` (either side), a downscaled
              copy whose longer side is `max_size` is inpainted (a low-resolution pixel is a hole
              if any of its pixels is) and only the hole pixels of the upsampled output are
              pasted back;
            - "polyphase": when the image is larger than `max_size` (either side), the image
              is split into f_h x f_w polyphase sub-images, f = ceil(side / max_size): sub-image
              (i, j) holds pixels (i + f_h * y, j + f_w * x), a decimated view of the whole
              scene of at most `max_size` per side (the image is reflect-padded to a multiple of
              f first); each is inpainted at that size and its pixels are put back in place
              (DeepGIN's test time, Li et al. 2020, section 6.1, and the authors' code, which
              resize to a multiple of 256 first; here nothing is resampled).
        max_size: int or None. Largest side the network sees with "tile", "resize" and
            "polyphase" (needed there; for DeepGIN the training size, 256); not used by "pad"
            (where giving it is an error).
        tile_overlap: int or None. Overlap of neighbouring tiles in pixels (default: a quarter
            of the tile side).
        postprocess: str. "none", or "telea_poisson": GLCIC's post-processing (Iizuka et al.
            2017, section 3.4: a Telea fill Poisson-blended with the network's output, see
            `tfinpaint.postprocess.telea_poisson_blend`); hole pixels are then 8-bit quantised.
        ensemble: bool. Test-time self-ensemble (DeepGIN's authors' test code): every network
            call becomes five, on the image as it is, rotated by 90, 180 and 270 degrees, and
            flipped left-right; their raw outputs are turned back and averaged before the known
            pixels are pasted back (`models.SelfEnsemble`). Five times the compute; any model.
            A generator that is already a `SelfEnsemble` (a checkpoint shipped with
            `ensemble=True`) runs as it is either way.

    Returns:
        Array of the shape and dtype of `image`: hole pixels from the network (rounded for
        uint8 and uint16, clipped to [0, 1] for float), every other pixel exactly the input's.

    Raises:
        ValueError: a bad image, a mask of another size (naming both sizes), an unknown
            strategy or post-processing, or a bad `max_size` / `tile_overlap`.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"Received an image of shape {image.shape}; expected (H, W, 3).")
    if image.dtype not in (np.uint8, np.uint16) and not np.issubdtype(image.dtype, np.floating):
        raise ValueError(
            f"Received an image of dtype {image.dtype}; expected uint8, uint16 or float in [0, 1]."
        )
    holes = imageops.binary_holes(hole_mask, image.shape)
    if image.dtype == np.uint16:  # Run in float; only hole pixels are converted back.
        filled = inpaint(
            generator,
            image.astype(np.float32) / 65535.0,
            holes,
            strategy=strategy,
            max_size=max_size,
            tile_overlap=tile_overlap,
            postprocess=postprocess,
            ensemble=ensemble,
        )
        return imageops.paste_holes(image, holes, imageops.from_unit_float(filled, np.uint16))
    if strategy not in STRATEGIES:
        raise ValueError(f"Received strategy={strategy!r}; expected one of {STRATEGIES}.")
    if postprocess not in POSTPROCESSING:
        raise ValueError(f"Received postprocess={postprocess!r}; expected one of {POSTPROCESSING}.")
    multiple = generator.size_multiple
    if strategy == "pad":
        if max_size is not None:
            raise ValueError(
                f"Received max_size={max_size} with strategy='pad', which always runs the whole "
                "image; use strategy='tile' or 'resize' to bound the size."
            )
    elif not isinstance(max_size, (int, np.integer)) or max_size < multiple:
        raise ValueError(
            f"Received max_size={max_size!r} with strategy={strategy!r}; expected an int >= "
            f"{multiple} (the generator's size multiple)."
        )
    if not holes.any():
        return image.copy()

    if image.dtype == np.uint8:
        pixels = image.astype(np.float32) / 255.0
    else:
        pixels = np.clip(image.astype(np.float32), 0.0, 1.0)
    height, width = holes.shape

    if ensemble and not isinstance(generator, SelfEnsemble):
        generator = SelfEnsemble(generator)

    def run(pixels, holes):  # Raw output (h, w, 3) of one network view of (part of) the image.
        return _run_padded(generator, pixels, holes, multiple)

    if strategy == "tile" and max(height, width) > max_size:
        raw = _run_tiles(run, pixels, holes, multiple, max_size, tile_overlap)
    elif strategy == "resize" and max(height, width) > max_size:
        raw = _run_resized(run, pixels, holes, max_size)
    elif strategy == "polyphase" and max(height, width) > max_size:
        raw = _run_polyphase(run, pixels, holes, max_size)
    else:
        raw = run(pixels, holes)
    result = imageops.paste_holes(image, holes, imageops.from_unit_float(raw, image.dtype))
    if postprocess == "telea_poisson":
        result = postprocess_lib.telea_poisson_blend(result, holes)
    return result


def _run_padded(generator, pixels, holes, multiple):
    """Raw network output (H, W, 3) float32 for one image, reflect-padded to `multiple`.

    `pixels` and `holes` may also be batches, (N, H, W, 3) and (N, H, W): the output is then
    (N, H, W, 3).
    """
    batched = pixels.ndim == 4
    if not batched:
        pixels, holes = pixels[None], holes[None]
    images, size = imageops.reflect_pad_to_multiple(pixels, multiple)
    hole_masks, _ = imageops.reflect_pad_to_multiple(holes[..., None].astype(np.float32), multiple)
    outputs = generator({"images": images, "masks": hole_masks}, training=False)
    raw = np.asarray(imageops.crop_to_size(tf.cast(outputs["raw"], tf.float32), size))
    return raw if batched else raw[0]


def _tile_starts(size, tile, overlap):
    """Evenly spread tile origins covering [0, size) with overlaps of at least `overlap`."""
    if size <= tile:
        return [0]
    count = int(np.ceil((size - tile) / (tile - overlap))) + 1
    return sorted({round(v) for v in np.linspace(0, size - tile, count)})


def _ramp(length, ramp, at_start, at_end):
    """1D blending weights of one tile: linear ramps of `ramp` pixels at inner edges."""
    position = np.arange(length, dtype=np.float32) + 0.5
    weights = np.ones(length, np.float32)
    if ramp > 0:
        if not at_start:
            weights = np.minimum(weights, position / ramp)
        if not at_end:
            weights = np.minimum(weights, (length - position) / ramp)
    return weights


def _run_tiles(run, pixels, holes, multiple, max_size, tile_overlap):
    tile = max_size // multiple * multiple
    overlap = tile // 4 if tile_overlap is None else tile_overlap
    if not isinstance(overlap, (int, np.integer)) or not 0 <= overlap < tile:
        raise ValueError(
            f"Received tile_overlap={tile_overlap!r}; expected an int in [0, {tile}) for tiles "
            f"of {tile} px."
        )
    height, width = holes.shape
    total = np.zeros((height, width, 3), np.float32)
    weight_sum = np.zeros((height, width, 1), np.float32)
    for top in _tile_starts(height, tile, overlap):
        bottom = min(top + tile, height)
        row_weights = _ramp(bottom - top, overlap, top == 0, bottom == height)
        for left in _tile_starts(width, tile, overlap):
            right = min(left + tile, width)
            tile_holes = holes[top:bottom, left:right]
            if not tile_holes.any():  # Its output would only land on known pixels.
                continue
            raw = run(pixels[top:bottom, left:right], tile_holes)
            col_weights = _ramp(right - left, overlap, left == 0, right == width)
            weights = (row_weights[:, None] * col_weights[None, :])[..., None]
            total[top:bottom, left:right] += raw * weights
            weight_sum[top:bottom, left:right] += weights
    # Pixels no tile covered are known pixels (every hole lies in a tile that was run).
    return total / np.maximum(weight_sum, 1e-12)


def _run_resized(run, pixels, holes, max_size):
    height, width = holes.shape
    scale = max_size / max(height, width)
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))  # cv2: (w, h)
    small_pixels = cv2.resize(pixels, small_size, interpolation=cv2.INTER_AREA)
    # A low-resolution pixel that overlaps any hole is a hole: no hole content leaks in.
    small_holes = cv2.resize(holes.astype(np.float32), small_size, interpolation=cv2.INTER_AREA)
    small_raw = run(small_pixels, small_holes > 0)
    return cv2.resize(small_raw, (width, height), interpolation=cv2.INTER_LINEAR)


def _run_polyphase(run, pixels, holes, max_size):
    """Raw output (H, W, 3) assembled from f_h x f_w polyphase sub-images of <= max_size."""
    height, width = holes.shape
    factor_h, factor_w = -(-height // max_size), -(-width // max_size)
    # Reflect-pad to multiples of the factors so that every phase has the same size.
    pad_h, pad_w = -height % factor_h, -width % factor_w
    padded = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    padded_holes = np.pad(holes, ((0, pad_h), (0, pad_w)), mode="reflect")
    raw = np.zeros(padded.shape, np.float32)
    for dy in range(factor_h):
        for dx in range(factor_w):
            phase_holes = padded_holes[dy::factor_h, dx::factor_w]
            if phase_holes.any():  # A phase without holes only lands on known pixels.
                phase = np.ascontiguousarray(padded[dy::factor_h, dx::factor_w])
                raw[dy::factor_h, dx::factor_w] = run(phase, np.ascontiguousarray(phase_holes))
    return raw[:height, :width]


# --- Files -----------------------------------------------------------------------------------


# What a refusal for too many pixels suggests (tools/inpaint.py and evaluate.py).
MAX_PIXELS_HINT = (
    "raise --max_pixels if this machine has the memory to decode it (--strategy=tile or "
    "--strategy=resize with --max_size then bound what the network sees), or downscale the file"
)


def _read_bytes(path, what="image", max_pixels=None):
    """The file's bytes through the image-reading gate (`tfinpaint.data.image_files`): only a
    regular file, and no more than `max_pixels` by its header."""
    return image_files.read_image_file(path, what, max_pixels, hint=MAX_PIXELS_HINT)


def _decode_unchanged(data):
    """OpenCV's decode keeping depth and alpha, or None for JPEGs (decoded with their EXIF
    rotation by `sources.decode_image_bytes`) and undecodable bytes."""
    if not data or data[:2] == b"\xff\xd8":
        return None
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # Sizes past OpenCV's own limit assert instead of returning None.
        return None
    return image if image is not None and image.size else None


def _to_rgb16(image):
    """A 16-bit OpenCV array (gray, gray+alpha, BGR or BGRA) as (H, W, 3) uint16 RGB; alpha is
    composited on white, like `sources.to_rgb8` does for 8-bit images."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] in (2, 4):
        alpha = image[:, :, -1:].astype(np.float64) / 65535.0
        color = image[:, :, :-1].astype(np.float64)
        image = np.rint(color * alpha + 65535.0 * (1.0 - alpha)).astype(np.uint16)
    if image.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))
    return np.ascontiguousarray(image[:, :, ::-1])


def read_image(path, keep_16bit=False, max_pixels=None):
    """Reads any image OpenCV decodes as (H, W, 3) RGB.

    8-bit RGB by default (16-bit, gray, alpha converted like the data pipeline:
    `tfinpaint.data.sources.decode_image_bytes`). With `keep_16bit=True` a 16-bit file (PNG,
    TIFF) comes back as uint16 with its values unchanged, so that `tools/inpaint.py` can write
    its known pixels back exactly.

    The file passes the image-reading gate first (`tfinpaint.data.image_files`): anything but
    a regular file (a FIFO, a device, a socket, a folder) is refused by what it is, and so is
    an image whose header declares more than `max_pixels` pixels (None: the process default,
    `image_files.default_max_pixels()`), before anything is decoded.
    """
    data = _read_bytes(path, "image", max_pixels)
    if keep_16bit:
        image = _decode_unchanged(data)
        if image is not None and image.dtype == np.uint16:
            return _to_rgb16(image)
    try:
        return sources.decode_image_bytes(data, name=path, max_pixels=max_pixels)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def read_hole_mask(path, polarity="hole_white", max_pixels=None):
    """Reads a mask image as an (H, W) bool array of holes.

    The mask rule (`tfinpaint.data.image_files.hole_level`, shared by every mask reader):
    masks are grayscale; a colour mask (channels that differ by more than a quarter of the
    range, e.g. red strokes painted on a photo) is refused in one sentence. Values count from
    0 to 255 (8-bit) or 65535 (16-bit), except that a mask whose largest value is 1 is a 0/1
    mask at either depth. The gray level is binarised at 0.5: with "hole_white" light pixels
    are holes, with "hole_black" dark ones. A mask with an alpha channel (RGBA, gray + alpha)
    is first composited over the *no-hole* colour (black for "hole_white", white for
    "hole_black"): transparent pixels are never holes, opaque pixels follow the colour rule,
    and a half-transparent pixel is a hole only if its composite is still past 0.5 (for
    "hole_white", gray x alpha >= 0.5). 16-bit masks are read at full depth. A mask may have
    no hole at all (`check_jobs` then returns a warning, evaluation refuses it).

    The file passes the image-reading gate first, as in `read_image`.
    """
    if polarity not in MASK_POLARITIES:
        raise ValueError(f"Received polarity={polarity!r}; expected one of {MASK_POLARITIES}.")
    return image_files.read_hole_level(path, polarity, max_pixels, hint=MAX_PIXELS_HINT) >= 0.5


def _list_folder(folder, what):
    by_stem = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        stem, extension = os.path.splitext(name)
        if name.startswith(".") or extension.lower() not in FOLDER_EXTENSIONS:
            continue
        if not image_files.is_regular_file(path):  # A FIFO would block, a folder is no image.
            logger.warning(
                "Skipping %s in the %s folder: it is %s, not a regular file",
                path,
                what,
                image_files.describe_file_type(path),
            )
            continue
        if stem in by_stem:
            raise ValueError(
                f"The {what} folder {folder} holds two files with the stem '{stem}' "
                f"({os.path.basename(by_stem[stem])} and {name}); expected one per stem."
            )
        by_stem[stem] = path
    if not by_stem:
        raise ValueError(
            f"No {what} files in {folder}; expected {', '.join(FOLDER_EXTENSIONS)} files."
        )
    return by_stem


def same_file(a, b):
    """True when `a` and `b` name one file: the same path, or the same device and inode (a hard
    link or a bind mount of the input)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # One of them does not exist (yet).
        return False


def plan_jobs(image, mask, output, overwrite=False):
    """Checks the paths of an inpainting run and lists its (image, mask, output) triples.

    Either three files (`output` is the file to write, its extension picks the format) or three
    folders: every image in `image` (png, jpg, jpeg, bmp, webp, tif, tiff; not recursive) is
    paired with the file of the same stem in `mask`, and written to `output/STEM.png` (PNG keeps
    the known pixels exact). All checks run before any work.

    Raises:
        ValueError: a missing input, a mix of files and folders, images without masks (the first
            few are listed), an output that is an input, or an existing output without
            `overwrite`.
    """
    for name, path in (("image", image), ("mask", mask)):
        if not path or not os.path.exists(path):
            raise ValueError(f"The {name} path {path!r} does not exist.")
    if not output:
        raise ValueError("No output path given; expected a file (or a folder for folders).")
    if os.path.isdir(image) != os.path.isdir(mask):
        raise ValueError(
            f"Received image={image} and mask={mask}; expected two files or two folders."
        )
    if os.path.isdir(image):
        if os.path.exists(output) and not os.path.isdir(output):
            raise ValueError(f"The output {output} is a file; expected a folder for folders.")
        images = _list_folder(image, "image")
        masks = _list_folder(mask, "mask")
        missing = [stem for stem in images if stem not in masks]
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise ValueError(
                f"{len(missing)} image(s) in {image} have no mask of the same stem in {mask}: "
                f"{shown}."
            )
        jobs = [(images[stem], masks[stem], os.path.join(output, f"{stem}.png")) for stem in images]
        inputs = list(images.values()) + list(masks.values())
    else:
        if os.path.isdir(output):
            raise ValueError(f"The output {output} is a folder; expected a file path.")
        jobs = [(image, mask, output)]
        inputs = [image, mask]
    checked_folders = set()  # check_writable probes a folder with a file: once per folder.
    for _, _, out_path in jobs:
        if any(same_file(out_path, path) for path in inputs):
            raise ValueError(f"The output {out_path} is an input file; choose another output.")
        if not cv2.haveImageWriter(out_path):
            raise ValueError(f"Cannot write {out_path}: OpenCV has no writer for its extension.")
        if os.path.isdir(out_path):
            raise ValueError(f"The output {out_path} is a folder; expected a file path.")
        folder = os.path.dirname(os.path.abspath(out_path))
        if folder not in checked_folders:
            files.check_writable(out_path)
            checked_folders.add(folder)
    existing = [out for _, _, out in jobs if os.path.exists(out)]
    if existing and not overwrite:
        shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
        raise ValueError(
            f"{len(existing)} output file(s) already exist ({shown}); pass --overwrite to "
            "replace them."
        )
    return jobs


def _read_pair(image_path, mask_path, polarity, max_pixels=None):
    image = read_image(image_path, keep_16bit=True, max_pixels=max_pixels)
    try:
        holes = read_hole_mask(mask_path, polarity, max_pixels=max_pixels)
    except ValueError as error:
        message = str(error)
        raise ValueError(message if mask_path in message else f"{mask_path}: {message}") from None
    if holes.shape != image.shape[:2]:
        raise ValueError(
            f"The mask {mask_path} is {holes.shape[0]}x{holes.shape[1]} (HxW) but the image "
            f"{image_path} is {image.shape[0]}x{image.shape[1]}; expected the same size."
        )
    return image, holes


def empty_mask_warning(mask_path, polarity):
    """The warning for a mask without a single hole pixel (the output is then the input)."""
    colour = "white" if polarity == "hole_white" else "black"
    return (
        f"the mask {mask_path} has no hole pixel ({colour} pixels are holes with "
        f"--mask_polarity={polarity}), so its output is the input unchanged; check the mask's "
        "polarity and values."
    )


def check_jobs(jobs, polarity="hole_white", max_pixels=None):
    """Reads every (image, mask) pair of `plan_jobs` once, before anything is written.

    Returns:
        dict with `warnings` (one sentence per mask without any hole pixel, whose output will
        be its input) and `sizes` ((height, width) of every image, in job order).

    Raises:
        ValueError: naming how many pairs are bad and the first problem (not a regular file,
            more than `max_pixels`, an undecodable image or mask, a colour mask, or a mask
            whose size differs from its image's).
    """
    problems, warnings, sizes = [], [], []
    for image_path, mask_path, _ in jobs:
        try:
            image, holes = _read_pair(image_path, mask_path, polarity, max_pixels)
        except ValueError as error:
            problems.append(str(error).rstrip("."))
            continue
        sizes.append(image.shape[:2])
        if not holes.any():
            warnings.append(empty_mask_warning(mask_path, polarity))
    if problems:
        if len(jobs) == 1:
            raise ValueError(problems[0] + ".")
        raise ValueError(
            f"{len(problems)} of {len(jobs)} image/mask pairs cannot be inpainted, so nothing "
            f"was written; first: {problems[0]}."
        )
    return {"warnings": warnings, "sizes": sizes}


# Peak bytes of network activations per pixel the network sees, per view, in eager float32
# inference, for networks whose graph cannot be traced (and for training before a generator
# exists): the largest measured among the paper presets (WORKSPACE.md, inference tables:
# PConv 4.1 KiB, DeepGIN 4.7 KiB, GAIN 2.7 KiB per pixel between 256 and 1024 px), rounded up.
ACTIVATION_BYTES_PER_PIXEL = 5 * 1024
# A training step: forward activations kept for the backward pass, plus their gradients.
TRAINING_MEMORY_FACTOR = 2
# float32 working copies of the whole image that inference holds besides the network: the
# pixels, the raw output, the tile sums and weights, the blended result (~12 floats / pixel).
_IMAGE_BYTES_PER_PIXEL = 48
# The side of the probe `activation_bytes` traces a generator at (rounded up to its size
# multiple), and the factor from the graph walk's live-tensor peak to the peak RSS measured in
# eager inference (what the walk does not see: Keras holding layer outputs longer, kernel
# scratch space, the allocator). Measured at 1024 px, one view, on 2026-12-06 (the session's
# /tmp/mem_probe.py: RSS high-water mark over a warmed-up process): pconv_small_photos
# 1229 B/px against a walk of 283, deepgin_narrow_photos 1293 against 530, glcic_narrow_photos
# 2842 against 253; 4 covers the first two and halves GLCIC's shortfall, so the traced
# estimate refuses what certainly cannot fit rather than all that might not.
_PROBE_SIDE = 128
_ACTIVATION_MARGIN = 4.0
# Ops whose outputs are weights, constants or inputs, counted elsewhere or not at all.
_NOT_ACTIVATIONS = frozenset(
    ("Const", "Placeholder", "VarHandleOp", "ReadVariableOp", "NoOp", "Identity", "Shape")
)
_TRACED_BYTES_PER_PIXEL = {}


def _network_side(side, multiple):
    return -(-side // multiple) * multiple


def _graph_peak_bytes(generator, side):
    """The peak bytes of live tensors when `generator`'s graph runs one side x side view.

    Walks the traced graph's ops in order (a topological order), adding each op's outputs when
    it runs and dropping each tensor after its last reader: the liveness peak of sequential
    execution. Weights and constants are not counted.
    """
    spec = {
        "images": tf.TensorSpec((1, side, side, 3), tf.float32),
        "masks": tf.TensorSpec((1, side, side, 1), tf.float32),
    }
    graph = (
        tf.function(lambda batch: generator(batch, training=False))
        .get_concrete_function(spec)
        .graph
    )
    operations = graph.get_operations()
    last_reader = {}
    for index, operation in enumerate(operations):
        for tensor in operation.inputs:
            last_reader[tensor.name] = index
    live, peak, sizes = 0, 0, {}
    for index, operation in enumerate(operations):
        if operation.type not in _NOT_ACTIVATIONS:
            for tensor in operation.outputs:
                shape = tensor.shape
                if tensor.dtype.is_floating and shape.is_fully_defined():
                    sizes[tensor.name] = shape.num_elements() * tensor.dtype.size
                    live += sizes[tensor.name]
        peak = max(peak, live)
        for tensor in list(operation.inputs) + list(operation.outputs):
            if last_reader.get(tensor.name, index) <= index and tensor.name in sizes:
                live -= sizes.pop(tensor.name)
    return peak


def activation_bytes(generator, network_pixels, traced=False):
    """Estimated peak bytes of one view's activations for an input of `network_pixels`.

    By default the bound `ACTIVATION_BYTES_PER_PIXEL * N`, which costs nothing. With
    `traced=True`, from the generator's own graph: its live-tensor peak per pixel at one
    probe size, times a margin, cached per generator. Tracing takes seconds (tens for GAIN),
    so the checks only trace when the bound says an image might not fit: a narrow network
    needs several times less than the bound (pconv_small_photos: 1080p by pad fits in about
    8 GB, five times less than the bound says).
    """
    if not traced:
        return ACTIVATION_BYTES_PER_PIXEL * network_pixels
    network = getattr(generator, "generator", generator)  # A SelfEnsemble's single network.
    key = id(network)
    if key not in _TRACED_BYTES_PER_PIXEL:
        try:
            multiple = int(getattr(network, "size_multiple", 1) or 1)
            side = _network_side(_PROBE_SIDE, multiple)
            per_pixel = _graph_peak_bytes(network, side) / (side * side) * _ACTIVATION_MARGIN
        except Exception:  # noqa: BLE001 (an untraceable network: the measured bound)
            per_pixel = ACTIVATION_BYTES_PER_PIXEL
        _TRACED_BYTES_PER_PIXEL[key] = per_pixel
    return _TRACED_BYTES_PER_PIXEL[key] * network_pixels


def _ensemble_views(generator, height, width):
    """Views a network call runs at once: a `SelfEnsemble` batches its five views for a square
    input, and three then two for another (its (H, W) and (W, H) groups)."""
    if not isinstance(generator, SelfEnsemble):
        return 1
    return 5 if height == width else 3


def estimate_inpaint_bytes(
    generator, image_size, strategy="pad", max_size=None, views=None, traced=False
):
    """A conservative estimate of the peak memory `inpaint` needs for one image, in bytes.

    The sum of the generator's weights (4 bytes per parameter), the whole image's float32
    working copies, and the network's activations (`activation_bytes`: a bound, or with
    `traced=True` from the generator's own graph) for the largest input the chosen strategy
    feeds the network (pad: the whole image padded to the size multiple; tile: one tile of at
    most `max_size`; resize and polyphase: at most `max_size` per side), times the views run
    in one batch (5 for a self-ensemble).

    Args:
        generator: keras.Model with `size_multiple` (a `SelfEnsemble` counts its views).
        image_size: (height, width).
        strategy: "pad", "tile", "resize" or "polyphase".
        max_size: int or None (for tile, resize and polyphase).
        views: int or None. Views per network call (default: a `SelfEnsemble` batches 5 views
            of a square image, 3 of another; a single network 1).
        traced: bool. Trace the generator's graph for its activations (`activation_bytes`).
    """
    height, width = (int(v) for v in image_size)
    multiple = int(getattr(generator, "size_multiple", 1) or 1)
    if views is None:
        views = _ensemble_views(generator, height, width)
    if strategy == "pad" or max_size is None or max(height, width) <= max_size:
        network_pixels = _network_side(height, multiple) * _network_side(width, multiple)
    else:
        side = _network_side(int(max_size), multiple)
        network_pixels = side * side
    weights = 4 * int(generator.count_params()) if generator.built else 0
    return int(
        weights
        + _IMAGE_BYTES_PER_PIXEL * height * width
        + activation_bytes(generator, network_pixels, traced) * views
    )


def available_memory_bytes():
    """Memory the system can give this process now (psutil's `available`, else MemAvailable
    of /proc/meminfo), or None when unknown.

    None too when TensorFlow sees a GPU: the network then runs in the GPU's memory, which this
    does not measure (TensorFlow reports its own out-of-memory errors there), so the memory
    checks step aside.
    """
    try:
        if tf.config.list_physical_devices("GPU"):
            return None
    except Exception:  # noqa: BLE001 (no device list: treat as CPU only)
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 (psutil missing or failing: try /proc)
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_inpaint_memory(
    generator, sizes, strategy="pad", max_size=None, available=None, views=None
):
    """Refuses, before any work, an inpainting run whose estimate exceeds the memory available.

    Args:
        generator: the loaded generator (or its `SelfEnsemble`).
        sizes: iterable of (height, width), e.g. `check_jobs(...)["sizes"]`.
        strategy, max_size: as for `inpaint`.
        available: int bytes, or None for `available_memory_bytes()` (nothing is checked when
            that is unknown).
        views: as for `estimate_inpaint_bytes`.

    Raises:
        ValueError: one sentence naming the image size, the estimate, the memory available and
            a strategy that fits (`--strategy=tile --max_size=N`), or saying none does.
    """
    sizes = [tuple(size) for size in sizes]
    if not sizes:
        return
    available = available_memory_bytes() if available is None else int(available)
    if available is None:
        return
    largest = max(sizes, key=lambda size: size[0] * size[1])

    def need(strategy, max_size):  # The free bound first; the traced graph only past it.
        bound = estimate_inpaint_bytes(generator, largest, strategy, max_size, views)
        if bound <= available:
            return bound
        return estimate_inpaint_bytes(generator, largest, strategy, max_size, views, traced=True)

    needed = need(strategy, max_size)
    if needed <= available:
        return
    gib = 1024.0**3
    multiple = int(getattr(generator, "size_multiple", 1) or 1)
    fits = None
    for tile in (2048, 1024, 512, 256, 128):
        tile = max(multiple, tile // multiple * multiple)
        if need("tile", tile) <= available:
            fits = tile
            break
    advice = (
        f"use --strategy=tile --max_size={fits} (or --strategy=resize --max_size={fits}), "
        "which bound what the network sees"
        if fits
        else "no strategy fits: downscale the image or free memory"
    )
    raise ValueError(
        f"Inpainting the {largest[0]}x{largest[1]} (HxW) image with --strategy={strategy}"
        + (f" --max_size={max_size}" if max_size else "")
        + f" needs about {needed / gib:.1f} GiB by estimate, but {available / gib:.1f} GiB of "
        f"memory is available; {advice}."
    )


def check_batch_memory(
    generator,
    batch_size,
    image_size,
    available=None,
    views=None,
    flag="--batch_size",
    training=False,
):
    """Refuses, before any work, a batch whose network activations cannot fit in memory.

    The estimate is `estimate_inpaint_bytes`' for one `image_size` square image, with the
    activations times `batch_size` (evaluation runs the generator on a whole batch at once):
    a batch too large for memory is one sentence naming the largest that fits, instead of
    std::bad_alloc or a killed process mid-run.

    Args:
        generator: the loaded generator (or its `SelfEnsemble`).
        batch_size: int.
        image_size: int. Side of the square images.
        available: int bytes, or None for `available_memory_bytes()` (unknown: no check).
        views: as for `estimate_inpaint_bytes`.
        flag: str. The flag named in the message.
        training: bool. A training step keeps every activation for the backward pass and
            holds their gradients too: the activations count `TRAINING_MEMORY_FACTOR` times
            (discriminators and the VGG loss add more; the estimate is a floor there).
            `generator` may then be None (not built yet: its weights are not counted).

    Raises:
        ValueError: the estimate exceeds the memory available.
    """
    available = available_memory_bytes() if available is None else int(available)
    if available is None:
        return

    factor = TRAINING_MEMORY_FACTOR if training else 1

    def need(batch):  # The free bound first; the traced graph only past it.
        per_image = 5 if isinstance(generator, SelfEnsemble) else 1
        batch_views = (per_image if views is None else views) * batch * factor
        if generator is None:
            return ACTIVATION_BYTES_PER_PIXEL * image_size * image_size * batch_views
        size = (image_size, image_size)
        bound = estimate_inpaint_bytes(generator, size, views=batch_views)
        if bound <= available:
            return bound
        return estimate_inpaint_bytes(generator, size, views=batch_views, traced=True)

    if need(batch_size) <= available:
        return
    fits = batch_size
    while fits > 1 and need(fits) > available:
        fits //= 2
    gib = 1024.0**3
    advice = (
        f"pass {flag}={fits} or less"
        if need(fits) <= available
        else "even one image does not fit: use a smaller --image_size or free memory"
    )
    raise ValueError(
        f"{flag}={batch_size} at {image_size} px needs about {need(batch_size) / gib:.1f} GiB "
        f"by estimate, but {available / gib:.1f} GiB of memory is available; {advice}."
    )


def inpaint_file(
    generator,
    image_path,
    mask_path,
    output_path,
    polarity="hole_white",
    max_pixels=None,
    **kwargs,
):
    """Reads an image and its mask, inpaints (`inpaint` keyword arguments) and writes the result.

    16-bit images are inpainted and written at 16 bits (PNG, TIFF), so their known pixels come
    back exactly too.

    Returns:
        The fraction of hole pixels.
    """
    image, holes = _read_pair(image_path, mask_path, polarity, max_pixels)
    write_image(output_path, inpaint(generator, image, holes, **kwargs))
    return float(holes.mean())
