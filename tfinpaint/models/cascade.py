"""The cascade generator and its discriminators (SPEC.md section 3).

Shatokhin, "Cascaded neural networks for image inpainting" (seed 000): a lightweight,
ICNet-like generator (paper: 0.344 M parameters, 1.3 MB in float32) that extracts features
independently on a 3-level image pyramid, deepest and widest at the lowest resolution, and
merges them from the lowest resolution to the highest; a residual discriminator with spectral
normalization for the first training stage and a 2-level pyramid ("cascade") discriminator for
the second. The paper publishes no code: this module is the reference implementation, and
every choice the paper leaves open is written in the class docstrings and is a config option.
"""

import keras
from keras import ops

from tfinpaint.layers.blocks import FuseBlock, SeparableResidualBlock, SNResidualBlock
from tfinpaint.layers.dilation import CDBlock
from tfinpaint.layers.resample import NearestDownsample2D, NearestUpsample2D
from tfinpaint.models.base import InpaintingGenerator, fill_size_multiple, harmonic_fill_layer

# One table per preset (STYLE.md rule 12): the generator's constructor arguments (per-level
# tuples are indexed by pyramid level: level 0 is the full-resolution image, level 1 the
# half-size one, level 2 the quarter-size one), the discriminators' (`stage_1`: the basic
# `CascadeDiscriminator`; `stage_2`: each branch of the `CascadePyramidDiscriminator`, trained
# from scratch in stage 2) and the training defaults (`TrainConfig` fields and the trainer's
# `options`, see tfinpaint.training.cascade).
PRESETS = {
    "paper": {
        # 339,555 parameters, 1.36 MB (1.30 MiB) in float32, against the paper's 0.344 M and
        # "1.3 MB": the widths double from level to level and the quarter-size branch holds
        # most of the depth. About 1.94 GFLOPs per 256 x 256 image.
        "generator": {
            "level_widths": (24, 48, 96),
            "extractor_depths": (1, 3, 6),
            "fusion_depths": (1, 2),
            "num_cd_blocks": 1,
        },
        # 5 downsampling residual blocks: 256 px -> 8 x 8 before pooling; 0.92 M parameters per
        # branch (the paper gives no widths; a discriminator a few times the generator's size).
        "discriminators": {
            "stage_1": {"widths": (32, 64, 128, 128, 128)},
            "stage_2": {"widths": (32, 64, 128, 128, 128), "downsampling": "nearest"},
        },
        "training": {
            "image_size": 256,
            "batch_size": 16,
            "steps": 200_000,
            "masks": "rect:0.2-1",
            "learning_rate": 1e-4,
            "d_learning_rate": 1e-4,
            "log_every": 200,
            "checkpoint_every": 2000,
            "val_batch_size": 8,
            "options": {
                "generator_batches": 10,
                "discriminator_batches": 5,
                "stage2_masks": "rect:0.5-1",
                "d_loss_scale": 0.5,
                "discriminator_preset": "paper",
            },
        },
    },
    # 8,763 parameters: well under a second per 64 px batch on a CPU, for tests and demos.
    "tiny": {
        "generator": {
            "level_widths": (8, 8, 16),
            "extractor_depths": (1, 1, 1),
            "fusion_depths": (1, 1),
            "num_cd_blocks": 1,
        },
        # 4 halvings, as the paper preset's 5 at 256 px: 64 px -> 4 x 4 before pooling.
        "discriminators": {
            "stage_1": {"widths": (8, 16, 16, 16)},
            "stage_2": {"widths": (8, 16, 16, 16), "downsampling": "nearest"},
        },
        "training": {
            "image_size": 64,
            "batch_size": 4,
            "steps": 60,
            "masks": "rect:0.2-1",
            "learning_rate": 1e-3,
            "d_learning_rate": 1e-4,
            "log_every": 10,
            "checkpoint_every": 30,
            "val_batch_size": 4,
            "options": {
                "generator_batches": 10,
                "discriminator_batches": 5,
                "stage2_masks": "rect:0.5-1",
                "d_loss_scale": 0.5,
                "discriminator_preset": "tiny",
            },
        },
    },
}


