"""The training run: checks, builds, resumes, trains segment by segment, logs and checkpoints.

`run_training(config)` is what `tools/train.py` calls. A run is a directory (DESIGN.md):
- `config.json`: every setting (written once all checks pass);
- `checkpoints/`: `tf.train.Checkpoint`s of the networks, optimizers, step and stage/phase,
  written by `tf.train.CheckpointManager` (the index file is replaced atomically, so a kill at
  any moment leaves the last complete checkpoint loadable);
- `metrics.jsonl`, `logs/` (TensorBoard), `samples/step_NNNNNNN.png` (grids of the fixed
  validation batch);
- at the end, `generator.weights.h5` + `generator.json` for inference and export.
Re-running with the same workdir resumes from the latest checkpoint (`Resuming from step N`),
inside the right stage or phase.
"""

import dataclasses
import inspect
import os
import shutil
import signal
import threading
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfinpaint import checkpointing, losses, metrics, runs
from tfinpaint.data import masks, pipeline, sources
from tfinpaint.models import registry
from tfinpaint.models.saving import save_generator
from tfinpaint.training import config as config_lib
from tfinpaint.training import reporting
from tfinpaint.training import strategy as strategy_lib
from tfinpaint.training.config import schedule_bounds


def _explicit_fields(config):
    """Fields of `config` that differ from the dataclass defaults (for library callers)."""
    defaults = config_lib.TrainConfig(model=config.model, workdir=config.workdir)
    return [
        f.name
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(defaults, f.name)
    ]


def _dataset_kwargs(config):
    return dict(
        data_dir=config.data_dir,
        split=config.split,
        irregular_polarity=config.irregular_polarity,
        resize_short_side=tuple(config.resize_short_side) if config.resize_short_side else None,
    )


def prepare_config(config, explicit_names=None):
    """Resolves and checks a run's settings before any work: (config, family, trainer_cls).

    On an existing workdir, the saved config.json is the base and only the settings a resume
    may change are taken from `config`.
    """
    if explicit_names is None:
        explicit_names = _explicit_fields(config)
    family = registry.get_family(config.model)
    config_path = runs.RunDir(config.workdir).config_path
    if os.path.exists(config_path):
        config = config_lib.merge_for_resume(
            config_lib.load_config(config_path), config, explicit_names
        )
    trainer_cls = family.load("trainer")
    config = config.resolve(registry.get_preset(config.model, config.preset)["training"])
    config.validate()
    config_lib.check_family_settings(config, family, trainer_cls)
    schedule_bounds(config, trainer_cls)
    _check_data(config, trainer_cls)
    check_image_size(config)
    check_vgg_settings(config, trainer_cls)
    return config, family, trainer_cls


def check_vgg_settings(config, trainer_cls):
    """Checks `--vgg_weights` and the `vgg_flavour` option; returns the run's VGG flavour.

    Returns None for families without VGG terms, which refuse a `vgg_flavour` other than auto.
    """
    flavour = trainer_cls.Options.parse(config.options, config.model).vgg_flavour
    if not trainer_cls.uses_vgg:
        if flavour != losses.VGG_FLAVOUR_AUTO:
            raise ValueError(
                f"--options vgg_flavour={flavour!r} applies to models with VGG loss terms; "
                f"model '{config.model}' has none, so drop it."
            )
        return None
    return losses.resolve_vgg_flavour(flavour, losses.resolve_vgg_weights(config.vgg_weights))


