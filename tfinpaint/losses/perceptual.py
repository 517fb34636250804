"""VGG feature losses: perceptual, style and hole-feature terms, and the VGG that computes them.

- VGG features: `VGGFeatures`, `vgg_preprocess`, `resolve_vgg_weights`, `vgg_weights_info`,
  `resolve_vgg_flavour` and the layer lists of each family (`VGG16_POOL_LAYERS`,
  `VGG19_CASCADE_LAYERS`, `VGG19_DEEPGIN_LAYERS`). Two input conventions ("flavours",
  `VGG_FLAVOURS`): Keras' Caffe weights and torchvision's (converted by
  `tfinpaint.losses.vgg_convert` / `tools/convert_vgg.py`).
- Perceptual and style: `perceptual_loss`, `gram_matrix`, `style_loss` (Johnson et al. 2016 /
  Gatys et al. 2016 as PConv's eq. 3-5 write them; DeepGIN's trainer uses them as its reference
  code does, which differs from its paper's eq. 4-5: see each function).
- `hole_feature_loss` (cascade generator's masked VGG feature loss).

Conventions: images (B, H, W, 3) in [0, 1]; features are computed and compared in float32 (Gram
matrices of float16 activations would overflow).
"""

import os

import keras
from keras import ops

from tfinpaint import precision
from tfinpaint.layers.resample import resize_bilinear_align_corners
from tfinpaint.losses._checks import (
    check_hole_mask,
    check_rank4,
    f32,
    paired_features,
    per_layer_weights,
)
from tfinpaint.losses.reconstruction import hole_normalised_mean, resize_hole_mask

# === VGG layer lists ===
# Keras' VGG Conv2D layers fuse the ReLU (`activation="relu"`), so the output of `blockK_convN` is
# the paper's reluK_N. A name with the `_preact` suffix (e.g. "block5_conv1_preact") taps the same
# convolution *before* its ReLU (kernel and bias applied, no activation).
PREACTIVATION_SUFFIX = "_preact"

# PConv (Liu et al. 2018, section 3.2): VGG16 pool1, pool2, pool3.
VGG16_POOL_LAYERS = ("block1_pool", "block2_pool", "block3_pool")
# Cascade generator (Shatokhin): VGG19 relu1_2, relu2_2, relu3_2, relu4_2, relu5_2.
VGG19_CASCADE_LAYERS = (
    "block1_conv2",
    "block2_conv2",
    "block3_conv2",
    "block4_conv2",
    "block5_conv2",
)
# DeepGIN (Li et al. 2020, reference code): VGG19 relu1_1, relu2_1, relu3_1, relu4_1 and conv5_1
# (pre-activation), with layer weights 1/32, 1/16, 1/8, 1/4, 1. The paper's eq. 4-5 name
# conv1_1 ... conv5_1 and weigh them equally; we follow the code (see `perceptual_loss`).
VGG19_DEEPGIN_LAYERS = (
    "block1_conv1",
    "block2_conv1",
    "block3_conv1",
    "block4_conv1",
    "block5_conv1" + PREACTIVATION_SUFFIX,
)
DEEPGIN_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
# DeepGIN computes its VGG features at 224 x 224 (the reference's
# `nn.UpsamplingBilinear2d(size=(224, 224))`: bilinear with aligned corners).
DEEPGIN_VGG_INPUT_SIZE = 224

# The per-channel means (B, G, R order, 0-255 scale) that Keras' VGG16/VGG19 ImageNet weights
# were trained with: `keras.applications.vgg16.preprocess_input(x, mode="caffe")`.
IMAGENET_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
# torchvision's ImageNet normalisation (R, G, B order, [0, 1] scale): `(x - mean) / std`.
IMAGENET_TORCH_RGB_MEAN = (0.485, 0.456, 0.406)
IMAGENET_TORCH_RGB_STD = (0.229, 0.224, 0.225)

