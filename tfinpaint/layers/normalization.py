"""Batch normalization whose training-mode pass runs TF's fused kernel.

Keras 3's `BatchNormalization` computes, on the TF backend, the batch moments and the
normalisation as separate element-wise ops (`Mean`, `SquaredDifference`, `Mul`, `AddV2`...,
forward and backward), and under a mixed policy casts every input to float32 and back. Op
profiles of the train steps show no fused batch-norm op at all, and the element-wise work is a
third of the fp32 op time (WORKSPACE.md, "Training throughput"). `BatchNormalization` here is
the same layer (same arguments, variables, names and inference path) whose training-mode call
goes, on the TF backend, through `tf.compat.v1.nn.fused_batch_norm` (oneDNN's
`_MklFusedBatchNormV3` on x86) when it can:
- the TF backend, a 4-D NHWC input (axis -1), no mask, no renorm, not synchronized; otherwise
  Keras' own path runs.
- the kernel refuses an epsilon below 1.001e-5; PConv's and GLCIC's 1e-5 run at 1.001e-5 in
  training mode (the scale 1 / sqrt(var + eps) moves by at most 0.5e-8 / (var + eps) relative,
  5e-4 for a channel of constant value, nothing for real activations; inference, through
  Keras' path, keeps the layer's own epsilon).
- bfloat16 inputs are normalised in bfloat16 by the kernel (it accumulates the moments in
  float32; bfloat16 has float32's exponent range, so Keras' overflow guard is not needed);
  float16 inputs are cast to float32 first, as Keras does.

The moving statistics are updated as Keras updates them: with the *biased* batch variance
(the kernel returns the Bessel-corrected one, which is rescaled by (n - 1) / n). The class is
named `BatchNormalization` on purpose: Keras names the entries of a weights file after the
class of each layer in a list, so weights saved with Keras' layer load into this one and back.
"""

import keras

# The fused kernel refuses smaller epsilons (TF's FusedBatchNorm op check).
_MIN_FUSED_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable(package="tfinpaint")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with a fused training-mode pass (see the module)."""

    def _can_fuse(self, inputs, mask):
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
            and not self.renorm
            and not self.synchronized
        )

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._can_fuse(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        # Imported here: the models also build under other Keras backends without TensorFlow
        # (tools/benchmark_keras_backend.py), where this path never runs.
        import tensorflow as tf

        x = inputs
        if x.dtype not in (tf.float32, tf.bfloat16):
            x = tf.cast(x, tf.float32)
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x,
            gamma,
            beta,
            epsilon=max(self.epsilon, _MIN_FUSED_EPSILON),
            data_format="NHWC",
            is_training=True,
        )
        shape = tf.shape(x)
        count = tf.cast(shape[0] * shape[1] * shape[2], tf.float32)
        # The kernel returns the unbiased variance; Keras' moving variance averages the biased
        # (0 for a single value per channel, where the unbiased one is undefined).
        variance = tf.where(count > 1.0, variance * (count - 1.0) / count, tf.zeros_like(variance))
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(outputs, self.compute_dtype)
