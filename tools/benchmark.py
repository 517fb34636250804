r"""Throughput benchmarks behind the figures in WORKSPACE.md.

`--what=data` times the tf.data pipeline (`tfinpaint.data.build_dataset`, training mode) for
each mask kind: decoding JPEGs, random 256 px crops, flips, per-sample masks and, by default,
Sobel gradient maps. Without `--data` it first writes 256 JPEGs (640x480, quality 90, cut from
the scikit-image sample photos) into a temporary folder, so the figure includes decoding.

`--what=train_step` times each family's real train step (`tfinpaint.benchmark`), built through
its trainer as `tools/train.py` builds it and fed one synthetic in-memory batch (no data
loading), for every stage/phase and generator/discriminator step, with and without XLA; plus
the FLOPs of one step (TF's profiler on the traced graph) and the GFLOP/s achieved against the
machine's peak; `--op_profile=N` adds the N op types that took the most time in each step
kind, from TF's profiler (`tfinpaint.benchmark.op_profile`). VGG terms are dropped by default
(`--vgg_weights=none`); `--vgg_weights=random` includes their cost with a randomly initialised VGG.

`--what=tflite` exports each model to TFLite at a fixed size per quantization (none, float16,
dynamic_int8) and times the LiteRT interpreter beside the Keras graph, with the file sizes.

`--what=inference` times `generator({"images", "masks"}, training=False)` eagerly, through
`tf.function` and through XLA: median and p90 latency, images/s, GFLOPs per image, and the peak
memory (RSS high-water mark) of a fresh process per model, size and mode.

`--precision=bfloat16` builds the networks under Keras' `mixed_bfloat16` policy (train steps as
`--mixed_precision=bfloat16` trains). `--compare=torch` (train_step, inference; pconv) builds
the same network in PyTorch (`benchmarks/torch_pconv.py`) with our weights, checks that
the parameter counts agree, and times the two builds in turn in one process with the same
thread count, printing both minima over `--rounds` and their ratio; torch is the optional
`bench` extra.

Usage:
    python tools/benchmark.py --what=data
    python tools/benchmark.py --what=data --data=/path/to/jpegs --image_size=256 \
        --batch_size=16 --masks=freeform,rect,ca --with_gradients --num_batches=100

    python tools/benchmark.py --what=train_step --model=pconv --image_size=256,512 \
        --batch_size=1 --jit_compile=both --steps=3 --warmup=1
    python tools/benchmark.py --what=train_step --model=all --preset=tiny --image_size=64 \
        --vgg_weights=random --json_output=/tmp/train_step.json
    # Where the step's time goes, per TF op type (the 15 costliest), in bfloat16:
    python tools/benchmark.py --what=train_step --model=pconv --image_size=256 --batch_size=2 \
        --jit_compile=off --precision=bfloat16 --op_profile=15
    python tools/benchmark.py --what=inference --model=cascade --image_size=256,1024 \
        --mode=all --runs=10 --json_output=/tmp/inference.json
    python tools/benchmark.py --what=inference --model=deepgin --image_size=512 \
        --mode=function --runs=1 --generator_config='{"max_attention_logits_per_image": null}'
    python tools/benchmark.py --what=tflite --model=all --preset=tiny --image_size=256

    # Ours in float32 beside ours in bfloat16, alternating in one process:
    python tools/benchmark.py --what=inference --model=pconv --image_size=512 --compare=bfloat16

    # Ours beside PyTorch (pip install -e ".[bench]"), fp32 and bf16 (autocast):
    python tools/benchmark.py --what=inference --model=pconv --image_size=512 --compare=torch
    python tools/benchmark.py --what=train_step --model=pconv --image_size=256 --batch_size=1 \
        --compare=torch --precision=bfloat16 --rounds=10
"""

import importlib.util
import json
import os
import shlex
import statistics
import sys
import tempfile

from absl import app, flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint import benchmark, export  # noqa: E402
from tfinpaint.data import pipeline, sources  # noqa: E402
from tfinpaint.models import registry  # noqa: E402