def _check_levels(name, values, num_levels, minimum):
    if len(values) != num_levels or any(int(value) < minimum for value in values):
        raise ValueError(
            f"Received {name}={tuple(values)}; expected {num_levels} integers >= {minimum}, "
            "one per pyramid level."
        )


@keras.saving.register_keras_serializable(package="tfinpaint")
class CascadeGenerator(InpaintingGenerator):
    """Cascade (image-pyramid) inpainting generator.

    Reference: Shatokhin, "Cascaded neural networks for image inpainting", section 3.1, Fig. 2
    (ICNet-style cascade, Zhao et al. 2018). With L = `len(level_widths)` pyramid levels
    (3 in the paper):

    1. The model zeroes the hole pixels itself: X' = (2X - 1) * (1 - M) (holes become 0 in
       [-1, 1], i.e. mid-grey) and stacks the mask: [X', M] (4 channels).
    2. Pyramid: level l is [X', M] downsampled by 2^l with nearest neighbours (l = 0..L-1;
       `NearestDownsample2D` keeps pixel 2^l / 2 of each 2^l x 2^l cell, the one
       half-pixel-centre nearest resizing picks).
    3. Extraction, independently per level: a 3x3 stride-2 convolution (the level's one
       downsampling; a stride-2 "same" convolution equals the stride-1 one followed by that
       nearest-neighbour x1/2 downsampling, so it is the paper's "nearest-neighbor scaling"
       without computing the discarded positions) to `level_widths[l]` channels, then
       `extractor_depths[l]` `SeparableResidualBlock`s; at every level but the highest,
       `num_cd_blocks` `CDBlock`s. Level l features therefore live at 1 / 2^(l+1) of the
       input resolution.
    4. Fusion from the lowest resolution to the highest: at each level l from L-2 down to 0,
       `FuseBlock(level_widths[l])` merges the running features into level l's features,
       followed by `fusion_depths[l]` `SeparableResidualBlock`s and, except at level 0 (too
       costly at high resolution), `num_cd_blocks` `CDBlock`s.
    5. Output: nearest x2 upsampling to the input resolution, a 3x3 convolution to 3
       channels with a sigmoid (our choice: images stay in [0, 1] with a gradient
       everywhere, unlike clipping), and the blend
       `inpainted = raw * M + X * (1 - M)`, exactly the input at known pixels.

    Fully convolutional: the same weights run at 256 and 1024 px. Height and width must be
    divisible by 2^L (the "pyramid multiple", 8 for the paper), so every level and every
    fusion lines up; a wrong size raises ValueError when the size is known (eager calls and
    static shapes). Activations are LeakyReLU(0.2) and there is no normalization (see the
    blocks' docstrings); `fuse_normalization` exists for the paper's ablation.

    Args:
        level_widths: tuple of ints, one per level (level 0 = full resolution). Channels of
            each level's features; levels that hold CD blocks need multiples of
            `len(dilation_rates)`. The paper's design: widest at the lowest resolution.
        extractor_depths: tuple of ints, one per level. Residual blocks per extractor;
            deepest at the lowest resolution.
        fusion_depths: tuple of ints, one per level but the lowest. Residual blocks after
            each fusion (index = the level fused into).
        num_cd_blocks: int. CD blocks after each extraction and fusion at levels >= 1.
        dilation_rates: tuple of ints. The CD blocks' dilation rates.
        activation: str. Keras activation of every block. Defaults to "leaky_relu".
        fuse_normalization: None, "batch" or "instance". Normalization in the fuse blocks
            (None in the paper's final model).
        full_resolution_blocks: int. Our addition, not the paper's (0, the default, is the
            paper's design, whose finest features are at half resolution): > 0 adds a
            full-resolution head after the final upsample. The output convolution's logits and
            the network input (masked image and mask) are concatenated, a 3x3 convolution maps
            them to `level_widths[0]` channels, this many `SeparableResidualBlock`s follow, and
            a 3x3 convolution to 3 channels, **initialised at zero**, is added to the logits
            before the sigmoid. A head added to trained weights therefore starts from exactly
            their output (`tools/train.py --init_from` a checkpoint without it), and the head
            sees the known pixels next to a hole at their own resolution.
        fill_input: bool. Not in the paper (off by default): build the network on the
            multi-scale harmonic fill (`HarmonicFill`, no weights), as `PConvUNet(fill_input=
            True)` does. Step 1 reads the fill instead of the zeroed image, [2F - 1, M] (every
            pixel known; M still marks the holes), the output convolution has no sigmoid and
            starts at zero, and `raw = F + output` (+ the full-resolution head's correction).
            A new network is therefore exactly the fill, and training learns what to add to it.
            It trains from scratch: the output layer's meaning changes, so a checkpoint
            without it is no start point.
        fill_levels: int. Levels of the harmonic fill (`fill_input` only); the size multiple
            becomes `2 ** max(len(level_widths), fill_levels)`. Defaults to 6 (64 px).
        fill_iterations: int. Jacobi sweeps per level of the harmonic fill (`fill_input`
            only). Defaults to 32.
        **kwargs: `keras.Model` keyword arguments (`name`, `trainable`, ...).

    Call inputs: dict with `images` (B, H, W, 3) in [0, 1] and `masks` (B, H, W, 1), 1 = hole,
    H and W divisible by `size_multiple` (2^levels).
    Returns: dict with `raw` (B, H, W, 3) in [0, 1] and `inpainted` (B, H, W, 3).

    Example:
    >>> generator = CascadeGenerator(**PRESETS["tiny"]["generator"])
    >>> images = np.random.rand(2, 64, 64, 3).astype("float32")
    >>> masks = np.zeros((2, 64, 64, 1), "float32")
    >>> masks[:, 16:48, 16:48] = 1.0
    >>> generator({"images": images, "masks": masks})["inpainted"].shape
    TensorShape([2, 64, 64, 3])
    """

    def __init__(
        self,
        level_widths=(24, 48, 96),
        extractor_depths=(1, 3, 6),
        fusion_depths=(1, 2),
        num_cd_blocks=1,
        dilation_rates=(1, 2, 4, 8),
        activation="leaky_relu",
        fuse_normalization=None,
        full_resolution_blocks=0,
        fill_input=False,
        fill_levels=6,
        fill_iterations=32,
        **kwargs,
    ):
        level_widths = tuple(int(width) for width in level_widths)
        extractor_depths = tuple(int(depth) for depth in extractor_depths)
        fusion_depths = tuple(int(depth) for depth in fusion_depths)
        dilation_rates = tuple(int(rate) for rate in dilation_rates)
        num_levels = len(level_widths)
        if num_levels < 2:
            raise ValueError(
                f"Received level_widths={level_widths}; expected at least 2 pyramid levels "
                "(the paper uses 3)."
            )
        _check_levels("level_widths", level_widths, num_levels, 1)
        _check_levels("extractor_depths", extractor_depths, num_levels, 0)
        _check_levels("fusion_depths", fusion_depths, num_levels - 1, 0)
        if int(num_cd_blocks) < 0:
            raise ValueError(f"Received num_cd_blocks={num_cd_blocks}; expected an int >= 0.")
        if type(full_resolution_blocks) is not int or full_resolution_blocks < 0:  # Not bool.
            raise ValueError(
                f"Received full_resolution_blocks={full_resolution_blocks!r}; expected an int >= 0."
            )

        harmonic_fill = harmonic_fill_layer(
            "CascadeGenerator", fill_input, fill_levels, fill_iterations
        )

        # === Layers ===
        downsamplers = [
            NearestDownsample2D(2**level, name=f"pyramid_{level}") for level in range(num_levels)
        ]

        def residual_blocks(width, depth, prefix):
            return [
                SeparableResidualBlock(width, activation=activation, name=f"{prefix}_{index}")
                for index in range(depth)
            ]

        def cd_blocks(prefix):
            return [
                CDBlock(dilation_rates, activation=activation, name=f"{prefix}_{index}")
                for index in range(num_cd_blocks)
            ]

        stems, extractors, fuses, refiners = [], [], [], []
        for level, (width, depth) in enumerate(zip(level_widths, extractor_depths, strict=True)):
            stems.append(
                keras.layers.Conv2D(
                    width,
                    3,
                    strides=2,
                    padding="same",
                    activation=activation,
                    name=f"level_{level}_stem",
                )
            )
            blocks = residual_blocks(width, depth, f"level_{level}_extract")
            if level > 0:
                blocks += cd_blocks(f"level_{level}_extract_cd")
            extractors.append(blocks)
        for level in range(num_levels - 1):
            fuses.append(
                FuseBlock(
                    level_widths[level],
                    activation=activation,
                    normalization=fuse_normalization,
                    name=f"level_{level}_fuse",
                )
            )
            blocks = residual_blocks(
                level_widths[level], fusion_depths[level], f"level_{level}_refine"
            )
            if level > 0:
                blocks += cd_blocks(f"level_{level}_refine_cd")
            refiners.append(blocks)
        output_upsample = NearestUpsample2D(2, name="output_upsample")
        output_conv = keras.layers.Conv2D(
            3,
            3,
            padding="same",
            # With a full-resolution head the sigmoid comes after the head's correction; on the
            # fill the output is a correction of the fill, zero at the start, with no sigmoid.
            activation=None if full_resolution_blocks or fill_input else "sigmoid",
            kernel_initializer="zeros" if fill_input else "glorot_uniform",
            name="output_conv",
        )
        head = []
        if full_resolution_blocks:
            head.append(
                keras.layers.Conv2D(
                    level_widths[0],
                    3,
                    padding="same",
                    activation=activation,
                    name="full_resolution_stem",
                )
            )
            head += residual_blocks(level_widths[0], full_resolution_blocks, "full_resolution")
            head.append(
                keras.layers.Conv2D(
                    3,
                    3,
                    padding="same",
                    kernel_initializer="zeros",
                    name="full_resolution_output",
                )
            )

        # === Functional Model ===
        inputs = InpaintingGenerator.make_inputs()
        images, masks = inputs["images"], inputs["masks"]
        valid = 1.0 - masks
        if harmonic_fill is None:
            # Holes are zeroed here, so the ground truth never reaches the network.
            network_input = ops.concatenate([(images * 2.0 - 1.0) * valid, masks], axis=-1)
        else:
            # The fill reads no hole pixel either; float32, as the base of the output.
            fill = harmonic_fill([images, masks])
            network_input = ops.concatenate([fill * 2.0 - 1.0, masks], axis=-1)

        features = []
        for level in range(num_levels):
            x = stems[level](downsamplers[level](network_input))  # (B, H/2^(l+1), ..., C_l)
            for block in extractors[level]:
                x = block(x)
            features.append(x)

        x = features[-1]
        for level in reversed(range(num_levels - 1)):
            x = fuses[level]([x, features[level]])
            for block in refiners[level]:
                x = block(x)
        raw = output_conv(output_upsample(x))  # (B, H/2, W/2, C_0) -> (B, H, W, 3)
        if head:
            y = ops.concatenate([raw, ops.cast(network_input, raw.dtype)], axis=-1)
            for layer in head:
                y = layer(y)
            raw = raw + y  # The head's last layer starts at zero: y = 0.
            if harmonic_fill is None:
                raw = ops.sigmoid(raw)
        if harmonic_fill is not None:
            raw = fill + ops.cast(raw, "float32")
        super().__init__(inputs, raw, **kwargs)

        # === Config ===
        self.level_widths = level_widths
        self.extractor_depths = extractor_depths
        self.fusion_depths = fusion_depths
        self.num_cd_blocks = int(num_cd_blocks)
        self.dilation_rates = dilation_rates
        self.activation = activation
        self.fuse_normalization = fuse_normalization
        self.full_resolution_blocks = full_resolution_blocks
        self.fill_input = fill_input
        self.fill_levels = fill_levels
        self.fill_iterations = fill_iterations

    @classmethod
    def size_multiple_for(cls, config):
        """2^(pyramid levels): the lowest level is 2^levels smaller than the input; on the
        fill (`fill_input`), 2^fill_levels when that is larger."""
        return fill_size_multiple(config, 2 ** len(config["level_widths"]))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "level_widths": self.level_widths,
                "extractor_depths": self.extractor_depths,
                "fusion_depths": self.fusion_depths,
                "num_cd_blocks": self.num_cd_blocks,
                "dilation_rates": self.dilation_rates,
                "activation": self.activation,
                "fuse_normalization": self.fuse_normalization,
                "full_resolution_blocks": self.full_resolution_blocks,
                "fill_input": self.fill_input,
                "fill_levels": self.fill_levels,
                "fill_iterations": self.fill_iterations,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="tfinpaint")
