"""The one gate in front of every image or mask file a user hands to tfinpaint.

Every reader of a user's image or mask file (`tfinpaint.data.imageio.read_image` /
`read_hole_mask`, `tfinpaint.data.sources` for folders, list files and the pipeline,
`irregular:DIR` mask folders, `MaskSet` for `--mask_dir`, `prepare_photos`) goes through
`read_image_file`, which

1. refuses anything that is not a regular file by what it is (`check_regular_file`: a FIFO,
   which would block the reader forever, a character device such as /dev/zero, which never
   ends, a socket, a folder...), from `os.stat` before anything is opened, and opens with
   `O_NONBLOCK` so that a file swapped for a FIFO in between cannot hang either;
2. reads the image's size from its header (`read_image_header_size`: PNG, JPEG, WebP, BMP,
   GIF and TIFF parsed here, other formats through Pillow, which reads only the header) and
   refuses more than `max_pixels` before anything is decoded (`check_pixels`): a small
   compressed file can decode to tens of gigabytes (a decompression bomb), and OpenCV asserts
   on sizes past its own limit.

`DEFAULT_MAX_PIXELS` is 50 megapixels: above the largest common camera photos (45-50 MP
full-frame and phone sensors), and about 150 MB as 8-bit RGB, 600 MB as the float32 copy
inference works on; beyond it a machine needs several gigabytes for one image before any
network runs. Tools raise it with `--max_pixels`.

The hole-mask rule (`hole_level`) lives here too, since every mask reader shares it: masks
are grayscale, 1 = hole. See `hole_level` for the rule.

Example:
```python
from tfinpaint.data import image_files
data = image_files.read_image_file("photo.png", what="image", max_pixels=50_000_000)
```
"""

import io
import os
import re
import stat
import struct

import numpy as np

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MASK_COLOUR_TOLERANCE",
    "check_image_bytes",
    "check_pixels",
    "default_max_pixels",
    "check_regular_file",
    "describe_file_type",
    "hole_level",
    "is_regular_file",
    "read_image_file",
    "read_hole_level",
    "read_image_header_size",
    "read_regular_file",
    "set_default_max_pixels",
]

DEFAULT_MAX_PIXELS = 50_000_000
_process_max_pixels = [DEFAULT_MAX_PIXELS]
# A mask pixel whose channels differ by more than this fraction of the full range is colour.
MASK_COLOUR_TOLERANCE = 0.25


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def describe_file_type(path):
    """What `path` is, in words: "a regular file", "a folder", "a FIFO (named pipe)", ...,
    or "missing" when nothing is there (a dangling link included)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((text for test, text in _KINDS if test(mode)), "a special file")


def is_regular_file(path):
    """True for a regular file (or a link to one); never opens it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def check_regular_file(path, what="image"):
    """Raises a one-sentence ValueError unless `path` is a regular file; never opens it.

    Args:
        path: str or path-like.
        what: str. What the file is for, in the message ("image", "mask", "--data list").
    """
    path = os.fspath(path)
    kind = describe_file_type(path)
    if kind == "missing":
        raise ValueError(f"The {what} {path} does not exist; expected an existing file.")
    if kind != "a regular file":
        raise ValueError(
            f"The {what} {path} is {kind}, not a regular file; expected an image file."
            if what in ("image", "mask")
            else f"The {what} {path} is {kind}, not a regular file."
        )


def default_max_pixels():
    """The pixel limit readers apply when given none: `DEFAULT_MAX_PIXELS` unless a tool set
    its `--max_pixels` with `set_default_max_pixels` (the data pipeline reads with it)."""
    return _process_max_pixels[0]


def set_default_max_pixels(max_pixels):
    """Sets the process-wide pixel limit (a tool's `--max_pixels`); None restores the default.

    Raises:
        ValueError: not a positive integer.
    """
    if max_pixels is None:
        max_pixels = DEFAULT_MAX_PIXELS
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)):
        raise ValueError(f"Received max_pixels={max_pixels!r}; expected a positive integer.")
    if max_pixels < 1:
        raise ValueError(f"--max_pixels must be a positive integer, got {max_pixels}.")
    _process_max_pixels[0] = int(max_pixels)


def read_regular_file(path, what="image"):
    """The bytes of `path`, refused unless it is a regular file (`check_regular_file`)."""
    return _read_regular(os.fspath(path), what)


def _read_regular(path, what):
    check_regular_file(path, what)
    try:
        # O_NONBLOCK: a FIFO swapped in after the check opens at once instead of blocking.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise ValueError(
            f"Cannot read the {what} {path} ({error.strerror}); expected a readable file."
        ) from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"The {what} {path} is not a regular file; expected an image file.")
        try:
            return file.read()
        except OSError as error:
            raise ValueError(
                f"Cannot read the {what} {path} ({error.strerror}); expected a readable file."
            ) from None


# --- Header sizes --------------------------------------------------------------------------


def _png_size(head):
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    return None