# The input convention a set of VGG weights was trained with. "keras_caffe": Keras' ImageNet
# weights (converted from the original Caffe models), BGR on the 0-255 scale minus the mean pixel.
# "torchvision": torchvision's weights (NVIDIA's PConv loss, PConv-Keras, DeepGIN), RGB on [0, 1]
# normalised by the ImageNet mean and std. "auto" (`resolve_vgg_flavour`) takes the weights'.
VGG_FLAVOURS = ("keras_caffe", "torchvision")
VGG_FLAVOUR_AUTO = "auto"
# HDF5 root attributes that `tfinpaint.losses.vgg_convert` writes into a converted weights file;
# a file without them holds Keras-layout weights of the "keras_caffe" flavour.
VGG_FLAVOUR_ATTR = "tfinpaint_vgg_flavour"
VGG_ARCH_ATTR = "tfinpaint_vgg_arch"

_VGG_BUILDERS = {"vgg16": "VGG16", "vgg19": "VGG19"}


# === Hole feature loss ===
def hole_feature_loss(feats_a, feats_b, hole_mask, distance="mse", layer_weights=None):
    """Masked, hole-normalised feature loss of the cascade generator (Shatokhin).

    `sum_j w_j * ||M_j * (phi_j(X_rec) - phi_j(X))||^2 / (C_j * sum M_j)`, where `M_j` is the hole
    mask area-resized to the j-th feature map (a soft mask: each cell's hole fraction); 0 without
    a hole. That is, per layer the mean squared
    (or absolute, `distance="l1"`) feature difference over the hole, pooled over the batch.

    Args:
        feats_a: list of (B, h_j, w_j, C_j) tensors, e.g. `VGGFeatures` of the output. The
            spatial sizes must be static.
        feats_b: list of tensors of the same shapes, e.g. of the ground truth.
        hole_mask: (B, H, W, 1) tensor at image resolution, 1 = hole.
        distance: str. `"mse"` (the paper's squared norm) or `"l1"`.
        layer_weights: optional list of floats, one per feature map (default all 1).

    Returns:
        float32 scalar.
    """
    where = "hole_feature_loss"
    elementwise = {"mse": ops.square, "l1": ops.abs}.get(distance)
    if elementwise is None:
        raise ValueError(f"{where} got distance={distance!r}; expected 'mse' or 'l1'.")
    feats_a, feats_b = paired_features(feats_a, feats_b, where)
    weights = per_layer_weights(layer_weights, len(feats_a), where)
    check_hole_mask(hole_mask, where)
    total = ops.convert_to_tensor(0.0, "float32")
    for a, b, w in zip(feats_a, feats_b, weights):
        size = tuple(a.shape[1:3])
        if None in size:
            raise ValueError(
                f"{where} got a feature map of shape {tuple(a.shape)}; expected static spatial "
                "sizes to resize the hole mask to."
            )
        mask_j = resize_hole_mask(hole_mask, size)
        total = total + w * hole_normalised_mean(elementwise, b, a, mask_j, where)
    return total


# === VGG features ===
def resolve_vgg_weights(value):
    """Validates a `--vgg_weights` value: `"imagenet"`, a weights file path, or none.

    Args:
        value: `"imagenet"`, `None` or `"none"` (any case), or the path (str or path-like) of a
            weights file for a Keras VGG16/VGG19 without its top (the `.weights.h5` written by
            `save_weights`, or Keras' own `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`).

    Returns:
        `"imagenet"`, the path as a str, or `None` for "no weights" (trainers then drop the VGG
        loss terms; `VGGFeatures` uses a random initialisation, for tests only).

    Raises:
        ValueError: for a path that does not exist or is not an HDF5 file.
    """
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):  # A ValueError like the others: flag parsing catches those.
        raise ValueError(  # noqa: TRY004
            f"vgg_weights got {value!r}; expected 'imagenet', 'none' or a weights file path."
        )
    if value.lower() == "none":
        return None
    if value.lower() == "imagenet":
        return "imagenet"
    if not os.path.isfile(value):
        raise ValueError(
            f"vgg_weights got {value!r}, which is not an existing file; expected 'imagenet', "
            "'none' or the path of a VGG weights file (.h5)."
        )
    import h5py  # Imported here: Keras' own dependency, needed only for a weights path.

    try:
        is_hdf5 = h5py.is_hdf5(value)
    except OSError:  # Unreadable (permissions): say so in the same sentence as a bad format.
        is_hdf5 = False
    if not is_hdf5:
        raise ValueError(
            f"vgg_weights got {value!r}, which is not a readable HDF5 file; expected 'imagenet', "
            "'none' or the path of a VGG weights file (.h5)."
        )
    return value


