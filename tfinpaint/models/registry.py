"""The one place model families are named (STYLE.md rule 4).

Each family maps its name to its generator class and presets, its discriminator builder where it
has one, and its trainer. Everything is referenced as "module:attribute" and imported on first
use, so listing models is cheap and `tfinpaint.models` never imports `tfinpaint.training` (the
import flow is training -> models, never back).

Example:
```python
from tfinpaint import models
models.list_models()  # ["pconv", ...]
generator = models.build_generator("pconv", preset="tiny")
```
"""

import copy
import dataclasses
import importlib
import inspect
import json

from tfinpaint import precision as precision_lib


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """What the registry knows of one family.

    Args:
        name: str. The family's name, as users type it (`--model=NAME`).
        generator: str. "module:Class" of the generator (an `InpaintingGenerator`).
        presets: str. "module:DICT" of the family's one preset table: {preset: {"generator":
            constructor kwargs, "discriminators": {name: constructor kwargs}, "training":
            TrainConfig defaults with the trainer's "options"}}.
        trainer: str. "module:Class" of the family's trainer (an `InpaintingTrainer`).
        discriminators: dict of name -> "module:Class". The family's discriminators (empty
            for a family trained without one); each preset gives their constructor kwargs.
        reference: str. The paper the family reimplements.
        inference_precisions: tuple of str. The `--precision` values its generator offers for
            inference, the first being the default: "float32", and "bfloat16" once its quality
            cost was measured small enough (`tfinpaint.precision`; WORKSPACE.md).
        precision_notes: dict of precision -> str. Why a precision is not offered (the
            measurement), quoted in the error.
    """

    name: str
    generator: str
    presets: str
    trainer: str
    discriminators: dict = dataclasses.field(default_factory=dict)
    reference: str = ""
    inference_precisions: tuple = ("float32",)
    precision_notes: dict = dataclasses.field(default_factory=dict)

    def load(self, field):
        """Imports and returns the object named by `field` ("generator", "trainer", ...)."""
        return _import(getattr(self, field))

    def preset_names(self):
        return sorted(self.load("presets"))


def _import(target):
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


_FAMILIES = {}


def register_family(family):
    """Adds `family` (a ModelFamily) to the registry; its name must be new.

    Families outside tfinpaint (a test's toy family, a user's own) register the same way as
    the built-in ones.
    """
    if family.name in _FAMILIES:
        raise ValueError(f"A model family named '{family.name}' is already registered.")
    _FAMILIES[family.name] = family


def unregister_family(name):
    """Removes the family `name` (for tests that register a temporary one)."""
    _FAMILIES.pop(name, None)


# bfloat16 inference is offered where its measured quality cost is below 0.1 dB of hole PSNR
# against the ground truth (WORKSPACE.md, "bfloat16 and PyTorch side by side": a trained demo run
# of each family evaluated in float32 and in bfloat16 on issue 14's held-out photos).
_BFLOAT16_MEASURED = ("float32", "bfloat16")

register_family(
    ModelFamily(
        name="pconv",
        generator="tfinpaint.models.pconv:PConvUNet",
        presets="tfinpaint.models.pconv:PRESETS",
        trainer="tfinpaint.training.pconv:PConvTrainer",
        reference="Liu et al., Image Inpainting for Irregular Holes Using Partial "
        "Convolutions, ECCV 2018",
        inference_precisions=_BFLOAT16_MEASURED,
    )
)

register_family(
    ModelFamily(
        name="glcic",
        generator="tfinpaint.models.glcic:GLCICCompletionNetwork",
        presets="tfinpaint.models.glcic:PRESETS",
        trainer="tfinpaint.training.glcic:GLCICTrainer",
        discriminators={"global_local": "tfinpaint.models.glcic:GLCICDiscriminator"},
        reference="Iizuka et al., Globally and Locally Consistent Image Completion, SIGGRAPH 2017",
        inference_precisions=_BFLOAT16_MEASURED,
    )
)

