r"""Times the generators under a non-TensorFlow Keras 3 backend (JAX), e.g. on a GPU machine.

The layers and generators (`tfinpaint.layers`, `tfinpaint.models`) use `keras.ops` only and
`import tfinpaint` loads no TensorFlow, so this runs where TensorFlow is not installed. It
builds each family's generator with the registry's presets under `KERAS_BACKEND` (default jax)
and times:
  * inference: a jitted `stateless_call` at each --image_size, batch --batch_size;
  * train step: one jitted step of hole L1 (the reconstruction term every family has; no VGG,
    no discriminator) with Adam, at --train_size and batch --train_batch_size.
Each in every --precisions (`tfinpaint.precision`: bfloat16 is Keras' "mixed_bfloat16" policy,
bf16 compute and float32 variables). The inputs are `tfinpaint.benchmark`'s synthetic batch and
the statistics its `time_calls` (what tools/benchmark.py reports under TensorFlow): the first
call (it compiles), --warmup untimed calls, then the median and 90th percentile of --runs
timed calls, each waiting for its results on the device. XLA's own FLOP count of the compiled
program (`cost_analysis`) gives achieved TFLOP/s. One JSON line per measurement goes to stdout
and to --output, written as it is measured so that a run stopped by a time limit keeps what it
did.

Usage:
  KERAS_BACKEND=jax python tools/benchmark_keras_backend.py --models=pconv,cascade \
      --image_size=256,512 --output=out/gpu.jsonl
"""

import os
import sys
import time

# Before tfinpaint (which defaults the backend to tensorflow) and Keras are imported.
os.environ.setdefault("KERAS_BACKEND", "jax")

from absl import flags  # noqa: E402

from tfinpaint import cli  # noqa: E402

if os.environ["KERAS_BACKEND"] == "tensorflow":  # Only then does anything load TensorFlow.
    cli.import_tensorflow_quietly()

try:
    import keras  # Imports the backend's own package (jax) first.
except ImportError as error:  # Said in one sentence by main, so that --help still works.
    _BACKEND_ERROR = f"Keras cannot load its {os.environ['KERAS_BACKEND']} backend: {error}"
else:
    _BACKEND_ERROR = None
    from tfinpaint import files, precision
    from tfinpaint.benchmark import timing  # Backend-neutral: no TensorFlow.
    from tfinpaint.models import registry

_MODELS = flags.DEFINE_list("models", ["pconv", "glcic", "cascade", "deepgin"], "Families.")
_PRESET = flags.DEFINE_string("preset", "paper", "Registry preset of every family.")
_WHAT = flags.DEFINE_multi_enum(
    "what", ["inference", "train_step"], ["inference", "train_step"], "What to time."
)
_IMAGE_SIZE = flags.DEFINE_list("image_size", ["256", "512"], "Inference image sizes.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 1, "Inference batch.")
_TRAIN_SIZE = flags.DEFINE_integer("train_size", 256, "Train-step image size.")
_TRAIN_BATCH_SIZE = flags.DEFINE_integer("train_batch_size", 8, "Train-step batch.")
_PRECISIONS = flags.DEFINE_list(
    "precisions", ["float32", "bfloat16"], "Precisions, each a tfinpaint.precision name."
)
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed calls after the first (compiling) one.")
_RUNS = flags.DEFINE_integer("runs", 20, "Timed calls per measurement.")
_OUTPUT = flags.DEFINE_string("output", None, "Also append the JSON lines to this file.")


def _flops(jitted, args):
    try:
        analysis = jitted.lower(*args).compile().cost_analysis()
        if isinstance(analysis, (list, tuple)):
            analysis = analysis[0]
        return float(analysis.get("flops", 0.0)) or None
    except Exception:  # noqa: BLE001 - a FLOP count is optional.
        return None


def _measure(generator, jitted, args, batch_size):
    """Times `jitted(*args)` (`timing.time_calls`) and returns the record's fields."""
    timed = timing.time_calls(lambda: timing.sync(jitted(*args)), _WARMUP.value, _RUNS.value)
    flops = _flops(jitted, args)
    seconds = timed["median_s"]
    return {
        "params": int(generator.count_params()),
        **timed,
        "images_per_s": batch_size / seconds,
        "gflop": None if flops is None else flops / 1e9,
        "tflop_per_s": None if flops is None else flops / seconds / 1e12,
    }


def _build(name, preset, precision_name):
    with precision.global_policy(precision_name):
        return registry.build_generator(name, preset=preset)


def _inputs(image_size, batch_size):
    batch = timing.synthetic_batch(image_size, batch_size)
    return {"images": batch["images"], "masks": batch["masks"]}


def bench_inference(name, preset, precision_name, image_size, batch_size):
    import jax

    generator = _build(name, preset, precision_name)
    trainable = [v.value for v in generator.trainable_variables]
    non_trainable = [v.value for v in generator.non_trainable_variables]

    @jax.jit
    def forward(trainable, non_trainable, inputs):
        outputs, _ = generator.stateless_call(trainable, non_trainable, inputs, training=False)
        return outputs["inpainted"]

    args = (trainable, non_trainable, _inputs(image_size, batch_size))
    return _measure(generator, forward, args, batch_size)


def bench_train_step(name, preset, precision_name, image_size, batch_size):
    import jax
    from keras import ops

    generator = _build(name, preset, precision_name)
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(generator.trainable_variables)
    trainable = [v.value for v in generator.trainable_variables]
    non_trainable = [v.value for v in generator.non_trainable_variables]
    opt_vars = [v.value for v in optimizer.variables]

    def loss_fn(trainable, non_trainable, inputs):
        outputs, non_trainable = generator.stateless_call(
            trainable, non_trainable, inputs, training=True
        )
        hole = inputs["masks"]
        error = ops.abs(ops.cast(outputs["raw"], "float32") - inputs["images"]) * hole
        return ops.sum(error) / (ops.sum(hole) * 3.0 + 1e-6), non_trainable

    @jax.jit
    def step(trainable, non_trainable, opt_vars, inputs):
        (loss, non_trainable), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable, non_trainable, inputs
        )
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return trainable, non_trainable, opt_vars, loss

    args = (trainable, non_trainable, opt_vars, _inputs(image_size, batch_size))
    return _measure(generator, step, args, batch_size)


