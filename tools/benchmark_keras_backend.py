r"""Times the generators under a non-TensorFlow Keras 3 backend (JAX), e.g. on a GPU machine.

`import tfinpaint` loads TensorFlow, which a JAX-only machine does not have; the layers and
generators (`tfinpaint.layers`, `tfinpaint.models`) use `keras.ops` only. This script puts the
package on the path without running `tfinpaint/__init__.py`, builds each family's generator
with the registry's presets under `KERAS_BACKEND` (default jax), and times:
  * inference: a jitted `stateless_call` at each --image_size, batch --batch_size;
  * train step: one jitted step of hole L1 (the reconstruction term every family has; no VGG,
    no discriminator) with Adam, at --train_size.
Each in float32 and in bfloat16 (`keras.mixed_precision` policy "mixed_bfloat16": bf16
compute, float32 variables). Times are the minimum of --rounds rounds of --iters calls after
compilation, with `block_until_ready`. XLA's own FLOP count of the compiled program
(`cost_analysis`) gives achieved TFLOP/s. One JSON line per measurement goes to stdout and to
--output, written as it is measured so that a run stopped by a time limit keeps what it did.

Usage:
  KERAS_BACKEND=jax python tools/benchmark_keras_backend.py --models=pconv,cascade \
      --image_size=256,512 --output=out/gpu.jsonl
"""

import argparse
import importlib.util
import os
import sys
import time
import types

os.environ.setdefault("KERAS_BACKEND", "jax")
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _import_models_without_tensorflow():
    """Makes `tfinpaint.models` importable without executing tfinpaint/__init__.py."""
    if "tfinpaint" not in sys.modules:
        package = types.ModuleType("tfinpaint")
        package.__path__ = [os.path.join(_ROOT, "tfinpaint")]
        package.__spec__ = importlib.util.spec_from_loader("tfinpaint", loader=None)
        sys.modules["tfinpaint"] = package
    from tfinpaint import models

    return models


def _timed(fn, args, iters, rounds):
    import jax

    jax.block_until_ready(fn(*args))  # Compile and warm up.
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iters):
            result = fn(*args)
        jax.block_until_ready(result)
        best = min(best, (time.perf_counter() - start) / iters)
    return best


def _flops(jitted, args):
    try:
        analysis = jitted.lower(*args).compile().cost_analysis()
        if isinstance(analysis, (list, tuple)):
            analysis = analysis[0]
        return float(analysis.get("flops", 0.0)) or None
    except Exception:  # noqa: BLE001 - a FLOP count is optional.
        return None


def _measure(generator, jitted, args, batch, iters, rounds):
    """Times `jitted(*args)` and returns the record fields of one measurement."""
    seconds = _timed(jitted, args, iters, rounds)
    flops = _flops(jitted, args)
    return {
        "params": int(generator.count_params()),
        "seconds": seconds,
        "images_per_s": batch / seconds,
        "gflop": None if flops is None else flops / 1e9,
        "tflop_per_s": None if flops is None else flops / seconds / 1e12,
    }


def _inputs(batch, size, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.random((batch, size, size, 3), dtype=np.float32)
    masks = np.zeros((batch, size, size, 1), np.float32)
    masks[:, size // 4 : size // 2, size // 4 : 3 * size // 4] = 1.0
    return {"images": images, "masks": masks}


def _build(models, name, preset, precision):
    import keras

    keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if precision == "bfloat16" else "float32"
    )
    try:
        return models.build_generator(name, preset=preset)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def bench_inference(models, name, preset, precision, size, batch, iters, rounds):
    import jax

    generator = _build(models, name, preset, precision)
    inputs = _inputs(batch, size)
    trainable = [v.value for v in generator.trainable_variables]
    non_trainable = [v.value for v in generator.non_trainable_variables]

    @jax.jit
    def forward(trainable, non_trainable, inputs):
        outputs, _ = generator.stateless_call(trainable, non_trainable, inputs, training=False)
        return outputs["inpainted"]

    return _measure(generator, forward, (trainable, non_trainable, inputs), batch, iters, rounds)


def bench_train_step(models, name, preset, precision, size, batch, iters, rounds):
    import jax
    import keras
    from keras import ops

    generator = _build(models, name, preset, precision)
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(generator.trainable_variables)
    inputs = _inputs(batch, size)
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

    args = (trainable, non_trainable, opt_vars, inputs)
    return _measure(generator, step, args, batch, iters, rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="pconv,glcic,cascade,deepgin")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--image_size", default="256,512", help="Inference sizes.")
    parser.add_argument("--batch_size", type=int, default=1, help="Inference batch.")
    parser.add_argument("--train_size", type=int, default=256)
    parser.add_argument("--train_batch_size", type=int, default=8)
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--what", default="inference,train_step")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=None, help="Also append JSON lines here.")
    args = parser.parse_args(argv)

    models = _import_models_without_tensorflow()
    import jax
    import keras

    from tfinpaint import files  # Strict JSON (numpy and stdlib only: no TensorFlow).

    device = str(jax.devices()[0])
    known = models.list_models()
    names = [name for name in args.models.split(",") if name]
    unknown = [name for name in names if name not in known]
    if unknown:
        sys.exit(f"Error: unknown model(s) {', '.join(unknown)}; expected some of {known}.")
    jobs = []
    for what in args.what.split(","):
        for name in names:
            for precision in args.precisions.split(","):
                if what == "inference":
                    for size in (int(s) for s in args.image_size.split(",")):
                        jobs.append((what, name, precision, size, args.batch_size))
                elif what == "train_step":
                    jobs.append((what, name, precision, args.train_size, args.train_batch_size))
                else:
                    sys.exit(f"Error: --what={what}; expected inference and/or train_step.")
    output = open(args.output, "a") if args.output else None  # noqa: SIM115
    for what, name, precision, size, batch in jobs:
        record = {
            "what": what,
            "model": name,
            "preset": args.preset,
            "precision": precision,
            "image_size": size,
            "batch_size": batch,
            "backend": keras.backend.backend(),
            "device": device,
        }
        bench = bench_inference if what == "inference" else bench_train_step
        start = time.perf_counter()
        try:
            record.update(
                bench(models, name, args.preset, precision, size, batch, args.iters, args.rounds)
            )
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
    main()
