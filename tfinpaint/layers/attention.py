"""Self-attention (non-local block) of the DeepGIN refinement network.

Non-local block, embedded Gaussian version (Wang et al., "Non-local Neural Networks", CVPR
2018), as DeepGIN's authors' code uses it in G2 (Li et al., "DeepGIN", ECCV 2020 workshops;
SPEC.md section 4).
"""

import math

import keras
from keras import ops

from tfinpaint.layers.padding import kernel_initializer_from, serialize_kernel_initializer

# 64 Mi logits (256 MiB in float32) per image: the paper's largest map at its 256 px input
# (64 x 64 = 4096 pixels, 16 Mi logits) stays unchunked.
DEFAULT_MAX_LOGITS_PER_IMAGE = 2**26


def _attend(queries, keys, values):
    """softmax(queries @ keys) @ values, the softmax over the keys (no 1/sqrt(d) scaling).

    queries (B, q, C/2), keys (B, C/2, N), values (B, N, C/2) -> (B, q, C/2).
    """
    # (B, q, C/2) @ (B, C/2, N) -> (B, q queries, N keys)
    attention = ops.softmax(ops.matmul(queries, keys), axis=-1)
    return ops.matmul(attention, values)  # (B, q, N) @ (B, N, C/2) -> (B, q, C/2)


