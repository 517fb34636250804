"""How much a fused batch norm would save: Keras 3's BatchNormalization (training mode, forward
and backward) against TF's fused kernel on the same tensor, alternating, minimum of --rounds.

Keras 3 on the TF backend computes the moments and the normalisation as separate element-wise
ops (no `FusedBatchNorm` op in any op profile, docs/experiments/2026-11-30-training-throughput.md);
this measures the lever that leaves. `fused_bn_train_step.py` measures it inside real train steps.

    python benchmarks/fused_bn.py [--shape=2,128,128,64] [--rounds=10]
"""

import argparse

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfinpaint.benchmark.compare import alternate  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--shape", default="2,128,128,64", help="B,H,W,C of the normalised tensor.")
parser.add_argument("--rounds", type=int, default=10, help="Alternating timed rounds.")
args = parser.parse_args()

x = tf.random.normal([int(size) for size in args.shape.split(",")])
channels = x.shape[-1]
layer = keras.layers.BatchNormalization()
layer.build(x.shape)
gamma, beta = tf.Variable(tf.ones(channels)), tf.Variable(tf.zeros(channels))


@tf.function
def keras_bn(x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * y)
    return tape.gradient(loss, [x, *layer.trainable_variables])


@tf.function
def fused_bn(x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=1e-3, is_training=True)
        loss = tf.reduce_sum(y * y)
    return tape.gradient(loss, [x, gamma, beta])


functions = {"keras": keras_bn, "fused": fused_bn}
for fn in functions.values():
    fn(x)
times = alternate(
    {name: lambda fn=fn: [t.numpy() for t in fn(x)] for name, fn in functions.items()},
    args.rounds,
)
print(", ".join(f"{name} {1000 * min(t):.2f} ms" for name, t in times.items()))