def vgg_weights_info(weights):
    """The flavour and architecture recorded in a VGG weights source.

    Args:
        weights: a value returned by `resolve_vgg_weights`: `"imagenet"`, a path, or None.

    Returns:
        dict with `flavour` (`"keras_caffe"` for "imagenet" and for files without a record,
        `"torchvision"` for files written by `tfinpaint.losses.vgg_convert`, None for random
        weights) and `arch` (`"vgg16"`, `"vgg19"`, or None when not recorded).
    """
    if weights is None:
        return {"flavour": None, "arch": None}
    if weights == "imagenet":
        return {"flavour": "keras_caffe", "arch": None}
    import h5py  # Imported here: Keras' own dependency, needed only for a weights path.

    with h5py.File(weights, "r") as f:
        attrs = dict(f.attrs)
    info = {}
    for key, attr in (("flavour", VGG_FLAVOUR_ATTR), ("arch", VGG_ARCH_ATTR)):
        value = attrs.get(attr)
        info[key] = value.decode() if isinstance(value, bytes) else value
    if info["flavour"] is None:
        info["flavour"] = "keras_caffe"
    elif info["flavour"] not in VGG_FLAVOURS:
        raise ValueError(
            f"vgg_weights {weights!r} records the VGG flavour {info['flavour']!r}; expected one "
            f"of {', '.join(VGG_FLAVOURS)} (rewrite it with tools/convert_vgg.py)."
        )
    return info


def resolve_vgg_flavour(flavour, weights):
    """The input normalisation for `weights`: the `vgg_flavour` option checked against them.

    Args:
        flavour: str. `"auto"` (the flavour the weights record), `"keras_caffe"` or
            `"torchvision"`.
        weights: a value returned by `resolve_vgg_weights` (`"imagenet"`, a path or None).

    Returns:
        `"keras_caffe"` or `"torchvision"`. With `"auto"`: the weights' flavour, or
        `"keras_caffe"` for random weights (`weights=None`), which take either flavour.

    Raises:
        ValueError: for an unknown flavour, or one that contradicts the weights' (features of
            weights fed the other normalisation are meaningless).
    """
    if flavour not in (VGG_FLAVOUR_AUTO, *VGG_FLAVOURS):
        raise ValueError(
            f"vgg_flavour got {flavour!r}; expected one of {VGG_FLAVOUR_AUTO}, "
            f"{', '.join(VGG_FLAVOURS)}."
        )
    recorded = vgg_weights_info(weights)["flavour"]
    if flavour == VGG_FLAVOUR_AUTO:
        return recorded or "keras_caffe"
    if recorded is not None and flavour != recorded:
        raise ValueError(
            f"vgg_flavour={flavour!r} contradicts the VGG weights {weights!r}, which are "
            f"{recorded} weights; expected 'auto' or {recorded!r}."
        )
    return flavour


def vgg_preprocess(images, flavour="keras_caffe"):
    """Maps [0, 1] RGB images to the input that VGG weights of `flavour` expect.

    - `"keras_caffe"` (Keras' ImageNet weights, converted from the original Caffe models):
      `x = 255 * images`, channels reversed RGB -> BGR, then the ImageNet mean pixel
      (B, G, R) = (103.939, 116.779, 123.68) subtracted; no division by a standard deviation.
      This is `keras.applications.vgg16.preprocess_input(255 * images)`.
    - `"torchvision"` (torchvision's weights, used by the papers' PyTorch code):
      `(images - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)` on RGB, i.e. torchvision's
      `transforms.Normalize` with the ImageNet mean and std.

    Args:
        images: (..., 3) tensor of RGB values in [0, 1].
        flavour: str. `"keras_caffe"` or `"torchvision"` (`VGG_FLAVOURS`).

    Returns:
        float32 tensor of the same shape.
    """
    images = f32(images)
    if flavour == "torchvision":
        mean = ops.convert_to_tensor(IMAGENET_TORCH_RGB_MEAN, "float32")
        std = ops.convert_to_tensor(IMAGENET_TORCH_RGB_STD, "float32")
        return (images - mean) / std
    if flavour != "keras_caffe":
        raise ValueError(
            f"vgg_preprocess got flavour={flavour!r}; expected one of {', '.join(VGG_FLAVOURS)}."
        )
    bgr = ops.flip(images * 255.0, axis=-1)
    return bgr - ops.convert_to_tensor(IMAGENET_CAFFE_BGR_MEAN, "float32")


