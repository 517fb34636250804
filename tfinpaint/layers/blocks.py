"""Residual and merge blocks of the cascade generator and its discriminators.

Shatokhin, "Cascaded neural networks for image inpainting" (SPEC.md section 3):
- `SeparableResidualBlock`: the generator's feature-extraction block, a residual block [He et
  al. 2016] whose convolutions are depthwise-separable [MobileNets] (section 3.1);
- `FuseBlock`: the merge of a low-resolution feature map into a higher-resolution one
  (section 3.1, Fig. 3; ICNet's cascade feature fusion without its normalization);
- `SNResidualBlock`: the discriminators' residual block with spectral normalization on every
  convolution [Miyato et al. 2018] (section 3.4).
"""

import keras

from tfinpaint.layers.normalization import BatchNormalization
from tfinpaint.layers.resample import upsample_nearest

NORMALIZATIONS = (None, "batch", "instance")


def _check_normalization(normalization):
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"Received normalization={normalization!r}; expected one of {NORMALIZATIONS}."
        )


def _make_normalization(normalization, name, dtype):
    """Returns the normalization layer for `normalization` (None, "batch" or "instance")."""
    if normalization is None:
        return None
    if normalization == "batch":
        return BatchNormalization(name=name, dtype=dtype)
    # One group per channel: instance normalization (tensorflow-addons is not available).
    return keras.layers.GroupNormalization(groups=-1, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="tfinpaint")
class SeparableResidualBlock(keras.layers.Layer):
    """Residual block with depthwise-separable convolutions (the cascade extractor's block).

    Reference: Shatokhin, "Cascaded neural networks for image inpainting", section 3.1:
    "separable convolutions are used instead of usual convolutions for faster learning, less
    resource consumption, and less overfitting". Computes

        y = act(x + norm(sep2(act(norm(sep1(x))))))

    where each `sep` is a 3x3 depthwise convolution followed by a 1x1 pointwise convolution
    (`keras.layers.SeparableConv2D`, one bias), i.e. 9C + C^2 + C parameters instead of
    9C^2 + C for a plain convolution.

    Choices the paper leaves open (ours): the activation is LeakyReLU(0.2) (cheap, a builtin
    TFLite op, and no dead units in a generator); there is no normalization by default,
    because the paper found batch and instance normalization harmful in the generator's
    merges, batch statistics of images with holes mix examples, and the block stays lighter;
    `normalization="batch"|"instance"` exists for ablations.

    Args:
        filters: int. Number of channels; must equal the input channels (identity shortcut).
        kernel_size: int. Depthwise kernel size. Defaults to 3.
        activation: str. Keras activation. Defaults to "leaky_relu" (slope 0.2).
        normalization: None, "batch" or "instance". Normalization after each separable
            convolution. Defaults to None.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, filters). Returns: tensor (B, H, W, filters).

    Example:
    >>> block = SeparableResidualBlock(16)
    >>> block(np.zeros((2, 32, 32, 16), "float32")).shape
    TensorShape([2, 32, 32, 16])
    """

    def __init__(
        self, filters, kernel_size=3, activation="leaky_relu", normalization=None, **kwargs
    ):
        super().__init__(**kwargs)
        _check_normalization(normalization)
        self.filters = filters
        self.kernel_size = kernel_size
        self.activation = activation
        self.normalization = normalization
        self._activation_fn = keras.activations.get(activation)
        use_bias = normalization is None
        self.conv_1 = keras.layers.SeparableConv2D(
            filters,
            kernel_size,
            padding="same",
            use_bias=use_bias,
            name="separable_conv_1",
            dtype=self.dtype_policy,
        )
        self.conv_2 = keras.layers.SeparableConv2D(
            filters,
            kernel_size,
            padding="same",
            use_bias=use_bias,
            name="separable_conv_2",
            dtype=self.dtype_policy,
        )
        self.norm_1 = _make_normalization(normalization, "norm_1", self.dtype_policy)
        self.norm_2 = _make_normalization(normalization, "norm_2", self.dtype_policy)

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"SeparableResidualBlock received an input with {input_shape[-1]} channels; "
                f"expected filters={self.filters} channels for the identity shortcut."
            )
        self.conv_1.build(input_shape)
        self.conv_2.build(input_shape)
        if self.normalization is not None:
            self.norm_1.build(input_shape)
            self.norm_2.build(input_shape)

    def call(self, inputs, training=None):
        x = self.conv_1(inputs)
        if self.norm_1 is not None:
            x = self.norm_1(x, training=training)
        x = self._activation_fn(x)
        x = self.conv_2(x)
        if self.norm_2 is not None:
            x = self.norm_2(x, training=training)
        return self._activation_fn(inputs + x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "activation": self.activation,
                "normalization": self.normalization,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="tfinpaint")
