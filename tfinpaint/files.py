"""Guarded writes, strict JSON and one sentence per file-system failure (issue 30).

Every file the package writes for a user (generator files, config.json, reports, manifests,
exports) goes through `atomic_write` or `atomic_folder`: the new content is written under a
temporary name in the destination's folder and renamed into place only once complete, so a full
disk, a file-size limit or a kill leaves the previous file byte-identical and the temporary one
removed. `check_writable` refuses an output path before any work (empty, under a file, or in a
folder that cannot be written). `describe_file_error` turns an `OSError` or a TensorFlow
file-system `OpError` into the one sentence `tfinpaint.cli` prints. `strict_json_dumps` writes
JSON that strict parsers accept: NaN and infinities become `null`.

Example:
```python
from tfinpaint import files
files.check_writable("reports/eval.json", "--output_json")
files.write_json("reports/eval.json", {"psnr": float("nan")})  # {"psnr": null}
with files.atomic_write("model.bin") as tmp_path:
    with open(tmp_path, "wb") as f:
        f.write(data)
```
"""

import contextlib
import errno
import json
import math
import os
import re
import shutil
import tempfile

import numpy as np

__all__ = [
    "atomic_folder",
    "atomic_write",
    "check_writable",
    "describe_file_error",
    "strict_json_dumps",
    "to_strict_json",
    "write_json",
]

