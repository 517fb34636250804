"""GAIN training (Zhang et al., ACM MM 2019; SPEC.md section 5).

One stage in which generator and discriminator steps alternate (1 : `discriminator_steps`, 1
by default, as DeepFill v2's hinge GAN trains; our choice). The batches carry the dataset's
`gradients` (Sobel x, y of the grayscale ground truth, `with_gradients=True`). The training
masks (the presets' free-form strokes, `--masks=freeform`) are our choice: the paper (seed 004's
summary) is about irregular holes but names no training masks. `--steps` counts generator and
critic steps alike, so the paper preset's 10^6 steps at 1 : 1 are 5 x 10^5 generator updates
(see the preset's comment in `tfinpaint/models/gain.py`).

Generator loss (weights `loss_weights`; SPEC.md's "L1(image) + L1(gradient) + lambda x
(hinge_G(D_I) + hinge_G(D_S))"):
- `l1_image`: mean |raw - image| over every element (x 1);
- `l1_gradient`: mean |predicted gradient map - Sobel map of the ground truth| (x 1);
  with the option `hole_weight` h (1, the paper's plain L1) each is `losses.weighted_l1`,
  `h x hole_l1 + valid_l1` (PConv's normalisation: both over every element), the gradient
  map's hole being the image's dilated by 1 (the pixels whose Sobel stencil reaches into it);
- `adversarial_image` + `adversarial_gradient`: hinge `-mean(D(fake))` of the two critics,
  together x lambda = 0.01 (our choice).
An adversarial weight of 0 (`--options='{"loss_weights": {"adversarial": 0}}'`, a
reconstruction-only run, e.g. to pre-train the generator before the GAN) runs generator steps
only: the critics are neither called nor trained, and the logs leave their terms out.
The critics score completed inputs, as DeepFill v2's does: the image critic `inpainted`, the
gradient critic the predicted map inside the gradient hole (the hole dilated by 1, where the
known pixels do not determine the Sobel map) and the ground truth's map outside it (which the
known pixels determine); each with the hole mask beside it.

Discriminator loss, per critic: hinge `mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))` plus
`gradient_penalty_weight` (10, our choice) x the WGAN-GP penalty `mean((||grad_x D(x_hat)|| -
1)^2)` (Gulrajani et al. 2017; as DeepFill v1 penalises) on `x_hat = e real + (1 - e) fake`, the
norm over the whole image (or map) of each sample, e ~ U[0, 1) per sample. The critic sees real,
fake and interpolated batches in one call (one spectral-norm update per step). The penalty's
inner tape sits inside the update's tape; under a distribution strategy each replica draws its
samples' e from a stateless generator seeded by the step and the sample's global index, so a
replicated step equals a single-device one.

Optimisers: Adam 1e-4 for the generator and both critics (the paper's rate), betas (0.5, 0.999)
as DeepFill v2 (our choice; `beta_1`).
"""

import dataclasses

import tensorflow as tf
from keras import ops

from tfinpaint import losses
from tfinpaint.layers.gradient import dilate_hole_mask
from tfinpaint.models.base import blend
from tfinpaint.training.config import Segment
from tfinpaint.training.trainer import InpaintingTrainer, TrainerOptions, pair_accuracy

CRITICS = ("image", "gradient")
_GENERATOR_TERMS = (
    "total",
    "l1_image",
    "l1_gradient",
    "adversarial_image",
    "adversarial_gradient",
)
_DISCRIMINATOR_TERMS = (
    "d_loss",
    "d_loss_image",
    "d_loss_gradient",
    "penalty_image",
    "penalty_gradient",
    "d_real_logit",
    "d_fake_logit",
    "d_pair_accuracy",
)


