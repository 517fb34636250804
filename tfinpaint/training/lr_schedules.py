"""Learning-rate schedules driven by an optimizer's own update counter.

A Keras `LearningRateSchedule` on an optimizer is called with `optimizer.iterations`, the number
of updates that optimizer has applied. That counter is an optimizer variable, saved in every
checkpoint (`tfinpaint.checkpointing.VariablesByPath`), and the schedule's parameters come from
the run's config.json: a resumed run therefore continues the schedule exactly where the
checkpoint left it, with nothing else to save.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfinpaint")
class HoldThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A constant rate, then a linear decay that reaches 0 at `decay_end`.

    DeepGIN (Li et al., ECCV 2020 workshops, section 5.1): "We trained them for 10 epochs with the
    initial rates and linearly decayed the rates to zero over the last 90 epochs." Here, per
    update rather than per epoch:

        rate(k) = initial_learning_rate * clip((decay_end - k) / (decay_end - decay_start), 0, 1)

    so the rate is `initial_learning_rate` for k <= decay_start, falls on a straight line to 0 at
    k = decay_end and stays 0 after it (k: the optimizer's update count, 0 before the first
    update). With `decay_end == decay_start` the rate is constant up to `decay_end`.

    Args:
        initial_learning_rate: float. The held rate.
        decay_start: int. Update count where the decay begins.
        decay_end: int. Update count where the rate reaches 0 (>= `decay_start`).

    Example:
    >>> schedule = HoldThenLinearDecay(1e-4, decay_start=10, decay_end=20)
    >>> [round(float(schedule(k)) * 1e4, 2) for k in (0, 10, 15, 20, 25)]
    [1.0, 1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_start, decay_end):
        decay_start, decay_end = int(decay_start), int(decay_end)
        if not 0 <= decay_start <= decay_end:
            raise ValueError(
                f"HoldThenLinearDecay received decay_start={decay_start} and "
                f"decay_end={decay_end}; expected 0 <= decay_start <= decay_end."
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_start = decay_start
        self.decay_end = decay_end

    def __call__(self, step):
        step = ops.cast(step, "float32")
        span = float(max(self.decay_end - self.decay_start, 1))
        fraction = ops.clip((float(self.decay_end) - step) / span, 0.0, 1.0)
        return self.initial_learning_rate * fraction

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_start": self.decay_start,
            "decay_end": self.decay_end,
        }
