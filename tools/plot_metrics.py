r"""Draws a training run's metrics.jsonl as a PNG line chart (one panel per logged value).

Usage:
  python tools/plot_metrics.py --workdir=runs/cascade --keys=val_psnr_hole,reconstruction \
      --output=checkpoints/cascade_photos_curve.png
"""

import os
import sys

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint import runs  # noqa: E402
from tfinpaint.training import reporting  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory (holds metrics.jsonl).")
_KEYS = flags.DEFINE_list("keys", ["val_psnr_hole"], "Logged values to draw, one panel each.")
_OUTPUT = flags.DEFINE_string("output", None, "PNG file to write (not overwritten).")


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    for flag in (_WORKDIR, _OUTPUT):
        if not flag.value:
            sys.exit(f"Error: --{flag.name} is required.")
    metrics = runs.RunDir(_WORKDIR.value).metrics_path
    if not os.path.isfile(metrics):
        sys.exit(f"Error: {metrics} does not exist; expected a training run directory.")
    if os.path.exists(_OUTPUT.value):
        sys.exit(f"Error: {_OUTPUT.value} exists; choose a new file (plots are never overwritten).")
    if not _OUTPUT.value.lower().endswith(".png"):
        sys.exit(f"Error: --output={_OUTPUT.value} must end in .png.")
    try:
        reporting.plot_metrics(reporting.read_metrics(metrics), _OUTPUT.value, _KEYS.value)
    except ValueError as error:
        sys.exit(f"Error: {error}")
    print(f"Wrote {_OUTPUT.value}.")


if __name__ == "__main__":
    cli.run(main)
