r"""Throughput benchmarks behind the figures in WORKSPACE.md.

`--what=data` times the tf.data pipeline (`tfinpaint.data.build_dataset`, training mode) for
each mask kind: decoding JPEGs, random 256 px crops, flips, per-sample masks and, by default,
Sobel gradient maps. Without `--data` it first writes 256 JPEGs (640x480, quality 90, cut from
the scikit-image sample photos) into a temporary folder, so the figure includes decoding.

Usage:
    python tools/benchmark.py --what=data
    python tools/benchmark.py --what=data --data=/path/to/jpegs --image_size=256 \
        --batch_size=16 --masks=freeform,rect,ca --with_gradients --num_batches=100
"""

import os
import statistics
import tempfile

from absl import app, flags

from tfinpaint.data import pipeline, sources

_WHAT = flags.DEFINE_enum("what", "data", ["data"], "What to time: data (the input pipeline).")
_DATA = flags.DEFINE_string(
    "data", None, "Image source (folder, list file, tfds:NAME, samples); default: temp JPEGs."
)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 256, "Crop size in pixels.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 16, "Batch size.")
_MASKS = flags.DEFINE_list("masks", ["freeform", "rect", "ca"], "Mask specs to time, each alone.")
_WITH_GRADIENTS = flags.DEFINE_bool("with_gradients", True, "Add Sobel gradient maps.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 100, "Batches timed per mask spec.")
_WARMUP_BATCHES = flags.DEFINE_integer("warmup_batches", 10, "Untimed batches first.")
_REPEATS = flags.DEFINE_integer(
    "repeats", 3, "Timings per mask spec; the median is shown (other programs share the cores)."
)

# The temporary JPEGs stand in for a folder of camera photos (~0.3 MP each).
_JPEG_COUNT, _JPEG_WIDTH, _JPEG_HEIGHT = 256, 640, 480


def _benchmark_data(data):
    print(
        f"data pipeline: source={data} image_size={_IMAGE_SIZE.value} "
        f"batch_size={_BATCH_SIZE.value} with_gradients={_WITH_GRADIENTS.value}; "
        f"{len(os.sched_getaffinity(0))} CPU cores, load average "
        f"{' '.join(f'{load:.2f}' for load in os.getloadavg())}"
    )
    print(f"{'masks':<24} {'samples/s (median)':>18} {'(min-max)':>12} {'CPU ms/sample':>14}")
    for masks in _MASKS.value:
        dataset = pipeline.build_dataset(
            data,
            _IMAGE_SIZE.value,
            _BATCH_SIZE.value,
            masks=masks,
            with_gradients=_WITH_GRADIENTS.value,
        )
        results = [
            pipeline.benchmark_dataset(
                dataset, _NUM_BATCHES.value, warmup_batches=_WARMUP_BATCHES.value
            )
            for _ in range(_REPEATS.value)
        ]
        rates = sorted(result["samples_per_s"] for result in results)
        cpu = statistics.median(result["cpu_ms_per_sample"] for result in results)
        spread = f"({rates[0]:.0f}-{rates[-1]:.0f})"
        print(f"{masks:<24} {statistics.median(rates):>18.0f} {spread:>12} {cpu:>14.2f}")


def _run_data():
    if _DATA.value is not None:
        _benchmark_data(_DATA.value)
        return
    with tempfile.TemporaryDirectory(prefix="tfinpaint_benchmark_") as folder:
        sources.write_sample_jpegs(
            folder, num_images=_JPEG_COUNT, width=_JPEG_WIDTH, height=_JPEG_HEIGHT
        )
        print(
            f"Wrote {_JPEG_COUNT} JPEGs of {_JPEG_WIDTH}x{_JPEG_HEIGHT} px (quality 90) from "
            f"the scikit-image samples into {folder}."
        )
        _benchmark_data(folder)


# One entry per --what value; each reads the flags it needs.
_BENCHMARKS = {"data": _run_data}


def main(_):
    _BENCHMARKS[_WHAT.value]()


if __name__ == "__main__":
    app.run(main)
