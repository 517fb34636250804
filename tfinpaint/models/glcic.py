"""GLCIC: the completion network and the global + local context discriminator.

Iizuka, Simo-Serra and Ishikawa, "Globally and Locally Consistent Image Completion", ACM TOG 36(4)
(SIGGRAPH 2017), sections 3.1-3.2 and table 1 (SPEC.md section 2), with the 64 px variant of seed
001 (Kovacs, Dulacska and Peocz, BME 2020: 20-25 px holes, 28x28 local crops, global average
pooling heads as an option). The three-phase training schedule lives in `tfinpaint.training`;
this module only defines the networks, their presets and their builders.

Facts taken from the authors' release (`satoshiiizuka/siggraph2017_inpainting`, `inpaint.lua`):
the network input is the image minus the training-set mean pixel with the hole pixels set to zero
(that is, mean-filled, then centred), concatenated with the 1 = hole mask; the output is a sigmoid
image in [0, 1] composited over the known pixels; image sides are multiples of 4.
"""

import keras
from keras import ops

from tfinpaint.layers.crop import LocalCrop, crop_local, local_crop_boxes
from tfinpaint.layers.normalization import BatchNormalization
from tfinpaint.models.base import InpaintingGenerator, fill_size_multiple, harmonic_fill_layer

__all__ = [
    "DEFAULT_MEAN_PIXEL",
    "PRESETS",
    "GLCICCompletionNetwork",
    "GLCICDiscriminator",
    "GLCICInputFill",
    "crop_local",
    "local_crop_boxes",
]

# ImageNet's RGB mean in [0, 1], the usual stand-in for natural-photo data such as Places2. The
# trainer replaces it with the mean of its own data and stores it in the generator's config.
DEFAULT_MEAN_PIXEL = (0.485, 0.456, 0.406)

# Torch's BatchNorm defaults (the release is a Torch7 model): running-average momentum 0.1 in
# Torch's convention is 0.9 in Keras's, epsilon 1e-5.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="tfinpaint")
class GLCICInputFill(keras.layers.Layer):
    """Builds GLCIC's 4-channel input: mean-filled, mean-centred image plus the hole mask.

    Iizuka et al. 2017, section 3.1 and the authors' `inpaint.lua`: hole pixels take the mean
    pixel of the training data and the network sees the image minus that mean, so holes are
    exactly 0 and the ground truth under the holes never reaches the network.

    Args:
        mean_pixel: sequence of 3 floats in [0, 1]. Mean RGB pixel of the training images.
        **kwargs: standard layer arguments.

    Call arguments:
        inputs: list `[images, hole_masks]`: images (B, H, W, 3) in [0, 1], hole masks
            (B, H, W, 1), 1 = hole.

    Returns:
        (B, H, W, 4): `(images - mean_pixel) * (1 - hole_masks)` then the hole mask.

    Example:
    >>> fill = GLCICInputFill(mean_pixel=(0.5, 0.5, 0.5))
    >>> fill([np.ones((1, 8, 8, 3), "float32"), np.ones((1, 8, 8, 1), "float32")]).shape
    TensorShape([1, 8, 8, 4])
    """

    def __init__(self, mean_pixel=DEFAULT_MEAN_PIXEL, **kwargs):
        super().__init__(**kwargs)
        self.mean_pixel = _check_mean_pixel(mean_pixel)

    def call(self, inputs):
        images, hole_masks = inputs
        mean = ops.convert_to_tensor(self.mean_pixel, dtype=images.dtype)
        hole_masks = ops.cast(hole_masks, images.dtype)
        # (x - mean) * (1 - m): the mean in the holes, centred, i.e. exactly 0 there.
        centred = (images - mean) * (1.0 - hole_masks)
        return ops.concatenate([centred, hole_masks], axis=-1)

    def compute_output_shape(self, input_shape):
        images_shape = input_shape[0]
        return tuple(images_shape[:-1]) + (4,)

    def get_config(self):
        config = super().get_config()
        config.update({"mean_pixel": list(self.mean_pixel)})
        return config


