"""Image-quality metrics for inpainting: PSNR, SSIM and L1 error, whole image and hole only.

All functions take batches of images (B, H, W, C) in [0, 1] and an optional hole mask
(B, H, W, 1) with 1 = hole, and return one value per image (B,). With a hole mask the metric
covers hole pixels only; an image whose mask has no hole gets NaN there (so averages can skip
it with `nanmean`). Hole-ratio buckets follow the NVIDIA irregular-mask protocol (Liu et al.,
ECCV 2018): (0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6].

This module imports no other tfinpaint package.
"""

import numpy as np
import tensorflow as tf

# The NVIDIA irregular mask set's hole-ratio buckets: (low, high].
HOLE_RATIO_BUCKETS = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))

_SSIM_WINDOW_SIZE = 11
_SSIM_SIGMA = 1.5
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03


def _as_float(images):
    return tf.cast(tf.convert_to_tensor(images), tf.float32)


def _weights_for(images, hole_mask):
    """Per-pixel weights (B, H, W, C): ones, or the hole mask broadcast over channels."""
    if hole_mask is None:
        return tf.ones_like(images)
    hole_mask = _as_float(hole_mask)
    if hole_mask.shape.rank == 3:
        hole_mask = hole_mask[..., None]
    return tf.broadcast_to(hole_mask, tf.shape(images))


def _weighted_mean(values, weights):
    """Mean of `values` weighted per image; NaN for images whose weights sum to zero."""
    total = tf.reduce_sum(values * weights, axis=[1, 2, 3])
    count = tf.reduce_sum(weights, axis=[1, 2, 3])
    nan = tf.fill(tf.shape(total), float("nan"))
    return tf.where(count > 0, total / tf.maximum(count, 1e-12), nan)


def mse(y_true, y_pred, hole_mask=None):
    """Mean squared error per image (B,), over hole pixels when `hole_mask` is given."""
    y_true, y_pred = _as_float(y_true), _as_float(y_pred)
    return _weighted_mean(tf.square(y_true - y_pred), _weights_for(y_true, hole_mask))


def l1_error(y_true, y_pred, hole_mask=None):
    """Mean absolute error per image (B,), over hole pixels when `hole_mask` is given."""
    y_true, y_pred = _as_float(y_true), _as_float(y_pred)
    return _weighted_mean(tf.abs(y_true - y_pred), _weights_for(y_true, hole_mask))


def psnr(y_true, y_pred, hole_mask=None, max_val=1.0):
    """Peak signal-to-noise ratio in dB per image (B,); hole pixels only with `hole_mask`.

    A perfect reconstruction gives +inf, as the definition says.
    """
    error = mse(y_true, y_pred, hole_mask)
    return 10.0 * tf.math.log(max_val**2 / error) / tf.math.log(10.0)


def _gaussian_kernel(num_channels):
    coords = np.arange(_SSIM_WINDOW_SIZE, dtype=np.float64) - (_SSIM_WINDOW_SIZE - 1) / 2.0
    g = np.exp(-(coords**2) / (2.0 * _SSIM_SIGMA**2))
    g /= g.sum()
    kernel = np.outer(g, g).astype(np.float32)
    # Depthwise: one window per channel, (k, k, C, 1).
    return tf.constant(np.tile(kernel[:, :, None, None], (1, 1, num_channels, 1)))


def ssim_map(y_true, y_pred, max_val=1.0):
    """The SSIM map (B, H-10, W-10, C) of Wang et al. (2004): 11x11 Gaussian window, sigma 1.5.

    Computed over the 'valid' region like `tf.image.ssim` and scikit-image's
    `structural_similarity(gaussian_weights=True, use_sample_covariance=False)`.
    """
    y_true, y_pred = _as_float(y_true), _as_float(y_pred)
    kernel = _gaussian_kernel(y_true.shape[-1])

    def blur(x):
        return tf.nn.depthwise_conv2d(x, kernel, strides=[1, 1, 1, 1], padding="VALID")

    c1 = (_SSIM_K1 * max_val) ** 2
    c2 = (_SSIM_K2 * max_val) ** 2
    mu_true, mu_pred = blur(y_true), blur(y_pred)
    var_true = blur(y_true * y_true) - mu_true**2
    var_pred = blur(y_pred * y_pred) - mu_pred**2
    covariance = blur(y_true * y_pred) - mu_true * mu_pred
    numerator = (2.0 * mu_true * mu_pred + c1) * (2.0 * covariance + c2)
    denominator = (mu_true**2 + mu_pred**2 + c1) * (var_true + var_pred + c2)
    return numerator / denominator


def ssim(y_true, y_pred, hole_mask=None, max_val=1.0):
    """Structural similarity per image (B,), averaged over the SSIM map.

    With `hole_mask`, the map is averaged over windows centred on hole pixels (the mask is
    cropped to the map's valid region). Images must be at least 11x11.
    """
    y_true = _as_float(y_true)
    height, width = y_true.shape[1], y_true.shape[2]
    if height is not None and width is not None and min(height, width) < _SSIM_WINDOW_SIZE:
        raise ValueError(
            f"SSIM needs images of at least {_SSIM_WINDOW_SIZE}x{_SSIM_WINDOW_SIZE} pixels, "
            f"got {height}x{width}."
        )
    values = ssim_map(y_true, y_pred, max_val)
    weights = tf.ones_like(values)
    if hole_mask is not None:
        half = _SSIM_WINDOW_SIZE // 2
        cropped = _as_float(hole_mask)[:, half:-half, half:-half, :]
        weights = tf.broadcast_to(cropped, tf.shape(values))
    return _weighted_mean(values, weights)


def hole_ratio(hole_mask):
    """Fraction of hole pixels per image (B,)."""
    return tf.reduce_mean(_as_float(hole_mask), axis=[1, 2, 3])


def bucket_index(ratio):
    """Index into HOLE_RATIO_BUCKETS for a hole ratio, or -1 when it falls outside them."""
    for index, (low, high) in enumerate(HOLE_RATIO_BUCKETS):
        if low < ratio <= high:
            return index
    return -1


def bucket_name(index):
    """A readable name such as '(0.10, 0.20]' for a bucket index; 'other' for -1."""
    if index < 0:
        return "other"
    low, high = HOLE_RATIO_BUCKETS[index]
    return f"({low:.2f}, {high:.2f}]"


def evaluate_batch(y_true, y_pred, hole_mask):
    """All metrics for one batch, as a dict of (B,) numpy arrays (hole-only ones prefixed)."""
    return {
        "hole_ratio": hole_ratio(hole_mask).numpy(),
        "psnr": psnr(y_true, y_pred).numpy(),
        "ssim": ssim(y_true, y_pred).numpy(),
        "l1": l1_error(y_true, y_pred).numpy(),
        "psnr_hole": psnr(y_true, y_pred, hole_mask).numpy(),
        "ssim_hole": ssim(y_true, y_pred, hole_mask).numpy(),
        "l1_hole": l1_error(y_true, y_pred, hole_mask).numpy(),
    }
