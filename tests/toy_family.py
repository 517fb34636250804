"""A test-only model family, added the way WORKSPACE.md says a family is added.

A model module part (generator, discriminator, one preset table), a trainer part (options,
segments, step kinds, train_step) and one registry entry, all through the public API; nothing
in tfinpaint names it. `register()` adds it to the registry, `unregister()` removes it.
"""

import dataclasses

import keras
import tensorflow as tf
from keras import ops

from tfinpaint import losses
from tfinpaint.models import InpaintingGenerator, ModelFamily, registry
from tfinpaint.training.trainer import InpaintingTrainer, TrainerOptions

NAME = "toy"


# === Model module ===


class ToyGenerator(InpaintingGenerator):
    """Two stride-2 convolutions down, nearest upsampling back: sides multiple of 4."""

    def __init__(self, filters=8, **kwargs):
        inputs = InpaintingGenerator.make_inputs()
        x = ops.concatenate([inputs["images"] * (1.0 - inputs["masks"]), inputs["masks"]], -1)
        x = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", activation="relu", name="down_1"
        )(x)
        x = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", activation="relu", name="down_2"
        )(x)
        x = keras.layers.UpSampling2D(4, name="up")(x)
        raw = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid", name="out")(x)
        super().__init__(inputs, raw, **kwargs)
        self.filters = filters

    @classmethod
    def size_multiple_for(cls, config):
        del config
        return 4

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters})
        return config


class ToyDiscriminator(keras.Model):
    """One spectral-normalised convolution and a linear head: image -> (B, 1) logits."""

    def __init__(self, filters=8, **kwargs):
        images = keras.Input((None, None, 3))
        x = keras.layers.SpectralNormalization(
            keras.layers.Conv2D(filters, 4, strides=2, name="conv"), name="sn_conv"
        )(images)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.LeakyReLU()(x))
        super().__init__(images, keras.layers.Dense(1, name="logits")(x), **kwargs)
        self.filters = filters

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "filters": self.filters}


PRESETS = {
    preset: {
        "generator": {"filters": width},
        "discriminators": {"critic": {"filters": width}},
        "training": {
            "image_size": 32,
            "batch_size": 2,
            "steps": 6,
            "masks": "rect",
            "learning_rate": 1e-3,
            "d_learning_rate": 1e-3,
            "log_every": 2,
            "checkpoint_every": 2,
            "val_batch_size": 2,
            "options": {"adv_weight": 0.1},
        },
    }
    for preset, width in (("paper", 16), ("tiny", 8))
}


# === Trainer module ===


@dataclasses.dataclass
class ToyOptions(TrainerOptions):
    """Attributes: adv_weight: float. Weight of the hinge adversarial term."""

    adv_weight: float = 0.01


class ToyTrainer(InpaintingTrainer):
    """Two stages; in each, generator and critic steps alternate 1:1 (hinge loss)."""

    segment_kind = "stage"
    num_segments = 2
    default_segment_fractions = (0.5, 0.5)
    step_kinds = ("generator", "critic")
    loss_names = ("total", "l1", "adversarial", "d_loss", "d_real_logit", "d_fake_logit")
    Options = ToyOptions

    def build_optimizers(self):
        return {
            "generator_optimizer": self.make_optimizer(self.train_config.learning_rate),
            "critic_optimizer": self.make_optimizer(
                self.train_config.d_learning_rate, name="critic_adam", clip_norm=3.0
            ),
        }

    def optimizer_targets(self):
        return {
            "generator_optimizer": self.generator.trainable_variables,
            "critic_optimizer": self.discriminators["critic"].trainable_variables,
        }

    @classmethod
    def segment_data_overrides(cls, config, segment):
        return {"augment": "flip,rot90"} if segment == 2 else {}

    def step_kind(self, step_in_segment):
        return self.step_kinds[step_in_segment % 2]

    def train_step(self, data):
        images, hole_masks = data["images"], data["masks"]
        critic = self.discriminators["critic"]
        inputs = {"images": images, "masks": hole_masks}
        if self.kind == "critic":
            completed = self.as_float32(self.generator(inputs, training=False))["inpainted"]
            terms = self.discriminator_step(
                lambda batch: critic(batch, training=True),
                images,
                completed,
                self.optimizers["critic_optimizer"],
                critic.trainable_variables,
                loss="hinge",
            )
            return self.update_trackers(terms)
        optimizer = self.optimizers["generator_optimizer"]
        with tf.GradientTape() as tape:
            completed = self.as_float32(self.generator(inputs, training=True))["inpainted"]
            terms = {
                "l1": tf.reduce_mean(tf.abs(completed - images)),
                "adversarial": losses.hinge_g_loss(critic(completed, training=True)),
            }
            terms["total"] = terms["l1"] + self.options.adv_weight * terms["adversarial"]
            scaled = self.scaled_loss(terms["total"], optimizer)
        self.apply_gradients(tape, scaled, self.generator.trainable_variables, optimizer)
        return self.update_trackers(terms)


# === Registry entry ===


def register():
    registry.register_family(
        ModelFamily(
            name=NAME,
            generator="toy_family:ToyGenerator",
            presets="toy_family:PRESETS",
            trainer="toy_family:ToyTrainer",
            discriminators={"critic": "toy_family:ToyDiscriminator"},
            reference="tests/toy_family.py (test only)",
        )
    )


def unregister():
    registry.unregister_family(NAME)