class CascadeDiscriminator(keras.Model):
    """Residual discriminator with spectral normalization (the paper's basic, stage-1 one).

    Reference: Shatokhin, "Cascaded neural networks for image inpainting", section 3.4, Fig.
    5a: residual convolutional blocks, spectral normalization (Miyato et al. 2018), no
    field-of-view or upsampling blocks. Our layout (the paper gives none), SN-GAN's ResNet
    discriminator (Miyato et al. 2018, appendix B): the image is mapped to [-1, 1], then one
    `SNResidualBlock` per entry of `widths`, each halving the resolution (the first without
    pre-activation), the activation, a global **sum** over positions (any input size works)
    and a spectrally normalised dense layer to one logit.

    The output is a **logit**: the paper's probability is `sigmoid(logit)`, applied inside the
    binary cross-entropy loss. Every convolution and the dense layer are wrapped in
    `keras.layers.SpectralNormalization`, which normalises only when called with
    `training=True`: the trainer's `train_step` must call the discriminator that way.

    Why a sum (issue 14): spectral normalization makes every layer at most about 1-Lipschitz,
    and the dense layer's (C, 1) kernel becomes a unit vector (its spectral norm is its L2
    norm), so two images' logits differ by at most the distance between their pooled
    features. A global *mean* divides whatever a hole changes by the number of positions of the
    last feature map (16 at 128 px, 64 at 256 px with the paper widths): trained alone on
    textures against blurred fills, a mean-pooled discriminator ranked every real image above
    its own blurred copy yet its logit gap stopped at about 0.3 (probabilities 0.07 apart). The
    sum lifts that bound by the number of positions, as in SN-GAN and BigGAN.
    `pooling="mean"` is the layout before issue 14.

    Args:
        widths: tuple of ints. Channels of the residual blocks, one block (and one halving)
            each. Paper preset (32, 64, 128, 128, 128): 0.92 M parameters.
        activation: str. Keras activation. Defaults to "leaky_relu" (slope 0.2).
        pooling: str. "sum" (default) or "mean": how the last feature map becomes the dense
            layer's input (see above). Neither has weights, so checkpoints load under both.
        **kwargs: `keras.Model` keyword arguments (`name`, `trainable`, ...).

    Call inputs: images (B, H, W, 3) in [0, 1], H and W >= 2^len(widths).
    Returns: logits (B, 1).

    Example:
    >>> discriminator = CascadeDiscriminator(widths=(8, 16))
    >>> discriminator(np.zeros((2, 64, 64, 3), "float32"), training=True).shape
    TensorShape([2, 1])
    """

    def __init__(
        self, widths=(32, 64, 128, 128, 128), activation="leaky_relu", pooling="sum", **kwargs
    ):
        widths = tuple(int(width) for width in widths)
        if not widths or min(widths) < 1:
            raise ValueError(
                f"Received widths={widths}; expected a non-empty tuple of positive integers."
            )
        if pooling not in ("mean", "sum"):
            raise ValueError(f"Received pooling={pooling!r}; expected 'mean' or 'sum'.")

        # === Layers ===
        blocks = [
            SNResidualBlock(
                width, preactivation=index > 0, activation=activation, name=f"block_{index}"
            )
            for index, width in enumerate(widths)
        ]
        activation_fn = keras.activations.get(activation)
        logits_layer = keras.layers.SpectralNormalization(
            keras.layers.Dense(1, name="dense"), name="logits"
        )

        # === Functional Model ===
        images = keras.Input(shape=(None, None, 3), name="images")
        x = images * 2.0 - 1.0
        for block in blocks:
            x = block(x)
        pool = ops.mean if pooling == "mean" else ops.sum
        x = pool(activation_fn(x), axis=(1, 2))  # (B, h, w, C) -> (B, C)
        logits = logits_layer(x)
        super().__init__(inputs=images, outputs=logits, **kwargs)

        # === Config ===
        self.widths = widths
        self.activation = activation
        self.pooling = pooling

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "widths": self.widths,
            "activation": self.activation,
            "pooling": self.pooling,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfinpaint")
