"""The tools' start-up helper (`tfinpaint.cli.import_tensorflow_quietly`): TensorFlow's start-up
log lines filtered by the tools, never by `import tfinpaint` (issue 31: the library import has
no side effect beyond the Keras backend default)."""

import os
import subprocess
import sys
import textwrap

import pytest

from tfinpaint import cli

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CUINIT = (
    "E0000 00:00:1733000000.000000   12 cuda_executor.cc:1228] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)

_ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"


@pytest.mark.parametrize(
    "line, min_level, gpu_possible, kept",
    [
        ("I0000 00:00:1.0 1 cpu_feature_guard.cc:210] This TensorFlow binary...\n", 2, False, 0),
        ("I0000 00:00:1.0 1 cpu_feature_guard.cc:210] This TensorFlow binary...\n", 0, False, 1),
        ("W0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\n", 2, False, 0),
        ("W0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\n", 1, False, 1),
        ("E0000 00:00:1.0 1 some.cc:1] another error\n", 2, False, 1),
        (_CUINIT, 2, False, 0),
        (_CUINIT, 2, True, 1),  # With a driver the failure is news.
        (_ABSL, 0, False, 0),
        ("To enable the following instructions: AVX512F, in other operations, rebuild.\n", 0, 0, 0),
        ("Traceback (most recent call last):\n", 3, False, 1),  # Not a C++ log line: kept.
    ],
)
def test_keep_startup_line(line, min_level, gpu_possible, kept):
    assert cli._keep_startup_line(line, min_level, gpu_possible) == bool(kept)


def _fake_tensorflow(tmp_path):
    """A `tensorflow` package that logs like TensorFlow's C++ start-up, on file descriptor 2."""
    package = tmp_path / "fake" / "tensorflow"
    package.mkdir(parents=True, exist_ok=True)
    noise = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1.0 1 cpu_feature_guard.cc:210] This TensorFlow binary is optimized.\n"
        "W0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\n"
        f"{_CUINIT}"
        "E0000 00:00:1.0 1 other.cc:1] a real error\n"
        "a line from Python\n"
    )
    package.joinpath("__init__.py").write_text(
        textwrap.dedent(
            f"""
            import os, types
            os.write(2, {noise.encode()!r})
            config = types.SimpleNamespace(list_physical_devices=lambda: [])
            """
        )
    )
    return str(package.parent)


def _python(code, tmp_path, unset=("TF_CPP_MIN_LOG_LEVEL",), **env):
    """Runs `code` in a fresh interpreter that finds the fake TensorFlow, then tfinpaint."""
    environment = {key: value for key, value in os.environ.items() if key not in unset}
    environment.update(env, PYTHONPATH=os.pathsep.join([_fake_tensorflow(tmp_path), _ROOT]))
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_import_tensorflow_quietly_filters_startup_lines(tmp_path):
    code = (
        "import os\n"
        "from tfinpaint import cli\n"
        "cli.import_tensorflow_quietly()\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2\n"  # The tools' default level, set before the import.
    kept = result.stderr.splitlines()
    assert "E0000 00:00:1.0 1 other.cc:1] a real error" in kept
    assert "a line from Python" in kept
    assert not any("cpu_feature_guard" in line or "oneDNN" in line for line in kept)
    assert not any("absl::InitializeLog" in line for line in kept)
    assert any("cuInit" in line for line in kept) == cli._has_nvidia_driver()
    # A level in the environment wins: 0 shows the info and warning lines.
    verbose = _python(code, tmp_path, TF_CPP_MIN_LOG_LEVEL="0")
    assert verbose.stdout == "0\n" and "oneDNN custom operations" in verbose.stderr


def test_import_tfinpaint_leaves_stderr_and_tensorflow_alone(tmp_path):
    code = (
        "import os, sys\n"
        "import tfinpaint\n"
        "assert 'tensorflow' not in sys.modules, 'import tfinpaint imported TensorFlow'\n"
        "assert 'TF_CPP_MIN_LOG_LEVEL' not in os.environ\n"
        "print(os.environ['KERAS_BACKEND'])\n"
    )
    result = _python(code, tmp_path, unset=("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tensorflow\n" and result.stderr == ""


def test_every_tool_imports_tensorflow_quietly_before_tensorflow():
    """Each program in tools/ calls the helper before its first TensorFlow-loading import."""
    tools = os.path.join(_ROOT, "tools")
    for name in sorted(os.listdir(tools)):
        if not name.endswith(".py") or name.startswith("_"):  # _name.py: a shared module.
            continue
        with open(os.path.join(tools, name), encoding="utf-8") as handle:
            text = handle.read()
        if name == "benchmark_keras_backend.py":  # Other backends: TensorFlow only if chosen.
            assert "cli.import_tensorflow_quietly()" in text, name
            continue
        call = text.find("\ncli.import_tensorflow_quietly()")
        assert call > 0, f"tools/{name} does not call cli.import_tensorflow_quietly()"
        before = text[:call]
        for module in ("from tfinpaint.", "import tensorflow", "import keras"):
            assert f"\n{module}" not in before, f"tools/{name} imports {module!r} first"
        assert "\nfrom tfinpaint import" not in before.replace("\nfrom tfinpaint import cli\n", "")
