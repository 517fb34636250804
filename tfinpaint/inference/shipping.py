"""Shipping a trained generator into the checkpoint catalogue: `NAME.json` + `NAME.weights.h5`.

`ship_checkpoint(source, name, description)` loads what `load_generator` takes (a run, a
checkpoint prefix, a saved generator), writes it into `catalogue.checkpoints_dir()` and checks
the written pair against its source. It sits above both `catalogue` (where it writes) and
`loading` (what it reads), which is why it is not in `catalogue`: loading resolves names there.

Example:
```python
from tfinpaint import inference
inference.ship_checkpoint("runs/pconv_tiny", "pconv_tiny", "A tiny PConv U-Net, 400 steps.")
```
"""

import os

import numpy as np

from tfinpaint.inference import catalogue
from tfinpaint.inference.jobs import same_file
from tfinpaint.inference.loading import load_generator
from tfinpaint.models.saving import check_weights_dtype, save_generator

__all__ = ["ship_checkpoint"]


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
        directory: str or None. Where to write (default: `catalogue.checkpoints_dir()`).
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
    if not isinstance(name, str) or not catalogue.SHIP_NAME_PATTERN.match(name):
        raise ValueError(
            f"Received the checkpoint name {name!r}; expected letters, digits, '_' and '-' "
            "(starting with a letter or digit)."
        )
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        raise ValueError(
            f"Received the description {description!r}; expected one non-empty line of text."
        )
    check_weights_dtype(weights_dtype)
    folder = catalogue.checkpoints_dir() if directory is None else os.fspath(directory)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"The checkpoints folder {folder} is a file; expected a folder.")
    json_path, weights_path = catalogue.checkpoint_paths(folder, name)
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
    shipped = load_generator(json_path, ensemble=False)
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
