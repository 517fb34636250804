"""Cascade generator training (Shatokhin, seed 000, section 4): two stages, alternating G and D.

Stage 1 trains the generator against the basic spectral-normalised residual discriminator on
rectangular holes with sides U[0.2, 1] of the image side. Stage 2 ("additional training")
starts fresh optimizers (the paper resets their state) and a new stage-2 cascade discriminator
trained from scratch, on holes with sides U[0.5, 1]. Within a stage, `generator_batches`
generator steps (10) alternate with `discriminator_batches` discriminator steps (5), counted
from the stage's first step, so a resumed run continues mid-cycle.

Generator loss: `l_adv * BCE(D(G), real)` (the non-saturating form of the paper's
log(1 - D(G))) + `l_feat * sum_j ||M * (phi_j(X_rec) - phi_j(X))||^2` over VGG19 relu1_2 ...
relu5_2 with M resized to each feature map and normalised by the hole area + `l_rec *
||M * (X_rec - X)||_1` normalised by the hole area. The paper gives no weights: 0.01, 1 and 1
are our choice. Discriminator loss: binary cross-entropy times 1/2, as the paper writes it
(`-1/2 [E log D(X) + E log(1 - D(G(X)))]`; option `d_loss_scale`). Adam at 1e-4 for both
networks is our choice too (the paper names Adam only); Adam's update barely depends on a
constant loss factor, so the 1/2 mainly sets the logged `d_loss` on the paper's scale.

Resolution changes follow the paper's nearest-neighbour scaling (section 3.1): the generator's
pyramid and upsamplings are nearest, its per-level stride-2 convolutions equal a convolution
followed by nearest x1/2 downsampling, and the stage-2 discriminator's half-size level is
nearest-downsampled too (`CascadePyramidDiscriminator(downsampling="average")` is the option).
Stage lengths: `--schedule=first:N1,additional` or `--schedule=0.75,0.25` (aliases
`--stage_steps=N1`, `--stage_fractions=a,b`; our default 0.75, 0.25: the paper gives none).
"""

import dataclasses

import tensorflow as tf

from tfinpaint import losses
from tfinpaint.training.config import Segment
from tfinpaint.training.trainer import InpaintingTrainer, TrainerOptions

_GENERATOR_TERMS = ("total", "adversarial", "feature", "reconstruction", "hole_psnr")
_RECONSTRUCTION_LOSSES = {"l1": losses.hole_normalised_l1, "mse": losses.hole_normalised_mse}
_DISCRIMINATOR_TERMS = ("d_loss", "d_real_prob", "d_fake_prob", "d_pair_accuracy")


@dataclasses.dataclass
class CascadeOptions(TrainerOptions):
    """Cascade training options.

    Attributes:
        loss_weights: dict or None. Overrides of the generator loss weights ("adversarial",
            "feature", "reconstruction"; ours: 0.01, 1, 1; and our "hole_psnr", 0: minus the
            mean per-image hole PSNR in dB, `losses.hole_psnr_loss`, not the paper's, for
            fine-tunes judged by mean per-image PSNR). An adversarial weight of 0 trains the
            generator without calling the discriminator (and logs no "adversarial"); a
            "hole_psnr" weight of 0 computes and logs no such term.
        generator_batches: int. Generator steps per cycle (the paper's 10).
        discriminator_batches: int. Discriminator steps per cycle (the paper's 5). An
            adversarial weight of 0 runs generator steps only, whatever this is.
        stage2_masks: str. The mask spec of stage 2 (sides U[0.5, 1] of the image).
        d_loss_scale: float. Factor on the discriminator's binary cross-entropy (the paper's
            1/2).
        reconstruction_loss: str. "l1", the paper's hole-normalised L1
            (`losses.hole_normalised_l1`), or "mse", the hole-normalised squared error
            (`losses.hole_normalised_mse`; not the paper's: a fine-tuning option for the mean
            squared error that hole PSNR measures). Logged as "reconstruction" either way.
        augment: str or None. Data augmentation of both stages beyond the pipeline's random
            left-right flip (`build_dataset(augment=...)`, e.g. "rot90": each crop turned by a
            random multiple of 90 degrees; "channels": its RGB channels in a random order;
            "blur": half the crops Gaussian-blurred). None (the paper's): none.
    """

    loss_weights: dict | None = None
    generator_batches: int = 10
    discriminator_batches: int = 5
    stage2_masks: str = "rect:0.5-1"
    d_loss_scale: float = 0.5
    reconstruction_loss: str = "l1"
    augment: str | None = None

    def __post_init__(self):
        if self.reconstruction_loss not in _RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"Cascade option reconstruction_loss must be one of "
                f"{', '.join(_RECONSTRUCTION_LOSSES)}, got {self.reconstruction_loss!r}."
            )


