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

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint.benchmark.compare import alternate, step_call  # noqa: E402
from tfinpaint.benchmark.train_step import build_trainer  # noqa: E402
from tfinpaint.layers import BatchNormalization  # noqa: E402

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
    calls[name], kind, losses[name] = step_call(built, args.segment)
    calls[name]()  # warm-up

times = alternate(calls, args.rounds)
keras_ms, fused_ms = (1000 * min(times[name]) for name in ("keras", "fused"))
print(
    f"{args.model} {args.image_size} px batch {built.config.batch_size} {args.precision}, "
    f"segment {args.segment} {kind or 'step'}: Keras BN {keras_ms:.1f} ms, "
    f"fused {fused_ms:.1f} ms, "
    f"speed-up {keras_ms / fused_ms:.2f}x (min of {args.rounds} alternating rounds); "
    f"first losses {losses['keras']} / {losses['fused']}"
)
