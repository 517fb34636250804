"""The tf.data pipeline: image sources, mask generators, gradient maps and `build_dataset`.

The names below are imported on first use (`tfinpaint._lazy`): `tfinpaint.models` reads JSON
and HDF5 files through `tfinpaint.data.image_files` (numpy only), and must not import the
TensorFlow pipeline with it where only JAX is installed (tools/benchmark_keras_backend.py).
"""

from tfinpaint import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    {
        "IMAGE_EXTENSIONS": "sources",
        "SAMPLE_IMAGES": "sources",
        "add_gradients": "gradients",
        "benchmark_dataset": "pipeline",
        "build_dataset": "pipeline",
        "decode_image_bytes": "sources",
        "list_image_files": "sources",
        "make_mask_fns": "masks",
        "num_masks_per_image": "masks",
        "preview_grid": "preview",
        "read_image": "sources",
        "sobel_gradients": "gradients",
        "save_png": "preview",
    },
)
