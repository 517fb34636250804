"""Timing of the training steps and of inference, behind the figures in WORKSPACE.md.

- `benchmark_train_step`: steps/s and images/s of a family's real `train_step`, built through
  its trainer class as `tfinpaint.training.loop.run_training` builds it (`create`,
  `start_segment`, `step_function(kind)`), for every stage/phase and the step kinds the
  family declares, on a synthetic in-memory batch
  (`Dataset.from_tensors(batch).repeat()`), so that data loading is not measured.
- `benchmark_inference`: latency and images/s of `generator({"images", "masks"},
  training=False)` called eagerly, through `tf.function`, or through `tf.function(jit_compile=
  True)` (XLA), with the process's peak memory; `benchmark_inference_isolated` runs it in a
  fresh Python process so that earlier work does not raise the high-water mark.
- `count_flops`: floating-point operations of one call, counted by TF's profiler on the
  concrete function's graph (`tf.compat.v1.profiler`, `float_operation()`). It sees the
  backward convolutions (`Conv2DBackpropInput`/`Filter`), so a train step is counted, not
  estimated as three forward passes. Two corrections: ops that no output needs (gradients the
  tape builds but no variable takes, which TF prunes before running) are left out, and batched
  matmuls are recounted (TF's registry misreads their adjoint flag). A multiply-add counts two
  FLOPs; element-wise ops one per element. Ops inside `tf.cond` branches are not seen (the
  count then says it is a lower bound): here only spectral normalisation's power iteration.
- `machine_info`: CPU model, cores, clock, the peak GFLOP/s assumed for it, GPUs, versions.

Figures on a shared machine move with the load: each record carries the load average and the
process CPU time, and the median (not the mean) is reported.

Example:
```python
from tfinpaint import benchmark
records = benchmark.benchmark_train_step("pconv", "tiny", image_size=64, batch_size=2, steps=3)
record = benchmark.benchmark_inference("cascade", "tiny", image_size=64, mode="xla")
```
"""

import datetime
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tfinpaint import losses
from tfinpaint.data.gradients import sobel_gradients
from tfinpaint.models import registry
from tfinpaint.training import config as config_lib

INFERENCE_MODES = ("eager", "function", "xla")
JIT_CHOICES = {"both": (False, True), "off": (False,), "on": (True,)}
# "random": the family's VGG with random weights (`weights=None`), so the perceptual terms are
# computed (their cost is real) without downloading the ImageNet weights.
VGG_RANDOM = "random"

# Ops whose work happens in functions the profiler does not enter: if a graph holds any, the
# count misses their FLOPs.
_OPAQUE_OPS = (
    "PartitionedCall",
    "StatefulPartitionedCall",
    "If",
    "StatelessIf",
    "While",
    "StatelessWhile",
    "Case",
    "StatelessCase",
)
# The heavy ops the profiler needs static shapes for; with a dynamic shape it counts 0.
_SHAPED_OPS = (
    "Conv2D",
    "Conv2DBackpropInput",
    "Conv2DBackpropFilter",
    "DepthwiseConv2dNative",
    "MatMul",
    "BatchMatMulV2",
)
_BATCH_MATMUL_OPS = ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
# FLOPs per cycle per core of a fused multiply-add unit pair, by the widest vector extension.
_FLOPS_PER_CYCLE = (
    ("avx512f", 64, "AVX-512: 2 FMA units x 16 fp32 lanes x 2"),
    ("avx2+fma", 32, "AVX2+FMA: 2 FMA units x 8 fp32 lanes x 2"),
    ("avx", 16, "AVX: 8 fp32 lanes x (1 add + 1 mul)"),
    ("", 8, "SSE: 4 fp32 lanes x (1 add + 1 mul)"),
)
_CHILD_MARKER = "TFINPAINT_BENCHMARK_RECORD "
_CHILD_CODE = (
    "import json, sys\n"
    "from tfinpaint import benchmark\n"
    "record = benchmark.benchmark_inference(**json.loads(sys.argv[1]))\n"
    f"print({_CHILD_MARKER!r} + json.dumps(record), flush=True)\n"
)