register_family(
    ModelFamily(
        name="cascade",
        generator="tfinpaint.models.cascade:CascadeGenerator",
        presets="tfinpaint.models.cascade:PRESETS",
        trainer="tfinpaint.training.cascade:CascadeTrainer",
        discriminators={
            "stage_1": "tfinpaint.models.cascade:CascadeDiscriminator",
            "stage_2": "tfinpaint.models.cascade:CascadePyramidDiscriminator",
        },
        reference="Shatokhin, Cascaded neural networks for image inpainting (seed 000)",
        inference_precisions=_BFLOAT16_MEASURED,
    )
)

register_family(
    ModelFamily(
        name="deepgin",
        generator="tfinpaint.models.deepgin:DeepGINGenerator",
        presets="tfinpaint.models.deepgin:PRESETS",
        trainer="tfinpaint.training.deepgin:DeepGINTrainer",
        discriminators={
            "scale_1": "tfinpaint.models.deepgin:DeepGINDiscriminator",
            "scale_2": "tfinpaint.models.deepgin:DeepGINDiscriminator",
        },
        reference="Li et al., DeepGIN: Deep Generative Inpainting Network for Extreme Image "
        "Inpainting, ECCV 2020 workshops",
        inference_precisions=_BFLOAT16_MEASURED,
    )
)

register_family(
    ModelFamily(
        name="gain",
        generator="tfinpaint.models.gain:GAINGenerator",
        presets="tfinpaint.models.gain:PRESETS",
        trainer="tfinpaint.training.gain:GAINTrainer",
        discriminators={
            "image": "tfinpaint.models.gain:GAINDiscriminator",
            "gradient": "tfinpaint.models.gain:GAINDiscriminator",
        },
        reference="Zhang et al., GAIN: Gradient Augmented Inpainting Network for Irregular "
        "Holes, ACM MM 2019",
        # bfloat16 measured on gain_narrow_photos (2026-12-07): 18.22 against 18.24 dB mean
        # hole PSNR on 116 held-out images (docs/experiments/2026-12-07-best-classical.md).
        inference_precisions=_BFLOAT16_MEASURED,
    )
)


def list_models():
    """Names of the registered model families, in the order they were added."""
    return list(_FAMILIES)


def get_family(name):
    """The ModelFamily called `name`; a ValueError listing the known names otherwise."""
    if name not in _FAMILIES:
        raise ValueError(f"Unknown model '{name}': expected one of {', '.join(_FAMILIES)}.")
    return _FAMILIES[name]


def check_inference_precision(name, precision):
    """Refuses an inference precision the family `name` does not offer, in one sentence.

    Raises:
        ValueError: an unknown precision (not in `precision.INFERENCE_PRECISIONS`), or one the
            family's registry entry leaves out (the entry's note says why, e.g. the measured
            quality cost of bfloat16).
    """
    if precision not in precision_lib.INFERENCE_PRECISIONS:
        raise ValueError(
            f"--precision must be one of {', '.join(precision_lib.INFERENCE_PRECISIONS)}, got "
            f"'{precision}'."
        )
    family = get_family(name)
    if precision not in family.inference_precisions:
        reason = family.precision_notes.get(precision, "it was not measured")
        raise ValueError(
            f"Model '{name}' does not offer --precision={precision} ({reason}); use "
            f"--precision={family.inference_precisions[0]}."
        )


def get_preset(name, preset="paper"):
    """The preset table entry of family `name` (a deep copy): the one lookup of presets.

    Returns:
        dict with "generator" (constructor kwargs), "discriminators" ({name: kwargs}) and
        "training" (TrainConfig defaults, with the trainer's "options").
    """
    presets = get_family(name).load("presets")
    if preset not in presets:
        raise ValueError(
            f"Unknown preset '{preset}' for model '{name}': expected one of "
            f"{', '.join(sorted(presets))}."
        )
    entry = copy.deepcopy(presets[preset])
    entry.setdefault("discriminators", {})
    entry.setdefault("training", {})
    return entry


