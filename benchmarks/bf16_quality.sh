#!/bin/bash
# bfloat16's quality cost per family (issue 15, docs/experiments/2026-11-30-bfloat16-and-
# pytorch.md): the README main job's tiny demo of each family, evaluated in float32 and in bfloat16
# on the fixed held-out evaluation of issue 14. Make the data first (checkpoints/README.md,
# "Data and training" and "Evaluation"): VAL is the validation list repeated 8 times, MASKS the
# fixed 10-30 % free-form masks (paths relative to the repository, or absolute).
# Usage: [VAL=LIST] [MASKS=DIR] [RUNS=DIR] bash benchmarks/bf16_quality.sh OUT_DIR
set -u
OUT=$(realpath -m "${1:?usage: bf16_quality.sh OUT_DIR}")
cd "$(dirname "$0")/.."
VAL=${VAL:-data/val_x8.txt}
MASKS=${MASKS:-data/masks_ff_10_30_256}
RUNS=${RUNS:-runs}
mkdir -p "$OUT"
for fam in pconv glcic cascade deepgin gain; do
  W=$RUNS/demo_$fam
  echo "=== $fam train $(date +%T)"
  python tools/train.py --model=$fam --preset=tiny --data=samples --workdir=$W \
    --vgg_weights=none > "$OUT/demo_$fam.train.log" 2>&1 || echo "train rc=$?"
  for p in float32 bfloat16; do
    echo "=== $fam eval $p $(date +%T)"
    python tools/evaluate.py --workdir=$W --data=$VAL --image_size=256 --mask_dir=$MASKS \
      --precision=$p --baselines= --output_json="$OUT/q_${fam}_$p.json" \
      > "$OUT/q_${fam}_$p.log" 2>&1 || echo "eval rc=$?"
  done
done