@keras.saving.register_keras_serializable(package="tfinpaint")
class VGGFeatures(keras.Model):
    """Frozen VGG16/VGG19 feature extractor for perceptual, style and feature losses.

    Wraps `keras.applications.VGG16/VGG19(include_top=False)` and returns the outputs of the named
    layers, in the order given. Inputs are [0, 1] RGB images; the model optionally resizes them
    (bilinear without antialiasing, half-pixel centres or aligned corners), then applies
    `vgg_preprocess` of its
    flavour: Keras' "caffe" ImageNet normalisation (RGB -> BGR, mean pixel subtracted on the 0-255
    scale) for Keras' weights, torchvision's `(x - mean) / std` on [0, 1] RGB for weights
    converted from torchvision (`tools/convert_vgg.py`). The VGG runs only as deep as the deepest
    requested layer. All variables are float32 and frozen, and the
    features are computed in float32 whatever the global dtype policy (mixed precision).

    Layer names are Keras' (`block3_pool`, `block4_conv2`, ...); Keras' VGG convolutions include
    their ReLU, so `blockK_convN` is the paper's reluK_N. Append `"_preact"` to a convolution's
    name (e.g. `"block5_conv1_preact"`, DeepGIN's conv5_1) for its output before the ReLU: the
    layer's own kernel and bias without the activation.

    Feature scale of the two flavours. The same weights fed Caffe's input (0-255, mean-subtracted)
    instead of torchvision's ((x - mean) / std, std ~0.226) see inputs ~255 * 0.226 = 58 times
    larger, and a VGG with ReLUs carries that scale through. Measured with the same random
    torchvision-initialised weights (He normal, zero biases) on uniform random 4 x 128 x 128 x 3
    images, keras_caffe / torchvision: mean |feature| x55.5 to x57.1 (VGG16 pool1-3: 55.8, 56.5,
    55.5; VGG19 DeepGIN layers: 56.7, 56.8, 57.1, 56.6, 56.8), perceptual L1 x55 to x58, Gram
    entries x3080 to x3260 and style L1 x2760 to x3280: the style term scales with the square.
    So PConv's 0.05 / 120 (tuned on torchvision features) weigh Caffe-preprocessed features of
    the same network ~56x / ~3000x more. Pretrained Keras (Caffe) and torchvision weights are
    different networks, which absorb part of the input scale; their ratio was not measured here
    (no pretrained weights offline).

    Args:
        arch: str. `"vgg16"` or `"vgg19"`.
        layers: sequence of str. Layer names to return (see the `VGG*_LAYERS` constants).
        weights: `"imagenet"` (downloaded by Keras), the path of a weights file for the VGG
            without its top (loaded with `load_weights`: a `.weights.h5` from `save_weights` of
            `VGGFeatures.backbone`, or Keras' `*_notop.h5`), or `None` / `"none"` for a random
            initialisation (tests only).
        input_size: optional int or (height, width). Resize inputs to this size first (DeepGIN
            uses 224); `None` keeps the input size.
        align_corners: bool. Resize with aligned corners (PyTorch's `align_corners=True`, as
            DeepGIN's reference code does) instead of half-pixel centres. Defaults to False.
        flavour: str. The input normalisation: `"auto"` (default: the one the weights record,
            see `resolve_vgg_flavour`; `"keras_caffe"` for "imagenet", for Keras' files and for
            random weights), `"keras_caffe"` or `"torchvision"`. A flavour that contradicts the
            weights' is refused.

    Call:
        images: (B, H, W, 3) tensor in [0, 1], any float dtype.
        Returns a list of float32 feature maps (B, h_j, w_j, C_j), one per entry of `layers`.

    Example:
        >>> vgg = VGGFeatures("vgg16", VGG16_POOL_LAYERS, weights=None)
        >>> [tuple(f.shape) for f in vgg(np.zeros((1, 32, 32, 3), "float32"))]
        [(1, 16, 16, 64), (1, 8, 8, 128), (1, 4, 4, 256)]
    """

    def __init__(
        self,
        arch="vgg16",
        layers=VGG16_POOL_LAYERS,
        weights="imagenet",
        input_size=None,
        flavour=VGG_FLAVOUR_AUTO,
        align_corners=False,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        kwargs.setdefault("name", f"{arch}_features" if isinstance(arch, str) else None)
        super().__init__(**kwargs)
        if arch not in _VGG_BUILDERS:
            raise ValueError(f"VGGFeatures got arch={arch!r}; expected 'vgg16' or 'vgg19'.")
        if isinstance(layers, str) or not layers:
            raise ValueError(
                f"VGGFeatures got layers={layers!r}; expected a non-empty sequence of layer names."
            )
        if input_size is not None:
            size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
            if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
                raise ValueError(
                    f"VGGFeatures got input_size={input_size!r}; expected None, a positive int "
                    "or a (height, width) pair of positive ints."
                )
            input_size = size
        self.arch = arch
        self.layer_names = tuple(layers)
        self.weights_source = resolve_vgg_weights(weights)
        self.flavour = resolve_vgg_flavour(flavour, self.weights_source)
        recorded_arch = vgg_weights_info(self.weights_source)["arch"]
        if recorded_arch is not None and recorded_arch != arch:
            raise ValueError(
                f"VGGFeatures got arch={arch!r} and the weights {self.weights_source!r}, which "
                f"hold a {recorded_arch}; expected weights of a {arch}."
            )
        self.input_size = input_size
        self.align_corners = bool(align_corners)

        # === Layers ===
        self.backbone = self._build_backbone(arch, self.weights_source)
        self.backbone.trainable = False
        convs = self.backbone.layers[1:]  # [0] is the InputLayer.
        names = [layer.name for layer in convs]
        depth = 0
        for wanted in self.layer_names:
            base = wanted
            if wanted.endswith(PREACTIVATION_SUFFIX):
                base = wanted[: -len(PREACTIVATION_SUFFIX)]
                if base in names and not isinstance(
                    self.backbone.get_layer(base), keras.layers.Conv2D
                ):
                    base = None
            if base not in names:
                raise ValueError(
                    f"VGGFeatures got layer {wanted!r}, which {arch} does not have; expected one "
                    f"of {', '.join(names)} (or a convolution's name + {PREACTIVATION_SUFFIX!r})."
                )
            depth = max(depth, names.index(base) + 1)
        self._chain = convs[:depth]
        self.trainable = False

    @staticmethod
    def _build_backbone(arch, weights):
        # Keras' VGG builders take no dtype: build under a float32 global policy so that the
        # variables and activations stay float32 under mixed precision, then restore it.
        builder = getattr(keras.applications, _VGG_BUILDERS[arch])
        with precision.dtype_policy("float32"):
            if weights == "imagenet":
                return builder(include_top=False, weights="imagenet", name=arch)
            backbone = builder(include_top=False, weights=None, name=arch)
        if weights is not None:
            backbone.load_weights(weights)
        return backbone

    def call(self, images):
        x = f32(images)
        if self.input_size is not None and self.align_corners:
            x = resize_bilinear_align_corners(x, self.input_size)
        elif self.input_size is not None:
            x = ops.image.resize(x, self.input_size, interpolation="bilinear")
        x = vgg_preprocess(x, self.flavour)
        taps = {}
        wanted = set(self.layer_names)
        for layer in self._chain:
            preact_name = layer.name + PREACTIVATION_SUFFIX
            if preact_name in wanted:
                # Same computation as Conv2D.call, with the activation split off.
                pre = layer.convolution_op(x, layer.kernel)
                if layer.use_bias:
                    pre = pre + ops.reshape(layer.bias, (1, 1, 1, -1))
                taps[preact_name] = pre
                x = layer.activation(pre)
            else:
                x = layer(x)
            taps[layer.name] = x
        return [taps[name] for name in self.layer_names]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "arch": self.arch,
                "layers": list(self.layer_names),
                "weights": self.weights_source,
                "input_size": self.input_size,
                "flavour": self.flavour,
                "align_corners": self.align_corners,
            }
        )
        return config


