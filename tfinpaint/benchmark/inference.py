"""Inference timing: latency, images/s, FLOPs and peak memory of a generator's forward pass.

`benchmark_inference` calls `generator({"images", "masks"}, training=False)` eagerly, through
`tf.function`, or through `tf.function(jit_compile=True)` (XLA), and reads the process's peak
memory; `benchmark_inference_isolated` runs it in a fresh Python process so that earlier work
does not raise the high-water mark.
"""

import json
import resource
import subprocess
import sys
import time

import keras
import tensorflow as tf

from tfinpaint import precision as precision_lib
from tfinpaint.benchmark.checks import check_image_sizes, check_positive, resolve_models
from tfinpaint.benchmark.flops import count_flops, flops_fields
from tfinpaint.benchmark.machine import peak_gflop_per_s
from tfinpaint.benchmark.timing import synthetic_batch, time_calls
from tfinpaint.models import registry

INFERENCE_MODES = ("eager", "function", "xla")
_CHILD_MARKER = "TFINPAINT_BENCHMARK_RECORD "
_CHILD_CODE = (
    "import json, sys\n"
    "from tfinpaint.benchmark import inference\n"
    "record = inference.benchmark_inference(**json.loads(sys.argv[1]))\n"
    f"print({_CHILD_MARKER!r} + json.dumps(record), flush=True)\n"
)


def plan_inference(
    models,
    preset="paper",
    image_sizes=(256,),
    batch_size=1,
    modes="all",
    runs=10,
    warmup=2,
    precision="float32",
    generator_overrides=None,
):
    """Checks the settings of an inference benchmark; returns one job per (model, size, mode).

    `generator_overrides` (dict or None) are generator constructor arguments applied to every
    model's preset (e.g. DeepGIN's `max_attention_logits_per_image`).

    Raises:
        ValueError: one sentence naming the bad setting and what is expected.
    """
    models = resolve_models(models)
    modes = list(INFERENCE_MODES) if modes == "all" else [modes]
    if any(mode not in INFERENCE_MODES for mode in modes):
        raise ValueError(f"--mode must be eager, function, xla or all, got '{modes[0]}'.")
    check_positive("batch_size", batch_size)
    check_positive("runs", runs)
    check_positive("warmup", warmup, minimum=0)
    if precision not in precision_lib.INFERENCE_PRECISIONS:
        raise ValueError(
            f"--precision must be one of {', '.join(precision_lib.INFERENCE_PRECISIONS)}, got "
            f"'{precision}'."
        )
    jobs = []
    generator_overrides = dict(generator_overrides or {})
    for model in models:
        registry.check_arguments(
            registry.get_family(model).load("generator"),
            generator_overrides,
            what="--generator_config key(s)",
        )
        check_image_sizes(model, preset, image_sizes)
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
                        precision=precision,
                        generator_overrides=generator_overrides,
                    )
                )
    return jobs


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
    precision="float32",
    generator_overrides=None,
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
        precision: "float32" or "bfloat16" (the generator built under `mixed_bfloat16`; any
            family can be timed so, whether or not it offers bfloat16 for inference).
        generator_overrides: dict or None. Generator constructor arguments over the preset's.

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
    generator_overrides = dict(generator_overrides or {})
    with precision_lib.global_policy(precision):
        generator = registry.build_generator(model, preset, **generator_overrides)
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
    timed = time_calls(lambda: call(inputs).numpy(), warmup, runs)
    peak_rss = _rss_mib()
    gpu_peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20 if gpus else None
    median = timed["median_s"]
    record = {
        "what": "inference",
        "model": model,
        "preset": preset,
        "image_size": image_size,
        "batch_size": batch_size,
        "generator_overrides": generator_overrides,
        "mode": mode,
        "precision": precision,
        "runs": runs,
        "warmup": warmup,
        "params": int(generator.count_params()),
        "first_call_s": timed["first_call_s"],
        "latency_ms_median": 1000.0 * median,
        "latency_ms_p90": 1000.0 * timed["p90_s"],
        "images_per_s": batch_size / median,
        "cpu_ms_per_image": 1000.0 * timed["cpu_s"] / (runs * batch_size),
        "baseline_rss_mib": baseline_rss,
        "peak_rss_mib": peak_rss,
        "gpu_peak_mib": gpu_peak,
        "load_average": timed["load_average"],
        "isolated": False,
    }
    if count:
        flops = count_flops(call if mode != "eager" else tf.function(forward), inputs)
        record["gflops_per_image"] = flops["flops"] / 1e9 / batch_size
        record.update(flops_fields(flops, median, peak_gflop_per_s()))
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


def forward_peak_memory(model, preset="paper", image_size=1024, mode="eager", precision="float32"):
    """Peak memory of one forward pass, in this process (run it in a fresh one).

    Builds the `preset` generator of `model`, then calls it once on one synthetic image (a
    centred rectangular hole) and reads the process's RSS high-water mark before and after.
    Nothing else runs in between (no warm-up, no FLOP count), so a fresh process's figure is
    what a user's single call costs. `tools/peak_memory.py` is the command line.

    Args:
        model: str. A registered family.
        preset: str. The generator preset.
        image_size: int. Height and width of the (square) image.
        mode: "eager" (what `inference.inpaint` runs) or "function" (`tf.function`).
        precision: "float32" or "bfloat16".

    Returns:
        dict with the settings, `params`, `baseline_rss_mib` (before the call: runtime,
        weights, inputs), `peak_rss_mib` (after it) and `seconds` (the call, tracing included).

    Raises:
        ValueError: an unknown family or mode, or a size the preset cannot take.
    """
    if mode not in ("eager", "function"):
        raise ValueError(f"mode must be eager or function, got '{mode}'.")
    resolve_models([model])
    check_image_sizes(model, preset, [image_size])
    with precision_lib.global_policy(precision):
        generator = registry.build_generator(model, preset)
    batch = synthetic_batch(image_size, 1)
    inputs = {"images": batch["images"], "masks": batch["masks"]}

    def forward(inputs):
        return generator(inputs, training=False)["inpainted"]

    call = forward if mode == "eager" else tf.function(forward)
    baseline = _rss_mib()
    start = time.perf_counter()
    call(inputs).numpy()
    seconds = time.perf_counter() - start
    return {
        "what": "peak_memory",
        "model": model,
        "preset": preset,
        "image_size": image_size,
        "mode": mode,
        "precision": precision,
        "params": int(generator.count_params()),
        "baseline_rss_mib": baseline,
        "peak_rss_mib": _rss_mib(),
        "seconds": seconds,
    }
