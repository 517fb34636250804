"""Reading and writing the image and mask files of users: the one reader of an inpainting job's
image and mask, and the one writer behind inpainting outputs, sample grids and previews.

`read_image` (8-bit RGB, or 16-bit kept exact) and `read_hole_mask` (a bool hole array by the
shared mask rule) read through the image-reading gate of `tfinpaint.data.image_files`; they are
what `tfinpaint.inference` and the tools read users' files with. `write_image` is what
`tfinpaint.inference` (inpainted images, 8 or 16 bits), `tfinpaint.training.reporting` (sample
grids of a run) and `tfinpaint.data.preview` (pipeline previews) write with. It lives in `data`
because `data` imports no other tfinpaint package, while inference and training may import `data`.

Example:
```python
from tfinpaint.data import imageio
image = imageio.read_image("photo.png", keep_16bit=True)
holes = imageio.read_hole_mask("holes.png")  # (H, W) bool, white = hole
imageio.write_image("out/grid.png", grid_uint8, overwrite=False)
```
"""

import os
import tempfile

import cv2
import numpy as np

from tfinpaint.data import image_files, sources

__all__ = [
    "MASK_POLARITIES",
    "MAX_PIXELS_HINT",
    "SIXTEEN_BIT_EXTENSIONS",
    "read_hole_mask",
    "read_image",
    "write_image",
]

# Which mask pixels are holes: white (light) ones or black (dark) ones.
MASK_POLARITIES = ("hole_white", "hole_black")

# Formats OpenCV writes at 16 bits per channel; others get 8-bit output.
SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_image(path, image, overwrite=True):
    """Writes an (H, W, 3) RGB array, uint8 or uint16, in the format of the path's extension.

    uint16 is written at 16 bits to PNG and TIFF, and rounded to 8 bits for other formats.
    Parent folders are created. The file is written beside its destination and renamed into
    place, so a reader never sees half a file, an existing file (or another name of the same
    file, a hard link) is never written into, and it gets the permissions of the user's umask.

    Args:
        path: str or path-like. The file to write; its extension picks the format.
        image: array (H, W, 3), uint8 or uint16, RGB.
        overwrite: bool. Replace an existing file (otherwise that is an error).

    Returns:
        The path written, as a str.

    Raises:
        ValueError: a bad image, an extension OpenCV cannot write, an existing file without
            `overwrite`, or a folder that cannot be written.
    """
    path = os.fspath(path)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"Received an image of shape {image.shape} and dtype {image.dtype}; expected an "
            "(H, W, 3) RGB array of uint8 or uint16."
        )
    if not cv2.haveImageWriter(path):
        raise ValueError(f"Cannot write {path}: OpenCV has no writer for its extension.")
    if not overwrite and os.path.lexists(path):
        raise ValueError(f"Output {path} already exists; expected a new path or overwrite=True.")
    extension = os.path.splitext(path)[1]
    if image.dtype == np.uint16 and extension.lower() not in SIXTEEN_BIT_EXTENSIONS:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.tmp-", suffix=extension, dir=folder
        )
    except OSError as error:
        raise ValueError(
            f"Cannot write {path} ({error.strerror}); expected a writable folder."
        ) from None
    os.close(fd)
    try:
        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(tmp_path, bgr):
            raise ValueError(f"OpenCV failed to write {path}; expected a writable folder.")
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates it 0600.
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
    return path


# What a refusal for too many pixels suggests (tools/inpaint.py and evaluate.py).
MAX_PIXELS_HINT = (
    "raise --max_pixels if this machine has the memory to decode it (--strategy=tile or "
    "--strategy=resize with --max_size then bound what the network sees), or downscale the file"
)


def _read_bytes(path, what="image", max_pixels=None):
    """The file's bytes through the image-reading gate (`tfinpaint.data.image_files`): only a
    regular file, and no more than `max_pixels` by its header."""
    return image_files.read_image_file(path, what, max_pixels, hint=MAX_PIXELS_HINT)


def _decode_unchanged(data):
    """OpenCV's decode keeping depth and alpha, or None for JPEGs (decoded with their EXIF
    rotation by `sources.decode_image_bytes`) and undecodable bytes."""
    if not data or data[:2] == b"\xff\xd8":
        return None
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # Sizes past OpenCV's own limit assert instead of returning None.
        return None
    return image if image is not None and image.size else None


def _to_rgb16(image):
    """A 16-bit OpenCV array (gray, gray+alpha, BGR or BGRA) as (H, W, 3) uint16 RGB; alpha is
    composited on white, like `sources.to_rgb8` does for 8-bit images."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] in (2, 4):
        alpha = image[:, :, -1:].astype(np.float64) / 65535.0
        color = image[:, :, :-1].astype(np.float64)
        image = np.rint(color * alpha + 65535.0 * (1.0 - alpha)).astype(np.uint16)
    if image.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))
    return np.ascontiguousarray(image[:, :, ::-1])


def read_image(path, keep_16bit=False, max_pixels=None):
    """Reads any image OpenCV decodes as (H, W, 3) RGB.

    8-bit RGB by default (16-bit, gray, alpha converted like the data pipeline:
    `tfinpaint.data.sources.decode_image_bytes`). With `keep_16bit=True` a 16-bit file (PNG,
    TIFF) comes back as uint16 with its values unchanged, so that `tools/inpaint.py` can write
    its known pixels back exactly.

    The file passes the image-reading gate first (`tfinpaint.data.image_files`): anything but
    a regular file (a FIFO, a device, a socket, a folder) is refused by what it is, and so is
    an image whose header declares more than `max_pixels` pixels (None: the process default,
    `image_files.default_max_pixels()`), before anything is decoded.
    """
    data = _read_bytes(path, "image", max_pixels)
    if keep_16bit:
        image = _decode_unchanged(data)
        if image is not None and image.dtype == np.uint16:
            return _to_rgb16(image)
    try:
        return sources.decode_image_bytes(data, name=path, max_pixels=max_pixels)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def read_hole_mask(path, polarity="hole_white", max_pixels=None):
    """Reads a mask image as an (H, W) bool array of holes.

    The mask rule (`tfinpaint.data.image_files.hole_level`, shared by every mask reader):
    masks are grayscale; a colour mask (channels that differ by more than a quarter of the
    range, e.g. red strokes painted on a photo) is refused in one sentence. Values count from
    0 to 255 (8-bit) or 65535 (16-bit), except that a mask whose largest value is 1 is a 0/1
    mask at either depth. The gray level is binarised at 0.5: with "hole_white" light pixels
    are holes, with "hole_black" dark ones. A mask with an alpha channel (RGBA, gray + alpha)
    is first composited over the *no-hole* colour (black for "hole_white", white for
    "hole_black"): transparent pixels are never holes, opaque pixels follow the colour rule,
    and a half-transparent pixel is a hole only if its composite is still past 0.5 (for
    "hole_white", gray x alpha >= 0.5). 16-bit masks are read at full depth. A mask may have
    no hole at all (`check_jobs` then returns a warning, evaluation refuses it).

    The file passes the image-reading gate first, as in `read_image`.
    """
    if polarity not in MASK_POLARITIES:
        raise ValueError(f"Received polarity={polarity!r}; expected one of {MASK_POLARITIES}.")
    return image_files.read_hole_level(path, polarity, max_pixels, hint=MAX_PIXELS_HINT) >= 0.5
