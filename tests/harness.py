"""Shared test harness for tfinpaint layers and generators (STYLE.md rule 8; modelled on
keras-hub's `src/tests/test_case.py`).

- `run_layer_test(layer_cls, init_kwargs, input_data, ...)`: config round trip (also through
  JSON), registration, symbolic call on `keras.Input`s, eager call, mixed precision, a one-step
  `fit` of a functional model wrapping the layer, and a `.keras` save/load giving identical
  outputs. Layers with several outputs (e.g. `PartialConv2D`'s `(y, new_hole_mask)`) are handled.
- `run_generator_test(model, batch)`: the generator dict contract of DESIGN.md ("Tensor
  conventions"): `raw` and `inpainted` in the outputs, shapes, float32, finite, `inpainted`
  equal to the input image exactly at known pixels and to `raw` in the holes, and hole pixels of
  the inputs have no influence on any output.

Importing: write `from harness import run_layer_test, run_generator_test`. pytest's default
("prepend") import mode puts `tests/` itself on `sys.path` (tests/ has a conftest.py and no
`__init__.py`), so this form works under both `pytest` and `python -m pytest`. The form
`from tests.harness import ...` only works when the repository root is on `sys.path` (e.g.
`python -m pytest` from the root) and would load a second copy of the module: do not use it.
"""

import hashlib
import json
import os
import tempfile

import keras
import numpy as np

_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def float_atol(magnitude, terms, dtype="float32"):
    """The absolute tolerance between two computations of one quantity in `dtype`.

    Two correct evaluations that sum in another order (a chunked loop against one matmul,
    oneDNN's AVX-512 kernels against AVX2 or Eigen's) each err by at most
    `terms * eps * magnitude` (Higham's bound for a sum of `terms` products whose partial sums
    stay within `magnitude`), so that is the tolerance: it follows the computation, not one
    CPU's kernels (STYLE.md rule 14), and a real error (a wrong chunk, a dropped term) is
    orders of magnitude larger. Where a softmax or a long chain amplifies float32 rounding
    past what one reduction says, compare in float64 instead (`dtype="float64"`).

    Args:
        magnitude: float or array. The largest magnitude the sums reach (e.g. max |expected|).
        terms: int. The longest reduction (summed terms) on the path to one output value.
        dtype: str. The dtype both sides computed in.
    """
    return float(terms) * float(np.finfo(dtype).eps) * float(np.max(np.abs(magnitude)))


def assert_float_close(actual, expected, terms, dtype="float32", magnitude=None, err_msg=""):
    """`assert_allclose` at `float_atol(max |expected| or magnitude, terms, dtype)`."""
    expected = np.asarray(expected)
    magnitude = np.abs(expected).max() if magnitude is None else magnitude
    atol = float_atol(magnitude, terms, dtype)
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=0, atol=atol, err_msg=err_msg)


def file_digests(folder, skip=()):
    """{relative path: sha256} of every file under `folder` (links not followed), leaving out
    the relative paths in `skip`: what "byte-identical afterwards" compares."""
    digests = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, folder)
            if relative in skip:
                continue
            with open(path, "rb") as f:
                digests[relative] = hashlib.sha256(f.read()).hexdigest()
    return digests


def _to_numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


def _is_float(value):
    return keras.backend.standardize_dtype(value.dtype) in _FLOAT_DTYPES


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        v is None or isinstance(v, (int, np.integer)) for v in value
    )


def _expected_shapes(expected_output_shape, num_outputs):
    """Returns a list of shapes, one per flattened output, or None."""
    if expected_output_shape is None:
        return None
    if _is_shape(expected_output_shape):
        shapes = [tuple(expected_output_shape)]
    elif isinstance(expected_output_shape, dict):
        # keras.tree.flatten orders dict outputs by sorted key.
        shapes = [tuple(expected_output_shape[key]) for key in sorted(expected_output_shape)]
    else:
        shapes = [tuple(s) for s in expected_output_shape]
    assert len(shapes) == num_outputs, (
        f"expected_output_shape lists {len(shapes)} shapes but the layer returned "
        f"{num_outputs} outputs"
    )
    return shapes


