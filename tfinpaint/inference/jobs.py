"""File jobs of tools/inpaint.py: which (image, mask, output) triples to run, every check before
anything is written, and one job's read-inpaint-write.

`plan_jobs` checks the paths (three files, or three folders paired by file stem) and lists the
jobs; `check_jobs` reads every image/mask pair once (decodable, same size, a warning for a mask
without holes); `inpaint_file` runs one job. Images and masks are read by
`tfinpaint.data.imageio`'s readers and written by its writer.

Example:
```python
from tfinpaint import inference
jobs = inference.plan_jobs("photos/", "masks/", "out/")
report = inference.check_jobs(jobs)
for image_path, mask_path, output_path in jobs:
    inference.inpaint_file(generator, image_path, mask_path, output_path)
```
"""

import logging
import os

import cv2

from tfinpaint import files
from tfinpaint.data import image_files
from tfinpaint.data.imageio import read_hole_mask, read_image, write_image
from tfinpaint.inference.strategies import inpaint

__all__ = [
    "FOLDER_EXTENSIONS",
    "check_jobs",
    "empty_mask_warning",
    "inpaint_file",
    "plan_jobs",
    "same_file",
]

# What a folder of images or masks is searched for (OpenCV reads all of these).
FOLDER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

logger = logging.getLogger(__name__)


def _list_folder(folder, what):
    by_stem = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        stem, extension = os.path.splitext(name)
        if name.startswith(".") or extension.lower() not in FOLDER_EXTENSIONS:
            continue
        if not image_files.is_regular_file(path):  # A FIFO would block, a folder is no image.
            logger.warning(
                "Skipping %s in the %s folder: it is %s, not a regular file",
                path,
                what,
                image_files.describe_file_type(path),
            )
            continue
        if stem in by_stem:
            raise ValueError(
                f"The {what} folder {folder} holds two files with the stem '{stem}' "
                f"({os.path.basename(by_stem[stem])} and {name}); expected one per stem."
            )
        by_stem[stem] = path
    if not by_stem:
        raise ValueError(
            f"No {what} files in {folder}; expected {', '.join(FOLDER_EXTENSIONS)} files."
        )
    return by_stem


