"""tools/benchmark_keras_backend.py runs where only JAX is installed: `tfinpaint.models` and
`tfinpaint.benchmark.timing` import neither the tf.data pipeline nor TensorFlow's benchmark
modules (lazy package attributes, `tfinpaint._lazy`). The JAX run itself is tested only where
jax is installed; elsewhere the import chain and the TensorFlow-backend refusal are."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOL = os.path.join(_ROOT, "tools", "benchmark_keras_backend.py")


def _python(args, **env):
    path = os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))
    environment = dict(os.environ, PYTHONPATH=path, **env)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=environment, timeout=600
    )


def test_models_and_timing_import_no_tensorflow_module_of_tfinpaint():
    code = (
        "import sys\n"
        "import tfinpaint.models, tfinpaint.precision, tfinpaint.files\n"
        "from tfinpaint.benchmark import timing\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('tfinpaint.'))\n"
        "heavy = [m for m in loaded if m.startswith(('tfinpaint.data.', 'tfinpaint.training',\n"
        "    'tfinpaint.benchmark.')) and m not in ('tfinpaint.data.image_files',\n"
        "    'tfinpaint.benchmark.timing')]\n"
        "assert not heavy, heavy\n"
    )
    result = _python(["-c", code])
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_tensorflow_backend_is_refused_in_one_sentence():
    result = _python([_TOOL, "--models=pconv"], KERAS_BACKEND="tensorflow")
    assert result.returncode == 1
    assert result.stderr.strip().endswith("run it with KERAS_BACKEND=jax (tools/benchmark.py "
                                          "times the TensorFlow backend).")  # fmt: skip


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_a_tiny_jax_run_without_tensorflow(tmp_path):
    output = tmp_path / "records.jsonl"
    code = (
        "import runpy, sys\n"
        "sys.modules['tensorflow'] = None  # as on a machine without TensorFlow\n"
        f"sys.argv = [{_TOOL!r}, '--models=pconv', '--preset=tiny', '--image_size=32',\n"
        "    '--train_size=32', '--train_batch_size=2', '--precisions=float32', '--runs=2',\n"
        f"    '--warmup=0', '--output={output}']\n"
        f"runpy.run_path({_TOOL!r}, run_name='__main__')\n"
    )
    result = _python(["-c", code], KERAS_BACKEND="jax")
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [record["what"] for record in records] == ["inference", "train_step"]
    for record in records:
        assert "error" not in record, record
        assert record["backend"] == "jax" and record["median_s"] > 0
