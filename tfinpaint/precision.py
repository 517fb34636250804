"""Numeric precision: the names users type (`--precision`, `--mixed_precision`) and the Keras
dtype policies they stand for, in one place.

- Inference (`--precision` of inpaint.py, evaluate.py, export.py and benchmark.py): "float32",
  or "bfloat16", which builds the generator under Keras' `mixed_bfloat16` policy: variables
  stay float32 (so float32 weights files load as they are), layers compute in bfloat16, and
  every generator's outputs are float32 with the known pixels exact (the blend is float32 in
  `InpaintingGenerator`). A family offers bfloat16 only where its registry entry says so
  (`ModelFamily.inference_precisions`), after its quality cost was measured (WORKSPACE.md).
- Training (`--mixed_precision`): "none", "float16" (`mixed_float16`, with loss scaling) or
  "bfloat16" (`mixed_bfloat16`; bfloat16 has float32's exponent range, so no loss scaling).
- Keras' global dtype policy set for a block and restored after, whatever happens inside:
  `dtype_policy(policy)` (a policy name or object) and `global_policy(precision)` (a name users
  type). The one place that sets and restores it (generators built from a config, the float32
  VGG of the losses, the benchmarks).

This module imports no other tfinpaint module, so that models/ and losses/ can use it; which
precisions a family offers is the registry's (`models.registry.check_inference_precision`).

Example:
```python
from tfinpaint import precision
with precision.global_policy("bfloat16"):
    generator = registry.build_generator("pconv", "paper")  # a bfloat16 network
```
"""

import contextlib

import keras

INFERENCE_PRECISIONS = ("float32", "bfloat16")
# The `--mixed_precision` values (TrainConfig.mixed_precision), and how errors and help name them.
MIXED_PRECISIONS = ("none", "float16", "bfloat16")
MIXED_PRECISIONS_TEXT = f"{', '.join(MIXED_PRECISIONS[:-1])} or {MIXED_PRECISIONS[-1]}"
_POLICIES = {
    "none": "float32",
    "float32": "float32",
    "float16": "mixed_float16",
    "bfloat16": "mixed_bfloat16",
}


def policy_name(precision):
    """The Keras dtype policy of `precision` ("none"/"float32", "float16" or "bfloat16")."""
    if precision not in _POLICIES:
        raise ValueError(
            f"Unknown precision '{precision}': expected one of {', '.join(_POLICIES)}."
        )
    return _POLICIES[precision]


def precision_of(policy):
    """The precision name of a dtype policy name: "float32", "float16" or "bfloat16"."""
    return {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(policy, policy)


def mixed_precision_of(precision):
    """The training setting (`--mixed_precision`) that trains in `precision`."""
    return "none" if policy_name(precision) == "float32" else precision


@contextlib.contextmanager
def dtype_policy(policy):
    """Keras' global dtype policy set to `policy` inside the block, restored after.

    Args:
        policy: a policy name ("float32", "mixed_bfloat16", ...) or a `keras.DTypePolicy`.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def global_policy(precision):
    """Keras' global dtype policy set for `precision` inside the block, restored after."""
    return dtype_policy(policy_name(precision))