# === Machine ===
def cpu_peak(cpuinfo_text, num_cores):
    """The CPU's peak fp32 GFLOP/s as cores x GHz x FLOPs/cycle, from /proc/cpuinfo's text.

    Args:
        cpuinfo_text: str. The contents of /proc/cpuinfo ("" where there is none).
        num_cores: int. Cores this process may run on.

    Returns:
        dict with `cpu_model`, `cpu_ghz` (the first `cpu MHz` entry: the clock when read, not a
        boost clock; None if absent), `flops_per_cycle` (per core), `cpu_peak_gflop_per_s` (None
        without a clock) and `peak_assumption` (a sentence saying how the peak was reckoned).
    """
    fields = {}
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    cpu_flags = set(fields.get("flags", "").split())
    if "fma" in cpu_flags and "avx2" in cpu_flags:
        cpu_flags.add("avx2+fma")
    _, flops_per_cycle, reason = next(
        entry for entry in _FLOPS_PER_CYCLE if not entry[0] or entry[0] in cpu_flags
    )
    try:
        ghz = float(fields["cpu MHz"]) / 1000.0
    except (KeyError, ValueError):
        ghz = None
    peak = num_cores * ghz * flops_per_cycle if ghz else None
    clock = f"{ghz:.2f} GHz (cpu MHz in /proc/cpuinfo)" if ghz else "unknown GHz"
    return {
        "cpu_model": fields.get("model name", platform.processor() or "unknown"),
        "cpu_ghz": ghz,
        "flops_per_cycle": flops_per_cycle,
        "cpu_peak_gflop_per_s": peak,
        "peak_assumption": (
            f"CPU peak = {num_cores} cores x {clock} x {flops_per_cycle} fp32 FLOPs/cycle "
            f"({reason}); cores may be hyperthreads and some CPUs run 512-bit FMAs at half "
            "rate, so the true peak can be lower."
        ),
    }


def machine_info():
    """Where the figures were taken: date, CPU, cores, assumed peak, GPUs and versions."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpuinfo_text = f.read()
    except OSError:
        cpuinfo_text = ""
    num_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in tf.config.list_physical_devices("GPU")
    ]
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "num_cores": num_cores,
        "memory_gib": _total_memory_gib(),
        "gpus": gpus,
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    info.update(cpu_peak(cpuinfo_text, num_cores))
    return info


def describe_machine(info):
    """One line naming the machine of `machine_info()`, for a table's heading."""
    devices = f"GPU {', '.join(info['gpus'])}; " if info["gpus"] else "no GPU; "
    memory = f"{info['memory_gib']:.0f} GiB RAM; " if info["memory_gib"] else ""
    return (
        f"{info['date']} | {info['cpu_model']}, {info['num_cores']} cores, {memory}{devices}"
        f"TF {info['tensorflow']}, Keras {info['keras']}; load average "
        f"{' '.join(f'{load:.2f}' for load in info['load_average'])}"
    )


def _total_memory_gib():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def _peak_gflop_per_s():
    """The CPU peak when the work runs on the CPU; None on a GPU (see its datasheet)."""
    if tf.config.list_physical_devices("GPU"):
        return None
    return machine_info()["cpu_peak_gflop_per_s"]


# === FLOPs ===
def _live_ops(graph):
    """Names of the ops a function graph runs: those its outputs or control outputs need.

    TensorFlow prunes the rest when it instantiates the function (`PruneFunctionBody`), e.g. the
    kernel gradients of a discriminator that only passes the generator's gradient through.
    """
    pending = [tensor.op for tensor in graph.outputs] + list(graph.control_outputs)
    live = set()
    while pending:
        op = pending.pop()
        if op.name in live:
            continue
        live.add(op.name)
        pending.extend(tensor.op for tensor in op.inputs)
        pending.extend(op.control_inputs)
    return live


