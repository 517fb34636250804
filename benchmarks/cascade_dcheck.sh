#!/bin/bash
# Issue 14: does the cascade discriminator leave chance on real photos now (sum pooling)?
# The paper preset's GAN settings (10 G : 5 D, adversarial weight as the preset), started from
# the L1 photo run's generator so that the fakes are plausible, 600 steps at 128 px.
cd "$(dirname "$0")/.."  # the repository; DATA and RUNS default to /work/data, /work/runs
exec python tools/train.py --model=cascade --preset=paper --data=${DATA:-/work/data}/photos/train \
  --workdir=${RUNS:-/work/runs}/cascade_dcheck --init_from=${RUNS:-/work/runs}/cascade_photos \
  --image_size=128 --batch_size=8 --steps=600 --stage_steps=599 --log_every=50 \
  --checkpoint_every=300 --sample_every=600 --vgg_weights=none \
  --masks='mixed:freeform=3,rect:0.2-0.5=1'
