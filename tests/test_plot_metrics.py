"""reporting.plot_metrics and tools/plot_metrics.py: the metrics.jsonl curve of a run as a PNG."""

import json
import os
import subprocess
import sys

import cv2
import pytest

from tfinpaint.training import reporting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _records():
    records = [
        {"step": s, "stage": 1 if s < 60 else 2, "loss": 1.0 / s} for s in range(10, 101, 10)
    ]
    for record in records[::2]:
        record["val_psnr_hole"] = 10.0 + record["step"] / 10.0
    return records


def test_plot_metrics_draws_one_panel_per_key(tmp_path):
    path = str(tmp_path / "curve.png")
    image = reporting.plot_metrics(_records(), path, keys=("val_psnr_hole", "loss"), height=200)
    assert image.shape == (400, 640, 3)
    assert cv2.imread(path).shape == (400, 640, 3)
    # Curves are drawn in colour (not only the black/grey axes and grid).
    assert (image.max(axis=2).astype(int) - image.min(axis=2)).max() > 100
    with pytest.raises(ValueError, match="No record holds"):
        reporting.plot_metrics(_records(), str(tmp_path / "none.png"), keys=("missing",))


def test_plot_metrics_tool(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records()))
    output = tmp_path / "curve.png"
    command = [sys.executable, os.path.join(ROOT, "tools", "plot_metrics.py"), f"--workdir={run}"]
    result = subprocess.run(
        command + [f"--output={output}"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    before = output.read_bytes()
    result = subprocess.run(
        command + [f"--output={output}"], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "exists" in result.stderr
    assert output.read_bytes() == before