def _batch_matmul_flops(op):
    """2 * output elements * contracted size of a BatchMatMul, read from its adj_x attribute.

    TF's profiler registry reads a `transpose_a` attribute that BatchMatMul does not have (its
    attributes are `adj_x` and `adj_y`), so it takes the wrong contracted size whenever `adj_x`
    is set, as in the gradients of Gram matrices: (B, C, HW)^T @ (B, C, C) counted as HW^2 C.
    """
    a_shape = op.inputs[0].shape
    contracted = a_shape[-2] if op.get_attr("adj_x") else a_shape[-1]
    return 2 * contracted * op.outputs[0].shape.num_elements()


def _profile_nodes(node):
    yield node
    for child in node.children:
        yield from _profile_nodes(child)


def count_flops(fn, *args):
    """Floating-point operations of one call `fn(*args)`, counted by TF's profiler.

    The profiler gives each op of the traced graph its FLOPs (batched matmuls are recounted:
    see `_batch_matmul_flops`); the ops that no output depends on, which TensorFlow prunes
    before running the function, are left out of the sum.

    Args:
        fn: a Python callable or a `tf.function`; traced with `args` (tensors: their shapes and
            dtypes fix the graph, so give the real batch size and image size).
        *args: the call's arguments.

    Returns:
        dict with `flops` (int), `pruned_flops` (int: what the profiler gives the pruned ops),
        `flops_method` (a sentence: how they were counted, and that the count is a lower bound
        when the graph holds ops the profiler cannot see into) and `flops_missed_ops` (how many
        such ops).
    """
    if not isinstance(fn, tf.types.experimental.PolymorphicFunction):
        # Without autograph, as Keras traces its train step: Python control flow stays Python.
        fn = tf.function(fn, autograph=False)
    graph = fn.get_concrete_function(*args).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    profile = tf.compat.v1.profiler.profile(graph, options=options)
    live = _live_ops(graph)
    flops = pruned = 0
    for node in _profile_nodes(profile):
        if not node.float_ops:
            continue
        op_flops = node.float_ops
        op = graph.get_operation_by_name(node.name)
        if op.type in _BATCH_MATMUL_OPS:
            op_flops = _batch_matmul_flops(op)
        if node.name in live:
            flops += op_flops
        else:
            pruned += op_flops
    missed = [
        op.type
        for op in graph.get_operations()
        if op.name in live
        and (
            op.type in _OPAQUE_OPS
            or (
                op.type in _SHAPED_OPS
                and not all(t.shape.is_fully_defined() for t in [*op.inputs, *op.outputs])
            )
        )
    ]
    method = (
        "tf profiler (float_operation) per op of the traced graph (BatchMatMul recounted), "
        "pruned ops left out"
    )
    if missed:
        method += f"; lower bound: {len(missed)} ops ({', '.join(sorted(set(missed)))}) not counted"
    return {
        "flops": flops,
        "pruned_flops": pruned,
        "flops_method": method,
        "flops_missed_ops": len(missed),
    }


# === Inputs ===
def synthetic_batch(image_size, batch_size, with_gradients=False, seed=0):
    """A training batch of random images with one centred rectangular hole per sample.

    Returns:
        dict of tensors: `images` (B, S, S, 3) in [0, 1], `masks` (B, S, S, 1) (1 = hole, the
        central S/2 x S/2 square), `boxes` (B, 4) int32 [y0, x0, y1, x1] of the hole and, when
        `with_gradients`, `gradients` (B, S, S, 2) (Sobel x and y, as the pipeline adds them).
    """
    rng = np.random.default_rng(seed)
    images = rng.random((batch_size, image_size, image_size, 3), dtype=np.float32)
    start, end = image_size // 4, image_size // 4 + max(image_size // 2, 1)
    hole_masks = np.zeros((batch_size, image_size, image_size, 1), np.float32)
    hole_masks[:, start:end, start:end] = 1.0
    batch = {
        "images": tf.constant(images),
        "masks": tf.constant(hole_masks),
        "boxes": tf.constant([[start, start, end, end]] * batch_size, tf.int32),
    }
    if with_gradients:
        batch["gradients"] = sobel_gradients(batch["images"])
    return batch


