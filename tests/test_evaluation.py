"""Evaluation by hole-ratio bucket, with the OpenCV baselines, and its command-line tool."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfinpaint import evaluation, metrics
from tfinpaint.models import build_generator, save_generator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def generator():
    return build_generator("pconv", "tiny")


def test_records_and_summary(generator):
    result = evaluation.evaluate(generator, "samples", 32, masks="rect:0.2-0.6", num_images=5,
                                 batch_size=2)
    records = result["records"]
    assert len(records) == 5
    for record in records:
        assert 0 < record["hole_ratio"] < 1
        assert record["bucket"] == metrics.bucket_name(metrics.bucket_index(record["hole_ratio"]))
        for method in ("model", "telea", "ns"):
            assert set(record[method]) == set(evaluation.METRIC_NAMES)
            # Known pixels are exact for every method: the hole-only error is the larger one.
            assert record[method]["l1_hole"] >= record[method]["l1"]
    summary = result["summary"]
    assert summary["all"]["model"]["count"] == 5
    assert sum(v["model"]["count"] for k, v in summary.items() if k != "all") == 5
    mean_psnr = np.mean([r["telea"]["psnr_hole"] for r in records])
    assert summary["all"]["telea"]["psnr_hole"] == pytest.approx(mean_psnr)
    table = evaluation.format_summary(summary)
    assert table.count("\n") == 1 + 3 * len(summary)


def test_bad_arguments(generator):
    with pytest.raises(ValueError, match="not a multiple of 16"):
        evaluation.evaluate(generator, "samples", 40)
    with pytest.raises(ValueError, match="Unknown baseline 'paint'"):
        evaluation.evaluate(generator, "samples", 32, baselines=["paint"])


def test_tool_on_a_saved_generator(generator, tmp_path):
    json_path = save_generator(generator, "pconv", "tiny", str(tmp_path), extra={"image_size": 32})
    output = tmp_path / "eval.json"
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "evaluate.py"), f"--checkpoint={json_path}",
         "--data=samples", "--num_images=3", "--baselines=telea", f"--output_json={output}"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| all | model | 3 |" in result.stdout and "| all | telea | 3 |" in result.stdout
    assert len(json.loads(output.read_text())["records"]) == 3
    again = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "evaluate.py"), f"--checkpoint={json_path}",
         f"--output_json={output}"], capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode != 0 and "exists" in again.stderr
