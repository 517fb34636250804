"""Generators and discriminators of the five families, picked by name through the registry."""

from tfinpaint.models.base import InpaintingGenerator
from tfinpaint.models.ensemble import SelfEnsemble
from tfinpaint.models.registry import (
    ModelFamily,
    build_discriminators,
    build_generator,
    generator_config,
    get_family,
    get_preset,
    list_models,
    register_family,
    size_multiple,
    unregister_family,
)
from tfinpaint.models.saving import load_saved_generator, save_generator

__all__ = [
    "InpaintingGenerator",
    "ModelFamily",
    "build_discriminators",
    "build_generator",
    "generator_config",
    "get_family",
    "get_preset",
    "list_models",
    "load_saved_generator",
    "register_family",
    "save_generator",
    "SelfEnsemble",
    "size_multiple",
    "unregister_family",
]
