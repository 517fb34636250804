"""Inpainting arrays of any size: how the network sees an image (pad, tile, resize, polyphase).

`inpaint(generator, image, hole_mask)` takes one HxWx3 image of any size, runs the network on it
(reflect-padded to the generator's size multiple, tiled, downscaled, or split into polyphase
sub-images), optionally as a test-time self-ensemble over four rotations and a flip (handed to
`models.SelfEnsemble`), and returns an image of the same size and dtype whose known pixels are
exactly the input's. What each strategy needs in memory is `inference.memory`'s.

Example:
```python
from tfinpaint import inference
result = inference.inpaint(generator, image_uint8, hole_mask, strategy="tile", max_size=256)
```
"""

import cv2
import numpy as np
import tensorflow as tf

from tfinpaint import imageops
from tfinpaint import postprocess as postprocess_lib
from tfinpaint.inference import memory, regions
from tfinpaint.models.ensemble import SelfEnsemble

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MIN_WINDOW",
    "POSTPROCESSING",
    "STRATEGIES",
    "inpaint",
    "resolve_strategy",
]

STRATEGIES = ("pad", "tile", "resize", "polyphase", "crop", "auto")
POSTPROCESSING = ("none", "telea_poisson")
# What crop and auto use when no max_size is given: 512 px views cost a few hundred MB and
# about a second each on 2 CPU cores, even as a self-ensemble.
DEFAULT_MAX_SIZE = 512
# The smallest crop window: the shipped checkpoints' training size.
DEFAULT_MIN_WINDOW = 256


def resolve_strategy(
    generator, holes, strategy="auto", max_size=None, min_window=None, available=None
):
    """(strategy, max_size, reason): what `inpaint` runs for these holes.

    "auto" becomes one of pad, crop, tile and resize by `regions.choose_strategy`'s rule, with
    "pad" only where its memory estimate fits (`available` bytes, default what is free now);
    crop and auto take `DEFAULT_MAX_SIZE` when `max_size` is None. Other strategies are
    returned as they are, with an empty reason.
    """
    if strategy in ("crop", "auto") and max_size is None:
        max_size = DEFAULT_MAX_SIZE
    if strategy != "auto":
        return strategy, max_size, ""
    holes = np.asarray(holes, bool)
    min_window = DEFAULT_MIN_WINDOW if min_window is None else int(min_window)
    available = memory.available_memory_bytes() if available is None else available
    height, width = holes.shape
    pad_fits = available is None or (
        memory.estimate_inpaint_bytes(generator, (height, width), "pad") <= available
        or memory.estimate_inpaint_bytes(generator, (height, width), "pad", traced=True)
        <= available
    )
    chosen, reason = regions.choose_strategy(holes, max_size, min_window, pad_fits)
    return chosen, (None if chosen == "pad" else max_size), reason


