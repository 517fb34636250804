"""What every program in tools/ shares: file-system failures as one `Error:` line (issue 30).

A full disk, a file-size limit, a read-only or unwritable folder or a path under a file can
surface anywhere a tool reads or writes (a checkpoint save, a generator save, an export). The
tools do not guard each call: their `main` carries `@cli.reports_file_errors`, which turns an
`OSError` or a TensorFlow file-system `OpError` into `sys.exit("Error: <path>: <reason>; <fix>.")`
(`tfinpaint.files.describe_file_error`), and `cli.run(main)` replaces `app.run(main)`. The
decorator sits on `main` itself so that callers of `main` other than `app.run` (the campaign's
driver) get the same behaviour. What was saved before stays intact because every write is
guarded (`tfinpaint.files.atomic_write`, `tf.train.CheckpointManager`).

Example (a tool's skeleton):
```python
from tfinpaint import cli

@cli.reports_file_errors
def main(argv):
    ...

if __name__ == "__main__":
    cli.run(main)
```

TensorFlow's start-up noise is also the tools' business, not the library's: `import tfinpaint`
has no side effect beyond choosing the Keras backend, and each tool calls
`cli.import_tensorflow_quietly()` before it imports a TensorFlow-heavy module, which imports
TensorFlow with the C++ log lines of its start-up filtered (`_keep_startup_line`):

```python
from tfinpaint import cli

cli.import_tensorflow_quietly()

from tfinpaint import inference  # noqa: E402 (after the quiet TensorFlow import)
```
"""

import functools
import os
import re
import sys
import tempfile

from tfinpaint import files

__all__ = ["import_tensorflow_quietly", "reports_file_errors", "run"]

# C++ log lines that TensorFlow prints while it loads and looks for devices, before absl's
# logging is initialised: at that point they ignore TF_CPP_MIN_LOG_LEVEL and go to stderr.
_CPP_LOG_LINE = re.compile(r"^([IWEF])\d{4} ")
_LOG_LEVELS = "IWEF"  # TF_CPP_MIN_LOG_LEVEL 0, 1, 2, 3.
_STARTUP_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "To enable the following instructions:",  # The tail of cpu_feature_guard's info line.
)
# What the tools' TensorFlow logs at by default (warnings and info hidden); a value in the
# environment wins.
_DEFAULT_TF_LOG_LEVEL = "2"


def reports_file_errors(main):
    """Decorates a tool's `main(argv)`: file-system failures exit with one `Error:` sentence.

    Other exceptions pass through unchanged (a bug stays a traceback).
    """
    if getattr(main, "_reports_file_errors", False):
        return main

    @functools.wraps(main)
    def guarded(argv):
        try:
            return main(argv)
        except Exception as error:  # noqa: BLE001 (only file-system failures are converted)
            sentence = files.describe_file_error(error)
            if sentence is None:
                raise
            sys.exit(f"Error: {sentence}")

    guarded._reports_file_errors = True
    return guarded


def run(main):
    """`absl.app.run(main)` with `reports_file_errors` applied (once) to `main`."""
    from absl import app

    app.run(reports_file_errors(main))


def _has_nvidia_driver():
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def _keep_startup_line(line, min_level, gpu_possible):
    """Whether a line TensorFlow wrote to stderr while it started up is shown to the user."""
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


def import_tensorflow_quietly():
    """Imports TensorFlow and lists its devices with the start-up log lines filtered.

    TensorFlow's C++ code logs while it loads (oneDNN, CPU features, CUDA discovery) before
    TF_CPP_MIN_LOG_LEVEL applies; stderr is captured around the import and the first device
    listing and replayed without the lines the log level would have hidden, and without the
    `failed call to cuInit` error on machines that have no NVIDIA driver. On a machine with a
    driver nothing about device discovery changes, so a GPU is still found and used. Sets
    TF_CPP_MIN_LOG_LEVEL to 2 unless the environment has it. Does nothing when TensorFlow is
    already imported, or off POSIX (no file descriptor 2 to swap).

    Tools call it first thing, before importing modules that load TensorFlow; the library never
    calls it (importing `tfinpaint` leaves stderr and the logging settings alone).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", _DEFAULT_TF_LOG_LEVEL)
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
