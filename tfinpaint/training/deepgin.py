"""DeepGIN training (Li et al., ECCV 2020 workshops; SPEC.md section 4, the authors' code).

Two stages. Stage 1, the warm-up, trains the generator alone on the L1 terms. Stage 2, the main
stage, alternates one generator step and one discriminator step (hinge GAN). Stage lengths:
`--schedule=warmup:N1,main` or `--schedule=a,b` in fractions (aliases `--stage_steps=N1`,
`--stage_fractions=a,b`). The default split follows the paper's 10 warm-up epochs then 100 main
epochs (section 4): 0.091, 0.909 of `--steps` (10/110 rounded). The tiny preset uses 0.25, 0.75
so that its 8 steps hold 2 warm-up steps.

Generator loss (weights `loss_weights`, defaults from the reference code):
- `l1_coarse`, `l1_raw`: `5 * mean(m * |x - y|) + 1 * mean((1 - m) * |x - y|)`, means over all
  elements (not hole-normalised), for `coarse` and `raw`;
- `l1_lr`: the same for `lr` against the image downsampled x4 (bilinear, aligned corners, as
  the generator resamples) with the equally downsampled, soft mask;
- stage 2 only: `tv` = 0.1 x the reference's `TVLoss`, `2 * (mean of squared vertical
  differences + mean of squared horizontal differences)` of `inpainted`;
  `adversarial` = 0.001 x hinge `-mean(D(fake))` summed over the two scales; and, with a VGG
  (`uses_vgg`; dropped by `--vgg_weights=none`), `perceptual` = 0.05 x layer-weighted L1 and
  `style` = 80 x layer-weighted MSE of Gram matrices, each summed over `raw` and `inpainted`,
  on VGG19 relu1_1, relu2_1, relu3_1, relu4_1, conv5_1 (weights 1/32, 1/16, 1/8, 1/4, 1) at
  224 x 224 (resized bilinearly with aligned corners, as the reference's
  `nn.UpsamplingBilinear2d`).
Discriminator loss: `0.5 * (hinge real + hinge fake)` summed over the scales `scale_1`,
`scale_2`, one `discriminator_step` per scale (each scale has its own Adam: the losses are
separate, so this equals one Adam over both). The discriminators see concat(masked image,
image), 6 channels, the masked image first: the image with its holes set to 1.0, next to the
real image or `inpainted` (the completed image: also what the generator's adversarial term
scores). This is the reference code's convention: its data loader fills the holes with 255
(1.0 after scaling) and `discriminate(input_msked_img, image)` concatenates that masked image
before the real or completed one; scale 2 pools with `AvgPool2d(3, 2, 1,
count_include_pad=False)` (`average_pool_exclude_pad`).

Optimisers: Adam with betas (0.5, 0.999), generator 1e-4 with gradient-norm clipping at 3
(`make_optimizer(clip_norm=3.0)`), discriminators 4e-4. The same generator optimizer runs
through both stages. Learning rates (`HoldThenLinearDecay` on each optimizer, driven by its
update counter, so a checkpoint holds the schedule's position and a resume continues it): the
warm-up keeps the generator's initial rate; the main stage holds both rates for the option
`lr_hold_fraction` of its updates (0.1: the reference's 10 of 100 epochs) and then decays them
linearly to 0 at the stage's end. The main stage alternates networks step by step, so of its N
steps ceil(N / 2) update the generator and floor(N / 2) the discriminators; each schedule is
laid over its own optimizer's updates. The reference steps the rate once per epoch (and holds
an 11th epoch before its first decrement); ours changes it every update. The schedule follows
the run's `--steps` and stage lengths, so raising `--steps` on a resume stretches the decay.

Where we differ from the reference code (rlct1/gin, the authors' pix2pixHD-based trainer):
- each iteration there draws one batch, computes the completed image once, takes the G step
  and then the D step on that same (pre-update) completion; here the G step and the D step are
  separate loop steps, each on its own batch, the D step on the updated generator's output;
- its `clip_grad_norm_(model.parameters(), 3)` measures the norm over the generator's and the
  discriminators' gradients of the G loss together (the discriminators' are then discarded);
  ours clips the generator's gradients by their own norm.
Feature matching (off by default in the reference) is not implemented.
"""

import dataclasses

import tensorflow as tf
from keras import ops

from tfinpaint import losses
from tfinpaint.layers.resample import BilinearResize2D
from tfinpaint.training.config import Segment, schedule_bounds
from tfinpaint.training.lr_schedules import HoldThenLinearDecay
from tfinpaint.training.trainer import InpaintingTrainer, TrainerOptions

_L1_TERMS = ("l1_coarse", "l1_raw", "l1_lr")
_VGG_TERMS = ("perceptual", "style")
_GENERATOR_TERMS = ("total", *_L1_TERMS, "tv", "adversarial", *_VGG_TERMS)
_DISCRIMINATOR_TERMS = ("d_loss", "d_real_logit", "d_fake_logit", "d_pair_accuracy")
SCALES = ("scale_1", "scale_2")


def masked_input(images, hole_masks):
    """The image with its holes set to 1.0: the first half of the discriminators' input."""
    return images * (1.0 - hole_masks) + hole_masks