@dataclasses.dataclass
class GAINOptions(TrainerOptions):
    """GAIN training options.

    Attributes:
        loss_weights: dict or None. Overrides of the generator loss weights ("l1_image",
            "l1_gradient", "adversarial"; 1, 1 and 0.01, the last our choice). An adversarial
            weight of 0 trains the generator alone (no critic steps).
        gradient_penalty_weight: float. Weight of each critic's WGAN-GP penalty (10, our
            choice; 0 switches it off).
        discriminator_steps: int. Critic steps after each generator step (1, our choice).
        beta_1: float. Adam's beta_1 for every network (0.5, DeepFill v2's; our choice).
        hole_weight: float. Weight of the hole's elements in both L1 terms, the known ones
            weighing 1 (1, the paper's: a plain L1; e.g. 5, DeepGIN's hole : valid, puts the
            reconstruction on the hole).
        augment: str or None. Data augmentation beyond the pipeline's random left-right flip
            (`build_dataset(augment=...)`, e.g. "channels": each crop's RGB channels in a random
            order). The batch's Sobel `gradients` are taken from the augmented crop. None (the
            paper's): none.
    """

    loss_weights: dict | None = None
    gradient_penalty_weight: float = 10.0
    discriminator_steps: int = 1
    beta_1: float = 0.5
    hole_weight: float = 1.0
    augment: str | None = None

    def __post_init__(self):
        # Values are checked with the types, before any work (`TrainerOptions.parse`).
        if self.discriminator_steps < 1:
            raise ValueError(
                f"The gain option discriminator_steps takes an int >= 1, got "
                f"{self.discriminator_steps}."
            )
        if not self.gradient_penalty_weight >= 0.0:
            raise ValueError(
                f"The gain option gradient_penalty_weight takes a float >= 0, got "
                f"{self.gradient_penalty_weight}."
            )
        if not self.hole_weight > 0.0:
            raise ValueError(
                f"The gain option hole_weight takes a float > 0, got {self.hole_weight}."
            )
        if not 0.0 <= self.beta_1 < 1.0:
            raise ValueError(f"The gain option beta_1 takes a float in [0, 1), got {self.beta_1}.")


def gradient_penalty(discriminate, real, fake, hole_masks, weights):
    """Critic logits on `real` and `fake` and the WGAN-GP penalty on their interpolation.

    Args:
        discriminate: callable (samples, hole_masks) -> logits; called once, on the 3B samples
            concat(real, fake, x_hat) along the batch.
        real, fake: tensors (B, H, W, C). What the critic scores (the mask goes beside it).
        hole_masks: tensor (B, H, W, 1), 1 = hole.
        weights: tensor (B, 1, 1, 1). The interpolation weight e of each sample.

    Returns:
        Tuple `(real_logits, fake_logits, penalty)`: the logits (B, ...) and the scalar
        `mean_b((||d s(x_hat_b) / d x_hat_b||_2 - 1)^2)`, the norm over x_hat_b's elements,
        where s is the critic's **mean** patch score, the quantity the hinge loss averages.

    Why the mean (issue 14, our choice): DeepFill's `gradients_penalty` differentiates the
    critic's output with `tf.gradients`, i.e. its sum. With a dense critic (one score per
    sample, DeepFill v1) that is the score; with a patch critic the sum of h x w x C patch
    scores is held to slope 1, so every patch score is held to ~1/(h w C) of it, while the
    hinge loss wants scores near +-1: trained alone on real images against blurred fills, the
    tiny preset's critics stayed at chance (mean score gap 0.002 after 400 steps, the penalty
    term 5-60 x the hinge's). Differentiating the mean puts the penalty on the loss's scale.
    """
    interpolated = weights * real + (1.0 - weights) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        samples = tf.concat([real, fake, interpolated], axis=0)  # (3B, H, W, C)
        logits = discriminate(samples, tf.tile(hole_masks, [3, 1, 1, 1]))
        real_logits, fake_logits, interpolated_logits = tf.split(
            tf.cast(logits, tf.float32), 3, axis=0
        )
        # Each sample's mean patch score; samples are independent, so the gradient of their
        # sum holds each sample's own gradient.
        scores = tf.reduce_mean(interpolated_logits, axis=list(range(1, logits.shape.rank)))
        score = tf.reduce_sum(scores)
    slopes = tape.gradient(score, interpolated)
    norms = tf.sqrt(tf.reduce_sum(tf.square(slopes), axis=[1, 2, 3]) + 1e-12)
    return real_logits, fake_logits, tf.reduce_mean(tf.square(norms - 1.0))


