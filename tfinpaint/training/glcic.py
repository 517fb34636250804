"""GLCIC training (Iizuka et al., SIGGRAPH 2017, section 3.3): three phases.

Phase 1 trains the completion network alone with the MSE over the hole (seed 001: over the
whole image, `mse_region="image"`). Phase 2 trains the context discriminator alone with binary
cross-entropy, real images against completed ones. Phase 3 trains both: the discriminator as in
phase 2 and the completion network with `mse_weight * MSE + adv_weight * BCE(D(completed),
real)` (Iizuka: 1 and alpha = 0.0004; seed 001's best MSE:ADV = 10:1). Phase lengths come from
`--schedule=completion:TC,discriminator:TD,joint` (phase 3 runs to `--steps`) or
`--schedule=a,b,c` in fractions (aliases `--phase_steps=TC,TD`, `--phase_fractions=a,b,c`); the
paper preset is T_C = 90k, T_D = 10k of 500k (fractions 0.18, 0.02, 0.8), seed 001's best 0.2,
0.5, 0.3.

Where the paper and the reference reimplementation (GLCIC-PyTorch, `train.py`) differ, the
`paper` preset follows the reference and the other reading stays an option:
- MSE normalisation (`mse_normalisation`): the paper's eq. 1 is a sum; the reference takes the
  mean of the masked squared error over all B*H*W*C elements ("all_elements", the paper
  preset). "hole" divides by the hole elements instead, which with 96-128 px holes in 256 px
  images makes the MSE about 5x larger and alpha = 0.0004 about 5x weaker.
- Discriminator loss scale (`d_loss_alpha_scale`): the reference multiplies the phase-3
  discriminator loss by alpha (`adv_weight`); on in the paper preset, off elsewhere (the
  paper's eq. 2 has no such factor). Phase 2 is never scaled, as in the reference.
Followed without an option: the real images' local crop is an independent random box of the
local crop size (the paper, section 3.3, and the reference), not the fake's hole box, so the
local discriminator cannot tell real from fake by where the crop sits. The reference draws one
box per batch; we draw one per sample, uniformly over the positions inside the image, with
`tf.random` in the step (a fresh draw every step, seeded by `keras.utils.set_random_seed`). The
completion network runs in training mode in phase 2 as in the reference: BatchNorm normalises
with batch statistics and updates its moving statistics (its trainable weights do not change).
Not followed: the reference also halves both losses (`(fake + real) / 2` and `(mse + alpha *
adv) / 2`); the paper has no such factor and our default optimizer, Adadelta, is almost
insensitive to a constant loss scale.

The discriminator is not called in phase 1. Each network keeps its own optimizer across phases
(Adadelta as in the paper, the release's Torch defaults rho 0.9 and epsilon 1e-6 at rate 1;
`optimizer="adam"` as an option). The mean pixel that fills the holes is measured on the
training data before the run starts, unless the preset's generator table or
`--generator_config` sets `mean_pixel` (the `seed001` preset sets (0, 0, 0): seed 001 fills the
holes with black), and saved with the generator's config.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfinpaint import losses
from tfinpaint.data import pipeline
from tfinpaint.models import registry
from tfinpaint.training.config import Segment
from tfinpaint.training.trainer import InpaintingTrainer, TrainerOptions

_GENERATOR_TERMS = ("total", "mse", "adversarial")
_DISCRIMINATOR_TERMS = ("d_loss", "d_real_prob", "d_fake_prob", "d_pair_accuracy")


@dataclasses.dataclass
class GLCICOptions(TrainerOptions):
    """GLCIC training options.

    Attributes:
        optimizer: str. "adadelta" (the paper's) or "adam".
        mse_region: str. "hole" (the paper's) or "image" (seed 001's).
        mse_normalisation: str. "all_elements" (GLCIC-PyTorch: the masked squared error's mean
            over all elements, the paper preset) or "hole" (divided by the hole elements; only
            with `mse_region="hole"`). See `losses.glcic_completion_mse`.
        mse_weight: float. Weight of the MSE term in phase 3.
        adv_weight: float. Weight of the adversarial term in phase 3 (the paper's alpha).
        d_loss_alpha_scale: bool. Multiply the phase-3 discriminator loss by `adv_weight`, as
            GLCIC-PyTorch does (on in the paper preset).
        local_size: int or None. Side of the local discriminator's crop; None scales the
            discriminator preset's to the training image size.
        discriminator_overrides: dict. `GLCICDiscriminator` arguments replacing the preset's.
        mean_pixel_images: int. How many training images the mean pixel is measured on.
        augment: str or None. Data augmentation of every phase beyond the pipeline's random
            left-right flip (`build_dataset(augment=...)`, e.g. "channels": each crop's RGB
            channels in a random order; "rot90": each crop turned by a random multiple of 90
            degrees). None (the paper's): none.
    """

    optimizer: str = "adadelta"
    mse_region: str = "hole"
    mse_normalisation: str = "all_elements"
    mse_weight: float = 1.0
    adv_weight: float = 0.0004
    d_loss_alpha_scale: bool = False
    local_size: int | None = None
    discriminator_overrides: dict = dataclasses.field(default_factory=dict)
    mean_pixel_images: int = 256
    augment: str | None = None

    def __post_init__(self):
        if self.mse_region not in ("hole", "image"):
            raise ValueError(
                f"GLCIC option mse_region must be 'hole' or 'image', got {self.mse_region!r}."
            )
        if self.mse_normalisation not in ("all_elements", "hole"):
            raise ValueError(
                "GLCIC option mse_normalisation must be 'all_elements' or 'hole', got "
                f"{self.mse_normalisation!r}."
            )
        if self.mse_region == "image" and self.mse_normalisation == "hole":
            raise ValueError(
                "GLCIC options mse_region='image' and mse_normalisation='hole' do not combine "
                "(the whole-image MSE is a mean over all elements): set mse_normalisation to "
                "'all_elements'."
            )


class GLCICTrainer(InpaintingTrainer):
    """Trains the completion network and the global+local discriminator in three phases.

    Options: `GLCICOptions`.
    """

    segment_kind = "phase"
    # One step kind per phase: what a phase trains is `self.segment` (see `train_step`).
    schedule = (
        Segment("completion", ((None, 1),), 0.18),
        Segment("discriminator", ((None, 1),), 0.02),
        Segment("joint", ((None, 1),), 0.8),
    )
    loss_names = _GENERATOR_TERMS + _DISCRIMINATOR_TERMS
    DATA_OPTIONS = ("augment",)
    Options = GLCICOptions

    @classmethod
    def finalize_config(cls, config):
        """Measures the training data's mean pixel when the generator config lacks one.

        A `mean_pixel` in the preset's generator table (seed001's black fill) or in the
        generator overrides is kept as it is.
        """
        preset_generator = registry.get_preset(config.model, config.preset)["generator"]
        if "mean_pixel" in config.generator_overrides or "mean_pixel" in preset_generator:
            return config
        count = cls.family_options(config).mean_pixel_images
        dataset = pipeline.build_dataset(
            config.data,
            config.image_size,
            16,
            masks="rect",
            training=False,
            seed=0,
            data_dir=config.data_dir,
            split=config.split,
        )
        total, seen = np.zeros(3, np.float64), 0
        for batch in dataset:
            images = batch["images"].numpy()
            total += images.reshape(-1, 3).mean(axis=0) * len(images)
            seen += len(images)
            if seen >= count:
                break
        mean_pixel = [round(float(v), 6) for v in total / max(seen, 1)]
        logging.info("Mean pixel of %d training images: %s", seen, mean_pixel)
        overrides = dict(config.generator_overrides, mean_pixel=mean_pixel)
        return config.replace(generator_overrides=overrides)

    @classmethod
    def discriminator_overrides(cls, config):
        """The discriminator at the run's image size, its local crop scaled to match."""
        options = cls.family_options(config)
        preset = registry.get_preset(config.model, cls.discriminator_preset(config))
        preset_config = preset["discriminators"]["global_local"]
        overrides = dict(options.discriminator_overrides)
        overrides.setdefault("image_size", config.image_size)
        local_size = options.local_size or round(
            preset_config["local_size"] * config.image_size / preset_config["image_size"]
        )
        overrides.setdefault("local_size", local_size)
        return {"global_local": overrides}

    def build_optimizers(self):
        return {
            "generator_optimizer": self._optimizer(self.train_config.learning_rate, "generator"),
            "discriminator_optimizer": self._optimizer(
                self.train_config.d_learning_rate, "discriminator"
            ),
        }

    def _optimizer(self, rate, name):
        kind = self.options.optimizer
        if kind == "adadelta":
            optimizer = keras.optimizers.Adadelta(
                learning_rate=rate, rho=0.9, epsilon=1e-6, name=f"{name}_adadelta"
            )
        elif kind == "adam":
            optimizer = keras.optimizers.Adam(learning_rate=rate, name=f"{name}_adam")
        else:
            raise ValueError(f"GLCIC option optimizer must be adadelta or adam, got '{kind}'.")
        return self.wrap_optimizer(optimizer)

    def discriminator_steps(self):
        # Phase 2 trains the discriminator alone (phase 3 trains both in one step).
        return ((2, None),)

    def optimizer_targets(self):
        return {
            "generator_optimizer": self.generator.trainable_variables,
            "discriminator_optimizer": self.discriminators["global_local"].trainable_variables,
        }

    def _discriminate(self, images, boxes):
        discriminator = self.discriminators["global_local"]
        return discriminator({"images": images, "boxes": boxes}, training=True)["logits"]

    def random_local_boxes(self, batch_size):
        """Independent random boxes of the local crop size, one per sample, for real images.

        Each top-left corner is uniform over the positions that keep the box inside the image.
        A box of exactly the crop size makes the discriminator's crop (centred on the given
        box, see `local_crop_boxes`) that box itself.

        Args:
            batch_size: int or scalar int tensor.

        Returns:
            int32 tensor (batch_size, 4) `[y0, x0, y0 + local_size, x0 + local_size]`.
        """
        discriminator = self.discriminators["global_local"]
        size, local = discriminator.image_size, discriminator.local_size
        corners = tf.random.uniform((batch_size, 2), 0, size - local + 1, dtype=tf.int32)
        return tf.concat([corners, corners + local], axis=1)

    def _mse(self, images, raw, hole_masks):
        return losses.glcic_completion_mse(
            images,
            raw,
            hole_masks,
            region=self.options.mse_region,
            normalisation=self.options.mse_normalisation,
        )

    def train_step(self, data):
        images, hole_masks, boxes = data["images"], data["masks"], data["boxes"]
        inputs = {"images": images, "masks": hole_masks}
        g_optimizer = self.optimizers["generator_optimizer"]
        d_optimizer = self.optimizers["discriminator_optimizer"]
        g_variables = self.generator.trainable_variables
        d_variables = self.discriminators["global_local"].trainable_variables

        def discriminate(batch):
            return self._discriminate(batch, boxes)

        def discriminate_real(batch):
            # Real images are cropped at their own random box (see the module docstring).
            return self._discriminate(batch, self.random_local_boxes(tf.shape(batch)[0]))

        if self.segment == 2:
            # Training mode as in the reference: batch statistics, moving statistics updated.
            outputs = self.as_float32(self.generator(inputs, training=True))
            terms = self.discriminator_step(
                discriminate,
                images,
                outputs["inpainted"],
                d_optimizer,
                d_variables,
                discriminate_real=discriminate_real,
            )
            return self.update_trackers(terms)
        terms = {}
        with tf.GradientTape() as tape:
            outputs = self.as_float32(self.generator(inputs, training=True))
            terms["mse"] = self._mse(images, outputs["raw"], hole_masks)
            terms["total"] = terms["mse"]
            if self.segment == 3:
                # The discriminator is updated first, then the completion network against it
                # (the order of GLCIC-PyTorch's phase 3).
                completed = outputs["inpainted"]
                d_scale = self.options.adv_weight if self.options.d_loss_alpha_scale else 1.0
                terms.update(
                    self.discriminator_step(
                        discriminate,
                        images,
                        completed,
                        d_optimizer,
                        d_variables,
                        scale=d_scale,
                        discriminate_real=discriminate_real,
                    )
                )
                terms["adversarial"] = losses.bce_g_loss(discriminate(completed), from_logits=True)
                terms["total"] = (
                    self.options.mse_weight * terms["mse"]
                    + self.options.adv_weight * terms["adversarial"]
                )
            scaled = self.scaled_loss(terms["total"], g_optimizer)
        self.apply_gradients(tape, scaled, g_variables, g_optimizer)
        return self.update_trackers(terms)
