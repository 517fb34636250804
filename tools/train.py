r"""Trains an inpainting model; re-running with the same --workdir resumes it.

Usage:
  python tools/train.py --model=pconv --preset=tiny --data=samples --workdir=runs/pconv_tiny \
      --steps=300 --vgg_weights=none

  # The paper configuration on your own photos and the NVIDIA irregular masks:
  python tools/train.py --model=pconv --data=/data/places2/train \
      --masks=irregular:/data/nvidia_masks --workdir=runs/pconv --vgg_weights=imagenet

  # GLCIC's three phases in steps (the last runs to --steps), or as fractions of --steps:
  python tools/train.py --model=glcic --steps=500000 --workdir=runs/glcic \
      --schedule=completion:90000,discriminator:10000,joint
  python tools/train.py --model=glcic --workdir=runs/glcic --schedule=0.18,0.02,0.8

--schedule gives the stage/phase lengths (syntax in --help and tfinpaint/training/config.py);
--stage_steps, --stage_fractions, --phase_steps and --phase_fractions are its older aliases.
Writes into --workdir: config.json, checkpoints/, metrics.jsonl, logs/ (TensorBoard),
samples/*.png, and at the end generator.weights.h5 + generator.json. Every flag also works from
a file: --flagfile=run.flags.
"""

import sys

from absl import flags, logging

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint import inference, json_files, precision  # noqa: E402
from tfinpaint.data import image_files  # noqa: E402
from tfinpaint.models import registry  # noqa: E402
from tfinpaint.training import config as config_lib  # noqa: E402
from tfinpaint.training.loop import TrainingStopped, prepare_config, run_training  # noqa: E402
from tfinpaint.training.strategy import make_strategy  # noqa: E402