@keras.saving.register_keras_serializable(package="tfinpaint")
class GLCICCompletionNetwork(InpaintingGenerator):
    """GLCIC completion network: a dilated fully convolutional encoder-decoder.

    Iizuka et al., "Globally and Locally Consistent Image Completion", SIGGRAPH 2017, table 1.
    Layers as (kernel, dilation, stride, filters) with `w = base_filters` (64 in the paper):
    conv(5,1,1,w); conv(3,1,2,2w); conv(3,1,1,2w); conv(3,1,2,4w); conv(3,1,1,4w) x2;
    conv(3,d,1,4w) for d in `dilation_rates` (2, 4, 8, 16); conv(3,1,1,4w) x2;
    deconv(4, stride 1/2, 2w); conv(3,1,1,2w); deconv(4, stride 1/2, w); conv(3,1,1,w/2);
    conv(3,1,1,3) + sigmoid. BatchNorm + ReLU follow every layer but the output. "Same" padding
    everywhere; the deconvolutions are `Conv2DTranspose(kernel 4, stride 2)`, exactly doubling
    the size. Convolutions keep their biases, as in the Torch release.

    The input is built inside (`GLCICInputFill`): hole pixels get `mean_pixel`, the image is
    centred on `mean_pixel` (the release's preprocessing: holes are exactly 0), and the hole mask
    is appended (4 channels). The paper preset has 6,078,083 parameters (6,072,131 trainable,
    plus 5,952 BatchNorm moving statistics), the paper's ~6.07 M.

    Args:
        base_filters: int, even. Width `w` of the first layer; the others are multiples of it.
        dilation_rates: sequence of ints. Dilations of the middle dilated convolutions.
        mean_pixel: sequence of 3 floats in [0, 1]. Mean RGB pixel used to fill holes and centre
            the input; the trainer computes it from the training data and saves it in the
            config (unless the preset sets one). Default: ImageNet's mean
            `(0.485, 0.456, 0.406)`. `(0, 0, 0)` fills the holes with black and leaves the
            image uncentred (seed 001's input, its preset's value).
        fill_input: bool. Not in the paper (off by default): build the network on the
            multi-scale harmonic fill `F` (`HarmonicFill`, no weights), as
            `PConvUNet(fill_input=True)` does. The input is `[F - mean_pixel, M]` (every pixel
            known; M still marks the holes), the output convolution has no sigmoid and starts at
            zero, and `raw = F + output`: a new network is exactly the fill. It trains from
            scratch (the output layer's meaning changes).
        fill_levels: int. Levels of the harmonic fill (`fill_input` only); the size multiple
            becomes `max(4, 2 ** fill_levels)`. Defaults to 6 (64 px).
        fill_iterations: int. Jacobi sweeps per level of the harmonic fill (`fill_input`
            only). Defaults to 32.
        **kwargs: `keras.Model` arguments (`name`, `trainable`, ...).

    Call arguments:
        inputs: dict with `images` (B, H, W, 3) float in [0, 1] and `masks` (B, H, W, 1), 1 =
            hole. H and W are free (the model is fully convolutional) but must be multiples of 4.
        training: bool. BatchNorm mode.

    Returns:
        dict with `raw` (B, H, W, 3) the network output in [0, 1], and `inpainted`
        (B, H, W, 3) `= raw * masks + images * (1 - masks)` exactly (float32).

    Example:
    >>> model = tfinpaint.models.build_generator("glcic", "tiny")
    >>> out = model({"images": np.random.rand(2, 64, 64, 3), "masks": np.zeros((2, 64, 64, 1))})
    >>> out["inpainted"].shape
    TensorShape([2, 64, 64, 3])
    """

    def __init__(
        self,
        base_filters=64,
        dilation_rates=(2, 4, 8, 16),
        mean_pixel=DEFAULT_MEAN_PIXEL,
        fill_input=False,
        fill_levels=6,
        fill_iterations=32,
        **kwargs,
    ):
        harmonic_fill = harmonic_fill_layer(
            "GLCICCompletionNetwork", fill_input, fill_levels, fill_iterations
        )
        if not isinstance(base_filters, int) or base_filters < 2 or base_filters % 2:
            raise ValueError(
                f"Received base_filters={base_filters!r}, expected an even int >= 2 (the last "
                "hidden layer has base_filters / 2 channels)."
            )
        dilation_rates = [int(rate) for rate in dilation_rates]
        if any(rate < 1 for rate in dilation_rates):
            raise ValueError(f"Received dilation_rates={dilation_rates}, expected positive ints.")
        mean_pixel = _check_mean_pixel(mean_pixel)
        w = base_filters

        # === Layers ===
        # (kernel, dilation, stride, filters, name) of every hidden layer, in order.
        specs = [
            (5, 1, 1, w, "conv1"),
            (3, 1, 2, 2 * w, "conv2_down"),
            (3, 1, 1, 2 * w, "conv3"),
            (3, 1, 2, 4 * w, "conv4_down"),
            (3, 1, 1, 4 * w, "conv5"),
            (3, 1, 1, 4 * w, "conv6"),
        ]
        specs += [
            (3, rate, 1, 4 * w, f"dilated_conv{i + 1}_d{rate}")
            for i, rate in enumerate(dilation_rates)
        ]
        specs += [
            (3, 1, 1, 4 * w, "conv7"),
            (3, 1, 1, 4 * w, "conv8"),
            (4, 1, 2, 2 * w, "deconv1_up"),
            (3, 1, 1, 2 * w, "conv9"),
            (4, 1, 2, w, "deconv2_up"),
            (3, 1, 1, w // 2, "conv10"),
        ]
        input_fill = GLCICInputFill(mean_pixel=mean_pixel, name="input_fill")
        hidden = []
        for kernel, dilation, stride, filters, layer_name in specs:
            if layer_name.startswith("deconv"):
                conv = keras.layers.Conv2DTranspose(
                    filters, kernel, strides=stride, padding="same", name=layer_name
                )
            else:
                conv = keras.layers.Conv2D(
                    filters,
                    kernel,
                    strides=stride,
                    dilation_rate=dilation,
                    padding="same",
                    name=layer_name,
                )
            norm = BatchNormalization(
                momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=f"{layer_name}_bn"
            )
            act = keras.layers.ReLU(name=f"{layer_name}_relu")
            hidden.append((conv, norm, act))
        # On the fill: a correction of the fill, zero at the start (a new network is the fill).
        output_conv = keras.layers.Conv2D(
            3,
            3,
            padding="same",
            kernel_initializer="zeros" if fill_input else "glorot_uniform",
            name="output_conv",
        )
        # float32 so the image stays exact in [0, 1] under a mixed-precision policy.
        output_act = keras.layers.Activation("sigmoid", dtype="float32", name="raw")

        # === Functional Model ===
        inputs = InpaintingGenerator.make_inputs()
        images, masks = inputs["images"], inputs["masks"]
        if harmonic_fill is None:
            x = input_fill([images, masks])
        else:
            # The fill reads no hole pixel; every pixel of it is known, so none is zeroed.
            fill = harmonic_fill([images, masks])
            x = ops.concatenate([fill - ops.convert_to_tensor(mean_pixel), masks], axis=-1)
        for conv, norm, act in hidden:
            x = act(norm(conv(x)))
        if harmonic_fill is None:
            raw = output_act(output_conv(x))
        else:
            raw = fill + ops.cast(output_conv(x), "float32")
        super().__init__(inputs, raw, **kwargs)

        # === Config ===
        self.base_filters = base_filters
        self.dilation_rates = dilation_rates
        self.mean_pixel = mean_pixel
        self.fill_input = fill_input
        self.fill_levels = fill_levels
        self.fill_iterations = fill_iterations

    @classmethod
    def size_multiple_for(cls, config):
        """4: two stride-2 convolutions (on the fill, 2 ** fill_levels when larger)."""
        return fill_size_multiple(config, 4)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "base_filters": self.base_filters,
                "dilation_rates": list(self.dilation_rates),
                "mean_pixel": list(self.mean_pixel),
                "fill_input": self.fill_input,
                "fill_levels": self.fill_levels,
                "fill_iterations": self.fill_iterations,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="tfinpaint")
