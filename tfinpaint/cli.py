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
"""

import functools
import sys

from tfinpaint import files

__all__ = ["reports_file_errors", "run"]


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
