"""The trainer every family builds on: a keras.Model whose `train_step` trains the networks.

Follows the keras-io GAN guide ("Customizing what happens in fit()"): the trainer holds the
networks and their optimizers, keeps one `keras.metrics.Mean` tracker per loss term, takes one
`tf.GradientTape` per network, and applies gradients with `optimizer.apply`.

The trainer owns its driving (STYLE.md rule 12): `InpaintingTrainer.create(generator, config)`
builds the discriminators (through the registry), the optimizers and their slots;
`start_segment(n)` enters stage/phase n; `run_step(iterator, step_in_segment)` runs one step of
the kind the family declares for that position, with one compiled function per kind. The run
loop, the benchmark and the tests all drive it through these three calls.

Families subclass `InpaintingTrainer` and declare data:
- `segment_kind` ("stage", "phase" or None) and `schedule`: a tuple of `config.Segment`s, one
  per stage/phase, each naming its step kinds' cycle (e.g. 10 generator then 5 discriminator
  steps; a count may name an integer option) and its default share of `--steps`. The base class
  derives `num_segments`, `default_segment_fractions`, `step_kinds`, `segment_step_kinds()` and
  `step_kind()` from it (a family without a `schedule` sets those itself);
- `Options`: a dataclass of the family's typed options with their defaults (the preset table's
  `training.options` overrides some per preset; unknown names are refused before any work);
  `prepare_config` parses them once, and every hook reads them with `family_options(config)`;
- `DEFAULT_LOSS_WEIGHTS` (the names and defaults `options.loss_weights` overrides; the base
  class merges them into `self.loss_weights`), `VGG_TERMS` (the loss terms dropped when the run
  has no VGG) and `DATA_OPTIONS` (options passed to `build_dataset` in every segment, such as
  `augment`);
- `loss_names`, `build_optimizers()`, `optimizer_targets()`, `train_step(data)`, and where
  needed `discriminator_overrides(config)`, `start_segment(segment)`,
  `segment_data_overrides(segment)`, `finalize_config(config)` and `discriminator_steps()`.

The current stage/phase (`self.segment`) and step kind (`self.kind`) are Python state read when
`train_step` is traced; the loop saves the segment in every checkpoint.
"""

import dataclasses
import typing

import keras
import tensorflow as tf

from tfinpaint import losses
from tfinpaint.models import registry
from tfinpaint.training.config import Segment


@dataclasses.dataclass
class TrainerOptions:
    """Typed family options (`TrainConfig.options`, `--options='{...}'`): a family subclasses
    this dataclass; each field is one option, its default the family-wide one.

    Attributes:
        discriminator_preset: str or None. The preset the family's discriminators are built
            from (None: the run's preset).
        vgg_flavour: str. Input normalisation of the VGG loss features (families with
            `uses_vgg`): "auto" (the flavour the `--vgg_weights` record: "torchvision" for a
            file from tools/convert_vgg.py, "keras_caffe" for "imagenet" and Keras' files),
            "keras_caffe" or "torchvision"; a flavour that contradicts the weights is refused.
    """

    discriminator_preset: str | None = None
    vgg_flavour: str = "auto"

    @classmethod
    def parse(cls, values, family=""):
        """An instance from a dict of option values; one-sentence ValueError on bad input."""
        values = dict(values or {})
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(
                registry.unknown_keys_message(
                    f"--options key(s) for model '{family}':", unknown, fields
                )
            )
        hints = typing.get_type_hints(cls)
        for name, value in values.items():
            values[name] = _check_type(name, value, hints[name], family)
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)


def _check_type(name, value, hint, family):
    """`value` converted to the option's type (ints are floats where a float is wanted)."""
    allowed = typing.get_args(hint) or (hint,)
    if value is None and type(None) in allowed:
        return None
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    for kind in allowed:
        origin = typing.get_origin(kind) or kind
        if origin is not type(None) and isinstance(value, origin):
            if origin is int and isinstance(value, bool):
                continue
            return value
    names = " or ".join(getattr(k, "__name__", str(k)) for k in allowed)
    raise ValueError(
        f"The {family + ' ' if family else ''}option {name} takes {names}, got {value!r}."
    )


