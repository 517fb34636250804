"""docs/tools.md, the long reference, covers every program in tools/ and names each of its flags,
so that a new tool or flag cannot ship undocumented (README.md only lists the tools)."""

import os
import re

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOLS = os.path.join(_ROOT, "tools")
# absl's DEFINE_string("name", ...), DEFINE_bool(\n "name", ...), DEFINE_multi_enum(...), ...
_FLAG = re.compile(r"flags\.DEFINE_[a-z_]+\(\s*['\"]([A-Za-z0-9_]+)['\"]")


def _programs():
    return sorted(
        name for name in os.listdir(_TOOLS) if name.endswith(".py") and not name.startswith("_")
    )


def _sections():
    with open(os.path.join(_ROOT, "docs", "tools.md"), encoding="utf-8") as handle:
        text = handle.read()
    parts = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def test_flag_pattern_reads_absl_definitions():
    source = 'X = flags.DEFINE_bool(\n    "overwrite", False, "...")\nflags.DEFINE_enum("mode", "a"'
    assert _FLAG.findall(source) == ["overwrite", "mode"]


@pytest.mark.parametrize("program", _programs())
def test_every_tool_and_flag_is_in_the_reference(program):
    section = _sections().get(f"tools/{program}")
    assert section is not None, f"docs/tools.md has no '## tools/{program}' section"
    with open(os.path.join(_TOOLS, program), encoding="utf-8") as handle:
        names = _FLAG.findall(handle.read())
    assert names, f"no absl flag found in tools/{program}"
    missing = [name for name in names if not re.search(rf"--(no)?{name}\b", section)]
    assert not missing, f"docs/tools.md, tools/{program}: no word on --{', --'.join(missing)}"
