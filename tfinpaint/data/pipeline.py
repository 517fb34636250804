"""The tf.data input pipeline: images, per-sample hole masks and gradient maps for training.

`build_dataset` turns any image source (see `sources.py`) into batches of

- `images`    (B, S, S, 3) float32 in [0, 1], the ground truth;
- `masks`     (B, S, S, 1) float32 in {0, 1}, 1 = hole, one mask per sample (SPEC.md section 7);
- `boxes`     (B, 4) int32, each hole's bounding box [y0, x0, y1, x1], end-exclusive;
- `gradients` (B, S, S, 2) float32, Sobel x and y of the unmasked ground truth (when asked).

Every step is a small pure function on a dict (decode, crop, flip, the `augment` ops, to_float,
add_mask, add_gradients), usable eagerly or inside `Dataset.map`. Randomness is stateless: each
sample's crop, flip, augmentation and mask come from seeds derived from (seed, position in the
stream), so a given seed reproduces the same batches however many threads run the maps, and
every sample of a batch draws its own mask.
"""

import numbers
import os
import time

import tensorflow as tf

from tfinpaint.data import masks as mask_lib
from tfinpaint.data.gradients import add_gradients
from tfinpaint.data.sources import (
    ROUTE_TF_JPEG,
    ImageReader,
    decode,
    encoded_image_dataset,
    pop_name_and_bytes,
    source_kind,
)

# Sources with fewer items than this keep their decoded images in memory by default: they are
# small enough (the bundled samples, a test folder) and otherwise get decoded every epoch.
SMALL_SOURCE_SIZE = 200

# Second word of the base stateless seed; a constant so that equal seeds give equal streams.
_SEED_SALT = 0x1A9E
# The `augment` ops draw from their own seed stream, so that asking for augmentation leaves
# every sample's crop, flip and mask seeds (and augment=None the whole stream) unchanged.
_AUGMENT_SALT = 0x0A06
_INT32_MAX = 2**31 - 1
# Extra pixels decoded around a JPEG crop window (one suffices for libjpeg's upsampling).
_JPEG_CROP_MARGIN = 2


def _resize_square(crop, window, image_size):
    """Resizes a (window, window, C) crop to (image_size, image_size, C), keeping its dtype."""

    def resize():
        resized = tf.image.resize(crop, [image_size, image_size], antialias=True)
        if crop.dtype == tf.uint8:
            return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
        return tf.cast(resized, crop.dtype)

    resized = tf.cond(tf.equal(window, image_size), lambda: crop, resize)
    return tf.ensure_shape(resized, [image_size, image_size, crop.shape[-1]])


def _crop_and_resize(images, y0, x0, window, image_size):
    """Crops a square window and resizes it to image_size, keeping the input dtype."""
    return _resize_square(images[y0 : y0 + window, x0 : x0 + window], window, image_size)


def _window_side(short_side, target_short_side, image_size):
    # The crop window in source pixels that covers image_size pixels once the short side is
    # scaled to target_short_side. Cropping first and resizing only the window is cheaper than
    # resizing the whole photo, and equal to it up to edge effects of the resampling filter.
    ratio = tf.cast(short_side, tf.float32) / tf.cast(target_short_side, tf.float32)
    window = tf.cast(tf.round(image_size * ratio), tf.int32)
    return tf.clip_by_value(window, 1, short_side)


def _random_window(height, width, image_size, seed, short_side_range):
    """(y0, x0, side) of a random square crop window; see `random_crop`."""
    scale_seed, y_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    short = tf.minimum(height, width)
    if short_side_range is None:
        target = tf.maximum(short, image_size)
    else:
        low, high = short_side_range
        target = tf.random.stateless_uniform(
            [], scale_seed, minval=low, maxval=high + 1, dtype=tf.int32
        )
    window = _window_side(short, target, image_size)
    y0 = tf.random.stateless_uniform(
        [], y_seed, minval=0, maxval=height - window + 1, dtype=tf.int32
    )
    x0 = tf.random.stateless_uniform(
        [], x_seed, minval=0, maxval=width - window + 1, dtype=tf.int32
    )
    return y0, x0, window


