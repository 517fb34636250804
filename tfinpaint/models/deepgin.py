"""DeepGIN generator: a coarse network G1 and a refinement network G2 with back projection.

Li et al., "DeepGIN: Deep Generative Inpainting Network for Extreme Image Inpainting", ECCV
2020 workshops; the facts come from the authors' code (SPEC.md section 4). Images in [0, 1],
masks 1 = hole, linear RGB heads, edge-replicate padding on every convolution
(`ReplicatePadConv2D`), LeakyReLU(0.2) outside the SPD branches, no normalization, bilinear
resampling with aligned corners. The paper widths give G1 8,167,843 and G2 34,762,343
parameters: 42,930,186 in all, the paper's 42.930 M.

The discriminator (`DeepGINDiscriminator`) is registered twice, as `scale_1` (full resolution)
and `scale_2` (on a 3x3 stride-2 average-pooled input): the reference's two-scale PatchGAN.
"""

import math

import keras
from keras import ops

from tfinpaint.layers.attention import DEFAULT_MAX_LOGITS_PER_IMAGE, SelfAttention2D
from tfinpaint.layers.dilation import SPD4_DILATION_RATES, SPD8_DILATION_RATES, SPDBlock
from tfinpaint.layers.padding import (
    DEEPGIN_KERNEL_INIT_SCALE,
    ReplicatePadConv2D,
    deepgin_kernel_initializer,
)
from tfinpaint.layers.resample import BilinearResize2D
from tfinpaint.models.base import (
    InpaintingGenerator,
    blend,
    check_init_scale,
    fill_size_multiple,
    harmonic_fill_layer,
)

ACTIVATION = "leaky_relu"  # Keras' default slope is 0.2, the reference's.


