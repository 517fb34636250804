"""Sobel gradient maps of the ground-truth image, the extra target of gradient-guided models.

GAIN (SPEC.md section 5) predicts image gradients beside the image; the pipeline hands it the
gradients of the unmasked ground truth. The maps are 3x3 Sobel derivatives (x then y) of the
ITU-R 601 grayscale image, bit-for-bit the same recipe as OpenCV:
`cv2.Sobel(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_32F, 1, 0, ksize=3)` and `(0, 1)`,
with OpenCV's default border (BORDER_REFLECT_101: the edge pixel is not repeated).

No scaling is applied: for images in [0, 1] each map lies in [-4, 4] (the kernel's positive
weights sum to 4).

Two implementations of the same maps: `sobel_gradients` is plain TensorFlow (any device,
differentiable); the data op `add_gradients` runs OpenCV inside `tf.numpy_function`, because
the TF version materialises a dozen full-size temporaries and, without XLA, cost ~0.8 ms CPU
per 256x256 image inside tf.data on the 2-core development machine against ~0.25 ms for
OpenCV, in a pipeline whose whole budget at 500 samples/s is ~4 ms of CPU per sample.
"""

import cv2
import numpy as np
import tensorflow as tf

# ITU-R BT.601 luma weights, as cv2.COLOR_RGB2GRAY uses them.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def rgb_to_gray(images):
    """Returns the (..., H, W) grayscale image of (..., H, W, 3) RGB `images`."""
    images = tf.convert_to_tensor(images, tf.float32)
    return (
        GRAY_WEIGHTS[0] * images[..., 0]
        + GRAY_WEIGHTS[1] * images[..., 1]
        + GRAY_WEIGHTS[2] * images[..., 2]
    )


def _reflect_pad(gray, axis):
    # BORDER_REFLECT_101 by one pixel along `axis` (-2: rows, -1: columns), built from slices
    # rather than tf.pad so that any number of leading dimensions works.
    if axis == -2:
        return tf.concat([gray[..., 1:2, :], gray, gray[..., -2:-1, :]], axis=-2)
    return tf.concat([gray[..., 1:2], gray, gray[..., -2:-1]], axis=-1)


def sobel_gradients(images):
    """Sobel x and y derivatives of the grayscale image.

    Computed separably, as OpenCV does: a [-1, 0, 1] difference along the derivative's axis and
    a [1, 2, 1] smoothing across it, after reflect-101 padding.

    Args:
        images: float tensor (H, W, 3) or (B, H, W, 3), RGB in [0, 1], H and W at least 2.

    Returns:
        float32 tensor (..., H, W, 2): channel 0 is d/dx (along the width), channel 1 is d/dy
        (along the height), each in [-4, 4].

    Raises:
        ValueError: the rank is not 3 or 4, the last axis is not 3, or H or W is below 2.

    Example:
        >>> gradients = sobel_gradients(tf.zeros([2, 64, 64, 3]))  # (2, 64, 64, 2)
    """
    images = tf.convert_to_tensor(images)
    shape = images.shape
    if shape.rank not in (3, 4) or shape[-1] != 3:
        raise ValueError(
            f"Received images of shape {shape}; expected (H, W, 3) or (B, H, W, 3) RGB."
        )
    if any(size is not None and size < 2 for size in shape[-3:-1]):
        raise ValueError(
            f"Received images of shape {shape}; expected height and width of at least 2."
        )
    gray = rgb_to_gray(tf.cast(images, tf.float32))
    padded = _reflect_pad(_reflect_pad(gray, -2), -1)  # (..., H+2, W+2)
    # d/dx: difference along columns, then [1, 2, 1] along rows.
    diff_x = padded[..., :, 2:] - padded[..., :, :-2]  # (..., H+2, W)
    grad_x = diff_x[..., :-2, :] + 2.0 * diff_x[..., 1:-1, :] + diff_x[..., 2:, :]
    # d/dy: difference along rows, then [1, 2, 1] along columns.
    diff_y = padded[..., 2:, :] - padded[..., :-2, :]  # (..., H, W+2)
    grad_y = diff_y[..., :, :-2] + 2.0 * diff_y[..., :, 1:-1] + diff_y[..., :, 2:]
    return tf.stack([grad_x, grad_y], axis=-1)


def opencv_sobel_gradients(images):
    """The same maps as `sobel_gradients` for numpy arrays, computed with OpenCV.

    Args:
        images: numpy float32 (H, W, 3) or (B, H, W, 3), RGB in [0, 1].

    Returns:
        numpy float32 (..., H, W, 2): Sobel x, then y.
    """
    flat = images.reshape((-1,) + images.shape[-3:])
    gradients = np.empty(flat.shape[:-1] + (2,), np.float32)
    for image, out in zip(flat, gradients):
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        out[..., 0] = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
        out[..., 1] = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return gradients.reshape(images.shape[:-1] + (2,))


def add_gradients(example):
    """Data op: adds `gradients` (Sobel x, y of the grayscale `images`) to a dict.

    The same maps as `sobel_gradients` (to float rounding), computed with OpenCV on the CPU.
    Works on one example (H, W, 3) or a batch (B, H, W, 3); the pipeline calls it once per
    batch. The images must be the unmasked ground truth in [0, 1].

    Raises:
        ValueError: `images` is not (H, W, 3) or (B, H, W, 3).
    """
    example = dict(example)
    images = tf.convert_to_tensor(example["images"])
    shape = images.shape
    if shape.rank not in (3, 4) or shape[-1] != 3:
        raise ValueError(
            f"Received images of shape {shape}; expected (H, W, 3) or (B, H, W, 3) RGB."
        )
    gradients = tf.numpy_function(
        opencv_sobel_gradients, [tf.cast(images, tf.float32)], tf.float32, stateful=False
    )
    example["gradients"] = tf.ensure_shape(gradients, shape[:-1].concatenate([2]))
    return example
