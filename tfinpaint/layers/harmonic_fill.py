"""A multi-scale harmonic (membrane) fill of the holes, in `keras.ops`.

Not from the five papers: a classical fill (Laplace's equation inside the holes, the known
pixels as boundary values, as in Chan and Shen's harmonic inpainting) that the PConv U-Net can
start from (`PConvUNet(fill_head_filters=...)`), so that the network learns a correction to a
smooth fill instead of every colour from nothing. It is also a baseline of the evaluation
(`postprocess.harmonic_inpaint`, the same definition in numpy).

The definition (`harmonic_fill`), with `valid = 1 - hole_mask`:
1. Pull. Level 0 is (`images`, `valid`). Level l + 1 averages 2x2 cells of level l's
   `values * weights` and of `weights`; its values are the ratio where the averaged weight is
   above 0 (0 elsewhere), and its weights are 1 there and 0 elsewhere. `levels` levels below
   the image.
2. The coarsest level's cells without a known pixel take the weighted mean of its known cells
   (0 if there is none).
3. Push, from the coarsest level to the image: the level below is upsampled x2 bilinearly
   (half-pixel centres, edges clamped: `ops.image.resize`'s "bilinear") into the hole cells of
   the current level, and then `iterations` Jacobi sweeps of Laplace's equation run on its hole
   cells (each becomes the mean of its 4 neighbours, edges replicated), the valid cells held.
The pull gives every hole a coarse estimate from its surroundings and the sweeps smooth it, so a
few dozen sweeps per level come close to the converged harmonic fill at any hole size (the
multigrid idea). No trainable weights; the output's known pixels are exactly the input's.
"""

import functools

import keras
from keras import ops

from tfinpaint.layers.resample import upsample_bilinear_2x


def _laplace_mean(values):
    """Each pixel's 4-neighbour mean, edges replicated. (B, H, W, C) -> (B, H, W, C)."""
    padded = ops.pad(values, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric")
    return 0.25 * (
        padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
    )


def harmonic_fill(images, hole_masks, levels=6, iterations=32):
    """The multi-scale harmonic fill of the holes (module docstring).

    Args:
        images: tensor (B, H, W, C), float. Hole pixels are ignored.
        hole_masks: tensor (B, H, W, 1), 1 = hole (soft values weigh the pixel by 1 - mask).
        levels: int. Levels of 2x2 averaging below the image; H and W must be divisible by
            `2**levels`.
        iterations: int. Jacobi sweeps per level.

    Returns:
        Tensor (B, H, W, C), float32: holes filled, known pixels equal to `images`.
    """
    images = ops.cast(images, "float32")
    valid = 1.0 - ops.cast(hole_masks, "float32")
    # (values, weights) per level; values only count where weights > 0.
    pyramid = [(images, valid)]
    for _ in range(levels):
        values, weights = pyramid[-1]
        numerator = ops.average_pool(values * weights, 2, strides=2, padding="valid")
        weight = ops.average_pool(weights, 2, strides=2, padding="valid")
        has_known = ops.cast(weight > 0.0, "float32")
        pyramid.append((ops.divide_no_nan(numerator, weight) * has_known, has_known))

    values, weights = pyramid[-1]
    # (B, 1, 1, C): the weighted mean of the coarsest level's known cells.
    global_mean = ops.divide_no_nan(
        ops.sum(values * weights, axis=(1, 2), keepdims=True),
        ops.sum(weights, axis=(1, 2), keepdims=True),
    )
    filled = values * weights + global_mean * (1.0 - weights)
    for level in range(levels, -1, -1):
        values, weights = pyramid[level]
        known = values * weights
        holes = 1.0 - weights
        if level < levels:
            filled = known + upsample_bilinear_2x(filled) * holes
        # A loop op, not `iterations` unrolled copies: a graph of the fill stays small (tracing
        # the unrolled 7 x 32 sweeps took seconds, for every model built on the fill).
        filled = ops.fori_loop(
            0,
            iterations,
            lambda _, current, known=known, holes=holes: known + _laplace_mean(current) * holes,
            filled,
        )
    # Level 0 ended as `images * valid + fill * (1 - valid)`: the known pixels are the input's.
    return filled


@keras.saving.register_keras_serializable(package="tfinpaint")
class HarmonicFill(keras.layers.Layer):
    """Fills the holes with a multi-scale harmonic (membrane) fill; no trainable weights.

    See the module docstring for the definition. Computed in float32 whatever the dtype policy
    (the fill is a base that a network's output is added to, so it keeps full precision), and
    without gradients to its inputs' hole pixels (they are not read).

    Args:
        levels: int. Levels of 2x2 averaging; H and W must be divisible by `2**levels`.
            Defaults to 6.
        iterations: int. Jacobi sweeps of Laplace's equation per level. Defaults to 32.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: `[images, hole_masks]`, (B, H, W, C) and (B, H, W, 1) with 1 = hole.
    Returns: (B, H, W, C) float32, holes filled, known pixels unchanged.

    Example:
    >>> fill = HarmonicFill(levels=3, iterations=16)
    >>> fill([np.ones((1, 32, 32, 3), "float32"), np.zeros((1, 32, 32, 1), "float32")]).shape
    TensorShape([1, 32, 32, 3])
    """

    def __init__(self, levels=6, iterations=32, **kwargs):
        super().__init__(**kwargs)
        for name, value, minimum in (("levels", levels, 0), ("iterations", iterations, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(
                    f"HarmonicFill received {name}={value!r}; expected an int >= {minimum}."
                )
        self.levels = levels
        self.iterations = iterations

    def call(self, inputs):
        images, hole_masks = inputs
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # noqa: PLC0415 (the TensorFlow backend only)

            if tf.executing_eagerly():
                # Eagerly the fill's ~2,000 small ops are dispatched one by one (0.75 s of a
                # 1 s forward pass of a 256 px model on the fill); as one graph for any size
                # they take 0.09 s. Inside a traced model it is inlined as written.
                fill = _traced_fill(self.levels, self.iterations, images.shape[-1])
                return fill(ops.cast(images, "float32"), ops.cast(hole_masks, "float32"))
        return harmonic_fill(images, hole_masks, self.levels, self.iterations)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs[0].shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"levels": self.levels, "iterations": self.iterations})
        return config


@functools.cache
def _traced_fill(levels, iterations, channels):
    """`harmonic_fill` as one TensorFlow graph for any batch and size (traced once).

    Sizes are left unknown in the signature so that images of a new size reuse the graph;
    `upsample_bilinear_2x` then takes its slice form, equal to the resize to float rounding.
    """
    import tensorflow as tf  # noqa: PLC0415 (the TensorFlow backend only)

    return tf.function(
        functools.partial(harmonic_fill, levels=levels, iterations=iterations),
        input_signature=[
            tf.TensorSpec([None, None, None, channels], tf.float32),
            tf.TensorSpec([None, None, None, 1], tf.float32),
        ],
    )