@keras.saving.register_keras_serializable(package="tfinpaint")
class DeepGINGenerator(InpaintingGenerator):
    """DeepGIN's two-stage generator (G1 coarse, G2 refinement with back projection).

    Reference: Li et al., "DeepGIN", ECCV 2020 workshops, Fig. 2 and the authors' code; SPEC.md
    section 4. With f = `base_filters` (32 in the paper), at a 256 x 256 input:

    - G1 (layers `coarse_*`): input concat(image with holes set to 1.0, mask); replicate-padded
      convs 7/1 -> f, 4/2 -> 2f, 4/2 -> 4f, 4/2 -> 8f; `num_coarse_spd_blocks` 8-branch SPD
      blocks; three times bilinear x2 + 3x3 conv (8f -> 4f -> 2f -> f); 7/1 conv -> 3, linear:
      `coarse`.
    - G2 (layers `refine_*`): input concat(coarse composited with the known pixels, mask);
      convs 7/1 -> f, 4/2 -> 2f, 4/2 -> 4f (64 x 64), 4/2 -> 8f (32 x 32), 4/2 -> 16f
      (16 x 16). Skips: 3x3 conv 4f -> 2f + self-attention on the 64 x 64 features, 3x3 conv
      8f -> 4f + self-attention on the 32 x 32 ones. Bottleneck: `num_refine_spd_blocks`
      4-branch SPD blocks, self-attention, `num_refine_spd_blocks` more. Decoder: bilinear x2
      + 3x3 -> 8f, concat skip, 3x3 -> 8f; bilinear x2 + 3x3 -> 4f, concat skip, 3x3 -> 4f;
      low-res head 3x3 -> f, 3x3 -> 3 (`lr`, H/4); bilinear x2 + 3x3 -> 2f; bilinear x2 +
      3x3 -> f; 7/1 conv -> 3 (d5) and 3x3 conv -> 1 sigmoid (alpha).
    - Back projection: c = blend(d5); raw = c + up_x4(lr - down_x4(c)) * alpha (bilinear).

    Args:
        base_filters: int. Width f of the first convolutions; multiple of 8 when the SPD blocks
            use the paper's 8 and 4 branches. Defaults to 32 (paper).
        num_coarse_spd_blocks: int. SPD blocks in G1's bottleneck. Defaults to 6.
        num_refine_spd_blocks: int. SPD blocks on each side of G2's bottleneck attention.
            Defaults to 3.
        coarse_dilation_rates: tuple of ints. Branch dilations of G1's SPD blocks. Defaults to
            (2, 3, 4, 5, 6, 8, 10, 1).
        refine_dilation_rates: tuple of ints. Branch dilations of G2's SPD blocks. Defaults to
            (2, 3, 4, 5).
        max_attention_logits_per_image: int or None. The self-attention blocks' bound on the
            attention logits one image materialises at once outside training (queries are
            processed in chunks above it; `SelfAttention2D`). None: never chunk. Defaults to
            2**26 (256 MiB in float32): unchunked at 256 px, chunked at the first skip's
            128 x 128 map (512 px input) and beyond.
        kernel_init_scale: float > 0. Every kernel starts He-normal (fan-in, untruncated)
            with its standard deviation times this. Defaults to 0.1, the reference code's
            (SPEC.md section 4). Our option: at 0.1 the signal shrinks about tenfold per plain
            convolution, so the heads' outputs start near 1e-8; at 1 the residual SPD blocks
            grow it instead (outputs ~100). Of these alone a narrowed generator fits one
            batch of photos fastest at 0.5; 1 with `residual_init_scale` 0.1 is faster still
            (`deepgin_narrow_photos` was trained from that start; WORKSPACE.md, issue 14).
            Only the initial values differ; parameter counts and saved weights are the same.
        residual_init_scale: float > 0 or None. The same for the last convolution of every
            residual branch (each SPD block's fuse convolution and each self-attention's
            output convolution); None: `kernel_init_scale`. Our option, after Fixup (Zhang et
            al., ICLR 2019): with `kernel_init_scale` 1 (He-normal, which keeps the signal's
            scale through the plain convolutions) and this 0.1, every residual block starts
            near the identity, and a narrowed generator fits a batch of photos ~2.5 dB further
            in 150 steps than at `kernel_init_scale` 0.5 alone (WORKSPACE.md, issue 14).
            Defaults to None.
        fill_input: bool. Not in the paper (off by default): build the network on the
            multi-scale harmonic fill `F` (`HarmonicFill`, no weights), as
            `PConvUNet(fill_input=True)` does. G1 reads `[F, M]` (every pixel known) instead of
            the image with white holes, and each output head becomes a correction that starts
            at zero (its kernel is zero): `coarse = F + head`, and G2's `d5` and `lr` are
            corrections of G1's composite `C` and of `C` downsampled x4. A new network is
            therefore exactly the fill (the back projection then adds zero). It trains from
            scratch (the heads' meaning changes).
        fill_levels: int. Levels of the harmonic fill (`fill_input` only); the size multiple
            becomes `max(16, 2 ** fill_levels)`. Defaults to 6 (64 px).
        fill_iterations: int. Jacobi sweeps per level of the harmonic fill (`fill_input`
            only). Defaults to 32.
        **kwargs: `keras.Model` keyword arguments (`name`, `trainable`, `dtype`).

    Call inputs: dict with `images` (B, H, W, 3) in [0, 1] and `masks` (B, H, W, 1), 1 = hole,
    H and W divisible by 16.
    Returns: dict with `raw`, `inpainted`, `coarse` (B, H, W, 3) and `lr` (B, H/4, W/4, 3),
    all float32; the RGB heads are linear (not clipped to [0, 1]).

    Example:
    >>> generator = DeepGINGenerator(base_filters=8, num_coarse_spd_blocks=1,
    ...                              num_refine_spd_blocks=1)
    >>> images = np.random.rand(2, 32, 32, 3).astype("float32")
    >>> masks = np.zeros((2, 32, 32, 1), "float32")
    >>> masks[:, 8:24, 8:24] = 1.0
    >>> generator({"images": images, "masks": masks})["lr"].shape
    TensorShape([2, 8, 8, 3])
    """

    extra_output_names = ("coarse", "lr")

    def __init__(
        self,
        base_filters=32,
        num_coarse_spd_blocks=6,
        num_refine_spd_blocks=3,
        coarse_dilation_rates=SPD8_DILATION_RATES,
        refine_dilation_rates=SPD4_DILATION_RATES,
        max_attention_logits_per_image=DEFAULT_MAX_LOGITS_PER_IMAGE,
        kernel_init_scale=DEEPGIN_KERNEL_INIT_SCALE,
        residual_init_scale=None,
        fill_input=False,
        fill_levels=6,
        fill_iterations=32,
        **kwargs,
    ):
        harmonic_fill = harmonic_fill_layer(
            "DeepGINGenerator", fill_input, fill_levels, fill_iterations
        )
        base_filters = int(base_filters)
        kernel_init_scale = check_init_scale(kernel_init_scale, "0.1 in the reference code")
        # None keeps each layer's default, the reference's He-normal x 0.1.
        initializer = (
            None
            if kernel_init_scale == DEEPGIN_KERNEL_INIT_SCALE
            else deepgin_kernel_initializer(kernel_init_scale)
        )
        residual_initializer = None  # The residual branches' last convolutions as the rest.
        if residual_init_scale is not None:
            residual_init_scale = check_init_scale(
                residual_init_scale, "or None for kernel_init_scale's", "residual_init_scale"
            )
            residual_initializer = deepgin_kernel_initializer(residual_init_scale)
        coarse_dilation_rates = tuple(int(rate) for rate in coarse_dilation_rates)
        refine_dilation_rates = tuple(int(rate) for rate in refine_dilation_rates)
        if base_filters < 2 or base_filters % 2:
            raise ValueError(
                f"Received base_filters={base_filters}; expected an even int >= 2 (32 in the "
                "paper)."
            )
        for name, value in (
            ("num_coarse_spd_blocks", num_coarse_spd_blocks),
            ("num_refine_spd_blocks", num_refine_spd_blocks),
        ):
            if int(value) < 0:
                raise ValueError(f"Received {name}={value}; expected an int >= 0.")
        f = base_filters
        max_logits = max_attention_logits_per_image

        def conv(filters, kernel_size, name, strides=1, activation=ACTIVATION, zero=False):
            return ReplicatePadConv2D(
                filters,
                kernel_size,
                strides=strides,
                activation=activation,
                kernel_initializer="zeros" if zero else initializer,
                name=name,
            )

        def up(name):
            return BilinearResize2D(2, name=name)

        # === Layers ===
        # G1, the coarse network.
        coarse_encoder = [
            conv(f, 7, "coarse_enc_1"),
            conv(2 * f, 4, "coarse_enc_2", strides=2),
            conv(4 * f, 4, "coarse_enc_3", strides=2),
            conv(8 * f, 4, "coarse_enc_4", strides=2),
        ]
        coarse_spd = [
            SPDBlock(
                8 * f,
                coarse_dilation_rates,
                kernel_initializer=initializer,
                fuse_kernel_initializer=residual_initializer,
                name=f"coarse_spd_{index}",
            )
            for index in range(int(num_coarse_spd_blocks))
        ]
        coarse_decoder = []
        for index, filters in enumerate((4 * f, 2 * f, f), start=1):
            coarse_decoder += [up(f"coarse_up_{index}"), conv(filters, 3, f"coarse_dec_{index}")]
        # On the fill, the output heads are corrections that start at zero.
        coarse_head = conv(3, 7, "coarse_out", activation=None, zero=fill_input)

        # G2, the refinement network.
        refine_encoder = [
            conv(f, 7, "refine_enc_1"),
            conv(2 * f, 4, "refine_enc_2", strides=2),
            conv(4 * f, 4, "refine_enc_3", strides=2),  # H/4: skip 1
            conv(8 * f, 4, "refine_enc_4", strides=2),  # H/8: skip 2
            conv(16 * f, 4, "refine_enc_5", strides=2),  # H/16: bottleneck
        ]
        skip_4 = [
            conv(2 * f, 3, "refine_skip_4_conv"),
            SelfAttention2D(
                2 * f,
                max_logits,
                kernel_initializer=initializer,
                output_kernel_initializer=residual_initializer,
                name="refine_skip_4_attention",
            ),
        ]
        skip_8 = [
            conv(4 * f, 3, "refine_skip_8_conv"),
            SelfAttention2D(
                4 * f,
                max_logits,
                kernel_initializer=initializer,
                output_kernel_initializer=residual_initializer,
                name="refine_skip_8_attention",
            ),
        ]

        def refine_spd(index):
            return SPDBlock(
                16 * f,
                refine_dilation_rates,
                kernel_initializer=initializer,
                fuse_kernel_initializer=residual_initializer,
                name=f"refine_spd_{index}",
            )

        bottleneck = [refine_spd(index) for index in range(int(num_refine_spd_blocks))]
        bottleneck.append(
            SelfAttention2D(
                16 * f,
                max_logits,
                kernel_initializer=initializer,
                output_kernel_initializer=residual_initializer,
                name="refine_bottleneck_attention",
            )
        )
        bottleneck += [
            refine_spd(index)
            for index in range(int(num_refine_spd_blocks), 2 * int(num_refine_spd_blocks))
        ]
        refine_up_8 = [up("refine_up_8"), conv(8 * f, 3, "refine_dec_8_up")]
        refine_fuse_8 = conv(8 * f, 3, "refine_dec_8_fuse")
        refine_up_4 = [up("refine_up_4"), conv(4 * f, 3, "refine_dec_4_up")]
        refine_fuse_4 = conv(4 * f, 3, "refine_dec_4_fuse")
        lr_head = [
            conv(f, 3, "refine_lr_1"),
            conv(3, 3, "refine_lr_out", activation=None, zero=fill_input),
        ]
        refine_tail = [
            up("refine_up_2"),
            conv(2 * f, 3, "refine_dec_2"),
            up("refine_up_1"),
            conv(f, 3, "refine_dec_1"),
        ]
        d5_head = conv(3, 7, "refine_out", activation=None, zero=fill_input)
        alpha_head = conv(1, 3, "refine_alpha", activation="sigmoid")
        down_x4 = BilinearResize2D(4, downsample=True, name="back_projection_down")
        up_x4 = BilinearResize2D(4, name="back_projection_up")

        # === Functional Model ===
        inputs = InpaintingGenerator.make_inputs()
        images, masks = inputs["images"], inputs["masks"]
        if harmonic_fill is None:
            # Holes set to 1.0: the ground truth never reaches the network.
            x = ops.concatenate([images * (1.0 - masks) + masks, masks], axis=-1)  # (B, H, W, 4)
        else:
            # The fill reads no hole pixel either; every pixel of it is known.
            fill = harmonic_fill([images, masks])
            x = ops.concatenate([fill, masks], axis=-1)
        for layer in coarse_encoder + coarse_spd + coarse_decoder:
            x = layer(x)
        coarse = ops.cast(coarse_head(x), "float32")  # (B, H, W, 3)
        if harmonic_fill is not None:
            coarse = fill + coarse
        coarse_composite = blend(coarse, images, masks)

        x = ops.concatenate([coarse_composite, masks], axis=-1)  # (B, H, W, 4)
        for layer in refine_encoder[:3]:
            x = layer(x)
        skip_quarter = x  # (B, H/4, W/4, 4f)
        x = refine_encoder[3](x)
        skip_eighth = x  # (B, H/8, W/8, 8f)
        x = refine_encoder[4](x)  # (B, H/16, W/16, 16f)
        for layer in skip_4:
            skip_quarter = layer(skip_quarter)  # -> (B, H/4, W/4, 2f)
        for layer in skip_8:
            skip_eighth = layer(skip_eighth)  # -> (B, H/8, W/8, 4f)
        for layer in bottleneck + refine_up_8:
            x = layer(x)
        x = refine_fuse_8(ops.concatenate([x, skip_eighth], axis=-1))  # 8f + 4f -> 8f
        for layer in refine_up_4:
            x = layer(x)
        x = refine_fuse_4(ops.concatenate([x, skip_quarter], axis=-1))  # 4f + 2f -> 4f
        lr = x
        for layer in lr_head:
            lr = layer(lr)
        lr = ops.cast(lr, "float32")  # (B, H/4, W/4, 3)
        for layer in refine_tail:
            x = layer(x)  # -> (B, H, W, f)
        d5 = ops.cast(d5_head(x), "float32")
        if harmonic_fill is not None:
            lr = down_x4(coarse_composite) + lr
            d5 = coarse_composite + d5
        alpha = ops.cast(alpha_head(x), "float32")  # (B, H, W, 1)

        # Back projection: the low-resolution residual corrects the full-resolution output.
        composited = blend(d5, images, masks)
        raw = composited + up_x4(lr - down_x4(composited)) * alpha
        super().__init__(inputs, raw, extra_outputs={"coarse": coarse, "lr": lr}, **kwargs)

        # === Config ===
        self.base_filters = base_filters
        self.num_coarse_spd_blocks = int(num_coarse_spd_blocks)
        self.num_refine_spd_blocks = int(num_refine_spd_blocks)
        self.coarse_dilation_rates = coarse_dilation_rates
        self.refine_dilation_rates = refine_dilation_rates
        self.max_attention_logits_per_image = max_attention_logits_per_image
        self.kernel_init_scale = kernel_init_scale
        self.residual_init_scale = residual_init_scale
        self.fill_input = fill_input
        self.fill_levels = fill_levels
        self.fill_iterations = fill_iterations

    @classmethod
    def size_multiple_for(cls, config):
        """16: G2's encoder halves the input four times (on the fill, 2 ** fill_levels when
        larger)."""
        return fill_size_multiple(config, 16)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "base_filters": self.base_filters,
                "num_coarse_spd_blocks": self.num_coarse_spd_blocks,
                "num_refine_spd_blocks": self.num_refine_spd_blocks,
                "coarse_dilation_rates": self.coarse_dilation_rates,
                "refine_dilation_rates": self.refine_dilation_rates,
                "max_attention_logits_per_image": self.max_attention_logits_per_image,
                "kernel_init_scale": self.kernel_init_scale,
                "residual_init_scale": self.residual_init_scale,
                "fill_input": self.fill_input,
                "fill_levels": self.fill_levels,
                "fill_iterations": self.fill_iterations,
            }
        )
        return config


