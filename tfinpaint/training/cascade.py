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
are our choice. Discriminator loss: binary cross-entropy. Adam at 1e-4 for both networks is our
choice too (the paper names Adam only). Stage lengths: `--stage_steps=N1` or
`--stage_fractions=a,b` (our default 0.75, 0.25).
"""

import tensorflow as tf

from tfinpaint import losses
from tfinpaint.models import registry
from tfinpaint.training.trainer import InpaintingTrainer

_GENERATOR_TERMS = ("total", "adversarial", "feature", "reconstruction")
_DISCRIMINATOR_TERMS = ("d_loss", "d_real_prob", "d_fake_prob")


class CascadeTrainer(InpaintingTrainer):
    """Trains the cascade generator with a stage-1 and a fresh stage-2 discriminator.

    Options (`TrainConfig.options`): `loss_weights` ({"adversarial", "feature",
    "reconstruction"}), `generator_batches` and `discriminator_batches` (the alternation),
    `stage2_masks` (the stage-2 mask spec), `discriminator_preset`. `OPTIONS` lists them;
    other keys are refused before training starts.
    """

    OPTIONS = {
        "loss_weights": "Dict of loss weights: adversarial, feature, reconstruction.",
        "generator_batches": "Generator steps per alternation cycle (10).",
        "discriminator_batches": "Discriminator steps per alternation cycle (5).",
        "stage2_masks": "Mask spec of stage 2 (default rect:0.5-1).",
        "discriminator_preset": "Preset of the stage-1 and stage-2 discriminators.",
    }

    segment_kind = "stage"
    num_segments = 2
    default_segment_fractions = (0.75, 0.25)
    uses_vgg = True
    vgg_arch = "vgg19"
    vgg_layers = losses.VGG19_CASCADE_LAYERS
    loss_names = _GENERATOR_TERMS + _DISCRIMINATOR_TERMS
    DEFAULT_LOSS_WEIGHTS = {"adversarial": 0.01, "feature": 1.0, "reconstruction": 1.0}
    LOSS_WEIGHT_NAMES = tuple(DEFAULT_LOSS_WEIGHTS)
    DEFAULTS = {
        "paper": {
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
                "discriminator_preset": "paper",
            },
        },
        "tiny": {
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
                "discriminator_preset": "tiny",
            },
        },
    }

    def __init__(self, generator, config, vgg=None, discriminators=None, **kwargs):
        super().__init__(generator, config, vgg=vgg, **kwargs)
        self.discriminators = discriminators
        self.loss_weights = dict(self.DEFAULT_LOSS_WEIGHTS, **self.options.get("loss_weights", {}))

    @classmethod
    def create(cls, generator, config, vgg=None):
        preset = config.options.get("discriminator_preset", config.preset)
        discriminators = {
            stage: registry.build_discriminator("cascade", preset, stage=stage)
            for stage in (1, 2)
        }
        return cls(generator, config, vgg=vgg, discriminators=discriminators)

    def active_loss_names(self):
        if self.vgg is None:
            return tuple(name for name in self.loss_names if name != "feature")
        return self.loss_names

    def build_optimizers(self):
        # One generator and one discriminator optimizer per stage: stage 2 starts fresh.
        optimizers = {}
        for stage in (1, 2):
            optimizers[f"generator_optimizer_{stage}"] = self.make_optimizer(
                self.train_config.learning_rate, name=f"generator_adam_{stage}")
            optimizers[f"discriminator_optimizer_{stage}"] = self.make_optimizer(
                self.train_config.d_learning_rate, name=f"discriminator_adam_{stage}")
        return optimizers

    def optimizer_targets(self):
        targets = {}
        for stage in (1, 2):
            targets[f"generator_optimizer_{stage}"] = self.generator.trainable_variables
            targets[f"discriminator_optimizer_{stage}"] = (
                self.discriminators[stage].trainable_variables)
        return targets

    def checkpoint_objects(self):
        objects = {"generator": self.generator, **self.optimizers}
        for stage, discriminator in self.discriminators.items():
            objects[f"discriminator_{stage}"] = discriminator
        return objects

    def segment_data_overrides(self, segment):
        if segment == 2:
            return {"masks": self.options.get("stage2_masks", "rect:0.5-1")}
        return {}

    def _generator_terms(self, images, hole_masks, discriminator, optimizer):
        """One generator update; returns its loss terms."""
        inputs = {"images": images, "masks": hole_masks}
        with tf.GradientTape() as tape:
            outputs = self.as_float32(self.generator(inputs, training=True))
            completed = outputs["inpainted"]
            terms = {
                "adversarial": losses.bce_g_loss(
                    discriminator(completed, training=True), from_logits=True),
                "reconstruction": losses.hole_normalised_l1(images, completed, hole_masks),
            }
            if self.vgg is not None:
                terms["feature"] = losses.hole_feature_loss(
                    self.vgg(completed), self.vgg(images), hole_masks, distance="mse")
            terms["total"] = tf.add_n(
                [self.loss_weights[name] * value for name, value in terms.items()])
            scaled = self.scaled_loss(terms["total"], optimizer)
        self.apply_gradients(tape, scaled, self.generator.trainable_variables, optimizer)
        return terms

    def _discriminator_terms(self, images, hole_masks, discriminator, optimizer):
        """One discriminator update; returns its loss terms."""
        inputs = {"images": images, "masks": hole_masks}
        completed = self.as_float32(self.generator(inputs, training=False))["inpainted"]
        with tf.GradientTape() as tape:
            real_logits = discriminator(images, training=True)
            fake_logits = discriminator(completed, training=True)
            terms = {
                "d_loss": losses.bce_d_loss(real_logits, fake_logits, from_logits=True),
                "d_real_prob": tf.reduce_mean(tf.sigmoid(real_logits)),
                "d_fake_prob": tf.reduce_mean(tf.sigmoid(fake_logits)),
            }
            scaled = self.scaled_loss(terms["d_loss"], optimizer)
        self.apply_gradients(tape, scaled, discriminator.trainable_variables, optimizer)
        return terms

    def step_kind(self, step_in_segment):
        g_batches = int(self.options.get("generator_batches", 10))
        d_batches = int(self.options.get("discriminator_batches", 5))
        position = step_in_segment % (g_batches + d_batches)
        return "generator" if position < g_batches else "discriminator"

    def train_step(self, data):
        images, hole_masks = data["images"], data["masks"]
        stage = self.segment
        discriminator = self.discriminators[stage]
        if self.kind == "discriminator":
            optimizer = self.optimizers[f"discriminator_optimizer_{stage}"]
            terms = self._discriminator_terms(images, hole_masks, discriminator, optimizer)
        else:
            optimizer = self.optimizers[f"generator_optimizer_{stage}"]
            terms = self._generator_terms(images, hole_masks, discriminator, optimizer)
        return self.update_trackers(terms)
