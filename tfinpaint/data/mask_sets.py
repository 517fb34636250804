"""Fixed evaluation mask sets: N masks of a spec and seed saved as PNG files, read back in order.

Published inpainting numbers are computed against a fixed set of mask files (the NVIDIA
irregular masks, LaMa's `gen_mask_dataset.py` output), so that every method sees the same holes.
`write_mask_set` draws masks with `masks.make_mask_fns` (the generators that training and
`build_dataset` use; mask i from the seed `[seed, i]`, as `masks.hole_ratio_stats`), and writes
them as `00000.png`, `00001.png`, ... (uint8, hole = 255, i.e. `hole_white`) beside a
`manifest.json` recording the spec, seed, size, polarity and every hole ratio. `MaskSet` reads
such a folder (or any folder of PNG masks) back: file i, in sorted name order, is the i-th
mask, so `evaluation.evaluate(..., mask_dir=DIR)` pairs the i-th image with the i-th mask.

Example:

    write_mask_set("thick", 256, num_masks=2000, seed=0, output_dir="masks/thick_256")
    mask_set = MaskSet("masks/thick_256", image_size=256)
    hole_masks = mask_set.read(range(8))  # (8, 256, 256, 1) float32, 1 = hole
"""

import json
import os

import cv2
import numpy as np
import tensorflow as tf

from tfinpaint.data import image_files, sources
from tfinpaint.data import masks as mask_lib
from tfinpaint.files import check_writable, write_json

MANIFEST = "manifest.json"


def _is_positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def write_mask_set(
    spec,
    image_size,
    num_masks,
    seed=0,
    output_dir=None,
    *,
    irregular_polarity="hole_white",
    hole_ratio_range=None,
):
    """Draws `num_masks` masks of `spec` and writes them, with a manifest, to `output_dir`.

    The masks are drawn as at evaluation (`make_mask_fns(..., training=False)`: for
    `irregular:DIR` a seeded choice of file, resized, not augmented; every other kind is the
    same in training and evaluation).

    Args:
        spec: str. A mask spec drawing one mask per image (not `each:` or `deepgin`).
        image_size: int. Side of the square masks.
        num_masks: int. How many masks to write.
        seed: int. Mask i is drawn from the seed `[seed, i]`.
        output_dir: str. A folder that does not exist yet or is empty; created.
        irregular_polarity: str. Polarity of the files of an `irregular:DIR` spec.
        hole_ratio_range: (low, high) or None. Keep only masks whose hole ratio r has
            low <= r <= high: draws continue with seeds [seed, i], i = 0, 1, ... until
            `num_masks` are kept (the manifest's `draw_indices` says which i each file is).

    Returns:
        dict: the manifest written (`spec`, `seed`, `image_size`, `num_masks`,
        `irregular_polarity` of the written files, `files`, `hole_ratios`, `mean_hole_ratio`,
        `hole_ratio_range` and `draw_indices`).

    Raises:
        ValueError: one sentence, before any file is written, for a bad spec, size, count or
            seed, or an `output_dir` that is a file or a folder that is not empty.
    """
    if not _is_positive_int(num_masks):
        raise ValueError(f"--num must be a positive integer, got {num_masks!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {seed!r}.")
    if not output_dir:
        raise ValueError("--output is required: the folder to write the mask set to.")
    if hole_ratio_range is not None:
        low, high = (float(value) for value in hole_ratio_range)
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(
                f"Received hole ratio range {low}-{high}; expected 0 <= low < high <= 1."
            )
    if os.path.isfile(output_dir) or (os.path.isdir(output_dir) and os.listdir(output_dir)):
        raise ValueError(
            f"--output={output_dir} exists and is not an empty folder; expected a new folder "
            "(a mask set is never overwritten)."
        )
    check_writable(output_dir, "--output")
    mask_fns = mask_lib.make_mask_fns(
        spec, image_size, training=False, irregular_polarity=irregular_polarity
    )
    if len(mask_fns) != 1:
        raise ValueError(
            f"Mask spec {spec!r} draws {len(mask_fns)} masks per image; a mask set holds one "
            "per image, so expected a single kind or a mixed: spec."
        )
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"Cannot create --output={output_dir} ({error.strerror}); expected a path in a "
            "writable folder."
        ) from None
    width = max(5, len(str(num_masks - 1)))
    files, ratios, draws = [], [], []
    index = -1
    max_draws = num_masks * 200
    while len(files) < num_masks:
        index += 1
        if index >= max_draws:
            raise ValueError(
                f"Only {len(files)} of {index} masks of {spec!r} at {image_size} px had a hole "
                f"ratio in {low}-{high}; expected a range the spec reaches more often."
            )
        hole_mask = mask_fns[0](tf.constant([seed, index], tf.int64))["masks"].numpy()
        ratio = float(hole_mask.mean())
        if hole_ratio_range is not None and not low <= ratio <= high:
            continue
        name = f"{len(files):0{width}d}.png"
        cv2.imwrite(
            os.path.join(output_dir, name), (hole_mask[..., 0] > 0.5).astype(np.uint8) * 255
        )
        files.append(name)
        ratios.append(ratio)
        draws.append(index)
    manifest = {
        "spec": spec,
        "seed": int(seed),
        "image_size": int(image_size),
        "num_masks": int(num_masks),
        "irregular_polarity": "hole_white",
        "source_irregular_polarity": irregular_polarity,
        "seeding": "mask i from make_mask_fns(spec, image_size, training=False)[0]([seed, i])",
        "files": files,
        "hole_ratios": ratios,
        "mean_hole_ratio": float(np.mean(ratios)),
        "hole_ratio_range": None if hole_ratio_range is None else [low, high],
        "draw_indices": draws,
    }
    write_json(os.path.join(output_dir, MANIFEST), manifest, indent=1)  # Strict, atomic.
    return manifest