def _jobs():
    """(what, model, precision, image size, batch) per measurement; exits on a bad flag."""
    known = registry.list_models()
    unknown = [name for name in _MODELS.value if name not in known]
    if unknown:
        sys.exit(f"Error: unknown model(s) {', '.join(unknown)}; expected some of {known}.")
    for name in _PRECISIONS.value:
        if name not in precision.INFERENCE_PRECISIONS:
            sys.exit(
                f"Error: --precisions takes {', '.join(precision.INFERENCE_PRECISIONS)}, "
                f"got '{name}'."
            )
    try:
        image_sizes = [int(size) for size in _IMAGE_SIZE.value]
    except ValueError:
        sys.exit(f"Error: --image_size takes integers, got {','.join(_IMAGE_SIZE.value)}.")
    jobs = []
    for what in _WHAT.value:
        for name in _MODELS.value:
            for precision_name in _PRECISIONS.value:
                if what == "inference":
                    for size in image_sizes:
                        jobs.append((what, name, precision_name, size, _BATCH_SIZE.value))
                else:
                    jobs.append(
                        (what, name, precision_name, _TRAIN_SIZE.value, _TRAIN_BATCH_SIZE.value)
                    )
    return jobs


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    if _BACKEND_ERROR:
        sys.exit(f"Error: {_BACKEND_ERROR}; install it (pip install jax) or set KERAS_BACKEND.")
    if keras.backend.backend() != "jax":
        sys.exit(
            f"Error: this tool times jitted JAX programs and Keras runs on "
            f"'{keras.backend.backend()}': run it with KERAS_BACKEND=jax (tools/benchmark.py "
            "times the TensorFlow backend)."
        )
    jobs = _jobs()
    import jax

    device = str(jax.devices()[0])
    output = open(_OUTPUT.value, "a") if _OUTPUT.value else None  # noqa: SIM115
    for what, name, precision_name, size, batch_size in jobs:
        record = {
            "what": what,
            "model": name,
            "preset": _PRESET.value,
            "precision": precision_name,
            "image_size": size,
            "batch_size": batch_size,
            "backend": keras.backend.backend(),
            "device": device,
        }
        bench = bench_inference if what == "inference" else bench_train_step
        start = time.perf_counter()
        try:
            record.update(bench(name, _PRESET.value, precision_name, size, batch_size))
        except Exception as error:  # noqa: BLE001 - one failure must not lose the others.
            record["error"] = f"{type(error).__name__}: {str(error)[:300]}"
        record["wall_s"] = time.perf_counter() - start
        line = files.strict_json_dumps(record)  # An undefined time is null, never NaN.
        print(line, flush=True)
        if output:
            output.write(line + "\n")
            output.flush()
        keras.backend.clear_session()


if __name__ == "__main__":
    cli.run(main)
