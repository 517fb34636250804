"""Image-quality metrics for inpainting: PSNR, SSIM and L1 error, whole image and hole only.

All functions take batches of images (B, H, W, C) in [0, 1] and an optional hole mask
(B, H, W, 1) with 1 = hole, and return one value per image (B,). With a hole mask the metric
covers hole pixels only; an image whose mask has no hole gets NaN there (so averages can skip
it with `nanmean`). Hole-ratio buckets follow the NVIDIA irregular-mask protocol (Liu et al.,
ECCV 2018): (0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6] by default; `buckets_from_edges` makes
other ones (e.g. edges 0.1, 0.3, 0.5: (0.1, 0.3] and (0.3, 0.5]).

`sharpness_ratio` tells a sharp fill from a blur, which PSNR rewards: the hole's mean Sobel
gradient magnitude of the output over the ground truth's (1 = as sharp as the photo).

SSIM comes in two variants, because published numbers use both and they differ by a few
hundredths:

- `"gaussian"` (the default): Wang et al. (2004) as written, an 11x11 Gaussian window
  (sigma 1.5) and population statistics. Equal to `tf.image.ssim` and to scikit-image's
  `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1)`.
- `"skimage_default"`: scikit-image's defaults, `structural_similarity(data_range=1)`: a 7x7
  uniform window and sample (N - 1) covariances.

`quantize` turns float outputs into what a saved 8-bit PNG holds (clip to [0, 1], round to
1/255), the images papers score.

This module imports no other tfinpaint package.
"""

import numpy as np
import tensorflow as tf

# The NVIDIA irregular mask set's hole-ratio buckets: (low, high].
HOLE_RATIO_BUCKETS = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))

_SSIM_K1 = 0.01
_SSIM_K2 = 0.03
# variant -> (window side, Gaussian sigma or None for a uniform window, sample covariance).
SSIM_VARIANTS = {
    "gaussian": (11, 1.5, False),
    "skimage_default": (7, None, True),
}


def quantize(images):
    """What an 8-bit image file holds: `images` clipped to [0, 1] and rounded to k / 255.

    Args:
        images: array of floats, nominally in [0, 1].

    Returns:
        float32 numpy array of the same shape.
    """
    return (np.round(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255.0) / 255.0).astype(
        np.float32
    )


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


def _check_ssim_variant(variant):
    if variant not in SSIM_VARIANTS:
        raise ValueError(
            f"Unknown SSIM variant {variant!r}; expected one of {', '.join(SSIM_VARIANTS)}."
        )
    return SSIM_VARIANTS[variant]


def _window_kernels(num_channels, window_size, sigma):
    """The averaging window, Gaussian or uniform when `sigma` is None, as its two 1D factors:
    depthwise kernels (k, 1, C, 1) and (1, k, C, 1). Both windows are outer products of a 1D
    window, so two 1D passes give the 2D window's average (to float32 rounding) at 2k instead
    of k^2 multiplies per pixel (TensorFlow's CPU depthwise convolution made the 11x11 window
    most of an evaluation's time)."""
    if sigma is None:
        g = np.ones(window_size, np.float64)
    else:
        coords = np.arange(window_size, dtype=np.float64) - (window_size - 1) / 2.0
        g = np.exp(-(coords**2) / (2.0 * sigma**2))
    g = np.tile((g / g.sum()).astype(np.float32)[:, None, None], (1, num_channels, 1))
    return tf.constant(g[:, None]), tf.constant(g[None, :])