def unknown_keys_message(what, unknown, valid):
    """One sentence naming unknown keys and the valid ones (shared by every such check)."""
    names = ", ".join(repr(name) for name in unknown)
    if not valid:
        return f"Unknown {what} {names}; this family takes none."
    return f"Unknown {what} {names}; expected keys from: {', '.join(sorted(valid))}."


def check_arguments(cls, arguments, what="argument(s)"):
    """Raises a one-sentence ValueError for keys of `arguments` that `cls()` does not take."""
    parameters = inspect.signature(cls.__init__).parameters
    valid = {
        name
        for name, p in parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    valid |= {"name", "trainable", "dtype"}  # keras.Model arguments every network takes.
    unknown = sorted(set(arguments) - valid)
    if unknown:
        raise ValueError(unknown_keys_message(f"{what} for {cls.__name__}:", unknown, valid))


def generator_config(name, /, preset="paper", **overrides):
    """The generator's constructor arguments for `preset`, with `overrides` applied."""
    generator_cls = get_family(name).load("generator")
    check_arguments(generator_cls, overrides)
    config = get_preset(name, preset)["generator"]
    config.update(overrides)
    return config


def _comparable(value):
    try:
        return json.loads(json.dumps(value))  # Tuples and lists alike.
    except (TypeError, ValueError):
        return repr(value)


def generator_overrides(name, preset, config):
    """The entries of a generator `config` that differ from what `preset` builds.

    What the preset builds is its table entry over the constructor's defaults; `name`, `dtype`
    and `trainable` are not architecture and are left out.

    Returns:
        dict of the differing entries (empty: the preset's network as it is).
    """
    generator_cls = get_family(name).load("generator")
    expected = {
        parameter.name: parameter.default
        for parameter in inspect.signature(generator_cls.__init__).parameters.values()
        if parameter.default is not inspect.Parameter.empty
    }
    expected.update(get_preset(name, preset)["generator"])
    return {
        key: value
        for key, value in config.items()
        if key in expected
        and key not in ("name", "dtype", "trainable")
        and _comparable(value) != _comparable(expected[key])
    }


def build_generator(name, /, preset="paper", **overrides):
    """Builds the generator of family `name` at `preset`, with constructor `overrides`.

    A `dtype` override (a policy such as "mixed_bfloat16") reaches every layer: the generator
    is built under that global dtype policy (see `InpaintingGenerator.build_under_policy`).
    """
    generator_cls = get_family(name).load("generator")
    return generator_cls.build_under_policy(generator_config(name, preset, **overrides))


def size_multiple(name, /, preset="paper", **overrides):
    """Input sides the generator of `name` at `preset` needs to divide, from its config alone."""
    generator_cls = get_family(name).load("generator")
    return generator_cls.size_multiple_for(generator_config(name, preset, **overrides))


def build_discriminators(name, preset="paper", **overrides):
    """Builds every discriminator of family `name` at `preset`: {discriminator name: model}.

    Args:
        name: str. A registered family.
        preset: str. One of its presets.
        **overrides: discriminator name -> dict of constructor kwargs replacing the preset's
            (e.g. `global_local={"head": "gap"}` for GLCIC).

    Returns:
        dict of name -> keras.Model, in the family's order; empty for a family without
        discriminators (PConv).
    """
    family = get_family(name)
    unknown = sorted(set(overrides) - set(family.discriminators))
    if unknown:
        raise ValueError(
            f"Model '{name}' has no discriminator {', '.join(unknown)}: its discriminators are "
            f"{', '.join(family.discriminators) or 'none'}."
        )
    configs = get_preset(name, preset)["discriminators"]
    networks = {}
    for key, target in family.discriminators.items():
        cls = _import(target)
        arguments = dict(overrides.get(key, {}))
        check_arguments(cls, arguments, f"{key} discriminator argument(s)")
        networks[key] = cls(**{**configs.get(key, {}), **arguments, "name": key})
    return networks
