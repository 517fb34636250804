"""`--init_from`: a new run starts from the generator weights of another (fine-tuning).

`initial_weights(config)` reads the source generator's weights before anything is built;
`initial_assignment(config, generator, weights)` maps them onto this run's generator (the same
architecture, or one that adds layers to the source's).
"""

from tfinpaint import runs


def initial_weights(config):
    """The weights of `--init_from`'s generator as (path, array) pairs (None without the
    flag), checked to be of this run's family, or ValueError in one sentence. Not read once the
    run has checkpoints: a resume continues from them (and works after the source is gone)."""
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
    return [(weight.path, weight.numpy()) for weight in source.weights]


def initial_assignment(config, generator, weights):
    """The values to give `generator` for `--init_from`'s (path, array) `weights`.

    The same architecture: every weight in order. A variant that adds layers to the source's
    (e.g. the cascade's `full_resolution_blocks`): each source weight goes to the weight of the
    same path and shape, and the added ones keep their initial values. Anything else is a
    ValueError in one sentence.

    Returns:
        (values, fresh): the list for `generator.set_weights` and the paths of the weights that
        keep their initial values.
    """
    shapes = [tuple(w.shape) for w in generator.weights]
    if shapes == [value.shape for _, value in weights]:
        return [value for _, value in weights], []
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
    return values, fresh
