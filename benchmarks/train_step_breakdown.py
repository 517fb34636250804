"""Where a train step's time goes on this CPU: forward, backward, optimizer update.

A one-off measurement behind WORKSPACE.md's "Training throughput" note (issue 15). For the
paper generator of --model at --image_size and --batch_size it times three `tf.function`s, each
a prefix of the one after it, alternating rounds and taking minima:
  forward   generator(training=True) and a hole-weighted L1 loss (the part every family shares);
  gradients the same plus tape.gradient over the generator's weights;
  step      the same plus Adam's update (Keras 3 `keras.optimizers.Adam`).
It prints each part's time, the FLOPs TF's profiler counts in it (the optimizer's element-wise
passes count as ~0 there) and the GFLOP/s of the convolution work.

    python benchmarks/train_step_breakdown.py --model=pconv --image_size=256 --batch_size=1
"""

import argparse
import time

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfinpaint import benchmark  # noqa: E402
from tfinpaint.benchmark.machine import peak_gflop_per_s  # noqa: E402
from tfinpaint.models import registry  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="pconv")
parser.add_argument("--image_size", type=int, default=256)
parser.add_argument("--batch_size", type=int, default=1)
parser.add_argument("--rounds", type=int, default=5)
args = parser.parse_args()

keras.utils.set_random_seed(0)
generator = registry.build_generator(args.model, "paper")
batch = benchmark.synthetic_batch(args.image_size, args.batch_size)
inputs = {"images": batch["images"], "masks": batch["masks"]}
optimizer = keras.optimizers.Adam(2e-4)
optimizer.build(generator.trainable_variables)


def loss_of(outputs):
    diff = tf.abs(outputs["raw"] - inputs["images"])
    return tf.reduce_mean(diff * (1.0 + 5.0 * inputs["masks"]))


def forward(inputs):
    return loss_of(generator(inputs, training=True))


def gradients(inputs):
    with tf.GradientTape() as tape:
        loss = loss_of(generator(inputs, training=True))
    return loss, tape.gradient(loss, generator.trainable_variables)


def step(inputs):
    loss, grads = gradients(inputs)
    optimizer.apply(grads, generator.trainable_variables)
    return loss


parts = {"forward": forward, "gradients": gradients, "step": step}
functions = {name: tf.function(fn) for name, fn in parts.items()}
flops = {name: benchmark.count_flops(fn, inputs)["flops"] for name, fn in functions.items()}
for fn in functions.values():  # trace and warm up
    tf.nest.map_structure(lambda t: t.numpy(), fn(inputs))
times = {name: [] for name in functions}
for _ in range(args.rounds):
    for name, fn in functions.items():
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), fn(inputs))
        times[name].append(time.perf_counter() - start)
peak = peak_gflop_per_s()
params = generator.count_params()
print(
    f"{args.model} (paper, {params:,} parameters) {args.image_size} px batch {args.batch_size}, "
    f"min of {args.rounds} alternating rounds, peak {peak:.0f} GFLOP/s"
)
previous_t, previous_f = 0.0, 0.0
for name in functions:
    t, f = min(times[name]), flops[name]
    part_t, part_f = t - previous_t, f - previous_f
    print(
        f"{name:9s} total {1000 * t:8.1f} ms {f / 1e9:8.1f} GFLOP ({f / t / 1e9:6.1f} GFLOP/s, "
        f"{100 * f / t / 1e9 / peak:4.1f}% peak) | this part {1000 * part_t:8.1f} ms "
        f"{part_f / 1e9:8.1f} GFLOP"
    )
    previous_t, previous_f = t, f
