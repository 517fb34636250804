"""How much a fused batch norm would save: Keras 3's BatchNormalization (training mode, forward
and backward) against TF's fused kernel on the same tensor, alternating, minimum of 10.

Keras 3 on the TF backend computes the moments and the normalisation as separate element-wise
ops (no `FusedBatchNorm` op in any op profile, WORKSPACE "Training throughput"); this measures
the lever that leaves.

    python benchmarks/fused_bn.py
"""

import keras
import tensorflow as tf

from tfinpaint.benchmark.compare import alternate

x = tf.random.normal((2, 128, 128, 64))
layer = keras.layers.BatchNormalization()
layer.build(x.shape)
gamma, beta = tf.Variable(tf.ones(64)), tf.Variable(tf.zeros(64))


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
    {name: lambda fn=fn: [t.numpy() for t in fn(x)] for name, fn in functions.items()}, 10
)
print(", ".join(f"{name} {1000 * min(t):.2f} ms" for name, t in times.items()))
