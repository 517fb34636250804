"""`--init_from`: a new run starts from the generator weights of another (fine-tuning).

`initial_weights(config)` reads the source generator's weights before anything is built;
`initial_assignment(config, generator, weights, source_config)` maps them onto this run's
generator (the same architecture, or one that adds layers to the source's). A family built on the
harmonic fill (`fill_input`) can start from the same family's plain network: every weight is
loaded but those of the layers that start at zero on the fill (its correction heads), so the run
starts exactly at the fill with the source's trained trunk.
"""

import collections

import numpy as np

from tfinpaint import runs

# The `--init_from` generator: its weights as (path, array) pairs and its config.
Source = collections.namedtuple("Source", ["weights", "config"])


def initial_weights(config):
    """`--init_from`'s generator as a `Source` (None without the flag), checked to be of this
    run's family, or ValueError in one sentence. Not read once the run has checkpoints: a
    resume continues from them (and works after the source is gone)."""
    if config.init_from is None or runs.RunDir(config.workdir).has_checkpoint_files():
        return None
    from tfinpaint import inference  # Deferred: inference imports the models and data.

    try:
        # The single network: a checkpoint shipped to run as its self-ensemble holds the same
        # weights, and wrapping them only to read them back is work for nothing.
        source, info = inference.load_generator(config.init_from, with_info=True, ensemble=False)
    except ValueError as error:
        raise ValueError(f"--init_from={config.init_from}: {error}") from None
    if info["model"] != config.model:
        raise ValueError(
            f"--init_from={config.init_from} holds a {info['model']} generator; this run trains "
            f"{config.model}."
        )
    return Source([(weight.path, weight.numpy()) for weight in source.weights], source.get_config())


def initial_assignment(config, generator, weights, source_config=None):
    """The values to give `generator` for `--init_from`'s (path, array) `weights`.

    The same architecture: every weight in order. A variant that adds layers to the source's
    (e.g. the cascade's `full_resolution_blocks`): each source weight goes to the weight of the
    same path and shape, and the added ones keep their initial values. Anything else is a
    ValueError in one sentence. When `generator` is built on the fill (`fill_input`) and the
    source (`source_config`) is not, the layers whose kernel `generator` starts at zero (the
    corrections added to the fill) keep their initial values too: the source's output layers
    made an image, the fill network's make a correction of the fill.

    Returns:
        (values, fresh): the list for `generator.set_weights` and the paths of the weights that
        keep their initial values.
    """
    shapes = [tuple(w.shape) for w in generator.weights]
    if shapes == [value.shape for _, value in weights]:
        return _keep_fill_corrections(generator, [value for _, value in weights], [], source_config)
    by_path = {w.path: w for w in generator.weights}
    unmatched = [
        path
        for path, value in weights
        if path not in by_path or tuple(by_path[path].shape) != value.shape
    ]
    # Names only map weights one to one when this generator's are unique.
    if unmatched or len(by_path) != len(generator.weights):
        example = ""
        if unmatched:
            example = f" ({len(unmatched)} without a counterpart, e.g. {unmatched[0]})"
        raise ValueError(
            f"--init_from={config.init_from} holds a {config.model} generator of another "
            f"architecture than this run's (preset {config.preset}, --generator_config "
            f"{config.generator_overrides or '{}'}): its {len(weights)} weights match the "
            f"{len(shapes)} here neither in order and shape nor by name{example}."
        )
    given = dict(weights)
    fresh = [w.path for w in generator.weights if w.path not in given]
    values = [given[w.path] if w.path in given else w.numpy() for w in generator.weights]
    return _keep_fill_corrections(generator, values, fresh, source_config)


def _keep_fill_corrections(generator, values, fresh, source_config):
    """`(values, fresh)` with the fill network's zero-started layers at their initial values
    when the source is the plain network (see `initial_assignment`)."""
    if not getattr(generator, "fill_input", False) or (source_config or {}).get("fill_input"):
        return values, fresh
    layers = {
        w.path.rsplit("/", 1)[0]
        for w in generator.weights
        if w.path.endswith("/kernel") and not np.any(w.numpy())
    }
    values = list(values)
    fresh = list(fresh)
    for index, weight in enumerate(generator.weights):
        if weight.path.rsplit("/", 1)[0] in layers:
            values[index] = weight.numpy()
            if weight.path not in fresh:
                fresh.append(weight.path)
    return values, fresh
