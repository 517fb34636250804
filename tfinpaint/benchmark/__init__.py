"""Timing of the training steps and of inference, behind the figures in WORKSPACE.md.

One module per concern; the names `tools/benchmark.py` uses are re-exported here.
- `machine`: where the figures were taken (`machine_info`) and the CPU peak they are measured
  against (`cpu_peak`).
- `flops`: `count_flops`, the FLOPs of one traced call by TF's profiler (backward ops included,
  pruned ops left out, batched matmuls recounted).
- `timing`: the synthetic batch every timing feeds and the statistics of timed calls
  (backend-neutral: `tools/benchmark_keras_backend.py` uses it under JAX).
- `checks`: the settings' checks the plans share (model names, image sizes, counts).
- `train_step`: `plan_train_step` and `benchmark_train_step`, the family's real train step
  built through the training loop's config resolution and the trainer's protocol.
- `inference`: `plan_inference`, `benchmark_inference`, `benchmark_inference_isolated` and
  `forward_peak_memory` (one call's peak RSS, `tools/peak_memory.py`).
- `op_profile`: `profile_op_types` and `format_profile`, the time per TF op type of a few calls,
  from TF's profiler (`tools/benchmark.py --op_profile=N`).
- `output`: `table_header`, `table_row` and `write_json`.
- `compare`: `plan_compare`, `compare_torch_inference` and `compare_torch_train_step`, ours beside
  a PyTorch twin of the PConv U-Net (`benchmarks/torch_pconv.py` in the repository, passed in
  by the caller: PyTorch code is no part of the package);
  `plan_compare_precision`, `compare_precision_inference` and `compare_precision_train_step`,
  ours in float32 beside ours in bfloat16.

The names are resolved on first use, so that importing one module (`timing` under JAX, say)
loads neither TensorFlow nor the others.

Figures on a shared machine move with the load: each record carries the load average and the
process CPU time, and the median (not the mean) is reported.

Example:
```python
from tfinpaint import benchmark
records = benchmark.benchmark_train_step("pconv", "tiny", image_size=64, batch_size=2, steps=3)
record = benchmark.benchmark_inference("cascade", "tiny", image_size=64, mode="xla")
```
"""

from tfinpaint import _lazy

# Public name -> the module that defines it.
_EXPORTS = {
    "parse_image_sizes": "checks",
    "resolve_models": "checks",
    "COMPARE_CHOICES": "compare",
    "compare_precision_inference": "compare",
    "compare_precision_train_step": "compare",
    "compare_torch_inference": "compare",
    "compare_torch_train_step": "compare",
    "plan_compare": "compare",
    "plan_compare_precision": "compare",
    "count_flops": "flops",
    "INFERENCE_MODES": "inference",
    "benchmark_inference": "inference",
    "benchmark_inference_isolated": "inference",
    "forward_peak_memory": "inference",
    "plan_inference": "inference",
    "cpu_peak": "machine",
    "describe_machine": "machine",
    "machine_info": "machine",
    "format_profile": "op_profile",
    "profile_op_types": "op_profile",
    "table_header": "output",
    "table_row": "output",
    "write_json": "output",
    "synthetic_batch": "timing",
    "JIT_CHOICES": "train_step",
    "VGG_RANDOM": "train_step",
    "benchmark_train_step": "train_step",
    "plan_train_step": "train_step",
    "train_step_config": "train_step",
}

__getattr__, __dir__, __all__ = _lazy.attach(__name__, _EXPORTS)
