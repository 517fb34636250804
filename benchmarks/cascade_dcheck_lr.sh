#!/bin/bash
# Issue 14: the cascade discriminator on real photos with a 10x higher D learning rate (1e-3
# instead of the paper preset's 1e-4), otherwise exactly benchmarks/cascade_dcheck.sh (10 G : 5 D,
# 600 steps = 200 D steps at 128 px, generator from the L1 photo run). Compare d_real_prob -
# d_fake_prob and d_loss in the two runs' metrics.jsonl.
cd "$(dirname "$0")/.."  # the repository; DATA and RUNS default to /work/data, /work/runs
exec python tools/train.py --model=cascade --preset=paper --data=${DATA:-/work/data}/photos/train \
  --workdir=${RUNS:-/work/runs}/cascade_dcheck_lr --init_from=${RUNS:-/work/runs}/cascade_photos \
  --image_size=128 --batch_size=8 --steps=600 --stage_steps=599 --log_every=50 \
  --checkpoint_every=300 --sample_every=600 --vgg_weights=none --d_learning_rate=1e-3 \
  --masks='mixed:freeform=3,rect:0.2-0.5=1'
