r"""Inpaints images with a trained generator; known pixels are returned unchanged.

Usage:
  # One image (any size, any format OpenCV reads); white mask pixels are holes:
  python tools/inpaint.py --workdir=runs/pconv_tiny --image=photo.jpg --mask=holes.png \
      --output=out/photo.png

  # A checkpoint shipped with tfinpaint, by name; and the list of them:
  python tools/inpaint.py --checkpoint=NAME --image=photo.jpg --mask=holes.png \
      --output=out/photo.png
  python tools/inpaint.py --list_checkpoints

  # A camera photo: the default --strategy=auto crops a window around each group of holes
  # (or pads a small image, tiles or resizes a large one with holes all over) and says which:
  python tools/inpaint.py --checkpoint=NAME --image=IMG_0001.jpg --mask=strokes.png \
      --output=out/IMG_0001.png

  # Folders: every image in --image is paired with the mask of the same file stem in --mask and
  # written to --output/STEM.png; large images in 512 px tiles:
  python tools/inpaint.py --checkpoint=runs/glcic/generator.json --image=photos/ \
      --mask=masks/ --output=out/ --strategy=tile --max_size=512 --postprocess=telea_poisson

  # DeepGIN's test time: polyphase sub-images of at most the training size, each inpainted as
  # a self-ensemble of four rotations and a flip:
  python tools/inpaint.py --workdir=runs/deepgin --image=big.png --mask=big_mask.png \
      --output=out/big.png --strategy=polyphase --max_size=256 --ensemble

--checkpoint takes the name of a shipped checkpoint (checkpoints/NAME.json, see
--list_checkpoints), a generator.json or its .weights.h5, or a checkpoint prefix of a run.
Outputs are never written over an input (compared by path and by device and inode, so a hard
link counts), nor over existing files unless --overwrite. Every image/mask pair is read and
checked (decodable, same size) before anything is written. 16-bit images give 16-bit output.
Only regular files are read (a FIFO or a device is refused by what it is), and images above
--max_pixels (default 50 megapixels) are refused from their header, before decoding; the memory
the chosen --strategy needs is estimated and refused, naming one that fits, when it is not free.
Masks are grayscale (a colour mask is refused); a mask whose largest value is 1 is read as 0/1;
a mask without any hole gives a warning (its output is the input).
"""

import os
import sys
import time

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint import inference, precision  # noqa: E402
from tfinpaint.data import image_files  # noqa: E402