# === Perceptual and style ===
def perceptual_loss(feats_a, feats_b, layer_weights=None):
    """Perceptual loss: `sum_j w_j * mean(|phi_j(a) - phi_j(b)|)`.

    PConv (Liu et al. 2018, eq. 3): L1 between feature maps, each normalised by its element count
    (B * h_j * w_j * C_j).

    DeepGIN's trainer follows the authors' reference code, not the paper's eq. 4. Eq. 4 sums
    these per-layer means with equal weights over conv1_1 ... conv5_1 at the input size; the code
    (and we) weigh the layers 1/32, 1/16, 1/8, 1/4, 1 (`DEEPGIN_LAYER_WEIGHTS`), take relu1_1 ...
    relu4_1 after their ReLU and conv5_1 before it (`VGG19_DEEPGIN_LAYERS`), and compute the
    features at 224 x 224 (`DEEPGIN_VGG_INPUT_SIZE`). As in eq. 4 the term is summed over I_out
    (`raw`) and I_compltd (`inpainted`) against I_gt.

    Args:
        feats_a: list of (B, h_j, w_j, C_j) tensors (or one tensor).
        feats_b: list of tensors of the same shapes.
        layer_weights: optional list of floats, one per feature map (default all 1).

    Returns:
        float32 scalar.
    """
    feats_a, feats_b = paired_features(feats_a, feats_b, "perceptual_loss")
    weights = per_layer_weights(layer_weights, len(feats_a), "perceptual_loss")
    total = ops.convert_to_tensor(0.0, "float32")
    for a, b, w in zip(feats_a, feats_b, weights):
        total = total + w * ops.mean(ops.abs(f32(a) - f32(b)))
    return total


