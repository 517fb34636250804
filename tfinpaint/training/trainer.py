"""The trainer every family builds on: a keras.Model whose `train_step` trains the networks.

Follows the keras-io GAN guide ("Customizing what happens in fit()"): the trainer holds the
networks and their optimizers, keeps one `keras.metrics.Mean` tracker per loss term, takes one
`tf.GradientTape` per network, and applies gradients with `optimizer.apply`. The run loop
(`tfinpaint.training.loop`) drives it with `make_train_function()`, one step at a time, so stage
and phase boundaries fall on exact steps.

Families subclass `InpaintingTrainer` and set:
- `segment_kind` ("stage", "phase" or None), `num_segments`, `default_segment_fractions`;
- `DEFAULTS`: per preset, the run settings the family trains with (image size, batch size,
  steps, masks, learning rates, logging intervals, family options);
- `loss_names`: the logged loss terms (each gets a tracker);
- `build_optimizers()`, `train_step(data)`, and where needed `start_segment(segment)`,
  `segment_data_overrides(segment)` and `checkpoint_objects()`.

The current stage/phase is Python state (`self.segment`) read when `train_step` is traced:
`start_segment` clears the compiled train function so that the next step retraces with the new
segment's networks, optimizers and frozen layers. The loop saves it in every checkpoint.
"""

import keras
import tensorflow as tf

from tfinpaint import losses