def average_pool_exclude_pad(x):
    """3x3 average pooling, stride 2, zero padding 1 not counted (PyTorch's
    `AvgPool2d(3, 2, padding=1, count_include_pad=False)`): windows start at -1, 1, 3, ...

    Keras' `padding="same"` pads at the bottom/right only for even sides, a shifted grid, so
    the pooling is written as the sum over the padded input divided by the count of real pixels.
    """
    pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
    sums = ops.average_pool(ops.pad(x, pad), 3, strides=2, padding="valid")
    counts = ops.average_pool(ops.pad(ops.ones_like(x[..., :1]), pad), 3, strides=2)
    return sums / counts


@keras.saving.register_keras_serializable(package="tfinpaint")
class DeepGINDiscriminator(keras.Model):
    """One scale of DeepGIN's multi-scale PatchGAN discriminator (SPEC.md section 4).

    Input: concat(masked image, image) with 6 channels; the trainer feeds the image with its
    holes set to 1.0 next to the real or the completed image, as the reference code does (its
    data loader fills holes with 1.0, its `discriminate` concatenates in that order). The input
    is first average-pooled `log2(scale_factor)` times (3x3, stride 2, padding 1 not counted).
    Then four 4x4 convolutions, each spectral-normalised with zero padding 2: stride 2 -> f,
    stride 2 -> 2f, stride 1 -> 4f, stride 1 -> `output_channels`; LeakyReLU(0.2) after all but
    the last. Output: (B, h, w, output_channels) hinge logits (the reference averages the hinge
    over all of them).

    Args:
        scale_factor: int. 1 (full resolution) or a power of 2 (the input pooled down by it).
        filters: int. Width f of the first convolution (64 in the paper).
        output_channels: int. Width of the last convolution (256 in the reference's code).
        **kwargs: `keras.Model` keyword arguments (`name`, `trainable`, `dtype`).

    Example:
    >>> d = DeepGINDiscriminator(scale_factor=2, filters=8, output_channels=1)
    >>> d(np.zeros((2, 32, 32, 6), "float32"), training=True).shape
    TensorShape([2, 5, 5, 1])
    """

    def __init__(self, scale_factor=1, filters=64, output_channels=256, **kwargs):
        scale_factor, filters, output_channels = (
            int(scale_factor),
            int(filters),
            int(output_channels),
        )
        if scale_factor < 1 or scale_factor & (scale_factor - 1):
            raise ValueError(
                f"Received scale_factor={scale_factor}; expected a power of 2 >= 1 (1 or 2)."
            )
        if filters < 1 or output_channels < 1:
            raise ValueError(
                f"Received filters={filters} and output_channels={output_channels}; expected "
                "positive ints."
            )
        inputs = keras.Input((None, None, 6))
        x = inputs
        for _ in range(int(math.log2(scale_factor))):
            x = average_pool_exclude_pad(x)
        specs = ((filters, 2), (2 * filters, 2), (4 * filters, 1), (output_channels, 1))
        for index, (width, strides) in enumerate(specs, start=1):
            x = keras.layers.ZeroPadding2D(2, name=f"zero_pad_{index}")(x)
            x = keras.layers.SpectralNormalization(
                keras.layers.Conv2D(width, 4, strides=strides, name=f"conv_{index}"),
                name=f"sn_conv_{index}",
            )(x)
            if index < len(specs):
                x = keras.layers.LeakyReLU(0.2, name=f"lrelu_{index}")(x)
        super().__init__(inputs, x, **kwargs)
        self.scale_factor = scale_factor
        self.filters = filters
        self.output_channels = output_channels

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "scale_factor": self.scale_factor,
            "filters": self.filters,
            "output_channels": self.output_channels,
        }


