"""What every timing shares: the synthetic batch they feed and the statistics of timed calls.

Backend-neutral (Keras ops and numpy; TensorFlow only for the optional Sobel maps), so that
`tools/benchmark_keras_backend.py` times the generators under JAX with the same batch and the
same statistics as `tools/benchmark.py` under TensorFlow.

Figures on a shared machine move with the load: the median (not the mean) and the 90th
percentile are reported, beside the process CPU time.
"""

import os
import statistics
import time

import keras
import numpy as np


def synthetic_batch(image_size, batch_size, with_gradients=False, seed=0):
    """A training batch of random images with one centred rectangular hole per sample.

    Returns:
        dict of tensors of the Keras backend: `images` (B, S, S, 3) in [0, 1], `masks`
        (B, S, S, 1) (1 = hole, the central S/2 x S/2 square), `boxes` (B, 4) int32
        [y0, x0, y1, x1] of the hole and, when `with_gradients`, `gradients` (B, S, S, 2)
        (Sobel x and y, as the pipeline adds them; TensorFlow backend only).
    """
    rng = np.random.default_rng(seed)
    images = rng.random((batch_size, image_size, image_size, 3), dtype=np.float32)
    start, end = image_size // 4, image_size // 4 + max(image_size // 2, 1)
    hole_masks = np.zeros((batch_size, image_size, image_size, 1), np.float32)
    hole_masks[:, start:end, start:end] = 1.0
    boxes = np.array([[start, start, end, end]] * batch_size, np.int32)
    batch = {
        "images": keras.ops.convert_to_tensor(images),
        "masks": keras.ops.convert_to_tensor(hole_masks),
        "boxes": keras.ops.convert_to_tensor(boxes),
    }
    if with_gradients:
        from tfinpaint.data.gradients import sobel_gradients  # TensorFlow ops.

        batch["gradients"] = sobel_gradients(batch["images"])
    return batch


def sync(outputs):
    """Waits for `outputs` (a structure of tensors) to be computed.

    TensorFlow runs ops asynchronously and says a tensor is ready by fetching it to the host;
    JAX waits on the device (`block_until_ready`), without copying what a step returns (all
    the weights, for a jitted train step) to the host.
    """
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready(outputs)
        return
    for value in keras.tree.flatten(outputs):
        if keras.ops.is_tensor(value):
            keras.ops.convert_to_numpy(value)


def time_calls(call, warmup, runs):
    """Times `call()`: a first call (it traces and compiles), `warmup` untimed ones, `runs` timed.

    `call` must wait for its results (`sync`): TF runs ops asynchronously.

    Returns:
        dict with `first_call_s`, `median_s` and `p90_s` of the timed calls, `cpu_s` (the
        process CPU time of all of them, all threads) and `load_average` (the 1-minute load
        average before the first call).
    """
    load = os.getloadavg()[0]
    start = time.perf_counter()
    call()
    first_call_s = time.perf_counter() - start
    for _ in range(warmup):
        call()
    times = []
    cpu_start = time.process_time()
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    cpu_seconds = time.process_time() - cpu_start
    return {
        "first_call_s": first_call_s,
        "median_s": statistics.median(times),
        "p90_s": float(np.percentile(np.asarray(times, np.float64), 90)),
        "cpu_s": cpu_seconds,
        "load_average": load,
    }
