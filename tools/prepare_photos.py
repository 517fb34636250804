r"""Writes a clean training folder from folders of photographs (see tfinpaint/data/photos.py).

Reads every image under the inputs, drops excluded, too small and near-duplicate images,
resizes the short side to --short_side and writes `OUTPUT/train/*.png`, `OUTPUT/val/*.png` and
`OUTPUT/manifest.json` (every source file, its SHA-256, Debian package and licence field, and
why each dropped file was dropped). The split is fixed by file name and --seed. Inputs are only
read; an existing, non-empty --output is refused.

Qt resource files (`*.rcc`) under an input are opened too: the photographs of Debian's
`gcompris-qt-data` live inside them, and only those of the activities whose pictures are
photographs, without transparent pixels, are taken (the rule is in
tfinpaint/data/qt_resources.py).

Usage (the photos the checkpoints are trained on; see checkpoints/README.md for the exact
command, with the digital-art wallpapers kept in train/):
  apt-get download plasma-workspace-wallpapers gnome-backgrounds gcompris-qt-data
  for deb in *.deb; do dpkg -x "$deb" "deb_${deb%%_*}"; done
  python tools/prepare_photos.py --input=deb_gnome-backgrounds,deb_plasma-workspace-wallpapers,\
deb_gcompris-qt-data,samples --output=data/photos --short_side=384 --val_fraction=0.35 \
      --exclude='*/screenshot.*'
"""

import sys

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint.data import photos  # noqa: E402

_INPUT = flags.DEFINE_list("input", None, "Folders of images (recursive) and/or 'samples'.")
_OUTPUT = flags.DEFINE_string("output", None, "New (or empty) folder to write.")
_SHORT_SIDE = flags.DEFINE_integer("short_side", 384, "Short side of the written images.")
_VAL_FRACTION = flags.DEFINE_float("val_fraction", 0.2, "Share of pictures put in val/.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the train/validation split.")
_MIN_SHORT_SIDE = flags.DEFINE_integer(
    "min_short_side", 256, "Images with a smaller short side are dropped."
)
_DEDUP_DISTANCE = flags.DEFINE_integer(
    "dedup_distance",
    6,
    "Images whose 64-bit difference hashes differ in at most this many bits are one picture "
    "(the largest is kept); -1 compares no hashes (KDE wallpaper packages are still grouped).",
)
_EXCLUDE = flags.DEFINE_list(
    "exclude", [], "fnmatch patterns on the path relative to its input; matches are dropped."
)
_TRAIN_ONLY = flags.DEFINE_list(
    "train_only",
    [],
    "fnmatch patterns (as --exclude) of pictures that always go to train/ (e.g. digital art, "
    "so that every validation picture is a photograph).",
)
_MIN_CONTRAST = flags.DEFINE_float(
    "min_contrast", 4.0, "Images whose gray standard deviation (0-255) is lower are dropped."
)


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    for flag in (_INPUT, _OUTPUT):
        if not flag.value:
            sys.exit(f"Error: --{flag.name} is required.")
    try:
        manifest = photos.prepare_photos(
            _INPUT.value,
            _OUTPUT.value,
            short_side=_SHORT_SIDE.value,
            val_fraction=_VAL_FRACTION.value,
            seed=_SEED.value,
            min_short_side=_MIN_SHORT_SIDE.value,
            dedup_distance=_DEDUP_DISTANCE.value,
            exclude=_EXCLUDE.value,
            train_only=_TRAIN_ONLY.value,
            min_contrast=_MIN_CONTRAST.value,
        )
    except ValueError as error:
        sys.exit(f"Error: {error}")
    print(
        f"Wrote {manifest['num_train']} training and {manifest['num_val']} validation photos "
        f"to {_OUTPUT.value} ({len(manifest['dropped'])} files dropped; see manifest.json)."
    )


if __name__ == "__main__":
    cli.run(main)
