"""Checks of a benchmark's settings, shared by its plans: model names, image sizes, counts.

Each raises a ValueError of one sentence naming the flag, what it got and what it takes, before
any work.
"""

from tfinpaint.models import registry
from tfinpaint.training import config as config_lib
from tfinpaint.training import loop


def resolve_models(names):
    """Expands `all` and checks every name against the registry; returns the list of names."""
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise ValueError(
            f"--model is required: one of {', '.join(registry.list_models())}, a comma list, "
            "or all."
        )
    if "all" in names:
        return registry.list_models()
    for name in names:
        registry.get_family(name)
    return names


def parse_image_sizes(values):
    """Positive integers from a list of strings (`--image_size=256,512`)."""
    try:
        sizes = [int(value) for value in values]
    except ValueError:
        sizes = []
    if not sizes or any(size <= 0 for size in sizes):
        raise ValueError(
            f"--image_size takes comma-separated positive integers, got {','.join(values)}."
        )
    return sizes


def check_positive(name, value, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"--{name} must be an integer >= {minimum}, got {value!r}.")


def check_image_sizes(model, preset, image_sizes):
    """Refuses the sizes the `preset` generator of `model` cannot take, as training does."""
    for image_size in image_sizes:
        # The loop's check reads the model, preset and generator overrides of a TrainConfig.
        loop.check_image_size(
            config_lib.TrainConfig(model=model, workdir="", preset=preset, image_size=image_size)
        )
