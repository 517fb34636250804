"""Generators and discriminators of the five families, picked by name through the registry."""

from tfinpaint.models.registry import (
    ModelFamily,
    build_discriminator,
    build_generator,
    generator_config,
    get_family,
    list_models,
)
from tfinpaint.models.saving import load_saved_generator, save_generator

__all__ = [
    "ModelFamily",
    "build_discriminator",
    "build_generator",
    "generator_config",
    "get_family",
    "list_models",
    "load_saved_generator",
    "save_generator",
]
