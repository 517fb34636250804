"""Train-step timing: steps/s, images/s and FLOPs of a family's real train step.

The trainer is driven through its public protocol, as `tfinpaint.training.loop.run_training`
drives it (`create`, `start_segment`, `segment_step_kinds`, `step_function(kind)`), for every
stage/phase and step kind the family declares, on one synthetic in-memory batch
(`Dataset.from_tensors(batch).repeat()`), so that data loading is not measured.
"""

import dataclasses
import tempfile

import keras
import tensorflow as tf

from tfinpaint import losses
from tfinpaint import precision as precision_lib
from tfinpaint.benchmark.checks import check_positive, resolve_models
from tfinpaint.benchmark.flops import count_flops, flops_fields
from tfinpaint.benchmark.machine import peak_gflop_per_s
from tfinpaint.benchmark.op_profile import profile_op_types
from tfinpaint.benchmark.timing import sync, synthetic_batch, time_calls
from tfinpaint.models import registry
from tfinpaint.training import config as config_lib
from tfinpaint.training import loop

JIT_CHOICES = {"both": (False, True), "off": (False,), "on": (True,)}
# "random": the family's VGG with random weights (`weights=None`), so the perceptual terms are
# computed (their cost is real) without downloading the ImageNet weights.
VGG_RANDOM = "random"


def _check_vgg_weights(value):
    if value != VGG_RANDOM:
        losses.resolve_vgg_weights(value)


def train_step_config(
    model, preset="paper", image_size=None, batch_size=None, jit_compile=False, vgg_weights="none"
):
    """The TrainConfig a run of `model` at `preset` would train with, checked as training does.

    `loop.prepare_config` resolves the preset's training defaults and runs the training checks
    (settings, schedule, mask specs, image size, VGG weights). The data it checks is the bundled
    "samples", which costs a file listing: the benchmark feeds a synthetic batch. Its workdir is
    an empty temporary folder because prepare_config resumes the run whose config.json a workdir
    holds, and a benchmark resumes nothing. "random" VGG weights are checked as "none":
    `loop.build_vgg(..., random_weights=True)` makes them.
    """
    with tempfile.TemporaryDirectory(prefix="tfinpaint_benchmark_") as workdir:
        config = config_lib.TrainConfig(
            model=model,
            workdir=workdir,
            preset=preset,
            data="samples",
            image_size=image_size,
            batch_size=batch_size,
            jit_compile=jit_compile,
            vgg_weights="none" if vgg_weights == VGG_RANDOM else vgg_weights,
        )
        config, _, _ = loop.prepare_config(config, explicit_names=[])
    return dataclasses.replace(config, workdir="")  # Nothing is written.


def plan_train_step(
    models,
    preset="paper",
    image_sizes=None,
    batch_size=None,
    jit_compile="both",
    steps=5,
    warmup=1,
    vgg_weights="none",
    segments=None,
    precision="float32",
    op_profile=0,
):
    """Checks the settings of a train-step benchmark and returns its jobs.

    Each job is a dict of `benchmark_train_step` keyword arguments, one per (model, image
    size, jit setting). Image and batch sizes default to the preset's training settings.

    Raises:
        ValueError: one sentence naming the bad setting and what is expected.
    """
    models = resolve_models(models)
    if jit_compile not in JIT_CHOICES:
        raise ValueError(f"--jit_compile must be both, on or off, got '{jit_compile}'.")
    check_positive("steps", steps)
    check_positive("warmup", warmup, minimum=0)
    check_positive("op_profile", op_profile, minimum=0)
    if op_profile and jit_compile != "off":
        raise ValueError(
            "--op_profile needs --jit_compile=off: XLA compiles the step into one program whose "
            "ops TF's profiler does not see one by one."
        )
    if batch_size is not None:
        check_positive("batch_size", batch_size)
    _check_vgg_weights(vgg_weights)
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"--precision must be float32 or bfloat16, got '{precision}'.")
    jobs = []
    for model in models:
        trainer_cls = registry.get_family(model).load("trainer")
        if segments:
            wrong = [s for s in segments if not 1 <= s <= trainer_cls.num_segments]
            if wrong:
                raise ValueError(
                    f"--segments={','.join(map(str, segments))} does not fit model '{model}', "
                    f"which trains in {trainer_cls.num_segments} "
                    f"{trainer_cls.segment_kind or 'stage'}s numbered from 1."
                )
        for image_size in image_sizes or [None]:
            config = train_step_config(
                model, preset, image_size, batch_size, vgg_weights=vgg_weights
            )
            for jit in JIT_CHOICES[jit_compile]:
                jobs.append(
                    dict(
                        model=model,
                        preset=preset,
                        image_size=config.image_size,
                        batch_size=config.batch_size,
                        jit_compile=jit,
                        steps=steps,
                        warmup=warmup,
                        vgg_weights=vgg_weights,
                        segments=list(segments) if segments else None,
                        precision=precision,
                        op_profile=op_profile,
                    )
                )
    return jobs


