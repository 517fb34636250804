"""Gradient layers of GAIN (Zhang et al., "GAIN: Gradient Augmented Inpainting Network for
Irregular Holes", ACM MM 2019; SPEC.md section 5): Sobel maps, `Grad`, the GAI block and the
mask-shrinkage priority.

- `sobel` / `gray_sobel`: 3x3 Sobel x and y derivatives with OpenCV's default border
  (BORDER_REFLECT_101), computed separably. `gray_sobel` is the recipe of the data pipeline's
  `tfinpaint.data.gradients.sobel_gradients` (ITU-R 601 grayscale, same operations in the same
  order), written again in `keras.ops` because layers import no other tfinpaint package; the
  tests check that the two agree, so the generator's own gradient map of an image equals the
  `gradients` the dataset gives for it.
- `Grad(X, M)`: per-channel Sobel x and y of a feature map (2C channels out) whose valid area is
  the valid area of M eroded by 1 (the hole dilated by 1): a gradient is known only where its
  whole 3x3 stencil is.
- `GAIBlock`: the gradient-augmented block (PConv_II, PConv_GG, PConv_GI, PConv_IG) on an image
  flow and a gradient flow that share one hole mask.
- `shrinkage_priority` / `shrink_hole_mask`: the priority that lets only the most promising
  border pixels become valid (SPEC.md's reading, after Criminisi et al. 2004).

Masks are (B, H, W, 1) with 1 = hole. Mask arithmetic runs in float32 without gradients.
"""

import keras
import numpy as np
from keras import ops

from tfinpaint.layers.partial_conv import PartialConv2D
from tfinpaint.layers.resample import upsample_bilinear_2x, upsample_nearest

# ITU-R BT.601 luma weights, as cv2.COLOR_RGB2GRAY and tfinpaint.data.gradients use them.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def reflect_pad_1(x):
    """Pads (B, H, W, C) by one pixel on each side, mirroring without repeating the edge
    (OpenCV's BORDER_REFLECT_101: row -1 is row 1). H and W must be at least 2."""
    return ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")


# Sobel kernels as OpenCV applies them (correlation, as ops.conv computes): d/dx, then d/dy.
SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], "float32")
SOBEL_KERNELS = np.stack([SOBEL_X, SOBEL_X.T], axis=-1)  # (3, 3, 2)


def sobel(x):
    """Per-channel 3x3 Sobel derivatives of a feature map, reflect-101 border.

    Channel c of `x` gives channels 2c (d/dx, along the width) and 2c + 1 (d/dy, along the
    height), equal (to float rounding) to `cv2.Sobel(x_c, cv2.CV_32F, 1, 0, ksize=3)` and
    `(0, 1)` with OpenCV's default border. One depthwise convolution of the reflect-padded map.

    Args:
        x: tensor (B, H, W, C) with C known, H and W at least 2.

    Returns:
        Tensor (B, H, W, 2C) of `x`'s dtype.
    """
    channels = x.shape[-1]
    kernel = np.repeat(SOBEL_KERNELS[:, :, None, :], channels, axis=2)  # (3, 3, C, 2)
    kernel = ops.convert_to_tensor(kernel, dtype=x.dtype)
    return ops.depthwise_conv(reflect_pad_1(x), kernel, strides=1, padding="valid")


def rgb_to_gray(images):
    """The (B, H, W, 1) ITU-R 601 grayscale image of (B, H, W, 3) RGB `images`."""
    return (
        GRAY_WEIGHTS[0] * images[..., 0:1]
        + GRAY_WEIGHTS[1] * images[..., 1:2]
        + GRAY_WEIGHTS[2] * images[..., 2:3]
    )


def gray_sobel(images):
    """Sobel x then y of the grayscale image: (B, H, W, 3) -> (B, H, W, 2).

    The maps of `tfinpaint.data.gradients.sobel_gradients` (the dataset's `gradients`), to
    float rounding.
    """
    return sobel(rgb_to_gray(images))


def dilate_hole_mask(hole_mask):
    """The hole dilated by one pixel (3x3 square), reflect-101 border: (B, H, W, 1) in {0, 1}.

    A pixel is valid in the result exactly when every pixel of its 3x3 Sobel stencil (with the
    reflected border `sobel` uses) is valid, i.e. the valid area eroded by 1.
    """
    return ops.max_pool(reflect_pad_1(hole_mask), 3, strides=1, padding="valid")