_MODEL = flags.DEFINE_enum("model", None, registry.list_models(), "Model family to train.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (created; resumed if it exists).")
_PRESET = flags.DEFINE_string("preset", "paper", "Model and training preset: paper or tiny.")
_DATA = flags.DEFINE_string(
    "data",
    "samples",
    "Image source: a folder, a text file of paths, tfds:NAME, or 'samples' (scikit-image's "
    "bundled photos).",
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir for --data=tfds:NAME.")
_SPLIT = flags.DEFINE_string("split", None, "TFDS split for --data=tfds:NAME.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Training crop size (preset default).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Global batch size (preset default).")
_STEPS = flags.DEFINE_integer("steps", None, "Total training steps (preset default).")
_MASKS = flags.DEFINE_string(
    "masks",
    None,
    "Mask spec: rect[:LOW-HIGH], freeform[:scaled], ca, thin|medium|thick, irregular:DIR, "
    "mixed:KIND=W,..., each:KIND,..., deepgin (preset default).",
)
_IRREGULAR_POLARITY = flags.DEFINE_enum(
    "irregular_polarity",
    "hole_white",
    ["hole_white", "hole_black"],
    "Polarity of the mask files of --masks=irregular:DIR.",
)
_RESIZE_SHORT_SIDE = flags.DEFINE_list(
    "resize_short_side",
    None,
    "LOW,HIGH: rescale each image's short side to U[LOW, HIGH] before cropping (GLCIC: 256,384).",
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed for initialisation, data order and masks.")
_STRATEGY = flags.DEFINE_enum(
    "strategy",
    "auto",
    ["auto", "default", "mirrored", "multiworker"],
    "tf.distribute strategy: auto = mirrored when more than one GPU is visible.",
)


class _MixedPrecisionParser(flags.ArgumentParser):
    """--mixed_precision=none|float16|bfloat16; bare --mixed_precision (as before) is float16."""

    _VALUES = {"true": "float16", "false": "none", **{p: p for p in precision.MIXED_PRECISIONS}}

    def parse(self, argument):
        if isinstance(argument, bool):
            return "float16" if argument else "none"
        value = self._VALUES.get(str(argument).lower())
        if value is None:
            raise ValueError(
                f"takes {precision.MIXED_PRECISIONS_TEXT} (bare: float16), got '{argument}'"
            )
        return value

    def flag_type(self):
        return "string"


# A boolean-style flag so that a bare --mixed_precision (float16) and --nomixed_precision work.
_MIXED_PRECISION = flags.DEFINE_flag(
    flags.Flag(
        _MixedPrecisionParser(),
        flags.ArgumentSerializer(),
        "mixed_precision",
        "none",
        "Mixed precision: none, float16 (mixed_float16 with loss scaling; also a bare "
        "--mixed_precision) or bfloat16 (mixed_bfloat16, no loss scaling).",
        boolean=True,
    )
)
_JIT_COMPILE = flags.DEFINE_bool(
    "jit_compile",
    False,
    "Compile the train step with XLA (on CPUs slower than the default graph: XLA:CPU runs "
    "convolutions through Eigen, not oneDNN; see WORKSPACE.md).",
)
_VGG_WEIGHTS = flags.DEFINE_string(
    "vgg_weights",
    "imagenet",
    "VGG weights for perceptual/style losses: imagenet (Keras download), a local .h5 file, or "
    "none (drops those terms with a warning).",
)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", None, "Generator learning rate.")
_D_LEARNING_RATE = flags.DEFINE_float("d_learning_rate", None, "Discriminator learning rate.")
_SCHEDULE = flags.DEFINE_string(
    "schedule",
    None,
    "Stage/phase lengths, one entry per stage or phase in order, each NAME:LENGTH, LENGTH, or "
    "(the last) NAME alone. LENGTH is a step count (integer: every entry but the last, which "
    "runs to --steps) or a fraction of --steps (with a decimal point: every entry, summing to "
    "1). Names: pconv train,finetune; glcic completion,discriminator,joint; cascade "
    "first,additional; deepgin warmup,main. E.g. --schedule=completion:90000,discriminator:"
    "10000,joint or --schedule=0.18,0.02,0.8 (preset default when left out).",
)
# Older spellings of --schedule (the same lengths; a family with stages takes the stage_ pair).
_STAGE_STEPS = flags.DEFINE_list(
    "stage_steps", None, "Alias of --schedule: step counts of all stages but the last."
)
_STAGE_FRACTIONS = flags.DEFINE_list(
    "stage_fractions", None, "Alias of --schedule: the share of --steps of every stage."
)
_PHASE_STEPS = flags.DEFINE_list(
    "phase_steps", None, "Alias of --schedule: step counts of all phases but the last."
)
_PHASE_FRACTIONS = flags.DEFINE_list(
    "phase_fractions", None, "Alias of --schedule: the share of --steps of every phase."
)
_LOG_EVERY = flags.DEFINE_integer("log_every", None, "Steps between log records.")
_CHECKPOINT_EVERY = flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints.")
_SAMPLE_EVERY = flags.DEFINE_integer("sample_every", None, "Steps between PNG sample grids.")
_VAL_BATCH_SIZE = flags.DEFINE_integer("val_batch_size", None, "Fixed validation batch size.")
_KEEP_CHECKPOINTS = flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept on disk.")
_GENERATOR_CONFIG = flags.DEFINE_string(
    "generator_config", None, "JSON object of generator constructor overrides."
)
_OPTIONS = flags.DEFINE_string(
    "options", None, "JSON object of family training options (see WORKSPACE.md)."
)
_INIT_FROM = flags.DEFINE_string(
    "init_from",
    None,
    "Fine-tune: start a new run from the generator weights of a training run, checkpoint "
    "prefix, generator.json/.weights.h5 or shipped checkpoint NAME of the same family and "
    "architecture, or of an architecture this run's adds layers to (e.g. the cascade's "
    "full_resolution_blocks): those weights go by name and the added ones start fresh "
    "(optimizers start fresh at step 0; a resumed run ignores it).",
)

_MAX_PIXELS = flags.DEFINE_integer(
    "max_pixels",
    image_files.DEFAULT_MAX_PIXELS,
    "Training images whose header declares more pixels than this are skipped with a warning, "
    "never decoded (decompression bombs; 50 MP covers camera photos). Not saved in the run.",
    lower_bound=1,
)

# Flag name -> TrainConfig field, for the flags that map one to one.
_FIELDS = {
    "model": _MODEL,
    "workdir": _WORKDIR,
    "preset": _PRESET,
    "data": _DATA,
    "data_dir": _DATA_DIR,
    "split": _SPLIT,
    "image_size": _IMAGE_SIZE,
    "batch_size": _BATCH_SIZE,
    "steps": _STEPS,
    "masks": _MASKS,
    "irregular_polarity": _IRREGULAR_POLARITY,
    "seed": _SEED,
    "strategy": _STRATEGY,
    "mixed_precision": _MIXED_PRECISION,
    "jit_compile": _JIT_COMPILE,
    "vgg_weights": _VGG_WEIGHTS,
    "learning_rate": _LEARNING_RATE,
    "d_learning_rate": _D_LEARNING_RATE,
    "log_every": _LOG_EVERY,
    "checkpoint_every": _CHECKPOINT_EVERY,
    "sample_every": _SAMPLE_EVERY,
    "val_batch_size": _VAL_BATCH_SIZE,
    "keep_checkpoints": _KEEP_CHECKPOINTS,
    "init_from": _INIT_FROM,
    "schedule": _SCHEDULE,
}
_NUMBER_LISTS = {
    "resize_short_side": (_RESIZE_SHORT_SIDE, int),
    "stage_steps": (_STAGE_STEPS, int),
    "stage_fractions": (_STAGE_FRACTIONS, float),
    "phase_steps": (_PHASE_STEPS, int),
    "phase_fractions": (_PHASE_FRACTIONS, float),
}
_JSON_OBJECTS = {"generator_overrides": _GENERATOR_CONFIG, "options": _OPTIONS}


def _number_list(flag, kind):
    try:
        return [kind(value) for value in flag.value]
    except ValueError:
        sys.exit(
            f"Error: --{flag.name} takes comma-separated {kind.__name__} values, got "
            f"{','.join(flag.value)}."
        )


def _json_object(flag):
    # One sentence for every malformed value: not JSON, nested past the parser's recursion
    # limit, or JSON of another shape (a list, a string, a number, null).
    try:
        return json_files.parse_json_object(
            flag.value, f"--{flag.name}", "a JSON object such as '{\"name\": value}'"
        )
    except ValueError as error:
        sys.exit(f"Error: {error}")


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    values = {field: flag.value for field, flag in _FIELDS.items()}
    explicit = [field for field, flag in _FIELDS.items() if flag.present]
    for field, (flag, kind) in _NUMBER_LISTS.items():
        values[field] = _number_list(flag, kind) if flag.value else None
        explicit += [field] if flag.present else []
    for field, flag in _JSON_OBJECTS.items():
        values[field] = _json_object(flag) if flag.value else {}
        explicit += [field] if flag.present else []
    train_config = config_lib.TrainConfig(**values)
    try:
        if train_config.strategy == "multiworker":  # Before any TF op (see strategy.py).
            make_strategy("multiworker")
        image_files.set_default_max_pixels(_MAX_PIXELS.value)
        resolved = prepare_config(train_config, explicit_names=explicit)[0]
        # A batch too large for memory: one sentence now, not std::bad_alloc mid-run.
        inference.check_batch_memory(None, resolved.batch_size, resolved.image_size, training=True)
    except ValueError as error:  # Bad settings: one sentence before any work, no traceback.
        sys.exit(f"Error: {error}")
    try:
        summary = run_training(train_config, explicit_names=explicit)
    except (ValueError, TrainingStopped) as error:  # Unreadable checkpoints, NaN losses,
        # bad input found once the data is read: still one sentence.
        sys.exit(f"Error: {error}")
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM; the loop saved a checkpoint and said so.
        print(f"Stopped; run the same command to resume from {train_config.workdir}.")
        sys.exit(130)
    if summary.get("nothing_to_do"):  # Said by the loop; config.json and files untouched.
        print(f"Nothing to train: {summary['workdir']} is at step {summary['step']} already.")
        return
    logging.info("Finished at step %d in %s.", summary["step"], summary["workdir"])
    first, last = summary["first_val_psnr_hole"], summary["last_val_psnr_hole"]
    if first is not None:
        print(f"Validation hole PSNR: {first:.2f} dB at the first log, {last:.2f} dB at the last.")
    if summary["grid_path"]:
        print(f"Sample grid: {summary['grid_path']}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model", "workdir"])
    cli.run(main)
