"""The PConv U-Net generator (Liu et al., "Image Inpainting for Irregular Holes Using Partial
Convolutions", ECCV 2018, section 3.2 and appendix; SPEC.md section 1): a U-Net of partial
convolutions, stride-2 encoder, nearest-neighbour upsampling decoder with skip connections.
"""

import numbers

import keras
from keras import ops

from tfinpaint.layers.harmonic_fill import HarmonicFill
from tfinpaint.layers.normalization import BatchNormalization
from tfinpaint.layers.partial_conv import PartialConv2D
from tfinpaint.models.base import InpaintingGenerator

# One table per preset (STYLE.md rule 12): the generator's constructor arguments, the
# discriminators' (none: PConv trains with a supervised loss only) and the training defaults
# (`TrainConfig` fields and the trainer's `options`, see tfinpaint.training.pconv).
PRESETS = {
    # The paper's network for 512x512 inputs (Liu et al. 2018, appendix, table of layers), with
    # NVIDIA's symmetric padding and a bias on every convolution, so that weights ported from
    # NVIDIA's partialconv or PConv-Keras give the same outputs: 32,865,236 trainable parameters.
    # Masks: the paper trains on its NVIDIA irregular mask set, so the paper choice is
    # `--masks=irregular:DIR` (DIR holding those PNGs, `--irregular_polarity` as the files
    # are). "freeform" below is only the fallback when no mask folder is given: DeepFill v2
    # strokes at the reference's 12-39 px widths cover about 0.085 of a 512 px image on
    # average, where the NVIDIA set spreads evenly over hole ratios 0.01-0.6.
    "paper": {
        "generator": {
            "encoder_filters": [64, 128, 256, 512, 512, 512, 512, 512],
            "encoder_kernel_sizes": [7, 5, 5, 3, 3, 3, 3, 3],
            "decoder_filters": [512, 512, 512, 512, 256, 128, 64, 3],
            "padding": "symmetric",
            "use_bias_with_batch_norm": True,
        },
        "discriminators": {},
        "training": {
            "image_size": 512,
            "batch_size": 6,
            "steps": 600_000,
            "masks": "freeform",
            "learning_rate": 2e-4,
            "log_every": 200,
            "checkpoint_every": 2000,
            "val_batch_size": 6,
            # "auto": torchvision's normalisation for weights converted by tools/convert_vgg.py
            # (the features the 0.05 / 120 loss weights were tuned on), Caffe's for Keras'.
            "options": {"finetune_learning_rate": 5e-5, "vgg_flavour": "auto"},
        },
    },
    # Same shape of network at depth 4: seconds on a CPU at 64x64, for tests and demos. It keeps
    # the constructor defaults ("same" padding, no bias before BN): nothing is ported into it,
    # and runs trained with it stay comparable. Its masks are "freeform:scaled": the reference's
    # 12-39 px strokes would cover about 0.44 of a 64 px crop, scaled ones about 0.16.
    "tiny": {
        "generator": {
            "encoder_filters": [8, 16, 32, 32],
            "encoder_kernel_sizes": [7, 5, 5, 3],
            "decoder_filters": [32, 16, 8, 3],
        },
        "discriminators": {},
        "training": {
            "image_size": 64,
            "batch_size": 4,
            "steps": 1000,
            "masks": "freeform:scaled",
            # A network this small learns faster than the paper's rate allows in a demo.
            "learning_rate": 1e-3,
            "log_every": 50,
            "checkpoint_every": 250,
            "val_batch_size": 4,
            "options": {"finetune_learning_rate": 2.5e-4},
        },
    },
}

_DECODER_MASK_MODES = ("channelwise", "union")
# "valid" would shrink every level and break the skip concatenations.
_PADDINGS = ("same", "symmetric")


def _check_int_list(name, values, minimum=1):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"PConvUNet received {name}={values!r}; expected a list of ints.")
    values = list(values)
    if not values or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in values
    ):
        raise ValueError(
            f"PConvUNet received {name}={values!r}; expected a non-empty list of ints >= {minimum}."
        )
    return [int(v) for v in values]


