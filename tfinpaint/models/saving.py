"""Saving a generator on its own: `NAME.weights.h5` + `NAME.json` (family, preset, config).

This is what inference and export read (DESIGN.md, Checkpoints): no optimizer, step or
discriminator, just the network and enough to rebuild it through the registry.
"""

import json
import os

from tfinpaint.models import registry


def save_generator(generator, model_name, preset, directory, stem="generator", extra=None):
    """Writes `directory/stem.weights.h5` and `directory/stem.json`; returns the JSON path.

    Both files are written under temporary names and renamed, so a kill never leaves a
    half-written pair behind.
    """
    os.makedirs(directory, exist_ok=True)
    weights_name = f"{stem}.weights.h5"
    description = {
        "model": model_name,
        "preset": preset,
        "config": generator.get_config(),
        "weights": weights_name,
        **(extra or {}),
    }
    # Keras insists on the .weights.h5 suffix, so the temporary name keeps it.
    tmp_weights = os.path.join(directory, f".tmp-{stem}.weights.h5")
    generator.save_weights(tmp_weights)
    os.replace(tmp_weights, os.path.join(directory, weights_name))
    json_path = os.path.join(directory, f"{stem}.json")
    with open(json_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(description, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.replace(json_path + ".tmp", json_path)
    return json_path


def load_saved_generator(json_path, dtype=None, check_model=None):
    """Rebuilds the generator described by a `stem.json` and loads its weights.

    `dtype` (a dtype policy name) replaces the saved one, e.g. "mixed_bfloat16" for bfloat16
    inference from float32 weights. `check_model`, when given, is called with the family's name
    before anything is built (it raises to refuse).
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
