r"""Peak memory (RSS high-water mark) of one generator forward pass, in this fresh process.

Builds the preset generator, calls it once on a synthetic image with a centred hole, and prints
the resident-set high-water mark before and after the call (TF runtime and weights included).
Nothing else runs first (no warm-up, no FLOP count), so the figure is what a user's single
call costs; `--mode=eager` is what `tfinpaint.inference.inpaint` runs. `tools/benchmark.py
--what=inference` reports the peak after several timed calls instead.

Usage:
    python tools/peak_memory.py --model=gain --image_size=1024
    python tools/peak_memory.py --model=deepgin --image_size=1024 --mode=function \
        --json_output=/tmp/deepgin_1024.json
"""

import sys

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint import benchmark, files  # noqa: E402
from tfinpaint.models import registry  # noqa: E402

_MODEL = flags.DEFINE_enum("model", None, registry.list_models(), "Model family.")
_PRESET = flags.DEFINE_string("preset", "paper", "Generator preset.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 1024, "Height and width of the image.")
_MODE = flags.DEFINE_enum("mode", "eager", ["eager", "function"], "How the generator is called.")
_PRECISION = flags.DEFINE_enum(
    "precision", "float32", ["float32", "bfloat16"], "Compute precision of the generator."
)
_JSON_OUTPUT = flags.DEFINE_string("json_output", None, "Also write the record as JSON here.")


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments {' '.join(argv[1:])}.")
    if _MODEL.value is None:
        sys.exit("Error: --model is required.")
    try:
        record = benchmark.forward_peak_memory(
            _MODEL.value,
            preset=_PRESET.value,
            image_size=_IMAGE_SIZE.value,
            mode=_MODE.value,
            precision=_PRECISION.value,
        )
    except ValueError as error:
        sys.exit(f"Error: {error}")
    print(
        f"{record['model']} ({record['preset']}, {record['params']:,} parameters) at "
        f"{record['image_size']} px, {record['mode']}, {record['precision']}: peak RSS "
        f"{record['peak_rss_mib']:.0f} MiB ({record['baseline_rss_mib']:.0f} MiB before the "
        f"call), {record['seconds']:.1f} s."
    )
    if _JSON_OUTPUT.value:
        files.write_json(_JSON_OUTPUT.value, record, indent=1)


if __name__ == "__main__":
    cli.run(main)
