"""The shipped-checkpoint catalogue: where bare checkpoint names resolve, and its listing.

A shipped checkpoint is a pair `NAME.json` + `NAME.weights.h5` (`models.saving.save_generator`)
in `checkpoints_dir()`: the package's `tfinpaint/checkpoints/`, or `$TFINPAINT_CHECKPOINTS_DIR`
when that is set (keras-hub `from_preset` style). `list_checkpoints()` names them with a
one-line description each; `inference.load_generator("NAME")` loads one and
`inference.ship_checkpoint` writes one.

Example:
```python
from tfinpaint.inference import catalogue
print(catalogue.format_checkpoint_list())
```
"""

import json
import os
import re

from tfinpaint import json_files
from tfinpaint.data import image_files

__all__ = [
    "CHECKPOINTS_DIR_ENV",
    "PACKAGE_CHECKPOINTS_DIR",
    "checkpoints_dir",
    "format_checkpoint_list",
    "list_checkpoints",
]

WEIGHTS_SUFFIX = ".weights.h5"

# The shipped generators are package data (setup.py), so a regular install has them as well as
# a source checkout; the repository's top-level `checkpoints` is a symlink to this folder, which
# lies beside this subpackage in `tfinpaint/`.
PACKAGE_CHECKPOINTS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints"
)
# Where bare names resolve instead, when set (another collection of checkpoints; the tests).
CHECKPOINTS_DIR_ENV = "TFINPAINT_CHECKPOINTS_DIR"
# A bare checkpoint name: letters, digits, '_', '-' and '.', no folder part; names that end in
# .json or .h5 are files.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# What ship_checkpoint writes: no dots, so NAME.json and NAME.weights.h5 never look alike.
SHIP_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")


def is_name(path):
    """True when `path` reads as a bare checkpoint name rather than a file (no folder part, and
    not ending in .json or .h5)."""
    return bool(NAME_PATTERN.match(path)) and not path.endswith((".json", ".h5"))


def is_shipped(path):
    """True when `path` is the name of a checkpoint in `checkpoints_dir()`."""
    return is_name(path) and path in scan_checkpoints(checkpoints_dir())


def checkpoints_dir():
    """The folder where bare checkpoint names resolve.

    `$TFINPAINT_CHECKPOINTS_DIR` when it is set, else `PACKAGE_CHECKPOINTS_DIR`: the package's
    `tfinpaint/checkpoints/` (the repository's `checkpoints/` links to it), which holds the
    generators that ship with tfinpaint.
    """
    return os.environ.get(CHECKPOINTS_DIR_ENV) or PACKAGE_CHECKPOINTS_DIR


def one_line(text):
    """The first non-empty line of `text` (None and non-strings give "")."""
    if not isinstance(text, str):
        return ""
    lines = [line.strip() for line in text.strip().splitlines()]
    return lines[0] if lines else ""


def scan_checkpoints(folder):
    """{name: {"json": True/False, "weights": True/False}} of the checkpoints in `folder`.

    A name is the stem of a `NAME.weights.h5` or of a `NAME.json` file. JSON files that parse
    but have no "model" key (a data manifest, say) are not checkpoints; unparseable ones are, so
    that loading them names the broken file. Hidden and temporary files are skipped.
    """
    if not os.path.isdir(folder):
        return {}
    found = {}
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.startswith(".") or not os.path.isfile(path):
            continue
        if entry.endswith(WEIGHTS_SUFFIX):
            kind, name = "weights", entry[: -len(WEIGHTS_SUFFIX)]
        elif entry.endswith(".json"):
            kind, name = "json", entry[: -len(".json")]
            try:
                content = json_files.load_json_object(path)
                is_description = "model" in content
            except ValueError:
                is_description = None  # Unreadable: a checkpoint, so loading it names the file.
            # A JSON of another shape (a list, say) beside NAME.weights.h5 is that checkpoint's
            # broken description; elsewhere (a data manifest) it is no checkpoint.
            if is_description is False or (
                is_description is None
                and not os.path.isfile(os.path.join(folder, name + WEIGHTS_SUFFIX))
                and _parses_as_json(path)
            ):
                continue
        else:
            continue
        if name:
            found.setdefault(name, {"json": False, "weights": False})[kind] = True
    return found


def _parses_as_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
        return True
    except (OSError, ValueError, RecursionError):
        return False


def list_checkpoints(directory=None):
    """The shipped checkpoints and their one-line descriptions.

    Args:
        directory: str or None. The folder to list (default: `checkpoints_dir()`).

    Returns:
        dict {name: description}, sorted by name: each name loads with
        `load_generator(name)`. The description is the first line of the `description` field
        of `NAME.json`; a checkpoint without one, with an unreadable `NAME.json` or with a file
        missing gets a note in parentheses instead. Empty when nothing is shipped.
    """
    folder = checkpoints_dir() if directory is None else os.fspath(directory)
    listing = {}
    for name, kinds in scan_checkpoints(folder).items():
        missing = [
            f"{name}{suffix}"
            for kind, suffix in (("json", ".json"), ("weights", WEIGHTS_SUFFIX))
            if not kinds[kind]
        ]
        if missing:
            listing[name] = f"(incomplete: {missing[0]} is missing)"
            continue
        json_path = os.path.join(folder, f"{name}.json")
        try:
            description = one_line(json_files.load_json_object(json_path).get("description"))
        except ValueError as error:  # Says what is wrong: not JSON, a list, empty...
            problem = str(error).replace(json_path, f"{name}.json").rstrip(".")
            description = f"(unreadable: {problem})"
        listing[name] = description or "(no description)"
    return listing


def format_checkpoint_list(directory=None):
    """What `tools/inpaint.py --list_checkpoints` prints: a header and `NAME  description` lines."""
    folder = checkpoints_dir() if directory is None else os.fspath(directory)
    listing = list_checkpoints(folder)
    if not listing:
        return f"No checkpoint in {folder} yet."
    width = max(len(name) for name in listing)
    lines = [f"Checkpoints in {folder} (load_generator(NAME), --checkpoint=NAME):"]
    lines += [f"  {name:<{width}}  {text}" for name, text in listing.items()]
    return "\n".join(lines)


def checkpoint_paths(folder, name):
    """The (`NAME.json`, `NAME.weights.h5`) paths of the checkpoint `name` in `folder`."""
    return os.path.join(folder, f"{name}.json"), os.path.join(folder, f"{name}{WEIGHTS_SUFFIX}")


def unknown_name_message(name):
    """The error for a bare name that is no shipped checkpoint (nor a path): the names there
    are, or what is wrong with the folder."""
    folder = checkpoints_dir()
    names = sorted(scan_checkpoints(folder))
    if names:
        return (
            f"Unknown checkpoint name '{name}' (and no such path); the checkpoints in {folder} "
            f"are: {', '.join(names)}."
        )
    kind = image_files.describe_file_type(folder)
    if kind not in ("a folder", "missing"):
        via = f" (${CHECKPOINTS_DIR_ENV})" if os.environ.get(CHECKPOINTS_DIR_ENV) else ""
        return (
            f"Unknown checkpoint name '{name}' (and no such path); {folder}{via} is {kind}, "
            "not a folder."
        )
    where = "does not exist" if kind == "missing" else "holds no checkpoint yet"
    return f"Unknown checkpoint name '{name}' (and no such path); {folder} {where}."