def benchmark_train_step(
    model,
    preset="paper",
    image_size=None,
    batch_size=None,
    jit_compile=False,
    steps=5,
    warmup=1,
    vgg_weights="none",
    segments=None,
    count=True,
    seed=0,
    precision="float32",
    op_profile=0,
):
    """Times the family's train step for each stage/phase and step kind.

    The trainer is built as `run_training` builds it (no distribution strategy: the default
    one), and fed a `tf.data.Dataset.from_tensors(batch).repeat()` of one synthetic batch.
    GLCIC's mean pixel is not measured from data (the generator's default is kept): it changes a
    constant, not the work.

    Args:
        model: str. A registered family.
        preset: str. The model and training preset.
        image_size, batch_size: int or None (the preset's training settings).
        jit_compile: bool. Compile the train step with XLA (`trainer.compile(jit_compile=...)`).
        steps: int. Timed steps per step kind.
        warmup: int. Untimed steps after the first (which traces and compiles the step).
        vgg_weights: "none" (the VGG terms are dropped, as with `--vgg_weights=none`), "random"
            (the family's VGG with random weights: the terms' cost without the download),
            "imagenet" or a weights file.
        segments: list of int or None. Stages/phases to time (all by default).
        count: bool. Count the step's FLOPs with `count_flops` (traces the step once more).
        seed: int. Seeds the networks' initialisation and the synthetic batch.
        precision: "float32" or "bfloat16" (the networks built under `mixed_bfloat16`, as
            `--mixed_precision=bfloat16` trains them; the peak stays the fp32 one).
        op_profile: int. When positive, also run `steps` more steps of each kind under TF's
            profiler and keep the `op_profile` op types that took the most time
            (`op_profile.profile_op_types`) as the record's `op_profile`.

    Returns:
        list of dicts, one per (segment, step kind): the settings, `segment_kind` ("stage",
        "phase" or None), `segment`, `step_kind` (None, "generator" or "discriminator"),
        `jit_compile_effective` (what Keras kept), `precision`, `first_call_s` (trace, compile
        and one step),
        `step_ms_median`, `step_ms_p90`, `steps_per_s`, `images_per_s` (from the median),
        `cpu_ms_per_step` (process CPU time, all threads), `gflops_per_step`,
        `pruned_gflops_per_step` (built by the gradient code but pruned by TF), `gflop_per_s`,
        `peak_gflop_per_s`, `peak_fraction`, `flops_method` and `load_average`.
    """
    built = build_trainer(
        model, preset, image_size, batch_size, jit_compile, vgg_weights, precision, seed
    )
    return _time_train_steps(built, steps, warmup, segments, count, op_profile)


@dataclasses.dataclass
class BuiltTrainer:
    """A family's trainer built for timing, with what it is fed.

    Attributes:
        model, preset, precision: str. The settings it was built with.
        vgg_weights: str. "none" when the trainer has no VGG, else the setting ("random", ...).
        config: TrainConfig. The resolved settings.
        trainer: InpaintingTrainer.
        batch: dict of tensors. The synthetic batch.
        iterator: an endless iterator over `batch` (through the default strategy).
    """

    model: str
    preset: str
    precision: str
    vgg_weights: str
    config: object
    trainer: object
    batch: dict
    iterator: object