def ssim_map(y_true, y_pred, max_val=1.0, variant="gaussian"):
    """The SSIM map (B, H-k+1, W-k+1, C) of Wang et al. (2004), k the window side.

    Computed over the 'valid' region, as `tf.image.ssim` and scikit-image (which crops the
    border before averaging) do. `variant` is one of SSIM_VARIANTS (see the module docstring):
    "gaussian" (11x11, sigma 1.5, population statistics) or "skimage_default" (7x7 uniform,
    sample covariance).
    """
    window_size, sigma, sample_covariance = _check_ssim_variant(variant)
    y_true, y_pred = _as_float(y_true), _as_float(y_pred)
    # The five local means in one pass over their channels stacked: x, y, x^2, y^2, x*y.
    stacked = tf.concat([y_true, y_pred, y_true * y_true, y_pred * y_pred, y_true * y_pred], -1)
    columns, rows = _window_kernels(stacked.shape[-1], window_size, sigma)
    means = stacked
    for kernel in (columns, rows):
        means = tf.nn.depthwise_conv2d(means, kernel, strides=[1, 1, 1, 1], padding="VALID")
    mu_true, mu_pred, mean_tt, mean_pp, mean_tp = tf.split(means, 5, axis=-1)

    c1 = (_SSIM_K1 * max_val) ** 2
    c2 = (_SSIM_K2 * max_val) ** 2
    # scikit-image's use_sample_covariance: unbiased N / (N - 1) over the window's N pixels.
    norm = window_size**2 / (window_size**2 - 1.0) if sample_covariance else 1.0
    var_true = norm * (mean_tt - mu_true**2)
    var_pred = norm * (mean_pp - mu_pred**2)
    covariance = norm * (mean_tp - mu_true * mu_pred)
    numerator = (2.0 * mu_true * mu_pred + c1) * (2.0 * covariance + c2)
    denominator = (mu_true**2 + mu_pred**2 + c1) * (var_true + var_pred + c2)
    return numerator / denominator


def ssim(y_true, y_pred, hole_mask=None, max_val=1.0, variant="gaussian"):
    """Structural similarity per image (B,), averaged over the SSIM map.

    `variant="gaussian"` (default) equals `tf.image.ssim` and scikit-image's
    `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1)`; `variant="skimage_default"` equals `structural_similarity(data_range=1)`
    (7x7 uniform window, sample covariance). With `hole_mask`, the map is averaged over windows
    centred on hole pixels (the mask is cropped to the map's valid region). Images must be at
    least as large as the window (11x11, or 7x7).
    """
    window_size = _check_ssim_variant(variant)[0]
    y_true = _as_float(y_true)
    height, width = y_true.shape[1], y_true.shape[2]
    if height is not None and width is not None and min(height, width) < window_size:
        raise ValueError(
            f"SSIM needs images of at least {window_size}x{window_size} pixels, "
            f"got {height}x{width}."
        )
    values = ssim_map(y_true, y_pred, max_val, variant)
    weights = tf.ones_like(values)
    if hole_mask is not None:
        half = window_size // 2
        cropped = _as_float(hole_mask)[:, half:-half, half:-half, :]
        weights = tf.broadcast_to(cropped, tf.shape(values))
    return _weighted_mean(values, weights)


def hole_ratio(hole_mask):
    """Fraction of hole pixels per image (B,)."""
    return tf.reduce_mean(_as_float(hole_mask), axis=[1, 2, 3])


def buckets_from_edges(edges):
    """Hole-ratio buckets ((e0, e1), (e1, e2), ...) from increasing edges in [0, 1].

    Example: `buckets_from_edges([0.1, 0.3, 0.5])` -> ((0.1, 0.3), (0.3, 0.5)), the buckets
    (0.1, 0.3] and (0.3, 0.5].

    Raises:
        ValueError: fewer than 2 edges, an edge outside [0, 1] or not a number, or edges that
            do not increase.
    """
    try:
        values = [float(edge) for edge in edges]
    except (TypeError, ValueError):
        raise ValueError(
            f"Bucket edges {list(edges)} are not all numbers; expected increasing hole ratios in "
            "[0, 1], e.g. 0.1,0.3,0.5."
        ) from None
    if (
        len(values) < 2
        or not all(0.0 <= v <= 1.0 for v in values)
        or any(b <= a for a, b in zip(values, values[1:]))
    ):
        raise ValueError(
            f"Bucket edges {values} are not at least 2 increasing hole ratios in [0, 1]; "
            "expected e.g. 0.1,0.3,0.5."
        )
    return tuple(zip(values, values[1:]))