# === Checks (before any work) ===
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


def _check_positive(name, value, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"--{name} must be an integer >= {minimum}, got {value!r}.")


def _check_image_sizes(model, preset, image_sizes):
    multiple = registry.size_multiple(model, preset)
    for image_size in image_sizes:
        if image_size % multiple:
            raise ValueError(
                f"--image_size={image_size} is not a multiple of {multiple}, which the {model} "
                f"'{preset}' generator needs."
            )


def _check_vgg_weights(value):
    if value != VGG_RANDOM:
        losses.resolve_vgg_weights(value)


def train_step_config(model, preset="paper", image_size=None, batch_size=None, jit_compile=False):
    """The TrainConfig a run of `model` at `preset` would train with, resolved and checked."""
    config = config_lib.TrainConfig(
        model=model,
        workdir="",  # Nothing is written.
        preset=preset,
        image_size=image_size,
        batch_size=batch_size,
        jit_compile=jit_compile,
        vgg_weights="none",
    ).resolve(registry.get_preset(model, preset)["training"])
    config.validate()
    return config


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
    _check_positive("steps", steps)
    _check_positive("warmup", warmup, minimum=0)
    if batch_size is not None:
        _check_positive("batch_size", batch_size)
    _check_vgg_weights(vgg_weights)
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
        configs = [
            train_step_config(model, preset, image_size, batch_size)
            for image_size in image_sizes or [None]
        ]
        _check_image_sizes(model, preset, [config.image_size for config in configs])
        for config in configs:
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
                    )
                )
    return jobs


def plan_inference(
    models, preset="paper", image_sizes=(256,), batch_size=1, modes="all", runs=10, warmup=2
):
    """Checks the settings of an inference benchmark; returns one job per (model, size, mode).

    Raises:
        ValueError: one sentence naming the bad setting and what is expected.
    """
    models = resolve_models(models)
    modes = list(INFERENCE_MODES) if modes == "all" else [modes]
    if any(mode not in INFERENCE_MODES for mode in modes):
        raise ValueError(f"--mode must be eager, function, xla or all, got '{modes[0]}'.")
    _check_positive("batch_size", batch_size)
    _check_positive("runs", runs)
    _check_positive("warmup", warmup, minimum=0)
    jobs = []
    for model in models:
        _check_image_sizes(model, preset, image_sizes)
        for image_size in image_sizes:
            for mode in modes:
                jobs.append(
                    dict(
                        model=model,
                        preset=preset,
                        image_size=image_size,
                        batch_size=batch_size,
                        mode=mode,
                        runs=runs,
                        warmup=warmup,
                    )
                )
    return jobs


# === Train step ===
def _sync(outputs):
    """Waits for `outputs` (a structure of tensors) to be computed: fetches them to the host."""
    for value in tf.nest.flatten(outputs):
        if isinstance(value, tf.Tensor):
            value.numpy()


def _flops_fields(flops, seconds, peak):
    """GFLOPs, achieved GFLOP/s and the share of the peak, for `flops` done in `seconds`."""
    gflop_per_s = flops["flops"] / 1e9 / seconds
    return {
        "flops_method": flops["flops_method"],
        "gflop_per_s": gflop_per_s,
        "peak_gflop_per_s": peak,
        "peak_fraction": gflop_per_s / peak if peak else None,
    }