class CascadePyramidDiscriminator(keras.Model):
    """The paper's stage-2 "cascade discriminator": one branch per image-pyramid level.

    Reference: Shatokhin, "Cascaded neural networks for image inpainting", section 3.4, Fig.
    5b (after pix2pixHD's multi-scale discriminator, Wang et al. 2018). Level l sees the image
    downsampled by 2^l (the paper's 2 levels: the full image and the half-size one) and goes
    through its own `CascadeDiscriminator` branch (own weights, named `branch_{l}`); the output
    is the mean of the branches' logits (the paper averages the branches' predictions; averaging
    logits keeps the loss in logit space). The downsampling is nearest-neighbour by default, as
    the paper changes resolutions everywhere ("nearest-neighbor scaling", section 3.1);
    `downsampling="average"` (a 2^l box filter, pix2pixHD's choice) is the option.

    Args:
        widths: tuple of ints. Residual block widths of every branch (see
            `CascadeDiscriminator`).
        activation: str. Keras activation. Defaults to "leaky_relu" (slope 0.2).
        num_levels: int. Pyramid levels / branches. Defaults to 2 (the paper).
        downsampling: str. "nearest" (the paper; `NearestDownsample2D`) or "average"
            (`AveragePooling2D`). Neither has weights, so checkpoints load under both.
        pooling: str. Each branch's global pooling, "sum" (default) or "mean" (see
            `CascadeDiscriminator`).
        **kwargs: `keras.Model` keyword arguments (`name`, `trainable`, ...).

    Call inputs: images (B, H, W, 3) in [0, 1], H and W >= 2^(len(widths) + num_levels - 1).
    Returns: logits (B, 1), the mean over branches.

    Example:
    >>> discriminator = CascadePyramidDiscriminator(widths=(8, 16))
    >>> discriminator(np.zeros((2, 64, 64, 3), "float32"), training=True).shape
    TensorShape([2, 1])
    """

    def __init__(
        self,
        widths=(32, 64, 128, 128, 128),
        activation="leaky_relu",
        num_levels=2,
        downsampling="nearest",
        pooling="sum",
        **kwargs,
    ):
        widths = tuple(int(width) for width in widths)
        num_levels = int(num_levels)
        if num_levels < 1:
            raise ValueError(f"Received num_levels={num_levels}; expected an int >= 1.")
        if downsampling not in ("nearest", "average"):
            raise ValueError(
                f"Received downsampling={downsampling!r}; expected 'nearest' or 'average'."
            )

        # === Layers ===
        pool_cls = (
            NearestDownsample2D if downsampling == "nearest" else keras.layers.AveragePooling2D
        )
        poolers = [pool_cls(2**level, name=f"pyramid_{level}") for level in range(1, num_levels)]
        branches = [
            CascadeDiscriminator(
                widths, activation=activation, pooling=pooling, name=f"branch_{level}"
            )
            for level in range(num_levels)
        ]

        # === Functional Model ===
        images = keras.Input(shape=(None, None, 3), name="images")
        pyramid = [images] + [pool(images) for pool in poolers]
        branch_logits = [branch(level) for branch, level in zip(branches, pyramid, strict=True)]
        logits = ops.mean(ops.stack(branch_logits, axis=0), axis=0)  # L x (B, 1) -> (B, 1)
        super().__init__(inputs=images, outputs=logits, **kwargs)

        # === Config ===
        self.widths = widths
        self.activation = activation
        self.num_levels = num_levels
        self.downsampling = downsampling
        self.pooling = pooling
        self.branches = branches

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "widths": self.widths,
            "activation": self.activation,
            "num_levels": self.num_levels,
            "downsampling": self.downsampling,
            "pooling": self.pooling,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
