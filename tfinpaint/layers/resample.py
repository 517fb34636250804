"""Integer-factor nearest-neighbour resampling that works with dynamic spatial sizes.

The cascade generator (SPEC.md section 3) builds its image pyramid and merges its levels with
nearest-neighbour scaling. `keras.layers.UpSampling2D` and `ops.image.resize` need static
target sizes, so these layers use strided slicing (down) and `ops.repeat` (up) instead: both
work on `(B, None, None, C)` inputs and lower to builtin TFLite ops (STRIDED_SLICE, TILE /
RESHAPE).
"""

import keras
from keras import ops


def downsample_nearest(x, factor):
    """Nearest-neighbour downsampling of an NHWC tensor by an integer factor.

    Keeps pixel `factor // 2` of every `factor x factor` cell, which is the pixel that
    `ops.image.resize(..., interpolation="nearest")` (half-pixel centres) picks when the size
    is divisible by `factor`.

    Args:
        x: tensor of shape (B, H, W, C).
        factor: int. Downsampling factor (1 returns `x`).

    Returns:
        Tensor of shape (B, ceil((H - factor // 2) / factor), ..., C), i.e. (B, H/f, W/f, C)
        when H and W are divisible by `factor`.
    """
    if factor == 1:
        return x
    offset = factor // 2
    return x[:, offset::factor, offset::factor, :]


def upsample_nearest(x, factor):
    """Nearest-neighbour upsampling of an NHWC tensor by an integer factor.

    Args:
        x: tensor of shape (B, H, W, C).
        factor: int. Upsampling factor (1 returns `x`).

    Returns:
        Tensor of shape (B, H * factor, W * factor, C).
    """
    if factor == 1:
        return x
    x = ops.repeat(x, factor, axis=1)  # (B, H, W, C) -> (B, fH, W, C)
    return ops.repeat(x, factor, axis=2)  # (B, fH, W, C) -> (B, fH, fW, C)


def _check_factor(factor):
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        raise ValueError(f"Received factor={factor!r}; expected a positive integer.")


@keras.saving.register_keras_serializable(package="tfinpaint")
class NearestDownsample2D(keras.layers.Layer):
    """Nearest-neighbour downsampling by an integer factor (dynamic sizes allowed).

    Used for the cascade generator's image pyramid (Shatokhin, "Cascaded neural networks for
    image inpainting", section 3.1: "changing the resolution of features occurs by ... the
    nearest-neighbor scaling").

    Args:
        factor: int. Downsampling factor; H and W should be divisible by it.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, C). Returns: tensor (B, H/factor, W/factor, C).

    Example:
    >>> layer = NearestDownsample2D(2)
    >>> layer(np.zeros((1, 8, 8, 3), "float32")).shape
    TensorShape([1, 4, 4, 3])
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        _check_factor(factor)
        self.factor = factor

    def call(self, inputs):
        return downsample_nearest(inputs, self.factor)

    def compute_output_shape(self, input_shape):
        def _scale(size):
            return None if size is None else -(-(size - self.factor // 2) // self.factor)

        return (input_shape[0], _scale(input_shape[1]), _scale(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config


@keras.saving.register_keras_serializable(package="tfinpaint")
class NearestUpsample2D(keras.layers.Layer):
    """Nearest-neighbour upsampling by an integer factor (dynamic sizes allowed).

    A repeat-based replacement for `keras.layers.UpSampling2D` that traces with `None`
    spatial dimensions and converts to builtin TFLite ops.

    Args:
        factor: int. Upsampling factor.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, C). Returns: tensor (B, H*factor, W*factor, C).

    Example:
    >>> layer = NearestUpsample2D(2)
    >>> layer(np.zeros((1, 4, 4, 3), "float32")).shape
    TensorShape([1, 8, 8, 3])
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        _check_factor(factor)
        self.factor = factor

    def call(self, inputs):
        return upsample_nearest(inputs, self.factor)

    def compute_output_shape(self, input_shape):
        def _scale(size):
            return None if size is None else size * self.factor

        return (input_shape[0], _scale(input_shape[1]), _scale(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config
