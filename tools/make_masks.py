r"""Writes a fixed evaluation mask set: N masks of a spec and seed, as PNG files and a manifest.

Like LaMa's `gen_mask_dataset.py`: draw the masks once, keep the folder, and evaluate every
method against it (`tools/evaluate.py --mask_dir=DIR`), so published and new numbers see the
same holes. Mask i is drawn by `make_mask_fns(SPEC, SIZE, training=False)` from the seed
[seed, i], so the set is the same wherever it is written again. Files are `00000.png`, ...
(uint8, hole = 255) and `manifest.json` holds the spec, seed, size and every hole ratio. An
existing, non-empty --output is refused.

Usage:
  python tools/make_masks.py --masks=thick --image_size=256 --num=2000 --seed=0 \
      --output=masks/thick_256
  python tools/make_masks.py --masks=freeform --hole_ratio=0.1-0.3 --image_size=256 \
      --num=200 --output=masks/freeform_10_30_256
  python tools/make_masks.py --masks=irregular:/data/nvidia_test_masks --image_size=512 \
      --num=12000 --output=masks/nvidia_512
"""

import sys

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint.data import mask_sets, masks  # noqa: E402

_MASKS = flags.DEFINE_string("masks", None, "Mask spec (thin, medium, thick, freeform, ...).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 256, "Mask side in pixels.")
_NUM = flags.DEFINE_integer("num", None, "Number of masks to write.")
_SEED = flags.DEFINE_integer("seed", 0, "Base seed; mask i uses the seed [seed, i].")
_OUTPUT = flags.DEFINE_string("output", None, "New (or empty) folder to write the set to.")
_IRREGULAR_POLARITY = flags.DEFINE_enum(
    "irregular_polarity",
    "hole_white",
    list(masks.POLARITIES),
    "Polarity of the files of --masks=irregular:DIR (the written files are always hole_white).",
)
_HOLE_RATIO = flags.DEFINE_string(
    "hole_ratio",
    None,
    "LOW-HIGH: keep only masks whose hole ratio is in [LOW, HIGH] (e.g. 0.1-0.3); draws go on "
    "until --num are kept.",
)


def _parse_ratio(text):
    try:
        low, high = (float(part) for part in text.split("-"))
    except ValueError:
        raise ValueError(
            f"--hole_ratio={text!r} is not LOW-HIGH; expected two numbers, e.g. 0.1-0.3."
        ) from None
    return low, high


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    for flag in (_MASKS, _NUM, _OUTPUT):
        if flag.value is None:
            sys.exit(f"Error: --{flag.name} is required.")
    try:
        ratio_range = None if _HOLE_RATIO.value is None else _parse_ratio(_HOLE_RATIO.value)
        manifest = mask_sets.write_mask_set(
            _MASKS.value,
            _IMAGE_SIZE.value,
            _NUM.value,
            _SEED.value,
            _OUTPUT.value,
            irregular_polarity=_IRREGULAR_POLARITY.value,
            hole_ratio_range=ratio_range,
        )
    except ValueError as error:
        sys.exit(f"Error: {error}")
    print(
        f"Wrote {manifest['num_masks']} masks of {manifest['spec']} at {manifest['image_size']} "
        f"px (seed {manifest['seed']}, mean hole ratio {manifest['mean_hole_ratio']:.3f}) to "
        f"{_OUTPUT.value}."
    )


if __name__ == "__main__":
    cli.run(main)
