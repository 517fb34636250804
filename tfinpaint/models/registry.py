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

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """What the registry knows of one family.

    Args:
        name: str. The family's name, as users type it (`--model=NAME`).
        generator: str. "module:Class" of the generator (a keras.Model taking its preset's
            keyword arguments).
        presets: str. "module:DICT" of generator presets: {"paper": {...}, "tiny": {...}}.
        trainer: str. "module:Class" of the family's trainer (a keras.Model with train_step).
        discriminator: str or None. "module:function" called as
            `function(preset, **overrides)`, for families that have one.
        reference: str. The paper the family reimplements.
    """

    name: str
    generator: str
    presets: str
    trainer: str
    discriminator: str | None = None
    reference: str = ""

    def load(self, field):
        """Imports and returns the object named by `field` ("generator", "trainer", ...)."""
        target = getattr(self, field)
        if target is None:
            raise ValueError(f"Model family '{self.name}' has no {field}.")
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def preset_names(self):
        return sorted(self.load("presets"))


_FAMILIES = {}


def _register(family):
    _FAMILIES[family.name] = family


_register(
    ModelFamily(
        name="pconv",
        generator="tfinpaint.models.pconv:PConvUNet",
        presets="tfinpaint.models.pconv:PRESETS",
        trainer="tfinpaint.training.pconv:PConvTrainer",
        reference="Liu et al., Image Inpainting for Irregular Holes Using Partial "
        "Convolutions, ECCV 2018",
    )
)


_register(
    ModelFamily(
        name="glcic",
        generator="tfinpaint.models.glcic:GLCICCompletionNetwork",
        presets="tfinpaint.models.glcic:PRESETS",
        trainer="tfinpaint.training.glcic:GLCICTrainer",
        discriminator="tfinpaint.models.glcic:build_glcic_discriminator",
        reference="Iizuka et al., Globally and Locally Consistent Image Completion, SIGGRAPH 2017",
    )
)

_register(
    ModelFamily(
        name="cascade",
        generator="tfinpaint.models.cascade:CascadeGenerator",
        presets="tfinpaint.models.cascade:PRESETS",
        trainer="tfinpaint.training.cascade:CascadeTrainer",
        discriminator="tfinpaint.models.cascade:build_cascade_discriminator",
        reference="Shatokhin, Cascaded neural networks for image inpainting (seed 000)",
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


def generator_config(name, preset="paper", **overrides):
    """The generator's constructor arguments for `preset`, with `overrides` applied."""
    family = get_family(name)
    presets = family.load("presets")
    if preset not in presets:
        raise ValueError(
            f"Unknown preset '{preset}' for model '{name}': expected one of "
            f"{', '.join(sorted(presets))}."
        )
    config = dict(presets[preset])
    config.update(overrides)
    return config


def build_generator(name, preset="paper", **overrides):
    """Builds the generator of family `name` at `preset`, with constructor `overrides`."""
    generator_cls = get_family(name).load("generator")
    return generator_cls(**generator_config(name, preset, **overrides))


def build_discriminator(name, preset="paper", **overrides):
    """Builds the discriminator of family `name` (ValueError for families without one)."""
    family = get_family(name)
    if family.discriminator is None:
        raise ValueError(f"Model '{name}' has no discriminator.")
    return family.load("discriminator")(preset, **overrides)
