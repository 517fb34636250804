"""The tf.data pipeline: image sources, mask generators, gradient maps and `build_dataset`."""

from tfinpaint.data.gradients import add_gradients, sobel_gradients
from tfinpaint.data.masks import make_mask_fns, num_masks_per_image
from tfinpaint.data.pipeline import benchmark_dataset, build_dataset
from tfinpaint.data.preview import preview_grid, save_png
from tfinpaint.data.sources import (
    IMAGE_EXTENSIONS,
    SAMPLE_IMAGES,
    decode_image_bytes,
    list_image_files,
    read_image,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "SAMPLE_IMAGES",
    "add_gradients",
    "benchmark_dataset",
    "build_dataset",
    "decode_image_bytes",
    "list_image_files",
    "make_mask_fns",
    "num_masks_per_image",
    "preview_grid",
    "read_image",
    "sobel_gradients",
    "save_png",
]
