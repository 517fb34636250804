"""Saving a generator on its own: `NAME.weights.h5` + `NAME.json` (family, preset, config).

This is what inference and export read (DESIGN.md, Checkpoints): no optimizer, step or
discriminator, just the network and enough to rebuild it through the registry.

The weights may be stored as float16 (`weights_dtype="float16"`, half the bytes: the shipped
checkpoints use it to fit the repository's size budget). The network itself stays float32:
Keras casts each stored array to its variable's dtype when it loads the file, so a float16 file
loads into the same float32 generator, within float16 rounding of every weight.
"""

import io
import os
import tempfile
import warnings

import h5py
import numpy as np

from tfinpaint import files, json_files
from tfinpaint.data import image_files
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
    weights = weights_file_bytes(generator)
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


def weights_file_bytes(model):
    """The bytes of `model.save_weights("x.weights.h5")`, built in memory.

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
            model,
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
            model.save_weights(path)
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

    Raises:
        ValueError: one sentence naming the file: a description that is not a regular file,
            not a JSON object (`check_description`), has config keys the family's generator
            does not take, or names a weights file that is missing, not HDF5, damaged
            (`check_weights_file`) or of another family or architecture.
    """
    json_path = os.fspath(json_path)
    if not os.path.lexists(json_path):
        raise ValueError(f"No generator description at {json_path}.")
    description = check_description(json_files.load_json_object(json_path, _DESCRIPTION), json_path)
    if check_model is not None:
        check_model(description["model"])
    generator_cls = registry.get_family(description["model"]).load("generator")
    # Training refuses unknown --generator_config keys; a description is held to the same.
    registry.check_arguments(generator_cls, description["config"], f"config key(s) in {json_path}")
    config = dict(description["config"])
    if dtype is not None:
        config["dtype"] = dtype
    weights_path = os.path.join(os.path.dirname(json_path), description["weights"])
    if not os.path.lexists(weights_path):
        raise ValueError(f"{json_path} names the weights file {weights_path}, which is missing.")
    check_weights_file(weights_path)
    try:
        generator = generator_cls.from_config(config)
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(
            f"{json_path} holds a config the {description['model']} generator cannot be built "
            f"from ({_first_line(error)}); expected the config that save_generator wrote."
        ) from None
    # Keras warns per unmatched container before it raises for a mismatch: the warnings are
    # held back and shown only when the load succeeds, so a refusal stays one sentence.
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("always")
        try:
            generator.load_weights(weights_path)
        except Exception as error:  # noqa: BLE001 (Keras raises many types, with pages of text)
            raise ValueError(
                _mismatch_message(weights_path, json_path, description["model"], generator, error)
            ) from None
    for warning in held:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return generator, description


_DESCRIPTION = "a generator description (an object with 'model', 'config' and 'weights')"


def check_description(description, name):
    """Checks the fields of a parsed generator description; returns it.

    `model` must be a string naming a registered family, `config` an object, `weights` a
    file name beside the JSON; optional fields (`preset`, `image_size`, `step`,
    `description`, `ensemble`, `weights_dtype`) must have their types when present. Reusable
    for any JSON object tfinpaint reads (see `tfinpaint.json_files`).

    Raises:
        ValueError: one sentence naming `name`, the field and what was expected.
    """
    model = json_files.check_field(description, "model", str, name, "a model family name")
    registry.get_family(model)  # Unknown families are named with the known ones.
    json_files.check_field(description, "config", dict, name, "the generator's config object")
    weights = json_files.check_field(
        description, "weights", str, name, "the weights file name (NAME.weights.h5)"
    )
    if not weights or os.path.isabs(weights) or os.path.dirname(weights):
        raise ValueError(
            f"'weights' in {name} is {weights!r}; expected the name of a file beside it."
        )
    for key, kind, expected in (
        ("preset", str, "a preset name"),
        ("description", str, "one line of text"),
        ("image_size", (int, type(None)), "an integer"),
        ("step", (int, type(None)), "an integer"),
        ("ensemble", bool, "true or false"),
        ("weights_dtype", str, f"one of {', '.join(WEIGHTS_DTYPES)}"),
    ):
        json_files.check_field(description, key, kind, name, expected, required=False)
    return description


def check_weights_file(path):
    """Raises a one-sentence ValueError unless `path` is a readable Keras `.weights.h5` file.

    Refused: anything but a regular file (by what it is), an empty file, a file that is not
    HDF5, and an HDF5 file that is truncated or damaged (h5py cannot open it or list it).
    """
    image_files.check_regular_file(path, "weights file")
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(
            f"The weights file {path} is empty (0 bytes); expected the HDF5 file save_generator "
            "wrote (copy it again)."
        )
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError:
        is_hdf5 = False
    if not is_hdf5:
        raise ValueError(
            f"The weights file {path} ({size} bytes) is not an HDF5 file; expected the "
            ".weights.h5 file save_generator wrote."
        )
    try:
        with h5py.File(path, "r") as weights_file:
            names = []
            weights_file.visit(names.append)
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        raise ValueError(
            f"The weights file {path} ({size} bytes) is damaged or truncated "
            f"({_first_line(error)}); expected a complete .weights.h5 file (copy it again)."
        ) from None
    if not names:
        raise ValueError(f"The weights file {path} holds no weights; expected a .weights.h5 file.")


def _first_line(error):
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:160]


def _layer_kinds(names):
    """Layer kinds from Keras layer names ('conv2d_3' -> 'conv2d'), sorted and deduplicated."""
    return sorted({name.rstrip("0123456789").rstrip("_") for name in names})


def _mismatch_message(weights_path, json_path, model, generator, error):
    try:
        with h5py.File(weights_path, "r") as weights_file:
            arrays = []
            weights_file.visititems(
                lambda name, item: arrays.append(name) if isinstance(item, h5py.Dataset) else None
            )
            file_layers = list(weights_file["layers"].keys()) if "layers" in weights_file else []
    except (OSError, RuntimeError, KeyError, ValueError):
        arrays, file_layers = [], []
    file_kinds = ", ".join(_layer_kinds(file_layers)[:6]) or "none"
    model_kinds = ", ".join(_layer_kinds(layer.name for layer in generator.layers)[:6])
    return (
        f"The weights file {weights_path} ({len(arrays)} arrays; layers {file_kinds}) does not "
        f"fit the {model} generator that {json_path} describes ({len(generator.weights)} "
        f"arrays; layers {model_kinds}): it holds another family or architecture; expected "
        f"the weights saved with this description (Keras: {_first_line(error)})."
    )