@keras.saving.register_keras_serializable(package="tfinpaint")
class SelfAttention2D(keras.layers.Layer):
    """Non-local self-attention over all pixels (embedded Gaussian), with a residual.

    Reference: Wang et al., "Non-local Neural Networks", CVPR 2018, section 3.2; DeepGIN's
    authors' code, SPEC.md section 4. For an input x with C = `filters` channels:

        theta = conv1x1(x), phi = conv1x1(x), g = conv1x1(x)      (C -> C/2 each)
        attention = softmax over keys of theta^T phi              (no 1/sqrt(d) scaling)
        y = x + conv1x1(attention @ g)                            (C/2 -> C)

    The attention matrix is (H*W) x (H*W) per image: 4096 x 4096 at 64 x 64 (64 MiB in
    float32), but 16384 x 16384 (1 GiB) at 128 x 128 and 65536 x 65536 (16 GiB) at 256 x 256,
    the sizes of G2's first attention map at 512 and 1024 px inputs. Outside training, when
    (H*W)^2 exceeds `max_logits_per_image`, the queries are therefore processed in chunks of
    `max(1, max_logits_per_image // (H*W))` rows, one chunk after the other; every query's
    softmax still spans all keys, so the result equals the unchunked computation (up to the
    float rounding of a different matmul blocking). Training keeps the direct form: its
    backward pass needs every chunk's softmax anyway, so chunking would save nothing there.

    Args:
        filters: int. Number of channels; must equal the input channels and be even.
        max_logits_per_image: int or None. Outside training, the most attention logits (query
            x key pairs) one image materialises at once. None: never chunk. Defaults to 2**26
            (256 MiB in float32), which leaves the paper's 256 px inputs unchunked.
        kernel_initializer: None or a Keras initializer identifier, for the four 1x1
            convolutions. None uses He-normal x 0.1 (`deepgin_kernel_initializer`, the
            reference's). Defaults to None.
        output_kernel_initializer: None or a Keras initializer identifier for the last 1x1
            convolution (the residual branch's output). None: `kernel_initializer`'s.
            Defaults to None.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: tensor (B, H, W, filters); `training` (bool or None).
    Returns: tensor (B, H, W, filters).

    Example:
    >>> attention = SelfAttention2D(16)
    >>> attention(np.zeros((2, 8, 8, 16), "float32")).shape
    TensorShape([2, 8, 8, 16])
    """

    def __init__(
        self,
        filters,
        max_logits_per_image=DEFAULT_MAX_LOGITS_PER_IMAGE,
        kernel_initializer=None,
        output_kernel_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if filters < 2 or filters % 2:
            raise ValueError(
                f"SelfAttention2D received filters={filters}; expected an even number >= 2 "
                "(the embeddings have filters / 2 channels)."
            )
        if max_logits_per_image is not None and (
            isinstance(max_logits_per_image, bool)
            or not isinstance(max_logits_per_image, int)
            or max_logits_per_image < 1
        ):
            raise ValueError(
                f"SelfAttention2D received max_logits_per_image={max_logits_per_image!r}; "
                "expected a positive int or None."
            )
        self.filters = int(filters)
        self.inner_filters = self.filters // 2
        self.max_logits_per_image = max_logits_per_image
        self.kernel_initializer = serialize_kernel_initializer(kernel_initializer)
        self.output_kernel_initializer = serialize_kernel_initializer(output_kernel_initializer)

        def conv1x1(filters, name, initializer=self.kernel_initializer):
            return keras.layers.Conv2D(
                filters,
                1,
                kernel_initializer=kernel_initializer_from(initializer),
                name=name,
                dtype=self.dtype_policy,
            )

        self.theta = conv1x1(self.inner_filters, "theta")
        self.phi = conv1x1(self.inner_filters, "phi")
        self.g = conv1x1(self.inner_filters, "g")
        self.output_conv = conv1x1(
            self.filters,
            "output_conv",
            self.output_kernel_initializer or self.kernel_initializer,
        )

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

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        batch, height, width = shape[0], shape[1], shape[2]
        num_pixels = height * width
        # (B, H, W, C/2) -> (B, H*W, C/2)
        theta = ops.reshape(self.theta(inputs), (batch, num_pixels, self.inner_filters))
        phi = ops.reshape(self.phi(inputs), (batch, num_pixels, self.inner_filters))
        g = ops.reshape(self.g(inputs), (batch, num_pixels, self.inner_filters))
        keys = ops.transpose(phi, (0, 2, 1))  # (B, C/2, H*W)
        if training or self.max_logits_per_image is None:
            attended = _attend(theta, keys, g)
        else:
            # Direct while (H*W)^2 <= the bound; compared on H*W (the square overflows int32).
            max_direct_pixels = math.isqrt(self.max_logits_per_image)
            static_pixels = (
                inputs.shape[1] * inputs.shape[2] if None not in inputs.shape[1:3] else None
            )
            if static_pixels is not None:  # Known sizes: one path in the graph.
                if static_pixels <= max_direct_pixels:
                    attended = _attend(theta, keys, g)
                else:
                    attended = self._attend_in_chunks(theta, keys, g, num_pixels)
            else:
                attended = ops.cond(
                    num_pixels <= max_direct_pixels,
                    lambda: _attend(theta, keys, g),
                    lambda: self._attend_in_chunks(theta, keys, g, num_pixels),
                )
        # (B, H*W, C/2) -> (B, H, W, C/2)
        attended = ops.reshape(attended, (batch, height, width, self.inner_filters))
        return inputs + self.output_conv(attended)

    def _attend_in_chunks(self, theta, keys, values, num_pixels):
        """`_attend` over query chunks of max(1, max_logits_per_image // N) rows, in turn."""
        batch = ops.shape(theta)[0]
        rows = ops.maximum(self.max_logits_per_image // num_pixels, 1)
        num_chunks = (num_pixels + rows - 1) // rows
        padded = num_chunks * rows
        # Zero queries pad the last chunk; their rows are cut off at the end.
        queries = ops.pad(theta, [[0, 0], [0, padded - num_pixels], [0, 0]])
        attended = ops.zeros((batch, padded, self.inner_filters), dtype=theta.dtype)

        def body(index, attended):
            start = index * rows
            chunk = ops.slice(queries, [0, start, 0], [batch, rows, self.inner_filters])
            return index + 1, ops.slice_update(
                attended, [0, start, 0], _attend(chunk, keys, values)
            )

        start = (ops.convert_to_tensor(0, "int32"), attended)
        if keras.backend.backend() == "tensorflow":
            # tf.while_loop rather than keras.ops.while_loop: only it can keep the iterations
            # sequential (parallel_iterations=1); ten chunks in flight would defeat the bound.
            # Imported here so that the layer stays usable under other Keras backends.
            import tensorflow as tf

            _, attended = tf.while_loop(
                lambda index, _: index < num_chunks, body, start, parallel_iterations=1
            )
        else:  # JAX and torch loops run their iterations one after the other.
            _, attended = ops.while_loop(lambda index, _: index < num_chunks, body, start)
        return attended[:, :num_pixels]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "max_logits_per_image": self.max_logits_per_image,
                "kernel_initializer": self.kernel_initializer,
                "output_kernel_initializer": self.output_kernel_initializer,
            }
        )
        return config
