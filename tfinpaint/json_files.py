"""Reading the JSON objects tfinpaint is handed: one sentence for every way they can be wrong.

A generator description (`generator.json`, a shipped `NAME.json`), a run's `config.json` and
the tools' JSON flags (`--options`, `--generator_config`) must each be a JSON *object*. The
ways they fail form one class: the file is not a regular file, empty, not UTF-8, not JSON
(truncated, say), nested past the parser's recursion limit (`[[[[...` 50,000 deep raises
RecursionError, not a JSON error), or valid JSON of another shape (a list, a string, a
number, null). `load_json_object` and `parse_json_object` turn every one of them into a
ValueError naming the file or flag and what was expected; `check_field` does the same for a
field of the wrong type (`"config": "not a dict"`).

Example:
```python
from tfinpaint import json_files
description = json_files.load_json_object("gen.json", expected="a generator description")
json_files.check_field(description, "config", dict, "gen.json", "the generator's Keras config")
```
"""

import json
import os

from tfinpaint.data import image_files

__all__ = ["check_field", "json_type_name", "load_json_object", "parse_json_object"]


def json_type_name(value):
    """What a parsed JSON value is, in words: "an object", "a list", "a string", ..."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def parse_json_object(text, name, expected="a JSON object"):
    """Parses `text` and returns the dict it holds.

    Args:
        text: str or bytes.
        name: str. What the text is, for the message ("--options", "runs/a/config.json").
        expected: str. What it should hold, in words.

    Raises:
        ValueError: one sentence naming `name`: empty, not UTF-8, not JSON, nested too deeply,
            or JSON that is not an object.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{name} is not UTF-8 text; expected {expected} (JSON).") from None
    if not text.strip():
        raise ValueError(f"{name} is empty; expected {expected} (JSON).")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(
            f"{name} nests JSON deeper than the parser allows (RecursionError); expected "
            f"{expected}, a flat JSON object."
        ) from None
    except ValueError as error:
        raise ValueError(f"{name} is not valid JSON ({error}); expected {expected}.") from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{name} holds {json_type_name(value)}, not a JSON object; expected {expected}."
        )
    return value


def load_json_object(path, expected="a JSON object"):
    """Reads a JSON file that must hold an object; returns the dict.

    The file must be a regular file (a FIFO or a device is refused by what it is, before it is
    opened). Every failure is one sentence naming `path` and `expected`.
    """
    path = os.fspath(path)
    data = image_files.read_regular_file(path, "JSON file")
    if not data:
        raise ValueError(f"{path} is empty (0 bytes); expected {expected} (JSON).")
    return parse_json_object(data, path, expected)


def check_field(obj, key, kind, name, expected, required=True):
    """Raises unless `obj[key]` is of `kind` (a type or tuple of types).

    Args:
        obj: dict. A parsed JSON object.
        key: str.
        kind: type or tuple of types (bool is never accepted as a number).
        name: str. The file or flag, for the message.
        expected: str. What the field should be, in words.
        required: bool. Whether a missing key is an error.

    Returns:
        The value (None when absent and not required).
    """
    if key not in obj:
        if required:
            raise ValueError(f"{name} has no '{key}'; expected {expected} there.")
        return None
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ValueError(
            f"'{key}' in {name} is {json_type_name(value)} ({_short(value)}); expected {expected}."
        )
    return value


def _short(value):
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
