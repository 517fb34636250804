"""PConv U-Net training (Liu et al., ECCV 2018, section 4): two stages, one supervised loss.

Stage 1 trains everything with batch normalisation at the paper's lr 2e-4; stage 2 fine-tunes at
5e-5 with the encoder's batch normalisation frozen (inference mode, gamma/beta fixed), which the
paper does so that the hole statistics stop corrupting the encoder's BN statistics. The Adam
moments carry over from stage 1 (only the rate changes). Stage lengths come from
`--stage_steps=N1` or `--stage_fractions=a,b`; our default split is 0.75 / 0.25 (the paper
gives no step counts).
"""

import tensorflow as tf

from tfinpaint import losses
from tfinpaint.training.trainer import InpaintingTrainer


class PConvTrainer(InpaintingTrainer):
    """Trains the PConv U-Net with L_valid + 6 L_hole + 0.05 L_perc + 120 L_style + 0.1 L_tv.

    Options (`TrainConfig.options`, `--options`; `OPTIONS` lists them, other keys are refused):
    `finetune_learning_rate` (stage 2, default 5e-5) and `loss_weights` (a dict overriding
    PConvLoss' weights, names in `LOSS_WEIGHT_NAMES`).
    """

    OPTIONS = {
        "finetune_learning_rate": "Stage-2 (fine-tuning) learning rate, a positive float.",
        "loss_weights": "Dict overriding PConvLoss weights: valid, hole, perceptual, style, tv.",
    }
    LOSS_WEIGHT_NAMES = tuple(losses.PConvLoss.DEFAULT_WEIGHTS)

    segment_kind = "stage"
    num_segments = 2
    default_segment_fractions = (0.75, 0.25)
    uses_vgg = True
    vgg_arch = "vgg16"
    vgg_layers = losses.VGG16_POOL_LAYERS
    loss_names = ("total", "valid", "hole", "tv", "perceptual", "style_out", "style_comp")
    DEFAULTS = {
        "paper": {
            "image_size": 512,
            "batch_size": 6,
            "steps": 600_000,
            "masks": "freeform",
            "learning_rate": 2e-4,
            "log_every": 200,
            "checkpoint_every": 2000,
            "val_batch_size": 6,
            "options": {"finetune_learning_rate": 5e-5},
        },
        "tiny": {
            "image_size": 64,
            "batch_size": 4,
            "steps": 1000,
            "masks": "freeform",
            # A network this small learns faster than the paper's rate allows in a demo.
            "learning_rate": 1e-3,
            "log_every": 50,
            "checkpoint_every": 250,
            "val_batch_size": 4,
            "options": {"finetune_learning_rate": 2.5e-4},
        },
    }

    def __init__(self, generator, config, vgg=None, **kwargs):
        super().__init__(generator, config, vgg=vgg, **kwargs)
        self.loss_fn = losses.PConvLoss(vgg, weights=self.options.get("loss_weights"))

    def active_loss_names(self):
        if self.vgg is None:
            return ("total", "valid", "hole", "tv")
        return self.loss_names

    def start_segment(self, segment):
        super().start_segment(segment)
        finetune = segment == 2
        self.generator.set_encoder_batchnorm_frozen(finetune)
        rate = (
            self.options["finetune_learning_rate"] if finetune else self.train_config.learning_rate
        )
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
