"""Prints hole-ratio statistics of the mask generators (tfinpaint.data.masks, SPEC.md section 7).

One Markdown table row per mask spec: how much of the image the holes cover (mean, spread,
percentiles, share of empty masks) over `--num_samples` seeded masks, and optionally how many
masks per second each generator draws.

Usage:

    # Every built-in generator at 256 px, 500 masks each.
    python tools/mask_stats.py --image_size=256 --num_samples=500

    # Chosen specs (repeat --spec), with throughput.
    python tools/mask_stats.py --spec=rect:0.3-0.7 --spec=freeform:box --image_size=64 --speed

    # A folder of PNG masks, as augmented for training.
    python tools/mask_stats.py --spec=irregular:/data/nvidia_masks --irregular_polarity=hole_black
"""

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint.data import masks  # noqa: E402

_SPEC = flags.DEFINE_multi_string(
    "spec", None, "Mask spec; repeat for several. Default: every built-in generator."
)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 256, "Mask side in pixels.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 500, "Masks drawn per mask function.")
_SEED = flags.DEFINE_integer("seed", 0, "Base seed; mask i uses the seed [seed, i].")
_TRAINING = flags.DEFINE_bool("training", True, "Training augmentation of irregular: masks.")
_IRREGULAR_POLARITY = flags.DEFINE_enum(
    "irregular_polarity", "hole_white", list(masks.POLARITIES), "Which colour is the hole."
)
_SPEED = flags.DEFINE_bool("speed", False, "Also measure masks per second (eager, Dataset.map).")

_DEFAULT_SPECS = (
    "rect",
    "rect:0.2-1",
    "freeform",
    "freeform:box",
    "ca",
    "thin",
    "medium",
    "thick",
    "deepgin",
)
_COLUMNS = ("mean", "std", "min", "p5", "median", "p95", "max", "empty_fraction")


@cli.reports_file_errors
def main(_):
    header = ["spec", "masks", *_COLUMNS] + (["eager/s", "map/s"] if _SPEED.value else [])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for spec in _SPEC.value or _DEFAULT_SPECS:
        stats = masks.hole_ratio_stats(
            spec,
            _IMAGE_SIZE.value,
            num_samples=_NUM_SAMPLES.value,
            seed=_SEED.value,
            training=_TRAINING.value,
            irregular_polarity=_IRREGULAR_POLARITY.value,
        )
        row = [spec, str(stats["num_masks"])] + [f"{stats[key]:.3f}" for key in _COLUMNS]
        if _SPEED.value:
            rates = masks.masks_per_second(
                spec,
                _IMAGE_SIZE.value,
                _NUM_SAMPLES.value,
                training=_TRAINING.value,
                irregular_polarity=_IRREGULAR_POLARITY.value,
            )
            row += [f"{rates['eager']:.0f}", f"{rates['dataset_map']:.0f}"]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    cli.run(main)