def _center_window(height, width, image_size, short_side):
    """(y0, x0, side) of the central square crop window; see `center_crop`."""
    short = tf.minimum(height, width)
    target = tf.maximum(short, image_size) if short_side is None else tf.constant(short_side)
    window = _window_side(short, target, image_size)
    return (height - window) // 2, (width - window) // 2, window


def random_crop(example, image_size, seed, short_side_range=None):
    """Data op: a random square crop of `images`, resized to (image_size, image_size).

    The short side is first scaled to a target length: uniform in `short_side_range` when
    given (GLCIC draws it from [256, 384] before a 256 crop), otherwise to image_size only if
    the image is smaller than the crop (larger images are cropped at their own scale).

    Args:
        example: dict with `images` (H, W, C) uint8 or float.
        image_size: int. Side of the output crop.
        seed: int tensor (2,). Stateless seed for the scale and the position.
        short_side_range: (int, int) or None. Inclusive range of the target short side.

    Returns:
        The dict with `images` (image_size, image_size, C), same dtype.
    """
    example = dict(example)
    images = tf.convert_to_tensor(example["images"])
    shape = tf.shape(images)
    y0, x0, window = _random_window(shape[0], shape[1], image_size, seed, short_side_range)
    example["images"] = _crop_and_resize(images, y0, x0, window, image_size)
    return example


def center_crop(example, image_size, short_side=None):
    """Data op: the central square crop of `images`, resized to (image_size, image_size).

    Args:
        example: dict with `images` (H, W, C) uint8 or float.
        image_size: int. Side of the output crop.
        short_side: int or None. Scale the short side to this length first; by default only
            images smaller than the crop are scaled (up to image_size).
    """
    example = dict(example)
    images = tf.convert_to_tensor(example["images"])
    shape = tf.shape(images)
    y0, x0, window = _center_window(shape[0], shape[1], image_size, short_side)
    example["images"] = _crop_and_resize(images, y0, x0, window, image_size)
    return example


def _decode_and_crop(example, image_size, window_fn, reader):
    reader = reader or ImageReader()
    example = dict(example)
    name, encoded = pop_name_and_bytes(example)
    encoded, route = tf.numpy_function(
        reader.read, [name, encoded], [tf.string, tf.int32], stateful=False
    )
    encoded = tf.ensure_shape(encoded, [])
    empty = tf.zeros([image_size, image_size, 3], tf.uint8)

    def tensorflow_jpeg():
        # Decodes only the blocks around the window. INTEGER_ACCURATE is the IDCT OpenCV uses,
        # and the margin gives libjpeg's chroma upsampling its neighbours at the window's edge
        # (without it edge pixels differ), so both routes give the same pixels.
        shape = tf.image.extract_jpeg_shape(encoded)
        height, width = shape[0], shape[1]
        y0, x0, window = window_fn(height, width)
        top = tf.maximum(y0 - _JPEG_CROP_MARGIN, 0)
        left = tf.maximum(x0 - _JPEG_CROP_MARGIN, 0)
        bottom = tf.minimum(y0 + window + _JPEG_CROP_MARGIN, height)
        right = tf.minimum(x0 + window + _JPEG_CROP_MARGIN, width)
        decoded = tf.image.decode_and_crop_jpeg(
            encoded,
            tf.stack([top, left, bottom - top, right - left]),
            channels=3,
            dct_method="INTEGER_ACCURATE",
        )
        crop = decoded[y0 - top : y0 - top + window, x0 - left : x0 - left + window]
        return _resize_square(crop, window, image_size), tf.constant(True)

    def opencv():
        images = tf.numpy_function(reader, [name, encoded], tf.uint8, stateful=False)
        images = tf.ensure_shape(images, [None, None, 3])
        valid = tf.size(images) > 0

        def crop():
            shape = tf.shape(images)
            y0, x0, window = window_fn(shape[0], shape[1])
            return _crop_and_resize(images, y0, x0, window, image_size)

        return tf.cond(valid, crop, lambda: empty), valid

    images, valid = tf.cond(tf.equal(route, ROUTE_TF_JPEG), tensorflow_jpeg, opencv)
    example["images"] = tf.ensure_shape(images, [image_size, image_size, 3])
    example["valid"] = valid
    return example


