"""Which kernels run a 3x3 convolution in graph mode and under XLA on this CPU.

Run with ONEDNN_VERBOSE=1: oneDNN prints one line per primitive it executes. Graph mode's
Conv2D goes through oneDNN (TF_ENABLE_ONEDNN_OPTS, on by default on x86); XLA:CPU compiles the
convolution itself (Eigen's spatial convolution, or its own emitter) and oneDNN prints nothing.
Also times both on a --size x --size x --channels -> --channels convolution (minimum of --runs).

    ONEDNN_VERBOSE=1 python benchmarks/xla_onednn.py [--size=256] [--channels=64] [--runs=20]
"""

import argparse
import time

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

import tensorflow as tf  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--size", type=int, default=256, help="Height and width of the input.")
parser.add_argument("--channels", type=int, default=64, help="Input and output channels.")
parser.add_argument("--runs", type=int, default=20, help="Timed calls of each.")
args = parser.parse_args()

x = tf.random.normal((1, args.size, args.size, args.channels))
w = tf.random.normal((3, 3, args.channels, args.channels))


def conv(x):
    return tf.nn.conv2d(x, w, 1, "SAME")


for name, fn in (("graph", tf.function(conv)), ("xla", tf.function(conv, jit_compile=True))):
    fn(x)
    print(f"--- {name}: timed", flush=True)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - start)
    flops = 2 * args.size * args.size * args.channels * args.channels * 9
    best = min(times)
    print(f"RESULT {name}: {1000 * best:.2f} ms, {flops / best / 1e9:.0f} GFLOP/s", flush=True)