def same_file(a, b):
    """True when `a` and `b` name one file: the same path, or the same device and inode (a hard
    link or a bind mount of the input)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # One of them does not exist (yet).
        return False


def plan_jobs(image, mask, output, overwrite=False):
    """Checks the paths of an inpainting run and lists its (image, mask, output) triples.

    Either three files (`output` is the file to write, its extension picks the format) or three
    folders: every image in `image` (png, jpg, jpeg, bmp, webp, tif, tiff; not recursive) is
    paired with the file of the same stem in `mask`, and written to `output/STEM.png` (PNG keeps
    the known pixels exact). All checks run before any work.

    Raises:
        ValueError: a missing input, a mix of files and folders, images without masks (the first
            few are listed), an output that is an input, or an existing output without
            `overwrite`.
    """
    for name, path in (("image", image), ("mask", mask)):
        if not path or not os.path.exists(path):
            raise ValueError(f"The {name} path {path!r} does not exist.")
    if not output:
        raise ValueError("No output path given; expected a file (or a folder for folders).")
    if os.path.isdir(image) != os.path.isdir(mask):
        raise ValueError(
            f"Received image={image} and mask={mask}; expected two files or two folders."
        )
    if os.path.isdir(image):
        if os.path.exists(output) and not os.path.isdir(output):
            raise ValueError(f"The output {output} is a file; expected a folder for folders.")
        images = _list_folder(image, "image")
        masks = _list_folder(mask, "mask")
        missing = [stem for stem in images if stem not in masks]
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise ValueError(
                f"{len(missing)} image(s) in {image} have no mask of the same stem in {mask}: "
                f"{shown}."
            )
        jobs = [(images[stem], masks[stem], os.path.join(output, f"{stem}.png")) for stem in images]
        inputs = list(images.values()) + list(masks.values())
    else:
        if os.path.isdir(output):
            raise ValueError(f"The output {output} is a folder; expected a file path.")
        jobs = [(image, mask, output)]
        inputs = [image, mask]
    checked_folders = set()  # check_writable probes a folder with a file: once per folder.
    for _, _, out_path in jobs:
        if any(same_file(out_path, path) for path in inputs):
            raise ValueError(f"The output {out_path} is an input file; choose another output.")
        if not cv2.haveImageWriter(out_path):
            raise ValueError(f"Cannot write {out_path}: OpenCV has no writer for its extension.")
        if os.path.isdir(out_path):
            raise ValueError(f"The output {out_path} is a folder; expected a file path.")
        folder = os.path.dirname(os.path.abspath(out_path))
        if folder not in checked_folders:
            files.check_writable(out_path)
            checked_folders.add(folder)
    existing = [out for _, _, out in jobs if os.path.exists(out)]
    if existing and not overwrite:
        shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
        raise ValueError(
            f"{len(existing)} output file(s) already exist ({shown}); pass --overwrite to "
            "replace them."
        )
    return jobs


def _read_pair(image_path, mask_path, polarity, max_pixels=None):
    image = read_image(image_path, keep_16bit=True, max_pixels=max_pixels)
    try:
        holes = read_hole_mask(mask_path, polarity, max_pixels=max_pixels)
    except ValueError as error:
        message = str(error)
        raise ValueError(message if mask_path in message else f"{mask_path}: {message}") from None
    if holes.shape != image.shape[:2]:
        raise ValueError(
            f"The mask {mask_path} is {holes.shape[0]}x{holes.shape[1]} (HxW) but the image "
            f"{image_path} is {image.shape[0]}x{image.shape[1]}; expected the same size."
        )
    return image, holes


def empty_mask_warning(mask_path, polarity):
    """The warning for a mask without a single hole pixel (the output is then the input)."""
    colour = "white" if polarity == "hole_white" else "black"
    return (
        f"the mask {mask_path} has no hole pixel ({colour} pixels are holes with "
        f"--mask_polarity={polarity}), so its output is the input unchanged; check the mask's "
        "polarity and values."
    )


def check_jobs(jobs, polarity="hole_white", max_pixels=None):
    """Reads every (image, mask) pair of `plan_jobs` once, before anything is written.

    Returns:
        dict with `warnings` (one sentence per mask without any hole pixel, whose output will
        be its input) and `sizes` ((height, width) of every image, in job order).

    Raises:
        ValueError: naming how many pairs are bad and the first problem (not a regular file,
            more than `max_pixels`, an undecodable image or mask, a colour mask, or a mask
            whose size differs from its image's).
    """
    problems, warnings, sizes = [], [], []
    for image_path, mask_path, _ in jobs:
        try:
            image, holes = _read_pair(image_path, mask_path, polarity, max_pixels)
        except ValueError as error:
            problems.append(str(error).rstrip("."))
            continue
        sizes.append(image.shape[:2])
        if not holes.any():
            warnings.append(empty_mask_warning(mask_path, polarity))
    if problems:
        if len(jobs) == 1:
            raise ValueError(problems[0] + ".")
        raise ValueError(
            f"{len(problems)} of {len(jobs)} image/mask pairs cannot be inpainted, so nothing "
            f"was written; first: {problems[0]}."
        )
    return {"warnings": warnings, "sizes": sizes}


def inpaint_file(
    generator,
    image_path,
    mask_path,
    output_path,
    polarity="hole_white",
    max_pixels=None,
    **kwargs,
):
    """Reads an image and its mask, inpaints (`inpaint` keyword arguments) and writes the result.

    16-bit images are inpainted and written at 16 bits (PNG, TIFF), so their known pixels come
    back exactly too.

    Returns:
        The fraction of hole pixels.
    """
    image, holes = _read_pair(image_path, mask_path, polarity, max_pixels)
    write_image(output_path, inpaint(generator, image, holes, **kwargs))
    return float(holes.mean())