def inpaint(
    generator,
    image,
    hole_mask,
    strategy="pad",
    max_size=None,
    tile_overlap=None,
    postprocess="none",
    ensemble=False,
    min_window=None,
    on_strategy=None,
):
    """Fills the holes of one image of any size; known pixels come back exactly.

    Args:
        generator: a tfinpaint generator (`keras.Model` called with `images` and `masks`).
        image: array (H, W, 3), uint8, uint16 or float in [0, 1]. Any H and W.
        hole_mask: array (H, W) or (H, W, 1); bool or numbers, hole where >= 0.5.
        strategy: str. How the network sees the image:
            - "pad": the whole image at once, reflect-padded at the bottom and right to the
              generator's size multiple, and cropped back;
            - "tile": overlapping tiles of at most `max_size` x `max_size` (rounded down to
              the size multiple), each padded as needed; the tiles' raw outputs are blended with
              linear ramps over the overlaps; tiles without holes are skipped;
            - "resize": when the image is larger than `max_size` (either side), a downscaled
              copy whose longer side is `max_size` is inpainted (a low-resolution pixel is a hole
              if any of its pixels is) and only the hole pixels of the upsampled output are
              pasted back;
            - "polyphase": when the image is larger than `max_size` (either side), the image
              is split into f_h x f_w polyphase sub-images, f = ceil(side / max_size): sub-image
              (i, j) holds pixels (i + f_h * y, j + f_w * x), a decimated view of the whole
              scene of at most `max_size` per side (the image is reflect-padded to a multiple of
              f first); each is inpainted at that size and its pixels are put back in place
              (DeepGIN's test time, Li et al. 2020, section 6.1, and the authors' code, which
              resize to a multiple of 256 first; here nothing is resampled);
            - "crop": the holes are grouped into regions, each inpainted in a window of
              context around it (`regions.hole_windows`: twice the region's box, at least
              `min_window`, overlapping windows merged), downscaled to `max_size` only where
              the window is larger or its holes are deeper than the network fills well at full
              resolution (`regions.max_hole_depth`: past it, the middle of a wide stroke comes
              out grey); a few strokes on a camera photo cost what a small image costs;
            - "auto": one of pad, crop, tile and resize, chosen per image from its size, its
              holes and the memory free (`resolve_strategy`; the rule is
              `regions.choose_strategy`'s).
        max_size: int or None. Largest side the network sees with "tile", "resize",
            "polyphase" and "crop" (needed for the first three; for DeepGIN the training size,
            256; crop and auto default to `DEFAULT_MAX_SIZE`); not used by "pad" (where giving
            it is an error).
        tile_overlap: int or None. Overlap of neighbouring tiles in pixels (default: a quarter
            of the tile side).
        postprocess: str. "none", or "telea_poisson": GLCIC's post-processing (Iizuka et al.
            2017, section 3.4: a Telea fill Poisson-blended with the network's output, see
            `tfinpaint.postprocess.telea_poisson_blend`); hole pixels are then 8-bit quantised.
        ensemble: bool. Test-time self-ensemble (DeepGIN's authors' test code): every network
            call becomes five, on the image as it is, rotated by 90, 180 and 270 degrees, and
            flipped left-right; their raw outputs are turned back and averaged before the known
            pixels are pasted back (`models.SelfEnsemble`). Five times the compute; any model.
            A generator that is already a `SelfEnsemble` (a checkpoint shipped with
            `ensemble=True`) runs as it is either way.
        min_window: int or None. Smallest crop window side (default `DEFAULT_MIN_WINDOW`, the
            training size of the shipped checkpoints; pass the model's own).
        on_strategy: callable or None. Called with (strategy, max_size, reason) once the
            strategy is known (what "auto" chose), e.g. to report it.

    Returns:
        Array of the shape and dtype of `image`: hole pixels from the network (rounded for
        uint8 and uint16, clipped to [0, 1] for float), every other pixel exactly the input's.

    Raises:
        ValueError: a bad image, a mask of another size (naming both sizes), an unknown
            strategy or post-processing, or a bad `max_size` / `tile_overlap`.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"Received an image of shape {image.shape}; expected (H, W, 3).")
    if image.dtype not in (np.uint8, np.uint16) and not np.issubdtype(image.dtype, np.floating):
        raise ValueError(
            f"Received an image of dtype {image.dtype}; expected uint8, uint16 or float in [0, 1]."
        )
    holes = imageops.binary_holes(hole_mask, image.shape)
    if image.dtype == np.uint16:  # Run in float; only hole pixels are converted back.
        filled = inpaint(
            generator,
            image.astype(np.float32) / 65535.0,
            holes,
            strategy=strategy,
            max_size=max_size,
            tile_overlap=tile_overlap,
            postprocess=postprocess,
            ensemble=ensemble,
            min_window=min_window,
            on_strategy=on_strategy,
        )
        return imageops.paste_holes(image, holes, imageops.from_unit_float(filled, np.uint16))
    if strategy not in STRATEGIES:
        raise ValueError(f"Received strategy={strategy!r}; expected one of {STRATEGIES}.")
    if postprocess not in POSTPROCESSING:
        raise ValueError(f"Received postprocess={postprocess!r}; expected one of {POSTPROCESSING}.")
    if min_window is not None and (
        isinstance(min_window, bool)
        or not isinstance(min_window, (int, np.integer))
        or min_window < 1
    ):
        raise ValueError(f"Received min_window={min_window!r}; expected a positive int.")
    multiple = generator.size_multiple
    if strategy == "auto" and max_size is not None:
        _check_max_size(max_size, strategy, multiple)
    if ensemble and not isinstance(generator, SelfEnsemble):
        generator = SelfEnsemble(generator)
    strategy, max_size, reason = resolve_strategy(generator, holes, strategy, max_size, min_window)
    if on_strategy is not None:
        on_strategy(strategy, max_size, reason)
    if strategy == "pad":
        if max_size is not None:
            raise ValueError(
                f"Received max_size={max_size} with strategy='pad', which always runs the whole "
                "image; use strategy='tile' or 'resize' to bound the size."
            )
    elif strategy != "auto":
        _check_max_size(max_size, strategy, multiple)
    if not holes.any():
        return image.copy()
    if strategy == "crop":
        # Window by window, each as an image of its own: no full-size float copy of a camera
        # photo is ever made, and known pixels are pasted back by the calls themselves.
        result = image.copy()
        min_side = DEFAULT_MIN_WINDOW if min_window is None else int(min_window)
        for top, left, bottom, right in regions.hole_windows(holes, min_side):
            window = (slice(top, bottom), slice(left, right))
            side = max(bottom - top, right - left)
            # Downscaled past max_size, and until the holes are no deeper than the network
            # fills well (deeper ones come out grey in the middle: `regions.HOLE_DEPTH_SHARE`).
            depth = regions.hole_depth(holes[window])
            scale = min(1.0, max_size / side, regions.max_hole_depth(min_side) / max(depth, 1.0))
            size = max(multiple, int(side * scale) // multiple * multiple)
            large = scale < 1.0 and size < side
            result[window] = inpaint(
                generator,
                image[window],
                holes[window],
                strategy="resize" if large else "pad",
                max_size=size if large else None,
                postprocess=postprocess,
            )
        return result

    if image.dtype == np.uint8:
        pixels = image.astype(np.float32) / 255.0
    else:
        pixels = np.clip(image.astype(np.float32), 0.0, 1.0)
    height, width = holes.shape

    def run(pixels, holes):  # Raw output (h, w, 3) of one network view of (part of) the image.
        return _run_padded(generator, pixels, holes, multiple)

    if strategy == "tile" and max(height, width) > max_size:
        raw = _run_tiles(run, pixels, holes, multiple, max_size, tile_overlap)
    elif strategy == "resize" and max(height, width) > max_size:
        raw = _run_resized(run, pixels, holes, max_size)
    elif strategy == "polyphase" and max(height, width) > max_size:
        raw = _run_polyphase(run, pixels, holes, max_size)
    else:
        raw = run(pixels, holes)
    result = imageops.paste_holes(image, holes, imageops.from_unit_float(raw, image.dtype))
    if postprocess == "telea_poisson":
        result = postprocess_lib.telea_poisson_blend(result, holes)
    return result


def _check_max_size(max_size, strategy, multiple):
    if (
        isinstance(max_size, bool)
        or not isinstance(max_size, (int, np.integer))
        or max_size < multiple
    ):
        raise ValueError(
            f"Received max_size={max_size!r} with strategy={strategy!r}; expected an int >= "
            f"{multiple} (the generator's size multiple)."
        )


def _run_padded(generator, pixels, holes, multiple):
    """Raw network output (H, W, 3) float32 for one image, reflect-padded to `multiple`.

    `pixels` and `holes` may also be batches, (N, H, W, 3) and (N, H, W): the output is then
    (N, H, W, 3).
    """
    batched = pixels.ndim == 4
    if not batched:
        pixels, holes = pixels[None], holes[None]
    images, size = imageops.reflect_pad_to_multiple(pixels, multiple)
    hole_masks, _ = imageops.reflect_pad_to_multiple(holes[..., None].astype(np.float32), multiple)
    outputs = generator({"images": images, "masks": hole_masks}, training=False)
    raw = np.asarray(imageops.crop_to_size(tf.cast(outputs["raw"], tf.float32), size))
    return raw if batched else raw[0]


def _ramp(length, ramp, at_start, at_end):
    """1D blending weights of one tile: linear ramps of `ramp` pixels at inner edges."""
    position = np.arange(length, dtype=np.float32) + 0.5
    weights = np.ones(length, np.float32)
    if ramp > 0:
        if not at_start:
            weights = np.minimum(weights, position / ramp)
        if not at_end:
            weights = np.minimum(weights, (length - position) / ramp)
    return weights


def _run_tiles(run, pixels, holes, multiple, max_size, tile_overlap):
    tile = max_size // multiple * multiple
    overlap = tile // 4 if tile_overlap is None else tile_overlap
    if not isinstance(overlap, (int, np.integer)) or not 0 <= overlap < tile:
        raise ValueError(
            f"Received tile_overlap={tile_overlap!r}; expected an int in [0, {tile}) for tiles "
            f"of {tile} px."
        )
    height, width = holes.shape
    total = np.zeros((height, width, 3), np.float32)
    weight_sum = np.zeros((height, width, 1), np.float32)
    for top in regions.tile_starts(height, tile, overlap):
        bottom = min(top + tile, height)
        row_weights = _ramp(bottom - top, overlap, top == 0, bottom == height)
        for left in regions.tile_starts(width, tile, overlap):
            right = min(left + tile, width)
            tile_holes = holes[top:bottom, left:right]
            if not tile_holes.any():  # Its output would only land on known pixels.
                continue
            raw = run(pixels[top:bottom, left:right], tile_holes)
            col_weights = _ramp(right - left, overlap, left == 0, right == width)
            weights = (row_weights[:, None] * col_weights[None, :])[..., None]
            total[top:bottom, left:right] += raw * weights
            weight_sum[top:bottom, left:right] += weights
    # Pixels no tile covered are known pixels (every hole lies in a tile that was run).
    return total / np.maximum(weight_sum, 1e-12)


def _run_resized(run, pixels, holes, max_size):
    height, width = holes.shape
    scale = max_size / max(height, width)
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))  # cv2: (w, h)
    small_pixels = cv2.resize(pixels, small_size, interpolation=cv2.INTER_AREA)
    # A low-resolution pixel that overlaps any hole is a hole: no hole content leaks in.
    small_holes = cv2.resize(holes.astype(np.float32), small_size, interpolation=cv2.INTER_AREA)
    small_raw = run(small_pixels, small_holes > 0)
    return cv2.resize(small_raw, (width, height), interpolation=cv2.INTER_LINEAR)


def _run_polyphase(run, pixels, holes, max_size):
    """Raw output (H, W, 3) assembled from f_h x f_w polyphase sub-images of <= max_size."""
    height, width = holes.shape
    factor_h, factor_w = -(-height // max_size), -(-width // max_size)
    # Reflect-pad to multiples of the factors so that every phase has the same size.
    pad_h, pad_w = -height % factor_h, -width % factor_w
    padded = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    padded_holes = np.pad(holes, ((0, pad_h), (0, pad_w)), mode="reflect")
    raw = np.zeros(padded.shape, np.float32)
    for dy in range(factor_h):
        for dx in range(factor_w):
            phase_holes = padded_holes[dy::factor_h, dx::factor_w]
            if phase_holes.any():  # A phase without holes only lands on known pixels.
                phase = np.ascontiguousarray(padded[dy::factor_h, dx::factor_w])
                raw[dy::factor_h, dx::factor_w] = run(phase, np.ascontiguousarray(phase_holes))
    return raw[:height, :width]