class FuseBlock(keras.layers.Layer):
    """Merges a low-resolution feature map F1 into a feature map F2 of twice its resolution.

    Reference: Shatokhin, "Cascaded neural networks for image inpainting", section 3.1, Fig. 3
    (after ICNet's cascade feature fusion, Zhao et al. 2018). Computes

        out = act(conv_low(upsample_nearest_x2(F1)) + conv_high(F2))

    with **no normalization** by default: the paper's ablation (section 4.3) found that batch
    normalization in the merge makes the hole boundary more visible and instance
    normalization is also worse than none. `normalization="batch"|"instance"` (applied to each
    branch before the sum, as ICNet does) exists only to reproduce that ablation.

    Args:
        filters: int. Output channels of both convolutions (the merged width).
        low_res_kernel_size: int. Kernel of the convolution on the upsampled F1. Defaults
            to 3 (it must smooth the 2x2 nearest-neighbour blocks).
        high_res_kernel_size: int. Kernel of the convolution on F2. Defaults to 1 (a
            projection, as in ICNet).
        activation: str. Keras activation after the sum. Defaults to "leaky_relu" (0.2).
        normalization: None, "batch" or "instance". Defaults to None.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: list `[low_res, high_res]` of tensors (B, H/2, W/2, C1) and (B, H, W, C2).
    Returns: tensor (B, H, W, filters).

    Example:
    >>> fuse = FuseBlock(8)
    >>> low_res = np.zeros((2, 16, 16, 16), "float32")
    >>> high_res = np.zeros((2, 32, 32, 8), "float32")
    >>> fuse([low_res, high_res]).shape
    TensorShape([2, 32, 32, 8])
    """

    def __init__(
        self,
        filters,
        low_res_kernel_size=3,
        high_res_kernel_size=1,
        activation="leaky_relu",
        normalization=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_normalization(normalization)
        self.filters = filters
        self.low_res_kernel_size = low_res_kernel_size
        self.high_res_kernel_size = high_res_kernel_size
        self.activation = activation
        self.normalization = normalization
        self._activation_fn = keras.activations.get(activation)
        use_bias = normalization is None
        self.low_res_conv = keras.layers.Conv2D(
            filters,
            low_res_kernel_size,
            padding="same",
            use_bias=use_bias,
            name="low_res_conv",
            dtype=self.dtype_policy,
        )
        self.high_res_conv = keras.layers.Conv2D(
            filters,
            high_res_kernel_size,
            padding="same",
            use_bias=use_bias,
            name="high_res_conv",
            dtype=self.dtype_policy,
        )
        self.low_res_norm = _make_normalization(normalization, "low_res_norm", self.dtype_policy)
        self.high_res_norm = _make_normalization(normalization, "high_res_norm", self.dtype_policy)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"FuseBlock received {len(input_shape)} inputs; expected a list "
                "[low_res, high_res] of two feature maps."
            )
        low_shape, high_shape = (tuple(shape) for shape in input_shape)
        for axis in (1, 2):
            low_size, high_size = low_shape[axis], high_shape[axis]
            if low_size is not None and high_size is not None and 2 * low_size != high_size:
                raise ValueError(
                    f"FuseBlock received low_res {low_shape} and high_res {high_shape}; "
                    "expected high_res to have exactly twice low_res's height and width."
                )
        upsampled_shape = (low_shape[0], high_shape[1], high_shape[2], low_shape[3])
        output_shape = high_shape[:3] + (self.filters,)
        self.low_res_conv.build(upsampled_shape)
        self.high_res_conv.build(high_shape)
        if self.normalization is not None:
            self.low_res_norm.build(output_shape)
            self.high_res_norm.build(output_shape)

    def call(self, inputs, training=None):
        low_res, high_res = inputs
        low_res = self.low_res_conv(upsample_nearest(low_res, 2))  # (B, H, W, filters)
        high_res = self.high_res_conv(high_res)  # (B, H, W, filters)
        if self.normalization is not None:
            low_res = self.low_res_norm(low_res, training=training)
            high_res = self.high_res_norm(high_res, training=training)
        return self._activation_fn(low_res + high_res)

    def compute_output_shape(self, input_shape):
        high_shape = tuple(input_shape[1])
        return high_shape[:3] + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "low_res_kernel_size": self.low_res_kernel_size,
                "high_res_kernel_size": self.high_res_kernel_size,
                "activation": self.activation,
                "normalization": self.normalization,
            }
        )
        return config