def build_trainer(
    model,
    preset="paper",
    image_size=None,
    batch_size=None,
    jit_compile=False,
    vgg_weights="none",
    precision="float32",
    seed=0,
):
    """The family's trainer as `run_training` builds it, and one synthetic batch to feed it.

    The networks are built under `precision`'s global dtype policy. Keras'
    `clear_session()` resets every global setting, the dtype policy included, so the policy is
    set here, after it (until 2026-11-30 it was the caller's, and clear_session silently turned
    every bfloat16 train-step benchmark into a float32 one).

    Returns:
        `BuiltTrainer`.
    """
    config = train_step_config(model, preset, image_size, batch_size, jit_compile, vgg_weights)
    mixed_precision = precision_lib.mixed_precision_of(precision)
    config = dataclasses.replace(config, mixed_precision=mixed_precision)
    trainer_cls = registry.get_family(model).load("trainer")
    keras.backend.clear_session()
    with precision_lib.global_policy(precision):
        keras.utils.set_random_seed(seed)
        generator = registry.build_generator(model, preset, **config.generator_overrides)
        random_vgg = vgg_weights == VGG_RANDOM
        # Without VGG weights the loop is not asked for a VGG: it would warn that the terms
        # are dropped once per job, between the table's rows (the heading says so already).
        wants_vgg = random_vgg or losses.resolve_vgg_weights(config.vgg_weights) is not None
        vgg = None
        if trainer_cls.uses_vgg and wants_vgg:
            vgg = loop.build_vgg(trainer_cls, config, random_weights=random_vgg)
        trainer = trainer_cls.create(generator, config, vgg=vgg)

    batch = synthetic_batch(
        config.image_size, config.batch_size, with_gradients=trainer_cls.with_gradients, seed=seed
    )
    strategy = tf.distribute.get_strategy()
    iterator = iter(
        strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat())
    )
    return BuiltTrainer(
        model=model,
        preset=preset,
        precision=precision,
        vgg_weights=vgg_weights if vgg is not None else "none",
        config=config,
        trainer=trainer,
        batch=batch,
        iterator=iterator,
    )


def _time_train_steps(built, steps, warmup, segments, count, op_profile=0):
    """One record per (segment, step kind): see `benchmark_train_step`."""
    model, preset, config, trainer = built.model, built.preset, built.config, built.trainer
    batch, iterator = built.batch, built.iterator
    trainer_cls = type(trainer)
    peak = peak_gflop_per_s()
    records = []
    for segment in segments or range(1, trainer_cls.num_segments + 1):
        trainer.start_segment(segment)
        for kind in trainer.segment_step_kinds(segment):
            train_function = trainer.step_function(kind)
            timed = time_calls(lambda step=train_function: sync(step(iterator)), warmup, steps)
            median = timed["median_s"]
            record = {
                "what": "train_step",
                "model": model,
                "preset": preset,
                "image_size": config.image_size,
                "batch_size": config.batch_size,
                "segment_kind": trainer_cls.segment_kind,
                "segment": segment,
                "step_kind": kind,
                "jit_compile": config.jit_compile,
                "jit_compile_effective": bool(trainer.jit_compile),
                "precision": built.precision,
                "vgg_weights": built.vgg_weights,
                "steps": steps,
                "warmup": warmup,
                "first_call_s": timed["first_call_s"],
                "step_ms_median": 1000.0 * median,
                "step_ms_p90": 1000.0 * timed["p90_s"],
                "steps_per_s": 1.0 / median,
                "images_per_s": config.batch_size / median,
                "cpu_ms_per_step": 1000.0 * timed["cpu_s"] / steps,
                "load_average": timed["load_average"],
            }
            if count:
                flops = count_flops(trainer.train_step, batch)
                record["gflops_per_step"] = flops["flops"] / 1e9
                record["pruned_gflops_per_step"] = flops["pruned_flops"] / 1e9
                record.update(flops_fields(flops, median, peak))
            if op_profile:
                record["op_profile"] = profile_op_types(
                    lambda step=train_function: sync(step(iterator)), calls=steps, top=op_profile
                )
            records.append(record)
    return records
