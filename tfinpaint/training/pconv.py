"""PConv U-Net training (Liu et al., ECCV 2018, section 4): two stages, one supervised loss.

Stage 1 trains everything with batch normalisation at the paper's lr 2e-4; stage 2 fine-tunes at
5e-5 with the encoder's batch normalisation frozen (inference mode, gamma/beta fixed), which the
paper does so that the hole statistics stop corrupting the encoder's BN statistics. The Adam
moments carry over from stage 1 (only the rate changes). Stage lengths come from
`--schedule=train:N1,finetune` or `--schedule=0.75,0.25` (aliases `--stage_steps=N1`,
`--stage_fractions=a,b`); our default split is 0.75 / 0.25 (the paper gives no step counts).
"""

import dataclasses
import types

import tensorflow as tf
from keras import ops

from tfinpaint import losses
from tfinpaint.training.config import Segment
from tfinpaint.training.trainer import InpaintingTrainer, TrainerOptions


class PConvLoss:
    """The PConv training loss (Liu et al., ECCV 2018, eq. 8).

    `L = L_valid + 6 L_hole + 0.05 L_perc + 120 (L_style_out + L_style_comp) + 0.1 L_tv`, where
    `I_out` is the network's raw output and `I_comp` is `I_out` in the holes and the ground truth
    elsewhere. `L_perc = perceptual(I_out, I_gt) + perceptual(I_comp, I_gt)` on VGG16 pool1-3
    (`losses.VGG16_POOL_LAYERS`), `L_style_*` the L1 Gram losses of the same layers, `L_tv` the TV
    of I_comp over the dilated hole. With `vgg=None` the perceptual and style terms are left out.

    Args:
        vgg: `losses.VGGFeatures` or None. Feature extractor (VGG16 pool1-3 for the paper).
        weights: optional dict overriding some of `PConvLoss.DEFAULT_WEIGHTS`
            (keys `valid`, `hole`, `perceptual`, `style`, `tv`, `hole_psnr`).

    Call:
        y_true: (B, H, W, 3) ground truth in [0, 1].
        raw: (B, H, W, 3) network output.
        hole_mask: (B, H, W, 1), 1 = hole.
        Returns a dict of float32 scalars: `valid`, `hole`, `tv`, with a VGG also `perceptual`,
        `style_out`, `style_comp`, and `total` (the weighted sum). The terms are unweighted.

    Example:
        >>> loss = PConvLoss(losses.VGGFeatures("vgg16", losses.VGG16_POOL_LAYERS))
        >>> terms = loss(images, outputs["raw"], masks)
        >>> terms["total"]
    """

    DEFAULT_WEIGHTS = types.MappingProxyType(
        {
            "valid": 1.0,
            "hole": 6.0,
            "perceptual": 0.05,
            "style": 120.0,
            "tv": 0.1,
            # Our addition, off in the paper's loss: minus each image's hole PSNR (see
            # `losses.hole_psnr_loss`), for fine-tunes judged by mean per-image PSNR.
            "hole_psnr": 0.0,
        }
    )

    def __init__(self, vgg=None, weights=None):
        unknown = sorted(set(weights or {}) - set(self.DEFAULT_WEIGHTS))
        if unknown:
            raise ValueError(
                f"PConvLoss got unknown weight names {unknown}; expected a subset of "
                f"{sorted(self.DEFAULT_WEIGHTS)}."
            )
        self.vgg = vgg
        self.weights = {**self.DEFAULT_WEIGHTS, **{k: float(v) for k, v in (weights or {}).items()}}

    def __call__(self, y_true, raw, hole_mask):
        losses.check_hole_mask(hole_mask, "PConvLoss")
        y_true, raw, hole_mask = (ops.cast(x, "float32") for x in (y_true, raw, hole_mask))
        comp = hole_mask * raw + (1.0 - hole_mask) * y_true
        terms = {
            "valid": losses.valid_l1(y_true, raw, hole_mask),
            "hole": losses.hole_l1(y_true, raw, hole_mask),
            "tv": losses.tv_loss_dilated_hole(comp, hole_mask),
        }
        w = self.weights
        total = w["valid"] * terms["valid"] + w["hole"] * terms["hole"] + w["tv"] * terms["tv"]
        if w["hole_psnr"]:
            terms["hole_psnr"] = losses.hole_psnr_loss(y_true, raw, hole_mask)
            total = total + w["hole_psnr"] * terms["hole_psnr"]
        if self.vgg is not None:
            # One VGG pass over the stacked batch [out; comp; gt].
            feats = self.vgg(ops.concatenate([raw, comp, y_true], axis=0))
            splits = [ops.split(f, 3, axis=0) for f in feats]
            f_out = [s[0] for s in splits]
            f_comp = [s[1] for s in splits]
            f_gt = [s[2] for s in splits]
            terms["perceptual"] = losses.perceptual_loss(f_out, f_gt) + losses.perceptual_loss(
                f_comp, f_gt
            )
            terms["style_out"] = losses.style_loss(f_out, f_gt, distance="l1")
            terms["style_comp"] = losses.style_loss(f_comp, f_gt, distance="l1")
            total = (
                total
                + w["perceptual"] * terms["perceptual"]
                + w["style"] * (terms["style_out"] + terms["style_comp"])
            )
        terms["total"] = total
        return terms