def decode_and_random_crop(example, image_size, seed, short_side_range=None, reader=None):
    """Data op: `sources.decode` then `random_crop`, decoding only the crop of plain JPEGs.

    Plain JPEGs (`sources.is_plain_jpeg`: most photo collections) go through TensorFlow's
    `decode_and_crop_jpeg`, which skips the blocks outside the window (decoding a 256 crop of
    a 640x480 photo: ~0.65 against ~1.0 ms CPU; in tf.data with the file read, ~1.07 against
    ~1.29 ms); every other file goes through OpenCV. Both routes pick the same window from
    the same seed and give the same pixels.

    Args:
        example: dict with `paths` or `encoded` (and `names`), as for `sources.decode`.
        image_size, seed, short_side_range: as for `random_crop`.
        reader: sources.ImageReader or None (a fresh one).

    Returns:
        The dict with `images` (image_size, image_size, 3) uint8 and `valid` (bool scalar;
        False for an unreadable item, whose image is then zeros). Filter with `valid`.
    """

    def window_fn(height, width):
        return _random_window(height, width, image_size, seed, short_side_range)

    return _decode_and_crop(example, image_size, window_fn, reader)


def decode_and_center_crop(example, image_size, short_side=None, reader=None):
    """Data op: `sources.decode` then `center_crop`, decoding only the crop of plain JPEGs.

    Args and returns as for `decode_and_random_crop`, with `short_side` as for `center_crop`.
    """

    def window_fn(height, width):
        return _center_window(height, width, image_size, short_side)

    return _decode_and_crop(example, image_size, window_fn, reader)


def random_flip(example, seed):
    """Data op: flips `images` left-right with probability 1/2 (stateless `seed`, shape (2,)).

    Only `images` is flipped: the pipeline flips before masks and gradients exist.
    """
    example = dict(example)
    images = tf.convert_to_tensor(example["images"])
    flip = tf.random.stateless_uniform([], seed) < 0.5
    example["images"] = tf.cond(flip, lambda: tf.reverse(images, axis=[-2]), lambda: images)
    return example


def random_rot90(example, seed):
    """Data op: rotates `images` by k * 90 degrees counter-clockwise, k uniform in {0, 1, 2, 3}.

    Like `np.rot90(images, k)` on the (H, W) axes (`tf.image.rot90`). The pipeline's crops are
    square, so the shape stays; on a non-square image an odd k swaps height and width.

    Args:
        example: dict with `images` (H, W, C), any dtype.
        seed: int tensor (2,). Stateless seed of k.
    """
    example = dict(example)
    images = tf.convert_to_tensor(example["images"])
    k = tf.random.stateless_uniform([], seed, minval=0, maxval=4, dtype=tf.int32)
    if images.dtype == tf.uint8:
        # oneDNN's uint8 transpose logs an error line ("supports DT_UINT8 only on platforms
        # with AVX-512", int32 alike) even where it falls back correctly; float32 is quiet.
        rotated = tf.cast(tf.image.rot90(tf.cast(images, tf.float32), k), tf.uint8)
    else:
        rotated = tf.image.rot90(images, k)
    example["images"] = rotated
    return example


