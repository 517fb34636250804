"""tfinpaint.layers.BatchNormalization: Keras' layer with TF's fused kernel in training mode.

Checked against a numpy reference written from the definition (batch moments over N, H, W;
biased variance in the moving averages) and against keras.layers.BatchNormalization itself:
outputs, moving statistics, gradients, the fallbacks, and weights files in both directions.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint.layers import BatchNormalization


def _reference(x, gamma, beta, moving_mean, moving_variance, momentum, epsilon):
    mean = x.mean(axis=(0, 1, 2))
    variance = x.var(axis=(0, 1, 2))  # biased
    y = (x - mean) / np.sqrt(variance + epsilon) * gamma + beta
    new_mean = moving_mean * momentum + mean * (1 - momentum)
    new_variance = moving_variance * momentum + variance * (1 - momentum)
    return y, new_mean, new_variance


def _pair(momentum=0.9, epsilon=1e-3, **kwargs):
    ours = BatchNormalization(momentum=momentum, epsilon=epsilon, **kwargs)
    theirs = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, **kwargs)
    return ours, theirs


def test_training_step_matches_the_definition_and_keras():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3, 5, 6, 4)) * 2.5 + 1.5).astype(np.float32)
    weights = [
        rng.uniform(0.5, 2.0, 4).astype(np.float32),
        rng.normal(size=4).astype(np.float32),
        rng.normal(size=4).astype(np.float32),
        rng.uniform(0.5, 2.0, 4).astype(np.float32),
    ]
    ours, theirs = _pair()
    for layer in (ours, theirs):
        layer.build(x.shape)
        layer.set_weights(weights)
    gamma, beta, moving_mean, moving_variance = [w.copy() for w in ours.get_weights()]
    expected, new_mean, new_variance = _reference(
        x.astype(np.float64), gamma, beta, moving_mean, moving_variance, 0.9, 1e-3
    )
    y = ours(x, training=True).numpy()
    np.testing.assert_allclose(y, expected, atol=2e-5)
    np.testing.assert_allclose(ours.moving_mean.numpy(), new_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.moving_variance.numpy(), new_variance, rtol=1e-5)
    np.testing.assert_allclose(theirs(x, training=True).numpy(), y, atol=2e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Inference uses the moving statistics through Keras' own path: identical.
    theirs.set_weights(ours.get_weights())
    np.testing.assert_array_equal(ours(x, training=False).numpy(), theirs(x).numpy())


def test_gradients_match_keras():
    x = tf.random.stateless_normal((2, 4, 4, 3), seed=[1, 2]) * 3.0
    ours, theirs = _pair()
    weight = tf.random.stateless_normal((2, 4, 4, 3), seed=[3, 4])
    grads = []
    for layer in (ours, theirs):
        layer.build(x.shape)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * weight)
        grads.append(tape.gradient(loss, [x, *layer.trainable_variables]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_bfloat16_inputs_stay_close_and_frozen_layers_use_moving_statistics():
    x = tf.random.stateless_normal((2, 8, 8, 16), seed=[5, 6]) * 4.0
    ours = BatchNormalization(dtype="mixed_bfloat16")
    reference = BatchNormalization()
    y = ours(tf.cast(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16
    np.testing.assert_allclose(
        tf.cast(y, tf.float32).numpy(), reference(x, training=True).numpy(), atol=0.03
    )
    np.testing.assert_allclose(
        ours.moving_variance.numpy(), reference.moving_variance.numpy(), rtol=0.02
    )
    # A frozen layer (PConv's stage 2 encoder) normalises with its moving statistics.
    ours.trainable = False
    before = ours.moving_mean.numpy().copy()
    ours(tf.cast(x, tf.bfloat16), training=True)
    np.testing.assert_array_equal(ours.moving_mean.numpy(), before)


@pytest.mark.parametrize(
    "kwargs, shape",
    [({}, (4, 6)), ({"axis": 1}, (2, 3, 3, 2)), ({"renorm": True}, (2, 3, 3, 2))],
)
def test_what_the_kernel_cannot_take_falls_back_to_keras(kwargs, shape):
    x = tf.random.stateless_normal(shape, seed=[7, 8]) * 2.0
    ours, theirs = _pair(**kwargs)
    np.testing.assert_allclose(
        ours(x, training=True).numpy(), theirs(x, training=True).numpy(), atol=1e-6
    )
    np.testing.assert_allclose(ours.moving_variance.numpy(), theirs.moving_variance.numpy())


def test_an_epsilon_below_the_kernels_minimum_runs_at_the_minimum():
    # PConv and GLCIC use 1e-5; the kernel takes >= 1.001e-5. The scale 1/sqrt(var + eps)
    # moves by at most 0.5 * 1e-8 / (var + eps) relative: nothing for real activations.
    x = tf.random.stateless_normal((2, 4, 4, 3), seed=[1, 1]) * 0.5
    ours, theirs = _pair(epsilon=1e-5)
    y = ours(x, training=True).numpy()
    np.testing.assert_allclose(y, theirs(x, training=True).numpy(), rtol=1e-5, atol=1e-6)
    # A constant channel (variance 0) is where the difference is largest: 5e-4 relative.
    flat = tf.concat([x[..., :2], tf.fill([2, 4, 4, 1], 0.25)], axis=-1)
    ours, theirs = _pair(epsilon=1e-5)
    np.testing.assert_allclose(
        ours(flat, training=True).numpy(), theirs(flat, training=True).numpy(), atol=1e-5
    )


def test_a_single_value_per_channel_gives_zero_batch_variance():
    x = tf.constant([[[[2.0, -1.0]]]])
    ours, theirs = _pair()
    ours(x, training=True)
    theirs(x, training=True)
    np.testing.assert_allclose(ours.moving_variance.numpy(), theirs.moving_variance.numpy())
    assert np.all(np.isfinite(ours.moving_variance.numpy()))


class _Stack(keras.layers.Layer):
    def __init__(self, cls, **kwargs):
        super().__init__(**kwargs)
        self.norms = [cls(name=f"bn{i}") for i in range(2)]

    def call(self, x):
        for norm in self.norms:
            x = norm(x)
        return x


def test_weights_files_load_both_ways_with_keras_layers(tmp_path):
    x = tf.random.stateless_normal((2, 3, 3, 2), seed=[9, 9])
    keras_stack, our_stack = _Stack(keras.layers.BatchNormalization), _Stack(BatchNormalization)
    for stack in (keras_stack, our_stack):
        stack(x)
    keras_model = keras.Sequential([keras.Input((3, 3, 2)), keras_stack])
    our_model = keras.Sequential([keras.Input((3, 3, 2)), our_stack])
    for norm in keras_stack.norms:
        norm.moving_mean.assign([0.5, -0.5])
        norm.gamma.assign([2.0, 3.0])
    path = str(tmp_path / "keras.weights.h5")
    keras_model.save_weights(path)
    our_model.load_weights(path)
    for a, b in zip(keras_model.get_weights(), our_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    back = str(tmp_path / "ours.weights.h5")
    our_model.save_weights(back)
    fresh = keras.Sequential([keras.Input((3, 3, 2)), _Stack(keras.layers.BatchNormalization)])
    fresh.load_weights(back)
    for a, b in zip(fresh.get_weights(), our_model.get_weights()):
        np.testing.assert_array_equal(a, b)