@dataclasses.dataclass
class PConvOptions(TrainerOptions):
    """PConv training options.

    Attributes:
        finetune_learning_rate: float. Stage 2's learning rate (the paper's 5e-5).
        loss_weights: dict or None. Overrides of PConvLoss' weights ("valid", "hole",
            "perceptual", "style", "tv", and our "hole_psnr", 0 by default); None keeps the
            paper's 1, 6, 0.05, 120, 0.1.
        augment: str or None. Data augmentation of both stages beyond the pipeline's random
            left-right flip (`build_dataset(augment=...)`, e.g. "channels": each crop's RGB
            channels in a random order). None (the paper's): none.
    """

    finetune_learning_rate: float = 5e-5
    loss_weights: dict | None = None
    augment: str | None = None


class PConvTrainer(InpaintingTrainer):
    """Trains the PConv U-Net with L_valid + 6 L_hole + 0.05 L_perc + 120 L_style + 0.1 L_tv.

    Options: `PConvOptions` (with the base `vgg_flavour`: "auto" takes the `--vgg_weights`'
    flavour, so weights converted by tools/convert_vgg.py get torchvision's normalisation).
    """

    segment_kind = "stage"
    schedule = (Segment("train", ((None, 1),), 0.75), Segment("finetune", ((None, 1),), 0.25))
    uses_vgg = True
    vgg_arch = "vgg16"
    vgg_layers = losses.VGG16_POOL_LAYERS
    # NVIDIA's loss and PConv-Keras use torchvision's VGG16; 0.05 and 120 were tuned on it.
    vgg_tuned_flavour = "torchvision"
    loss_names = (
        "total", "valid", "hole", "tv", "perceptual", "style_out", "style_comp", "hole_psnr"
    )
    VGG_TERMS = ("perceptual", "style_out", "style_comp")
    DEFAULT_LOSS_WEIGHTS = dict(PConvLoss.DEFAULT_WEIGHTS)
    DATA_OPTIONS = ("augment",)
    Options = PConvOptions

    def __init__(self, generator, config, vgg=None, **kwargs):
        super().__init__(generator, config, vgg=vgg, **kwargs)
        self.loss_fn = PConvLoss(vgg, weights=self.loss_weights)

    def start_segment(self, segment):
        super().start_segment(segment)
        finetune = segment == 2
        self.generator.set_encoder_batchnorm_frozen(finetune)
        rate = self.options.finetune_learning_rate if finetune else self.train_config.learning_rate
        self.optimizers["generator_optimizer"].learning_rate.assign(rate)

    def train_step(self, data):
        images, hole_masks = data["images"], data["masks"]
        optimizer = self.optimizers["generator_optimizer"]
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.as_float32(
                self.generator({"images": images, "masks": hole_masks}, training=True)
            )
            terms = self.loss_fn(images, outputs["raw"], hole_masks)
            scaled = self.scaled_loss(terms["total"], optimizer)
        self.apply_gradients(tape, scaled, variables, optimizer)
        return self.update_trackers(terms)
