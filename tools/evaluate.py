r"""Evaluates a trained generator beside the OpenCV Telea and Navier-Stokes baselines.

Usage:
  python tools/evaluate.py --workdir=runs/pconv_tiny --data=samples --masks=freeform
  python tools/evaluate.py --checkpoint=checkpoints/pconv.json --data=/data/places2/val \
      --masks=irregular:/data/nvidia_test_masks --image_size=512 --output_json=eval.json

Prints PSNR, SSIM and L1 error (hole only and whole image) per hole-ratio bucket
((0.01, 0.1], ..., (0.5, 0.6]) and over all images, for the model and each baseline. Images are
centre crops of --image_size (default: the training size); masks are drawn deterministically
from --seed, so two evaluations see the same holes.
"""

import json
import sys

from absl import app, flags

from tfinpaint import evaluation, inference
from tfinpaint.data import sources

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory to evaluate.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A generator.json / .weights.h5 / checkpoint prefix (instead of --workdir)."
)
_DATA = flags.DEFINE_string(
    "data", "samples", "Image source (folder, list file, tfds:NAME, samples)."
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir for --data=tfds:NAME.")
_SPLIT = flags.DEFINE_string("split", None, "TFDS split for --data=tfds:NAME.")
_MASKS = flags.DEFINE_string("masks", "freeform", "Mask spec, e.g. irregular:DIR for NVIDIA masks.")
_IRREGULAR_POLARITY = flags.DEFINE_enum(
    "irregular_polarity",
    "hole_white",
    ["hole_white", "hole_black"],
    "Polarity of the mask files of --masks=irregular:DIR.",
)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Crop size (default: the training size).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", None, "Evaluate at most this many images.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Images per generator call.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the evaluation masks.")
_BASELINES = flags.DEFINE_list(
    "baselines",
    list(evaluation.BASELINES),
    "OpenCV baselines to score beside the model (telea, ns; empty: none).",
)
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Also write every record and the summary.")


def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    if bool(_WORKDIR.value) == bool(_CHECKPOINT.value):
        sys.exit("Error: give exactly one of --workdir and --checkpoint.")
    for flag in (_IMAGE_SIZE, _NUM_IMAGES):
        if flag.value is not None and flag.value < 1:
            sys.exit(f"Error: --{flag.name} must be a positive integer, got {flag.value}.")
    if _BATCH_SIZE.value < 1:
        sys.exit(f"Error: --batch_size must be a positive integer, got {_BATCH_SIZE.value}.")
    try:
        if _OUTPUT_JSON.value:
            evaluation.check_output_json(_OUTPUT_JSON.value)
        sources.check_source(_DATA.value)
        generator, info = inference.load_generator(
            _WORKDIR.value or _CHECKPOINT.value, with_info=True
        )
        image_size = _IMAGE_SIZE.value or info.get("image_size") or 256
        result = evaluation.evaluate(
            generator,
            _DATA.value,
            image_size,
            masks=_MASKS.value,
            num_images=_NUM_IMAGES.value,
            batch_size=_BATCH_SIZE.value,
            baselines=_BASELINES.value,
            seed=_SEED.value,
            data_dir=_DATA_DIR.value,
            split=_SPLIT.value,
            irregular_polarity=_IRREGULAR_POLARITY.value,
        )
    except ValueError as error:
        sys.exit(f"Error: {error}")
    print(
        f"{info['model']} ({info['preset']}) on {_DATA.value}, masks {_MASKS.value}, "
        f"{image_size} px, {len(result['records'])} images:"
    )
    print(evaluation.format_summary(result["summary"]))
    if _OUTPUT_JSON.value:
        with open(_OUTPUT_JSON.value, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        print(f"Records: {_OUTPUT_JSON.value}")


if __name__ == "__main__":
    app.run(main)
