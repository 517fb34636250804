"""Picture grids of pipeline batches, to see what a model will be trained on.

One row per sample: the image, its hole mask (white = hole), the masked image (holes filled
with white), and the magnitudes |d/dx| and |d/dy| of its Sobel gradients.
"""

import numpy as np

from tfinpaint.data import imageio
from tfinpaint.data.gradients import opencv_sobel_gradients

_DISPLAY_PERCENTILE = 99.0

PREVIEW_COLUMNS = ("image", "hole mask", "masked image", "|gradient x|", "|gradient y|")


def preview_grid(batch, num_samples=None, gap=4):
    """Draws a batch as an RGB uint8 grid, one row per sample, columns `PREVIEW_COLUMNS`.

    Args:
        batch: dict with `images` (B, S, S, 3) in [0, 1], `masks` (B, S, S, 1) with 1 = hole
            and, optionally, `gradients` (B, S, S, 2) (computed here when absent). Tensors or
            numpy arrays.
        num_samples: int or None. Rows to draw; default all of the batch.
        gap: int. White pixels between tiles.

    Returns:
        numpy uint8 array (rows * S + (rows - 1) * gap, 5 * S + 4 * gap, 3). Each gradient
        tile is divided by its 99th percentile magnitude and clipped, so edges show at any
        contrast.

    Raises:
        ValueError: the batch lacks `images` or `masks`, or their shapes disagree.
    """
    if "images" not in batch or "masks" not in batch:
        raise ValueError(
            f"Received a batch with keys {sorted(batch)}; expected at least 'images' and 'masks'."
        )
    images = np.asarray(batch["images"], np.float32)
    hole_masks = np.asarray(batch["masks"], np.float32)
    if images.ndim != 4 or hole_masks.shape != images.shape[:3] + (1,):
        raise ValueError(
            f"Received images {images.shape} and masks {hole_masks.shape}; expected "
            "(B, S, S, 3) and (B, S, S, 1)."
        )
    num_samples = len(images) if num_samples is None else min(num_samples, len(images))
    images, hole_masks = images[:num_samples], hole_masks[:num_samples]
    if "gradients" in batch:
        gradients = np.asarray(batch["gradients"], np.float32)[:num_samples]
    else:
        gradients = opencv_sobel_gradients(images)
    magnitudes = np.abs(gradients)
    # Per tile, by a high percentile rather than the maximum: a few strong edges would
    # otherwise leave the rest of the map black.
    scale = np.percentile(magnitudes, _DISPLAY_PERCENTILE, axis=(1, 2), keepdims=True)
    magnitudes = magnitudes / np.maximum(scale, 1e-6)
    masked = images * (1.0 - hole_masks) + hole_masks
    columns = [
        images,
        np.repeat(hole_masks, 3, axis=-1),
        masked,
        np.repeat(magnitudes[..., :1], 3, axis=-1),
        np.repeat(magnitudes[..., 1:], 3, axis=-1),
    ]
    height, width = images.shape[1:3]
    num_columns = len(columns)
    grid = np.ones(
        (
            num_samples * height + (num_samples - 1) * gap,
            num_columns * width + (num_columns - 1) * gap,
            3,
        ),
        np.float32,
    )
    for row in range(num_samples):
        for column, tiles in enumerate(columns):
            top, left = row * (height + gap), column * (width + gap)
            grid[top : top + height, left : left + width] = tiles[row]
    return np.rint(np.clip(grid, 0.0, 1.0) * 255.0).astype(np.uint8)


def save_png(path, image, overwrite=False):
    """Writes an RGB uint8 grid, creating parent folders; returns the path (a str).

    The format follows the extension (PNG for `.png`); `imageio.write_image` does the writing,
    atomically.

    Raises:
        ValueError: `path` exists and `overwrite` is False, or the file cannot be written.
    """
    return imageio.write_image(path, image, overwrite=overwrite)
