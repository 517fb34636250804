"""Partial convolution (Liu et al., "Image Inpainting for Irregular Holes Using Partial
Convolutions", ECCV 2018, section 3.1), with the semantics of NVIDIA's reference
`partialconv2d.py`: the convolution sees only valid pixels, is re-scaled by the fraction of the
window that was valid, and updates the mask (a location becomes valid once its window has seen at
least one valid input). SPEC.md section 1.
"""

import numbers

import keras
from keras import ops

_HALF_PRECISION_DTYPES = ("float16", "bfloat16")
_PADDINGS = ("same", "valid", "symmetric")


def _is_positive_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _normalize_pair(value, name):
    """Returns `value` (an int or a pair of ints) as a tuple of two positive ints."""
    pair = (value, value) if _is_positive_int(value) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(_is_positive_int(v) for v in pair):
        raise ValueError(
            f"PartialConv2D received {name}={value!r}; expected a positive int or a pair of "
            "positive ints."
        )
    return tuple(int(v) for v in pair)


@keras.saving.register_keras_serializable(package="tfinpaint")
class PartialConv2D(keras.layers.Layer):
    """2D partial convolution with mask update.

    Liu et al., "Image Inpainting for Irregular Holes Using Partial Convolutions", ECCV 2018,
    eq. (1)-(2); NVIDIA `partialconv2d.py` semantics. With `valid = 1 - hole_mask`:

        raw = conv(x * valid, kernel)                  # no bias
        count = conv(valid, ones)                      # valid inputs seen by each window
        ratio = window / (count + epsilon) * clip(count, 0, 1)
        y = (raw * ratio + bias) * clip(count, 0, 1)
        new_hole_mask = 1 - clip(count, 0, 1)

    `window` is `kh * kw` for a single-channel mask and `kh * kw * C_in` for a multi-channel one
    (the ones kernel then spans the input channels; using `kh * kw` there is PConv-Keras bug #67).
    `y` is exactly 0 wherever a window saw no valid input. No gradient flows through the mask
    path. The count and ratio are computed in float32 even under mixed precision.

    Args:
        filters: int. Number of output channels.
        kernel_size: int or pair of ints. Height and width of the convolution window.
        strides: int or pair of ints. Strides of the convolution. Defaults to 1.
        padding: string. `"same"` (TensorFlow semantics: for odd padding totals the extra row
            and column go to the bottom and right), `"valid"`, or `"symmetric"`:
            `p = (k - 1) * d // 2` zeros on each side of each axis, as NVIDIA's layer (PyTorch
            `padding=k // 2`) and PConv-Keras pad, so that ported weights sample the same grid.
            Its output size is `floor((H + 2p - d(k - 1) - 1) / s) + 1`, which for odd `k` is
            `ceil(H / s)`, as with `"same"`. For odd `k` the two modes are identical at stride
            1 and at stride 2 on odd sizes; at stride 2 on even sizes `"same"` pads nothing at
            the top/left, so its windows sit one pixel lower and further right. Padded
            positions count as holes in every mode (the count is NVIDIA's
            `F.conv2d(mask, ones, padding=p)`). Defaults to `"same"`.
        dilation_rate: int or pair of ints. Dilation of the window; cannot exceed 1 together with
            strides above 1 (a TensorFlow limitation). Defaults to 1.
        use_bias: bool. Whether to add a bias after the re-scaling. Defaults to `True`.
        multi_channel: bool. If `False`, `hole_mask` has one channel shared by every input
            channel and the returned mask has one channel. If `True`, `hole_mask` has `C_in`
            channels (one per input channel) and the returned mask is broadcast to `filters`
            channels, as in NVIDIA's multi-channel mode. Defaults to `False`.
        mask_groups: list of ints or None. The multi-channel mode for a mask that is constant
            over runs of input channels (the PConv U-Net decoder's concatenation of upsampled
            and skip features): `hole_mask` has `len(mask_groups)` channels, channel g standing
            for `mask_groups[g]` consecutive input channels (they sum to `C_in`). The result is
            exactly `multi_channel=True` with each mask channel repeated over its group (same
            window `kh * kw * C_in`, same counts), but the count is one convolution of G
            channels with the group sizes as kernel instead of one of `C_in` channels, which
            at the U-Net's widths cost as much as the feature convolution itself. The returned
            mask has one channel. Defaults to `None`.
        inputs_masked: bool. `x` arrives already multiplied by the validity mask `1 - hole_mask`
            (each group's over its channels), so the layer does not multiply it again: the PConv
            U-Net masks each level's features once, where they are made, and the decoder's
            upsampled half before upsampling (a quarter of the work), instead of building a
            full-size channel-wise mask at every decoder level. Defaults to `False`.
        kernel_initializer: string or `keras.initializers.Initializer`. Initializer of the
            kernel. Defaults to `"glorot_uniform"`.
        bias_initializer: string or `keras.initializers.Initializer`. Initializer of the bias.
            Defaults to `"zeros"`.
        epsilon: float or None. Added to the count before dividing. `None` picks 1e-8, or 1e-6
            when the compute dtype is float16/bfloat16. Defaults to `None`.
        **kwargs: other keyword arguments of `keras.layers.Layer` (`name`, `dtype`, ...).

    Call arguments:
        inputs: list `[x, hole_mask]`. `x` of shape `(B, H, W, C_in)`; `hole_mask` of shape
            `(B, H, W, 1)` (or `(B, H, W, C_in)` when `multi_channel=True`), 1 = hole, 0 = valid.

    Returns:
        Tuple `(y, new_hole_mask)`: `y` of shape `(B, H', W', filters)` and `new_hole_mask` of
        shape `(B, H', W', 1)` (`(B, H', W', filters)` when `multi_channel=True`), 1 = hole.

    Example:

    ```python
    x = np.random.uniform(size=(2, 32, 32, 3)).astype("float32")
    hole_mask = np.zeros((2, 32, 32, 1), "float32")
    hole_mask[:, 8:24, 8:24] = 1.0
    layer = PartialConv2D(16, 5, strides=2)
    y, new_hole_mask = layer([x, hole_mask])  # (2, 16, 16, 16), (2, 16, 16, 1)
    ```
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        dilation_rate=1,
        use_bias=True,
        multi_channel=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        epsilon=None,
        mask_groups=None,
        inputs_masked=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not _is_positive_int(filters):
            raise ValueError(
                f"PartialConv2D received filters={filters!r}; expected a positive int."
            )
        filters = int(filters)
        padding_name = padding.lower() if isinstance(padding, str) else padding
        if padding_name not in _PADDINGS:
            raise ValueError(
                f"PartialConv2D received padding={padding!r}; expected 'same', 'valid' or "
                "'symmetric'."
            )
        kernel_size = _normalize_pair(kernel_size, "kernel_size")
        strides = _normalize_pair(strides, "strides")
        dilation_rate = _normalize_pair(dilation_rate, "dilation_rate")
        if max(strides) > 1 and max(dilation_rate) > 1:
            raise ValueError(
                f"PartialConv2D received strides={strides} with dilation_rate={dilation_rate}; "
                "expected strides of 1 when dilating (or no dilation when striding)."
            )
        if mask_groups is not None:
            groups = mask_groups if isinstance(mask_groups, (list, tuple)) else ()
            # The two multi-channel modes exclude each other.
            if multi_channel or not groups or not all(_is_positive_int(g) for g in groups):
                raise ValueError(
                    f"PartialConv2D received mask_groups={mask_groups!r} with "
                    f"multi_channel={multi_channel}; expected a non-empty list of positive ints "
                    "(with multi_channel=False)."
                )
            mask_groups = tuple(int(size) for size in groups)
        if epsilon is not None and not epsilon > 0:
            raise ValueError(
                f"PartialConv2D received epsilon={epsilon!r}; expected a positive float or None."
            )

        # === Config ===
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding_name
        self.dilation_rate = dilation_rate
        self.use_bias = use_bias
        self.multi_channel = multi_channel
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.epsilon = epsilon
        self.mask_groups = mask_groups
        self.inputs_masked = bool(inputs_masked)

    def _split_shapes(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != 2
            or not all(isinstance(shape, (list, tuple)) for shape in input_shape)
        ):
            raise ValueError(
                f"PartialConv2D received inputs of shape {input_shape}; expected a list "
                "[x, hole_mask] of two 4D tensors."
            )
        return tuple(input_shape[0]), tuple(input_shape[1])

    def build(self, input_shape):
        x_shape, mask_shape = self._split_shapes(input_shape)
        if len(x_shape) != 4:
            raise ValueError(
                f"PartialConv2D received x of shape {x_shape}; expected a 4D tensor "
                "(batch, height, width, channels)."
            )
        if len(mask_shape) != 4:
            raise ValueError(
                f"PartialConv2D received hole_mask of shape {mask_shape}; expected a 4D tensor "
                "(batch, height, width, channels)."
            )
        input_channels = x_shape[-1]
        if input_channels is None:
            raise ValueError(
                f"PartialConv2D received x of shape {x_shape}; expected a known channel dimension."
            )
        if self.mask_groups is not None and sum(self.mask_groups) != input_channels:
            raise ValueError(
                f"PartialConv2D received x of shape {x_shape} with mask_groups="
                f"{list(self.mask_groups)}; expected groups summing to the {input_channels} "
                "input channels."
            )
        expected_mask_channels = self._mask_channels(input_channels)
        if mask_shape[-1] != expected_mask_channels:
            mode = "multi_channel=True" if self.multi_channel else "multi_channel=False"
            if self.mask_groups is not None:
                mode = f"mask_groups={list(self.mask_groups)}"
            raise ValueError(
                f"PartialConv2D received hole_mask of shape {mask_shape} for x of shape "
                f"{x_shape}; expected {expected_mask_channels} mask channel(s) with {mode}."
            )
        for axis in (1, 2):
            if None not in (x_shape[axis], mask_shape[axis]) and (
                x_shape[axis] != mask_shape[axis]
            ):
                raise ValueError(
                    f"PartialConv2D received x of shape {x_shape} and hole_mask of shape "
                    f"{mask_shape}; expected the same height and width."
                )
        self.input_channels = input_channels
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, input_channels, self.filters),
            initializer=self.kernel_initializer,
            trainable=True,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                trainable=True,
            )
        else:
            self.bias = None

    def _mask_channels(self, input_channels):
        if self.mask_groups is not None:
            return len(self.mask_groups)
        return input_channels if self.multi_channel else 1

    @property
    def window_size(self):
        """Number of mask entries under one window: kh*kw, times C_in in multi-channel mode."""
        kernel_h, kernel_w = self.kernel_size
        per_channel = self.multi_channel or self.mask_groups is not None
        return kernel_h * kernel_w * (self.input_channels if per_channel else 1)

    def _count_kernel(self):
        """The mask convolution's kernel: ones, or each group's size over its mask channel."""
        if self.mask_groups is None:
            mask_channels = self._mask_channels(self.input_channels)
            return ops.ones((*self.kernel_size, mask_channels, 1), dtype="float32")
        sizes = ops.convert_to_tensor([float(size) for size in self.mask_groups], "float32")
        return ops.ones((*self.kernel_size, 1, 1), "float32") * ops.reshape(sizes, (1, 1, -1, 1))

    def _effective_epsilon(self):
        if self.epsilon is not None:
            return float(self.epsilon)
        return 1e-6 if self.compute_dtype in _HALF_PRECISION_DTYPES else 1e-8

    def _symmetric_pads(self):
        """Per-axis zeros on each side for `padding="symmetric"`: `(k - 1) * d // 2`."""
        return tuple((k - 1) * d // 2 for k, d in zip(self.kernel_size, self.dilation_rate))

    def _explicit_pads(self):
        """The pads to apply before a "valid" convolution, or `None` to convolve directly.

        At stride 1 with an even `(k - 1) * d`, TensorFlow's "same" pads `(k - 1) * d // 2` on
        each side, so "symmetric" needs no separate pad op there (the PConv decoder's case).
        """
        if self.padding != "symmetric":
            return None
        pads = self._symmetric_pads()
        if all(
            s == 1 and (k - 1) * d == 2 * p
            for s, k, d, p in zip(self.strides, self.kernel_size, self.dilation_rate, pads)
        ):
            return None
        return pads

    def _conv_padding(self):
        if self.padding != "symmetric":
            return self.padding
        return "valid" if self._explicit_pads() is not None else "same"

    def _pad(self, inputs):
        pads = self._explicit_pads()
        if pads is None:
            return inputs
        pad_h, pad_w = pads
        # Zeros: for the features, and for the validity mask, where they make the pad a hole.
        return ops.pad(inputs, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)))

    def _conv(self, inputs, kernel):
        return ops.conv(
            self._pad(inputs),
            kernel,
            strides=self.strides,
            padding=self._conv_padding(),
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
        )

    def call(self, inputs):
        x, hole_mask = inputs
        compute_dtype = x.dtype

        # Mask path, in float32 so that counts stay exact under mixed precision; no gradient.
        valid_mask = ops.stop_gradient(1.0 - ops.cast(hole_mask, "float32"))
        # Integer counts, exact in float32 (< 2**24) whichever kernel gives them.
        count = self._conv(valid_mask, self._count_kernel())  # (B, H', W', 1)
        new_valid_mask = ops.clip(count, 0.0, 1.0)
        # Windows without valid input divide by 1, not by eps: a float16 export rounds 1e-8
        # to 0, and window / 0 * 0 would be NaN. Elsewhere this is the definition exactly.
        safe_count = ops.where(count > 0.0, count, ops.ones_like(count))
        ratio = self.window_size / (safe_count + self._effective_epsilon()) * new_valid_mask
        ratio = ops.stop_gradient(ratio)
        new_valid_mask = ops.stop_gradient(new_valid_mask)

        kernel = ops.cast(self.kernel, compute_dtype)
        if not self.inputs_masked:
            x = x * self._valid_features(valid_mask, compute_dtype)
        raw = self._conv(x, kernel)
        outputs = raw * ops.cast(ratio, compute_dtype)
        if self.use_bias:
            outputs = outputs + ops.cast(self.bias, compute_dtype)
        outputs = outputs * ops.cast(new_valid_mask, compute_dtype)

        new_hole_mask = ops.cast(1.0 - new_valid_mask, compute_dtype)
        if self.multi_channel:
            new_hole_mask = ops.repeat(new_hole_mask, self.filters, axis=-1)
        return outputs, new_hole_mask

    def _valid_features(self, valid_mask, dtype):
        """The validity mask over x's channels: (B, H, W, 1 or C_in), in x's dtype."""
        valid_features = ops.cast(valid_mask, dtype)
        if self.mask_groups is None:
            return valid_features
        # (B, H, W, G) -> (B, H, W, C_in): each group's mask over its channels. One repeat per
        # group: ops.repeat with a list of counts is a boolean-mask gather, far slower.
        return ops.concatenate(
            [
                ops.repeat(valid_features[..., g : g + 1], size, axis=-1)
                for g, size in enumerate(self.mask_groups)
            ],
            axis=-1,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "use_bias": self.use_bias,
                "multi_channel": self.multi_channel,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "epsilon": self.epsilon,
                "mask_groups": None if self.mask_groups is None else list(self.mask_groups),
                "inputs_masked": self.inputs_masked,
            }
        )
        return config
