"""Integer-factor nearest-neighbour resampling that works with dynamic spatial sizes.

The cascade generator (SPEC.md section 3) builds its image pyramid and merges its levels with
nearest-neighbour scaling. `keras.layers.UpSampling2D` and `ops.image.resize` need static
target sizes, so these layers use strided slicing (down) and `ops.repeat` (up) instead: both
work on `(B, None, None, C)` inputs and lower to builtin TFLite ops (STRIDED_SLICE, TILE /
RESHAPE).

GAIN's decoder (SPEC.md section 5) upsamples bilinearly x2 with half-pixel centres
(`upsample_bilinear_2x`, the same values as `ops.image.resize`, but for dynamic sizes).

DeepGIN (SPEC.md section 4) resamples bilinearly with aligned corners (PyTorch's
`align_corners=True`), which `ops.image.resize` lacks: `BilinearResize2D` gathers and
interpolates per axis (GATHER and arithmetic, builtin TFLite ops), also for dynamic sizes.
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


def _upsample_axis_bilinear_2x(x, axis):
    """x2 linear upsampling along `axis` (1 or 2) with half-pixel centres, edges clamped."""
    size = ops.shape(x)[axis]
    first = x[:, :1] if axis == 1 else x[:, :, :1]
    last = x[:, -1:] if axis == 1 else x[:, :, -1:]
    body_before = x[:, :-1] if axis == 1 else x[:, :, :-1]
    body_after = x[:, 1:] if axis == 1 else x[:, :, 1:]
    previous = ops.concatenate([first, body_before], axis=axis)  # x[i - 1], x[-1] = x[0]
    following = ops.concatenate([body_after, last], axis=axis)  # x[i + 1], x[n] = x[n - 1]
    # Output 2i samples the input at i - 1/4, output 2i + 1 at i + 1/4.
    even = 0.75 * x + 0.25 * previous
    odd = 0.75 * x + 0.25 * following
    pairs = ops.stack([even, odd], axis=axis + 1)  # (..., n, 2, ...) along `axis`
    shape = ops.shape(x)
    new_shape = [shape[0], shape[1], shape[2], x.shape[3]]
    new_shape[axis] = 2 * size
    return ops.reshape(pairs, new_shape)


def upsample_bilinear_2x(x):
    """Bilinear x2 upsampling with half-pixel centres, for dynamic sizes.

    The values of `ops.image.resize(x, (2H, 2W), "bilinear")` (TensorFlow's default
    `half_pixel_centers`, edges clamped), to float rounding. With H and W known (eager calls,
    graphs traced at a fixed size) it is that resize, one kernel. With them unknown (a
    SavedModel's signature), where Keras' resize needs a static size, it is written with
    slices, stacks and reshapes, which convert to builtin TFLite ops; that form holds several
    output-sized temporaries at once (eager peak memory).

    Args:
        x: tensor (B, H, W, C), C known.

    Returns:
        Tensor (B, 2H, 2W, C).
    """
    height, width = x.shape[1], x.shape[2]
    if height is not None and width is not None:
        return ops.image.resize(x, (2 * height, 2 * width), interpolation="bilinear")
    return _upsample_axis_bilinear_2x(_upsample_axis_bilinear_2x(x, 1), 2)


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


def _resize_axis_align_corners(x, out_size, axis):
    """Linear interpolation of `x` along `axis` to `out_size` samples, corners aligned."""
    in_size = ops.shape(x)[axis]
    # Sample i reads source position i * (in - 1) / (out - 1): the first and last samples sit
    # on the first and last source pixels (PyTorch's align_corners=True).
    step = ops.cast(in_size - 1, "float32") / ops.cast(ops.maximum(out_size - 1, 1), "float32")
    positions = ops.cast(ops.arange(0, out_size), "float32") * step
    low = ops.cast(ops.floor(positions), "int32")
    high = ops.minimum(low + 1, in_size - 1)
    fraction = ops.cast(positions - ops.cast(low, "float32"), x.dtype)
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    fraction = ops.reshape(fraction, shape)  # (out,) -> broadcastable along `axis`
    below = ops.take(x, low, axis=axis)
    above = ops.take(x, high, axis=axis)
    return below + (above - below) * fraction


def resize_bilinear_align_corners(x, size):
    """Bilinear resize of an NHWC tensor with aligned corners (PyTorch `align_corners=True`).

    Gathers and a lerp per axis (GATHER, SUB, MUL, ADD: builtin TFLite ops), so the sizes may
    be dynamic. `ops.image.resize` has no aligned-corners mode.

    Args:
        x: tensor (B, H, W, C).
        size: (height, width), ints or scalar int tensors. Output size.

    Returns:
        tensor (B, height, width, C).
    """
    x = _resize_axis_align_corners(x, size[0], axis=1)
    return _resize_axis_align_corners(x, size[1], axis=2)


@keras.saving.register_keras_serializable(package="tfinpaint")
class BilinearResize2D(keras.layers.Layer):
    """Bilinear resize by an integer factor with aligned corners (dynamic sizes allowed).

    DeepGIN (Li et al., ECCV 2020 workshops; SPEC.md section 4) resamples bilinearly with
    `align_corners=True`: x2 in the decoders, x4 down and up in the back projection.

    Args:
        factor: int. Resampling factor.
        downsample: bool. Output H / factor (H must be divisible by it) instead of H * factor.
            Defaults to False.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, C).
    Returns: tensor (B, H * factor, W * factor, C), or (B, H / factor, W / factor, C).

    Example:
    >>> BilinearResize2D(2)(np.zeros((2, 8, 8, 4), "float32")).shape
    TensorShape([2, 16, 16, 4])
    """

    def __init__(self, factor, downsample=False, **kwargs):
        super().__init__(**kwargs)
        _check_factor(factor)
        self.factor = factor
        self.downsample = bool(downsample)

    def _size(self, side):
        if side is None:
            return None
        return side // self.factor if self.downsample else side * self.factor

    def call(self, inputs):
        shape = ops.shape(inputs)
        return resize_bilinear_align_corners(inputs, (self._size(shape[1]), self._size(shape[2])))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, self._size(height), self._size(width), channels)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "downsample": self.downsample})
        return config