def bucket_index(ratio, buckets=HOLE_RATIO_BUCKETS):
    """Index into `buckets` ((low, high] pairs) for a hole ratio, or -1 outside them all."""
    for index, (low, high) in enumerate(buckets):
        if low < ratio <= high:
            return index
    return -1


def bucket_name(index, buckets=HOLE_RATIO_BUCKETS):
    """A readable name such as '(0.10, 0.20]' for a bucket index; 'other' for -1."""
    if index < 0:
        return "other"
    low, high = buckets[index]
    return f"({low:.2f}, {high:.2f}]"


# ITU-R BT.601 luma, as tf.image.rgb_to_grayscale.
_LUMA = (0.299, 0.587, 0.114)


def gradient_magnitude(images):
    """Sobel gradient magnitude of the grayscale image, (B, H, W, C) -> (B, H, W).

    Grayscale is BT.601 luma (0.299 R + 0.587 G + 0.114 B) for 3 channels, the channel itself
    for 1; the gradients are `tf.image.sobel_edges` (3x3 Sobel kernels, reflected borders, no
    normalisation) and the magnitude is sqrt(gx^2 + gy^2).
    """
    images = _as_float(images)
    if images.shape[-1] == 3:
        gray = tf.reduce_sum(images * tf.constant(_LUMA, tf.float32), axis=-1, keepdims=True)
    elif images.shape[-1] == 1:
        gray = images
    else:
        raise ValueError(f"Received images with {images.shape[-1]} channels; expected 1 or 3.")
    edges = tf.image.sobel_edges(gray)[..., 0, :]  # (B, H, W, 2): dy, dx.
    return tf.sqrt(tf.reduce_sum(tf.square(edges), axis=-1))


def sharpness_ratio(y_true, y_pred, hole_mask):
    """How sharp the fill is beside the photo: mean hole gradient of `y_pred` over `y_true`'s.

    For each image, the mean over hole pixels of the Sobel gradient magnitude of the grayscale
    output (`gradient_magnitude`, computed on the whole image, so a seam at the hole's edge
    counts) divided by the same mean for the ground truth. 1 = as sharp as the photo; a blurred
    fill scores well under 1; noise or invented texture over 1. PSNR cannot tell these apart
    from a good fill, so tables show both.

    Args:
        y_true: (B, H, W, C) images in [0, 1], C = 1 or 3.
        y_pred: (B, H, W, C) images in [0, 1].
        hole_mask: (B, H, W, 1) or (B, H, W), 1 = hole.

    Returns:
        float32 numpy array (B,): NaN for an image without holes or whose ground truth is flat
        in the holes (no gradient to compare with).
    """
    holes = _as_float(hole_mask)
    if holes.shape.rank == 4:
        holes = holes[..., 0]
    count = tf.reduce_sum(holes, axis=[1, 2])
    true_mean = tf.reduce_sum(gradient_magnitude(y_true) * holes, axis=[1, 2])
    pred_mean = tf.reduce_sum(gradient_magnitude(y_pred) * holes, axis=[1, 2])
    defined = (count > 0) & (true_mean > 0)
    ratio = tf.where(defined, pred_mean / tf.where(defined, true_mean, 1.0), float("nan"))
    return ratio.numpy().astype(np.float32)


def evaluate_batch(y_true, y_pred, hole_mask, ssim_variant="gaussian"):
    """All metrics for one batch, as a dict of (B,) numpy arrays (hole-only ones suffixed)."""
    return {
        "hole_ratio": hole_ratio(hole_mask).numpy(),
        "psnr": psnr(y_true, y_pred).numpy(),
        "ssim": ssim(y_true, y_pred, variant=ssim_variant).numpy(),
        "l1": l1_error(y_true, y_pred).numpy(),
        "psnr_hole": psnr(y_true, y_pred, hole_mask).numpy(),
        "ssim_hole": ssim(y_true, y_pred, hole_mask, variant=ssim_variant).numpy(),
        "l1_hole": l1_error(y_true, y_pred, hole_mask).numpy(),
        "sharpness": sharpness_ratio(y_true, y_pred, hole_mask),
    }