def grad(x, hole_mask):
    """`Grad(X, M)`: per-channel Sobel of `x` with its hole mask dilated by 1.

    Args:
        x: tensor (B, H, W, C). Feature map (its hole pixels play no part in the result).
        hole_mask: tensor (B, H, W, 1), 1 = hole.

    Returns:
        Tuple `(gradients, gradient_hole_mask)`: gradients (B, H, W, 2C), d/dx and d/dy of
        channel c at 2c and 2c + 1, 0 in the dilated hole; gradient_hole_mask (B, H, W, 1), the
        hole dilated by 1, in `x`'s dtype.
    """
    hole_mask = ops.stop_gradient(ops.cast(hole_mask, "float32"))
    gradient_hole_mask = ops.stop_gradient(dilate_hole_mask(hole_mask))
    gradient_valid = ops.cast(1.0 - gradient_hole_mask, x.dtype)
    gradients = sobel(x) * gradient_valid
    return gradients, ops.cast(gradient_hole_mask, x.dtype)


@keras.saving.register_keras_serializable(package="tfinpaint")
class Grad(keras.layers.Layer):
    """GAIN's gradient filter `Grad(X, M) = (grad X, dilate(M))` (SPEC.md section 5).

    Zhang et al., "GAIN", ACM MM 2019, section 3.3: the gradient of every channel of a feature
    map, x and y, so 2C channels; a gradient is valid only where its 3x3 stencil lies in the
    valid area, so the hole grows by one pixel. Sobel kernels, reflect-101 border (OpenCV's
    default); no weights.

    Args:
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: list `[x, hole_mask]`, x (B, H, W, C), hole_mask (B, H, W, 1) with 1 = hole;
    H and W at least 2.
    Returns: tuple `(gradients, gradient_hole_mask)`: (B, H, W, 2C) (channels 2c and 2c + 1
    are d/dx and d/dy of channel c; 0 in the dilated hole) and the dilated (B, H, W, 1) hole
    mask.

    Example:
    >>> x = np.random.rand(2, 16, 16, 4).astype("float32")
    >>> hole_mask = np.zeros((2, 16, 16, 1), "float32")
    >>> hole_mask[:, 4:8, 4:8] = 1.0
    >>> gradients, gradient_hole_mask = Grad()([x, hole_mask])  # (2, 16, 16, 8), 6x6 hole
    """

    def call(self, inputs):
        x, hole_mask = inputs
        return grad(x, hole_mask)

    def compute_output_shape(self, input_shape):
        x_shape, mask_shape = input_shape
        channels = None if x_shape[-1] is None else 2 * x_shape[-1]
        return (*x_shape[:-1], channels), tuple(mask_shape)


def shrinkage_priority(hole_mask, confidence, gradient_features):
    """GAIN's filling priority `P_x = C_x * |n_x . g_perp_x|` (SPEC.md section 5, our reading
    after Criminisi et al., "Region filling and object removal by exemplar-based image
    inpainting", 2004).

    - `C_x`, the confidence: the share of the convolution window of x that is valid
      (`count / window`, as the partial convolution counts it).
    - `n_x`, the unit normal of the mask border: the Sobel gradient of the 3x3-averaged valid
      mask (the average gives border normals more than the 9 directions of a binary mask),
      normalised to length 1 (0 where the averaged mask is flat, away from any border).
    - `g_perp_x`, the isophote: the Sobel gradient of the channel mean of the gradient feature
      map, turned by 90 degrees. As in Criminisi's data term it keeps its magnitude, so strong
      structures reaching the border come first.

    Args:
        hole_mask: float32 tensor (B, H, W, 1), 1 = hole: the mask before the update.
        confidence: float32 tensor (B, H, W, 1): valid count / window size of each pixel.
        gradient_features: tensor (B, H, W, C): the block's gradient feature map.

    Returns:
        float32 tensor (B, H, W, 1), >= 0: the priority of every pixel (the caller keeps it
        for the pixels that the update would fill).
    """
    valid_mask = 1.0 - hole_mask
    smoothed = ops.average_pool(reflect_pad_1(valid_mask), 3, strides=1, padding="valid")
    mean_gradient = ops.mean(ops.cast(gradient_features, "float32"), axis=-1, keepdims=True)
    # (B, H, W, 2) -> (B, H, W, 4): n_x, n_y, g_x, g_y.
    derivatives = sobel(ops.concatenate([smoothed, mean_gradient], axis=-1))
    normal_x, normal_y = derivatives[..., 0:1], derivatives[..., 1:2]
    gradient_x, gradient_y = derivatives[..., 2:3], derivatives[..., 3:4]
    norm = ops.sqrt(normal_x * normal_x + normal_y * normal_y)
    safe_norm = ops.where(norm > 0.0, norm, ops.ones_like(norm))
    # The isophote (-g_y, g_x) is the gradient turned by 90 degrees.
    data_term = ops.abs(normal_x * -gradient_y + normal_y * gradient_x) / safe_norm
    return confidence * data_term


