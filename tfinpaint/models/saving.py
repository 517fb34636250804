"""Saving a generator on its own: `NAME.weights.h5` + `NAME.json` (family, preset, config).

This is what inference and export read (DESIGN.md, Checkpoints): no optimizer, step or
discriminator, just the network and enough to rebuild it through the registry.

The weights may be stored as float16 (`weights_dtype="float16"`, half the bytes: the shipped
checkpoints use it to fit the repository's size budget). The network itself stays float32:
Keras casts each stored array to its variable's dtype when it loads the file, so a float16 file
loads into the same float32 generator, within float16 rounding of every weight.
"""

import io
import json
import os
import tempfile

import h5py
import numpy as np

from tfinpaint import files
from tfinpaint.models import registry

WEIGHTS_DTYPES = ("float32", "float16")


def save_generator(
    generator,
    model_name,
    preset,
    directory,
    stem="generator",
    extra=None,
    weights_dtype="float32",
):
    """Writes `directory/stem.weights.h5` and `directory/stem.json`; returns the JSON path.

    Args:
        generator: keras.Model. The generator to save.
        model_name: str. Its family (a registry name).
        preset: str. The preset it was built from (recorded; the config is what rebuilds it).
        directory: str. Created when missing.
        stem: str. File names `stem.weights.h5` and `stem.json`.
        extra: dict or None. More keys for the JSON (`image_size`, `step`, `description`...).
        weights_dtype: str. "float32" (default) or "float16": the dtype of the floating-point
            arrays in the weights file (integer variables are kept as they are). float16 halves
            the file; it is refused if a weight is too large for float16 (|w| > 65504).

    Both files are written under temporary names and renamed (`tfinpaint.files.atomic_write`),
    so a kill, a full disk or a file-size limit never leaves a half-written pair behind and the
    previous pair stays loadable. Undefined numbers in `extra` are written as JSON `null`.

    Raises:
        ValueError: an unknown `weights_dtype`, or a weight float16 cannot hold.
    """
    check_weights_dtype(weights_dtype)
    os.makedirs(directory, exist_ok=True)
    weights_name = f"{stem}.weights.h5"
    description = {
        "model": model_name,
        "preset": preset,
        "config": generator.get_config(),
        "weights": weights_name,
        "weights_dtype": weights_dtype,
        **(extra or {}),
    }
    weights = _weights_bytes(generator)
    if weights_dtype == "float16":
        half = io.BytesIO()
        cast_weights_file(io.BytesIO(weights), half, np.float16)
        weights = half.getvalue()
    # Weights first, then the JSON that names them: each replaces its previous file only once
    # written in full, so a full disk leaves the previous pair loadable.
    with files.atomic_write(os.path.join(directory, weights_name), suffix=".weights.h5") as tmp:
        with open(tmp, "wb") as f:
            f.write(weights)
    json_path = os.path.join(directory, f"{stem}.json")
    files.write_json(json_path, description, indent=2, sort_keys=True, default=str)
    return json_path


def _weights_bytes(generator):
    """The generator's `.weights.h5` file, built in memory.

    HDF5 writes straight to disk: when a write fails (a full disk, a file-size limit) its file
    handle cannot be closed, and the process crashes at exit. Building the file in memory
    (Keras's own H5IOStore accepts a BytesIO) and writing its bytes from Python turns those
    failures into an OSError. Falls back to a file in the system's temporary folder if this
    Keras lacks that store.
    """
    try:
        from keras.src.saving import saving_lib

        buffer = io.BytesIO()
        store = saving_lib.H5IOStore(buffer, mode="w")
        saving_lib._save_state(
            generator,
            weights_store=store,
            assets_store=None,
            inner_path="",
            visited_saveables=set(),
        )
        store.close()
        return buffer.getvalue()
    except (ImportError, AttributeError, TypeError):
        with tempfile.TemporaryDirectory(prefix="tfinpaint-weights-") as folder:
            path = os.path.join(folder, "generator.weights.h5")
            generator.save_weights(path)
            with open(path, "rb") as f:
                return f.read()


def check_weights_dtype(weights_dtype):
    """Raises a one-sentence ValueError unless `weights_dtype` is one of WEIGHTS_DTYPES."""
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(
            f"Received weights_dtype={weights_dtype!r}; expected one of "
            f"{', '.join(WEIGHTS_DTYPES)}."
        )


def cast_weights_file(source, destination, dtype):
    """Copies a Keras `.weights.h5` file with every floating-point array cast to `dtype`.

    Groups, datasets and attributes keep their names and layout, so Keras loads the copy as it
    loads the original. A copy is written instead of converting in place because HDF5 does not
    give back the space of deleted datasets.

    Raises:
        ValueError: a finite value does not fit `dtype` (it would become infinite), naming the
            array; `destination` is then not left behind.
    """
    dtype = np.dtype(dtype)
    limit = float(np.finfo(dtype).max)
    try:
        with h5py.File(source, "r") as src, h5py.File(destination, "w") as dst:
            dst.attrs.update(src.attrs)

            def copy(name, item):
                if isinstance(item, h5py.Dataset):
                    data = np.asarray(item[()])
                    if np.issubdtype(data.dtype, np.floating):
                        finite = data[np.isfinite(data)]
                        if finite.size and float(np.abs(finite).max()) > limit:
                            raise ValueError(
                                f"The weight array {name} holds values up to "
                                f"{float(np.abs(finite).max()):.4g}, beyond {dtype.name}'s "
                                f"{limit:.4g}; save it as float32."
                            )
                        data = data.astype(dtype)
                    copied = dst.create_dataset(name, data=data)
                else:
                    copied = dst.require_group(name)
                copied.attrs.update(item.attrs)

            src.visititems(copy)
    except BaseException:
        if isinstance(destination, (str, os.PathLike)) and os.path.exists(destination):
            os.remove(destination)
        raise


def load_saved_generator(json_path, dtype=None, check_model=None):
    """Rebuilds the generator described by a `stem.json` and loads its weights.

    Weights stored as float16 are cast to the network's float32 variables on load. `dtype` (a
    dtype policy name) replaces the saved one, e.g. "mixed_bfloat16" for bfloat16 inference
    from float32 weights. `check_model`, when given, is called with the family's name before
    anything is built (it raises to refuse).
    """
    if not os.path.isfile(json_path):
        raise ValueError(f"No generator description at {json_path}.")
    with open(json_path, encoding="utf-8") as f:
        description = json.load(f)
    for key in ("model", "config", "weights"):
        if key not in description:
            raise ValueError(f"{json_path} is not a generator description: it has no '{key}'.")
    if check_model is not None:
        check_model(description["model"])
    generator_cls = registry.get_family(description["model"]).load("generator")
    config = dict(description["config"])
    if dtype is not None:
        config["dtype"] = dtype
    generator = generator_cls.from_config(config)
    weights_path = os.path.join(os.path.dirname(json_path), description["weights"])
    if not os.path.isfile(weights_path):
        raise ValueError(f"{json_path} names the weights file {weights_path}, which is missing.")
    generator.load_weights(weights_path)
    return generator, description