@dataclasses.dataclass
class DeepGINOptions(TrainerOptions):
    """DeepGIN training options.

    Attributes:
        loss_weights: dict or None. Overrides of the loss weights ("hole", "valid", "tv",
            "adversarial", "perceptual", "style"; the reference's 5, 1, 0.1, 0.001, 0.05, 80).
        d_loss_scale: float. Factor on each scale's hinge discriminator loss (the reference's
            0.5 * (real + fake)).
        generator_clip_norm: float or None. Global gradient-norm clipping of the generator's
            updates (the reference's 3; None: off).
        augment: str. The data augmentation of both stages (`build_dataset(augment=...)`);
            with "polyphase" the short side is resized to twice the image size unless
            `--resize_short_side` is given. "" for none.
        lr_hold_fraction: float in [0, 1]. The share of the main stage's updates at the initial
            learning rates; the rest decays them linearly to 0 (the reference's 10 : 90 epochs
            is 0.1; 1.0 keeps the rates constant).
    """

    loss_weights: dict | None = None
    d_loss_scale: float = 0.5
    generator_clip_norm: float | None = 3.0
    augment: str = "rot90,polyphase,flip"
    lr_hold_fraction: float = 0.1

    def __post_init__(self):
        if not 0.0 <= self.lr_hold_fraction <= 1.0:
            raise ValueError(
                f"The deepgin option lr_hold_fraction takes a number in [0, 1] (the share of the "
                f"main stage held at the initial rate), got {self.lr_hold_fraction!r}."
            )