def interpolation_weights(batch_size, step, stream):
    """The WGAN-GP interpolation weight e ~ U[0, 1) of each sample of this replica.

    Drawn for the global batch from a stateless generator seeded by `step` and `stream`, and
    picked by the samples' global indices (replica i holds samples i * B ... i * B + B - 1, as
    a distributed dataset splits an even global batch), so that a sample gets the same e on any
    number of replicas.

    Args:
        batch_size: int or scalar int tensor. The replica's batch size B.
        step: int or scalar int tensor. The critics' step (their optimizer's `iterations`).
        stream: int. Separates the critics' draws.

    Returns:
        float32 tensor (B, 1, 1, 1).
    """
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    batch_size = tf.cast(batch_size, tf.int32)
    seed = tf.stack([tf.cast(step, tf.int32), tf.constant(stream, tf.int32)])
    draws = tf.random.stateless_uniform(tf.reshape(batch_size * replicas, [1]), seed=seed)
    first = tf.cast(replica, tf.int32) * batch_size
    return tf.reshape(draws[first : first + batch_size], [-1, 1, 1, 1])


class GAINTrainer(InpaintingTrainer):
    """Trains GAIN's generator against an image critic and a gradient-map critic (hinge GAN
    with gradient penalty).

    Discriminators (`tfinpaint.models.build_discriminators("gain", ...)`): `image` and
    `gradient` (`GAINDiscriminator`, SN-PatchGAN). Options: `GAINOptions`.
    """

    segment_kind = None
    # One generator step, then `discriminator_steps` critic steps (each updates both critics).
    schedule = (
        Segment("train", (("generator", 1), ("discriminator", "discriminator_steps")), 1.0),
    )
    adversarial_optional = True
    with_gradients = True
    loss_names = _GENERATOR_TERMS + _DISCRIMINATOR_TERMS
    DATA_OPTIONS = ("augment",)
    Options = GAINOptions
    DEFAULT_LOSS_WEIGHTS = {"l1_image": 1.0, "l1_gradient": 1.0, "adversarial": 0.01}
    # As for the cascade and DeepGIN models: grappler's remapper fuses the critics' Conv2D +
    # BiasAdd + LeakyRelu although the gradient still reads the fused-away BiasAdd.
    grappler_options = {"remapping": False}

    def build_optimizers(self):
        def adam(rate, name):
            return self.make_optimizer(rate, name=name, beta_1=self.options.beta_1, beta_2=0.999)

        optimizers = {"generator_optimizer": adam(self.train_config.learning_rate, "generator")}
        for critic in CRITICS:
            optimizers[f"discriminator_optimizer_{critic}"] = adam(
                self.train_config.d_learning_rate, f"discriminator_{critic}"
            )
        return optimizers

    def optimizer_targets(self):
        targets = {"generator_optimizer": self.generator.trainable_variables}
        for critic in CRITICS:
            targets[f"discriminator_optimizer_{critic}"] = self.discriminators[
                critic
            ].trainable_variables
        return targets

    def _discriminate(self, critic):
        discriminator = self.discriminators[critic]

        def call(samples, hole_masks):
            return discriminator(ops.concatenate([samples, hole_masks], axis=-1), training=True)

        return call

    @staticmethod
    def completed_gradients(predicted, target, hole_masks):
        """The predicted gradient map inside the gradient hole (the hole dilated by 1), the
        ground truth's outside it: what the gradient critic scores."""
        return blend(predicted, target, dilate_hole_mask(hole_masks))

    def generator_terms(self, images, gradients, hole_masks, outputs):
        """The generator's loss terms and their weighted `total`."""
        w, hole_weight = self.loss_weights, self.options.hole_weight
        terms = {
            "l1_image": losses.weighted_l1(outputs["raw"], images, hole_masks, hole_weight),
            "l1_gradient": losses.weighted_l1(
                outputs["gradients"], gradients, dilate_hole_mask(hole_masks), hole_weight
            ),
        }
        total = w["l1_image"] * terms["l1_image"] + w["l1_gradient"] * terms["l1_gradient"]
        if self.adversarial:
            completed = self.completed_gradients(outputs["gradients"], gradients, hole_masks)
            terms["adversarial_image"] = losses.hinge_g_loss(
                tf.cast(self._discriminate("image")(outputs["inpainted"], hole_masks), tf.float32)
            )
            terms["adversarial_gradient"] = losses.hinge_g_loss(
                tf.cast(self._discriminate("gradient")(completed, hole_masks), tf.float32)
            )
            total += w["adversarial"] * (terms["adversarial_image"] + terms["adversarial_gradient"])
        terms["total"] = total
        return terms

    def discriminator_terms(self, critic, real, fake, hole_masks, stream):
        """One critic update: hinge loss plus the weighted penalty; its terms."""
        optimizer = self.optimizers[f"discriminator_optimizer_{critic}"]
        variables = self.discriminators[critic].trainable_variables
        step = self.optimizers["discriminator_optimizer_image"].iterations
        weights = interpolation_weights(tf.shape(real)[0], step, stream)
        with tf.GradientTape() as tape:
            real_logits, fake_logits, penalty = gradient_penalty(
                self._discriminate(critic), real, tf.stop_gradient(fake), hole_masks, weights
            )
            loss = (
                losses.hinge_d_loss(real_logits, fake_logits)
                + self.options.gradient_penalty_weight * penalty
            )
            scaled = self.scaled_loss(loss, optimizer)
        self.apply_gradients(tape, scaled, variables, optimizer)
        return {
            f"d_loss_{critic}": loss,
            f"penalty_{critic}": penalty,
            "d_real_logit": tf.reduce_mean(real_logits),
            "d_fake_logit": tf.reduce_mean(fake_logits),
            "d_pair_accuracy": pair_accuracy(real_logits, fake_logits),
        }

    def train_step(self, data):
        images, gradients, hole_masks = data["images"], data["gradients"], data["masks"]
        inputs = {"images": images, "masks": hole_masks}
        if self.kind == "discriminator":
            outputs = self.as_float32(self.generator(inputs, training=False))
            fakes = {
                "image": outputs["inpainted"],
                "gradient": self.completed_gradients(outputs["gradients"], gradients, hole_masks),
            }
            reals = {"image": images, "gradient": gradients}
            terms = {}
            for stream, critic in enumerate(CRITICS):
                critic_terms = self.discriminator_terms(
                    critic, reals[critic], fakes[critic], hole_masks, stream
                )
                for name, value in critic_terms.items():
                    terms[name] = terms.get(name, 0.0) + value
            terms["d_loss"] = terms["d_loss_image"] + terms["d_loss_gradient"]
            # Logits and pair accuracies are logged as the mean over the two critics.
            for name in ("d_real_logit", "d_fake_logit", "d_pair_accuracy"):
                terms[name] = terms[name] / len(CRITICS)
            return self.update_trackers(terms)
        optimizer = self.optimizers["generator_optimizer"]
        with tf.GradientTape() as tape:
            outputs = self.as_float32(self.generator(inputs, training=True))
            terms = self.generator_terms(images, gradients, hole_masks, outputs)
            scaled = self.scaled_loss(terms["total"], optimizer)
        self.apply_gradients(tape, scaled, self.generator.trainable_variables, optimizer)
        return self.update_trackers(terms)
