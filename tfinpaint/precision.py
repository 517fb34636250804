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
- `slow_bfloat16_warning(precision)`: one sentence when bfloat16 would run emulated, on a CPU
  without native bfloat16 arithmetic and no GPU; the tools that compute log it (train, inpaint,
  evaluate). Measured 2026-12-07 on an AVX2-only AMD EPYC (2 cores): the cascade's training
  step ran at 0.13 steps/s in bfloat16 against 0.6 in float32.
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


# CPU flags of native bfloat16 arithmetic, as /proc/cpuinfo names them: x86-64's AVX512_BF16 and
# AMX (the "flags" line), Arm's BF16 (the "Features" line). Without one, TensorFlow's bfloat16
# kernels on the CPU convert every operand to float32 and back.
_NATIVE_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_has_native_bfloat16(cpuinfo_text):
    """Whether the CPU of /proc/cpuinfo's text (`cpuinfo_text`) computes bfloat16 natively: True
    or False from its flags, None when the text lists none (no /proc, or an unknown format)."""
    flags = set()
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    if not flags:
        return None
    return bool(flags & _NATIVE_BFLOAT16_FLAGS)


def read_cpuinfo():
    """The text of /proc/cpuinfo, "" where there is none (not Linux, or unreadable)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def slow_bfloat16_warning(precision, cpuinfo_text=None, has_gpu=None):
    """One sentence for the log when `precision` is bfloat16 and would run emulated: no GPU
    and a CPU without native bfloat16; None otherwise (or when the CPU cannot be told).

    Args:
        precision: a name users type ("none", "float32", "float16", "bfloat16").
        cpuinfo_text: /proc/cpuinfo's text; None reads it ("" where there is none).
        has_gpu: whether TensorFlow sees a GPU; None asks it.
    """
    if policy_name(precision) != "mixed_bfloat16":
        return None
    if has_gpu is None:
        import tensorflow as tf  # Deferred: only asked for a bfloat16 run.

        has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if has_gpu:
        return None
    if cpuinfo_text is None:
        cpuinfo_text = read_cpuinfo()
    if cpu_has_native_bfloat16(cpuinfo_text) is not False:
        return None
    return (
        "bfloat16 on this CPU runs emulated (its flags name no avx512_bf16, amx_bf16 or bf16, "
        "and no GPU is visible): expect it several times slower than float32 (0.13 against "
        "0.6 training steps/s measured on an AVX2-only CPU); float32 is the faster choice here."
    )


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
