"""Dilated-convolution blocks that widen the field of view without downsampling.

Implements the cascade generator's CD block ("cascading block of increasing the field of
view", Shatokhin, "Cascaded neural networks for image inpainting", section 3.2, Fig. 4; SPEC.md
section 3) and DeepGIN's spatial pyramid dilation (SPD) block (Li et al., "DeepGIN", ECCV 2020
workshops; SPEC.md section 4).
"""

import keras
from keras import ops

from tfinpaint.layers.padding import ReplicatePadConv2D, serialize_kernel_initializer

# Dilation rates of the authors' code: 8 branches in the coarse network G1, 4 in G2.
SPD8_DILATION_RATES = (2, 3, 4, 5, 6, 8, 10, 1)
SPD4_DILATION_RATES = (2, 3, 4, 5)


@keras.saving.register_keras_serializable(package="tfinpaint")
class CDBlock(keras.layers.Layer):
    """Cascading field-of-view (CD) block: hierarchical dilated convolutions plus a residual.

    Reference: Shatokhin, "Cascaded neural networks for image inpainting", section 3.2, Fig. 4.
    For an input with C channels and the default rates (1, 2, 4, 8):

    1. four parallel 3x3 convolutions with dilation 1, 2, 4 and 8, each producing C/4
       channels and followed by the activation: y1, y2, y4, y8;
    2. hierarchical merge from the smallest dilation to the largest:
       z1 = y1, z2 = z1 + y2, z3 = z2 + y4, z4 = z3 + y8 (the local features refine the sparse
       global ones);
    3. concatenation [z1, z2, z3, z4] (C channels), added to the block input.

    No activation follows the residual sum, so the identity path stays linear, and there is no
    normalization (the paper uses none in the generator's merges; see `FuseBlock`). The
    convolutions are ordinary (not separable) as the paper draws them; this block costs
    about 9 * C^2 parameters and is where most of a cascade generator's width goes.

    Args:
        dilation_rates: tuple of ints. One convolution per rate, merged in this order; the
            input channels must be divisible by its length. Defaults to (1, 2, 4, 8).
        kernel_size: int. Spatial size of every convolution. Defaults to 3.
        activation: str. Keras activation applied to each branch output. Defaults to
            "leaky_relu" (slope 0.2).
        use_bias: bool. Whether the convolutions have biases. Defaults to True.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, C) with C divisible by `len(dilation_rates)`.
    Returns: tensor (B, H, W, C).

    Example:
    >>> block = CDBlock()
    >>> block(np.zeros((2, 32, 32, 16), "float32")).shape
    TensorShape([2, 32, 32, 16])
    """

    def __init__(
        self,
        dilation_rates=(1, 2, 4, 8),
        kernel_size=3,
        activation="leaky_relu",
        use_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        dilation_rates = tuple(int(rate) for rate in dilation_rates)
        if not dilation_rates or min(dilation_rates) < 1:
            raise ValueError(
                f"Received dilation_rates={dilation_rates}; expected a non-empty tuple of "
                "positive integers such as (1, 2, 4, 8)."
            )
        self.dilation_rates = dilation_rates
        self.kernel_size = kernel_size
        self.activation = activation
        self.use_bias = use_bias
        self._activation_fn = keras.activations.get(activation)
        self.branches = []

    def build(self, input_shape):
        channels = input_shape[-1]
        num_branches = len(self.dilation_rates)
        if channels is None or channels % num_branches:
            raise ValueError(
                f"CDBlock received an input with {channels} channels; expected a number of "
                f"channels divisible by the {num_branches} dilation rates "
                f"{self.dilation_rates}."
            )
        self.branch_filters = channels // num_branches
        self.branches = [
            keras.layers.Conv2D(
                self.branch_filters,
                self.kernel_size,
                padding="same",
                dilation_rate=rate,
                use_bias=self.use_bias,
                name=f"conv_dilation_{rate}",
                dtype=self.dtype_policy,
            )
            for rate in self.dilation_rates
        ]
        for branch in self.branches:
            branch.build(input_shape)

    def call(self, inputs):
        merged = []
        running_sum = None
        for branch in self.branches:
            features = self._activation_fn(branch(inputs))  # (B, H, W, C/4)
            running_sum = features if running_sum is None else running_sum + features
            merged.append(running_sum)
        return inputs + ops.concatenate(merged, axis=-1)  # 4 x (B, H, W, C/4) -> (B, H, W, C)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dilation_rates": self.dilation_rates,
                "kernel_size": self.kernel_size,
                "activation": self.activation,
                "use_bias": self.use_bias,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="tfinpaint")
