r"""Evaluates a trained generator beside the classical fills (Telea, NS, biharmonic, FSR).

Usage:
  python tools/evaluate.py --workdir=runs/pconv_tiny --data=samples --masks=freeform
  python tools/evaluate.py --checkpoint=checkpoints/pconv.json --data=/data/places2/val \
      --masks=irregular:/data/nvidia_test_masks --image_size=512 --output_json=eval.json
  # A fixed mask set (tools/make_masks.py), a plot and FID with a local weights file:
  python tools/evaluate.py --workdir=runs/pconv --data=/data/places2/val --image_size=256 \
      --mask_dir=masks/thick_256 --plot=eval.png \
      --inception_weights=inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5
  # The mean of the run's 8 newest checkpoints (what ship_checkpoint.py --average_last=8 ships):
  python tools/evaluate.py --workdir=runs/cascade --data=photos --image_size=256 --average_last=8
  # A side-by-side figure of images 0, 9, 18 and 27: input, Telea, NS, model, ground truth:
  python tools/evaluate.py --checkpoint=NAME --data=photos --image_size=256 \
      --baselines=telea,ns --figure=figure.png --figure_images=0,9,18,27
  # Large holes, in two coarse buckets (10-30 % and 30-50 %), on a mask set drawn for them:
  python tools/make_masks.py --masks=thick --hole_ratio=0.1-0.5 --image_size=256 \
      --num=200 --output=masks/thick_10_50_256
  python tools/evaluate.py --checkpoint=NAME --data=photos --image_size=256 \
      --mask_dir=masks/thick_10_50_256 --bucket_edges=0.1,0.3,0.5
  # The classical fills alone (no --workdir or --checkpoint), e.g. to see where the bar is:
  python tools/evaluate.py --data=photos --image_size=256 --baselines=telea,biharmonic

Prints PSNR, SSIM and L1 error (hole only and whole image) and the hole's sharpness ratio (the
output's mean Sobel gradient magnitude in the holes over the ground truth's: 1 = as sharp as
the photo, a blur well under 1) per hole-ratio bucket ((0.01, 0.1], ..., (0.5, 0.6] unless
--bucket_edges says otherwise) and over all images, for the model and each baseline
(--baselines: OpenCV Telea and Navier-Stokes, a multi-scale harmonic fill, scikit-image
biharmonic, OpenCV-contrib FSR; all five by default, FSR costing about 3 s per 256 px image).
A second table sets the model against the best classical fill of each bucket (the highest mean
hole PSNR there): its margin, with a paired 95 % bootstrap interval over images; every hole PSNR
carries its own interval. Images are
centre crops of --image_size (default: the training size), each picture at its own scale unless
--short_side scales it first (report both for large photos: a crop at the photo's own scale is
a zoomed-in, smooth view, where diffusion fills are strong); masks are drawn deterministically
from --seed, so two evaluations see the same holes, or read from --mask_dir (image i, in the
source's order, with mask file i). Outputs are scored as saved 8-bit images by default
(--score=uint8), as papers do; SSIM is the Gaussian one of tf.image.ssim (--ssim). FID is off
unless --inception_weights names the weights.
"""

import os
import sys

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint import evaluation, files, inference, metrics, precision  # noqa: E402
from tfinpaint.data import image_files, mask_sets, sources  # noqa: E402

