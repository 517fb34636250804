"""GLCIC training (Iizuka et al., SIGGRAPH 2017, section 3.3): three phases.

Phase 1 trains the completion network alone with the MSE over the hole (seed 001: over the
whole image, `mse_region="image"`). Phase 2 trains the context discriminator alone with binary
cross-entropy, real images against completed ones. Phase 3 trains both: the discriminator as in
phase 2 and the completion network with `mse_weight * MSE + adv_weight * BCE(D(completed),
real)` (Iizuka: 1 and alpha = 0.0004; seed 001's best MSE:ADV = 10:1). Phase lengths come from
`--phase_steps=TC,TD` (phase 3 runs to `--steps`) or `--phase_fractions=a,b,c`; the paper preset
is T_C = 90k, T_D = 10k of 500k (fractions 0.18, 0.02, 0.8), seed 001's best 0.2, 0.5, 0.3.

A network that a phase does not train is not touched: the completion network runs in inference
mode in phase 2 (its BatchNorm statistics stay put) and the discriminator is not called in
phase 1. Each network keeps its own optimizer across phases (Adadelta as in the paper, the
release's Torch defaults rho 0.9 and epsilon 1e-6 at rate 1; `optimizer="adam"` as an option).
The mean pixel that fills the holes is measured on the training data before the run starts
(unless given in `--generator_config`) and saved with the generator's config.
"""

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfinpaint import losses
from tfinpaint.data import pipeline
from tfinpaint.models import glcic, registry
from tfinpaint.training.trainer import InpaintingTrainer

_GENERATOR_TERMS = ("total", "mse", "adversarial")
_DISCRIMINATOR_TERMS = ("d_loss", "d_real_prob", "d_fake_prob")