def shrink_hole_mask(hole_mask, updated_hole_mask, priority, delta):
    """The partial convolution's mask update, held back to the high-priority pixels.

    Of the pixels the plain update would fill (holes of `hole_mask` that are valid in
    `updated_hole_mask`), only those whose priority reaches `delta` times the largest priority
    of their sample become valid; the others stay holes. `delta = 0` keeps every one of them
    (the plain update, exactly); `delta > 0` keeps a subset. A sample whose priorities are all 0
    keeps the plain update.

    Args:
        hole_mask: float32 tensor (B, H, W, 1), the mask before the update, 1 = hole.
        updated_hole_mask: float32 tensor (B, H, W, 1), the plain partial-convolution update.
        priority: float32 tensor (B, H, W, 1), >= 0 (`shrinkage_priority`).
        delta: float in [0, 1]. The threshold relative to the sample's largest priority.

    Returns:
        float32 tensor (B, H, W, 1), 1 = hole: `updated_hole_mask` plus the held-back pixels.
    """
    candidates = hole_mask * (1.0 - updated_hole_mask)  # Holes the plain update fills.
    priority = priority * candidates
    threshold = delta * ops.max(priority, axis=(1, 2, 3), keepdims=True)  # Per sample.
    held_back = candidates * ops.cast(priority < threshold, "float32")
    return updated_hole_mask + held_back


def _check_positive_int(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner} received {name}={value!r}; expected a positive int.")