def _gif_size(head):
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    return None


def _bmp_size(head):
    if head[:2] != b"BM" or len(head) < 26:
        return None
    header_size = struct.unpack("<I", head[14:18])[0]
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", head[18:22])
        return width, height
    width, height = struct.unpack("<ii", head[18:26])
    return abs(width), abs(height)


def _webp_size(head):
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP" or len(head) < 30:
        return None
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(head[24:27], "little")
        height = 1 + int.from_bytes(head[27:30], "little")
        return width, height
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg_size(stream):
    stream.seek(2)
    while True:
        byte = stream.read(1)
        while byte and byte != b"\xff":  # Garbage between segments.
            byte = stream.read(1)
        while byte == b"\xff":  # Fill bytes.
            byte = stream.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # No length field.
            continue
        if marker in (0xD9, 0xDA):  # End of image or start of scan before any frame.
            return None
        length_bytes = stream.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # Start of frame.
            frame = stream.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        if length < 2:
            return None
        stream.seek(length - 2, io.SEEK_CUR)


def _tiff_size(stream, head):
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(head[:4])
    if order is None or len(head) < 8:
        return None
    stream.seek(struct.unpack(order + "I", head[4:8])[0])
    count_bytes = stream.read(2)
    if len(count_bytes) < 2:
        return None
    size = {}
    for _ in range(min(struct.unpack(order + "H", count_bytes)[0], 4096)):
        entry = stream.read(12)
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            value = (
                struct.unpack(order + "H", entry[8:10])[0]
                if kind == 3
                else struct.unpack(order + "I", entry[8:12])[0]
            )
            size[tag] = value
    if 256 in size and 257 in size:
        return size[256], size[257]
    return None


def _pillow_size(stream):
    try:
        import warnings

        from PIL import Image
    except ImportError:  # pragma: no cover (Pillow ships with scikit-image)
        return None
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Its DecompressionBombWarning: we judge the size.
            with Image.open(stream) as image:
                return image.size
    except Image.DecompressionBombError as error:
        # Pillow refuses to open an image past twice its own MAX_IMAGE_PIXELS (a global we
        # leave alone); its message holds the pixel count, reported as a (count, 1) size.
        match = re.search(r"\((\d+) pixels\)", str(error))
        count = int(match.group(1)) if match else 2 * (Image.MAX_IMAGE_PIXELS or 0) + 1
        return count, 1
    except Exception:  # noqa: BLE001 (any format Pillow cannot parse: size unknown)
        return None