def pair_accuracy(real_logits, fake_logits):
    """Share of samples whose real image scores above its own completed copy.

    A ranking measure that the discriminator logs beside its probabilities (issue 14): a
    completed image differs from its photo only inside the holes, so a discriminator can rank
    every pair correctly while its probabilities still sit near 0.5 (`d_loss` near chance).
    Each sample's logits are averaged over their non-batch axes first (one score per image
    for patch discriminators), then compared pairwise: sample i of `real_logits` against
    sample i of `fake_logits`. Ties count as wrong. 0.5 is chance, 1 a perfect ranking.

    Args:
        real_logits: tensor (B, ...). Discriminator outputs for the real images.
        fake_logits: tensor (B, ...). Outputs for the completed images, in the same order.

    Returns:
        float32 scalar in [0, 1].

    Example:
    >>> float(pair_accuracy(tf.constant([[2.0], [0.1]]), tf.constant([[1.0], [0.3]])))
    0.5
    """
    real = tf.cast(real_logits, tf.float32)
    fake = tf.cast(fake_logits, tf.float32)
    real = tf.reshape(real, [tf.shape(real)[0], -1])
    fake = tf.reshape(fake, [tf.shape(fake)[0], -1])
    wins = tf.reduce_mean(real, axis=1) > tf.reduce_mean(fake, axis=1)
    return tf.reduce_mean(tf.cast(wins, tf.float32))


def _declared(cls):
    """Names declared by `cls` or a base below InpaintingTrainer (not the base's defaults)."""
    names = set()
    for klass in cls.__mro__:
        if klass is InpaintingTrainer:
            break
        names.update(klass.__dict__)
    return names