class GLCICDiscriminator(keras.Model):
    """GLCIC context discriminator: a global and a local branch fused into one real/fake logit.

    Iizuka et al., SIGGRAPH 2017, section 3.2 and table 2. Global branch on the whole image:
    5x5 stride-2 convolutions with `global_filters` (64, 128, 256, 512, 512, 512 at 256 px),
    BatchNorm + ReLU each, then the head. Local branch on a `local_size` crop centred on the hole
    (`LocalCrop`: clipped to the image, containing the whole hole whenever it fits, centred and
    truncated otherwise): 5x5 stride-2 convolutions with `local_filters` (64, 128, 256, 512, 512
    at 128 px), BatchNorm + ReLU, then the head. Head (`head`): "flatten" (the paper: flatten,
    dense `dense_units`) or "gap" (seed 001's option: global average pooling, dense
    `dense_units`); the dense layer is followed by `dense_activation` (ReLU, as common
    reimplementations do; the paper's table names no activation there). The two vectors are
    concatenated and a dense layer gives one logit. No spectral norm.

    The model returns the logit and the sigmoid of it: the paper's discriminator output is the
    probability, but the trainer should use binary cross-entropy from the logits, which is the
    same loss computed stably.

    Flatten heads fix the input size, so the model is built for `image_size` x `image_size`
    images; a different size fails with Keras's input-compatibility ValueError. At 256 px with
    the paper's widths the feature maps end at 4x4 in both branches. Presets: "paper" (256 px
    images, 128 px crops; 45,070,593 parameters, 45,063,681 trainable); "seed001" (64 px images,
    28 px crops): seed 001 changes the data size but not the discriminator, and reports "more than
    34 million trainable parameters" for its whole network, which only the paper's layer counts
    and widths reach (6.07 M generator + 29.34 M discriminator = 35.4 M; stopping each branch at
    4x4 maps would give about 24 M). The maps then end at 1x1 (64 px through six stride-2
    layers, 28 px through five), so the last convolutions act as dense layers over 2x2 maps and
    "flatten" and "gap" heads coincide in size. "tiny" (64 px images, 32 px crops, narrow,
    maps ending at 4x4).

    Args:
        image_size: int. Side of the square input images.
        local_size: int. Side of the square local crop; at most `image_size`.
        global_filters: sequence of ints. Widths of the global branch's stride-2 convolutions.
        local_filters: sequence of ints. Widths of the local branch's stride-2 convolutions.
        kernel_size: int. Kernel side of every convolution (5 in the paper).
        dense_units: int. Width of each branch's output vector (1024 in the paper).
        dense_activation: str. Activation after each branch's dense layer ("relu", or "linear").
        head: str. "flatten" or "gap".
        **kwargs: `keras.Model` arguments (`name`, `trainable`, ...).

    Call arguments:
        inputs: dict with `images` (B, image_size, image_size, 3) in [0, 1] (real or completed)
            and `boxes` (B, 4) int32, each sample's hole bounding box `[y0, x0, y1, x1]`
            end-exclusive (the data pipeline's `boxes`); the crop box is computed inside.
        training: bool. BatchNorm mode.

    Returns:
        dict with `logits` (B, 1) float32 and `probs` (B, 1) float32 = sigmoid(logits).

    Example:
    >>> disc = build_glcic_discriminator("tiny")
    >>> out = disc({"images": np.random.rand(2, 64, 64, 3), "boxes": [[8, 8, 30, 30]] * 2})
    >>> out["logits"].shape
    TensorShape([2, 1])
    """

    def __init__(
        self,
        image_size=256,
        local_size=128,
        global_filters=(64, 128, 256, 512, 512, 512),
        local_filters=(64, 128, 256, 512, 512),
        kernel_size=5,
        dense_units=1024,
        dense_activation="relu",
        head="flatten",
        **kwargs,
    ):
        if head not in ("flatten", "gap"):
            raise ValueError(f"Received head={head!r}, expected 'flatten' or 'gap'.")
        sizes_are_ints = isinstance(image_size, int) and isinstance(local_size, int)
        if not sizes_are_ints or not 1 <= local_size <= image_size:
            raise ValueError(
                f"Received local_size={local_size!r} with image_size={image_size!r}, expected "
                "ints with 1 <= local_size <= image_size."
            )
        global_filters = [int(f) for f in global_filters]
        local_filters = [int(f) for f in local_filters]
        if not global_filters or not local_filters:
            raise ValueError(
                f"Received global_filters={global_filters} and local_filters={local_filters}, "
                "expected at least one convolution in each branch."
            )

        # === Layers ===
        def branch_layers(prefix, filters_list):
            layers = []
            for i, filters in enumerate(filters_list):
                layers += [
                    keras.layers.Conv2D(
                        filters,
                        kernel_size,
                        strides=2,
                        padding="same",
                        name=f"{prefix}_conv{i + 1}",
                    ),
                    BatchNormalization(
                        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=f"{prefix}_conv{i + 1}_bn"
                    ),
                    keras.layers.ReLU(name=f"{prefix}_conv{i + 1}_relu"),
                ]
            if head == "flatten":
                layers.append(keras.layers.Flatten(name=f"{prefix}_flatten"))
            else:
                layers.append(keras.layers.GlobalAveragePooling2D(name=f"{prefix}_gap"))
            layers += [
                keras.layers.Dense(dense_units, name=f"{prefix}_dense"),
                keras.layers.Activation(dense_activation, name=f"{prefix}_dense_act"),
            ]
            return layers

        local_crop = LocalCrop(local_size, name="local_crop")
        global_layers = branch_layers("global", global_filters)
        local_layers = branch_layers("local", local_filters)
        concat = keras.layers.Concatenate(name="concat")
        # float32 logits: the BCE in the trainer stays stable under mixed precision.
        logit_dense = keras.layers.Dense(1, dtype="float32", name="logits")
        prob_act = keras.layers.Activation("sigmoid", dtype="float32", name="probs")

        # === Functional Model ===
        images = keras.Input(shape=(image_size, image_size, 3), name="images")
        hole_boxes = keras.Input(shape=(4,), dtype="int32", name="boxes")
        g = images
        for layer in global_layers:
            g = layer(g)
        crops = local_crop([images, hole_boxes])
        lo = crops
        for layer in local_layers:
            lo = layer(lo)
        logits = logit_dense(concat([g, lo]))
        probs = prob_act(logits)
        super().__init__(
            inputs={"images": images, "boxes": hole_boxes},
            outputs={"logits": logits, "probs": probs},
            **kwargs,
        )

        # === Config ===
        self.image_size = image_size
        self.local_size = local_size
        self.global_filters = global_filters
        self.local_filters = local_filters
        self.kernel_size = kernel_size
        self.dense_units = dense_units
        self.dense_activation = dense_activation
        self.head = head

    def get_config(self):
        return {
            "image_size": self.image_size,
            "local_size": self.local_size,
            "global_filters": list(self.global_filters),
            "local_filters": list(self.local_filters),
            "kernel_size": self.kernel_size,
            "dense_units": self.dense_units,
            "dense_activation": self.dense_activation,
            "head": self.head,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# Constructor kwargs of `GLCICCompletionNetwork`. The generator is fully convolutional, so
# seed 001's 64 px experiment uses the paper's network unchanged.
# One table per preset (STYLE.md rule 12): the completion network's constructor arguments, the
# discriminator's (`GLCICDiscriminator`, see its docstring for the seed001 layer counts; its
# `local_size` is scaled with the training image size by the trainer) and the training defaults
# (`TrainConfig` fields and the trainer's `options`, see tfinpaint.training.glcic).
PRESETS = {
    "paper": {
        "generator": {"base_filters": 64, "dilation_rates": [2, 4, 8, 16]},
        "discriminators": {
            "global_local": {
                "image_size": 256,
                "local_size": 128,
                "global_filters": [64, 128, 256, 512, 512, 512],
                "local_filters": [64, 128, 256, 512, 512],
                "dense_units": 1024,
                "head": "flatten",
            }
        },
        "training": {
            "image_size": 256,
            "batch_size": 96,
            "steps": 500_000,
            "masks": "rect:96-128",
            "resize_short_side": [256, 384],
            "learning_rate": 1.0,
            "d_learning_rate": 1.0,
            # With --options='{"optimizer": "adam"}' (1.0 is Adadelta's rate, and would blow
            # Adam's weights up within a hundred steps).
            "optimizer_rates": {"adam": {"learning_rate": 2e-4, "d_learning_rate": 2e-4}},
            "phase_fractions": [0.18, 0.02, 0.8],
            "log_every": 500,
            "checkpoint_every": 5000,
            "val_batch_size": 8,
            "options": {
                "optimizer": "adadelta",
                "mse_region": "hole",
                # GLCIC-PyTorch's normalisation and its alpha-scaled phase-3 D loss.
                "mse_normalisation": "all_elements",
                "mse_weight": 1.0,
                "adv_weight": 0.0004,
                "d_loss_alpha_scale": True,
                "discriminator_preset": "paper",
                "mean_pixel_images": 256,
            },
        },
    },
    # Seed 001: 64 px images, (20-25)-pixel holes, 28 px local crops, whole-image MSE, the
    # best phase split 0.2/0.5/0.3 and MSE:ADV = 10:1. Its base batch size is not stated
    # (256 was a variant it tried): 64 is our choice. Seed 001 feeds "a picture with a black
    # patch": mean_pixel (0, 0, 0) fills the holes with black and leaves the image uncentred
    # (the trainer does not measure a mean pixel when the preset sets one).
    "seed001": {
        "generator": {
            "base_filters": 64,
            "dilation_rates": [2, 4, 8, 16],
            "mean_pixel": [0.0, 0.0, 0.0],
        },
        "discriminators": {
            "global_local": {
                "image_size": 64,
                "local_size": 28,
                "global_filters": [64, 128, 256, 512, 512, 512],
                "local_filters": [64, 128, 256, 512, 512],
                "dense_units": 1024,
                "head": "flatten",
            }
        },
        "training": {
            "image_size": 64,
            "batch_size": 64,
            "steps": 50_000,
            "masks": "rect:20-25",
            "learning_rate": 1.0,
            "d_learning_rate": 1.0,
            "optimizer_rates": {"adam": {"learning_rate": 2e-4, "d_learning_rate": 2e-4}},
            "phase_fractions": [0.2, 0.5, 0.3],
            "log_every": 200,
            "checkpoint_every": 2000,
            "val_batch_size": 8,
            "options": {
                "optimizer": "adadelta",
                "mse_region": "image",
                "mse_normalisation": "all_elements",
                "mse_weight": 10.0,
                "adv_weight": 1.0,
                "d_loss_alpha_scale": False,
                "discriminator_preset": "seed001",
                "mean_pixel_images": 256,
            },
        },
    },
    "tiny": {
        "generator": {"base_filters": 8, "dilation_rates": [2, 4]},
        "discriminators": {
            "global_local": {
                "image_size": 64,
                "local_size": 32,
                "global_filters": [8, 16, 32, 32],
                "local_filters": [8, 16, 32],
                "dense_units": 64,
                "head": "flatten",
            }
        },
        "training": {
            "image_size": 64,
            "batch_size": 4,
            "steps": 90,
            "masks": "rect:16-28",
            "learning_rate": 1e-3,
            "d_learning_rate": 1e-4,
            "phase_fractions": [0.4, 0.2, 0.4],
            "log_every": 10,
            "checkpoint_every": 30,
            "val_batch_size": 4,
            "options": {
                "optimizer": "adam",
                "mse_region": "hole",
                "mse_normalisation": "all_elements",
                "mse_weight": 1.0,
                "adv_weight": 0.01,
                "d_loss_alpha_scale": False,
                "discriminator_preset": "tiny",
                "mean_pixel_images": 32,
            },
        },
    },
}


def _check_mean_pixel(mean_pixel):
    values = [float(v) for v in mean_pixel]
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise ValueError(
            f"Received mean_pixel={list(mean_pixel)!r}, expected 3 floats in [0, 1] (an RGB "
            "mean of images in [0, 1])."
        )
    return values
