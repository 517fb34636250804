"""Where training images come from, and how they become 8-bit RGB arrays.

A `source` is one of:

- a folder, searched recursively for .png, .jpg, .jpeg, .bmp and .webp files (any letter case;
  hidden files such as macOS `._name.jpg` are skipped), sorted so that every run sees the same
  order;
- a text file listing image paths, one per line (relative paths are resolved against the list
  file's folder; blank lines and lines starting with `#` are ignored);
- `tfds:NAME`, a TensorFlow Datasets dataset whose `image` feature holds the pictures;
- `"samples"`, the natural photographs and textures that ship inside scikit-image (the default
  that works on any machine, with no download).

Every image is decoded with OpenCV to an (H, W, 3) uint8 RGB array, whatever it was on disk:
grayscale and 16-bit images are converted, palette PNGs expanded, EXIF rotations applied, and
images with an alpha channel composited on white (what an image viewer shows; transparent
pixels often hold arbitrary colours that would otherwise leak into the training data). The
pipeline decodes "plain" JPEGs (`is_plain_jpeg`) with TensorFlow instead, only around the crop
it needs, with the same pixels. A file that cannot be read is skipped with one warning naming
it; it never stops an epoch. Sources are checked before any work (`list_image_files`,
`check_source`): a single image, a non-text file, a list naming missing files, a folder or list
with no decodable image and an unknown TFDS name are refused in one sentence.
"""

import difflib
import functools
import logging
import os
import threading

import cv2
import numpy as np
import tensorflow as tf

from tfinpaint.data import image_files

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

# Photographs and natural textures from the scikit-image data folder (files that ship with the
# wheel, no download). Left out on purpose: synthetic or graphic images (chessboard_*, color,
# logo, phantom, horse: a binary silhouette), tiny ones (microaneurysms, multipage*,
# no_time_for_that_tiny.gif), near duplicates (motorcycle_right), motion-blurred clock_motion, and
# page.png, whose broken ICC profile makes libpng print a warning on every decode.
SAMPLE_IMAGES = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "moon.png",
    "motorcycle_left.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)

_TFDS_PREFIX = "tfds:"
_JPEG_MAGIC = b"\xff\xd8"
# OpenCV >= 4.10 decodes JPEGs straight to RGB; older versions decode BGR and convert.
_IMREAD_COLOR_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)

logger = logging.getLogger(__name__)


