"""Dilated-convolution blocks that widen the field of view without downsampling.

Implements the cascade generator's CD block ("cascading block of increasing the field of
view", Shatokhin, "Cascaded neural networks for image inpainting", section 3.2, Fig. 4; SPEC.md
section 3).
"""

import keras
from keras import ops


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