# Sibling modules of this program (tools/_flag_help.py), however it is started.
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
import _flag_help  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory to evaluate.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint",
    None,
    "A shipped checkpoint NAME, a generator.json / .weights.h5 or a checkpoint prefix (instead "
    "of --workdir).",
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
_SHORT_SIDE = flags.DEFINE_integer(
    "short_side",
    None,
    "Scale each picture's short side to this many pixels before the centre crop (the content "
    "scale; at least --image_size). Default: crop each picture at its own scale, so a 256 px "
    "crop of a 12 MP photo is a zoomed-in, smooth view of it; --short_side=256 scores the "
    "picture's whole centre square.",
)
_NUM_IMAGES = flags.DEFINE_integer("num_images", None, "Evaluate at most this many images.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Images per generator call.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the evaluation masks.")
_BASELINES = flags.DEFINE_list(
    "baselines",
    list(evaluation.BASELINES),
    "Classical fills to score beside the model: telea, ns (OpenCV), harmonic (multi-scale "
    "membrane fill), biharmonic (scikit-image), fsr (OpenCV-contrib, ~3 s per 256 px image); "
    "empty: none.",
)
_BUCKET_EDGES = flags.DEFINE_list(
    "bucket_edges",
    None,
    "Increasing hole ratios that bound the buckets, e.g. 0.1,0.3,0.5 for (0.1, 0.3] and "
    "(0.3, 0.5]; default the NVIDIA protocol's 0.01,0.1,0.2,0.3,0.4,0.5,0.6.",
)
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Also write every record and the summary.")
_SCORE = flags.DEFINE_enum(
    "score",
    "uint8",
    ["uint8", "float"],
    "uint8: score outputs as saved 8-bit images (clip to [0, 1], round to 1/255), as papers do; "
    "float: the raw float outputs.",
)
_SSIM = flags.DEFINE_enum(
    "ssim",
    "gaussian",
    list(metrics.SSIM_VARIANTS),
    "gaussian: 11x11 Gaussian window, sigma 1.5 (tf.image.ssim; skimage with "
    "gaussian_weights=True, use_sample_covariance=False); skimage_default: skimage's defaults "
    "(7x7 uniform window, sample covariance).",
)
_MASK_DIR = flags.DEFINE_string(
    "mask_dir",
    None,
    "A fixed mask set (tools/make_masks.py): image i gets mask file i. Replaces --masks.",
)
_PLOT = flags.DEFINE_string(
    "plot", None, "Also write a PNG bar chart of PSNR and SSIM per hole-ratio bucket."
)
_FIGURE = flags.DEFINE_string(
    "figure",
    None,
    "Also write a PNG grid of some evaluated images: input with holes, each baseline, the "
    "model, ground truth (--figure_images picks them).",
)
_FIGURE_IMAGES = flags.DEFINE_list(
    "figure_images",
    None,
    "Indices (evaluation order, from 0) of the images in --figure; default 4 spread evenly.",
)
_ENSEMBLE = flags.DEFINE_bool("ensemble", None, _flag_help.ENSEMBLE_FLAG_HELP)
_AVERAGE_LAST = flags.DEFINE_integer(
    "average_last",
    None,
    "Evaluate the mean of the N newest checkpoints of --workdir (or those at or before a "
    "--checkpoint prefix).",
)
_PRECISION = flags.DEFINE_enum(
    "precision",
    "float32",
    ["float32", "bfloat16"],
    "float32, or bfloat16 (mixed_bfloat16). Any family: evaluating is how bfloat16's quality "
    "cost is measured; inpaint.py and export.py offer it only where it was small enough.",
)
_MAX_PIXELS = flags.DEFINE_integer(
    "max_pixels",
    image_files.DEFAULT_MAX_PIXELS,
    "Images and masks whose header declares more pixels than this are not decoded (skipped "
    "with a warning in a data folder, refused as a mask): decompression bombs; 50 MP covers "
    "camera photos.",
    lower_bound=1,
)
_INCEPTION_WEIGHTS = flags.DEFINE_string(
    "inception_weights",
    "none",
    "FID: none (skip, default), imagenet (Keras's weights, downloaded once) or the path of an "
    "InceptionV3 notop weights file.",
)


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    if _WORKDIR.value and _CHECKPOINT.value:
        sys.exit("Error: give one of --workdir and --checkpoint, not both.")
    model_source = _WORKDIR.value or _CHECKPOINT.value
    if not model_source and not _BASELINES.value:
        sys.exit(
            "Error: nothing to score: give a model (--workdir or --checkpoint) or, to score "
            "the classical fills alone, at least one --baselines."
        )
    for flag in (_IMAGE_SIZE, _NUM_IMAGES):
        if flag.value is not None and flag.value < 1:
            sys.exit(f"Error: --{flag.name} must be a positive integer, got {flag.value}.")
    if _BATCH_SIZE.value < 1:
        sys.exit(f"Error: --batch_size must be a positive integer, got {_BATCH_SIZE.value}.")
    if _MASK_DIR.value and flags.FLAGS["masks"].present:
        sys.exit("Error: give --masks or --mask_dir, not both (--mask_dir replaces --masks).")
    if _INCEPTION_WEIGHTS.value.strip().lower() == "random":
        sys.exit(
            "Error: --inception_weights=random gives meaningless FIDs; expected none, imagenet "
            "or a weights file."
        )
    try:
        if _OUTPUT_JSON.value:
            evaluation.check_output_json(_OUTPUT_JSON.value)
        if _PLOT.value:
            evaluation.check_output_path(_PLOT.value, "plot", suffix=".png")
        if _FIGURE.value:
            evaluation.check_output_path(_FIGURE.value, "figure", suffix=".png")
        reports = [path for path in (_OUTPUT_JSON.value, _PLOT.value, _FIGURE.value) if path]
        if len({os.path.abspath(path) for path in reports}) < len(reports):
            sys.exit("Error: --output_json, --plot and --figure must name different files.")
        figure_images = _figure_image_list() if _FIGURE.value else ()
        evaluation.check_baselines(_BASELINES.value)
        if _BUCKET_EDGES.value is not None:
            metrics.buckets_from_edges(_BUCKET_EDGES.value)
        image_files.set_default_max_pixels(_MAX_PIXELS.value)
        sources.check_source(_DATA.value)
        generator, info = None, {}
        if model_source:
            generator, info = inference.load_generator(
                model_source,
                with_info=True,
                precision=_PRECISION.value,
                average_last=_AVERAGE_LAST.value,
                ensemble=_ENSEMBLE.value,
            )
        image_size = _IMAGE_SIZE.value or info.get("image_size") or 256
        # The batch is capped by --num_images: a large --batch_size on a few images is fine.
        batch_size = min(_BATCH_SIZE.value, _NUM_IMAGES.value or _BATCH_SIZE.value)
        if generator is not None:
            inference.check_batch_memory(generator, batch_size, image_size)
        if figure_images is None:
            figure_images = _default_figure_images(image_size)
        slow = generator is not None and precision.slow_bfloat16_warning(_PRECISION.value)
        if slow:
            print(f"Warning: {slow}")
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
            quantize=_SCORE.value == "uint8",
            ssim_variant=_SSIM.value,
            mask_dir=_MASK_DIR.value,
            inception_weights=_INCEPTION_WEIGHTS.value,
            keep_images=figure_images,
            bucket_edges=_BUCKET_EDGES.value,
            short_side=_SHORT_SIDE.value,
        )
    except ValueError as error:
        sys.exit(f"Error: {error}")
    settings = result["settings"]
    scale = (
        f"{image_size} px"
        if settings["short_side"] is None
        else f"{image_size} px crops of pictures scaled to a {settings['short_side']} px short side"
    )
    if generator is None:
        print(
            f"The classical fills alone ({', '.join(_BASELINES.value)}) on {_DATA.value}, masks "
            f"{settings['masks']}, {scale}, {len(result['records'])} images, "
            f"{settings['scoring']} scoring, {settings['ssim_variant']} SSIM:"
        )
    else:
        settings["precision"] = info["precision"]
        settings["step"] = info["step"]
        settings["averaged_steps"] = info["averaged_steps"]
        settings["ensemble"] = info["ensemble"]
        settings["parameters"] = info["parameters"]
        settings["overrides"] = info["overrides"]
        print(
            f"{inference.describe(info)} on {_DATA.value}, masks {settings['masks']}, "
            f"{scale}, {len(result['records'])} images, {settings['scoring']} scoring, "
            f"{settings['ssim_variant']} SSIM"
            + (
                ", mean of the checkpoints of steps "
                + ", ".join(map(str, info["averaged_steps"]))
                if info["averaged_steps"]
                else ""
            )
            + ":"
        )
    print(evaluation.format_summary(result["summary"]))
    if result["comparison"]:
        print(
            "\nThe model against the best classical fill of each bucket (highest mean hole "
            "PSNR; 95 % CI: paired percentile bootstrap over images):"
        )
        print(evaluation.format_comparison(result["comparison"]))
    if "fid" in result:
        print(evaluation.format_fid(result["fid"]))
    kept = result.pop("kept", [])
    if _OUTPUT_JSON.value:
        files.write_json(_OUTPUT_JSON.value, result, indent=1)  # Undefined metrics: null.
        print(f"Records: {_OUTPUT_JSON.value}")
    if _PLOT.value and result["records"]:
        evaluation.plot_summary(result["summary"], _PLOT.value)
        print(f"Plot: {_PLOT.value}")
    if _FIGURE.value:
        methods = [*_BASELINES.value, *(["model"] if generator is not None else [])]
        labels = {
            "telea": "OpenCV Telea",
            "ns": "OpenCV Navier-Stokes",
            "harmonic": "harmonic",
            "biharmonic": "biharmonic",
            "fsr": "OpenCV FSR",
            "model": info.get("model", "model"),
        }
        try:
            evaluation.write_figure(kept, _FIGURE.value, methods, labels)
        except ValueError as error:
            sys.exit(f"Error: {error}")
        print(f"Figure: {_FIGURE.value} (images {', '.join(str(p['index']) for p in kept)})")


def _figure_image_list():
    """--figure_images as ints, or None for the default (4 spread over the evaluated images)."""
    if not _FIGURE_IMAGES.value:
        return None
    try:
        return [int(value) for value in _FIGURE_IMAGES.value]
    except ValueError:
        raise ValueError(
            f"--figure_images takes image indices >= 0, got {','.join(_FIGURE_IMAGES.value)}."
        ) from None


def _default_figure_images(image_size):
    """4 indices spread over the images the evaluation will score."""
    count = _NUM_IMAGES.value
    if count is None and _MASK_DIR.value:
        count = len(mask_sets.MaskSet(_MASK_DIR.value, image_size))
    if count is None:
        return [0, 1, 2, 3]
    return sorted({round(i * (count - 1) / 3) for i in range(4)}) if count > 1 else [0]


if __name__ == "__main__":
    cli.run(main)
