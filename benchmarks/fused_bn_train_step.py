"""Train steps with tfinpaint's fused batch norm against Keras' own, alternating in one process.

For each --model, two trainers are built from the same seed (`tfinpaint.benchmark`'s
`build_trainer`, as `tools/benchmark.py --what=train_step` builds them); in one of them every
`tfinpaint.layers.BatchNormalization` is told it cannot fuse, so it runs Keras' unfused path.
Each stage/phase's first step kind (or the --segment given) is timed in alternating rounds and
the minima printed, with the first step's losses of both (equal up to rounding).

    python benchmarks/fused_bn_train_step.py --model=pconv --image_size=256 --batch_size=2
    python benchmarks/fused_bn_train_step.py --model=glcic --batch_size=1 --precision=bfloat16
"""

import argparse
import time

import numpy as np

from tfinpaint.benchmark.timing import sync
from tfinpaint.benchmark.train_step import build_trainer
from tfinpaint.layers import BatchNormalization

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="pconv")
parser.add_argument("--image_size", type=int, default=256)
parser.add_argument("--batch_size", type=int, default=None)
parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
parser.add_argument("--segment", type=int, default=1)
parser.add_argument("--rounds", type=int, default=5)
args = parser.parse_args()


def unfuse(trainer):
    count = 0
    for layer in trainer._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, BatchNormalization):
            layer._can_fuse = lambda inputs, mask: False
            count += 1
    return count


calls, losses = {}, {}
for name in ("keras", "fused"):
    built = build_trainer(
        args.model, image_size=args.image_size, batch_size=args.batch_size,
        precision=args.precision, seed=0,
    )  # fmt: skip
    if name == "keras":
        print(f"{unfuse(built.trainer)} batch norm layers unfused in the 'keras' build")
    trainer = built.trainer
    trainer.start_segment(args.segment)
    kind = trainer.segment_step_kinds(args.segment)[0]
    step = trainer.step_function(kind)

    def call(step=step, iterator=built.iterator):
        logs = step(iterator)
        sync(logs)
        return logs

    logs = call()
    losses[name] = float(np.asarray(logs["total"]).reshape(-1)[0]) if "total" in logs else None
    call()  # warm-up
    calls[name] = call

times = {name: [] for name in calls}
for round_index in range(args.rounds):
    order = list(calls) if round_index % 2 == 0 else list(calls)[::-1]
    for name in order:
        start = time.perf_counter()
        calls[name]()
        times[name].append(time.perf_counter() - start)
keras_ms, fused_ms = (1000 * min(times[name]) for name in ("keras", "fused"))
print(
    f"{args.model} {args.image_size} px batch {built.config.batch_size} {args.precision}, "
    f"segment {args.segment} {kind or 'step'}: Keras BN {keras_ms:.1f} ms, "
    f"fused {fused_ms:.1f} ms, "
    f"speed-up {keras_ms / fused_ms:.2f}x (min of {args.rounds} alternating rounds); "
    f"first losses {losses['keras']} / {losses['fused']}"
)