class DeepGINTrainer(InpaintingTrainer):
    """Trains DeepGIN's generator: an L1 warm-up, then hinge GAN against two scales.

    Discriminators (`tfinpaint.models.build_discriminators("deepgin", ...)`): `scale_1` and
    `scale_2` (`DeepGINDiscriminator` at full and half resolution). Options: `DeepGINOptions`.
    """

    segment_kind = "stage"
    # The paper's 10 warm-up epochs of 110 (10/110 = 0.0909, rounded), then G and D alternate.
    schedule = (
        Segment("warmup", (("generator", 1),), 0.091),
        Segment("main", (("generator", 1), ("discriminator", 1)), 0.909),
    )
    uses_vgg = True
    vgg_arch = "vgg19"
    vgg_layers = losses.VGG19_DEEPGIN_LAYERS
    vgg_tuned_flavour = "torchvision"
    loss_names = _GENERATOR_TERMS + _DISCRIMINATOR_TERMS
    VGG_TERMS = _VGG_TERMS
    DATA_OPTIONS = ("augment",)
    Options = DeepGINOptions
    DEFAULT_LOSS_WEIGHTS = {
        "hole": 5.0,
        "valid": 1.0,
        "tv": 0.1,
        "adversarial": 0.001,
        "perceptual": 0.05,
        "style": 80.0,
    }
    # As for the cascade model: grappler's remapper fuses the discriminators' Conv2D + BiasAdd +
    # LeakyRelu although the gradient's LeakyReluGrad still reads the fused-away BiasAdd, then
    # fails for the whole graph and prints an error per trace ("remapper failed: ... fanout
    # ... exist for missing node"). Switched off (process-wide, set by `create`).
    grappler_options = {"remapping": False}

    def __init__(self, generator, config, vgg=None, discriminators=None, **kwargs):
        super().__init__(generator, config, vgg=vgg, discriminators=discriminators, **kwargs)
        self._down_x4 = BilinearResize2D(4, downsample=True, name="lr_target_down")

    @classmethod
    def make_vgg(cls, weights, flavour=losses.VGG_FLAVOUR_AUTO):
        return losses.VGGFeatures(
            arch=cls.vgg_arch,
            layers=cls.vgg_layers,
            weights=weights,
            flavour=flavour,
            input_size=losses.DEEPGIN_VGG_INPUT_SIZE,
            align_corners=True,
        )

    def learning_rate_schedules(self):
        """{optimizer name: HoldThenLinearDecay} of this run (see the module docstring).

        Counted in each optimizer's own updates: the generator's are the warm-up steps, then
        the main stage's even steps (`step_kind`); the discriminators' the main stage's odd ones.
        """
        (_, warmup_steps), (main_start, main_end) = schedule_bounds(self.train_config, type(self))
        main_steps = main_end - main_start
        hold = self.options.lr_hold_fraction
        generator_updates = (main_steps + 1) // 2
        discriminator_updates = main_steps // 2
        schedules = {
            "generator_optimizer": HoldThenLinearDecay(
                self.train_config.learning_rate,
                decay_start=warmup_steps + round(hold * generator_updates),
                decay_end=warmup_steps + generator_updates,
            )
        }
        for scale in SCALES:
            schedules[f"discriminator_optimizer_{scale}"] = HoldThenLinearDecay(
                self.train_config.d_learning_rate,
                decay_start=round(hold * discriminator_updates),
                decay_end=discriminator_updates,
            )
        return schedules

    def current_learning_rates(self):
        """{"learning_rate": generator's, "d_learning_rate": the discriminators'} now."""
        return {
            "learning_rate": float(self.optimizers["generator_optimizer"].learning_rate),
            "d_learning_rate": float(
                self.optimizers[f"discriminator_optimizer_{SCALES[0]}"].learning_rate
            ),
        }

    def logged_values(self):
        # The rates the next updates use, beside the loss terms (metrics.jsonl, TensorBoard).
        return {**super().logged_values(), **self.current_learning_rates()}

    def build_optimizers(self):
        schedules = self.learning_rate_schedules()
        optimizers = {
            "generator_optimizer": self.make_optimizer(
                schedules["generator_optimizer"],
                name="generator_adam",
                clip_norm=self.options.generator_clip_norm,
                beta_1=0.5,
                beta_2=0.999,
            )
        }
        for scale in SCALES:
            optimizers[f"discriminator_optimizer_{scale}"] = self.make_optimizer(
                schedules[f"discriminator_optimizer_{scale}"],
                name=f"discriminator_adam_{scale}",
                beta_1=0.5,
                beta_2=0.999,
            )
        return optimizers

    def optimizer_targets(self):
        targets = {"generator_optimizer": self.generator.trainable_variables}
        for scale in SCALES:
            targets[f"discriminator_optimizer_{scale}"] = self.discriminators[
                scale
            ].trainable_variables
        return targets

    @classmethod
    def segment_data_overrides(cls, config, segment):
        overrides = super().segment_data_overrides(config, segment)
        if "polyphase" in overrides.get("augment", "") and not config.resize_short_side:
            overrides["resize_short_side"] = (2 * config.image_size, 2 * config.image_size)
        return overrides

    def _discriminate(self, scale, masked):
        discriminator = self.discriminators[scale]
        return lambda batch: discriminator(ops.concatenate([masked, batch], -1), training=True)

    def generator_terms(self, images, hole_masks, outputs, adversarial):
        """The generator's loss terms (unweighted L1s already 5:1 weighted) and `total`."""
        w = self.loss_weights

        def l1(prediction, target, mask):
            return losses.weighted_l1(prediction, target, mask, w["hole"], w["valid"])

        terms = {
            "l1_coarse": l1(outputs["coarse"], images, hole_masks),
            "l1_raw": l1(outputs["raw"], images, hole_masks),
            "l1_lr": l1(outputs["lr"], self._down_x4(images), self._down_x4(hole_masks)),
        }
        total = tf.add_n([terms[name] for name in _L1_TERMS])
        if adversarial:
            inpainted = outputs["inpainted"]
            masked = masked_input(images, hole_masks)
            # The reference's TVLoss is 2 * (mean of squared differences along each axis).
            terms["tv"] = 2.0 * losses.tv_loss_squared(inpainted)
            terms["adversarial"] = tf.add_n(
                [
                    losses.hinge_g_loss(
                        tf.cast(self._discriminate(scale, masked)(inpainted), tf.float32)
                    )
                    for scale in SCALES
                ]
            )
            if self.vgg is not None:
                real = self.vgg(images)
                raw_features = self.vgg(outputs["raw"])
                inpainted_features = self.vgg(inpainted)
                weights = losses.DEEPGIN_LAYER_WEIGHTS
                terms["perceptual"] = losses.perceptual_loss(
                    raw_features, real, weights
                ) + losses.perceptual_loss(inpainted_features, real, weights)
                terms["style"] = losses.style_loss(
                    raw_features, real, "mse", weights
                ) + losses.style_loss(inpainted_features, real, "mse", weights)
            for name in ("tv", "adversarial", *_VGG_TERMS):
                if name in terms:
                    total = total + w[name] * terms[name]
        terms["total"] = total
        return terms

    def train_step(self, data):
        images, hole_masks = data["images"], data["masks"]
        inputs = {"images": images, "masks": hole_masks}
        if self.kind == "discriminator":
            completed = self.as_float32(self.generator(inputs, training=False))["inpainted"]
            masked = masked_input(images, hole_masks)
            terms = {}
            for scale in SCALES:
                scale_terms = self.discriminator_step(
                    self._discriminate(scale, masked),
                    images,
                    completed,
                    self.optimizers[f"discriminator_optimizer_{scale}"],
                    self.discriminators[scale].trainable_variables,
                    loss="hinge",
                    scale=self.options.d_loss_scale,
                )
                for name, value in scale_terms.items():
                    terms[name] = terms.get(name, 0.0) + value
            # Logits and pair accuracies are logged as the mean over scales; d_loss is the sum
            # (what is minimised).
            for name in ("d_real_logit", "d_fake_logit", "d_pair_accuracy"):
                terms[name] = terms[name] / len(SCALES)
            return self.update_trackers(terms)
        optimizer = self.optimizers["generator_optimizer"]
        with tf.GradientTape() as tape:
            outputs = self.as_float32(self.generator(inputs, training=True))
            terms = self.generator_terms(images, hole_masks, outputs, adversarial=self.segment > 1)
            scaled = self.scaled_loss(terms["total"], optimizer)
        self.apply_gradients(tape, scaled, self.generator.trainable_variables, optimizer)
        return self.update_trackers(terms)