def read_image_header_size(source):
    """The (width, height) an image file declares in its header, without decoding it.

    Args:
        source: bytes, a binary file object (seekable), or a path (str / path-like; it must be
            a regular file: see `check_regular_file`).

    Returns:
        (width, height) as ints, or None when the header is not one this function or Pillow
        can read (then the decoder decides whether the bytes are an image at all).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _header_size(io.BytesIO(bytes(source)))
    if isinstance(source, (str, os.PathLike)):
        check_regular_file(source, "image")
        with open(source, "rb") as stream:
            return _header_size(stream)
    return _header_size(source)


def _header_size(stream):
    stream.seek(0)
    head = stream.read(32)
    for parse in (_png_size, _gif_size, _bmp_size, _webp_size):
        size = parse(head)
        if size is not None:
            return int(size[0]), int(size[1])
    if head[:2] == b"\xff\xd8":
        size = _jpeg_size(stream)
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        size = _tiff_size(stream, head)
    else:
        size = _pillow_size(stream)
    return None if size is None else (int(size[0]), int(size[1]))


def check_pixels(size, path, max_pixels=None, what="image", hint=None):
    """Raises a one-sentence ValueError when a (width, height) `size` exceeds `max_pixels`.

    Args:
        size: (width, height) or None (unknown: nothing to check).
        path: str. Named in the message.
        max_pixels: int, or None for `default_max_pixels()`.
        what: str. "image" or "mask", for the message.
        hint: str or None. What to do instead, appended to the message (default: raise
            --max_pixels if the machine has the memory).
    """
    if size is None:
        return
    if max_pixels is None:
        max_pixels = default_max_pixels()
    width, height = size
    if width * height > max_pixels:
        hint = hint or (
            "raise --max_pixels if this machine has the memory for it, or shrink the file"
        )
        # Pillow's bomb refusal gives only a pixel count, as a (count, 1) size.
        size_text = f"{width}x{height} (WxH, " if height > 1 else "("
        raise ValueError(
            f"The {what} {path} is {size_text}{_pixels_text(width * height)}) by its header, "
            f"more than --max_pixels={max_pixels} ({_pixels_text(max_pixels)}); {hint}."
        )


def _pixels_text(pixels):
    return f"{pixels / 1e6:.1f} megapixels" if pixels >= 100_000 else f"{pixels:,} pixels"


def read_image_file(path, what="image", max_pixels=None, hint=None):
    """The bytes of a user's image or mask file, after the gate (see the module docstring).

    Raises:
        ValueError: one sentence: not a regular file (saying what it is), unreadable, or more
            pixels than `max_pixels` by its header.
    """
    path = os.fspath(path)
    data = _read_regular(path, what)
    check_pixels(read_image_header_size(data), path, max_pixels, what, hint)
    return data


def check_image_bytes(data, name, max_pixels=None, what="image"):
    """`check_pixels` on encoded bytes already in memory (a TFDS record, say)."""
    check_pixels(read_image_header_size(data), name, max_pixels, what)


# --- The hole-mask rule ----------------------------------------------------------------------


def _full_scale(values):
    if values.dtype == np.uint16:
        return 65535.0
    if values.dtype == np.uint8:
        return 255.0
    return 1.0


def hole_level(image, polarity="hole_white", name="mask"):
    """The hole level in [0, 1] of a decoded mask image: the one rule every mask reader uses.

    The rule:
    - Masks are grayscale. A pixel whose colour channels differ by more than
      `MASK_COLOUR_TOLERANCE` of the full range (a red stroke on a photo, say) makes the mask
      colour, and it is refused: a colour image has no single hole convention. JPEG's small
      chroma errors on a black-and-white mask stay well below the tolerance.
    - 8-bit values count from 0 to 255 and 16-bit ones from 0 to 65535; but a mask whose
      largest value is 1 is a 0/1 mask (numpy's `mask.astype(uint8)` saved as is), read as
      0 and 1 at either depth.
    - An alpha channel (RGBA, gray + alpha) is composited over the *no-hole* colour: black for
      "hole_white", white for "hole_black", so transparent pixels are never holes. Alpha keeps
      its full range (the 0/1 rule is for the gray values).
    - "hole_white": the level is the composited brightness; "hole_black": one minus it.
      Readers binarise at 0.5 (DESIGN.md); irregular-mask training at its own threshold.

    Args:
        image: array (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) as OpenCV decodes it
            (BGR order; uint8, uint16 or float in [0, 1]).
        polarity: "hole_white" or "hole_black".
        name: str. The file, for the message.

    Returns:
        (H, W) float32 hole level in [0, 1].

    Raises:
        ValueError: a colour mask, naming the file and a colour pixel.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    alpha = None
    if channels in (2, 4):
        color = image[:, :, :-1]
        alpha = image[:, :, -1].astype(np.float32) / _full_scale(image)
    else:
        color = image
    full = _full_scale(color)
    if color.shape[2] >= 3:
        color = color[:, :, :3]
        spread = color.max(axis=2).astype(np.float32) - color.min(axis=2).astype(np.float32)
        if alpha is not None:
            spread = np.where(alpha > 0, spread, 0.0)  # Transparent colours are never seen.
        if float(spread.max(initial=0.0)) > MASK_COLOUR_TOLERANCE * full:
            y, x = np.unravel_index(int(np.argmax(spread)), spread.shape)
            b, g, r = (int(v) if full > 1 else float(v) for v in color[y, x])
            raise ValueError(
                f"The mask {name} is in colour (pixel y={y}, x={x} is RGB ({r}, {g}, {b})); "
                "expected a grayscale mask, holes white on black (or black on white with "
                "--mask_polarity=hole_black): paint the holes in white, not in a colour, on a "
                "black image."
            )
        gray = color.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)  # BGR
    else:
        gray = color[:, :, 0].astype(np.float32)
    if full > 1.0 and color.size and int(color.max()) == 1:
        full = 1.0  # A 0/1 mask.
    value = np.clip(gray / full, 0.0, 1.0)
    if alpha is not None:
        no_hole = 0.0 if polarity == "hole_white" else 1.0
        value = value * alpha + no_hole * (1.0 - alpha)
    level = value if polarity == "hole_white" else 1.0 - value
    return level.astype(np.float32)


def read_hole_level(path, polarity="hole_white", max_pixels=None, hint=None):
    """Reads a mask file through the gate and returns its `hole_level` map, (H, W) float32.

    JPEGs are decoded in colour with their EXIF rotation (as images are), other formats at
    their own depth with alpha.

    Raises:
        ValueError: one sentence: not a regular file, too many pixels, undecodable, or colour.
    """
    import cv2  # Here: the gate itself needs no OpenCV.

    path = os.fspath(path)
    data = read_image_file(path, "mask", max_pixels, hint)
    buffer = np.frombuffer(data, np.uint8)
    image = None
    if buffer.size:
        flags = cv2.IMREAD_COLOR if data[:2] == b"\xff\xd8" else cv2.IMREAD_UNCHANGED
        try:
            image = cv2.imdecode(buffer, flags)
        except cv2.error:
            image = None
    if image is None or image.size == 0:
        raise ValueError(
            f"The mask {path} could not be decoded ({len(data)} bytes); expected a PNG, JPEG, "
            "BMP, WEBP or TIFF image."
        )
    return hole_level(image, polarity, name=path)
