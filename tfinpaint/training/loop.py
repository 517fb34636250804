"""The training run, read top to bottom: config, build, restore, then per segment one step
function in a loop that logs and checkpoints.

`run_training(config)` is what `tools/train.py` calls. Its settings are resolved and checked
once (`config.prepare_config`, which also parses the family's typed options); `open_run` builds
the networks, trainer and optimizers inside the distribution strategy and restores the newest
readable checkpoint (`RunDir.restore_latest`); `_train` then runs each stage/phase left
(`trainer.run_step`), reports every `log_every` steps (`reporting.RunReporter`) and saves every
`checkpoint_every` steps. The run folder's layout is `runs.RunDir`'s (DESIGN.md): config.json,
checkpoints/, metrics.jsonl, logs/, samples/, and at the end generator.weights.h5 +
generator.json. Re-running with the same workdir resumes from the latest checkpoint (`Resuming
from step N`), inside the right stage or phase.
"""

import dataclasses
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfinpaint import checkpointing, losses, runs
from tfinpaint.data import pipeline
from tfinpaint.models import registry
from tfinpaint.models.saving import save_generator
from tfinpaint.training import config as config_lib
from tfinpaint.training import init_from, reporting
from tfinpaint.training import strategy as strategy_lib

# The checks and the schedule live in config.py; these names stay importable from here for the
# callers that know them as the loop's (the benchmark, tests).
from tfinpaint.training.config import (  # noqa: F401
    check_image_size,
    check_vgg_settings,
    dataset_arguments,
    prepare_config,
    schedule_bounds,
)
from tfinpaint.training.interrupt import DeferredInterrupt


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


class TrainingStopped(RuntimeError):
    """Training cannot go on (a loss or weight became non-finite); the message says why."""


class _Checkpoints:
    """The run's checkpoint saves: a diverged network is never saved, and on the chief the
    newest `keep_checkpoints` on disk are kept (those of earlier processes included)."""

    def __init__(self, run):
        self.run = run
        directory = run.run_dir.checkpoints_dir
        if not run.chief:  # Every worker must save; only the chief's copy is kept.
            directory = run.run_dir.worker_checkpoints_dir(os.getpid())
        self.directory = directory
        self.manager = tf.train.CheckpointManager(
            run.checkpoint, directory, max_to_keep=run.config.keep_checkpoints
        )

    def kept(self):
        """The end of a stop message: which checkpoint is left untouched."""
        latest = self.manager.latest_checkpoint
        if latest is None:
            return ""
        return f"; the last checkpoint ({os.path.basename(latest)}) is untouched"

    def save(self, step):
        trainer = self.run.trainer
        bad = trainer.nonfinite_networks()
        if bad:
            raise TrainingStopped(
                f"The weights of {', '.join(bad)} became non-finite (NaN or Inf) or exploded "
                f"(|w| > {trainer.max_abs_weight:g}) by step {step}; training stopped without "
                f"saving them{self.kept()}. Lower "
                "--learning_rate (and --d_learning_rate) or check the data."
            )
        self.manager.save(checkpoint_number=step)
        if self.run.chief:  # The newest N by file, those of earlier processes included.
            self.run.run_dir.prune_checkpoints(self.run.config.keep_checkpoints)

    def check_finite(self, outputs, step, kind, segment):
        """Stops training when a loss term a step returned is NaN or Inf."""
        for name, value in outputs.items():
            value = np.asarray(value, dtype=np.float64)
            if not np.all(np.isfinite(value)):
                where = f" ({kind} {segment})" if kind else ""
                raise TrainingStopped(
                    f"The loss term '{name}' became "
                    f"{'NaN' if np.isnan(value).any() else 'Inf'} at step {step}{where}; "
                    f"training stopped{self.kept()}. Lower --learning_rate (and "
                    "--d_learning_rate) or check the data."
                )


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
    config, _, trainer_cls = config_lib.prepare_config(config, explicit_names)
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
    source = init_from.initial_weights(config)
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        generator = registry.build_generator(
            config.model, config.preset, **config.generator_overrides
        )
        initial_weights = None
        if source is not None:
            initial_weights, fresh = init_from.initial_assignment(
                config, generator, source.weights, source.config
            )
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
    restored = run_dir.restore_latest(checkpoint, manage_files=chief)
    resume_step = None if restored is None else int(step_var.numpy())
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
    if run.chief and not run_dir.has_generator_files():
        # Killed between its last checkpoint and the generator files.
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