def _inside(path, folder):
    """Whether `path` is `folder` or lies below it (real paths: links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_workdir_and_data(workdir, data, image_files):
    """Refuses a run folder that overlaps its data: training writes sample grids into the
    workdir, and a data folder around it would train on them at the next epoch.

    Args:
        workdir: str. `--workdir`.
        data: str. `--data`.
        image_files: list of str. The source's images (`sources.list_image_files`).
    """
    if os.path.isdir(data) and _inside(workdir, data):
        raise ValueError(
            f"--workdir={workdir} lies inside the data folder --data={data}, so its sample grids "
            "would become training images; put the workdir outside the data folder."
        )
    inside = [path for path in image_files if _inside(path, workdir)]
    if inside:
        raise ValueError(
            f"--data={data} has {len(inside)} image(s) inside --workdir={workdir} (first: "
            f"{inside[0]}), where training writes; keep the data outside the workdir."
        )


def _check_data(config, trainer_cls):
    """Checks the image source and every segment's mask spec (cheap: lists files, parses)."""
    if sources.source_kind(config.data) != "tfds":
        image_files = sources.list_image_files(config.data)
        if config.data != "samples":
            check_workdir_and_data(config.workdir, config.data, image_files)
    for segment in range(1, trainer_cls.num_segments + 1):
        arguments = dataset_arguments(config, trainer_cls, segment)
        pipeline.parse_augment(arguments.get("augment"))
        masks.make_mask_fns(
            arguments["masks"],
            arguments["image_size"],
            training=True,
            irregular_polarity=config.irregular_polarity,
        )


def dataset_arguments(config, trainer_cls, segment=1):
    """`pipeline.build_dataset` keyword arguments for `segment` of the run `config`.

    The run's settings, then whatever the family changes for that segment
    (`trainer_cls.segment_data_overrides`: masks, image_size, augment, ...).
    """
    arguments = dict(
        source=config.data,
        image_size=config.image_size,
        batch_size=config.batch_size,
        masks=config.masks,
        with_gradients=trainer_cls.with_gradients,
        training=True,
        **_dataset_kwargs(config),
    )
    overrides = trainer_cls.segment_data_overrides(config, segment)
    accepted = inspect.signature(pipeline.build_dataset).parameters
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ValueError(
            f"{trainer_cls.__name__}.segment_data_overrides gives {', '.join(unknown)}, which "
            "build_dataset does not take."
        )
    arguments.update(overrides)
    return arguments


def check_image_size(config):
    """Refuses an image size the generator of `config` (model, preset, overrides) cannot take."""
    multiple = registry.size_multiple(config.model, config.preset, **config.generator_overrides)
    if config.image_size % multiple:
        raise ValueError(
            f"--image_size={config.image_size} is not a multiple of {multiple}, which the "
            f"{config.model} '{config.preset}' generator needs."
        )


def build_vgg(trainer_cls, config, random_weights=False):
    """The family's VGG for `config.vgg_weights`, or None when they are "none".

    `random_weights=True` builds it randomly initialised instead (`make_vgg(None)`): the
    benchmark times the VGG loss terms that way without downloading the ImageNet weights.
    """
    flavour = check_vgg_settings(config, trainer_cls)
    if random_weights:
        return trainer_cls.make_vgg(None, flavour)
    weights = losses.resolve_vgg_weights(config.vgg_weights)
    if weights is None:
        logging.warning(
            "--vgg_weights=none: the VGG-based loss terms (perceptual, style, feature) are "
            "dropped for this run."
        )
        return None
    tuned = trainer_cls.vgg_tuned_flavour
    if tuned is not None and flavour != tuned:
        logging.warning(
            "The %s loss weights were tuned on %s VGG features, but --vgg_weights=%s gives %s "
            "features, whose magnitudes differ (see VGGFeatures' docstring); convert torchvision "
            "weights with tools/convert_vgg.py for the paper's balance of terms.",
            config.model,
            tuned,
            config.vgg_weights,
            flavour,
        )
    return trainer_cls.make_vgg(weights, flavour)


def _validation_batch(config, trainer_cls):
    dataset = pipeline.build_dataset(
        config.data,
        config.image_size,
        config.val_batch_size,
        masks=config.masks,
        seed=config.seed,
        with_gradients=trainer_cls.with_gradients,
        training=False,
        **_dataset_kwargs(config),
    )
    for batch in dataset.take(1):
        return {name: value.numpy() for name, value in batch.items()}
    raise ValueError(f"The data source {config.data} yielded no validation images.")