def gram_matrix(features):
    """Gram matrix `K * F^T F` with `K = 1 / (C H W)`, computed in float32.

    PConv (Liu et al. 2018, eq. 4-5) and DeepGIN: for features of shape (B, H, W, C) reshaped to
    F of shape (B, H*W, C), `G[b] = F[b]^T F[b] / (C * H * W)`. The input is cast to float32
    before the product: under float16 the sums of H*W products overflow (max ~65504).

    Args:
        features: (B, H, W, C) tensor.

    Returns:
        float32 tensor of shape (B, C, C).
    """
    check_rank4(features, "features", "gram_matrix")
    features = f32(features)
    shape = ops.shape(features)
    batch, height, width, channels = shape[0], shape[1], shape[2], features.shape[-1]
    flat = ops.reshape(features, (batch, -1, channels))  # (B, H*W, C)
    gram = ops.matmul(ops.transpose(flat, (0, 2, 1)), flat)  # (B, C, H*W) @ (B, H*W, C)
    return gram / ops.cast(height * width * channels, "float32")


def style_loss(feats_a, feats_b, distance="l1", layer_weights=None):
    """Style loss: `sum_j w_j * mean(dist(G(phi_j(a)), G(phi_j(b))))` with `G = gram_matrix`.

    PConv (Liu et al. 2018, eq. 4-5): L1 between Gram matrices, normalised by the element count of
    the Gram matrices (B * C_j * C_j).

    DeepGIN's trainer follows the authors' reference code, not the paper's eq. 5. Eq. 5 is this
    L1 form (`distance="l1"`, Gram matrices normalised by 1 / (C H W), the L1 norm by 1 / C^2)
    with equal layer weights; the code (and we) take the mean *squared* difference of the Gram
    matrices (`distance="mse"`) and weigh the layers 1/32, 1/16, 1/8, 1/4, 1
    (`DEEPGIN_LAYER_WEIGHTS`), on the layers and 224 x 224 input of `perceptual_loss`. As in
    eq. 5 the term is summed over I_out and I_compltd.

    Args:
        feats_a: list of (B, h_j, w_j, C_j) tensors (or one tensor).
        feats_b: list of tensors of the same shapes.
        distance: str. `"l1"` or `"mse"`.
        layer_weights: optional list of floats, one per feature map (default all 1).

    Returns:
        float32 scalar.
    """
    elementwise = {"l1": ops.abs, "mse": ops.square}.get(distance)
    if elementwise is None:
        raise ValueError(f"style_loss got distance={distance!r}; expected 'l1' or 'mse'.")
    feats_a, feats_b = paired_features(feats_a, feats_b, "style_loss")
    weights = per_layer_weights(layer_weights, len(feats_a), "style_loss")
    total = ops.convert_to_tensor(0.0, "float32")
    for a, b, w in zip(feats_a, feats_b, weights):
        total = total + w * ops.mean(elementwise(gram_matrix(a) - gram_matrix(b)))
    return total
