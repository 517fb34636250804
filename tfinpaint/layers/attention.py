"""Self-attention (non-local block) of the DeepGIN refinement network.

Non-local block, embedded Gaussian version (Wang et al., "Non-local Neural Networks", CVPR
2018), as DeepGIN's authors' code uses it in G2 (Li et al., "DeepGIN", ECCV 2020 workshops;
SPEC.md section 4).
"""

import keras
from keras import ops

from tfinpaint.layers.padding import deepgin_kernel_initializer


@keras.saving.register_keras_serializable(package="tfinpaint")
class SelfAttention2D(keras.layers.Layer):
    """Non-local self-attention over all pixels (embedded Gaussian), with a residual.

    Reference: Wang et al., "Non-local Neural Networks", CVPR 2018, section 3.2; DeepGIN's
    authors' code, SPEC.md section 4. For an input x with C = `filters` channels:

        theta = conv1x1(x), phi = conv1x1(x), g = conv1x1(x)      (C -> C/2 each)
        attention = softmax over keys of theta^T phi              (no 1/sqrt(d) scaling)
        y = x + conv1x1(attention @ g)                            (C/2 -> C)

    The attention matrix is (H*W) x (H*W) per image: 4096 x 4096 at 64 x 64 (64 MiB in
    float32 per image), so the block is only used at 64 x 64 and below in G2.

    Args:
        filters: int. Number of channels; must equal the input channels and be even.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, filters).
    Returns: tensor (B, H, W, filters).

    Example:
    >>> attention = SelfAttention2D(16)
    >>> attention(np.zeros((2, 8, 8, 16), "float32")).shape
    TensorShape([2, 8, 8, 16])
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        if filters < 2 or filters % 2:
            raise ValueError(
                f"SelfAttention2D received filters={filters}; expected an even number >= 2 "
                "(the embeddings have filters / 2 channels)."
            )
        self.filters = int(filters)
        self.inner_filters = self.filters // 2

        def conv1x1(filters, name):
            return keras.layers.Conv2D(
                filters,
                1,
                kernel_initializer=deepgin_kernel_initializer(),
                name=name,
                dtype=self.dtype_policy,
            )

        self.theta = conv1x1(self.inner_filters, "theta")
        self.phi = conv1x1(self.inner_filters, "phi")
        self.g = conv1x1(self.inner_filters, "g")
        self.output_conv = conv1x1(self.filters, "output_conv")

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"SelfAttention2D(filters={self.filters}) received an input with "
                f"{input_shape[-1]} channels; expected {self.filters} (the block adds its "
                "input)."
            )
        for conv in (self.theta, self.phi, self.g):
            conv.build(input_shape)
        self.output_conv.build((*input_shape[:-1], self.inner_filters))

    def call(self, inputs):
        shape = ops.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        num_pixels = height * width
        # (B, H, W, C/2) -> (B, H*W, C/2)
        theta = ops.reshape(self.theta(inputs), (batch, num_pixels, self.inner_filters))
        phi = ops.reshape(self.phi(inputs), (batch, num_pixels, self.inner_filters))
        g = ops.reshape(self.g(inputs), (batch, num_pixels, self.inner_filters))
        # (B, H*W, C/2) @ (B, C/2, H*W) -> (B, H*W queries, H*W keys); softmax over the keys.
        attention = ops.softmax(ops.matmul(theta, ops.transpose(phi, (0, 2, 1))), axis=-1)
        # (B, H*W, H*W) @ (B, H*W, C/2) -> (B, H*W, C/2) -> (B, H, W, C/2)
        attended = ops.reshape(ops.matmul(attention, g), (batch, height, width, self.inner_filters))
        return inputs + self.output_conv(attended)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters})
        return config