class MaskSet:
    """A folder of PNG hole masks read in a fixed order (file i is the i-th mask).

    The files are the manifest's `files` when `manifest.json` is there, else every `*.png`
    directly in the folder (entries that are not regular files skipped with a warning),
    sorted by name. Masks must be `image_size` square (no silent resize, so the set scores
    what was saved); they follow the mask rule of `image_files.hole_level` (grayscale, 0/1
    masks read as such, binarised at 0.5). Every mask is read once here, before any
    evaluation: damaged files, colour masks, masks of another size and masks without any
    hole (whose hole metrics would be nan) are refused, naming how many and the first.

    Args:
        folder: str. The mask set folder.
        image_size: int. Side the masks must have.
        irregular_polarity: str. "hole_white" (bright = hole, what `write_mask_set` writes) or
            "hole_black". A manifest's own polarity wins.

    Raises:
        ValueError: one sentence for a missing folder, a folder without PNG files, a manifest
            naming missing files, or masks that are damaged, colour, of another size or
            without a hole.
    """

    def __init__(self, folder, image_size, irregular_polarity="hole_white"):
        if not os.path.isdir(folder):
            kind = image_files.describe_file_type(folder)
            where = "does not exist" if kind == "missing" else f"is {kind}"
            raise ValueError(
                f"--mask_dir={folder} is not a folder ({where}); expected a folder of PNG masks "
                "such as tools/make_masks.py writes."
            )
        self.folder = folder
        self.image_size = int(image_size)
        self.manifest = None
        manifest_path = os.path.join(folder, MANIFEST)
        if os.path.isfile(manifest_path):
            try:
                with open(manifest_path, encoding="utf-8") as f:
                    self.manifest = json.load(f)
                names = list(self.manifest["files"])
                irregular_polarity = self.manifest.get("irregular_polarity", irregular_polarity)
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise ValueError(
                    f"{manifest_path} is not a mask-set manifest ({error}); expected the JSON "
                    "that tools/make_masks.py writes, with a `files` list."
                ) from None
            missing = [n for n in names if not image_files.is_regular_file(os.path.join(folder, n))]
            if missing:
                raise ValueError(
                    f"{len(missing)} of the {len(names)} masks listed in {manifest_path} are "
                    f"missing (first: {missing[0]}); expected every listed file."
                )
        else:
            names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
            names = [
                os.path.basename(path)
                for path in sources.skip_non_regular([os.path.join(folder, n) for n in names])
            ]
        if not names:
            raise ValueError(
                f"--mask_dir={folder} holds no PNG files; expected a mask set such as "
                "tools/make_masks.py writes."
            )
        if irregular_polarity not in mask_lib.POLARITIES:
            raise ValueError(
                f"Mask polarity is {irregular_polarity!r}; expected one of {mask_lib.POLARITIES}."
            )
        self.irregular_polarity = irregular_polarity
        self.paths = [os.path.join(folder, name) for name in names]
        self._check_all()  # Every problem surfaces here, before any evaluation.

    def __len__(self):
        return len(self.paths)

    def _check_all(self):
        problems, empty = [], []
        for path in self.paths:
            try:
                if not self._read_one(path).any():
                    empty.append(path)
            except ValueError as error:
                problems.append(str(error).rstrip("."))
        if problems:
            raise ValueError(
                f"{len(problems)} of the {len(self.paths)} masks in --mask_dir={self.folder} "
                f"cannot be used; first: {problems[0]}."
            )
        if empty:
            raise ValueError(
                f"{len(empty)} of the {len(self.paths)} masks in --mask_dir={self.folder} have "
                f"no hole pixel (first: {empty[0]}, read as {self.irregular_polarity}), so "
                "their hole metrics would be undefined; expected a hole in every mask (check "
                "the polarity, or remove the empty masks)."
            )

    def _read_one(self, path):
        level = image_files.read_hole_level(path, self.irregular_polarity)
        if level.shape != (self.image_size, self.image_size):
            raise ValueError(
                f"Mask file {path} is {level.shape[1]}x{level.shape[0]} but the images are "
                f"{self.image_size}x{self.image_size}; expected masks of the image size "
                "(write the set with the same --image_size)"
            )
        return (level >= 0.5).astype(np.float32)[..., None]

    def read(self, indices):
        """Masks `indices` as a (len(indices), S, S, 1) float32 array, 1 = hole."""
        return np.stack([self._read_one(self.paths[i]) for i in indices])
