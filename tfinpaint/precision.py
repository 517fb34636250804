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

Example:
```python
from tfinpaint import precision
with precision.global_policy("bfloat16"):
    generator = registry.build_generator("pconv", "paper")  # a bfloat16 network
```
"""

import contextlib

import keras

from tfinpaint.models import registry

INFERENCE_PRECISIONS = ("float32", "bfloat16")
MIXED_PRECISIONS = ("none", "float16", "bfloat16")
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
def global_policy(precision):
    """Keras' global dtype policy set for `precision` inside the block, restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy_name(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_inference_precision(model, precision):
    """Refuses an inference precision the family `model` does not offer, in one sentence.

    Raises:
        ValueError: an unknown precision, or one the family's registry entry leaves out (the
            entry's note says why, e.g. the measured quality cost of bfloat16).
    """
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(
            f"--precision must be one of {', '.join(INFERENCE_PRECISIONS)}, got '{precision}'."
        )
    family = registry.get_family(model)
    if precision not in family.inference_precisions:
        reason = family.precision_notes.get(precision, "it was not measured")
        raise ValueError(
            f"Model '{model}' does not offer --precision={precision} ({reason}); use "
            f"--precision={family.inference_precisions[0]}."
        )