# The repository: benchmarks/ (the PyTorch twin) sits beside tools/.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WHAT = flags.DEFINE_enum(
    "what",
    "data",
    ["data", "train_step", "inference", "tflite"],
    "What to time: data (the input pipeline), train_step (training), inference, or tflite "
    "(the exported model in the LiteRT interpreter beside Keras).",
)
_DATA = flags.DEFINE_string(
    "data", None, "Image source (folder, list file, tfds:NAME, samples); default: temp JPEGs."
)
_IMAGE_SIZE = flags.DEFINE_list(
    "image_size",
    None,
    "Image sizes in pixels. data: one (default 256); train_step: a comma list (default the "
    "preset's training size); inference: a comma list (default 256).",
)
_BATCH_SIZE = flags.DEFINE_integer(
    "batch_size",
    None,
    "Batch size (default 16 for data, the preset's for train_step, 1 for inference).",
)
_MASKS = flags.DEFINE_list("masks", ["freeform", "rect", "ca"], "Mask specs to time, each alone.")
_WITH_GRADIENTS = flags.DEFINE_bool("with_gradients", True, "Add Sobel gradient maps.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 100, "Batches timed per mask spec.")
_WARMUP_BATCHES = flags.DEFINE_integer("warmup_batches", 10, "Untimed batches first.")
_REPEATS = flags.DEFINE_integer(
    "repeats", 3, "Timings per mask spec; the median is shown (other programs share the cores)."
)
_MODEL = flags.DEFINE_list("model", None, "train_step/inference: model families, or all.")
_PRESET = flags.DEFINE_string("preset", "paper", "Model (and training) preset: paper or tiny.")
_JIT_COMPILE = flags.DEFINE_enum(
    "jit_compile", "both", ["both", "on", "off"], "train_step: with XLA, without, or both."
)
_STEPS = flags.DEFINE_integer("steps", 5, "train_step: timed steps per stage/phase and kind.")
_WARMUP = flags.DEFINE_integer(
    "warmup",
    None,
    "Untimed calls after the first, tracing one (default 1 for train_step, 2 for inference).",
)
_VGG_WEIGHTS = flags.DEFINE_string(
    "vgg_weights",
    "none",
    "train_step: none (VGG loss terms dropped), random (computed with a random-init VGG), "
    "imagenet or a weights file.",
)
_SEGMENTS = flags.DEFINE_list(
    "segments", None, "train_step: the stages/phases to time, e.g. 1,3 (default all)."
)
_MODE = flags.DEFINE_enum(
    "mode", "all", ["eager", "function", "xla", "all"], "inference: how the generator is called."
)
_RUNS = flags.DEFINE_integer("runs", 10, "inference: timed calls per model, size and mode.")
_ISOLATE = flags.DEFINE_bool(
    "isolate", True, "inference: a fresh process per model, size and mode (own peak memory)."
)
_QUANTIZE = flags.DEFINE_list(
    "quantize", ["none", "float16", "dynamic_int8"], "tflite: the quantizations to export."
)
_PRECISION = flags.DEFINE_enum(
    "precision",
    "float32",
    ["float32", "bfloat16"],
    "train_step/inference: float32, or bfloat16 (networks built under mixed_bfloat16: bfloat16 "
    "compute, float32 weights and outputs; for train_step as --mixed_precision=bfloat16).",
)
_COMPARE = flags.DEFINE_enum(
    "compare",
    "none",
    ["none", "torch", "bfloat16"],
    "train_step/inference: torch times a PyTorch build of the same network beside ours "
    '(pconv only; needs the bench extra: pip install -e ".[bench]"); bfloat16 times ours in '
    "float32 and in bfloat16 (same weights), alternating.",
)
_ROUNDS = flags.DEFINE_integer(
    "rounds", 10, "--compare: timed calls of each build, alternating; the minimum is shown."
)
_TORCH_CHANNELS_LAST = flags.DEFINE_bool(
    "torch_channels_last", True, "--compare=torch: PyTorch in channels_last memory format."
)
_GENERATOR_CONFIG = flags.DEFINE_string(
    "generator_config",
    None,
    "inference: JSON object of generator constructor overrides over the preset's, e.g. "
    "'{\"max_attention_logits_per_image\": null}' (DeepGIN without attention chunking).",
)
_OP_PROFILE = flags.DEFINE_integer(
    "op_profile",
    0,
    "train_step: also profile --steps more steps of each kind with TF's profiler and print the "
    "N op types that took the most time (self time per step), with the time per op group.",
)
_JSON_OUTPUT = flags.DEFINE_string(
    "json_output", None, "train_step/inference: also write the records (date, machine) here."
)

# The temporary JPEGs stand in for a folder of camera photos (~0.3 MP each).
_JPEG_COUNT, _JPEG_WIDTH, _JPEG_HEIGHT = 256, 640, 480


def _benchmark_data(data, image_size, batch_size):
    print(
        f"data pipeline: source={data} image_size={image_size} "
        f"batch_size={batch_size} with_gradients={_WITH_GRADIENTS.value}; "
        f"{len(os.sched_getaffinity(0))} CPU cores, load average "
        f"{' '.join(f'{load:.2f}' for load in os.getloadavg())}"
    )
    print(f"{'masks':<24} {'samples/s (median)':>18} {'(min-max)':>12} {'CPU ms/sample':>14}")
    for masks in _MASKS.value:
        dataset = pipeline.build_dataset(
            data,
            image_size,
            batch_size,
            masks=masks,
            with_gradients=_WITH_GRADIENTS.value,
        )
        results = [
            pipeline.benchmark_dataset(
                dataset, _NUM_BATCHES.value, warmup_batches=_WARMUP_BATCHES.value
            )
            for _ in range(_REPEATS.value)
        ]
        rates = sorted(result["samples_per_s"] for result in results)
        cpu = statistics.median(result["cpu_ms_per_sample"] for result in results)
        spread = f"({rates[0]:.0f}-{rates[-1]:.0f})"
        print(f"{masks:<24} {statistics.median(rates):>18.0f} {spread:>12} {cpu:>14.2f}")


def _run_data(image_size, batch_size):
    if _DATA.value is not None:
        _benchmark_data(_DATA.value, image_size, batch_size)
        return
    with tempfile.TemporaryDirectory(prefix="tfinpaint_benchmark_") as folder:
        sources.write_sample_jpegs(
            folder, num_images=_JPEG_COUNT, width=_JPEG_WIDTH, height=_JPEG_HEIGHT
        )
        print(
            f"Wrote {_JPEG_COUNT} JPEGs of {_JPEG_WIDTH}x{_JPEG_HEIGHT} px (quality 90) from "
            f"the scikit-image samples into {folder}."
        )
        _benchmark_data(folder, image_size, batch_size)


def _plan_data():
    image_sizes = benchmark.parse_image_sizes(_IMAGE_SIZE.value or ["256"])
    if len(image_sizes) > 1 or _JSON_OUTPUT.value:
        raise ValueError("--what=data takes a single --image_size and writes no --json_output.")
    return lambda: _run_data(image_sizes[0], _BATCH_SIZE.value or 16)


def _segments():
    try:
        return [int(value) for value in _SEGMENTS.value or []]
    except ValueError:
        raise ValueError(
            "--segments takes comma-separated stage/phase numbers, got "
            f"{','.join(_SEGMENTS.value)}."
        ) from None


def _print_heading(what, notes):
    info = benchmark.machine_info()
    print(f"{what} | {benchmark.describe_machine(info)}")
    for note in [*notes, info["peak_assumption"]]:
        print(f"  {note}")
    print(benchmark.table_header(what), flush=True)


def _run_jobs(what, jobs, run_job, notes):
    _print_heading(what, notes)
    records = []
    for job in jobs:
        for record in run_job(**job):
            print(benchmark.table_row(record), flush=True)
            records.append(record)
    return records


def _load_torch_twin():
    """benchmarks/torch_pconv.py, the PyTorch PConv U-Net, loaded by its path.

    It lives beside the benchmarks and never in the package (PyTorch is an optional extra);
    `benchmark.plan_compare` has checked that torch is installed.
    """
    path = os.path.join(_ROOT, "benchmarks", "torch_pconv.py")
    if not os.path.isfile(path):
        raise ValueError(
            f"--compare=torch needs the PyTorch twin {path}, which is missing: run "
            "tools/benchmark.py from a checkout of the repository."
        )
    spec = importlib.util.spec_from_file_location("torch_pconv", path)
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    return twin


def _plan_compare(what):
    # Inference defaults as --what=inference (256 px, batch 1); train steps take the preset's
    # batch unless --batch_size says otherwise.
    jobs = benchmark.plan_compare(
        what,
        _MODEL.value or [],
        preset=_PRESET.value,
        image_sizes=benchmark.parse_image_sizes(_IMAGE_SIZE.value or ["256"]),
        batch_size=_BATCH_SIZE.value or (1 if what == "inference" else None),
        precision=_PRECISION.value,
        rounds=_ROUNDS.value,
        warmup=1 if _WARMUP.value is None else _WARMUP.value,
        channels_last=_TORCH_CHANNELS_LAST.value,
    )
    run = {
        "inference": benchmark.compare_torch_inference,
        "train_step": benchmark.compare_torch_train_step,
    }[what]
    step = (
        "one train step each (stage 1; ours: the trainer's step; PyTorch: the same loss without "
        "VGG, valid L1 + 6 hole L1 + 0.1 TV, Adam at the same rate)"
        if what == "train_step"
        else "one forward pass each (ours: tf.function; PyTorch: inference_mode)"
    )
    notes = [
        f"ours beside a PyTorch build of the same network with the same weights: {step}; "
        f"--rounds={_ROUNDS.value} alternating rounds, minimum shown; PyTorch gets as many "
        "threads as TensorFlow's intra-op pool; bfloat16: ours mixed_bfloat16, PyTorch "
        "torch.autocast('cpu', torch.bfloat16).",
    ]
    twin = _load_torch_twin()
    return lambda: _run_jobs(f"compare_{what}", jobs, lambda **job: [run(**job, twin=twin)], notes)


def _plan_compare_precision(what):
    if _PRECISION.value != "float32":
        raise ValueError("--compare=bfloat16 times both precisions; leave --precision out.")
    jobs = benchmark.plan_compare_precision(
        what,
        _MODEL.value or [],
        preset=_PRESET.value,
        image_sizes=benchmark.parse_image_sizes(_IMAGE_SIZE.value or ["256"]),
        batch_size=_BATCH_SIZE.value or (1 if what == "inference" else None),
        rounds=_ROUNDS.value,
        warmup=1 if _WARMUP.value is None else _WARMUP.value,
    )
    run = {
        "inference": benchmark.compare_precision_inference,
        "train_step": benchmark.compare_precision_train_step,
    }[what]
    notes = [
        "ours in float32 and in bfloat16 (mixed_bfloat16; for train steps "
        "--mixed_precision=bfloat16, first step kind of the first stage/phase) from the same "
        f"weights, --rounds={_ROUNDS.value} alternating rounds, minimum shown; speed-up = fp32 "
        "min / bf16 min.",
    ]
    return lambda: _run_jobs(f"precision_{what}", jobs, lambda **job: [run(**job)], notes)


def _plan_train_step():
    if _COMPARE.value == "torch":
        return _plan_compare("train_step")
    if _COMPARE.value == "bfloat16":
        return _plan_compare_precision("train_step")
    jobs = benchmark.plan_train_step(
        _MODEL.value or [],
        preset=_PRESET.value,
        image_sizes=benchmark.parse_image_sizes(_IMAGE_SIZE.value) if _IMAGE_SIZE.value else None,
        batch_size=_BATCH_SIZE.value,
        jit_compile=_JIT_COMPILE.value,
        steps=_STEPS.value,
        warmup=1 if _WARMUP.value is None else _WARMUP.value,
        vgg_weights=_VGG_WEIGHTS.value,
        segments=_segments(),
        precision=_PRECISION.value,
        op_profile=_OP_PROFILE.value,
    )
    vgg = {
        "none": "VGG loss terms dropped (--vgg_weights=none)",
        benchmark.VGG_RANDOM: "VGG loss terms computed with a randomly initialised VGG",
    }.get(_VGG_WEIGHTS.value, f"VGG loss terms computed with weights {_VGG_WEIGHTS.value}")
    notes = [
        f"{vgg}; one synthetic batch in memory (no data loading); the median step is shown; "
        "CPU ms: process CPU time per step, all threads (CPU ms / ms = cores in use).",
        "FLOPs: TF profiler on the traced train step (forward + backward + optimizer), "
        "without the ops TF prunes (gradients no variable needs).",
    ]

    def run():
        records = _run_jobs("train_step", jobs, benchmark.benchmark_train_step, notes)
        for record in records:
            if "op_profile" in record:
                title = (
                    f"{record['model']} {record['image_size']} px batch {record['batch_size']} "
                    f"{record['precision']}, {record['segment_kind'] or 'stage'} "
                    f"{record['segment']} {record['step_kind'] or 'step'}"
                    f"{', XLA' if record['jit_compile_effective'] else ''}"
                )
                print("\n".join(["", *benchmark.format_profile(record["op_profile"], title)]))
        return records

    return run


def _generator_overrides():
    if _GENERATOR_CONFIG.value is None:
        return {}
    try:
        value = json.loads(_GENERATOR_CONFIG.value)
    except json.JSONDecodeError as error:
        raise ValueError(f"--generator_config is not valid JSON ({error}).") from None
    if not isinstance(value, dict):
        raise ValueError(
            f"--generator_config must be a JSON object of constructor arguments, got {value!r}."
        )
    return value


def _plan_inference():
    if _COMPARE.value == "torch":
        return _plan_compare("inference")
    if _COMPARE.value == "bfloat16":
        return _plan_compare_precision("inference")
    jobs = benchmark.plan_inference(
        _MODEL.value or [],
        preset=_PRESET.value,
        image_sizes=benchmark.parse_image_sizes(_IMAGE_SIZE.value or ["256"]),
        batch_size=_BATCH_SIZE.value or 1,
        modes=_MODE.value,
        runs=_RUNS.value,
        warmup=2 if _WARMUP.value is None else _WARMUP.value,
        precision=_PRECISION.value,
        generator_overrides=_generator_overrides(),
    )
    run = (
        benchmark.benchmark_inference_isolated if _ISOLATE.value else benchmark.benchmark_inference
    )
    where = "a fresh process per row" if _ISOLATE.value else "this process (cumulative)"
    notes = [
        f"generator(..., training=False); median and p90 of --runs calls; peak RSS of {where}; "
        "CPU ms/img: process CPU time, all threads.",
        "FLOPs: TF profiler on the traced forward pass.",
    ]
    return lambda: _run_jobs("inference", jobs, lambda **job: [run(**job)], notes)


def _plan_tflite():
    models = benchmark.resolve_models(_MODEL.value or [])
    image_sizes = benchmark.parse_image_sizes(_IMAGE_SIZE.value or ["256"])
    for quantize in _QUANTIZE.value:
        if quantize not in export.QUANTIZATIONS:
            raise ValueError(
                f"--quantize takes {', '.join(export.QUANTIZATIONS)}, got '{quantize}'."
            )

    def run():
        print(f"tflite | {benchmark.describe_machine(benchmark.machine_info())}")
        print(
            "  batch 1, median of --runs calls; Keras: tf.function of the exported graph; "
            "TFLite: LiteRT interpreter, one thread per core; error: max |TFLite - Keras|."
        )
        print("| model | preset | px | quantize | file MiB | TFLite ms | Keras ms | max error |")
        print("|---|---|---|---|---|---|---|---|", flush=True)
        records = []
        for name in models:
            generator = registry.build_generator(name, _PRESET.value)
            for size in image_sizes:
                results = export.benchmark_tflite(
                    generator,
                    size,
                    quantizations=_QUANTIZE.value,
                    runs=_RUNS.value,
                    warmup=_WARMUP.value or 2,
                )
                for result in results:
                    record = {"model": name, "preset": _PRESET.value, "image_size": size, **result}
                    print(
                        f"| {name} | {_PRESET.value} | {size} | {result['quantize']} | "
                        f"{result['size_mib']:.3f} | {result['tflite_ms']:.1f} | "
                        f"{result['keras_ms']:.1f} | {result['max_abs_error']:.2g} |",
                        flush=True,
                    )
                    records.append(record)
        return records

    return run


# One entry per --what value: each checks the flags it reads (ValueError for a bad one) and
# returns the work to do, so that bad flags stop the program before any work.
_PLANS = {
    "data": _plan_data,
    "train_step": _plan_train_step,
    "inference": _plan_inference,
    "tflite": _plan_tflite,
}


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}.")
    try:
        if _COMPARE.value != "none" and _WHAT.value not in ("train_step", "inference"):
            raise ValueError(
                f"--compare={_COMPARE.value} works with --what=train_step or inference, got "
                f"--what={_WHAT.value}."
            )
        if _GENERATOR_CONFIG.value is not None and _WHAT.value != "inference":
            raise ValueError("--generator_config applies to --what=inference only.")
        run = _PLANS[_WHAT.value]()
    except ValueError as error:  # Bad flags: one sentence, no traceback.
        sys.exit(f"Error: {error}")
    records = run()
    if _JSON_OUTPUT.value:
        command = shlex.join([sys.executable, *sys.argv])
        benchmark.write_json(_JSON_OUTPUT.value, _WHAT.value, records, command)
        print(f"Wrote {len(records)} records to {_JSON_OUTPUT.value}.")


if __name__ == "__main__":
    cli.run(main)