def random_polyphase(example, seed):
    """Data op: 2x polyphase sub-sampling, keeping one random phase `images[dy::2, dx::2]`.

    DeepGIN (SPEC.md section 4, from the authors' code) resizes to 512 and then keeps a random
    one of the four 2x polyphase components to train at 256: (dy, dx) uniform in {0, 1}^2,
    plain decimation with no anti-alias filter, so the sub-image keeps the full-resolution
    texture. `build_dataset` crops at 2 * image_size when this op is asked for.

    Args:
        example: dict with `images` (H, W, C), any dtype; H and W even (odd sides drop their
            last row or column, so every phase has the same shape).
        seed: int tensor (2,). Stateless seed of (dy, dx).

    Returns:
        The dict with `images` (H // 2, W // 2, C), same dtype.
    """
    example = dict(example)
    images = tf.convert_to_tensor(example["images"])
    dy, dx = tf.unstack(tf.random.stateless_uniform([2], seed, minval=0, maxval=2, dtype=tf.int32))
    half = tf.shape(images)[:2] // 2
    # The explicit end keeps floor(H / 2) rows for either phase of an odd side too.
    subsampled = images[dy : dy + 2 * half[0] : 2, dx : dx + 2 * half[1] : 2]
    height, width, channels = images.shape
    example["images"] = tf.ensure_shape(
        subsampled,
        [None if height is None else height // 2, None if width is None else width // 2, channels],
    )
    return example


# The six orders of three channels; `random_channels` picks one row.
_CHANNEL_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def random_channels(example, seed):
    """Data op: puts the RGB channels of `images` in a random order, one of the six uniformly.

    Our addition (no paper asks for it): a generator trained on few photos learns their colour
    statistics and pulls hole fills towards them (a red fundus photo filled pinkish); with its
    channels shuffled, a crop's colours are only learnable from its own known pixels. Lossless:
    pixel values, shapes and dtype are kept.

    Args:
        example: dict with `images` (H, W, 3), any dtype.
        seed: int tensor (2,). Stateless seed of the order.

    Raises:
        ValueError: `images` does not have 3 channels.
    """
    example = dict(example)
    images = tf.convert_to_tensor(example["images"])
    if images.shape[-1] != 3:
        raise ValueError(
            f"The 'channels' augmentation needs RGB images with 3 channels; got shape "
            f"{images.shape}."
        )
    k = tf.random.stateless_uniform([], seed, minval=0, maxval=6, dtype=tf.int32)
    order = tf.gather(tf.constant(_CHANNEL_ORDERS, tf.int32), k)
    example["images"] = tf.gather(images, order, axis=-1)
    return example


# `random_blur`: the probability of a blur, its sigma range (px) and the kernel's half-width.
BLUR_PROBABILITY = 0.5
BLUR_SIGMA_RANGE = (0.5, 3.0)
_BLUR_RADIUS = 9  # 3 x the largest sigma.


def gaussian_blur(images, sigma):
    """Separable Gaussian blur of (H, W, C) `images` (float32), sigma a scalar tensor in px.

    The kernel is exp(-x^2 / (2 sigma^2)) for x in [-9, 9], normalised to sum 1. Near the
    border, each output is the weighted mean of the pixels that exist (a normalised
    convolution: the same kernel on an all-ones image divides it out), so edges are not
    darkened and any image size works.
    """
    taps = tf.range(-_BLUR_RADIUS, _BLUR_RADIUS + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(taps / sigma))
    kernel /= tf.reduce_sum(kernel)
    # Channels as the batch: one single-channel 2-D convolution per pass.
    planes = tf.transpose(images, [2, 0, 1])[..., None]
    weights = tf.ones_like(planes[:1])
    for shape in ((-1, 1, 1, 1), (1, -1, 1, 1)):
        taps_2d = tf.reshape(kernel, shape)
        planes = tf.nn.conv2d(planes, taps_2d, strides=1, padding="SAME")
        weights = tf.nn.conv2d(weights, taps_2d, strides=1, padding="SAME")
    return tf.transpose((planes / weights)[..., 0], [1, 2, 0])


def random_blur(example, seed):
    """Data op: with probability 1/2, a Gaussian blur of `images`, sigma uniform in [0.5, 3] px.

    Our addition (no paper asks for it): a generator trained on sharp crops fills the holes of
    smooth images (out of focus, fundus and microscope photos) with texture that is not there,
    where OpenCV's smooth fills win; blurred crops teach it to follow the context's smoothness.
    `gaussian_blur` gives the blur; uint8 images are rounded back to uint8.

    Args:
        example: dict with `images` (H, W, C), any dtype.
        seed: int tensor (2,). Stateless seed of whether to blur and of sigma.
    """
    example = dict(example)
    images = tf.convert_to_tensor(example["images"])
    draw = tf.random.stateless_uniform([2], seed)
    low, high = BLUR_SIGMA_RANGE
    sigma = low + (high - low) * draw[1]

    def blurred():
        result = gaussian_blur(tf.cast(images, tf.float32), sigma)
        if images.dtype == tf.uint8:
            result = tf.clip_by_value(tf.round(result), 0.0, 255.0)
        return tf.cast(result, images.dtype)

    example["images"] = tf.cond(draw[0] < BLUR_PROBABILITY, blurred, lambda: images)
    return example


# The `augment` ops by spec name: each is op(example, seed) on the uint8 crop. New ops go last:
# each op's seed is a row of one draw per sample, and appending keeps the earlier rows' values.
AUGMENT_OPS = {
    "flip": random_flip,
    "rot90": random_rot90,
    "polyphase": random_polyphase,
    "channels": random_channels,
    "blur": random_blur,
}


def parse_augment(augment):
    """Parses an `augment` spec into a tuple of op names from AUGMENT_OPS, in order.

    Args:
        augment: None, a comma-separated str ("rot90,polyphase,flip") or a sequence of names.
            None, "" and an empty sequence mean no augmentation.

    Raises:
        ValueError: an unknown, empty or repeated op name, or not a str or sequence of str.
    """
    valid = ", ".join(AUGMENT_OPS)
    if augment is None:
        return ()
    if isinstance(augment, str):
        names = [name.strip() for name in augment.split(",")] if augment.strip() else []
    elif isinstance(augment, (tuple, list)) and all(isinstance(name, str) for name in augment):
        names = [name.strip() for name in augment]
    else:
        raise ValueError(
            f"Received augment={augment!r}; expected None or op names from {valid}, as a "
            "comma-separated str or a list."
        )
    for name in names:
        if name not in AUGMENT_OPS:
            raise ValueError(
                f"Received augment={augment!r}: unknown op {name!r}; expected a comma-separated "
                f"list of {valid}."
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"Received augment={augment!r}: {', '.join(repeated)} is listed more than once; "
            "name each op at most once."
        )
    return tuple(names)


def _crop_size(image_size, augment_ops):
    # Polyphase halves the crop, so it is taken at twice the requested size.
    return 2 * image_size if "polyphase" in augment_ops else image_size


def to_float(example):
    """Data op: converts uint8 `images` to float32 in [0, 1] (float images are only cast)."""
    example = dict(example)
    images = tf.convert_to_tensor(example["images"])
    if images.dtype == tf.uint8:
        example["images"] = tf.cast(images, tf.float32) / 255.0
    else:
        example["images"] = tf.cast(images, tf.float32)
    return example


def add_mask(example, mask_fn, seed):
    """Data op: adds `masks` (S, S, 1) float32 (1 = hole) and `boxes` (4,) int32.

    Args:
        example: dict with `images` (S, S, 3).
        mask_fn: callable from `masks.make_mask_fns`, seed -> {"masks", "boxes"}.
        seed: int tensor (2,). The sample's mask seed.
    """
    example = dict(example)
    size = example["images"].shape[-2]
    drawn = mask_fn(seed)
    example["masks"] = tf.ensure_shape(tf.cast(drawn["masks"], tf.float32), [size, size, 1])
    example["boxes"] = tf.ensure_shape(tf.cast(drawn["boxes"], tf.int32), [4])
    return example


def _validate_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Received {name}={value!r}; expected an integer >= {minimum}.")


def _validate_optional_bool(name, value):
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"Received {name}={value!r}; expected True, False or None.")