class InpaintingTrainer(keras.Model):
    """Base trainer: networks, optimizers, loss trackers and the stage/phase state.

    Args:
        generator: keras.Model. The family's generator (dict in, dict out; see DESIGN.md).
        config: TrainConfig. The resolved run configuration.
        vgg: tfinpaint.losses.VGGFeatures or None. The frozen feature extractor for perceptual
            losses, or None when they are dropped (`--vgg_weights=none`).
        discriminator: keras.Model or None.
    """

    segment_kind = None
    num_segments = 1
    default_segment_fractions = (1.0,)
    uses_vgg = False
    vgg_arch = "vgg16"
    vgg_layers = ()
    with_gradients = False
    loss_names = ("total",)
    DEFAULTS = {}

    def __init__(self, generator, config, vgg=None, discriminator=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.vgg = vgg
        self.train_config = config
        self.options = dict(config.options)
        self.segment = 1
        self.kind = None
        self.loss_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.active_loss_names()
        }
        self.optimizers = self.build_optimizers()

    # --- Hooks for families -------------------------------------------------------------

    @classmethod
    def create(cls, generator, config, vgg=None):
        """Builds the trainer and whatever else it trains (discriminators) for `config`."""
        return cls(generator, config, vgg=vgg)

    @classmethod
    def finalize_config(cls, config):
        """The run's config with anything measured from the data filled in (before training).

        The base trainer measures nothing; GLCIC measures the mean pixel here.
        """
        return config

    @classmethod
    def make_vgg(cls, weights):
        """The frozen VGG feature extractor of this family's perceptual terms."""
        return losses.VGGFeatures(arch=cls.vgg_arch, layers=cls.vgg_layers, weights=weights)

    def active_loss_names(self):
        """The loss terms this run logs (families drop VGG terms when `vgg` is None)."""
        return self.loss_names

    def build_optimizers(self):
        """Returns {name: optimizer}; built inside the strategy scope by the loop."""
        return {"generator_optimizer": self.make_optimizer(self.train_config.learning_rate)}

    def start_segment(self, segment):
        """Switches to `segment` (1-based) and forces the train function to be retraced."""
        self.segment = segment
        self.train_function = None

    def step_kind(self, step_in_segment):
        """What step `step_in_segment` (0-based, within the current segment) trains.

        Families that alternate networks step by step (the cascade model's 10 generator then
        5 discriminator batches) return a label per step; `train_step` reads `self.kind` when
        traced, and the loop keeps one compiled train function per label. Alternating with a
        `tf.cond` instead would put optimizer updates inside control flow, which
        MirroredStrategy does not allow. The default: one kind of step, None.
        """
        del step_in_segment
        return None

    def segment_data_overrides(self, segment):
        """build_dataset keyword overrides for `segment` (e.g. another mask spec)."""
        del segment
        return {}

    def checkpoint_objects(self):
        """Networks and optimizers saved in every checkpoint, by name.

        The loop saves each through `tfinpaint.checkpointing.VariablesByPath`, so every
        variable sits under its own object's name whatever containers its layers use.
        """
        objects = {"generator": self.generator, **self.optimizers}
        if self.discriminator is not None:
            objects["discriminator"] = self.discriminator
        return objects

    # --- Shared machinery ---------------------------------------------------------------

    def nonfinite_networks(self):
        """Names of the checkpointed objects holding a NaN or Inf (checked before each save)."""
        bad = []
        for name, obj in self.checkpoint_objects().items():
            is_optimizer = isinstance(obj, keras.optimizers.Optimizer)
            variables = obj.variables if is_optimizer else obj.weights
            checks = [
                tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(variable.value)))
                for variable in variables
                if variable.dtype.startswith("float") or variable.dtype.startswith("bfloat")
            ]
            if checks and not bool(tf.reduce_all(tf.stack(checks))):
                bad.append(name)
        return bad

    def make_optimizer(self, learning_rate, name=None, **kwargs):
        """Adam wrapped for loss scaling when the global policy is mixed precision."""
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, name=name, **kwargs)
        return self.wrap_optimizer(optimizer)

    @staticmethod
    def wrap_optimizer(optimizer):
        if keras.mixed_precision.global_policy().name.startswith("mixed"):
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def build_optimizer_variables(self):
        """Creates every optimizer's slots now, so checkpoints restore into existing variables.

        Each optimizer is built for the variables of the network it trains, as named by
        `optimizer_targets()`.
        """
        for name, variables in self.optimizer_targets().items():
            optimizer = self.optimizers[name]
            if not optimizer.built:
                optimizer.build(variables)

    def optimizer_targets(self):
        """{optimizer name: the variables it trains}."""
        return {"generator_optimizer": self.generator.trainable_variables}

    def compile(self, jit_compile=False):
        super().compile(optimizer=next(iter(self.optimizers.values())), jit_compile=jit_compile)

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

    def call(self, inputs, training=False):
        # Keras 3 builds a model through call() under a distribution strategy.
        return self.generator(inputs, training=training)

    def scaled_loss(self, loss, optimizer):
        """The loss a replica differentiates: divided by the replica count, then loss-scaled.

        Gradients are summed across replicas, so dividing by their number makes the update
        that of the mean loss over the global batch.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return optimizer.scale_loss(loss / tf.cast(replicas, loss.dtype))

    @staticmethod
    def apply_gradients(tape, scaled_loss, variables, optimizer):
        gradients = tape.gradient(scaled_loss, variables)
        optimizer.apply(gradients, variables)

    def update_trackers(self, losses):
        """Feeds the loss terms computed this step to their trackers; returns their results.

        Terms a step does not compute (the generator's in a discriminator-only phase, say)
        are left out, so the logs hold only what was trained.
        """
        computed = [name for name in self.loss_trackers if name in losses]
        for name in computed:
            self.loss_trackers[name].update_state(losses[name])
        return self.step_outputs(computed)

    def step_outputs(self, names):
        """What a train step returns: the named tracker results, as 1-element vectors.

        The loop reads the trackers themselves (`logged_values`); the vectors are for Keras'
        per-replica reduction, which under MultiWorkerMirroredStrategy reduces along axis 0
        and fails on scalars.
        """
        return {name: tf.reshape(self.loss_trackers[name].result(), [1]) for name in names}

    def logged_values(self):
        """{name: float} of the trackers updated since the last reset (what a log reports).

        Trackers a log interval did not update (the discriminator's during a stretch of
        generator steps, say) are left out rather than reported as 0.
        """
        return {
            name: float(tracker.result())
            for name, tracker in self.loss_trackers.items()
            # Under a strategy `count` is a SyncOnRead variable: reading it sums the replicas.
            if float(tf.convert_to_tensor(tracker.count)) > 0
        }

    @staticmethod
    def as_float32(outputs):
        """Casts a generator's outputs to float32 (they are float16 under mixed precision)."""
        return {name: tf.cast(value, tf.float32) for name, value in outputs.items()}
