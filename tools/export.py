r"""Exports a trained generator as a SavedModel (TF Serving) or a TFLite model.

Usage:
  # SavedModel in TF Serving's layout (serving/pconv/1/saved_model.pb), signatures
  # serving_default (float tensors) and serve_bytes (PNG/JPEG bytes in, PNG bytes out):
  python tools/export.py --workdir=runs/pconv_tiny --format=saved_model --output=serving/pconv \
      --version=1

  # TFLite, fixed 256x256 input, float16 weights, builtin ops only:
  python tools/export.py --checkpoint=checkpoints/glcic/generator.json --format=tflite \
      --quantize=float16 --image_size=256 --output=glcic_fp16.tflite

The TFLite model has one signature, serving_default: inputs `images` float32 (1, S, S, 3) in
[0, 1] and `masks` float32 (1, S, S, 1) with 1 = hole, output `inpainted` float32 (1, S, S, 3).
--image_size defaults to the run's training image size. Existing exports are kept unless
--overwrite, which replaces only an earlier export (a folder with the export's marker file
.tfinpaint-export.json or a SavedModel's files, or a TFLite file), never other files; a
symbolic link as --output is replaced itself, its target is left alone.
"""

import os
import sys

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint import export, files, inference  # noqa: E402

# Sibling modules of this program (tools/_flag_help.py), however it is started.
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
import _flag_help  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory (latest checkpoint).")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint",
    None,
    "A shipped checkpoint NAME, a generator.json or .weights.h5 (instead of --workdir).",
)
_FORMAT = flags.DEFINE_enum("format", None, ["saved_model", "tflite"], "Export format.")
_QUANTIZE = flags.DEFINE_enum(
    "quantize", "none", list(export.QUANTIZATIONS), "TFLite weight quantization."
)
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", None, "TFLite input side (default: the run's training image size)."
)
_VERSION = flags.DEFINE_integer(
    "version", None, "SavedModel version: writes OUTPUT/VERSION/ (TF Serving's layout)."
)
_OUTPUT = flags.DEFINE_string("output", None, "SavedModel directory or .tflite file.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing export.")
_ENSEMBLE = flags.DEFINE_bool("ensemble", None, _flag_help.ENSEMBLE_FLAG_HELP)
_PRECISION = flags.DEFINE_enum(
    "precision",
    "float32",
    ["float32", "bfloat16"],
    "saved_model: float32, or bfloat16 (a mixed_bfloat16 graph; float32 inputs and outputs) "
    "for families that offer it.",
)


def _check_flags():
    if bool(_WORKDIR.value) == bool(_CHECKPOINT.value):
        sys.exit("Error: pass exactly one of --workdir and --checkpoint.")
    if _FORMAT.value == "saved_model":
        if _QUANTIZE.value != "none":
            sys.exit("Error: --quantize applies to --format=tflite; SavedModels stay float32.")
        if _IMAGE_SIZE.value is not None:
            sys.exit("Error: --image_size applies to --format=tflite; SavedModels take any size.")
    elif _VERSION.value is not None:
        sys.exit("Error: --version applies to --format=saved_model (TF Serving's layout).")
    elif _PRECISION.value != "float32":
        sys.exit(
            f"Error: --precision={_PRECISION.value} applies to --format=saved_model; TFLite "
            "models take --quantize (float16 halves the file)."
        )
    if _IMAGE_SIZE.value is not None and _IMAGE_SIZE.value < 1:
        sys.exit(f"Error: --image_size must be a positive integer, got {_IMAGE_SIZE.value}.")


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    _check_flags()
    source = _WORKDIR.value or _CHECKPOINT.value
    output = _OUTPUT.value
    try:
        files.check_writable(output, "--output")  # Before --version joins a folder to it.
        if _VERSION.value is not None:
            if _VERSION.value < 1:
                sys.exit(f"Error: --version must be a positive integer, got {_VERSION.value}.")
            output = os.path.join(output, str(_VERSION.value))
        export.check_output_path(output, export.protected_paths(source), _OVERWRITE.value)
        generator, info = inference.load_generator(
            source,
            with_info=True,
            precision=_PRECISION.value,
            offered_only=True,
            ensemble=_ENSEMBLE.value,
        )
        inputs = export.protected_paths(source, info["files"])
        export.check_output_path(output, inputs, _OVERWRITE.value)
        if _FORMAT.value == "saved_model":
            path = export.export_saved_model(
                generator, _OUTPUT.value, _VERSION.value, _OVERWRITE.value, inputs
            )
            print(f"SavedModel of {inference.describe(info)} written to {path}")
            print(
                "Signatures: serving_default(images, masks) -> inpainted; "
                "serve_bytes(image_bytes, mask_bytes) -> inpainted_bytes"
            )
            return
        image_size = _IMAGE_SIZE.value or info["image_size"]
        if image_size is None:
            sys.exit(f"Error: {source} does not record its training image size; pass --image_size.")
        result = export.export_tflite(
            generator, output, image_size, _QUANTIZE.value, _OVERWRITE.value, inputs
        )
    except (ValueError, export.ConversionError) as error:
        sys.exit(f"Error: {error}")
    height, width = result["image_size"]
    size_mb = os.path.getsize(result["path"]) / 2**20
    print(
        f"TFLite ({result['quantize']}) of {inference.describe(info)} written to "
        f"{result['path']}: {result['size_bytes']} bytes ({size_mb:.2f} MiB)"
    )
    print(
        f"Signature serving_default: images float32 (1, {height}, {width}, 3), masks float32 "
        f"(1, {height}, {width}, 1) -> inpainted float32 (1, {height}, {width}, 3)"
    )
    print(f"Builtin ops: {', '.join(result['ops'])}")
    print(
        f"Max abs difference from the Keras model on a test input: "
        f"{result['probe_max_abs_error']:.3g}"
    )


if __name__ == "__main__":
    flags.mark_flags_as_required(["format", "output"])
    cli.run(main)