def _validate_arguments(
    source,
    image_size,
    batch_size,
    masks,
    seed,
    resize_short_side,
    flip,
    repeat,
    shuffle_buffer,
    drop_remainder,
    cache_decoded,
    num_parallel_calls,
    augment_ops,
):
    _validate_int("image_size", image_size, minimum=2)
    _validate_int("batch_size", batch_size)
    _validate_int("shuffle_buffer", shuffle_buffer)
    if not isinstance(masks, str) or not masks.strip():
        raise ValueError(f"Received masks={masks!r}; expected a mask spec such as 'freeform'.")
    if seed is not None:
        _validate_int("seed", seed, minimum=0)
    crop_size = _crop_size(image_size, augment_ops)
    if resize_short_side is not None:
        valid = (
            isinstance(resize_short_side, (tuple, list))
            and len(resize_short_side) == 2
            and all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool)
                for v in resize_short_side
            )
            and crop_size <= resize_short_side[0] <= resize_short_side[1]
        )
        if not valid:
            crop = "the crop side" if crop_size == image_size else "the 2x polyphase crop side"
            raise ValueError(
                f"Received resize_short_side={resize_short_side!r}; expected (low, high) "
                f"integers with {crop} ({crop_size}) <= low <= high."
            )
    for name, value in (("flip", flip), ("drop_remainder", drop_remainder)):
        _validate_optional_bool(name, value)
    if flip and "flip" in augment_ops:
        raise ValueError(
            "Received flip=True and an augment spec naming 'flip', which would flip twice; "
            "drop one (with 'flip' in augment, flip defaults to off)."
        )
    _validate_optional_bool("cache_decoded", cache_decoded)
    if repeat is not None and not isinstance(repeat, bool):
        _validate_int("repeat", repeat)
    if num_parallel_calls != tf.data.AUTOTUNE:
        _validate_int("num_parallel_calls", num_parallel_calls)
    source_kind(source)  # Raises for a missing source or an unknown kind.


