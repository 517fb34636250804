#!/bin/bash
# Issue 15: does --mixed_precision=bfloat16 training reach the same validation hole PSNR as
# float32? The README demo (PConv tiny preset, bundled samples, 1000 steps at 64 px), three
# seeds per precision; prints each run's last logged val_psnr_hole and the mean per precision.
# Usage: bash benchmarks/bf16_training_quality.sh OUT_DIR   (about 6 x 2 minutes on 2 cores)
set -e
OUT=${1:?usage: bf16_training_quality.sh OUT_DIR}
mkdir -p "$OUT"
for seed in 0 1 2; do
  for precision in none bfloat16; do
    workdir="$OUT/demo_${precision}_seed$seed"
    python tools/train.py --model=pconv --preset=tiny --data=samples --workdir="$workdir" \
      --vgg_weights=none --seed=$seed --mixed_precision=$precision > "$workdir.log" 2>&1
  done
done
python - "$OUT" <<'PY'
import glob, json, os, statistics, sys
finals = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "demo_*_seed*", "metrics.jsonl"))):
    rows = [json.loads(line) for line in open(path) if "val_psnr_hole" in line]
    precision = os.path.basename(os.path.dirname(path)).split("_")[1]
    finals.setdefault(precision, []).append(rows[-1]["val_psnr_hole"])
    print(f"{os.path.dirname(path)}: step {rows[-1]['step']} val_psnr_hole {rows[-1]['val_psnr_hole']:.2f} dB")
for precision, values in finals.items():
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    print(f"{precision}: mean {statistics.mean(values):.2f} dB, sd {spread:.2f} dB over {len(values)} seeds")
PY