# Sibling modules of this program (tools/_flag_help.py), however it is started.
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
import _flag_help  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory (latest checkpoint).")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint",
    None,
    "A shipped checkpoint NAME (see --list_checkpoints), a generator.json or .weights.h5, or a "
    "run's checkpoint prefix (instead of --workdir).",
)
_LIST_CHECKPOINTS = flags.DEFINE_bool(
    "list_checkpoints", False, "Print the shipped checkpoints and their descriptions, and exit."
)
_IMAGE = flags.DEFINE_string("image", None, "Input image file, or a folder of images.")
_MASK = flags.DEFINE_string("mask", None, "Mask file, or a folder of masks matched by stem.")
_OUTPUT = flags.DEFINE_string("output", None, "Output file, or a folder for folder inputs.")
_MASK_POLARITY = flags.DEFINE_enum(
    "mask_polarity",
    "hole_white",
    list(inference.MASK_POLARITIES),
    "Which mask pixels are holes (binarised at 0.5): hole_white or hole_black.",
)
_STRATEGY = flags.DEFINE_enum(
    "strategy",
    "auto",
    list(inference.STRATEGIES),
    "auto (default): per image, pad for images up to 1 MP whose memory estimate fits and whose "
    "holes are shallow enough for full resolution, else crop when the windows around the holes "
    "cover at most half the image or the holes are too deep, else tile when at most 16 tiles "
    "hold holes, else resize; the line of each image says what it chose. "
    "pad: the whole image at once, padded to the model's multiple (best context; memory grows "
    "with the image: about 8 GB for 1920x1080 as a self-ensemble). "
    f"crop: each group of holes in a window {inference.regions.CROP_CONTEXT:g}x its size (at "
    "least the training size), downscaled to --max_size when larger, and until its holes are at "
    f"most {inference.regions.HOLE_DEPTH_SHARE:.3g} of the training size deep (deeper holes come "
    "out grey in the middle at full resolution): a few strokes on a "
    "camera photo cost what a small image costs. tile: overlapping tiles of at most --max_size, "
    "at full resolution (minutes on large images; wide strokes come out grey in the middle). "
    "resize: inpaint a copy downscaled to --max_size, paste back the holes (fast, softer fills). "
    "polyphase: the interleaved sub-images (every f-th pixel) of at most --max_size.",
)
_MAX_SIZE = flags.DEFINE_integer(
    "max_size",
    None,
    f"Largest side the network sees with crop, tile, resize, polyphase and auto (default "
    f"{inference.DEFAULT_MAX_SIZE}); not used by pad.",
    lower_bound=1,
)
_TILE_OVERLAP = flags.DEFINE_integer("tile_overlap", None, "Tile overlap in px (default 1/4).")
_POSTPROCESS = flags.DEFINE_enum(
    "postprocess",
    "none",
    list(inference.POSTPROCESSING),
    "telea_poisson: GLCIC's post-processing (Telea fill + Poisson blending); any model.",
)
_ENSEMBLE = flags.DEFINE_bool("ensemble", None, _flag_help.ENSEMBLE_FLAG_HELP)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace existing output files.")
_MAX_PIXELS = flags.DEFINE_integer(
    "max_pixels",
    image_files.DEFAULT_MAX_PIXELS,
    "Refuse images and masks whose header declares more pixels than this, before decoding "
    "(decompression bombs; 50 MP covers camera photos). The memory the chosen --strategy needs "
    "is estimated too and refused, naming a strategy that fits, when it exceeds what is free.",
    lower_bound=1,
)
_PRECISION = flags.DEFINE_enum(
    "precision",
    "float32",
    ["float32", "bfloat16"],
    "float32, or bfloat16 (mixed_bfloat16: faster on CPUs with bfloat16 units; known pixels "
    "stay exact) for families that offer it.",
)


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    if _LIST_CHECKPOINTS.value:
        print(inference.format_checkpoint_list())
        return
    missing = [flag.name for flag in (_IMAGE, _MASK, _OUTPUT) if flag.value is None]
    if missing:
        sys.exit(
            f"Error: --{missing[0]} is required (--image, --mask and --output, unless "
            "--list_checkpoints)."
        )
    if bool(_WORKDIR.value) == bool(_CHECKPOINT.value):
        sys.exit("Error: pass exactly one of --workdir and --checkpoint.")
    if _STRATEGY.value == "pad" and _MAX_SIZE.value is not None:
        sys.exit(
            "Error: --max_size applies to --strategy=auto, crop, tile, resize or polyphase, not "
            "pad."
        )
    max_size = _MAX_SIZE.value
    if max_size is None and _STRATEGY.value != "pad":
        max_size = inference.DEFAULT_MAX_SIZE
    try:
        image_files.set_default_max_pixels(_MAX_PIXELS.value)
        jobs = inference.plan_jobs(_IMAGE.value, _MASK.value, _OUTPUT.value, _OVERWRITE.value)
        # Every pair is read before anything is written: a corrupt file or a size mismatch
        # stops the run with nothing half done.
        report = inference.check_jobs(jobs, _MASK_POLARITY.value, _MAX_PIXELS.value)
        generator, info = inference.load_generator(
            _WORKDIR.value or _CHECKPOINT.value,
            with_info=True,
            precision=_PRECISION.value,
            offered_only=True,
            ensemble=_ENSEMBLE.value,
        )
        if any(
            inference.same_file(output, path) for _, _, output in jobs for path in info["files"]
        ):
            sys.exit("Error: an output path is one of the model's files; choose another output.")
        inference.check_inpaint_memory(generator, report["sizes"], _STRATEGY.value, max_size)
    except ValueError as error:
        sys.exit(f"Error: {error}")
    for warning in report["warnings"] + [precision.slow_bfloat16_warning(_PRECISION.value)]:
        if warning:
            print(f"Warning: {warning}")
    print(f"Loaded {inference.describe(info)} from {info['path']}.")
    for image_path, mask_path, output_path in jobs:
        start = time.perf_counter()
        chosen = []
        try:
            hole_ratio = inference.inpaint_file(
                generator,
                image_path,
                mask_path,
                output_path,
                polarity=_MASK_POLARITY.value,
                max_pixels=_MAX_PIXELS.value,
                strategy=_STRATEGY.value,
                max_size=max_size,
                tile_overlap=_TILE_OVERLAP.value,
                postprocess=_POSTPROCESS.value,
                min_window=info["image_size"],
                on_strategy=lambda *strategy, chosen=chosen: chosen.append(strategy),
            )
        except ValueError as error:
            sys.exit(f"Error: {error}")
        seconds = time.perf_counter() - start
        how = ""
        if chosen and _STRATEGY.value == "auto":
            strategy, size, reason = chosen[0]
            how = f", auto: {strategy}" + (f" at {size} px" if size else "") + f", {reason}"
        print(f"{output_path} ({100 * hole_ratio:.1f}% holes, {seconds:.2f} s{how})")


if __name__ == "__main__":
    cli.run(main)