def _spectral_conv(filters, kernel_size, name, dtype):
    conv = keras.layers.Conv2D(filters, kernel_size, padding="same", name=name, dtype=dtype)
    return keras.layers.SpectralNormalization(conv, name=f"sn_{name}", dtype=dtype)


@keras.saving.register_keras_serializable(package="tfinpaint")
class SNResidualBlock(keras.layers.Layer):
    """Discriminator residual block with spectral normalization on every convolution.

    Reference: Shatokhin, "Cascaded neural networks for image inpainting", section 3.4 (the
    discriminator is made of residual blocks regularised with spectral normalization, Miyato
    et al. 2018); the block layout is the usual SN-GAN/BigGAN discriminator block:

        main     = pool(conv_2(act(conv_1(act(x)))))      (first act skipped if not
                                                          `preactivation`)
        shortcut = conv_shortcut(pool(x))                 (identity when the channels match
                                                          and there is no pooling)
        out      = main + shortcut

    where pool is 2x2 average pooling when `downsample`. Every convolution is wrapped in
    `keras.layers.SpectralNormalization`, which only runs its power iteration (and rewrites the
    kernel to W / sigma) when called with `training=True`: call the discriminator with
    `training=True` in the trainer's `train_step`.

    Args:
        filters: int. Output channels.
        downsample: bool. Whether to halve the height and width (average pooling). Defaults
            to True.
        preactivation: bool. Whether to apply the activation to the block input (False for a
            discriminator's first block, which sees the image). Defaults to True.
        activation: str. Keras activation. Defaults to "leaky_relu" (slope 0.2).
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, C). Returns: tensor (B, H/2, W/2, filters) when
    `downsample`, else (B, H, W, filters).

    Example:
    >>> block = SNResidualBlock(16)
    >>> block(np.zeros((2, 32, 32, 3), "float32"), training=True).shape
    TensorShape([2, 16, 16, 16])
    """

    def __init__(
        self, filters, downsample=True, preactivation=True, activation="leaky_relu", **kwargs
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.downsample = downsample
        self.preactivation = preactivation
        self.activation = activation
        self._activation_fn = keras.activations.get(activation)
        self.conv_1 = _spectral_conv(filters, 3, "conv_1", self.dtype_policy)
        self.conv_2 = _spectral_conv(filters, 3, "conv_2", self.dtype_policy)
        self.pool = keras.layers.AveragePooling2D(2, name="pool", dtype=self.dtype_policy)
        self.conv_shortcut = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[-1] != self.filters or self.downsample:
            self.conv_shortcut = _spectral_conv(self.filters, 1, "conv_shortcut", self.dtype_policy)
            self.conv_shortcut.build(input_shape)
        self.conv_1.build(input_shape)
        self.conv_2.build(input_shape[:3] + (self.filters,))

    def call(self, inputs, training=None):
        x = self._activation_fn(inputs) if self.preactivation else inputs
        x = self.conv_1(x, training=training)
        x = self.conv_2(self._activation_fn(x), training=training)
        shortcut = inputs
        if self.downsample:
            x = self.pool(x)
            shortcut = self.pool(shortcut)
        if self.conv_shortcut is not None:
            # A 1x1 convolution commutes with average pooling: pooling first is cheaper.
            shortcut = self.conv_shortcut(shortcut, training=training)
        return x + shortcut

    def compute_output_shape(self, input_shape):
        batch, height, width = tuple(input_shape)[:3]
        if self.downsample:
            height = None if height is None else height // 2
            width = None if width is None else width // 2
        return (batch, height, width, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "downsample": self.downsample,
                "preactivation": self.preactivation,
                "activation": self.activation,
            }
        )
        return config