class CascadeTrainer(InpaintingTrainer):
    """Trains the cascade generator with a stage-1 and a fresh stage-2 discriminator.

    Discriminators (`tfinpaint.models.build_discriminators("cascade", ...)`): `stage_1` (the
    basic SN residual one) and `stage_2` (the cascade pyramid one, trained from scratch).
    Options: `CascadeOptions`.
    """

    segment_kind = "stage"
    # Each stage repeats `generator_batches` generator then `discriminator_batches`
    # discriminator steps (10 and 5), counted from the stage's first step.
    _CYCLE = (("generator", "generator_batches"), ("discriminator", "discriminator_batches"))
    schedule = (Segment("first", _CYCLE, 0.75), Segment("additional", _CYCLE, 0.25))
    adversarial_optional = True
    uses_vgg = True
    vgg_arch = "vgg19"
    vgg_layers = losses.VGG19_CASCADE_LAYERS
    loss_names = _GENERATOR_TERMS + _DISCRIMINATOR_TERMS
    VGG_TERMS = ("feature",)
    DATA_OPTIONS = ("augment",)
    Options = CascadeOptions
    DEFAULT_LOSS_WEIGHTS = {
        "adversarial": 0.01,
        "feature": 1.0,
        "reconstruction": 1.0,
        "hole_psnr": 0.0,
    }
    # Grappler's remapper fuses Conv2D + BiasAdd + Add + LeakyRelu in the generator's residual
    # blocks although the gradient's LeakyReluGrad still reads the fused-away Add, then fails
    # for the whole graph ("remapper failed: ... fanout ... exist for missing node") and prints
    # an error line per trace. It optimises nothing here, so it is switched off.
    grappler_options = {"remapping": False}

    def build_optimizers(self):
        # One generator and one discriminator optimizer per stage: stage 2 starts fresh.
        optimizers = {}
        for stage in (1, 2):
            optimizers[f"generator_optimizer_{stage}"] = self.make_optimizer(
                self.train_config.learning_rate, name=f"generator_adam_{stage}"
            )
            optimizers[f"discriminator_optimizer_{stage}"] = self.make_optimizer(
                self.train_config.d_learning_rate, name=f"discriminator_adam_{stage}"
            )
        return optimizers

    def optimizer_targets(self):
        targets = {}
        for stage in (1, 2):
            discriminator = self.discriminators[f"stage_{stage}"]
            targets[f"generator_optimizer_{stage}"] = self.generator.trainable_variables
            targets[f"discriminator_optimizer_{stage}"] = discriminator.trainable_variables
        return targets

    @classmethod
    def segment_data_overrides(cls, config, segment):
        overrides = super().segment_data_overrides(config, segment)
        if segment == 2:
            overrides["masks"] = cls.family_options(config).stage2_masks
        return overrides

    def _generator_terms(self, images, hole_masks, discriminator, optimizer):
        """One generator update; returns its loss terms."""
        inputs = {"images": images, "masks": hole_masks}
        with tf.GradientTape() as tape:
            outputs = self.as_float32(self.generator(inputs, training=True))
            completed = outputs["inpainted"]
            reconstruction = _RECONSTRUCTION_LOSSES[self.options.reconstruction_loss]
            terms = {"reconstruction": reconstruction(images, completed, hole_masks)}
            if self.loss_weights["hole_psnr"]:
                terms["hole_psnr"] = losses.hole_psnr_loss(images, completed, hole_masks)
            # With the adversarial weight at 0 (L1-only runs) the discriminator is not called
            # (nor trained: `adversarial_optional`): its forward and backward pass were ~40 % of a
            # generator step for nothing, and the logs leave the term out instead of showing a
            # value that trains nothing.
            if self.adversarial:
                terms["adversarial"] = losses.bce_g_loss(
                    discriminator(completed, training=True), from_logits=True
                )
            if self.vgg is not None:
                terms["feature"] = losses.hole_feature_loss(
                    self.vgg(completed), self.vgg(images), hole_masks, distance="mse"
                )
            terms["total"] = tf.add_n(
                [self.loss_weights[name] * value for name, value in terms.items()]
            )
            scaled = self.scaled_loss(terms["total"], optimizer)
        self.apply_gradients(tape, scaled, self.generator.trainable_variables, optimizer)
        return terms

    def train_step(self, data):
        images, hole_masks = data["images"], data["masks"]
        stage = self.segment
        discriminator = self.discriminators[f"stage_{stage}"]
        if self.kind == "discriminator":
            inputs = {"images": images, "masks": hole_masks}
            completed = self.as_float32(self.generator(inputs, training=False))["inpainted"]
            terms = self.discriminator_step(
                lambda batch: discriminator(batch, training=True),
                images,
                completed,
                self.optimizers[f"discriminator_optimizer_{stage}"],
                discriminator.trainable_variables,
                scale=self.options.d_loss_scale,
            )
        else:
            optimizer = self.optimizers[f"generator_optimizer_{stage}"]
            terms = self._generator_terms(images, hole_masks, discriminator, optimizer)
        return self.update_trackers(terms)
