"""Loss terms of the five inpainting families (SPEC.md sections 1 to 5).

Plain functions that return float32 scalar tensors, plus the frozen VGG feature extractor
(`VGGFeatures`). Trainers combine the terms into each family's total (PConv's `PConvLoss` lives
in `tfinpaint.training.pconv`, the others in their trainers) and log each one by name. Every
name is importable from here (`from tfinpaint import losses; losses.hole_l1(...)`); the modules
say what they own:

- `reconstruction`: `hole_l1` / `valid_l1` (PConv, Liu et al. ECCV 2018, eq. 1-2; also
  DeepGIN's L1), `weighted_l1`, `hole_normalised_l1` / `hole_normalised_mse` (cascade
  generator), `hole_psnr_loss` (ours: minus the mean per-image hole PSNR), `masked_mse` and
  `glcic_completion_mse` (GLCIC, Iizuka et al. 2017, eq. 1),
  `resize_hole_mask`, `dilate_hole_mask`, and total variation: `tv_loss_dilated_hole` (PConv
  eq. 7), `tv_loss_squared` (DeepGIN's reference code).
- `perceptual`: the VGG (`VGGFeatures`, `vgg_preprocess`, `resolve_vgg_weights`,
  `vgg_weights_info`, `resolve_vgg_flavour`, the layer lists and flavour constants),
  `perceptual_loss`, `gram_matrix`, `style_loss` and `hole_feature_loss` (cascade generator).
- `adversarial`: `hinge_d_loss`, `hinge_g_loss` (SN-GAN / DeepGIN / GAIN), `bce_d_loss`,
  `bce_g_loss` (GLCIC, cascade generator).
- `vgg_convert` (imported on its own: `from tfinpaint.losses import vgg_convert`): torchvision
  VGG weights to Keras' layout, for `tools/convert_vgg.py`.

Conventions: images (B, H, W, 3) in [0, 1]; `hole_mask` (B, H, W, 1), 1 = hole, and
`valid_mask = 1 - hole_mask`. Every input is cast to float32 first, so the losses return float32
scalars under mixed precision too (Gram matrices of float16 activations would overflow).
"""

from tfinpaint.losses._checks import check_hole_mask
from tfinpaint.losses.adversarial import bce_d_loss, bce_g_loss, hinge_d_loss, hinge_g_loss
from tfinpaint.losses.perceptual import (
    DEEPGIN_LAYER_WEIGHTS,
    DEEPGIN_VGG_INPUT_SIZE,
    IMAGENET_CAFFE_BGR_MEAN,
    IMAGENET_TORCH_RGB_MEAN,
    IMAGENET_TORCH_RGB_STD,
    PREACTIVATION_SUFFIX,
    VGG16_POOL_LAYERS,
    VGG19_CASCADE_LAYERS,
    VGG19_DEEPGIN_LAYERS,
    VGG_ARCH_ATTR,
    VGG_FLAVOUR_ATTR,
    VGG_FLAVOUR_AUTO,
    VGG_FLAVOURS,
    VGGFeatures,
    gram_matrix,
    hole_feature_loss,
    perceptual_loss,
    resolve_vgg_flavour,
    resolve_vgg_weights,
    style_loss,
    vgg_preprocess,
    vgg_weights_info,
)
from tfinpaint.losses.reconstruction import (
    dilate_hole_mask,
    glcic_completion_mse,
    hole_l1,
    hole_normalised_l1,
    hole_normalised_mse,
    hole_psnr_loss,
    masked_mse,
    resize_hole_mask,
    tv_loss_dilated_hole,
    tv_loss_squared,
    valid_l1,
    weighted_l1,
)

__all__ = [
    "DEEPGIN_LAYER_WEIGHTS",
    "DEEPGIN_VGG_INPUT_SIZE",
    "IMAGENET_CAFFE_BGR_MEAN",
    "IMAGENET_TORCH_RGB_MEAN",
    "IMAGENET_TORCH_RGB_STD",
    "PREACTIVATION_SUFFIX",
    "VGG16_POOL_LAYERS",
    "VGG19_CASCADE_LAYERS",
    "VGG19_DEEPGIN_LAYERS",
    "VGG_ARCH_ATTR",
    "VGG_FLAVOUR_ATTR",
    "VGG_FLAVOUR_AUTO",
    "VGG_FLAVOURS",
    "VGGFeatures",
    "bce_d_loss",
    "bce_g_loss",
    "check_hole_mask",
    "dilate_hole_mask",
    "glcic_completion_mse",
    "gram_matrix",
    "hinge_d_loss",
    "hinge_g_loss",
    "hole_feature_loss",
    "hole_l1",
    "hole_normalised_l1",
    "hole_normalised_mse",
    "hole_psnr_loss",
    "masked_mse",
    "perceptual_loss",
    "resize_hole_mask",
    "resolve_vgg_flavour",
    "resolve_vgg_weights",
    "style_loss",
    "tv_loss_dilated_hole",
    "tv_loss_squared",
    "valid_l1",
    "vgg_preprocess",
    "vgg_weights_info",
    "weighted_l1",
]
