"""Edge-replicate padding and the replicate-padded convolution of the DeepGIN generator.

DeepGIN (Li et al., "DeepGIN: Deep Generative Inpainting Network for Extreme Image
Inpainting", ECCV 2020 workshops; SPEC.md section 4) pads every generator convolution by
repeating the border pixels (PyTorch's `ReplicationPad2d`, pads up to 10) and then convolves
with "valid" padding. `tf.pad` has no replicate mode (its SYMMETRIC mode mirrors instead), so
the pad here concatenates tiled border rows and columns: slices, TILE and CONCATENATION, all
builtin TFLite ops.
"""

import keras
from keras import ops

DEEPGIN_KERNEL_INIT_SCALE = 0.1  # The reference code's factor on He-normal's deviation.


def deepgin_kernel_initializer(scale=DEEPGIN_KERNEL_INIT_SCALE):
    """He-normal (fan-in, untruncated, as PyTorch's `kaiming_normal_`) scaled by `scale`.

    Scaling the standard deviation by 0.1 (the reference's) scales the variance by 0.01:
    2 * 0.01 = 0.02. `scale` 1 is plain He-normal.
    """
    return keras.initializers.VarianceScaling(
        scale=2.0 * float(scale) ** 2, mode="fan_in", distribution="untruncated_normal"
    )


def serialize_kernel_initializer(identifier):
    """A layer config's `kernel_initializer`: None (the reference's, see
    `deepgin_kernel_initializer`) or the serialised form of a Keras initializer identifier."""
    if identifier is None:
        return None
    return keras.initializers.serialize(keras.initializers.get(identifier))


def kernel_initializer_from(serialized):
    """The initializer a `serialize_kernel_initializer` value stands for (a new object)."""
    if serialized is None:
        return deepgin_kernel_initializer()
    return keras.initializers.get(serialized)


def _replicate_axis(x, before, after, axis):
    """Pads `x` along `axis` (1 = height, 2 = width) by repeating its first and last slices."""
    if before == 0 and after == 0:
        return x
    pieces = []
    multiples = [1, 1, 1, 1]
    if before:
        first = x[:, :1] if axis == 1 else x[:, :, :1]  # (B, 1, W, C) or (B, H, 1, C)
        multiples[axis] = before
        pieces.append(ops.tile(first, multiples))
    pieces.append(x)
    if after:
        last = x[:, -1:] if axis == 1 else x[:, :, -1:]
        multiples[axis] = after
        pieces.append(ops.tile(last, multiples))
    return ops.concatenate(pieces, axis=axis)


def replicate_pad(x, padding):
    """Edge-replicate padding of an NHWC tensor.

    Args:
        x: tensor (B, H, W, C).
        padding: int, or ((top, bottom), (left, right)). Pixels added on each side.

    Returns:
        tensor (B, H + top + bottom, W + left + right, C) whose new pixels copy the nearest
        border pixel of `x` (numpy's `np.pad(..., mode="edge")`).
    """
    (top, bottom), (left, right) = _normalize_padding(padding)
    x = _replicate_axis(x, top, bottom, axis=1)
    return _replicate_axis(x, left, right, axis=2)


def _normalize_padding(padding):
    if isinstance(padding, int):
        padding = ((padding, padding), (padding, padding))
    try:
        (top, bottom), (left, right) = padding
        values = tuple(int(v) for v in (top, bottom, left, right))
    except (TypeError, ValueError):
        values = None
    if values is None or min(values) < 0:
        raise ValueError(
            f"Received padding={padding!r}; expected a non-negative int or "
            "((top, bottom), (left, right))."
        )
    top, bottom, left, right = values
    return (top, bottom), (left, right)


@keras.saving.register_keras_serializable(package="tfinpaint")
class ReplicatePadConv2D(keras.layers.Layer):
    """Edge-replicate padding followed by a "valid" 2-D convolution (DeepGIN's generator conv).

    Reference: Li et al., "DeepGIN", ECCV 2020 workshops, authors' code; SPEC.md section 4:
    "edge-replicate padding on every generator conv (a true replicate pad, not SYMMETRIC)",
    weights He-normal scaled by 0.1, zero biases.

    The default padding is `dilation_rate * (kernel_size - 1) // 2` on every side, which keeps
    the size for odd kernels at stride 1 and halves it for the 4x4 stride-2 convolutions
    (pad 1: (H + 2 - 4) / 2 + 1 = H / 2 for even H).

    Args:
        filters: int. Number of output channels.
        kernel_size: int. Square kernel size.
        strides: int. Convolution stride. Defaults to 1.
        dilation_rate: int. Convolution dilation. Defaults to 1.
        padding: None, int or ((top, bottom), (left, right)). Replicate padding; None picks
            `dilation_rate * (kernel_size - 1) // 2` on every side. Defaults to None.
        activation: None or str. Keras activation after the convolution. Defaults to None.
        use_bias: bool. Whether the convolution has a bias. Defaults to True.
        kernel_initializer: None or a Keras initializer identifier. None uses He-normal x 0.1
            (`deepgin_kernel_initializer`). Defaults to None.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, C_in).
    Returns: tensor (B, H_out, W_out, filters) with
        H_out = (H + top + bottom - dilation_rate * (kernel_size - 1) - 1) // strides + 1.

    Example:
    >>> conv = ReplicatePadConv2D(32, 4, strides=2)
    >>> conv(np.zeros((2, 64, 64, 4), "float32")).shape
    TensorShape([2, 32, 32, 32])
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        dilation_rate=1,
        padding=None,
        activation=None,
        use_bias=True,
        kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.dilation_rate = int(dilation_rate)
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(
                f"Received strides={strides} and dilation_rate={dilation_rate}; expected at "
                "most one of them above 1 (Keras convolutions support only that)."
            )
        if padding is None:
            padding = self.dilation_rate * (self.kernel_size - 1) // 2
        self.padding = _normalize_padding(padding)
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = serialize_kernel_initializer(kernel_initializer)
        initializer = kernel_initializer_from(self.kernel_initializer)
        self.conv = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="valid",
            dilation_rate=self.dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=initializer,
            name="conv",
            dtype=self.dtype_policy,
        )

    def _padded_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        batch, height, width, channels = input_shape
        height = None if height is None else height + top + bottom
        width = None if width is None else width + left + right
        return (batch, height, width, channels)

    def build(self, input_shape):
        self.conv.build(self._padded_shape(input_shape))

    def call(self, inputs):
        return self.conv(replicate_pad(inputs, self.padding))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(self._padded_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "dilation_rate": self.dilation_rate,
                "padding": self.padding,
                "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
            }
        )
        return config