@keras.saving.register_keras_serializable(package="tfinpaint")
class PConvUNet(InpaintingGenerator):
    """PConv U-Net inpainting generator.

    Liu et al., "Image Inpainting for Irregular Holes Using Partial Convolutions", ECCV 2018.
    Encoder: `depth` stride-2 `PartialConv2D` layers with ReLU, BatchNorm after all but the first.
    Decoder, one level per encoder layer, from coarse to fine: nearest-neighbour x2 upsampling of
    the features and of the hole mask, concatenation with the encoder features and hole mask of
    the same scale (at the last level: the masked input image and its mask), a 3x3 stride-1
    `PartialConv2D`, then BatchNorm and LeakyReLU(0.2) on all levels but the last. The last level
    is linear (no BN, no activation) and gives the raw image.

    Choices where the paper is silent (all config options):
    - Masks of concatenated features (`decoder_mask_mode`). Masks travel between levels as
      single-channel (B, h, w, 1) hole masks. At a decoder concatenation the two halves have
      different masks; with `"channelwise"` (default, the paper's C x H x W masks) each half's
      mask is broadcast to its channels and the decoder partial convolution runs in
      multi-channel mode, so the window is `3*3*(C_up + C_skip)` and holes of the skip
      features (which are exactly 0) are re-weighted like any other hole; its output mask is
      identical across channels, so one channel goes on. The layer gets the two halves' masks
      as `mask_groups=[C_up, C_skip]` (exactly `multi_channel=True` on the broadcast mask, with
      a 2-channel mask convolution in place of one over all channels). With `"union"` the
      concatenation is valid where either half is valid (hole = min of the two hole masks) and
      the convolution is single-channel: cheaper, but the zeros of the hole half count as valid.
    - Padding (`padding`). `"same"` is TensorFlow's: at stride 2 on even sizes it pads only the
      bottom/right, so the encoder samples a grid one pixel off NVIDIA's (PyTorch
      `padding=k // 2`) and PConv-Keras's. `"symmetric"` pads `(k - 1) // 2` on each side as
      they do (see `PartialConv2D`); the paper preset uses it. Output sizes are the same in both
      modes (the decoder's stride-1 convolutions are identical in both).
    - Convolution biases (`use_bias_with_batch_norm`). A bias followed by BatchNorm would be
      cancelled by the mean subtraction, but a partial convolution re-masks its holes to 0 after
      the bias, so the bias survives BN there; NVIDIA's layer keeps it, and so does the paper
      preset: 32,865,236 trainable parameters (32,848,849 conv kernel weights + 5,507 biases +
      10,880 BN gamma/beta), plus 10,880 non-trainable BN moving statistics. By default (and
      in the tiny preset) only the first encoder layer and the last decoder layer (the two
      without BN) have a bias, as in common PyTorch reimplementations: 32,859,796 trainable
      (67 biases) at the paper's sizes.
    - BatchNorm momentum 0.9 and epsilon 1e-5 (PyTorch's defaults, which the reference uses).
    - Ranges. Images enter in [0, 1] and are not re-mapped; the last layer is linear, so `raw`
      is unbounded (near [0, 1] once trained); clip it for display, not for losses.
    - Ground truth never leaks: the model multiplies `images` by `1 - masks` itself.

    Not in the paper (off unless `fill_head_filters` is given): a fill head. The U-Net's output
    has an error floor of its own (on smooth content its hole PSNR stays near 30-35 dB where a
    smooth classical fill reaches 40 and more), and a mean of per-image PSNRs is ruled by
    exactly those images. With `fill_head_filters`, the model also computes the multi-scale
    harmonic fill of the holes (`HarmonicFill`, no weights) and a small head of 3x3
    convolutions (ReLU, widths `fill_head_filters`, then a linear 3-channel one) reads the
    U-Net's image, the fill, the hole mask and their difference and gives a correction:
    `raw = fill + head(...)`. The head's last convolution starts at zero, so a new head starts
    as the harmonic fill and learns what the U-Net adds to it; the U-Net's weights keep their
    paths, so `--init_from` a checkpoint without the head loads them all.

    Not in the paper either (off unless `fill_input=True`): the fill as the network's input.
    The U-Net reads the harmonic fill with the hole mask as a fourth channel, everywhere known
    (its partial convolutions see no holes, so they act as plain convolutions), and its last
    level gives a correction: `raw = fill + unet(fill, mask)`. That last level starts at zero,
    so a new network starts as the harmonic fill. Its first layer takes 4 channels, so it trains
    from scratch (a checkpoint of the paper's network does not load).

    Height and width must be multiples of `size_multiple` (`2**depth`; 256 for the paper preset).
    Statically known sizes are checked when the model is called; with sizes unknown at trace
    time (a `tf.function` with `None` dimensions) nothing can be checked up front and a bad size
    fails inside the graph at the first skip concatenation.

    Args:
        encoder_filters: list of ints. Output channels of each encoder layer; its length is the
            depth.
        encoder_kernel_sizes: list of ints. Kernel size of each encoder layer (same length).
        decoder_filters: list of ints. Output channels of each decoder level, coarse to fine
            (same length); the last one is the 3 channels of the raw image.
        decoder_kernel_size: int. Kernel size of the decoder convolutions. Defaults to 3.
        use_batch_norm: bool. BatchNorm after encoder layers 2..depth and decoder levels
            1..depth-1. Defaults to `True`.
        use_bias_with_batch_norm: bool. Give a bias to convolutions followed by BatchNorm too.
            Defaults to `False` (`True` in the paper preset).
        padding: string. Padding of every partial convolution: `"same"` (TensorFlow's) or
            `"symmetric"` (NVIDIA's; needs an odd `decoder_kernel_size`). Defaults to `"same"`
            (`"symmetric"` in the paper preset).
        decoder_mask_mode: string. `"channelwise"` or `"union"` (see above). Defaults to
            `"channelwise"`.
        batch_norm_momentum: float. Momentum of the moving statistics. Defaults to 0.9.
        batch_norm_epsilon: float. Variance epsilon of BatchNorm. Defaults to 1e-5.
        fill_head_filters: list of ints or None. Widths of the fill head's hidden convolutions
            (see above; `[]` is one linear convolution). Defaults to `None`: no fill head, the
            paper's network.
        fill_input: bool. Give the U-Net the harmonic fill and the hole mask as its input and
            add its output to the fill (see above). Defaults to `False`: the paper's network.
            Not together with `fill_head_filters`.
        fill_iterations: int. Jacobi sweeps per level of the harmonic fill (its levels are the
            U-Net's depth). Defaults to 32.
        dtype: string or `keras.DTypePolicy`. Dtype policy of the layers (e.g.
            `"mixed_float16"`); outputs are float32 regardless. Defaults to `None` (global).
        **kwargs: other `keras.Model` arguments (`name`, `trainable`).

    Call inputs:
        dict with `"images"` (B, H, W, 3) float32 in [0, 1] and `"masks"` (B, H, W, 1) float32,
        1 = hole, 0 = known. H and W are any multiples of `size_multiple`.

    Returns:
        dict with `"raw"` (B, H, W, 3), the network's output, and `"inpainted"` (B, H, W, 3) =
        `raw * masks + images * (1 - masks)`: exactly the input at known pixels.

    Example:

    ```python
    model = PConvUNet(**PRESETS["tiny"]["generator"])
    images = np.random.uniform(size=(2, 64, 64, 3)).astype("float32")
    masks = np.zeros((2, 64, 64, 1), "float32")
    masks[:, 16:40, 20:44] = 1.0
    outputs = model({"images": images, "masks": masks})
    outputs["inpainted"].shape  # (2, 64, 64, 3)
    ```
    """

    def __init__(
        self,
        encoder_filters,
        encoder_kernel_sizes,
        decoder_filters,
        decoder_kernel_size=3,
        use_batch_norm=True,
        use_bias_with_batch_norm=False,
        decoder_mask_mode="channelwise",
        batch_norm_momentum=0.9,
        batch_norm_epsilon=1e-5,
        padding="same",
        fill_head_filters=None,
        fill_input=False,
        fill_iterations=32,
        dtype=None,
        **kwargs,
    ):
        encoder_filters = _check_int_list("encoder_filters", encoder_filters)
        if fill_head_filters is not None:
            fill_head_filters = (
                _check_int_list("fill_head_filters", fill_head_filters) if fill_head_filters else []
            )
        fill_iterations = _check_int_list("fill_iterations", [fill_iterations])[0]
        if not isinstance(fill_input, bool):
            raise ValueError(f"PConvUNet received fill_input={fill_input!r}; expected a bool.")
        if fill_input and fill_head_filters is not None:
            raise ValueError(
                "PConvUNet received both fill_input=True and fill_head_filters; expected one "
                "of the two ways to build on the harmonic fill."
            )
        encoder_kernel_sizes = _check_int_list("encoder_kernel_sizes", encoder_kernel_sizes)
        decoder_filters = _check_int_list("decoder_filters", decoder_filters)
        depth = len(encoder_filters)
        if len(encoder_kernel_sizes) != depth or len(decoder_filters) != depth:
            raise ValueError(
                f"PConvUNet received {depth} encoder_filters, {len(encoder_kernel_sizes)} "
                f"encoder_kernel_sizes and {len(decoder_filters)} decoder_filters; expected "
                "the same number of each (one per level)."
            )
        if decoder_filters[-1] != 3:
            raise ValueError(
                f"PConvUNet received decoder_filters ending in {decoder_filters[-1]}; expected "
                "the last level to have 3 filters (the RGB raw image)."
            )
        decoder_kernel_size = _check_int_list("decoder_kernel_size", [decoder_kernel_size])[0]
        if decoder_mask_mode not in _DECODER_MASK_MODES:
            raise ValueError(
                f"PConvUNet received decoder_mask_mode={decoder_mask_mode!r}; expected one of "
                f"{_DECODER_MASK_MODES}."
            )
        if padding not in _PADDINGS:
            raise ValueError(
                f"PConvUNet received padding={padding!r}; expected one of {_PADDINGS}."
            )
        if padding == "symmetric" and decoder_kernel_size % 2 == 0:
            # Stride 1 with (k - 1) // 2 on each side would lose a row and a column per level.
            raise ValueError(
                f"PConvUNet received decoder_kernel_size={decoder_kernel_size} with "
                "padding='symmetric'; expected an odd decoder_kernel_size (or padding='same')."
            )
        channelwise = decoder_mask_mode == "channelwise"

        def batch_norm(name):
            return BatchNormalization(
                momentum=batch_norm_momentum,
                epsilon=batch_norm_epsilon,
                name=name,
                dtype=dtype,
            )

        # === Layers ===
        self.encoder_convs = []
        self.encoder_batch_norms = []
        for index, (filters, kernel_size) in enumerate(zip(encoder_filters, encoder_kernel_sizes)):
            has_batch_norm = use_batch_norm and index > 0
            self.encoder_convs.append(
                PartialConv2D(
                    filters,
                    kernel_size,
                    strides=2,
                    padding=padding,
                    use_bias=use_bias_with_batch_norm or not has_batch_norm,
                    # Channel-wise mode masks every level's features where they are made
                    # (below); the first layer masks the image itself, as always.
                    inputs_masked=channelwise and index > 0,
                    name=f"encoder_pconv_{index + 1}",
                    dtype=dtype,
                )
            )
            if has_batch_norm:
                self.encoder_batch_norms.append(batch_norm(f"encoder_bn_{index + 1}"))
        self.decoder_upsamplings = []
        self.decoder_convs = []
        self.decoder_batch_norms = []
        # Channels of each decoder level's two concatenated halves: (upsampled, skip).
        below = [encoder_filters[-1], *decoder_filters[:-1]]
        # The last level's skip is the network's input: the masked image, or with
        # `fill_input` the harmonic fill and the hole mask.
        skip_channels = [*reversed(encoder_filters[:-1]), 4 if fill_input else 3]
        for index, filters in enumerate(decoder_filters):
            is_last = index == depth - 1
            has_batch_norm = use_batch_norm and not is_last
            self.decoder_upsamplings.append(
                keras.layers.UpSampling2D(
                    2, interpolation="nearest", name=f"decoder_upsample_{index + 1}", dtype=dtype
                )
            )
            self.decoder_convs.append(
                PartialConv2D(
                    filters,
                    decoder_kernel_size,
                    strides=1,
                    padding=padding,
                    use_bias=use_bias_with_batch_norm or not has_batch_norm,
                    # Zero: a new `fill_input` network leaves the harmonic fill as it is.
                    kernel_initializer="zeros" if fill_input and is_last else "glorot_uniform",
                    # Channel-wise masks: each half's mask spans its channels. As groups the
                    # mask count is a 2-channel convolution, not one over every channel.
                    mask_groups=[below[index], skip_channels[index]] if channelwise else None,
                    inputs_masked=channelwise,
                    name=f"decoder_pconv_{index + 1}",
                    dtype=dtype,
                )
            )
            if has_batch_norm:
                self.decoder_batch_norms.append(batch_norm(f"decoder_bn_{index + 1}"))
        self.harmonic_fill = None
        if fill_input or fill_head_filters is not None:
            self.harmonic_fill = HarmonicFill(depth, fill_iterations, name="harmonic_fill")
        self.fill_head_convs = []
        if fill_head_filters is not None:
            for index, filters in enumerate([*fill_head_filters, 3]):
                is_last = index == len(fill_head_filters)
                self.fill_head_convs.append(
                    keras.layers.Conv2D(
                        filters,
                        3,
                        padding="same",
                        activation=None if is_last else "relu",
                        # Zero: a new head leaves the harmonic fill as it is.
                        kernel_initializer="zeros" if is_last else "glorot_uniform",
                        name=f"fill_head_conv_{index + 1}",
                        dtype=dtype,
                    )
                )

        # === Functional Model ===
        inputs = InpaintingGenerator.make_inputs()
        images, hole_masks = inputs["images"], inputs["masks"]
        # Zero the holes here so that callers may pass the original image.
        masked_images = images * (1.0 - hole_masks)

        def mask_features(features, hole_mask):
            # What a partial convolution multiplies its input by (`inputs_masked`): done once
            # per level here, for the next encoder layer and the decoder's skip alike.
            valid_mask = ops.stop_gradient(1.0 - ops.cast(hole_mask, "float32"))
            return features * ops.cast(valid_mask, features.dtype)

        fill = None
        if self.harmonic_fill is not None:
            # float32: the fill is the output's base.
            fill = self.harmonic_fill([masked_images, hole_masks])
        if fill_input:
            # Every pixel of the fill is known, so the partial convolutions see no holes (they
            # reduce to plain convolutions); the hole mask travels as a fourth channel.
            features = ops.concatenate([fill, hole_masks], -1)
            hole_mask = ops.zeros_like(hole_masks)
            skips = [(features, hole_mask)]
        else:
            features, hole_mask = masked_images, hole_masks
            # The last decoder level's skip: the masked image, masked again as the layer would.
            skips = [
                (
                    mask_features(masked_images, hole_masks) if channelwise else masked_images,
                    hole_masks,
                )
            ]
        # Zeroing each level's holes is a product by 1 when there are none (`fill_input`).
        zero_holes = channelwise and not fill_input
        encoder_batch_norms = iter(self.encoder_batch_norms)
        for index, conv in enumerate(self.encoder_convs):
            features, hole_mask = conv([features, hole_mask])
            if use_batch_norm and index > 0:
                features = next(encoder_batch_norms)(features)
            features = keras.layers.ReLU(name=f"encoder_relu_{index + 1}", dtype=dtype)(features)
            if zero_holes:
                features = mask_features(features, hole_mask)
            skips.append((features, hole_mask))

        skips.pop()  # The deepest features start the decoder; they are no skip.
        decoder_batch_norms = iter(self.decoder_batch_norms)
        for index, (upsample, conv) in enumerate(zip(self.decoder_upsamplings, self.decoder_convs)):
            skip_features, skip_hole_mask = skips.pop()
            if zero_holes and index > 0:
                # Masked before upsampling: nearest upsampling commutes with the product.
                features = mask_features(features, hole_mask)
            features = upsample(features)
            hole_mask = upsample(hole_mask)
            if channelwise:
                # (B, h, w, 2): the upsampled half's hole mask, then the skip half's; the
                # layer's mask_groups spread them over the halves' channels.
                hole_mask = ops.concatenate([hole_mask, skip_hole_mask], axis=-1)
            else:
                hole_mask = ops.minimum(hole_mask, skip_hole_mask)
            features = keras.layers.Concatenate(
                axis=-1, name=f"decoder_concat_{index + 1}", dtype=dtype
            )([features, skip_features])
            features, hole_mask = conv([features, hole_mask])
            if index < depth - 1:
                if use_batch_norm:
                    features = next(decoder_batch_norms)(features)
                features = keras.layers.LeakyReLU(
                    negative_slope=0.2, name=f"decoder_leaky_relu_{index + 1}", dtype=dtype
                )(features)

        if fill_input:
            features = fill + ops.cast(features, "float32")
        elif fill_head_filters is not None:
            # float32 both: the head reads their difference, and the fill is the output's base.
            unet_image = ops.cast(features, "float32")
            features = keras.layers.Concatenate(axis=-1, name="fill_head_concat", dtype=dtype)(
                [unet_image, fill, hole_masks, unet_image - fill]
            )  # (B, H, W, 3 + 3 + 1 + 3)
            for conv in self.fill_head_convs:
                features = conv(features)
            features = fill + ops.cast(features, "float32")

        super().__init__(inputs, features, dtype=dtype, **kwargs)

        # === Config ===
        self.encoder_filters = encoder_filters
        self.encoder_kernel_sizes = encoder_kernel_sizes
        self.decoder_filters = decoder_filters
        self.decoder_kernel_size = decoder_kernel_size
        self.use_batch_norm = use_batch_norm
        self.use_bias_with_batch_norm = use_bias_with_batch_norm
        self.decoder_mask_mode = decoder_mask_mode
        self.batch_norm_momentum = batch_norm_momentum
        self.batch_norm_epsilon = batch_norm_epsilon
        self.padding = padding
        self.fill_head_filters = fill_head_filters
        self.fill_input = fill_input
        self.fill_iterations = fill_iterations

    @property
    def depth(self):
        """Number of encoder (and decoder) levels."""
        return len(self.encoder_filters)

    @classmethod
    def size_multiple_for(cls, config):
        """2**depth: each encoder level halves the resolution."""
        return 2 ** len(config["encoder_filters"])

    def set_encoder_batchnorm_frozen(self, frozen):
        """Freezes (or unfreezes) the encoder BatchNorm layers: stage 2 of the paper's training.

        Frozen layers run in inference mode (moving statistics, no updates) even when the model
        is called with `training=True`, and their gamma/beta leave `trainable_weights`.
        Recompile (or rebuild the train step) after changing it.

        Args:
            frozen: bool. `True` to freeze, `False` to train them again.
        """
        for layer in self.encoder_batch_norms:
            layer.trainable = not frozen

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder_filters": self.encoder_filters,
                "encoder_kernel_sizes": self.encoder_kernel_sizes,
                "decoder_filters": self.decoder_filters,
                "decoder_kernel_size": self.decoder_kernel_size,
                "use_batch_norm": self.use_batch_norm,
                "use_bias_with_batch_norm": self.use_bias_with_batch_norm,
                "decoder_mask_mode": self.decoder_mask_mode,
                "batch_norm_momentum": self.batch_norm_momentum,
                "batch_norm_epsilon": self.batch_norm_epsilon,
                "padding": self.padding,
                "fill_head_filters": self.fill_head_filters,
                "fill_input": self.fill_input,
                "fill_iterations": self.fill_iterations,
            }
        )
        return config