class GLCICTrainer(InpaintingTrainer):
    """Trains the completion network and the global+local discriminator in three phases.

    Options (`TrainConfig.options`): `optimizer` ("adadelta" or "adam"), `mse_region` ("hole"
    or "image"), `mse_weight`, `adv_weight`, `local_size` (the local crop side; scaled from the
    discriminator preset when the image size differs), `discriminator_preset`,
    `discriminator_overrides` (dict), `mean_pixel_images` (how many images the mean pixel is
    measured on). `OPTIONS` lists them; other keys are refused before training starts.
    """

    OPTIONS = {
        "optimizer": "Optimizer of both networks: 'adadelta' (the paper) or 'adam'.",
        "mse_region": "Where the MSE is taken: 'hole' (the paper) or 'image' (seed 001).",
        "mse_weight": "Weight of the MSE term in phase 3.",
        "adv_weight": "Weight of the adversarial BCE term in phase 3 (paper: 0.0004).",
        "local_size": "Side of the local discriminator's crop in px (default: scaled preset).",
        "discriminator_preset": "Preset of the global+local discriminator.",
        "discriminator_overrides": "Dict of discriminator constructor overrides.",
        "mean_pixel_images": "How many training images the mean pixel is measured on.",
    }

    segment_kind = "phase"
    num_segments = 3
    default_segment_fractions = (0.18, 0.02, 0.8)
    loss_names = _GENERATOR_TERMS + _DISCRIMINATOR_TERMS
    DEFAULTS = {
        "paper": {
            "image_size": 256,
            "batch_size": 96,
            "steps": 500_000,
            "masks": "rect:96-128",
            "resize_short_side": [256, 384],
            "learning_rate": 1.0,
            "d_learning_rate": 1.0,
            "phase_fractions": [0.18, 0.02, 0.8],
            "log_every": 500,
            "checkpoint_every": 5000,
            "val_batch_size": 8,
            "options": {
                "optimizer": "adadelta",
                "mse_region": "hole",
                "mse_weight": 1.0,
                "adv_weight": 0.0004,
                "discriminator_preset": "paper",
                "mean_pixel_images": 256,
            },
        },
        # Seed 001: 64 px images, (20-25)-pixel holes, 28 px local crops, whole-image MSE, the
        # best phase split 0.2/0.5/0.3 and MSE:ADV = 10:1. Its base batch size is not stated
        # (256 was a variant it tried): 64 is our choice.
        "seed001": {
            "image_size": 64,
            "batch_size": 64,
            "steps": 50_000,
            "masks": "rect:20-25",
            "learning_rate": 1.0,
            "d_learning_rate": 1.0,
            "phase_fractions": [0.2, 0.5, 0.3],
            "log_every": 200,
            "checkpoint_every": 2000,
            "val_batch_size": 8,
            "options": {
                "optimizer": "adadelta",
                "mse_region": "image",
                "mse_weight": 10.0,
                "adv_weight": 1.0,
                "discriminator_preset": "seed001",
                "mean_pixel_images": 256,
            },
        },
        "tiny": {
            "image_size": 64,
            "batch_size": 4,
            "steps": 90,
            "masks": "rect:16-28",
            "learning_rate": 1e-3,
            "d_learning_rate": 1e-4,
            "phase_fractions": [0.4, 0.2, 0.4],
            "log_every": 10,
            "checkpoint_every": 30,
            "val_batch_size": 4,
            "options": {
                "optimizer": "adam",
                "mse_region": "hole",
                "mse_weight": 1.0,
                "adv_weight": 0.01,
                "discriminator_preset": "tiny",
                "mean_pixel_images": 32,
            },
        },
    }

    @classmethod
    def finalize_config(cls, config):
        """Measures the training data's mean pixel when the generator config lacks one."""
        if "mean_pixel" in config.generator_overrides:
            return config
        count = int(config.options.get("mean_pixel_images", 256))
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
        return type(config).from_dict(dict(config.to_dict(), generator_overrides=overrides))

    @classmethod
    def create(cls, generator, config, vgg=None):
        options = config.options
        preset = options.get("discriminator_preset", config.preset)
        preset_config = _discriminator_preset(preset)
        overrides = dict(options.get("discriminator_overrides", {}))
        overrides.setdefault("image_size", config.image_size)
        local_size = options.get("local_size") or round(
            preset_config["local_size"] * config.image_size / preset_config["image_size"]
        )
        overrides.setdefault("local_size", local_size)
        discriminator = registry.build_discriminator("glcic", preset, **overrides)
        return cls(generator, config, vgg=vgg, discriminator=discriminator)

    def build_optimizers(self):
        return {
            "generator_optimizer": self._optimizer(self.train_config.learning_rate, "generator"),
            "discriminator_optimizer": self._optimizer(
                self.train_config.d_learning_rate, "discriminator"
            ),
        }

    def _optimizer(self, rate, name):
        kind = self.options.get("optimizer", "adadelta")
        if kind == "adadelta":
            optimizer = keras.optimizers.Adadelta(
                learning_rate=rate, rho=0.9, epsilon=1e-6, name=f"{name}_adadelta"
            )
        elif kind == "adam":
            optimizer = keras.optimizers.Adam(learning_rate=rate, name=f"{name}_adam")
        else:
            raise ValueError(f"GLCIC option optimizer must be adadelta or adam, got '{kind}'.")
        return self.wrap_optimizer(optimizer)

    def optimizer_targets(self):
        return {
            "generator_optimizer": self.generator.trainable_variables,
            "discriminator_optimizer": self.discriminator.trainable_variables,
        }

    def _discriminate(self, images, boxes):
        return self.discriminator({"images": images, "boxes": boxes}, training=True)["logits"]

    def _mse(self, images, raw, hole_masks):
        return losses.masked_mse(
            images, raw, hole_masks, region=self.options.get("mse_region", "hole")
        )

    def _discriminator_terms(self, images, completed, boxes):
        real_logits = self._discriminate(images, boxes)
        fake_logits = self._discriminate(tf.stop_gradient(completed), boxes)
        return {
            "d_loss": losses.bce_d_loss(real_logits, fake_logits, from_logits=True),
            "d_real_prob": tf.reduce_mean(tf.sigmoid(real_logits)),
            "d_fake_prob": tf.reduce_mean(tf.sigmoid(fake_logits)),
        }

    def train_step(self, data):
        images, hole_masks, boxes = data["images"], data["masks"], data["boxes"]
        inputs = {"images": images, "masks": hole_masks}
        g_optimizer = self.optimizers["generator_optimizer"]
        d_optimizer = self.optimizers["discriminator_optimizer"]
        g_variables = self.generator.trainable_variables
        d_variables = self.discriminator.trainable_variables
        terms = {}

        if self.segment == 1:
            with tf.GradientTape() as tape:
                outputs = self.as_float32(self.generator(inputs, training=True))
                terms["mse"] = self._mse(images, outputs["raw"], hole_masks)
                terms["total"] = terms["mse"]
                scaled = self.scaled_loss(terms["total"], g_optimizer)
            self.apply_gradients(tape, scaled, g_variables, g_optimizer)
        elif self.segment == 2:
            outputs = self.as_float32(self.generator(inputs, training=False))
            with tf.GradientTape() as tape:
                terms.update(self._discriminator_terms(images, outputs["inpainted"], boxes))
                scaled = self.scaled_loss(terms["d_loss"], d_optimizer)
            self.apply_gradients(tape, scaled, d_variables, d_optimizer)
        else:
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                outputs = self.as_float32(self.generator(inputs, training=True))
                completed = outputs["inpainted"]
                terms.update(self._discriminator_terms(images, completed, boxes))
                d_scaled = self.scaled_loss(terms["d_loss"], d_optimizer)
                terms["mse"] = self._mse(images, outputs["raw"], hole_masks)
                terms["adversarial"] = losses.bce_g_loss(
                    self._discriminate(completed, boxes), from_logits=True
                )
                terms["total"] = (
                    self.options.get("mse_weight", 1.0) * terms["mse"]
                    + self.options.get("adv_weight", 0.0004) * terms["adversarial"]
                )
                g_scaled = self.scaled_loss(terms["total"], g_optimizer)
            self.apply_gradients(d_tape, d_scaled, d_variables, d_optimizer)
            self.apply_gradients(g_tape, g_scaled, g_variables, g_optimizer)
        return self.update_trackers(terms)


def _discriminator_preset(preset):
    if preset not in glcic.DISCRIMINATOR_PRESETS:
        raise ValueError(
            f"Unknown GLCIC discriminator preset '{preset}': expected one of "
            f"{', '.join(sorted(glcic.DISCRIMINATOR_PRESETS))}."
        )
    return glcic.DISCRIMINATOR_PRESETS[preset]
