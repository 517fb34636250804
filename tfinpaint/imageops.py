"""Helpers every inpainting path shares: hole masks, known-pixel pasting, padding to a multiple.

`inference` (numpy arrays of any size), `export` (the SavedModel / TFLite graph) and
`postprocess` (OpenCV baselines and GLCIC's blending) all binarise hole masks, paste the filled
pixels into the input so known pixels come back exactly, and (inference and export) reflect-pad
images at the bottom and right to the generator's `size_multiple` and crop the output back.
Each of these lives here once, so the command line and the exported model cannot drift apart.

Example:
```python
holes = imageops.binary_holes(hole_mask, image.shape)
padded, size = imageops.reflect_pad_to_multiple(images, generator.size_multiple)
raw = imageops.crop_to_size(generator({"images": padded, ...})["raw"], size)
result = imageops.paste_holes(image, holes, imageops.from_unit_float(raw[0], image.dtype))
```
"""

import numpy as np
import tensorflow as tf

__all__ = [
    "binary_holes",
    "crop_to_size",
    "from_unit_float",
    "padded_size",
    "paste_holes",
    "reflect_pad_to_multiple",
]


# --- Holes and known pixels ------------------------------------------------------------------


def binary_holes(hole_mask, image_shape):
    """An (H, W) bool array of holes, checked against the image's size.

    Args:
        hole_mask: array (H, W) or (H, W, 1); bool, or numbers with a hole where >= 0.5 (so
            0/1 and 0/255 masks both work).
        image_shape: the image's shape, (H, W, ...) (only H and W are used).

    Raises:
        ValueError: the mask is not (H, W) or (H, W, 1), or its H and W are not the image's.
    """
    hole_mask = np.asarray(hole_mask)
    if hole_mask.ndim == 3 and hole_mask.shape[-1] == 1:
        hole_mask = hole_mask[..., 0]
    if hole_mask.ndim != 2:
        raise ValueError(
            f"Received a hole mask of shape {hole_mask.shape}; expected (H, W) or (H, W, 1)."
        )
    image_size = tuple(image_shape[:2])
    if hole_mask.shape != image_size:
        raise ValueError(
            f"Received a hole mask of shape {hole_mask.shape}, {hole_mask.shape[0]}x"
            f"{hole_mask.shape[1]} (HxW), for an image of {'x'.join(map(str, image_size))}; "
            "expected a mask of the image's size."
        )
    if hole_mask.dtype == bool:
        return hole_mask
    return hole_mask >= 0.5


def from_unit_float(values, dtype):
    """Float pixels in [0, 1] as `dtype`: uint8 and uint16 rounded to their range, float clipped
    to [0, 1] (a network's raw output may leave it)."""
    dtype = np.dtype(dtype)
    if dtype in (np.uint8, np.uint16):
        top = np.iinfo(dtype).max
        return np.clip(np.rint(values * float(top)), 0, top).astype(dtype)
    return np.clip(values, 0.0, 1.0).astype(dtype)


def paste_holes(image, holes, filled):
    """A copy of `image` with its hole pixels taken from `filled`; known pixels stay exact.

    Args:
        image: array (H, W, ...).
        holes: bool array (H, W), as `binary_holes` returns.
        filled: array of `image`'s shape and dtype (`from_unit_float` converts network output).
    """
    result = image.copy()
    result[holes] = filled[holes]
    return result


# --- Padding to the generator's size multiple ------------------------------------------------


def padded_size(size, multiple):
    """The smallest multiple of `multiple` that is >= `size` (an int or a scalar int tensor)."""
    return size + (multiple - size % multiple) % multiple


def _reflect_indices(size, padded_size):
    """Indices that reflect-pad an axis of `size` to `padded_size` at its end: numpy's
    `mode="reflect"` (the edge pixel is not repeated) with any amount of padding."""
    period = tf.maximum(2 * (size - 1), 1)
    index = tf.range(padded_size) % period
    return tf.where(index < size, index, period - index)


def reflect_pad_to_multiple(tensor, multiple):
    """Reflect-pads a batch at the bottom and right so that H and W are multiples of `multiple`.

    Reflected borders look like image content; pad the hole mask with the same function, so no
    hole pixel is ever presented to the network as known. Works eagerly on numpy arrays and
    tensors and inside a `tf.function`: with static H and W (TFLite's fixed size) the indices
    are constants and a tensor already of a multiple size is returned as it is, with no op.

    Args:
        tensor: array or tensor (B, H, W, C).
        multiple: int. The generator's `size_multiple`.

    Returns:
        `(padded, size)`: `padded` (B, H', W', C) and `size`, the input's `(H, W)` to give to
        `crop_to_size`, or None when nothing was padded.
    """
    static_size = tuple(tensor.shape[1:3])
    if None not in static_size:
        height, width = (int(side) for side in static_size)
        if (padded_size(height, multiple), padded_size(width, multiple)) == (height, width):
            return tensor, None
    else:
        if multiple == 1:
            return tensor, None
        shape = tf.shape(tensor)
        height, width = shape[1], shape[2]
    rows = _reflect_indices(height, padded_size(height, multiple))
    cols = _reflect_indices(width, padded_size(width, multiple))
    return tf.gather(tf.gather(tensor, rows, axis=1), cols, axis=2), (height, width)


def crop_to_size(tensor, size):
    """Cuts a (B, H', W', C) output of a padded batch back to `size` from
    `reflect_pad_to_multiple` (None: nothing was padded, `tensor` is returned as it is)."""
    if size is None:
        return tensor
    return tensor[:, : size[0], : size[1], :]
