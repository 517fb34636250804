"""Evaluation by hole-ratio bucket, with the OpenCV baselines, and its command-line tool."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import evaluation, inference, metrics
from tfinpaint.data import mask_sets
from tfinpaint.data.masks import make_mask_fns
from tfinpaint.models import build_generator, save_generator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def generator():
    return build_generator("pconv", "tiny")


def test_records_and_summary(generator):
    result = evaluation.evaluate(
        generator, "samples", 32, masks="rect:0.2-0.6", num_images=5, batch_size=2
    )
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
        [
            sys.executable,
            os.path.join(REPO, "tools", "evaluate.py"),
            f"--checkpoint={json_path}",
            "--data=samples",
            "--num_images=3",
            "--baselines=telea",
            f"--output_json={output}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| all | model | 3 |" in result.stdout and "| all | telea | 3 |" in result.stdout
    assert len(json.loads(output.read_text())["records"]) == 3
    again = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "evaluate.py"),
            f"--checkpoint={json_path}",
            f"--output_json={output}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode != 0 and "exists" in again.stderr


def test_tool_average_last_scores_the_mean_of_the_newest_checkpoints(trained_run, tmp_path):
    output = tmp_path / "eval.json"
    result = _run_tool(
        "evaluate.py", f"--workdir={trained_run}", "--average_last=2", "--data=samples",
        "--num_images=2", "--baselines=", f"--output_json={output}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    steps = inference.load_generator(trained_run, with_info=True, average_last=2)[1][
        "averaged_steps"
    ]
    assert f"mean of the checkpoints of steps {steps[0]}, {steps[1]}:" in result.stdout
    settings = json.loads(output.read_text())["settings"]
    assert settings["averaged_steps"] == steps and settings["step"] == steps[0]
    parameters = inference.load_generator(trained_run).count_params()
    assert settings["parameters"] == parameters
    assert f"{parameters:,} parameters" in result.stdout


def _run_tool(name, *args):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_tools_make_masks_then_evaluate_against_them(generator, tmp_path):
    json_path = save_generator(generator, "pconv", "tiny", str(tmp_path), extra={"image_size": 32})
    mask_dir, plot, output, figure = (
        tmp_path / "masks",
        tmp_path / "plots" / "eval.png",
        tmp_path / "e.json",
        tmp_path / "figure.png",
    )
    made = _run_tool(
        "make_masks.py", "--masks=rect:0.2-0.6", "--image_size=32", "--num=3", "--seed=5",
        f"--output={mask_dir}",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    assert "Wrote 3 masks of rect:0.2-0.6 at 32 px" in made.stdout
    manifest = json.loads((mask_dir / "manifest.json").read_text())
    result = _run_tool(
        "evaluate.py", f"--checkpoint={json_path}", "--data=samples", "--baselines=",
        f"--mask_dir={mask_dir}", f"--plot={plot}", "--score=float", "--ssim=skimage_default",
        f"--output_json={output}", f"--figure={figure}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "3 images, float scoring, skimage_default SSIM" in result.stdout
    report = json.loads(output.read_text())
    assert [r["hole_ratio"] for r in report["records"]] == pytest.approx(manifest["hole_ratios"])
    assert cv2.imread(str(plot)) is not None
    # The figure's default images spread over the set: all 3 here, no baseline column.
    assert f"Figure: {figure} (images 0, 1, 2)" in result.stdout
    assert cv2.imread(str(figure)).shape == (3 * 58, 3 * 36, 3)
    assert "kept" not in report
    bad = _run_tool(
        "evaluate.py", f"--checkpoint={json_path}", f"--figure={figure}.2.png",
        "--figure_images=1,x",
    )  # fmt: skip
    assert bad.returncode != 0
    assert "Error: --figure_images takes image indices >= 0, got 1,x." in bad.stderr


def test_mask_set_round_trip(tmp_path):
    folder = tmp_path / "set"
    manifest = mask_sets.write_mask_set("rect:0.2-0.6", 32, 4, seed=3, output_dir=str(folder))
    assert sorted(os.listdir(folder)) == [
        "00000.png",
        "00001.png",
        "00002.png",
        "00003.png",
        "manifest.json",
    ]
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    assert (manifest["spec"], manifest["seed"], manifest["image_size"]) == ("rect:0.2-0.6", 3, 32)
    # The files are exactly what make_mask_fns draws from the seeds [seed, i].
    mask_fn = make_mask_fns("rect:0.2-0.6", 32, training=False)[0]
    expected = np.stack([mask_fn(tf.constant([3, i], tf.int64))["masks"].numpy() for i in range(4)])
    read = mask_sets.MaskSet(str(folder), 32).read(range(4))
    np.testing.assert_array_equal(read, expected)
    np.testing.assert_allclose(manifest["hole_ratios"], expected.mean(axis=(1, 2, 3)), atol=1e-6)
    with pytest.raises(ValueError, match="never overwritten"):
        mask_sets.write_mask_set("rect", 32, 2, output_dir=str(folder))
    with pytest.raises(ValueError, match="is 32x32 but the images are 64x64"):
        mask_sets.MaskSet(str(folder), 64)
    with pytest.raises(ValueError, match="draws 3 masks per image"):
        mask_sets.write_mask_set("deepgin", 32, 2, output_dir=str(tmp_path / "other"))
    assert not (tmp_path / "other").exists()


def test_mask_dir_quantized_scoring_and_plot(generator, tmp_path):
    folder = str(tmp_path / "set")
    manifest = mask_sets.write_mask_set("rect:0.2-0.6", 32, 3, seed=1, output_dir=folder)
    result = evaluation.evaluate(
        generator, "samples", 32, mask_dir=folder, batch_size=2, baselines=["telea"]
    )
    # Image i is scored with mask i, and the set's size caps the evaluation.
    assert [r["hole_ratio"] for r in result["records"]] == pytest.approx(manifest["hole_ratios"])
    assert result["settings"]["scoring"] == "uint8"
    assert result["settings"]["masks"] == f"mask_dir:{folder}"
    raw = evaluation.evaluate(
        generator,
        "samples",
        32,
        mask_dir=folder,
        batch_size=2,
        baselines=["telea"],
        quantize=False,
        ssim_variant="skimage_default",
    )
    assert raw["settings"] == dict(
        result["settings"], scoring="float", ssim_variant="skimage_default"
    )
    # The untrained model's output leaves [0, 1]: clipping moves it towards the truth (which is
    # in [0, 1]) and rounding moves it by at most 1/510, so the 8-bit error is never larger.
    quantized_l1 = np.array([r["model"]["l1_hole"] for r in result["records"]])
    raw_l1 = np.array([r["model"]["l1_hole"] for r in raw["records"]])
    assert np.all(quantized_l1 <= raw_l1 + 1 / 510) and np.any(quantized_l1 != raw_l1)
    with pytest.raises(ValueError, match="holds 3 masks"):
        evaluation.evaluate(generator, "samples", 32, mask_dir=folder, num_images=5)
    path = str(tmp_path / "plot.png")
    image = evaluation.plot_summary(result["summary"], path)
    assert cv2.imread(path).shape == image.shape and image.shape[0] > 300
    # Not blank: the model's bars (first colour) are drawn.
    assert np.any(np.all(image == evaluation._COLOURS[0], axis=-1))


def test_fid_in_evaluate(generator, monkeypatch):
    # FID on with a stand-in extractor (the real InceptionV3 is tested once, in test_fid.py).
    from tfinpaint import fid

    class Extractor:
        def __call__(self, batch, training=False):
            pooled = np.asarray(batch).reshape(len(batch), -1, 3)[:, ::997].reshape(len(batch), -1)
            return pooled[:, :8]

    monkeypatch.setattr(fid, "build_inception", lambda weights: Extractor())
    result = evaluation.evaluate(
        generator,
        "samples",
        32,
        masks="rect:0.2-0.6",
        num_images=4,
        batch_size=2,
        baselines=["telea"],
        inception_weights="random",
    )
    assert set(result["fid"]) == {"model", "telea"}
    assert all(np.isfinite(v) and v > -1e-6 for v in result["fid"].values())
    assert "FID" in evaluation.format_fid(result["fid"])
    with pytest.raises(ValueError, match="at least 2 images"):
        evaluation.evaluate(generator, "samples", 32, num_images=1, inception_weights="random")


def test_mask_set_hole_ratio_range(tmp_path):
    folder = tmp_path / "ranged"
    manifest = mask_sets.write_mask_set(
        "rect:0.2-0.8", 32, 5, seed=2, output_dir=str(folder), hole_ratio_range=(0.1, 0.3)
    )
    assert all(0.1 <= ratio <= 0.3 for ratio in manifest["hole_ratios"])
    assert manifest["hole_ratio_range"] == [0.1, 0.3]
    # File k is the draw draw_indices[k] of the plain sequence [seed, i].
    mask_fn = make_mask_fns("rect:0.2-0.8", 32, training=False)[0]
    expected = np.stack(
        [mask_fn(tf.constant([2, i], tf.int64))["masks"].numpy() for i in manifest["draw_indices"]]
    )
    np.testing.assert_array_equal(mask_sets.MaskSet(str(folder), 32).read(range(5)), expected)
    with pytest.raises(ValueError, match="expected 0 <= low < high <= 1"):
        mask_sets.write_mask_set(
            "rect", 32, 2, output_dir=str(tmp_path / "bad"), hole_ratio_range=(0.3, 0.1)
        )
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="had a hole ratio in"):
        mask_sets.write_mask_set(
            "rect:0.2-0.3", 32, 1, output_dir=str(tmp_path / "never"), hole_ratio_range=(0.9, 1.0)
        )


def test_kept_images_and_their_figure(generator, tmp_path):
    result = evaluation.evaluate(
        generator, "samples", 32, masks="rect:0.2-0.6", num_images=5, batch_size=2,
        baselines=["telea"], keep_images=[4, 1, 1, 9],
    )  # fmt: skip
    kept = result["kept"]
    # Sorted, each index once, and only the images that exist (there are 5).
    assert [picture["index"] for picture in kept] == [1, 4]
    for picture in kept:
        record = result["records"][picture["index"]]
        assert picture["hole_ratio"] == record["hole_ratio"]
        holes, truth = picture["masks"], picture["ground_truth"]
        assert holes.shape == (32, 32, 1) and truth.shape == picture["model"].shape == (32, 32, 3)
        assert np.mean(holes) == pytest.approx(record["hole_ratio"])
        # The pictures are what was scored: the hole PSNR recomputed from them matches.
        for method in ("model", "telea"):
            error = np.sum(((picture[method] - truth) * holes) ** 2) / (3 * np.sum(holes))
            assert 10 * np.log10(1 / error) == pytest.approx(record[method]["psnr_hole"], abs=0.01)
    path = str(tmp_path / "figure.png")
    image = evaluation.write_figure(kept, path, ["telea", "model"], {"model": "ours"})
    # 2 rows x 4 columns (input, Telea, ours, ground truth) of titled, padded 32 px cells.
    assert image.shape == (2 * (32 + 22 + 4), 4 * (32 + 4), 3)
    assert cv2.imread(path).shape == image.shape
    # The input column paints the holes white; the ground-truth column is the truth.
    top = 22
    cell = image[top : top + 32, :32, ::-1] / 255.0
    holes = kept[0]["masks"][..., 0] > 0.5
    assert np.all(cell[holes] == 1.0)
    truth = image[top : top + 32, 3 * 36 : 3 * 36 + 32, ::-1] / 255.0
    assert np.allclose(truth, kept[0]["ground_truth"], atol=1 / 255)
    assert "kept" not in evaluation.evaluate(generator, "samples", 32, num_images=1, baselines=[])
    with pytest.raises(ValueError, match="--figure_images=7,9 names no image of the 5 to"):
        evaluation.evaluate(generator, "samples", 32, num_images=5, keep_images=[9, 7])
    with pytest.raises(ValueError, match="image indices >= 0"):
        evaluation.evaluate(generator, "samples", 32, num_images=1, keep_images=[-1])
    with pytest.raises(ValueError, match="no outputs for ns"):
        evaluation.write_figure(kept, str(tmp_path / "f2.png"), ["ns"])
    with pytest.raises(ValueError, match="No evaluated image to draw"):
        evaluation.write_figure([], str(tmp_path / "f3.png"), ["model"])
