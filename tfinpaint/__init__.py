"""tfinpaint: image inpainting for TensorFlow 2 / Keras 3.

Five systems behind one API (see SPEC.md): partial convolutions and the PConv U-Net, GLCIC,
the cascade generator, DeepGIN and GAIN. Tensor conventions everywhere: NHWC float32 images in
[0, 1], masks (B, H, W, 1) float32 with 1 = hole.
"""

import os

# The training code, the data pipeline and export are written for the TensorFlow backend.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