def _validation_metrics(generator, batch):
    outputs = generator({"images": batch["images"], "masks": batch["masks"]}, training=False)
    outputs = {name: tf.cast(value, tf.float32).numpy() for name, value in outputs.items()}
    images, masks = batch["images"], batch["masks"]
    values = {
        "val_psnr_hole": float(np.nanmean(metrics.psnr(images, outputs["inpainted"], masks))),
        "val_psnr": float(np.nanmean(metrics.psnr(images, outputs["inpainted"]))),
        "val_l1_hole": float(np.nanmean(metrics.l1_error(images, outputs["inpainted"], masks))),
    }
    if min(images.shape[1:3]) >= 11:
        values["val_ssim"] = float(np.nanmean(metrics.ssim(images, outputs["inpainted"])))
    return values, outputs


def _format_progress(step, total, kind, segment, loss_values, values, steps_per_sec):
    parts = [f"step {step}/{total}"]
    if kind:
        parts.append(f"{kind} {segment}")
    parts.append(" ".join(f"{name} {value:.4g}" for name, value in loss_values.items()))
    parts.append(f"val_psnr_hole {values['val_psnr_hole']:.2f} dB")
    parts.append(f"{steps_per_sec:.2f} steps/s")
    return " | ".join(parts)


class DeferredInterrupt:
    """While training, a first Ctrl-C (SIGINT) or SIGTERM stops the run at the next step
    boundary.

    Python raises KeyboardInterrupt between any two bytecodes: landing between a step's update
    and the step counter, it would leave a checkpoint whose weights are one update ahead of its
    step, and the resumed run would train that step twice. Inside this context the first SIGINT
    only sets `requested`, which the loop reads once a step is counted, logged and
    checkpointed; a second one raises KeyboardInterrupt at once. SIGTERM (what `kill`, job
    schedulers and container runtimes send) is handled the same way, so that a terminated run
    saves a checkpoint at a step boundary instead of dying mid-step or mid-save. Installed only
    in the main thread and only over the default handlers (Python's KeyboardInterrupt for
    SIGINT, SIG_DFL for SIGTERM): an ignored or custom handler stays as it is. A background
    job started from a non-interactive shell has SIGINT ignored; SIGTERM still works there.
    """

    _DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum, default in self._DEFAULTS.items():
                if signal.getsignal(signum) is default:
                    self._previous[signum] = signal.signal(signum, self._request)
        return self

    def _request(self, signum, frame):
        del signum, frame
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc_info):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        return False


class TrainingStopped(RuntimeError):
    """Training cannot go on (a loss or weight became non-finite); the message says why."""


def _kept(manager):
    latest = manager.latest_checkpoint
    if latest is None:
        return ""
    return f"; the last checkpoint ({os.path.basename(latest)}) is untouched"


def _check_finite(outputs, step, kind, segment, manager):
    """Stops training when a loss term a step returned is NaN or Inf."""
    for name, value in outputs.items():
        value = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(value)):
            where = f" ({kind} {segment})" if kind else ""
            raise TrainingStopped(
                f"The loss term '{name}' became {'NaN' if np.isnan(value).any() else 'Inf'} at "
                f"step {step}{where}; training stopped{_kept(manager)}. Lower --learning_rate "
                "(and --d_learning_rate) or check the data."
            )


def restore_latest_checkpoint(checkpoint, directory, step_var, manage_files=True):
    """Restores the newest readable checkpoint of `directory` into `checkpoint`.

    Checkpoints are found from their files (the `checkpoint` state file may be damaged) and
    read in full before use. A damaged one is moved into `directory/corrupt/` with a warning
    naming it, and the next older one is tried; the state file is then rewritten to list the
    checkpoints left, so rotation never deletes a good one it did not know about.

    Returns:
        The restored step, or None for a directory without checkpoint files.

    Raises:
        checkpointing.CheckpointError: checkpoint files exist but none is readable (a run
            never restarts from step 0 silently), or a readable one does not fit the run's
            networks.
    """
    if not checkpointing.has_checkpoint_files(directory):
        return None
    prefixes = checkpointing.find_checkpoints(directory)
    readable = []
    for prefix in prefixes:
        problem = checkpointing.verify_checkpoint(prefix)
        if problem is None:
            readable = prefixes[prefixes.index(prefix) :]
            break
        if manage_files:
            target = checkpointing.move_aside(prefix)
            logging.warning(
                "Damaged checkpoint: %s. Moved its files to %s; trying an older one.",
                problem,
                target,
            )
        else:
            logging.warning("Damaged checkpoint: %s. Trying an older one.", problem)
    if manage_files:
        checkpointing.write_state_file(directory, readable)
    if not readable:
        raise checkpointing.CheckpointError(
            f"No readable checkpoint in {directory} (damaged ones are kept in "
            f"{os.path.join(directory, checkpointing.CORRUPT_DIR)}): to start this run from "
            "step 0, move or delete that checkpoints folder; to keep the work, restore it from "
            "a backup."
        )
    prefix = readable[0]
    try:
        checkpoint.restore(prefix).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise checkpointing.CheckpointError(
            f"The checkpoint {prefix} does not fit this run's networks ({str(error)[:200]}); "
            "was the workdir trained with another model or generator config?"
        ) from None
    return int(step_var.numpy())