class InpaintingTrainer(keras.Model):
    """Base trainer: networks, optimizers, loss trackers and the stage/phase state.

    Args:
        generator: keras.Model. The family's generator (dict in, dict out; see DESIGN.md).
        config: TrainConfig. The resolved run configuration.
        vgg: tfinpaint.losses.VGGFeatures or None. The frozen feature extractor for perceptual
            losses, or None when they are dropped (`--vgg_weights=none`).
        discriminators: dict of name -> keras.Model, or None. The family's discriminators as
            `tfinpaint.models.build_discriminators` makes them.

    Use `create()`, which also builds the discriminators, compiles and creates the optimizer
    slots, rather than the constructor.
    """

    segment_kind = None
    # The stages/phases, as data (see the module docstring); subclasses replace it.
    schedule = (Segment("train", ((None, 1),), 1.0),)
    # Derived from `schedule` for every subclass that declares one (`__init_subclass__`).
    num_segments = 1
    default_segment_fractions = (1.0,)
    step_kinds = (None,)
    # Whether an adversarial loss weight of 0 drops the non-generator steps from every cycle
    # (the discriminators would train networks whose scores no loss reads).
    adversarial_optional = False
    uses_vgg = False
    vgg_arch = "vgg16"
    vgg_layers = ()
    # The VGG flavour the family's loss weights were tuned on (None: no preference); the loop
    # warns when a run's VGG features are of the other flavour.
    vgg_tuned_flavour = None
    with_gradients = False
    loss_names = ("total",)
    Options = TrainerOptions
    # {loss term: weight}, the family's defaults; `options.loss_weights` (a field every family
    # with weights declares on its Options) overrides some. None: the family has no weights.
    DEFAULT_LOSS_WEIGHTS = None
    # Names `options.loss_weights` may set (None: no such option); DEFAULT_LOSS_WEIGHTS' names
    # unless a family says otherwise.
    LOSS_WEIGHT_NAMES = None
    # Loss terms computed on VGG features: not logged when the run has no VGG.
    VGG_TERMS = ()
    # Option names given to `build_dataset` as they are in every segment (e.g. "augment"),
    # left out when empty.
    DATA_OPTIONS = ()
    # tf.config.optimizer experimental options the family's train steps need (process-wide,
    # set by `create`).
    grappler_options = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "schedule" in cls.__dict__:
            cls.num_segments = len(cls.schedule)
            cls.default_segment_fractions = tuple(segment.fraction for segment in cls.schedule)
            kinds = []
            for segment in cls.schedule:
                kinds += [kind for kind, _ in segment.cycle if kind not in kinds]
            cls.step_kinds = tuple(kinds)
        if "DEFAULT_LOSS_WEIGHTS" in cls.__dict__ and "LOSS_WEIGHT_NAMES" not in cls.__dict__:
            cls.LOSS_WEIGHT_NAMES = tuple(cls.DEFAULT_LOSS_WEIGHTS)
        fields = {field.name for field in dataclasses.fields(cls.Options)}
        needed = set(cls.DATA_OPTIONS)
        if cls.LOSS_WEIGHT_NAMES is not None:
            needed.add("loss_weights")
        for segment in cls.schedule if "schedule" in cls.__dict__ else ():
            needed.update(count for _, count in segment.cycle if isinstance(count, str))
        if needed - fields:
            raise TypeError(
                f"{cls.__name__}.Options lacks the option(s) {sorted(needed - fields)} that its "
                "declarations (DATA_OPTIONS, loss weights, schedule cycles) name."
            )

    def __init__(self, generator, config, vgg=None, discriminators=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminators = dict(discriminators or {})
        self.vgg = vgg
        self.train_config = config
        self.options = self.family_options(config)
        self.loss_weights = self.merged_loss_weights(self.options)
        self.segment = 1
        self.kind = self.step_kinds[0]
        self._step_functions = {}
        self._clip_norms = {}  # id(optimizer) -> global-norm bound of its gradients
        self.loss_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.active_loss_names()
        }
        self.optimizers = self.build_optimizers()

    # --- Driving ------------------------------------------------------------------------

    @classmethod
    def create(cls, generator, config, vgg=None, jit_compile=None):
        """Builds the trainer ready to step: discriminators, optimizers and their slots.

        Call it inside the distribution strategy's scope (the loop does).

        Args:
            generator: keras.Model. The family's generator.
            config: TrainConfig. The resolved run configuration.
            vgg: tfinpaint.losses.VGGFeatures or None.
            jit_compile: bool or None. XLA for the step functions (None: `config.jit_compile`).
        """
        if cls.grappler_options:
            tf.config.optimizer.set_experimental_options(cls.grappler_options)
        discriminators = registry.build_discriminators(
            config.model, cls.discriminator_preset(config), **cls.discriminator_overrides(config)
        )
        trainer = cls(generator, config, vgg=vgg, discriminators=discriminators)
        trainer.compile(jit_compile=config.jit_compile if jit_compile is None else jit_compile)
        trainer.build_optimizer_variables()
        return trainer

    def start_segment(self, segment):
        """Switches to `segment` (1-based); its steps are traced anew on first use."""
        self.segment = segment
        self._step_functions = {}

    def segment_cycle(self, segment):
        """[(step kind, count), ...] that `segment` (1-based) repeats, counts read from the
        options where the schedule names one; with `adversarial_optional` and an adversarial
        weight of 0, the generator's entries only."""
        cycle = [
            (kind, getattr(self.options, count) if isinstance(count, str) else count)
            for kind, count in self.schedule[segment - 1].cycle
        ]
        if self.adversarial_optional and not self.adversarial:
            cycle = [(kind, count) for kind, count in cycle if kind == "generator"]
        return [(kind, count) for kind, count in cycle if count > 0] or cycle[:1]

    @property
    def adversarial(self):
        """Whether the discriminators take part (False only for an `adversarial_optional`
        family whose adversarial loss weight is 0)."""
        if not self.adversarial_optional:
            return True
        return bool(self.loss_weights["adversarial"])

    def segment_step_kinds(self, segment):
        """The step kinds `segment` declares, in their cycle's order (what the benchmark times
        and `discriminator_steps` drives, whatever this run's options make `step_kind` pick)."""
        if "schedule" not in _declared(type(self)):
            return self.step_kinds
        return tuple(dict.fromkeys(kind for kind, _ in self.schedule[segment - 1].cycle))

    def step_function(self, kind):
        """The compiled train function of step kind `kind` in the current segment.

        Each kind gets its own function, traced on first use in a segment (`train_step` reads
        `self.kind` while tracing). Alternating with a `tf.cond` instead would put optimizer
        updates inside control flow, which MirroredStrategy does not allow.
        """
        if kind not in self.step_kinds:
            raise ValueError(
                f"{type(self).__name__} has no step kind {kind!r}: it declares {self.step_kinds}."
            )
        self.kind = kind
        function = self._step_functions.get(kind)
        if function is None:
            self.make_train_function(force=True)
            function = self._step_functions[kind] = self.train_function
        return function

    def run_step(self, iterator, step_in_segment=0):
        """Runs step `step_in_segment` (0-based, in the segment) of its kind; its outputs."""
        return self.step_function(self.step_kind(step_in_segment))(iterator)

    # --- Hooks for families -------------------------------------------------------------

    @classmethod
    def family_options(cls, config):
        """The run's typed options (`Options`), parsed once and carried on `config`."""
        return config.typed_options(cls.Options)

    @classmethod
    def merged_loss_weights(cls, options):
        """{term: weight}: DEFAULT_LOSS_WEIGHTS updated with `options.loss_weights` (None for a
        family without weights)."""
        if cls.DEFAULT_LOSS_WEIGHTS is None:
            return None
        return dict(cls.DEFAULT_LOSS_WEIGHTS, **(options.loss_weights or {}))

    @classmethod
    def discriminator_preset(cls, config):
        """The preset the discriminators are built from (an option may name another)."""
        return cls.family_options(config).discriminator_preset or config.preset

    @classmethod
    def discriminator_overrides(cls, config):
        """{discriminator name: constructor kwargs} this run changes from the preset's."""
        del config
        return {}

    @classmethod
    def finalize_config(cls, config):
        """The run's config with anything measured from the data filled in (before training).

        The base trainer measures nothing; GLCIC measures the mean pixel here.
        """
        return config

    @classmethod
    def make_vgg(cls, weights, flavour=losses.VGG_FLAVOUR_AUTO):
        """The frozen VGG feature extractor of this family's perceptual terms."""
        return losses.VGGFeatures(
            arch=cls.vgg_arch, layers=cls.vgg_layers, weights=weights, flavour=flavour
        )

    def active_loss_names(self):
        """The loss terms this run logs: `loss_names` without `VGG_TERMS` when `vgg` is None."""
        if self.vgg is None:
            return tuple(name for name in self.loss_names if name not in self.VGG_TERMS)
        return self.loss_names

    def build_optimizers(self):
        """Returns {name: optimizer}; built inside the strategy scope by the loop."""
        return {"generator_optimizer": self.make_optimizer(self.train_config.learning_rate)}

    def discriminator_steps(self):
        """The (segment, step kind) pairs whose steps update the discriminators alone.

        What drives a discriminator on its own (tests/test_discriminators_learn.py trains every
        family's discriminators through these steps). The default: the kind "discriminator" in
        every segment that runs it; a family whose discriminator-only steps are named otherwise
        (GLCIC's phase 2) overrides this.
        """
        return tuple(
            (segment, "discriminator")
            for segment in range(1, self.num_segments + 1)
            if "discriminator" in self.segment_step_kinds(segment)
        )

    def step_kind(self, step_in_segment):
        """Which of `step_kinds` step `step_in_segment` (0-based, in the segment) trains.

        The position in the current segment's cycle (`segment_cycle`): the cascade model's
        10 generator then 5 discriminator batches give "generator" for positions 0-9 of every
        15. `train_step` reads `self.kind` when traced.
        """
        if "schedule" not in _declared(type(self)):
            return self.step_kinds[0]
        cycle = self.segment_cycle(self.segment)
        position = step_in_segment % sum(count for _, count in cycle)
        for kind, count in cycle:
            if position < count:
                return kind
            position -= count
        raise AssertionError("unreachable: position lies inside the cycle")

    @classmethod
    def segment_data_overrides(cls, config, segment):
        """`build_dataset` keyword overrides for `segment` (masks, image_size, augment, ...)
        of the run `config`; checked, with the run's data settings, before any work.

        Here: the family's `DATA_OPTIONS` (e.g. `augment`: data augmentation beyond the
        pipeline's flip, the same in every segment), those set and not empty."""
        del segment
        options = cls.family_options(config)
        values = {name: getattr(options, name) for name in cls.DATA_OPTIONS}
        return {name: value for name, value in values.items() if value}

    def checkpoint_objects(self):
        """Networks and optimizers saved in every checkpoint, by name.

        The loop saves each through `tfinpaint.checkpointing.VariablesByPath`, so every
        variable sits under its own object's name whatever containers its layers use.
        """
        objects = {"generator": self.generator, **self.optimizers}
        for name, discriminator in self.discriminators.items():
            objects[f"discriminator_{name}"] = discriminator
        return objects

    def optimizer_targets(self):
        """{optimizer name: the variables it trains}."""
        return {"generator_optimizer": self.generator.trainable_variables}

    # --- Shared machinery ---------------------------------------------------------------

    # Weights past this size mean a run diverged (a learning rate of 1e30 puts them near 1e30
    # in one step, finite, and the loss turns non-finite only a step later): no layer of these
    # networks holds a weight anywhere near it. Optimizer slots (Adam's squared gradients) are
    # only checked for NaN and Inf.
    max_abs_weight = 1e6

    def nonfinite_networks(self):
        """Names of the checkpointed objects holding a NaN or Inf, or network weights past
        `max_abs_weight` (checked before each save, so a diverged run is never saved)."""
        bad = []
        for name, obj in self.checkpoint_objects().items():
            is_optimizer = isinstance(obj, keras.optimizers.Optimizer)
            variables = obj.variables if is_optimizer else obj.weights
            checks = []
            for variable in variables:
                if not (variable.dtype.startswith("float") or variable.dtype.startswith("bfloat")):
                    continue
                value = tf.convert_to_tensor(variable.value)
                checks.append(tf.reduce_all(tf.math.is_finite(value)))
                if not is_optimizer:
                    magnitude = tf.reduce_max(tf.abs(tf.cast(value, tf.float32)))
                    checks.append(magnitude <= self.max_abs_weight)
            if checks and not bool(tf.reduce_all(tf.stack(checks))):
                bad.append(name)
        return bad

    def make_optimizer(self, learning_rate, name=None, clip_norm=None, **kwargs):
        """Adam, wrapped for loss scaling when the global policy is mixed_float16.

        `clip_norm` is not Keras' `global_clipnorm`: Keras clips each replica's share of the
        gradients before summing them across replicas, which under MirroredStrategy is not
        the clipping of the global batch's gradient. `apply_gradients` clips the sum instead.

        Args:
            learning_rate: float, or a `keras.optimizers.schedules.LearningRateSchedule` (called
                with the optimizer's update count; DeepGIN's decay).
            name: str or None.
            clip_norm: float or None. Clip each update's gradients (the global batch's) to this
                global norm (DeepGIN clips at 3); see `apply_gradients`.
            **kwargs: further `keras.optimizers.Adam` arguments.
        """
        optimizer = self.wrap_optimizer(
            keras.optimizers.Adam(learning_rate=learning_rate, name=name, **kwargs)
        )
        if clip_norm is not None:
            self._clip_norms[id(optimizer)] = float(clip_norm)
        return optimizer

    def gradient_clip_norm(self, optimizer):
        """The global-norm bound `make_optimizer` gave `optimizer`'s gradients (None: none)."""
        return self._clip_norms.get(id(optimizer))

    @staticmethod
    def wrap_optimizer(optimizer):
        # float16 gradients underflow without loss scaling; bfloat16 has float32's exponent
        # range, so mixed_bfloat16 trains without it.
        if keras.mixed_precision.global_policy().name == "mixed_float16":
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

    def apply_gradients(self, tape, scaled_loss, variables, optimizer):
        """The tape's gradients of `scaled_loss`, clipped if `make_optimizer` said so, applied."""
        gradients = tape.gradient(scaled_loss, variables)
        clip_norm = self.gradient_clip_norm(optimizer)
        if clip_norm is not None:
            gradients = self._clip_global_batch(gradients, clip_norm, optimizer)
        optimizer.apply(gradients, variables)

    @staticmethod
    def _clip_global_batch(gradients, clip_norm, optimizer):
        """`gradients` (one replica's) such that the optimizer applies the global batch's
        gradient clipped to `clip_norm`.

        Under a strategy with several replicas each replica holds the gradient of its share of
        the loss; they are summed here (all-reduce), clipped by their global norm, and divided
        by the replica count again, because the optimizer sums what every replica hands it.
        Under mixed precision the gradients are those of the loss-scaled loss, so the bound is
        scaled alike (`optimizer.scale_loss`); non-finite gradients stay non-finite, and the
        loss-scale optimizer skips them as before.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        context = tf.distribute.get_replica_context()
        present = [index for index, gradient in enumerate(gradients) if gradient is not None]
        gradients = list(gradients)
        if replicas > 1 and context is not None and present:
            summed = context.all_reduce(
                tf.distribute.ReduceOp.SUM, [gradients[index] for index in present]
            )
            for index, gradient in zip(present, summed):
                gradients[index] = gradient
        bound = optimizer.scale_loss(tf.constant(clip_norm, tf.float32))
        gradients, _ = tf.clip_by_global_norm(gradients, bound)
        if replicas > 1 and context is not None:
            gradients = [None if g is None else g / float(replicas) for g in gradients]
        return gradients

    def discriminator_step(
        self,
        discriminate,
        real,
        fake,
        optimizer,
        variables,
        loss="bce",
        scale=1.0,
        discriminate_real=None,
    ):
        """One discriminator update on real images against (stopped) fakes; its loss terms.

        The step every GAN family shares: logits of `discriminate(real)` and
        `discriminate(stop_gradient(fake))`, the loss times `scale`, one tape, one update.

        Args:
            discriminate: callable image batch -> logits (the family's discriminator call,
                with `training=True` so spectral norm runs its power iteration).
            real: tensor. Real images (or what the discriminator takes for them).
            fake: tensor. Completed images.
            optimizer: the discriminator's optimizer (gradient clipping, if any, as
                `make_optimizer` set it: see `apply_gradients`).
            variables: list. The variables trained.
            loss: str. "bce" (logits through a sigmoid) or "hinge".
            scale: float or scalar tensor. Factor on the loss before differentiation (the
                cascade paper's 1/2 in front of its BCE, GLCIC-PyTorch's alpha in phase 3);
                the returned `d_loss` is the scaled one, the loss actually minimised.
            discriminate_real: callable or None. The call for the real batch where it differs
                from the fakes' (GLCIC crops real images at their own box); None: `discriminate`.

        Returns:
            dict with `d_loss`, `d_real_prob` and `d_fake_prob` (for "hinge": the mean logits,
            `d_real_logit` and `d_fake_logit`), and `d_pair_accuracy` (see `pair_accuracy`).
        """
        discriminate_real = discriminate_real or discriminate
        with tf.GradientTape() as tape:
            real_logits = tf.cast(discriminate_real(real), tf.float32)
            fake_logits = tf.cast(discriminate(tf.stop_gradient(fake)), tf.float32)
            if loss == "bce":
                terms = {
                    "d_loss": losses.bce_d_loss(real_logits, fake_logits, from_logits=True),
                    "d_real_prob": tf.reduce_mean(tf.sigmoid(real_logits)),
                    "d_fake_prob": tf.reduce_mean(tf.sigmoid(fake_logits)),
                }
            elif loss == "hinge":
                terms = {
                    "d_loss": losses.hinge_d_loss(real_logits, fake_logits),
                    "d_real_logit": tf.reduce_mean(real_logits),
                    "d_fake_logit": tf.reduce_mean(fake_logits),
                }
            else:
                raise ValueError(f"Unknown discriminator loss '{loss}': expected bce or hinge.")
            terms["d_loss"] = terms["d_loss"] * tf.cast(scale, tf.float32)
            scaled = self.scaled_loss(terms["d_loss"], optimizer)
        self.apply_gradients(tape, scaled, variables, optimizer)
        # A measure, not a loss: outside the tape.
        terms["d_pair_accuracy"] = pair_accuracy(real_logits, fake_logits)
        return terms

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