class SPDBlock(keras.layers.Layer):
    """Spatial pyramid dilation (SPD) residual block of DeepGIN.

    Reference: Li et al., "DeepGIN: Deep Generative Inpainting Network for Extreme Image
    Inpainting", ECCV 2020 workshops, authors' code; SPEC.md section 4. For C = `filters`
    channels and N = `len(dilation_rates)` branches:

    1. N parallel 3x3 convolutions C -> C/N with the given dilations, each edge-replicate
       padded (`ReplicatePadConv2D`) and followed by ReLU;
    2. concatenation of the branches in order (C channels);
    3. a 3x3 replicate-padded convolution C -> C without activation;
    4. the block input added (no activation after the sum).

    G1 uses 8 branches (`SPD8_DILATION_RATES` = 2, 3, 4, 5, 6, 8, 10, 1), G2 uses 4
    (`SPD4_DILATION_RATES` = 2, 3, 4, 5).

    Args:
        filters: int. Number of channels; must equal the input channels (identity shortcut)
            and be divisible by the number of dilation rates.
        dilation_rates: tuple of ints. One branch per rate, concatenated in this order.
            Defaults to `SPD8_DILATION_RATES`.
        kernel_size: int. Spatial size of every convolution. Defaults to 3.
        kernel_initializer: None or a Keras initializer identifier, for every convolution.
            None uses He-normal x 0.1 (`deepgin_kernel_initializer`). Defaults to None.
        fuse_kernel_initializer: None or a Keras initializer identifier for step 3's
            convolution, the last of the residual branch. None: `kernel_initializer`'s.
            Defaults to None.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, filters).
    Returns: tensor (B, H, W, filters).

    Example:
    >>> block = SPDBlock(16, dilation_rates=SPD4_DILATION_RATES)
    >>> block(np.zeros((2, 32, 32, 16), "float32")).shape
    TensorShape([2, 32, 32, 16])
    """

    def __init__(
        self,
        filters,
        dilation_rates=SPD8_DILATION_RATES,
        kernel_size=3,
        kernel_initializer=None,
        fuse_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        dilation_rates = tuple(int(rate) for rate in dilation_rates)
        if not dilation_rates or min(dilation_rates) < 1:
            raise ValueError(
                f"Received dilation_rates={dilation_rates}; expected a non-empty tuple of "
                "positive integers such as (2, 3, 4, 5)."
            )
        if filters % len(dilation_rates):
            raise ValueError(
                f"SPDBlock received filters={filters}; expected a number divisible by the "
                f"{len(dilation_rates)} dilation rates {dilation_rates}."
            )
        self.filters = int(filters)
        self.dilation_rates = dilation_rates
        self.kernel_size = int(kernel_size)
        self.branch_filters = self.filters // len(dilation_rates)
        self.kernel_initializer = serialize_kernel_initializer(kernel_initializer)
        self.fuse_kernel_initializer = serialize_kernel_initializer(fuse_kernel_initializer)
        self.branches = [
            ReplicatePadConv2D(
                self.branch_filters,
                self.kernel_size,
                dilation_rate=rate,
                activation="relu",
                kernel_initializer=self.kernel_initializer,
                name=f"branch_{index}_dilation_{rate}",
                dtype=self.dtype_policy,
            )
            for index, rate in enumerate(dilation_rates)
        ]
        self.fuse = ReplicatePadConv2D(
            self.filters,
            self.kernel_size,
            kernel_initializer=self.fuse_kernel_initializer or self.kernel_initializer,
            name="fuse",
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"SPDBlock(filters={self.filters}) received an input with {input_shape[-1]} "
                f"channels; expected {self.filters} (the block adds its input)."
            )
        for branch in self.branches:
            branch.build(input_shape)
        self.fuse.build(input_shape)

    def call(self, inputs):
        # N x (B, H, W, C/N) -> (B, H, W, C)
        pyramid = ops.concatenate([branch(inputs) for branch in self.branches], axis=-1)
        return inputs + self.fuse(pyramid)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "dilation_rates": self.dilation_rates,
                "kernel_size": self.kernel_size,
                "kernel_initializer": self.kernel_initializer,
                "fuse_kernel_initializer": self.fuse_kernel_initializer,
            }
        )
        return config