@dataclasses.dataclass
class OpenRun:
    """A run built and restored, ready to train: what `open_run` returns."""

    config: config_lib.TrainConfig
    trainer_cls: type
    trainer: keras.Model
    strategy: tf.distribute.Strategy
    chief: bool
    step_var: tf.Variable
    segment_var: tf.Variable
    checkpoint: tf.train.Checkpoint
    resume_step: int | None
    run_dir: runs.RunDir


def _initial_weights(config):
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


def _initial_assignment(config, generator, weights):
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


def open_run(config, explicit_names=None, hold_lock=False):
    """Checks `config`, builds the networks, trainer and optimizers, restores the workdir.

    What `run_training` does before its first step, and what tests use to look at a run's
    restored state. Writes nothing but the lock file (and moves damaged checkpoints aside):
    `run_training` writes `config.json` once it trains.

    On the chief, the run's lock (`RunDir.lock`) is taken once the settings are checked, so a
    second process is refused before anything is built or moved; `hold_lock=True` keeps it for
    the caller (`run_training`), who releases it with `run.run_dir.release_lock()`. A folder
    with traces of a run but no checkpoint is refused, and leftovers of a killed checkpoint
    save are moved aside.

    Raises:
        ValueError: a bad setting, a locked or checkpoint-less run folder, a `--steps` below
            the run's step, or checkpoint files of which none is readable.
    """
    run_dir = runs.RunDir(config.workdir)
    run_dir.check_folder()
    if config.strategy == "multiworker":  # Must exist before any other TF op runs.
        strategy_lib.make_strategy("multiworker")
    config, _, trainer_cls = prepare_config(config, explicit_names)
    config = trainer_cls.finalize_config(config)
    strategy_lib.set_precision(config.mixed_precision)
    strategy = strategy_lib.make_strategy(config.strategy)
    chief = strategy_lib.is_chief(strategy)
    if not chief:
        return _open_run(config, trainer_cls, strategy, chief, run_dir)
    run_dir.acquire_lock()
    try:
        run_dir.check_start()
        run_dir.sweep_partial_saves()
        run = _open_run(config, trainer_cls, strategy, chief, run_dir)
    except BaseException:
        run_dir.release_lock()
        raise
    if not hold_lock:
        run_dir.release_lock()
    return run