def source_kind(source):
    """Returns which kind of source `source` names: "samples", "tfds", "folder" or "list".

    Raises:
        ValueError: `source` is not a string, or names no existing folder or file.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(  # noqa: TRY004 (the project's convention: bad arguments are ValueError)
            f"Received source={source!r}; expected a folder, a list file, 'tfds:NAME' or 'samples'."
        )
    source = os.fspath(source)
    if source == "samples":
        return "samples"
    if source.startswith(_TFDS_PREFIX):
        if not source[len(_TFDS_PREFIX) :].strip():
            raise ValueError(f"Received source={source!r}; expected 'tfds:NAME' with a name.")
        _check_tfds_name(_tfds_name(source))
        return "tfds"
    if os.path.isdir(source):
        return "folder"
    if os.path.isfile(source):
        return "list"
    kind = image_files.describe_file_type(source)
    if kind != "missing":
        raise ValueError(
            f"Image source {source} is {kind}, not a folder or a regular file; expected a "
            "folder, a text file listing images, 'tfds:NAME' or 'samples'."
        )
    raise ValueError(
        f"Image source {source!r} does not exist; expected a folder, a text file listing "
        "images, 'tfds:NAME' or 'samples'."
    )


def samples_folder():
    """Returns the scikit-image folder that holds the files named in `SAMPLE_IMAGES`."""
    import skimage.data  # Imported here: skimage is only needed for the bundled samples.

    return os.path.dirname(os.path.abspath(skimage.data.__file__))


def list_image_files(source):
    """Lists the image files of a folder, a list file or "samples", in a fixed order.

    Args:
        source: str. A folder (searched recursively, sorted), a text file of image paths (in
            the file's order) or "samples".

    Returns:
        A list of absolute paths, never empty, of which at least one decodes (others may be
        corrupt: the pipeline skips them with a warning).

    Raises:
        ValueError: the source is missing, a `tfds:` source, a single image file rather than a
            folder or list, holds no images, lists missing files, or holds no decodable image.
    """
    kind = source_kind(source)
    source = os.fspath(source)
    if kind == "tfds":
        raise ValueError(
            f"Received source={source!r}; list_image_files expects a folder, a list file or "
            "'samples' (TFDS sources are read with encoded_image_dataset)."
        )
    if kind == "samples":
        folder = samples_folder()
        paths = [os.path.join(folder, name) for name in SAMPLE_IMAGES]
        paths = [path for path in paths if os.path.isfile(path)]
        if not paths:
            raise ValueError(
                f"No scikit-image sample photos found in {folder}; expected the files "
                f"{', '.join(SAMPLE_IMAGES[:3])}, ... that ship with scikit-image."
            )
        return paths
    if kind == "folder":
        paths = []
        for root, dirs, files in os.walk(source):
            dirs.sort()
            paths.extend(
                os.path.join(root, name)
                for name in files
                if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")
            )
        paths = skip_non_regular(paths)
        if not paths:
            raise ValueError(
                f"No images found in folder {source} (searched recursively for "
                f"{', '.join(IMAGE_EXTENSIONS)} files, any letter case)."
            )
        paths = sorted(os.path.abspath(path) for path in paths)
        _check_decodable(paths, source)
        return paths
    paths = _read_list_file(source)
    missing = [path for path in paths if image_files.describe_file_type(path) == "missing"]
    special = [path for path in paths if path not in missing and not os.path.isfile(path)]
    if special:
        # Named one by one, so refused rather than skipped (a folder scan skips them).
        raise ValueError(
            f"{len(special)} of {len(paths)} listed files are not regular files, first: "
            f"{special[0]} is {image_files.describe_file_type(special[0])} (listed in "
            f"{source}); expected image files."
        )
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(paths)} listed files are missing, first: {missing[0]} "
            f"(listed in {source}); expected existing image paths, relative ones resolved "
            "against the list file's folder."
        )
    _check_decodable(paths, source)
    return paths


def skip_non_regular(paths):
    """`paths` without the entries that are not regular files (a FIFO named x.png would block
    the reader forever, a socket or device cannot be read), each skipped with a warning: what
    a folder scan does with them."""
    kept = []
    for path in paths:
        if image_files.is_regular_file(path):
            kept.append(path)
        else:
            logger.warning(
                "Skipping %s: it is %s, not a regular file",
                path,
                image_files.describe_file_type(path),
            )
    return kept


def _read_list_file(source):
    """The paths a list file names, after checking that it is a text list and not an image."""
    data = image_files.read_regular_file(source, "image source")
    extension = os.path.splitext(source)[1].lower()
    expected = (
        "expected a folder of images, a text file listing image paths (one per line), "
        "'tfds:NAME' or 'samples'"
    )
    if _looks_like_image(data):
        raise ValueError(f"Image source {source} is a single image file; {expected}.")
    if extension in IMAGE_EXTENSIONS + (".gif", ".tif", ".tiff"):
        raise ValueError(
            f"Image source {source} has an image extension ({extension}) but is not a readable "
            f"image; {expected}."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"Image source {source} is not a UTF-8 text file; {expected}.") from None
    folder = os.path.dirname(os.path.abspath(source))
    paths = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = os.path.expanduser(line)
        paths.append(os.path.normpath(os.path.join(folder, path)))
    if not paths:
        raise ValueError(
            f"No image paths listed in {source}; expected one image path per line (blank "
            "lines and # comments are ignored)."
        )
    return paths


# Leading bytes of the image formats people pass where a list or folder is expected.
_IMAGE_MAGICS = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"BM",
    b"GIF8",
    b"II*\x00",
    b"MM\x00*",
)


def _looks_like_image(data):
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    # "BM" alone is a plausible start of a text line; a BMP also records its own file size.
    if data[:2] == b"BM":
        return len(data) >= 6 and int.from_bytes(data[2:6], "little") == len(data)
    return any(data.startswith(magic) for magic in _IMAGE_MAGICS)


def check_source(source):
    """Checks an image source before any work; returns its kind (see `source_kind`).

    What `list_image_files` checks for folders and list files, and for `tfds:NAME` that the
    name is a known TFDS dataset.

    Raises:
        ValueError: one sentence naming the source and what is expected.
    """
    kind = source_kind(source)
    if kind in ("folder", "list"):
        list_image_files(source)
    return kind


def _check_decodable(paths, source):
    """Raises unless one of `paths` decodes (tried in order: usually the first one does)."""
    first = None
    for path in paths:
        try:
            read_image(path)
        except (OSError, ValueError, cv2.error) as error:
            first = first or str(error).rstrip(".")
            continue
        return
    raise ValueError(
        f"No decodable image in {os.fspath(source)} ({len(paths)} files tried); expected PNG, "
        f"JPEG, BMP or WEBP images (first problem: {first})."
    )


@functools.lru_cache(maxsize=16)
def _check_tfds_name(name):
    """Raises unless `name` (maybe with /config and :version) is a registered TFDS dataset."""
    import tensorflow_datasets as tfds  # Imported here: slow, and only needed for tfds:.

    base = name.split(":")[0].split("/")[0]
    known = tfds.list_builders(with_community_datasets=False)
    if base in known:
        return
    close = difflib.get_close_matches(base, known, n=3, cutoff=0.6)
    hint = f" (close names: {', '.join(close)})" if close else ""
    raise ValueError(
        f"Unknown TFDS dataset {name!r}{hint}; expected a name from tfds.list_builders()."
    )


def to_rgb8(image):
    """Converts a decoded OpenCV array (BGR order, any depth and channel count) to RGB uint8.

    Args:
        image: numpy array (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA; uint8, uint16 or
            float in [0, 1].

    Returns:
        (H, W, 3) uint8 RGB. 16-bit values are rounded to 8 bits (x / 257); alpha is
        composited on white.
    """
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(np.rint(image.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))
    if channels == 2:  # Gray + alpha (OpenCV usually expands this to BGRA itself).
        image = cv2.cvtColor(image[:, :, :1], cv2.COLOR_GRAY2BGR), image[:, :, 1:]
        image = np.concatenate(image, axis=2)
        channels = 4
    if channels == 4:
        alpha = image[:, :, 3:].astype(np.float32) / 255.0
        color = image[:, :, :3].astype(np.float32)
        image = np.rint(color * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    elif channels != 3:
        raise ValueError(f"Decoded an image with {channels} channels; expected 1 to 4.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_image_bytes(data, name=None, max_pixels=None):
    """Decodes encoded PNG, JPEG, BMP or WEBP bytes to an (H, W, 3) uint8 RGB array.

    JPEGs are decoded in colour mode so that their EXIF orientation is applied; other formats
    keep their depth and alpha so that `to_rgb8` can convert them faithfully. The size the
    header declares is checked against `max_pixels` (None: `image_files.default_max_pixels()`)
    before decoding.

    Raises:
        ValueError: the bytes are not a readable image, or declare too many pixels.
    """
    image_files.check_image_bytes(data, name or f"<{len(data)} bytes>", max_pixels)
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = None
    if buffer.size and data[:2] == _JPEG_MAGIC and _IMREAD_COLOR_RGB is not None:
        # The common case, decoded straight to 8-bit RGB by libjpeg (no colour conversion).
        image = cv2.imdecode(buffer, _IMREAD_COLOR_RGB)
        if image is not None and image.size:
            return image
    elif buffer.size:
        flags = cv2.IMREAD_COLOR if data[:2] == _JPEG_MAGIC else cv2.IMREAD_UNCHANGED
        try:
            image = cv2.imdecode(buffer, flags)
        except cv2.error:  # Sizes past OpenCV's own limit assert instead of returning None.
            image = None
    if image is None or image.size == 0:
        raise ValueError(
            f"Could not decode {len(data)} bytes as an image; expected PNG, JPEG, BMP or WEBP."
        )
    return to_rgb8(image)


def read_image(path, max_pixels=None):
    """Reads an image file as an (H, W, 3) uint8 RGB array (see `decode_image_bytes`), through
    the image-reading gate (`image_files.read_image_file`): only a regular file, and no more
    than `max_pixels` (None: the process default) by its header."""
    data = image_files.read_image_file(path, "image", max_pixels)
    return decode_image_bytes(data, name=os.fspath(path), max_pixels=max_pixels)


def _exif_orientation(tiff):
    """The EXIF orientation tag (1-8) of a TIFF-structured EXIF block, or 0 when absent."""
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 0
    offset = int.from_bytes(tiff[4:8], order)
    if offset + 2 > len(tiff):
        return 0
    for entry in range(
        offset + 2, offset + 2 + 12 * int.from_bytes(tiff[offset : offset + 2], order), 12
    ):
        if entry + 12 > len(tiff):
            break
        if int.from_bytes(tiff[entry : entry + 2], order) == 0x0112:
            return int.from_bytes(tiff[entry + 8 : entry + 10], order)
    return 0


def is_plain_jpeg(data):
    """True when TensorFlow's JPEG decoder gives exactly OpenCV's pixels for these bytes.

    That is a complete (SOI ... EOI) 8-bit baseline, extended or progressive Huffman JPEG with
    1 or 3 components and no EXIF rotation. Anything else (CMYK, 12-bit, lossless or
    arithmetic-coded JPEGs, truncated files, rotated camera photos, other formats) goes to
    OpenCV, which handles it or reports it unreadable instead of failing inside tf.data.
    """
    if len(data) < 8 or data[:3] != b"\xff\xd8\xff" or data[-2:] != b"\xff\xd9":
        return False
    frame_ok = False
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return False
        marker = data[position + 1]
        if marker == 0xFF:  # Fill byte before a marker.
            position += 1
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        segment = data[position + 4 : position + 2 + length]
        if marker in (0xC0, 0xC1, 0xC2):  # Start of frame: baseline, extended, progressive.
            frame_ok = len(segment) >= 6 and segment[0] == 8 and segment[5] in (1, 3)
        elif 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return False  # Lossless, hierarchical or arithmetic-coded frames.
        elif marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            if _exif_orientation(segment[6:]) not in (0, 1):
                return False
        elif marker == 0xDA:  # Start of scan: the headers are over.
            return frame_ok
        position += 2 + length
    return False


# Routes returned by ImageReader.read.
ROUTE_TF_JPEG, ROUTE_OPENCV = 0, 1


class ImageReader:
    """Reads and decodes images inside tf.data, skipping unreadable ones with one warning each.

    One reader belongs to one pipeline: it counts the files it skipped (each bad file is named
    once, however many epochs see it) and, when every one of `num_items` items has failed and
    none succeeded, raises instead of letting a repeating pipeline search forever.

    Args:
        num_items: int or None. Number of distinct items in the source, when known.
        source: str. The source's name, for the error message.
    """

    def __init__(self, num_items=None, source=""):
        self.num_items = num_items
        self.source = source
        self._lock = threading.Lock()
        self._skipped = set()
        self._num_decoded = 0

    @property
    def num_skipped(self):
        return len(self._skipped)

    @staticmethod
    def _as_python(name, encoded):
        # tf.numpy_function passes scalar strings as bytes in graphs, 0-d arrays eagerly.
        name = os.fsdecode(name.item() if isinstance(name, np.ndarray) else name)
        if isinstance(encoded, np.ndarray):
            encoded = encoded.item()
        return name, encoded

    def _skip(self, name, error=None):
        with self._lock:
            first_time = name not in self._skipped
            self._skipped.add(name)
            num_skipped = len(self._skipped)
            hopeless = (
                self.num_items is not None
                and num_skipped >= self.num_items
                and self._num_decoded == 0
            )
        if first_time:
            logger.warning("Skipping unreadable image %s (%d skipped so far)", name, num_skipped)
            if error is not None:
                logger.debug("%s: %s", name, error)
        if hopeless:
            raise ValueError(
                f"All {self.num_items} images of source {self.source!r} are unreadable; "
                "expected at least one PNG, JPEG, BMP or WEBP image."
            )

    def read(self, name, encoded):
        """Returns (bytes, route): the file's bytes (`encoded` when given) and how to decode.

        Route ROUTE_TF_JPEG: `is_plain_jpeg`, safe for TensorFlow's decoder (counted as a
        success); ROUTE_OPENCV: everything else, including a file that cannot be read (then
        the bytes are empty and `__call__` reports it).
        """
        name, encoded = self._as_python(name, encoded)
        try:
            if not encoded:
                encoded = image_files.read_image_file(name, "image")
            else:
                image_files.check_image_bytes(encoded, name)
        except (OSError, ValueError):  # __call__ reads it again and reports it.
            return b"", np.int32(ROUTE_OPENCV)
        if is_plain_jpeg(encoded):
            with self._lock:
                self._num_decoded += 1
            return encoded, np.int32(ROUTE_TF_JPEG)
        return encoded, np.int32(ROUTE_OPENCV)

    def __call__(self, name, encoded):
        """Returns the RGB uint8 image, or a (0, 0, 3) array for an unreadable item."""
        name, encoded = self._as_python(name, encoded)
        try:
            if not encoded:
                encoded = image_files.read_image_file(name, "image")
            image = decode_image_bytes(encoded, name=name)
        except (OSError, ValueError, cv2.error) as error:
            self._skip(name, error)
            return np.zeros((0, 0, 3), np.uint8)
        with self._lock:
            self._num_decoded += 1
        return image


def pop_name_and_bytes(example):
    """Removes `paths` or `encoded`/`names` from a dict; returns (name, encoded) tensors.

    `encoded` is empty for a path (the reader opens the file); `name` labels warnings.
    """
    if "encoded" in example:
        encoded = example.pop("encoded")
        name = example.pop("names", tf.constant("<encoded image>"))
    else:
        name = example.pop("paths")
        encoded = tf.constant(b"")
    return name, encoded


def decode(example, reader=None):
    """Data op: decodes `encoded` bytes (or reads `paths`) into `images` (H, W, 3) uint8.

    Decodes the whole image with OpenCV; `pipeline.decode_and_random_crop` is the faster way
    when only a crop is needed.

    Args:
        example: dict with `paths` (string scalar) or `encoded` (string scalar, then `names`
            optionally names it in warnings); other keys pass through.
        reader: ImageReader or None (a fresh one).

    Returns:
        The dict without `paths`/`encoded`/`names`, plus `images` (H, W, 3) uint8 RGB and
        `valid` (bool scalar): False for an unreadable item, whose image is (0, 0, 3). Filter
        with `valid` and drop it before batching.
    """
    reader = reader or ImageReader()
    example = dict(example)
    name, encoded = pop_name_and_bytes(example)
    images = tf.numpy_function(reader, [name, encoded], tf.uint8, stateful=False)
    images = tf.ensure_shape(images, [None, None, 3])
    example["images"] = images
    example["valid"] = tf.size(images) > 0
    return example


def _tfds_name(source):
    return os.fspath(source)[len(_TFDS_PREFIX) :].strip()


def encoded_image_dataset(source, *, data_dir=None, split=None, training=True, seed=None):
    """Returns (dataset, num_items): one element per image, before any decoding.

    Elements are dicts: `{"paths": string}` for folders, list files and "samples";
    `{"encoded": string, "names": string}` for `tfds:NAME` sources (decoding is skipped in
    TFDS so that shuffling moves compressed bytes). `num_items` is the number of images when
    known, else None.

    Args:
        source: str. See the module docstring.
        data_dir: str or None. TFDS data folder (`tfds:` sources only).
        split: str or None. TFDS split; default "train" when training, else the first of
            "validation", "test", "train" that the dataset has.
        training: bool. Shuffles TFDS files when True.
        seed: int or None. Seeds the TFDS file shuffle.
    """
    kind = source_kind(source)
    if kind != "tfds":
        paths = list_image_files(source)
        return tf.data.Dataset.from_tensor_slices({"paths": paths}), len(paths)

    import tensorflow_datasets as tfds  # Imported here: slow, and only needed for tfds:.

    name = _tfds_name(source)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises its own not-found error types.
        # Its message lists every dataset (hundreds of lines): one sentence instead.
        message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ValueError(
            f"Cannot load TFDS dataset {name!r} of source {source!r} ({type(error).__name__}: "
            f"{message}); expected a name from tfds.list_builders()."
        ) from None
    features = builder.info.features
    if "image" not in features:
        raise ValueError(
            f"TFDS dataset {name!r} has features {sorted(features.keys())}; expected an "
            "'image' feature."
        )
    available = list(builder.info.splits.keys())
    if split is None:
        split = "train"
        if not training:
            split = next((s for s in ("validation", "test") if s in available), "train")
    read_config = tfds.ReadConfig(shuffle_seed=seed) if seed is not None else None
    dataset = tfds.load(
        name,
        split=split,
        data_dir=data_dir,
        shuffle_files=training,
        read_config=read_config,
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    num_items = None
    if split in available:
        num_items = builder.info.splits[split].num_examples or None
    prefix = f"{source}/{split}["

    def to_encoded(index, example):
        names = tf.strings.join([prefix, tf.strings.as_string(index), "]"])
        return {"encoded": example["image"], "names": names}

    dataset = dataset.enumerate().map(to_encoded, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset, num_items


def write_sample_jpegs(folder, num_images=256, width=640, height=480, quality=90, seed=0):
    """Writes a folder of JPEG photos cut from the scikit-image samples (for benchmarks).

    Each file is a random (height, width) crop of a sample photo scaled so that it covers
    the crop, saved at the given JPEG quality: a stand-in for a folder of camera photos.

    Args:
        folder: str. Created if missing; must be empty.
        num_images: int. Number of files (cycling through the samples).
        width, height: int. Size of every file in pixels.
        quality: int. JPEG quality, 1-100.
        seed: int. Seeds the crop positions.

    Returns:
        The sorted list of written paths.

    Raises:
        ValueError: the folder already holds files.
    """
    if os.path.isdir(folder) and os.listdir(folder):
        raise ValueError(f"Folder {folder} is not empty; expected a new or empty folder.")
    os.makedirs(folder, exist_ok=True)
    photos = [read_image(path) for path in list_image_files("samples")]
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(num_images):
        photo = photos[index % len(photos)]
        scale = max(height / photo.shape[0], width / photo.shape[1])
        size = (
            max(width, round(photo.shape[1] * scale)),
            max(height, round(photo.shape[0] * scale)),
        )
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        photo = cv2.resize(photo, size, interpolation=interpolation)
        y0 = int(rng.integers(0, photo.shape[0] - height + 1))
        x0 = int(rng.integers(0, photo.shape[1] - width + 1))
        crop = photo[y0 : y0 + height, x0 : x0 + width, ::-1]  # RGB -> BGR for OpenCV.
        path = os.path.join(folder, f"sample_{index:05d}.jpg")
        if not cv2.imwrite(path, crop, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise ValueError(f"Could not write {path}; expected a writable folder.")
        paths.append(path)
    return paths