def _segment_iterator(run, segment, step):
    """Enters `segment` and returns the distributed iterator of its data.

    A fresh start and a resume at step N draw different (but reproducible) data."""
    run.trainer.start_segment(segment)
    run.segment_var.assign(segment)
    arguments = dataset_arguments(run.config, run.trainer_cls, segment)
    dataset = pipeline.build_dataset(seed=run.config.seed * 1_000_003 + step, **arguments)
    return iter(run.strategy.experimental_distribute_dataset(dataset))


def _train(run):
    """`run_training`'s work on an opened run (its lock held on the chief)."""
    if run.resume_step is not None and run.resume_step >= run.config.steps:
        return _nothing_to_do(run)
    config, trainer, chief = run.config, run.trainer, run.chief
    kind = run.trainer_cls.segment_kind
    bounds = schedule_bounds(config, run.trainer_cls)
    reporter = reporting.RunReporter(run.run_dir, config, run.trainer_cls, run.resume_step, chief)
    if chief:  # Written once training starts: a refused or no-op run never rewrites it.
        config_lib.save_config(config, run.run_dir.config_path)
    checkpoints = _Checkpoints(run)
    step = int(run.step_var.numpy())
    # Raising --steps on resume moves fractional boundaries; a run never goes back to an
    # earlier stage/phase than its checkpoint recorded.
    restored_segment = int(run.segment_var.numpy())
    interrupt = DeferredInterrupt()
    try:
        with interrupt:
            for segment, (start, end) in enumerate(bounds, start=1):
                if step >= end or segment < restored_segment:
                    continue
                iterator = _segment_iterator(run, segment, step)
                trainer.reset_metrics()
                interval_start, interval_steps = time.perf_counter(), 0
                while step < end:
                    outputs = trainer.run_step(iterator, step - start)
                    step += 1
                    checkpoints.check_finite(outputs, step, kind, segment)
                    interval_steps += 1
                    run.step_var.assign(step)
                    if step % config.log_every == 0 or step == end:
                        steps_per_sec = interval_steps / (time.perf_counter() - interval_start)
                        reporter.report(
                            step, segment, trainer.logged_values(), trainer.generator, steps_per_sec
                        )
                        trainer.reset_metrics()
                        interval_start, interval_steps = time.perf_counter(), 0
                    if step % config.checkpoint_every == 0 or step == end:
                        checkpoints.save(step)
                    if interrupt.requested:  # Ctrl-C or SIGTERM: stop at a step boundary.
                        raise KeyboardInterrupt
    except KeyboardInterrupt:
        # Saved under the step counter, so a checkpoint's number always matches its `step`.
        # Only a second, immediate Ctrl-C can land between an update and the counter (the
        # resumed run then repeats that step).
        step = int(run.step_var.numpy())
        checkpoints.save(step)
        logging.warning("Interrupted at step %d: checkpoint saved; rerun to resume.", step)
        raise
    if not chief:  # A worker's checkpoints only served the collective save.
        shutil.rmtree(checkpoints.directory, ignore_errors=True)
    if chief:
        if checkpoints.manager.latest_checkpoint is None or int(run.step_var.numpy()) != step:
            checkpoints.save(step)
        _save_run_generator(run, step)
    return {"workdir": config.workdir, **reporter.summary, "step": step}
