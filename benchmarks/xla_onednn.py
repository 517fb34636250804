"""Which kernels run a 3x3 convolution in graph mode and under XLA on this CPU.

Run with ONEDNN_VERBOSE=1: oneDNN prints one line per primitive it executes. Graph mode's
Conv2D goes through oneDNN (TF_ENABLE_ONEDNN_OPTS, on by default on x86); XLA:CPU compiles the
convolution itself (Eigen's spatial convolution, or its own emitter) and oneDNN prints nothing.
Also times both on a 256x256x64 -> 64 convolution (min of 20).
"""

import time

import tensorflow as tf

x = tf.random.normal((1, 256, 256, 64))
w = tf.random.normal((3, 3, 64, 64))


def conv(x):
    return tf.nn.conv2d(x, w, 1, "SAME")


for name, fn in (("graph", tf.function(conv)), ("xla", tf.function(conv, jit_compile=True))):
    fn(x)
    print(f"--- {name}: timed", flush=True)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - start)
    flops = 2 * 256 * 256 * 64 * 64 * 9
    best = min(times)
    print(f"RESULT {name}: {1000 * best:.2f} ms, {flops / best / 1e9:.0f} GFLOP/s", flush=True)