def _json_normalize(config):
    return json.loads(json.dumps(config))


def _symbolic_inputs(input_data):
    return keras.tree.map_structure(
        lambda a: keras.Input(
            shape=tuple(a.shape[1:]), dtype=keras.backend.standardize_dtype(a.dtype)
        ),
        input_data,
    )


def _assert_outputs_equal(expected, actual, atol, what):
    expected = keras.tree.flatten(expected)
    actual = keras.tree.flatten(actual)
    assert len(expected) == len(actual), f"{what}: {len(actual)} outputs, {len(expected)} expected"
    for index, (e, a) in enumerate(zip(expected, actual)):
        np.testing.assert_allclose(
            _to_numpy(a), _to_numpy(e), rtol=0, atol=atol, err_msg=f"{what}: output {index}"
        )


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    call_kwargs=None,
    run_training_check=True,
    run_saving_check=True,
    run_mixed_precision_check=True,
    saving_atol=0.0,
):
    """Runs the standard checks on a tfinpaint layer; returns the eager outputs.

    Args:
        layer_cls: class. The layer class under test.
        init_kwargs: dict. Constructor arguments.
        input_data: array, or list/tuple/dict of arrays, passed as the layer's first argument
            (`PartialConv2D` takes the list `[x, hole_mask]`). Leading axis = batch.
        expected_output_shape: shape tuple, or a list/tuple (or dict) of shape tuples for layers
            with several outputs, in `keras.tree.flatten` order, with the eager batch size.
            The symbolic call is checked against the same shapes with batch `None`.
        expected_num_trainable_weights: int or None. Checked after the eager call.
        expected_num_non_trainable_weights: int or None. Checked after the eager call.
        call_kwargs: dict or None. Extra keyword arguments for every call of the layer.
        run_training_check: bool. One `fit` step (MSE on every float output, SGD) must give a
            finite loss and change the trainable weights, if the layer has any.
        run_saving_check: bool. Save a model wrapping the layer as `.keras`, load it back and
            compare outputs (tolerance `saving_atol`).
        run_mixed_precision_check: bool. With `dtype="mixed_float16"` the first output must be
            float16, every float output float16 or float32 and finite, and variables float32.
        saving_atol: float. Absolute tolerance of the save/load comparison (default: identical).
    """
    call_kwargs = dict(call_kwargs or {})

    # --- Registration and config round trip (also through JSON, as `.keras` files do). ---
    registered_name = keras.saving.get_registered_name(layer_cls)
    assert ">" in registered_name, (
        f"{layer_cls.__name__} is not registered with "
        "@keras.saving.register_keras_serializable(package=...)"
    )
    assert keras.saving.get_registered_object(registered_name) is layer_cls
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key in init_kwargs:
        assert key in config, f"get_config() of {layer_cls.__name__} lacks argument {key!r}"
    restored = layer_cls.from_config(config)
    assert _json_normalize(restored.get_config()) == _json_normalize(config)
    serialized = _json_normalize(keras.saving.serialize_keras_object(layer))
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is layer_cls
    assert _json_normalize(revived.get_config()) == _json_normalize(config)

    # --- Eager call. ---
    layer = layer_cls(**init_kwargs)
    eager_outputs = layer(input_data, **call_kwargs)
    flat_eager = keras.tree.flatten(eager_outputs)
    expected_shapes = _expected_shapes(expected_output_shape, len(flat_eager))
    if expected_shapes is not None:
        actual = [tuple(_to_numpy(o).shape) for o in flat_eager]
        assert actual == expected_shapes, f"eager output shapes {actual} != {expected_shapes}"
    for index, output in enumerate(flat_eager):
        if _is_float(output):
            assert np.all(np.isfinite(_to_numpy(output))), f"eager output {index} not finite"
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    # --- Symbolic call. ---
    symbolic_inputs = _symbolic_inputs(input_data)
    symbolic_outputs = layer_cls(**init_kwargs)(symbolic_inputs, **call_kwargs)
    flat_symbolic = keras.tree.flatten(symbolic_outputs)
    assert len(flat_symbolic) == len(flat_eager)
    for index, (sym, eag) in enumerate(zip(flat_symbolic, flat_eager)):
        expected = (None, *tuple(_to_numpy(eag).shape)[1:])
        if expected_shapes is not None:
            expected = (None, *expected_shapes[index][1:])
        assert tuple(sym.shape) == expected, f"symbolic output {index}: {sym.shape} != {expected}"
        assert keras.backend.standardize_dtype(sym.dtype) == keras.backend.standardize_dtype(
            eag.dtype
        ), f"symbolic output {index} dtype {sym.dtype} != eager {eag.dtype}"

    # --- Mixed precision. ---
    if run_mixed_precision_check and "dtype" not in init_kwargs:
        mixed_layer = layer_cls(**init_kwargs, dtype="mixed_float16")
        mixed_outputs = keras.tree.flatten(mixed_layer(input_data, **call_kwargs))
        float_outputs = [o for o in mixed_outputs if _is_float(o)]
        assert float_outputs and keras.backend.standardize_dtype(float_outputs[0].dtype) == (
            "float16"
        ), "under mixed_float16 the first output must be float16"
        for index, output in enumerate(float_outputs):
            assert keras.backend.standardize_dtype(output.dtype) in ("float16", "float32")
            assert np.all(np.isfinite(_to_numpy(output).astype("float32"))), (
                f"mixed_float16 output {index} not finite"
            )
        for variable in mixed_layer.weights:
            assert keras.backend.standardize_dtype(variable.dtype) == "float32", variable.path

    # --- A functional model wrapping the layer: one fit step, then save/load. ---
    if not (run_training_check or run_saving_check):
        return eager_outputs
    model_inputs = _symbolic_inputs(input_data)
    model_outputs = keras.tree.flatten(layer_cls(**init_kwargs)(model_inputs, **call_kwargs))
    model = keras.Model(model_inputs, model_outputs)

    if run_training_check:
        float_indices = [i for i, o in enumerate(flat_eager) if _is_float(o)]
        rng = np.random.default_rng(0)
        targets = [
            rng.uniform(size=_to_numpy(o).shape).astype("float32")
            if i in float_indices
            else _to_numpy(o)
            for i, o in enumerate(flat_eager)
        ]
        losses = ["mse" if i in float_indices else None for i in range(len(flat_eager))]
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.01), loss=losses, jit_compile=False
        )
        before = [_to_numpy(w).copy() for w in model.trainable_weights]
        batch_size = len(keras.tree.flatten(input_data)[0])
        history = model.fit(input_data, targets, batch_size=batch_size, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0]), "fit loss is not finite"
        if before:
            after = [_to_numpy(w) for w in model.trainable_weights]
            assert any(not np.array_equal(b, a) for b, a in zip(before, after)), (
                "one fit step changed no trainable weight (no gradient reaches the weights)"
            )

    if run_saving_check:
        expected = model(input_data)
        with tempfile.TemporaryDirectory() as tmp_dir:
            path = os.path.join(tmp_dir, "model.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
        _assert_outputs_equal(expected, loaded(input_data), saving_atol, "after .keras load")
    return eager_outputs


def random_batch(batch_size, height, width, seed=0):
    """Random images with one rectangular hole each: a generator test batch.

    The seed is offset: `run_generator_test` writes `default_rng(seed).uniform` noise into the
    holes, and noise equal to the images would make its hole-independence check vacuous.
    """
    rng = np.random.default_rng(1000 + seed)
    images = rng.uniform(size=(batch_size, height, width, 3)).astype("float32")
    masks = np.zeros((batch_size, height, width, 1), "float32")
    for b in range(batch_size):
        y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
        masks[b, y0 : y0 + height // 3, x0 : x0 + width // 3] = 1.0
    return {"images": images, "masks": masks}


def json_round_trip(config):
    """`config` as it comes back from JSON (tuples become lists), as saved configs are read."""
    return json.loads(json.dumps(config))


def _hole_mask_like(hole_mask, value):
    """Broadcasts a (B, H, W, 1) hole mask to `value`'s channels, as booleans."""
    return np.broadcast_to(hole_mask > 0.5, value.shape)


def run_generator_test(model, batch, training=False, seed=0):
    """Checks a generator's dict contract on `batch`; returns its outputs as numpy arrays.

    Args:
        model: keras.Model. A generator called as `model({"images": ..., "masks": ...})`.
        batch: dict. Model inputs: `images` (B, H, W, 3) float32 in [0, 1], `masks`
            (B, H, W, 1) float32 {0, 1} with 1 = hole, holding both holes and known pixels;
            optional extra inputs of the same height and width (e.g. `gradients`).
        training: bool. The `training` flag of the calls.
        seed: int. Seed of the noise written into the hole pixels.

    Checked: outputs are a dict with `raw` and `inpainted`, both float32 of the images' shape;
    every float output is finite; `inpainted` equals `images` exactly where `masks == 0` and
    `raw` exactly where `masks == 1`; replacing the hole pixels of every spatial input (other
    than `masks`) with noise leaves every output identical.
    """
    batch = {key: _to_numpy(value) for key, value in batch.items()}
    assert "images" in batch and "masks" in batch, f"batch keys {sorted(batch)}"
    images, hole_mask = batch["images"], batch["masks"]
    assert images.ndim == 4 and images.shape[-1] == 3, f"images shape {images.shape}"
    assert hole_mask.shape == (*images.shape[:3], 1), f"masks shape {hole_mask.shape}"
    assert np.all((hole_mask == 0) | (hole_mask == 1)), "masks must be binary"
    assert 0 < hole_mask.mean() < 1, "the batch needs both hole and known pixels"

    outputs = model(batch, training=training)
    assert isinstance(outputs, dict), f"a generator returns a dict, got {type(outputs)}"
    assert {"raw", "inpainted"} <= set(outputs), f"output keys {sorted(outputs)}"
    outputs = {key: _to_numpy(value) for key, value in outputs.items()}
    for key in ("raw", "inpainted"):
        assert outputs[key].shape == images.shape, f"{key} shape {outputs[key].shape}"
        assert outputs[key].dtype == np.float32, f"{key} dtype {outputs[key].dtype}"
    for key, value in outputs.items():
        if value.dtype.kind == "f":
            assert np.all(np.isfinite(value)), f"output {key!r} is not finite"

    holes = _hole_mask_like(hole_mask, images)
    np.testing.assert_array_equal(
        outputs["inpainted"][~holes], images[~holes], err_msg="inpainted != images at known pixels"
    )
    np.testing.assert_array_equal(
        outputs["inpainted"][holes], outputs["raw"][holes], err_msg="inpainted != raw in holes"
    )

    rng = np.random.default_rng(seed)
    perturbed = dict(batch)
    for key, value in batch.items():
        if key == "masks" or value.ndim != 4 or value.shape[:3] != images.shape[:3]:
            continue
        # Shift every hole value by 0.25-0.75 (mod 1) so that the noise always differs from
        # the original, whatever seed made the batch.
        shift = rng.uniform(0.25, 0.75, size=value.shape)
        noise = np.mod(value + shift, 1.0).astype(value.dtype)
        perturbed[key] = np.where(_hole_mask_like(hole_mask, value), noise, value)
    perturbed_outputs = model(perturbed, training=training)
    for key, value in outputs.items():
        np.testing.assert_array_equal(
            _to_numpy(perturbed_outputs[key]),
            value,
            err_msg=f"hole pixels of the inputs changed output {key!r}",
        )
    return outputs


def _variables_of(obj):
    if isinstance(obj, keras.optimizers.Optimizer):
        return list(obj.variables)
    return list(obj.weights)


def _trainable_snapshot(obj):
    if isinstance(obj, keras.optimizers.Optimizer):
        return []
    return [_to_numpy(v).copy() for v in obj.trainable_weights]


def _trainer_batch(trainer_cls, image_size, batch_size, seed=0):
    from tfinpaint.data import gradients  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(batch_size, image_size, image_size, 3)).astype("float32")
    masks = np.zeros((batch_size, image_size, image_size, 1), "float32")
    y0, x0, y1, x1 = image_size // 4, image_size // 4, 3 * image_size // 4, 3 * image_size // 4
    masks[:, y0:y1, x0:x1] = 1.0
    batch = {
        "images": images,
        "masks": masks,
        "boxes": np.array([[y0, x0, y1, x1]] * batch_size, "int32"),
    }
    if trainer_cls.with_gradients:
        batch["gradients"] = _to_numpy(gradients.sobel_gradients(images))
    return batch


def _build_trainer(family, config, seed, strategy=None):
    import tensorflow as tf  # noqa: PLC0415

    from tfinpaint.models import registry  # noqa: PLC0415

    trainer_cls = registry.get_family(family).load("trainer")
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        generator = registry.build_generator(family, config.preset, **config.generator_overrides)
        return trainer_cls.create(generator, config)


def run_trainer_test(
    family,
    expected_changes,
    image_size=32,
    batch_size=2,
    options=None,
    generator_overrides=None,
    parity=True,
    parity_tolerance=1e-5,
    config_overrides=None,
    return_trainer=False,
):
    """Checks a family's trainer through its public protocol; returns what each step changed.

    Args:
        family: str. A registered family (its "tiny" preset is used, VGG terms dropped).
        expected_changes: dict (segment, step kind) -> set of the checkpoint object names
            (`trainer.checkpoint_objects()`, networks only) whose trainable variables a step of
            that kind changes; every segment and declared step kind must be listed.
        image_size, batch_size: int. The synthetic batch.
        options: dict or None. `TrainConfig.options` overrides.
        generator_overrides: dict or None. Generator constructor overrides.
        parity: bool. Also check that one step of each kind of the first segment under a
            2-replica MirroredStrategy gives the single-device weights (needs networks without batch
            statistics: BatchNorm normalises per replica).
        parity_tolerance: float. Absolute tolerance of that comparison.
        config_overrides: dict or None. Further `TrainConfig` fields (e.g. `steps`,
            `stage_steps`: the schedule a family's learning rates follow).
        return_trainer: bool. Also return the single-device trainer (every step kind traced,
            so a test can go on stepping it cheaply).

    Checked: `create` builds the networks, optimizers and slots; for each segment and each
    declared step kind, one `step_function(kind)` call returns finite losses and changes
    exactly the expected networks (the others stay bit-identical); `run_step` picks the kind
    `step_kind` names; a checkpoint of every network and optimizer restores into freshly
    built objects, every variable equal; the MirroredStrategy parity.
    """
    import tensorflow as tf  # noqa: PLC0415

    from tfinpaint import checkpointing  # noqa: PLC0415
    from tfinpaint.models import registry  # noqa: PLC0415
    from tfinpaint.training.config import TrainConfig  # noqa: PLC0415

    trainer_cls = registry.get_family(family).load("trainer")
    config = TrainConfig(
        model=family,
        preset="tiny",
        workdir="",
        image_size=image_size,
        batch_size=batch_size,
        vgg_weights="none",
        options=dict(options or {}),
        generator_overrides=dict(generator_overrides or {}),
        **dict(config_overrides or {}),
    ).resolve(registry.get_preset(family, "tiny")["training"])
    config.validate()
    batch = _trainer_batch(trainer_cls, image_size, batch_size)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()

    trainer = _build_trainer(family, config, seed=0)
    assert set(trainer.step_kinds) >= set(kind for _, kind in expected_changes)
    networks = {
        name: obj
        for name, obj in trainer.checkpoint_objects().items()
        if not isinstance(obj, keras.optimizers.Optimizer)
    }
    listed = set()
    changes = {}
    after_first_segment = None  # The single-device reference of the parity check.
    for segment in range(1, trainer_cls.num_segments + 1):
        trainer.start_segment(segment)
        for kind in trainer.segment_step_kinds(segment):
            listed.add((segment, kind))
            before = {name: _trainable_snapshot(obj) for name, obj in networks.items()}
            outputs = trainer.step_function(kind)(iter(dataset))
            for name, value in outputs.items():
                assert np.all(np.isfinite(_to_numpy(value))), (segment, kind, name)
            changed = set()
            for name, obj in networks.items():
                after = _trainable_snapshot(obj)
                if any(not np.array_equal(a, b) for a, b in zip(before[name], after)):
                    changed.add(name)
            changes[(segment, kind)] = changed
        if segment == 1:
            after_first_segment = {name: _trainable_snapshot(obj) for name, obj in networks.items()}
    assert listed == set(expected_changes), f"steps {sorted(listed, key=str)}"
    assert changes == expected_changes, changes

    # run_step follows step_kind (in the last segment, whose functions are traced already).
    for step_in_segment in range(2):
        trainer.run_step(iter(dataset), step_in_segment)
        assert trainer.kind == trainer.step_kind(step_in_segment)

    # Checkpoint round trip into fresh objects (another seed, so nothing matches by chance).
    objects = trainer.checkpoint_objects()
    with tempfile.TemporaryDirectory() as directory:
        prefix = tf.train.Checkpoint(
            **{name: checkpointing.VariablesByPath(obj) for name, obj in objects.items()}
        ).write(os.path.join(directory, "ckpt-1"))
        fresh = _build_trainer(family, config, seed=1)
        fresh_objects = fresh.checkpoint_objects()
        assert sorted(fresh_objects) == sorted(objects)
        checkpointing.restore_networks(prefix, fresh_objects)
        for name, obj in objects.items():
            for a, b in zip(_variables_of(obj), _variables_of(fresh_objects[name]), strict=True):
                np.testing.assert_array_equal(
                    _to_numpy(a), _to_numpy(b), err_msg=f"{name} {a.path}"
                )

    if parity:
        devices = tf.config.list_logical_devices("CPU")
        assert len(devices) >= 2, "conftest.py splits the CPU into two logical devices"
        mirrored = tf.distribute.MirroredStrategy(
            [d.name for d in devices[:2]],
            cross_device_ops=tf.distribute.ReductionToOneDevice(),
        )
        # The first segment's steps, one of each kind (later segments reuse the machinery),
        # from the same initial weights as the single-device trainer above (seed 0, the same
        # batch), whose weights after that segment are the reference.
        replicated = _build_trainer(family, config, seed=0, strategy=mirrored)
        replicated.start_segment(1)
        iterator = iter(mirrored.experimental_distribute_dataset(dataset))
        for kind in replicated.segment_step_kinds(1):
            replicated.step_function(kind)(iterator)
        for name, obj in networks_of(replicated).items():
            values = [_to_numpy(v) for v in obj.trainable_weights]
            for a, b in zip(after_first_segment[name], values, strict=True):
                np.testing.assert_allclose(a, b, atol=parity_tolerance, err_msg=name)
    if return_trainer:
        return changes, trainer
    return changes


def networks_of(trainer):
    """The trainer's checkpointed networks (no optimizers), by checkpoint name."""
    return {
        name: obj
        for name, obj in trainer.checkpoint_objects().items()
        if not isinstance(obj, keras.optimizers.Optimizer)
    }


def segment_data_arguments(family, options, segment, preset="paper"):
    """`build_dataset` arguments of `segment` for a `family` run at `preset` with `options`:
    the run's config resolved as `tools/train.py` resolves it, then the trainer's overrides."""
    from tfinpaint.models import registry  # noqa: PLC0415
    from tfinpaint.training.config import TrainConfig  # noqa: PLC0415
    from tfinpaint.training.loop import dataset_arguments  # noqa: PLC0415

    config = TrainConfig(model=family, preset=preset, workdir="unused", options=options).resolve(
        registry.get_preset(family, preset)["training"]
    )
    return dataset_arguments(config, registry.get_family(family).load("trainer"), segment)