def _discriminators(filters, output_channels):
    return {
        f"scale_{scale}": {
            "scale_factor": scale,
            "filters": filters,
            "output_channels": output_channels,
        }
        for scale in (1, 2)
    }


PRESETS = {
    # Generator 42,930,186 parameters (the paper's 42.930 M); each discriminator 1,710,784.
    "paper": {
        "generator": {"base_filters": 32, "num_coarse_spd_blocks": 6, "num_refine_spd_blocks": 3},
        "discriminators": _discriminators(64, 256),
        "training": {
            "image_size": 256,
            # 4 images x 3 masks (rect 30-70 %, free-form, cellular automata) = 12.
            "batch_size": 12,
            "masks": "deepgin",
            # Augment (DeepGINTrainer.segment_data_overrides): short side resized to 2 x 256
            # (unless --resize_short_side is given), random 90-degree rotation, a random 2x
            # polyphase phase (-> 256), horizontal flip.
            "steps": 500_000,
            "learning_rate": 1e-4,
            "d_learning_rate": 4e-4,
            "log_every": 200,
            "checkpoint_every": 5000,
            "val_batch_size": 12,
            "options": {},
        },
    },
    # Seconds on a CPU: for tests and demos. One SPD block (G1's 8-branch kind); G2's 4-branch
    # blocks are left out, which cuts the traced graph by a fifth (tests and exports trace it
    # often); test_deepgin_model.py covers both kinds.
    "tiny": {
        "generator": {"base_filters": 8, "num_coarse_spd_blocks": 1, "num_refine_spd_blocks": 0},
        "discriminators": _discriminators(8, 8),
        "training": {
            "image_size": 32,
            "batch_size": 6,
            "masks": "deepgin",
            "steps": 8,
            "stage_fractions": [0.25, 0.75],
            "learning_rate": 1e-3,
            "d_learning_rate": 1e-3,
            "log_every": 2,
            "checkpoint_every": 4,
            "val_batch_size": 6,
            "options": {},
        },
    },
}