def _open_run(config, trainer_cls, strategy, chief, run_dir):
    """`open_run` once the settings are checked (and, on the chief, the lock is held)."""
    initial_weights = _initial_weights(config)
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        generator = registry.build_generator(
            config.model, config.preset, **config.generator_overrides
        )
        if initial_weights is not None:
            initial_weights, fresh = _initial_assignment(config, generator, initial_weights)
        vgg = build_vgg(trainer_cls, config) if trainer_cls.uses_vgg else None
        trainer = trainer_cls.create(generator, config, vgg=vgg)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        segment_var = tf.Variable(1, dtype=tf.int64, trainable=False, name="segment")

    os.makedirs(run_dir.path, exist_ok=True)
    checkpoint = tf.train.Checkpoint(
        step=step_var,
        segment=segment_var,
        **{
            name: checkpointing.VariablesByPath(obj)
            for name, obj in trainer.checkpoint_objects().items()
        },
    )
    # Every worker reads the chief's checkpoints; only the chief moves damaged ones aside.
    resume_step = restore_latest_checkpoint(
        checkpoint, run_dir.checkpoints_dir, step_var, manage_files=chief
    )
    if resume_step is not None:
        run_dir.check_steps(resume_step, config.steps)
        logging.info(
            "Resuming from step %d (%s %d).",
            resume_step,
            trainer_cls.segment_kind or "stage",
            int(segment_var.numpy()),
        )
    elif initial_weights is not None:
        with strategy.scope():
            generator.set_weights(initial_weights)
        logging.info("Starting from the generator weights of %s (--init_from).", config.init_from)
        if fresh:
            logging.info(
                "%d weights are not in %s and keep their initial values: %s.",
                len(fresh),
                config.init_from,
                ", ".join(fresh),
            )
    return OpenRun(
        config=config,
        trainer_cls=trainer_cls,
        trainer=trainer,
        strategy=strategy,
        chief=chief,
        step_var=step_var,
        segment_var=segment_var,
        checkpoint=checkpoint,
        resume_step=resume_step,
        run_dir=run_dir,
    )


def run_training(config, explicit_names=None):
    """Trains (or resumes) the run `config` describes; returns a summary dict.

    Args:
        config: TrainConfig.
        explicit_names: iterable of str or None. Settings the user gave explicitly (decides
            what may differ from a saved run on resume); None takes every non-default field.

    Returns:
        dict with `step`, `first_val_psnr_hole`, `last_val_psnr_hole` (of this invocation's
        logs), `grid_path` (the last sample grid) and `workdir`.
    """
    run = open_run(config, explicit_names, hold_lock=True)
    try:
        return _train(run)
    finally:
        if run.chief:
            run.run_dir.release_lock()


def _nothing_to_do(run):
    """A resume of a finished run: says so, and writes only a missing generator."""
    config, run_dir = run.config, run.run_dir
    logging.info(
        "Nothing to train: %s is at step %d of --steps=%d already; give a larger --steps to "
        "train on.",
        run_dir.path,
        run.resume_step,
        config.steps,
    )
    if run.chief and not (
        os.path.exists(run_dir.generator_json) and os.path.exists(run_dir.generator_weights)
    ):  # Killed between its last checkpoint and the generator files.
        _save_run_generator(run, run.resume_step)
    return {
        "workdir": run_dir.path,
        "first_val_psnr_hole": None,
        "last_val_psnr_hole": None,
        "grid_path": None,
        "step": run.resume_step,
        "nothing_to_do": True,
    }


def _save_run_generator(run, step):
    config = run.config
    save_generator(
        run.trainer.generator,
        config.model,
        config.preset,
        run.run_dir.path,
        extra={"image_size": config.image_size, "step": step},
    )