def _make_vgg(trainer_cls, vgg_weights):
    """The trainer's VGG for `vgg_weights` ("none", "random", "imagenet" or a file), or None."""
    if not trainer_cls.uses_vgg:
        return None
    if vgg_weights == VGG_RANDOM:
        return trainer_cls.make_vgg(None)
    weights = losses.resolve_vgg_weights(vgg_weights)
    return None if weights is None else trainer_cls.make_vgg(weights)


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

    Returns:
        list of dicts, one per (segment, step kind): the settings, `segment_kind` ("stage",
        "phase" or None), `segment`, `step_kind` (None, "generator" or "discriminator"),
        `jit_compile_effective` (what Keras kept), `first_call_s` (trace + compile + one step),
        `step_ms_median`, `step_ms_p90`, `steps_per_s`, `images_per_s` (from the median),
        `cpu_ms_per_step` (process CPU time, all threads), `gflops_per_step`,
        `pruned_gflops_per_step` (built by the gradient code but pruned by TF), `gflop_per_s`,
        `peak_gflop_per_s`, `peak_fraction`, `flops_method` and `load_average`.
    """
    config = train_step_config(model, preset, image_size, batch_size, jit_compile)
    trainer_cls = registry.get_family(model).load("trainer")
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    generator = registry.build_generator(model, preset, **config.generator_overrides)
    vgg = _make_vgg(trainer_cls, vgg_weights)
    trainer = trainer_cls.create(generator, config, vgg=vgg)

    batch = synthetic_batch(
        config.image_size, config.batch_size, with_gradients=trainer_cls.with_gradients, seed=seed
    )
    strategy = tf.distribute.get_strategy()
    iterator = iter(
        strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat())
    )
    peak = _peak_gflop_per_s()
    records = []
    for segment in segments or range(1, trainer_cls.num_segments + 1):
        trainer.start_segment(segment)
        for kind in trainer.segment_step_kinds(segment):
            train_function = trainer.step_function(kind)
            load = os.getloadavg()[0]
            start = time.perf_counter()
            _sync(train_function(iterator))
            first_call_s = time.perf_counter() - start
            for _ in range(warmup):
                _sync(train_function(iterator))
            times = []
            cpu_start = time.process_time()
            for _ in range(steps):
                start = time.perf_counter()
                _sync(train_function(iterator))
                times.append(time.perf_counter() - start)
            cpu_seconds = time.process_time() - cpu_start
            median = statistics.median(times)
            record = {
                "what": "train_step",
                "model": model,
                "preset": preset,
                "image_size": config.image_size,
                "batch_size": config.batch_size,
                "segment_kind": trainer_cls.segment_kind,
                "segment": segment,
                "step_kind": kind,
                "jit_compile": jit_compile,
                "jit_compile_effective": bool(trainer.jit_compile),
                "vgg_weights": vgg_weights if vgg is not None else "none",
                "steps": steps,
                "warmup": warmup,
                "first_call_s": first_call_s,
                "step_ms_median": 1000.0 * median,
                "step_ms_p90": 1000.0 * _percentile(times, 90),
                "steps_per_s": 1.0 / median,
                "images_per_s": config.batch_size / median,
                "cpu_ms_per_step": 1000.0 * cpu_seconds / steps,
                "load_average": load,
            }
            if count:
                flops = count_flops(trainer.train_step, batch)
                record["gflops_per_step"] = flops["flops"] / 1e9
                record["pruned_gflops_per_step"] = flops["pruned_flops"] / 1e9
                record.update(_flops_fields(flops, median, peak))
            records.append(record)
    return records


def _percentile(values, q):
    return float(np.percentile(np.asarray(values, np.float64), q))


# === Inference ===
def _rss_mib():
    """The process's resident-set high-water mark in MiB.

    On Linux, VmHWM of /proc/self/status: the high-water mark of this program's own memory.
    `resource.getrusage(RUSAGE_SELF).ru_maxrss` is not used there because Linux carries it
    across `execve`: a child process started by a big parent reports at least the parent's
    RSS at the time of the fork. Elsewhere ru_maxrss (KiB on Linux, bytes on macOS) is used.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def benchmark_inference(
    model,
    preset="paper",
    image_size=256,
    batch_size=1,
    mode="function",
    runs=10,
    warmup=2,
    count=True,
    seed=0,
):
    """Latency of `generator({"images", "masks"}, training=False)` in one mode, in this process.

    Args:
        model: str. A registered family.
        preset: str. The generator preset.
        image_size: int. Height and width of the (square) inputs.
        batch_size: int.
        mode: "eager" (the Keras model called directly), "function" (`tf.function`) or "xla"
            (`tf.function(jit_compile=True)`).
        runs: int. Timed calls.
        warmup: int. Untimed calls after the first (which traces and compiles).
        count: bool. Count the forward pass's FLOPs (after the peak memory is read).
        seed: int. Seeds the initialisation and the inputs.

    Returns:
        dict with the settings, `params`, `first_call_s`, `latency_ms_median`, `latency_ms_p90`,
        `images_per_s` (from the median), `cpu_ms_per_image`, `gflops_per_image`, `gflop_per_s`,
        `peak_gflop_per_s`, `peak_fraction`, `flops_method`, `baseline_rss_mib` (the process's
        RSS high-water mark before the first call: runtime + weights + inputs; see `_rss_mib`),
        `peak_rss_mib` (after the timed calls), `gpu_peak_mib` (None without a GPU),
        `load_average` and `isolated` (False here).
    """
    if mode not in INFERENCE_MODES:
        raise ValueError(f"mode must be one of {', '.join(INFERENCE_MODES)}, got '{mode}'.")
    keras.utils.set_random_seed(seed)
    generator = registry.build_generator(model, preset)
    batch = synthetic_batch(image_size, batch_size, seed=seed)
    inputs = {"images": batch["images"], "masks": batch["masks"]}

    def forward(inputs):
        return generator(inputs, training=False)["inpainted"]

    call = {
        "eager": forward,
        "function": tf.function(forward),
        "xla": tf.function(forward, jit_compile=True),
    }[mode]
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
    baseline_rss = _rss_mib()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    call(inputs).numpy()
    first_call_s = time.perf_counter() - start
    for _ in range(warmup):
        call(inputs).numpy()
    times = []
    cpu_start = time.process_time()
    for _ in range(runs):
        start = time.perf_counter()
        call(inputs).numpy()
        times.append(time.perf_counter() - start)
    cpu_seconds = time.process_time() - cpu_start
    peak_rss = _rss_mib()
    gpu_peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20 if gpus else None
    median = statistics.median(times)
    record = {
        "what": "inference",
        "model": model,
        "preset": preset,
        "image_size": image_size,
        "batch_size": batch_size,
        "mode": mode,
        "runs": runs,
        "warmup": warmup,
        "params": int(generator.count_params()),
        "first_call_s": first_call_s,
        "latency_ms_median": 1000.0 * median,
        "latency_ms_p90": 1000.0 * _percentile(times, 90),
        "images_per_s": batch_size / median,
        "cpu_ms_per_image": 1000.0 * cpu_seconds / (runs * batch_size),
        "baseline_rss_mib": baseline_rss,
        "peak_rss_mib": peak_rss,
        "gpu_peak_mib": gpu_peak,
        "load_average": load,
        "isolated": False,
    }
    if count:
        flops = count_flops(call if mode != "eager" else tf.function(forward), inputs)
        record["gflops_per_image"] = flops["flops"] / 1e9 / batch_size
        record.update(_flops_fields(flops, median, _peak_gflop_per_s()))
    return record


