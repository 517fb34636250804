"""Timing of the training steps and of inference, behind the figures in WORKSPACE.md.

One module per concern; the names `tools/benchmark.py` uses are re-exported here.
- `machine`: where the figures were taken (`machine_info`) and the CPU peak they are measured
  against (`cpu_peak`).
- `flops`: `count_flops`, the FLOPs of one traced call by TF's profiler (backward ops included,
  pruned ops left out, batched matmuls recounted).
- `timing`: the synthetic batch both timings feed and the statistics of timed calls.
- `checks`: the settings' checks the plans share (model names, image sizes, counts).
- `train_step`: `plan_train_step` and `benchmark_train_step`, the family's real train step
  built through the training loop's config resolution and the trainer's protocol.
- `inference`: `plan_inference`, `benchmark_inference`, `benchmark_inference_isolated` and
  `forward_peak_memory` (one call's peak RSS, `tools/peak_memory.py`).
- `op_profile`: `profile_op_types` and `format_profile`, the time per TF op type of a few calls,
  from TF's profiler (`tools/benchmark.py --op_profile=N`).
- `output`: `table_header`, `table_row` and `write_json`.
- `compare`: `plan_compare`, `compare_torch_inference` and `compare_torch_train_step`, ours beside
  a PyTorch twin of the PConv U-Net (`torch_pconv`, imported only when torch is asked for);
  `plan_compare_precision`, `compare_precision_inference` and `compare_precision_train_step`,
  ours in float32 beside ours in bfloat16.

Figures on a shared machine move with the load: each record carries the load average and the
process CPU time, and the median (not the mean) is reported.

Example:
```python
from tfinpaint import benchmark
records = benchmark.benchmark_train_step("pconv", "tiny", image_size=64, batch_size=2, steps=3)
record = benchmark.benchmark_inference("cascade", "tiny", image_size=64, mode="xla")
```
"""

from tfinpaint.benchmark.checks import parse_image_sizes, resolve_models
from tfinpaint.benchmark.compare import (
    COMPARE_CHOICES,
    compare_precision_inference,
    compare_precision_train_step,
    compare_torch_inference,
    compare_torch_train_step,
    plan_compare,
    plan_compare_precision,
)
from tfinpaint.benchmark.flops import count_flops
from tfinpaint.benchmark.inference import (
    INFERENCE_MODES,
    benchmark_inference,
    benchmark_inference_isolated,
    forward_peak_memory,
    plan_inference,
)
from tfinpaint.benchmark.machine import cpu_peak, describe_machine, machine_info
from tfinpaint.benchmark.op_profile import format_profile, profile_op_types
from tfinpaint.benchmark.output import table_header, table_row, write_json
from tfinpaint.benchmark.timing import synthetic_batch
from tfinpaint.benchmark.train_step import (
    JIT_CHOICES,
    VGG_RANDOM,
    benchmark_train_step,
    plan_train_step,
    train_step_config,
)

__all__ = [
    "COMPARE_CHOICES",
    "INFERENCE_MODES",
    "JIT_CHOICES",
    "VGG_RANDOM",
    "benchmark_inference",
    "benchmark_inference_isolated",
    "benchmark_train_step",
    "compare_precision_inference",
    "compare_precision_train_step",
    "compare_torch_inference",
    "compare_torch_train_step",
    "count_flops",
    "format_profile",
    "forward_peak_memory",
    "cpu_peak",
    "describe_machine",
    "machine_info",
    "parse_image_sizes",
    "plan_compare",
    "plan_compare_precision",
    "plan_inference",
    "plan_train_step",
    "profile_op_types",
    "resolve_models",
    "synthetic_batch",
    "table_header",
    "table_row",
    "train_step_config",
    "write_json",
]