def _train(run):
    """`run_training`'s work on an opened run (its lock held on the chief)."""
    if run.resume_step is not None and run.resume_step >= run.config.steps:
        return _nothing_to_do(run)
    config, trainer, trainer_cls = run.config, run.trainer, run.trainer_cls
    strategy, chief, workdir = run.strategy, run.chief, run.config.workdir
    step_var, segment_var, checkpoint = run.step_var, run.segment_var, run.checkpoint
    resume_step = run.resume_step
    val_batch = _validation_batch(config, trainer_cls)
    bounds = schedule_bounds(config, trainer_cls)
    if chief:  # Written once training starts: a refused or no-op run never rewrites it.
        config_lib.save_config(config, run.run_dir.config_path)
    checkpoint_dir = run.run_dir.checkpoints_dir
    if not chief:  # Every worker must save; only the chief's copy is kept.
        checkpoint_dir = os.path.join(workdir, f".worker-{os.getpid()}")
    manager = tf.train.CheckpointManager(
        checkpoint, checkpoint_dir, max_to_keep=config.keep_checkpoints
    )

    def save_checkpoint(step):
        bad = trainer.nonfinite_networks()
        if bad:
            raise TrainingStopped(
                f"The weights of {', '.join(bad)} became non-finite (NaN or Inf) or exploded "
                f"(|w| > {trainer.max_abs_weight:g}) by step {step}; training stopped without "
                f"saving them{_kept(manager)}. Lower "
                "--learning_rate (and --d_learning_rate) or check the data."
            )
        manager.save(checkpoint_number=step)
        if chief:  # The newest N by file, those of earlier processes included.
            run.run_dir.prune_checkpoints(config.keep_checkpoints)

    metrics_log = reporting.MetricsLog(run.run_dir.metrics_path, resume_step)
    board = reporting.TensorBoardWriter(run.run_dir.logs_dir) if chief else None
    kind = trainer_cls.segment_kind
    summary = {
        "workdir": workdir,
        "first_val_psnr_hole": None,
        "last_val_psnr_hole": None,
        "grid_path": None,
    }

    def report(step, segment, steps_per_sec):
        loss_values = trainer.logged_values()
        values, outputs = _validation_metrics(trainer.generator, val_batch)
        record = {"step": step}
        if kind:
            record[kind] = segment
        record.update(loss_values)
        record.update(values)
        record["steps_per_sec"] = steps_per_sec
        logging.info(
            "%s",
            _format_progress(step, config.steps, kind, segment, loss_values, values, steps_per_sec),
        )
        if summary["first_val_psnr_hole"] is None:
            summary["first_val_psnr_hole"] = values["val_psnr_hole"]
        summary["last_val_psnr_hole"] = values["val_psnr_hole"]
        if not chief:
            return
        metrics_log.append(record)
        board.scalars(step, {k: v for k, v in record.items() if k != "step"})
        if step % config.sample_every == 0 or step == config.steps:
            grid = reporting.sample_grid(
                val_batch["images"], val_batch["masks"], outputs["raw"], outputs["inpainted"]
            )
            path = os.path.join(run.run_dir.samples_dir, f"step_{step:07d}.png")
            reporting.write_png(path, grid)
            board.image(step, "samples", grid)
            summary["grid_path"] = path

    step = int(step_var.numpy())
    # Raising --steps on resume moves fractional boundaries; a run never goes back to an
    # earlier stage/phase than its checkpoint recorded.
    restored_segment = int(segment_var.numpy())
    interrupt = DeferredInterrupt()
    try:
        with interrupt:
            for segment, (start, end) in enumerate(bounds, start=1):
                if step >= end or segment < restored_segment:
                    continue
                trainer.start_segment(segment)
                segment_var.assign(segment)
                # A fresh start and a resume at step N draw different (but reproducible) data.
                arguments = dataset_arguments(config, trainer_cls, segment)
                dataset = pipeline.build_dataset(seed=config.seed * 1_000_003 + step, **arguments)
                iterator = iter(strategy.experimental_distribute_dataset(dataset))
                trainer.reset_metrics()
                interval_start, interval_steps = time.perf_counter(), 0
                while step < end:
                    outputs = trainer.run_step(iterator, step - start)
                    step += 1
                    _check_finite(outputs, step, kind, segment, manager)
                    interval_steps += 1
                    step_var.assign(step)
                    if step % config.log_every == 0 or step == end:
                        steps_per_sec = interval_steps / (time.perf_counter() - interval_start)
                        report(step, segment, steps_per_sec)
                        trainer.reset_metrics()
                        interval_start, interval_steps = time.perf_counter(), 0
                    if step % config.checkpoint_every == 0 or step == end:
                        save_checkpoint(step)
                    if interrupt.requested:  # Ctrl-C or SIGTERM: stop at a step boundary.
                        raise KeyboardInterrupt
    except KeyboardInterrupt:
        # Saved under the step counter, so a checkpoint's number always matches its `step`.
        # Only a second, immediate Ctrl-C can land between an update and the counter (the
        # resumed run then repeats that step).
        step = int(step_var.numpy())
        save_checkpoint(step)
        logging.warning("Interrupted at step %d: checkpoint saved; rerun to resume.", step)
        raise
    if not chief:  # A worker's checkpoints only served the collective save.
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    if chief:
        if manager.latest_checkpoint is None or int(step_var.numpy()) != step:
            save_checkpoint(step)
        _save_run_generator(run, step)
    summary["step"] = step
    return summary