# errno -> (what went wrong, what to do about it).
_REASONS = {
    errno.ENOSPC: ("no space left on the device", "free some space or choose another folder"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space or choose another folder"),
    errno.EFBIG: (
        "the file is too large for the file-size limit",
        "raise the limit (ulimit -f) or choose a smaller output",
    ),
    errno.EROFS: ("it is on a read-only file system", "choose a folder on a writable disk"),
    errno.EACCES: ("permission denied", "fix the permissions or choose another folder"),
    errno.EPERM: ("the operation is not permitted", "fix the permissions or choose another path"),
    errno.ENOTDIR: (
        "a part of the path is a file, not a folder",
        "choose a path whose parents are folders",
    ),
    errno.EISDIR: ("it is a folder", "choose a file path"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.EEXIST: ("it already exists", "choose another path"),
    errno.ENOTEMPTY: ("the folder is not empty", "choose another path"),
    errno.ENAMETOOLONG: ("the file name is too long", "choose a shorter path"),
    errno.ELOOP: ("it has too many levels of symbolic links", "check the links"),
    errno.EIO: ("an input/output error occurred", "check the disk"),
    errno.EMFILE: ("too many files are open", "raise the limit (ulimit -n)"),
    errno.EXDEV: ("it is on another device", "choose a path on the same disk"),
}
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
# The texts the C library gives these errnos ("No space left on device"), as TensorFlow and
# HDF5 quote them inside their messages.
_ERRNO_BY_TEXT = {os.strerror(code): code for code in _REASONS}


def _tf_op_error(error):
    """Whether `error` is a tf.errors.OpError (checked by class, so TF need not be imported)."""
    return any(
        cls.__name__ == "OpError" and cls.__module__.startswith("tensorflow")
        for cls in type(error).__mro__
    )


def _errno_and_path(error):
    """(errno, path) of a file-system failure, or None when `error` is not one."""
    message = str(error)
    code = getattr(error, "errno", None) if isinstance(error, OSError) else None
    if code is None:
        for text, candidate in _ERRNO_BY_TEXT.items():
            if text in message:
                code = candidate
                break
    if isinstance(error, OSError):
        path = error.filename
        if path is None:  # HDF5: "... name = '/run/a.weights.h5', errno = 28, ..."
            match = re.search(r"(?:\bfile)?name = '([^']+)'", message)
            path = match.group(1) if match else None
        return code, None if path is None else os.fsdecode(path)
    if not _tf_op_error(error) or code is None:
        return None
    # TensorFlow: "{{function_node ...}} /run/ckpt-1_temp/part-0...tempstate123; No space left
    # on device [Op:SaveV2]" or "/run/ckpt; Read-only file system".
    match = re.search(rf"(?:^|[\s}}])([^\s;{{}}]+);\s*{re.escape(os.strerror(code))}", message)
    path = match.group(1) if match else None
    if path is not None:
        path = re.sub(r"\.tempstate\d+$", "", path)
    return code, path


def describe_file_error(error):
    """One sentence for an OSError or a TensorFlow file-system OpError; None for anything else.

    The sentence names the path (when the error carries one), the reason in words (no space
    left, read-only file system, not a folder, permission denied, file too large) and the fix.
    """
    found = _errno_and_path(error)
    if found is None:
        return None
    code, path = found
    if code in _REASONS:
        reason, fix = _REASONS[code]
    else:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        reason = " ".join(str(reason).split())  # HDF5 and URL errors span lines.
        fix = "check the path, the disk and the network"
    if path == "":
        return f"An empty path was given ({reason}); expected a file or folder path."
    verb = "write" if code in _WRITE_ERRNOS else "access"
    if path:
        where = f"Cannot {verb} {path}"
    elif code in _REASONS:
        where = "A file-system operation failed"
    else:  # An OSError that is not about a file (a refused connection, a URL error).
        where = f"An operating-system call failed ({type(error).__name__})"
    return f"{where}: {reason}; {fix}."


def _read_only(folder):
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_writable(path, what="output"):
    """Raises ValueError unless `path` can be created or replaced; leaves nothing behind.

    Refused in one sentence: an empty path, a path under a file (`a_file/sub`), and a path
    whose nearest existing folder cannot be written (read-only file system, permissions, or
    a file system that refuses a probe file, created and removed at once).

    Args:
        path: str. The file or folder to write.
        what: str. How the sentence names the path (a flag name such as "--output").
    """
    if not path:
        raise ValueError(f"The {what} path is empty; expected a file or folder path.")
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ValueError(
            f"Cannot write {what} {path}: {folder} is a file, not a folder; choose a path whose "
            "parents are folders."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "is on a read-only file system" if _read_only(folder) else "is not writable"
        raise ValueError(
            f"Cannot write {what} {path}: the folder {folder} {reason}; choose a writable folder."
        )
    # The permission bits do not tell everything (root passes them; /proc, immutable folders,
    # some network file systems refuse anyway): a probe file, removed at once, does.
    try:
        fd, probe = tempfile.mkstemp(prefix=".tfinpaint-probe-", dir=folder)
    except OSError as error:
        reason = _REASONS.get(error.errno, (error.strerror or "it cannot be written",))[0]
        raise ValueError(
            f"Cannot write {what} {path}: a file cannot be created in {folder} ({reason}); "
            "choose a writable folder."
        ) from None
    os.close(fd)
    os.remove(probe)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, suffix=""):
    """Yields a temporary path in `path`'s folder; renames it to `path` when the block succeeds.

    The folder is created when missing. On any failure (an exception in the block, a full disk,
    a kill) `path` keeps its previous content and the temporary file is removed. The file gets
    the user's umask (mkstemp creates it 0600). `suffix` keeps an extension a writer insists on
    (Keras's `.weights.h5`).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.tmp-", suffix=suffix, dir=folder
    )
    os.close(fd)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except OSError as error:
        if error.filename is None:  # A failed f.write() names no file: name the destination.
            error.filename = path
        raise
    finally:
        if os.path.lexists(tmp_path):
            os.remove(tmp_path)


def _replace_folder(tmp_path, path):
    """Moves the folder `tmp_path` to `path`; an old folder there goes only once the new is in.

    A symbolic link at `path` is replaced itself: its target is never entered or deleted.
    """
    if os.path.islink(path):
        os.remove(path)
        os.replace(tmp_path, path)
    elif os.path.isdir(path):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=os.path.dirname(path))
        os.rmdir(old)
        os.replace(path, old)
        try:
            os.replace(tmp_path, path)
        except OSError:
            os.replace(old, path)  # Put the previous folder back.
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_path, path)


@contextlib.contextmanager
def atomic_folder(path):
    """`atomic_write` for a folder: yields an empty temporary folder beside `path`.

    When the block succeeds, the folder replaces `path` (a previous folder is moved aside and
    removed only after the new one is in place; a symbolic link is replaced, not followed). On
    failure the temporary folder is removed and `path` is untouched.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp_path = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        yield tmp_path
        # mkdtemp creates the folder 0700; a server process of another user must read it.
        os.chmod(tmp_path, 0o777 & ~_umask())
        _replace_folder(tmp_path, path)
    except OSError as error:
        if error.filename is None:
            error.filename = path
        raise
    finally:
        if os.path.lexists(tmp_path):
            shutil.rmtree(tmp_path, ignore_errors=True)


# --- Strict JSON -----------------------------------------------------------------------------


def to_strict_json(value):
    """`value` with NaN/inf floats as None, numpy scalars and arrays as plain Python values."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: to_strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_strict_json(item) for item in value]
    return value


def strict_json_dumps(obj, **kwargs):
    """`json.dumps` whose output strict parsers accept: an undefined number is `null`.

    Keyword arguments go to `json.dumps` (`indent`, `sort_keys`, `default`); `allow_nan` is
    always False, so a non-finite float that escaped the conversion raises instead of writing
    `NaN`.
    """
    kwargs["allow_nan"] = False
    default = kwargs.pop("default", None)
    if default is not None:
        kwargs["default"] = lambda item: to_strict_json(default(item))
    return json.dumps(to_strict_json(obj), **kwargs)


def write_json(path, obj, **kwargs):
    """Writes `strict_json_dumps(obj, **kwargs)` and a newline to `path` with `atomic_write`."""
    text = strict_json_dumps(obj, **kwargs) + "\n"
    with atomic_write(path) as tmp_path:
        with open(tmp_path, "w", encoding="utf-8") as f:
            f.write(text)
    return path
