"""tfinpaint: image inpainting for TensorFlow 2 / Keras 3.

Five systems behind one API (see SPEC.md): partial convolutions and the PConv U-Net, GLCIC,
the cascade generator, DeepGIN and GAIN. Tensor conventions everywhere: NHWC float32 images in
[0, 1], masks (B, H, W, 1) float32 with 1 = hole.
"""

import os

# Keras picks its backend once, when it is first imported, and the data pipeline, the GAN
# train steps, distribution and export are TensorFlow code: a `keras.json` or an environment
# naming another backend would break them in ways far from the cause. A default only: setting
# KERAS_BACKEND before the import still wins (tools/benchmark_keras_backend.py runs the
# backend-neutral generators under JAX that way). Nothing else happens on import: TensorFlow is
# imported by the modules that use it, and the tools filter its start-up log lines
# (`tfinpaint.cli.import_tensorflow_quietly`).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

# Subpackages and modules reachable as attributes (`tfinpaint.models.build_generator(...)`
# after `import tfinpaint`), imported on first use so that the package import stays light.
_SUBMODULES = (
    "benchmark",
    "checkpointing",
    "data",
    "evaluation",
    "export",
    "inference",
    "layers",
    "losses",
    "metrics",
    "models",
    "postprocess",
    "training",
)


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
