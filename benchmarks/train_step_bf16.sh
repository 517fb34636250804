#!/bin/bash
# Issue 15: every family's train step at 256 px in float32 and in bfloat16
# (--mixed_precision=bfloat16), graph mode, with the 12 costliest op types of each step kind.
# Batch: PConv 2 (the PyTorch comparison's), cascade 4 (its preset's benchmark row), the others
# 1. GAIN's float32 step is row M of WORKSPACE's DeepGIN/GAIN section (same machine).
# Usage: bash benchmarks/train_step_bf16.sh OUT_DIR   (about 15 minutes on 2 cores, idle)
set -e
OUT=${1:?usage: train_step_bf16.sh OUT_DIR}
mkdir -p "$OUT"
run() {  # model batch precision
  python tools/benchmark.py --what=train_step --model="$1" --image_size=256 --batch_size="$2" \
    --jit_compile=off --steps=2 --warmup=1 --precision="$3" --op_profile=12 \
    --json_output="$OUT/train_$1_$3.json" 2>/dev/null | tee "$OUT/train_$1_$3.txt"
}
for precision in float32 bfloat16; do
  run pconv 2 $precision
  run glcic 1 $precision
  run cascade 4 $precision
  run deepgin 1 $precision
done
run gain 1 bfloat16
