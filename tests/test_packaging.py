"""What the wheel carries besides the code (setup.py's package_data): the shipped checkpoints and
their cards, not the cards' curves and figures (issue 31: ~9 MB of PNGs that nothing reads at
run time stay in the repository)."""

import ast
import fnmatch
import os

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup_keywords():
    with open(os.path.join(_ROOT, "setup.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    call = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"
    )
    return {keyword.arg: keyword.value for keyword in call.keywords}


def test_package_data_is_the_checkpoints_and_their_cards():
    keywords = _setup_keywords()
    patterns = ast.literal_eval(keywords["package_data"])["tfinpaint"]
    assert ast.literal_eval(keywords["include_package_data"]) is False
    folder = os.path.join(_ROOT, "tfinpaint", "checkpoints")
    packaged = {
        name
        for name in os.listdir(folder)
        if any(fnmatch.fnmatch(f"checkpoints/{name}", pattern) for pattern in patterns)
    }
    left_out = set(os.listdir(folder)) - packaged
    shipped = [name[: -len(".weights.h5")] for name in packaged if name.endswith(".weights.h5")]
    assert shipped, "no shipped checkpoint matched setup.py's package_data"
    for name in shipped:
        assert {f"{name}.json", f"{name}.md"} <= packaged, name
    assert "README.md" in packaged
    assert left_out and all(name.endswith(".png") for name in left_out), sorted(left_out)
