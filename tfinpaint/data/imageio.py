"""Writing RGB images to files: the one writer behind inpainting outputs, sample grids and previews.

`write_image` is what `tfinpaint.inference` (inpainted images, 8 or 16 bits),
`tfinpaint.training.reporting` (sample grids of a run) and `tfinpaint.data.preview` (pipeline
previews) write with. It lives in `data` because `data` imports no other tfinpaint package, while
inference and training may import `data`.

Example:
```python
from tfinpaint.data import imageio
imageio.write_image("out/grid.png", grid_uint8, overwrite=False)
```
"""

import os
import tempfile

import cv2
import numpy as np

__all__ = ["SIXTEEN_BIT_EXTENSIONS", "write_image"]

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
