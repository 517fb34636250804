r"""Writes a trained generator into checkpoints/ as NAME.json + NAME.weights.h5.

Usage:
  # The newest checkpoint of a training run, weights stored as float16 (half the bytes):
  python tools/ship_checkpoint.py --workdir=runs/cascade_photos --name=cascade_photos \
      --description="Cascade generator (paper preset), 128 px photos, free-form + rect holes" \
      --float16

  # The mean of the run's 8 newest checkpoints (checkpoint averaging; the JSON lists their steps):
  python tools/ship_checkpoint.py --workdir=runs/cascade_photos --name=cascade_photos \
      --description="..." --float16 --average_last=8

  # A given checkpoint prefix, or a saved generator.json, into another folder:
  python tools/ship_checkpoint.py --checkpoint=runs/cascade_photos/checkpoints/ckpt-6000 \
      --name=cascade_photos --description="..." --output_dir=/tmp/checkpoints

The checkpoint then loads by name: `tfinpaint.inference.load_generator("NAME")` or
`tools/inpaint.py --checkpoint=NAME`, and `--list_checkpoints` shows the description. NAME.md,
the provenance note, is written by hand beside it (checkpoints/README.md says what it holds).
The JSON records the family, preset, generator config, description, training image size and
step. The tool prints the largest difference between the source's and the written file's raw
outputs on a random image, so the float16 rounding can be judged. Existing files of that name
are replaced only with --overwrite.
"""

import os
import sys

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint import inference  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory (newest checkpoint).")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "A checkpoint prefix or a generator.json (instead of --workdir)."
)
_NAME = flags.DEFINE_string("name", None, "Checkpoint name: letters, digits, '_' and '-'.")
_DESCRIPTION = flags.DEFINE_string(
    "description", None, "One line, shown by list_checkpoints() and --list_checkpoints."
)
_FLOAT16 = flags.DEFINE_bool("float16", False, "Store the weights as float16 (half the size).")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Folder to write to (default: the package's checkpoints/ folder)."
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing checkpoint of NAME.")
_ENSEMBLE = flags.DEFINE_bool(
    "ensemble",
    False,
    "Record that the checkpoint runs as its test-time self-ensemble (the mean over the image "
    "as it is, rotated three ways and flipped: 5x the compute) wherever it is loaded by name.",
)
_AVERAGE_LAST = flags.DEFINE_integer(
    "average_last",
    None,
    "Ship the mean of the N newest checkpoints of the run (at or before --checkpoint's prefix).",
)


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    if bool(_WORKDIR.value) == bool(_CHECKPOINT.value):
        sys.exit("Error: pass exactly one of --workdir and --checkpoint.")
    try:
        result = inference.ship_checkpoint(
            _WORKDIR.value or _CHECKPOINT.value,
            _NAME.value,
            _DESCRIPTION.value,
            directory=_OUTPUT_DIR.value,
            weights_dtype="float16" if _FLOAT16.value else "float32",
            overwrite=_OVERWRITE.value,
            average_last=_AVERAGE_LAST.value,
            ensemble=_ENSEMBLE.value,
        )
    except ValueError as error:
        sys.exit(f"Error: {error}")
    print(
        f"Wrote {result['json']} and {result['weights']} ({result['bytes'] / 2**20:.2f} MiB): "
        f"{result['model']} ({result['preset']}), step {result['step']}"
        + (
            f" (mean of the checkpoints of steps {', '.join(map(str, result['averaged_steps']))})"
            if result["averaged_steps"]
            else ""
        )
        + ("; loads as its self-ensemble" if result["ensemble"] else "")
        + "; largest raw-output "
        f"difference from the source: {result['max_difference']:.2e}."
    )
    md_path = os.path.splitext(result["json"])[0] + ".md"
    if not os.path.isfile(md_path):
        print(f"Now write {md_path}: the provenance note (see checkpoints/README.md).")


if __name__ == "__main__":
    flags.mark_flags_as_required(["name", "description"])
    cli.run(main)
