"""tfinpaint: image inpainting for TensorFlow 2 / Keras 3.

Five systems behind one API (see SPEC.md): partial convolutions and the PConv U-Net, GLCIC,
the cascade generator, DeepGIN and GAIN. Tensor conventions everywhere: NHWC float32 images in
[0, 1], masks (B, H, W, 1) float32 with 1 = hole.
"""

import os
import re
import sys
import tempfile

# The training code, the data pipeline and export are written for the TensorFlow backend.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# C++ log lines that TensorFlow prints while it loads and looks for devices, before absl's
# logging is initialised: at that point they ignore TF_CPP_MIN_LOG_LEVEL and go to stderr.
_CPP_LOG_LINE = re.compile(r"^([IWEF])\d{4} ")
_LOG_LEVELS = "IWEF"  # TF_CPP_MIN_LOG_LEVEL 0, 1, 2, 3.
_STARTUP_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "To enable the following instructions:",  # The tail of cpu_feature_guard's info line.
)


def _has_nvidia_driver():
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def _keep_startup_line(line, min_level, gpu_possible):
    if any(noise in line for noise in _STARTUP_NOISE):
        return False
    match = _CPP_LOG_LINE.match(line)
    if match is None:
        return True
    if _LOG_LEVELS.index(match.group(1)) < min_level:
        return False
    # Without an NVIDIA driver cuInit can only fail, and TensorFlow falls back to the CPU: the
    # error line would alarm users of every CPU-only machine (it comes from a CUDA toolkit or
    # stub libcuda being installed without a driver).
    return gpu_possible or "failed call to cuInit" not in line


def _import_tensorflow_quietly():
    """Imports TensorFlow and lists its devices with the startup log lines filtered.

    TensorFlow's C++ code logs while it loads (oneDNN, CPU features, CUDA discovery) before
    TF_CPP_MIN_LOG_LEVEL applies; stderr is captured around the import and the first device
    listing and replayed without the lines the log level would have hidden, and without the
    `failed call to cuInit` error on machines that have no NVIDIA driver. On a machine with a
    driver nothing about device discovery changes, so a GPU is still found and used.
    """
    if "tensorflow" in sys.modules or os.name != "posix":
        return
    try:
        min_level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        min_level = 0
    gpu_possible = _has_nvidia_driver()
    try:
        sys.stderr.flush()
        saved_fd = os.dup(2)
    except (OSError, ValueError, AttributeError):  # No usable stderr: nothing to filter.
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [
                line
                for line in text.splitlines(keepends=True)
                if _keep_startup_line(line, min_level, gpu_possible)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


_import_tensorflow_quietly()

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
