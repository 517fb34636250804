r"""Writes a PNG grid of what the data pipeline feeds a model: image, hole mask, masked image
and the two gradient magnitudes, one row per sample.

Usage:
    python tools/preview_data.py --data=samples --masks=freeform --image_size=256 \
        --output=out/preview.png
    python tools/preview_data.py --data=/path/to/photos --masks=deepgin --num_samples=9 \
        --output=out/deepgin.png --overwrite
"""

import os

from absl import app, flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint.data import pipeline, preview  # noqa: E402

_DATA = flags.DEFINE_string("data", "samples", "Image source: folder, list file, tfds:NAME.")
_MASKS = flags.DEFINE_string("masks", "freeform", "Mask spec (freeform, rect:96-128, deepgin...).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 256, "Crop size in pixels.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 6, "Rows in the grid.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of crops, flips and masks.")
_TRAINING = flags.DEFINE_bool("training", True, "Training augmentation (random crops, flips).")
_OUTPUT = flags.DEFINE_string("output", None, "PNG file to write.", required=True)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing output file.")


@cli.reports_file_errors
def main(_):
    if os.path.exists(_OUTPUT.value) and not _OVERWRITE.value:
        raise app.UsageError(
            f"Output {_OUTPUT.value} already exists; pass --overwrite to replace it."
        )
    dataset = pipeline.build_dataset(
        _DATA.value,
        _IMAGE_SIZE.value,
        _NUM_SAMPLES.value,
        masks=_MASKS.value,
        seed=_SEED.value,
        with_gradients=True,
        training=_TRAINING.value,
        drop_remainder=False,
    )
    grid = preview.preview_grid(next(iter(dataset)))
    print(preview.save_png(_OUTPUT.value, grid, overwrite=_OVERWRITE.value))


if __name__ == "__main__":
    cli.run(main)
