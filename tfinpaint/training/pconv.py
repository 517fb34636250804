"""PConv U-Net training (Liu et al., ECCV 2018, section 4): two stages, one supervised loss.

Stage 1 trains everything with batch normalisation at the paper's lr 2e-4; stage 2 fine-tunes at
5e-5 with the encoder's batch normalisation frozen (inference mode, gamma/beta fixed), which the
paper does so that the hole statistics stop corrupting the encoder's BN statistics. The Adam
moments carry over from stage 1 (only the rate changes). Stage lengths come from
`--stage_steps=N1` or `--stage_fractions=a,b`; our default split is 0.75 / 0.25 (the paper
gives no step counts).
"""

import dataclasses

import tensorflow as tf

from tfinpaint import losses
from tfinpaint.training.trainer import InpaintingTrainer, TrainerOptions


@dataclasses.dataclass
class PConvOptions(TrainerOptions):
    """PConv training options.

    Attributes:
        finetune_learning_rate: float. Stage 2's learning rate (the paper's 5e-5).
        loss_weights: dict or None. Overrides of PConvLoss' weights ("valid", "hole",
            "perceptual", "style", "tv"); None keeps the paper's 1, 6, 0.05, 120, 0.1.
    """

    finetune_learning_rate: float = 5e-5
    loss_weights: dict | None = None


class PConvTrainer(InpaintingTrainer):
    """Trains the PConv U-Net with L_valid + 6 L_hole + 0.05 L_perc + 120 L_style + 0.1 L_tv.

    Options: `PConvOptions` (with the base `vgg_flavour`: "auto" takes the `--vgg_weights`'
    flavour, so weights converted by tools/convert_vgg.py get torchvision's normalisation).
    """

    LOSS_WEIGHT_NAMES = tuple(losses.PConvLoss.DEFAULT_WEIGHTS)

    segment_kind = "stage"
    num_segments = 2
    default_segment_fractions = (0.75, 0.25)
    uses_vgg = True
    vgg_arch = "vgg16"
    vgg_layers = losses.VGG16_POOL_LAYERS
    # NVIDIA's loss and PConv-Keras use torchvision's VGG16; 0.05 and 120 were tuned on it.
    vgg_tuned_flavour = "torchvision"
    loss_names = ("total", "valid", "hole", "tv", "perceptual", "style_out", "style_comp")
    Options = PConvOptions

    def __init__(self, generator, config, vgg=None, **kwargs):
        super().__init__(generator, config, vgg=vgg, **kwargs)
        self.loss_fn = losses.PConvLoss(vgg, weights=self.options.loss_weights)

    def active_loss_names(self):
        if self.vgg is None:
            return ("total", "valid", "hole", "tv")
        return self.loss_names

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