@keras.saving.register_keras_serializable(package="tfinpaint")
class GAIBlock(keras.layers.Layer):
    """GAIN's gradient-augmented inpainting block (SPEC.md section 5).

    Zhang et al., "GAIN", ACM MM 2019, section 3.3. On an image flow `I_i`, a gradient flow
    `dI_i` and their shared hole mask `M_i`, with four partial convolutions:

        I'_i,  M_{i+1} = PConv_II(I_i, M_i)
        dI'_i, M_{i+1} = PConv_GG(dI_i, M_i)
        I_{i+1}  = I'_i  + PConv_GI(dI_i, M_i)
        dI_{i+1} = dI'_i + PConv_IG(Grad(I'_i, M_{i+1}))

    then `activation` on both outputs. PConv_II, PConv_GG and PConv_GI share `kernel_size`,
    `strides` and `dilation_rate` (separate weights); PConv_IG is 3x3, stride 1, dilation 1.

    Mask bookkeeping: the two summands of each sum carry the same mask, M_{i+1}, and both
    outputs are 0 in its holes. PConv_II, PConv_GG and PConv_GI update the same mask with the
    same window, so they agree exactly. `Grad` erodes M_{i+1}'s valid area by 1 and PConv_IG's
    3x3 update dilates it back: the opening of the valid area, which is M_{i+1}'s valid area
    except where that is thinner than 3 pixels; there PConv_IG saw no valid input and its output
    is exactly 0, so the sum is dI'_i alone and carries M_{i+1}.

    With `shrinkage_delta` (the mask-shrinkage priority, for stride 1 only), M_{i+1} is the
    plain update held back to the border pixels of high priority (`shrinkage_priority` on
    PConv_GG's output, `shrink_hole_mask`); the features are computed as without it (the
    paper's eq. 9 is unchanged) and zeroed where the mask stays a hole.

    Args:
        image_filters: int. Channels of the image flow out.
        gradient_filters: int. Channels of the gradient flow out.
        kernel_size: int. Window of PConv_II, PConv_GG and PConv_GI. Defaults to 3.
        strides: int. Their stride. Defaults to 1.
        dilation_rate: int. Their dilation (only with stride 1). Defaults to 1.
        activation: str, callable or None. Applied to both outputs. Defaults to None.
        shrinkage_delta: float in [0, 1] or None. The priority threshold (GAIN: 0.4 in the first
            four dilation blocks of the structure branch); None: the plain mask update.
            Defaults to None.
        use_bias: bool. Biases of the partial convolutions. Defaults to True.
        kernel_initializer: str or initializer. Of all four kernels. Defaults to
            "glorot_uniform".
        upsample: bool. First upsample the flows x2 (bilinear, half-pixel centres:
            `upsample_bilinear_2x`) and the hole mask (nearest), as GAIN's decoder does before
            its blocks. Inside the block, so that in eager calls each upsampled input is freed
            as soon as its convolutions have read it (GAIN's full-size decoder block at 1024
            px). Defaults to False.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: list `[image_features, gradient_features, hole_mask]`: (B, H, W, C_I),
    (B, H, W, C_G) and (B, H, W, 1) with 1 = hole.
    Returns: tuple `(image_features, gradient_features, hole_mask)` at (B, H', W') with
    `image_filters`, `gradient_filters` and 1 channels (H' = ceil(f H / strides), f = 2 with
    `upsample`, else 1).

    Example:
    >>> block = GAIBlock(8, 16, strides=2)
    >>> image = np.random.rand(2, 32, 32, 3).astype("float32")
    >>> gradient = np.random.rand(2, 32, 32, 2).astype("float32")
    >>> hole_mask = np.zeros((2, 32, 32, 1), "float32")
    >>> image, gradient, hole_mask = block([image, gradient, hole_mask])  # 16 x 16
    """

    def __init__(
        self,
        image_filters,
        gradient_filters,
        kernel_size=3,
        strides=1,
        dilation_rate=1,
        activation=None,
        shrinkage_delta=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        upsample=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("image_filters", image_filters),
            ("gradient_filters", gradient_filters),
            ("kernel_size", kernel_size),
            ("strides", strides),
            ("dilation_rate", dilation_rate),
        ):
            _check_positive_int(value, name, "GAIBlock")
        if shrinkage_delta is not None:
            if isinstance(shrinkage_delta, bool) or not 0.0 <= float(shrinkage_delta) <= 1.0:
                raise ValueError(
                    f"GAIBlock received shrinkage_delta={shrinkage_delta!r}; expected a float "
                    "in [0, 1] or None."
                )
            if strides != 1:
                raise ValueError(
                    f"GAIBlock received shrinkage_delta={shrinkage_delta} with strides="
                    f"{strides}; expected strides of 1 (the priority ranks border pixels of "
                    "one resolution)."
                )
            shrinkage_delta = float(shrinkage_delta)

        # === Config ===
        self.image_filters = image_filters
        self.gradient_filters = gradient_filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.dilation_rate = dilation_rate
        self.activation = keras.activations.get(activation)
        self.shrinkage_delta = shrinkage_delta
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.upsample = bool(upsample)

        # === Layers ===
        def pconv(filters, name, kernel_size=kernel_size, strides=strides, dilation=dilation_rate):
            return PartialConv2D(
                filters,
                kernel_size,
                strides=strides,
                padding="same",
                dilation_rate=dilation,
                use_bias=use_bias,
                # A fresh initializer per convolution, from the config.
                kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                dtype=self.dtype_policy,
                name=name,
            )

        self.conv_ii = pconv(image_filters, "conv_ii")
        self.conv_gg = pconv(gradient_filters, "conv_gg")
        self.conv_gi = pconv(image_filters, "conv_gi")
        self.conv_ig = pconv(gradient_filters, "conv_ig", kernel_size=3, strides=1, dilation=1)
        self.grad = Grad(dtype=self.dtype_policy, name="grad")

    def _input_shapes(self, input_shape):
        """The flows' and mask's shapes as the convolutions see them (after `upsample`)."""
        shapes = [tuple(shape) for shape in input_shape]
        if self.upsample:
            shapes = [(s[0], *(None if d is None else 2 * d for d in s[1:3]), s[3]) for s in shapes]
        return shapes

    def build(self, input_shape):
        image_shape, gradient_shape, mask_shape = self._input_shapes(input_shape)
        self.conv_ii.build([image_shape, mask_shape])
        self.conv_gg.build([gradient_shape, mask_shape])
        self.conv_gi.build([gradient_shape, mask_shape])
        self.conv_ig.build([(None, None, None, 2 * self.image_filters), (None, None, None, 1)])

    @property
    def window_size(self):
        """Taps of the PConv_II/GG/GI window: the denominator of the priority's confidence."""
        return self.kernel_size * self.kernel_size

    def valid_count(self, hole_mask):
        """Valid pixels under each window of PConv_II/GG/GI: (B, H', W', 1) float32."""
        valid_mask = 1.0 - ops.cast(hole_mask, "float32")
        ones = ops.ones((self.kernel_size, self.kernel_size, 1, 1), "float32")
        return ops.conv(
            valid_mask,
            ones,
            strides=self.strides,
            padding="same",
            dilation_rate=self.dilation_rate,
        )

    def call(self, inputs):
        image, gradient, hole_mask = inputs
        if self.upsample:
            image, gradient = upsample_bilinear_2x(image), upsample_bilinear_2x(gradient)
            hole_mask = upsample_nearest(hole_mask, 2)
        # Intermediates are dropped (`del`) once used: in eager calls on large images (GAIN's
        # full-resolution decoder block at 1024 px) each one is a full-size feature map. The
        # inputs are read first, by all three convolutions that take them.
        image_next, updated_hole_mask = self.conv_ii([image, hole_mask])
        del image
        gradient_next, _ = self.conv_gg([gradient, hole_mask])
        image_gi, _ = self.conv_gi([gradient, hole_mask])  # PConv_GI(dI_i), added below
        del gradient

        new_hole_mask = ops.cast(updated_hole_mask, "float32")
        if self.shrinkage_delta is not None:
            hole_mask_32 = ops.stop_gradient(ops.cast(hole_mask, "float32"))
            confidence = self.valid_count(hole_mask_32) / float(self.window_size)
            priority = shrinkage_priority(hole_mask_32, confidence, gradient_next)
            new_hole_mask = shrink_hole_mask(
                hole_mask_32, new_hole_mask, ops.stop_gradient(priority), self.shrinkage_delta
            )
        new_hole_mask = ops.stop_gradient(new_hole_mask)
        new_valid = ops.cast(1.0 - new_hole_mask, image_next.dtype)

        # Masks are 0 or 1, so (a + b) * valid is a * valid + b * valid exactly.
        image_next = image_next * new_valid  # I'_i
        gradients, gradient_hole_mask = self.grad([image_next, new_hole_mask])
        gradient_ig, _ = self.conv_ig([gradients, gradient_hole_mask])
        del gradients
        gradient_next = (gradient_next + gradient_ig) * new_valid  # dI'_i + PConv_IG(Grad)
        del gradient_ig
        image_next = image_next + image_gi * new_valid  # I'_i + PConv_GI(dI_i)
        del image_gi
        image_next = self.activation(image_next)
        gradient_next = self.activation(gradient_next)
        return image_next, gradient_next, ops.cast(new_hole_mask, image_next.dtype)

    def compute_output_shape(self, input_shape):
        image_shape = self._input_shapes(input_shape)[0]

        def reduced(size):
            return None if size is None else -(-size // self.strides)

        spatial = (image_shape[0], reduced(image_shape[1]), reduced(image_shape[2]))
        return (
            (*spatial, self.image_filters),
            (*spatial, self.gradient_filters),
            (*spatial, 1),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_filters": self.image_filters,
                "gradient_filters": self.gradient_filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "dilation_rate": self.dilation_rate,
                "activation": keras.activations.serialize(self.activation),
                "shrinkage_delta": self.shrinkage_delta,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "upsample": self.upsample,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="tfinpaint")
class GAIStack(keras.layers.Layer):
    """GAI blocks applied one after the other, each optionally after a x2 upsampling.

    One layer for a run of blocks (a branch of GAIN's generator, its decoder) so that an eager
    call keeps only the current flows alive, not every block's output as a functional graph
    does: GAIN's paper generator at 1024 x 1024 fits in a few GB this way.

    Args:
        blocks: list of dicts. The `GAIBlock` constructor arguments of each block, each with a
            `name` unique in the stack.
        upsample: list of bools or None. For each block, whether the flows are upsampled
            (bilinear x2, half-pixel centres: `upsample_bilinear_2x`) and the hole mask (nearest
            x2) before it, by the block itself (`GAIBlock(upsample=True)`). None: no
            upsampling. Defaults to None.
        residual: list of bools or None. For each block, whether it is residual: both flows
            out are the flows in plus the block's (the hole mask the block's). Only for blocks
            that keep the flows' shapes (stride 1, no upsampling, the widths in). The sum keeps
            the blocks' convention that features are 0 in the holes: a block's holes lie within
            its input's, where the input is 0. None: none. Defaults to None.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Call inputs: list `[image_features, gradient_features, hole_mask]` as for `GAIBlock`.
    Returns: tuple `(image_features, gradient_features, hole_mask)` of the last block.

    Example:
    >>> stack = GAIStack([{"image_filters": 8, "gradient_filters": 16, "strides": 2,
    ...                    "name": "down"},
    ...                   {"image_filters": 8, "gradient_filters": 16, "dilation_rate": 2,
    ...                    "name": "dilated"}])
    >>> image, gradient, hole_mask = stack([np.zeros((1, 16, 16, 3), "float32"),
    ...                                     np.zeros((1, 16, 16, 2), "float32"),
    ...                                     np.ones((1, 16, 16, 1), "float32")])  # 8 x 8
    """

    def __init__(self, blocks, upsample=None, residual=None, **kwargs):
        super().__init__(**kwargs)
        blocks = [dict(block) for block in blocks]
        names = [block.get("name") for block in blocks]
        if not blocks or None in names or len(set(names)) != len(names):
            raise ValueError(
                f"GAIStack received blocks named {names}; expected at least one block, each "
                "with a unique name."
            )
        upsample = (False,) * len(blocks) if upsample is None else tuple(bool(u) for u in upsample)
        if len(upsample) != len(blocks):
            raise ValueError(
                f"GAIStack received {len(upsample)} upsample flags for {len(blocks)} blocks; "
                "expected one per block."
            )

        residual = (False,) * len(blocks) if residual is None else tuple(bool(r) for r in residual)
        if len(residual) != len(blocks):
            raise ValueError(
                f"GAIStack received {len(residual)} residual flags for {len(blocks)} blocks; "
                "expected one per block."
            )
        for block, up, res in zip(blocks, upsample, residual, strict=True):
            if res and (up or block.get("strides", 1) != 1):
                raise ValueError(
                    f"GAIStack block {block['name']!r} is residual but changes the flows' size "
                    "(strides or upsampling); a residual block keeps it."
                )

        # === Config ===
        self.block_configs = blocks
        self.upsample = upsample
        self.residual = residual

        # === Layers ===
        # Each block upsamples its own inputs (`GAIBlock(upsample=True)`: eager memory).
        self.blocks = [
            GAIBlock(**block, upsample=flag, dtype=self.dtype_policy)
            for block, flag in zip(blocks, upsample)
        ]

    def build(self, input_shape):
        shapes = [tuple(shape) for shape in input_shape]
        for block, residual in zip(self.blocks, self.residual, strict=True):
            block.build(shapes)
            outputs = [tuple(shape) for shape in block.compute_output_shape(shapes)]
            if residual and [s[-1] for s in outputs[:2]] != [s[-1] for s in shapes[:2]]:
                raise ValueError(
                    f"GAIStack block {block.name!r} is residual but maps "
                    f"{shapes[0][-1]} + {shapes[1][-1]} channels to {outputs[0][-1]} + "
                    f"{outputs[1][-1]}; a residual block keeps the widths."
                )
            shapes = outputs

    def get_block(self, name):
        """The block called `name`."""
        for block in self.blocks:
            if block.name == name:
                return block
        raise ValueError(f"GAIStack {self.name} has no block {name!r}.")

    def call(self, inputs):
        image, gradient, hole_mask = inputs
        for block, residual in zip(self.blocks, self.residual, strict=True):
            if residual:
                image_out, gradient_out, hole_mask = block([image, gradient, hole_mask])
                image, gradient = image + image_out, gradient + gradient_out
                del image_out, gradient_out
            else:
                image, gradient, hole_mask = block([image, gradient, hole_mask])
        return image, gradient, hole_mask

    def compute_output_shape(self, input_shape):
        shapes = [tuple(shape) for shape in input_shape]
        for block in self.blocks:
            shapes = [tuple(shape) for shape in block.compute_output_shape(shapes)]
        return tuple(shapes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "blocks": self.block_configs,
                "upsample": list(self.upsample),
                "residual": list(self.residual),
            }
        )
        return config