def _sample_seeds(base_seed, index, num_seeds):
    """(num_seeds, 2) non-negative int32 stateless seeds for the sample at stream `index`."""
    key = tf.random.experimental.stateless_fold_in(base_seed, index)
    # Non-negative int32 pairs suit every consumer (TF stateless ops, numpy, OpenCV).
    return tf.random.stateless_uniform(
        [num_seeds, 2], key, minval=0, maxval=_INT32_MAX, dtype=tf.int32
    )


def build_dataset(
    source,
    image_size,
    batch_size,
    masks="freeform",
    seed=None,
    with_gradients=False,
    training=True,
    *,
    data_dir=None,
    split=None,
    resize_short_side=None,
    flip=None,
    repeat=None,
    shuffle_buffer=1024,
    drop_remainder=None,
    irregular_polarity="hole_white",
    cache_decoded=None,
    num_parallel_calls=tf.data.AUTOTUNE,
    augment=None,
):
    """Builds the training or evaluation `tf.data.Dataset` of images, hole masks and gradients.

    Args:
        source: str. A folder, a text file of image paths, "tfds:NAME" or "samples".
        image_size: int. Side S of the square crops.
        batch_size: int. Examples per batch.
        masks: str. Mask spec for `masks.make_mask_fns` ("freeform", "rect:96-128", "ca",
            "deepgin", ...). An `each:` spec with k generators emits every image k times in a
            row, once with each mask.
        seed: int or None. Seeds shuffling, crops, flips and masks; equal seeds give equal
            streams. Default: random when training, 0 when not (so a validation batch is the
            same on every call).
        with_gradients: bool. Add `gradients` (B, S, S, 2), Sobel x, y of the ground truth.
        training: bool. True: shuffled, random crops and flips, repeated forever, remainder
            dropped. False: file order, centre crops, no flips, one pass, remainder kept,
            the same masks on every pass.
        data_dir: str or None. TFDS data folder for "tfds:NAME".
        split: str or None. TFDS split (see `sources.encoded_image_dataset`).
        resize_short_side: (int, int) or None. Scale each image's short side to a uniform
            length in this inclusive range before cropping (GLCIC: (256, 384) for S=256). At
            evaluation the midpoint (low + high) // 2 is used. Default: images smaller than S
            are scaled up to S, larger ones are cropped at their own scale.
        flip: bool or None. Random left-right flips; default `training`, or off when
            `augment` names "flip" (True then raises: it would flip twice).
        repeat: None, bool or int. Number of passes (True: forever); default forever when
            training, once otherwise. At evaluation every pass repeats the same masks.
        shuffle_buffer: int. Buffer of the shuffle of encoded TFDS examples. File paths and
            decoded in-memory images are instead shuffled as a full permutation per epoch
            (they are cheap, and file order is often grouped by class).
        drop_remainder: bool or None. Drop a last incomplete batch; default `training`. With
            True the batch dimension is static.
        irregular_polarity: str. Polarity of `irregular:DIR` mask files ("hole_white" or
            "hole_black").
        cache_decoded: bool or None. Keep decoded images in memory; default True for sources
            with fewer than SMALL_SOURCE_SIZE images.
        num_parallel_calls: int. Parallelism of the maps; default tf.data.AUTOTUNE.
        augment: None, str or sequence of str. Image augmentation ops applied in the given
            order (`parse_augment`), each once at most: "flip" (`random_flip`, left-right with
            probability 1/2), "rot90" (`random_rot90`, k * 90 degrees, k uniform in 0..3) and
            "polyphase" (`random_polyphase`: the crop is taken at 2S and one of its four 2x
            polyphase phases `[dy::2, dx::2]` kept, so images are still S x S). DeepGIN's
            (SPEC.md section 4): "rot90,polyphase,flip" with resize_short_side=(2S, 2S).
            They act on each uint8 crop after it is cut (and after `flip`), before the
            conversion to float, so `gradients` are of the augmented images; masks are drawn
            independently and never augmented. Draws are stateless per sample and per op, from
            a stream separate from the crops' and masks' (their seeds do not change); they
            apply at evaluation too (the same draws on every pass). Default None: none, and
            the stream is exactly that of a build without this argument.

    Returns:
        A `tf.data.Dataset` of dicts `images` (B, S, S, 3) float32 in [0, 1], `masks`
        (B, S, S, 1) float32 {0, 1} with 1 = hole, `boxes` (B, 4) int32 and, when asked,
        `gradients` (B, S, S, 2) float32.

    Raises:
        ValueError: an argument is invalid or the source is missing or empty.

    Example:
        >>> ds = build_dataset("samples", 256, 16, masks="freeform", with_gradients=True)
        >>> batch = next(iter(ds))  # batch["images"]: (16, 256, 256, 3)
        >>> ds = build_dataset("samples", 256, 4, masks="deepgin", augment="rot90,polyphase,flip")
    """
    augment_ops = parse_augment(augment)
    _validate_arguments(
        source,
        image_size,
        batch_size,
        masks,
        seed,
        resize_short_side,
        flip,
        repeat,
        shuffle_buffer,
        drop_remainder,
        cache_decoded,
        num_parallel_calls,
        augment_ops,
    )
    image_size, batch_size = int(image_size), int(batch_size)
    crop_size = _crop_size(image_size, augment_ops)
    if resize_short_side is not None:
        resize_short_side = (int(resize_short_side[0]), int(resize_short_side[1]))
    mask_fns = mask_lib.make_mask_fns(
        masks, image_size, training=training, irregular_polarity=irregular_polarity
    )
    num_mask_fns = len(mask_fns)
    seed_given = seed is not None
    if seed is None:
        # Training without a seed still derives everything from one number, drawn here.
        seed = int.from_bytes(os.urandom(4), "little") >> 1 if training else 0
    seed = int(seed)
    if flip is None:
        flip = training and "flip" not in augment_ops
    drop_remainder = training if drop_remainder is None else drop_remainder
    if repeat is None or repeat is True:
        repeat_count = -1 if (training or repeat is True) else 1
    else:
        repeat_count = 1 if repeat is False else repeat
    # Order only matters for reproducibility: keep it whenever a seed asks for it.
    deterministic = seed_given or not training
    parallel = num_parallel_calls

    encoded, num_items = encoded_image_dataset(
        source, data_dir=data_dir, split=split, training=training, seed=seed
    )
    if cache_decoded is None:
        cache_decoded = num_items is not None and num_items < SMALL_SOURCE_SIZE
    reader = ImageReader(num_items, source=os.fspath(source))

    base_seed = tf.constant([seed, _SEED_SALT], tf.int64)
    num_seeds = 2 + num_mask_fns  # crop, flip, one per mask function
    augment_base_seed = tf.constant([seed, _AUGMENT_SALT], tf.int64)
    # One seed per registered op (not per listed op): an op draws the same for a sample
    # whichever other ops are listed with it.
    augment_rows = {name: row for row, name in enumerate(AUGMENT_OPS)}
    eval_short_side = None
    if resize_short_side is not None:
        eval_short_side = (resize_short_side[0] + resize_short_side[1]) // 2

    def crop_stage(index, example):
        seeds = _sample_seeds(base_seed, index, num_seeds)
        if cache_decoded:
            example = {"images": example["images"]}
            if training:
                example = random_crop(example, crop_size, seeds[0], resize_short_side)
            else:
                example = center_crop(example, crop_size, eval_short_side)
        elif training:
            example = decode_and_random_crop(
                example, crop_size, seeds[0], resize_short_side, reader=reader
            )
        else:
            example = decode_and_center_crop(example, crop_size, eval_short_side, reader=reader)
        example["seeds"] = seeds
        if augment_ops:
            example["augment_seeds"] = _sample_seeds(augment_base_seed, index, len(AUGMENT_OPS))
        return example

    def mask_stage(example):
        seeds = example["seeds"]
        augment_seeds = example.get("augment_seeds")
        example = {"images": example["images"]}
        if flip:
            example = random_flip(example, seeds[1])
        # On the uint8 crop (cheaper than float), before masks and gradients exist.
        for name in augment_ops:
            example = AUGMENT_OPS[name](example, augment_seeds[augment_rows[name]])
        example = to_float(example)
        if num_mask_fns == 1:
            return add_mask(example, mask_fns[0], seeds[2])
        # each: mode: the same image once with every generator, stacked for unbatch().
        drawn = [add_mask(example, fn, seeds[2 + i]) for i, fn in enumerate(mask_fns)]
        return {key: tf.stack([d[key] for d in drawn]) for key in drawn[0]}

    def is_valid(*element):
        return element[-1]["valid"]

    dataset = encoded
    if cache_decoded:
        dataset = dataset.map(
            lambda example: decode(example, reader), num_parallel_calls=parallel, deterministic=True
        )
        dataset = dataset.filter(is_valid).cache()
    if training:
        files_in_memory = cache_decoded or "paths" in encoded.element_spec
        buffer = num_items if (files_in_memory and num_items) else shuffle_buffer
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        # Enumerate after repeating: every epoch draws new crops, flips and masks.
        dataset = dataset.repeat(repeat_count).enumerate()
    else:
        # Enumerate before repeating: every pass draws the same crops and masks.
        dataset = dataset.enumerate().repeat(repeat_count)
    dataset = dataset.map(crop_stage, num_parallel_calls=parallel, deterministic=deterministic)
    if not cache_decoded:
        dataset = dataset.filter(is_valid)
    dataset = dataset.map(mask_stage, num_parallel_calls=parallel, deterministic=deterministic)
    if num_mask_fns > 1:
        dataset = dataset.unbatch()
    dataset = dataset.batch(
        batch_size,
        drop_remainder=drop_remainder,
        num_parallel_calls=parallel,
        deterministic=deterministic,
    )
    if with_gradients:
        # After batching: one vectorised Sobel per batch instead of one per sample.
        dataset = dataset.map(
            add_gradients, num_parallel_calls=parallel, deterministic=deterministic
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def benchmark_dataset(dataset, num_batches, warmup_batches=5):
    """Times how fast `dataset` yields batches, after `warmup_batches` untimed ones.

    Args:
        dataset: tf.data.Dataset of dicts with `images` (B, ...).
        num_batches: int. Batches to time (fewer if the dataset ends first).
        warmup_batches: int. Batches drawn first to fill buffers and trace functions.

    Returns:
        dict with `num_batches`, `num_samples`, `seconds` (wall clock), `batches_per_s`,
        `samples_per_s`, and `cpu_ms_per_sample`: CPU time of the whole process (all threads)
        per sample, which, unlike the wall clock, barely moves when other programs share the
        cores; `num_cores / cpu_ms_per_sample * 1000` bounds the samples/s on idle cores.
    """
    _validate_int("num_batches", num_batches)
    _validate_int("warmup_batches", warmup_batches, minimum=0)
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        next(iterator, None)
    num_samples = 0
    timed = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for batch in iterator:
        num_samples += int(batch["images"].shape[0])
        timed += 1
        if timed == num_batches:
            break
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    return {
        "num_batches": timed,
        "num_samples": num_samples,
        "seconds": seconds,
        "batches_per_s": timed / seconds if seconds else 0.0,
        "samples_per_s": num_samples / seconds if seconds else 0.0,
        "cpu_ms_per_sample": 1000.0 * cpu_seconds / num_samples if num_samples else 0.0,
    }