def benchmark_inference_isolated(**kwargs):
    """`benchmark_inference(**kwargs)` in a fresh Python process, so `peak_rss_mib` is its own.

    Raises:
        RuntimeError: when the child process fails (its last lines of stderr are included).
    """
    result = subprocess.run(
        [sys.executable, "-c", _CHILD_CODE, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in result.stdout.splitlines():
        if line.startswith(_CHILD_MARKER):
            record = json.loads(line[len(_CHILD_MARKER) :])
            record["isolated"] = True
            return record
    tail = "\n".join(result.stderr.strip().splitlines()[-5:])
    raise RuntimeError(
        f"The inference benchmark of {kwargs.get('model')} at {kwargs.get('image_size')} px "
        f"({kwargs.get('mode')}) failed in its own process (exit {result.returncode}):\n{tail}"
    )


# === Output ===
def _segment_label(record):
    if record["segment_kind"] is None:
        return "-"
    return f"{record['segment_kind']} {record['segment']}"


def _number(value, spec):
    return "-" if value is None else format(value, spec)


def _flops(value):
    """GFLOP figures from 0.001 (tiny presets) to thousands, three significant digits or more."""
    if value is None:
        return "-"
    return format(value, ".0f" if value >= 100 else ".3g")


_TRAIN_COLUMNS = (
    ("model", 8, lambda r: r["model"]),
    ("preset", 7, lambda r: r["preset"]),
    ("size", 5, lambda r: str(r["image_size"])),
    ("batch", 5, lambda r: str(r["batch_size"])),
    ("segment", 8, _segment_label),
    ("step", 13, lambda r: r["step_kind"] or "-"),
    ("xla", 4, lambda r: "on" if r["jit_compile_effective"] else "off"),
    ("first s", 8, lambda r: _number(r["first_call_s"], ".1f")),
    ("ms/step", 9, lambda r: _number(r["step_ms_median"], ".0f")),
    ("p90 ms", 8, lambda r: _number(r["step_ms_p90"], ".0f")),
    ("CPU ms", 8, lambda r: _number(r["cpu_ms_per_step"], ".0f")),
    ("steps/s", 8, lambda r: _number(r["steps_per_s"], ".3g")),
    ("img/s", 7, lambda r: _number(r["images_per_s"], ".3g")),
    ("GFLOP/step", 10, lambda r: _flops(r.get("gflops_per_step"))),
    ("GFLOP/s", 8, lambda r: _flops(r.get("gflop_per_s"))),
    ("% peak", 7, lambda r: _number(_percent(r.get("peak_fraction")), ".1f")),
)
_INFERENCE_COLUMNS = (
    ("model", 8, lambda r: r["model"]),
    ("preset", 7, lambda r: r["preset"]),
    ("size", 5, lambda r: str(r["image_size"])),
    ("batch", 5, lambda r: str(r["batch_size"])),
    ("mode", 8, lambda r: r["mode"]),
    ("first s", 8, lambda r: _number(r["first_call_s"], ".1f")),
    ("median ms", 10, lambda r: _number(r["latency_ms_median"], ".1f")),
    ("p90 ms", 9, lambda r: _number(r["latency_ms_p90"], ".1f")),
    ("CPU ms/img", 10, lambda r: _number(r["cpu_ms_per_image"], ".1f")),
    ("img/s", 7, lambda r: _number(r["images_per_s"], ".3g")),
    ("GFLOP/img", 9, lambda r: _flops(r.get("gflops_per_image"))),
    ("GFLOP/s", 8, lambda r: _flops(r.get("gflop_per_s"))),
    ("% peak", 7, lambda r: _number(_percent(r.get("peak_fraction")), ".1f")),
    ("peak RSS MiB", 12, lambda r: _number(r["peak_rss_mib"], ".0f")),
    ("GPU peak MiB", 12, lambda r: _number(r["gpu_peak_mib"], ".0f")),
)
_COLUMNS = {"train_step": _TRAIN_COLUMNS, "inference": _INFERENCE_COLUMNS}


def _percent(fraction):
    return None if fraction is None else 100.0 * fraction


def table_header(what):
    """The header line of the `what` ("train_step" or "inference") table."""
    return "  ".join(f"{name:>{width}}" for name, width, _ in _COLUMNS[what])


def table_row(record):
    """One record as a line of its table (columns aligned with `table_header`)."""
    return "  ".join(f"{cell(record):>{width}}" for _, width, cell in _COLUMNS[record["what"]])


def write_json(path, what, records, command=None):
    """Writes {date, machine, what, command, records} to `path` as JSON (non-finite -> null)."""

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [clean(item) for item in value]
        return value

    machine = machine_info()
    payload = {
        "date": machine["date"],
        "machine": machine,
        "what": what,
        "command": command,
        "records": records,
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(clean(payload), f, indent=2)
        f.write("\n")
