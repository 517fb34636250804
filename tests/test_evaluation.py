"""Evaluation by hole-ratio bucket, with the classical baselines, and its command-line tool."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import evaluation, inference, metrics, postprocess
from tfinpaint.data import imageio, mask_sets
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
        for method in ("model", "telea", "ns", "harmonic", "biharmonic", "fsr"):
            assert set(record[method]) == set(evaluation.METRIC_NAMES)
            # Known pixels are exact for every method: the hole-only error is the larger one.
            assert record[method]["l1_hole"] >= record[method]["l1"]
    summary = result["summary"]
    assert summary["all"]["model"]["count"] == 5
    assert sum(v["model"]["count"] for k, v in summary.items() if k != "all") == 5
    mean_psnr = np.mean([r["telea"]["psnr_hole"] for r in records])
    assert summary["all"]["telea"]["psnr_hole"] == pytest.approx(mean_psnr)
    table = evaluation.format_summary(summary)
    assert table.count("\n") == 1 + (1 + len(evaluation.BASELINES)) * len(summary)
    # The best classical fill of each bucket is the baseline with the highest mean hole PSNR.
    comparison = result["comparison"]
    assert list(comparison) == evaluation._ordered_buckets(summary)
    for bucket, row in comparison.items():
        scores = {b: summary[bucket][b]["psnr_hole"] for b in evaluation.BASELINES}
        assert row["best_classical"] == max(scores, key=scores.get)
        assert row["baselines_psnr_hole"] == scores
    assert result["settings"]["bucket_edges"] == [0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def test_bad_arguments(generator):
    with pytest.raises(ValueError, match="not a multiple of 16"):
        evaluation.evaluate(generator, "samples", 40)
    with pytest.raises(ValueError, match="Unknown baseline 'paint'"):
        evaluation.evaluate(generator, "samples", 32, baselines=["paint"])
    with pytest.raises(ValueError, match="Baseline 'fsr' is named twice"):
        evaluation.evaluate(generator, "samples", 32, baselines=["fsr", "telea", "fsr"])
    with pytest.raises(ValueError, match="Bucket edges"):
        evaluation.evaluate(generator, "samples", 32, bucket_edges=[0.3, 0.1])


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


def test_classical_fills_alone(generator, tmp_path):
    with_model = evaluation.evaluate(
        generator, "samples", 32, masks="rect:0.2-0.6", num_images=3, baselines=["telea", "ns"]
    )
    alone = evaluation.evaluate(
        None, "samples", 36, masks="rect:0.2-0.6", num_images=3, baselines=["telea", "ns"]
    )  # No generator: any size, not only multiples of one.
    assert alone["comparison"] == {} and len(alone["records"]) == 3
    assert all("model" not in record for record in alone["records"])
    same = evaluation.evaluate(
        None, "samples", 32, masks="rect:0.2-0.6", num_images=3, baselines=["telea", "ns"]
    )
    for record, reference in zip(same["records"], with_model["records"]):
        assert record["hole_ratio"] == reference["hole_ratio"]
        assert record["telea"] == reference["telea"] and record["ns"] == reference["ns"]
    with pytest.raises(ValueError, match="Nothing to score"):
        evaluation.evaluate(None, "samples", 32, baselines=[])
    output = tmp_path / "classical.json"
    result = _run_tool(
        "evaluate.py", "--data=samples", "--image_size=32", "--num_images=2",
        "--baselines=telea,biharmonic", f"--output_json={output}", "--masks=rect:0.2-0.6",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "The classical fills alone (telea, biharmonic) on samples" in result.stdout
    report = json.loads(output.read_text())
    assert set(report["summary"]["all"]) == {"telea", "biharmonic"}
    nothing = _run_tool("evaluate.py", "--data=samples", "--baselines=")
    assert nothing.returncode != 0 and "Error: nothing to score" in nothing.stderr


def test_short_side_sets_the_content_scale_of_the_crops(tmp_path):
    # A 96 x 144 picture: by default a 32 px crop is its own centre 32 x 32 pixels (a
    # zoomed-in view); --short_side=32 scales the whole picture down first, so the crop is
    # its centre square at a third of the size.
    rows, cols = np.mgrid[0:96, 0:144]
    picture = np.stack([rows * 2, cols, (rows + cols) % 256], axis=-1).astype(np.uint8)
    folder = tmp_path / "pictures"
    folder.mkdir()
    imageio.write_image(str(folder / "one.png"), picture)
    kwargs = dict(masks="rect:0.2-0.6", num_images=1, baselines=["telea"], keep_images=[0])
    native = evaluation.evaluate(None, str(folder), 32, **kwargs)
    np.testing.assert_allclose(
        native["kept"][0]["ground_truth"] * 255, picture[32:64, 56:88], atol=0.5
    )
    assert native["settings"]["short_side"] is None
    scaled = evaluation.evaluate(None, str(folder), 32, short_side=32, **kwargs)
    assert scaled["settings"]["short_side"] == 32
    expected = tf.image.resize(picture[:, 24:120].astype(np.float32), (32, 32), antialias=True)
    np.testing.assert_allclose(scaled["kept"][0]["ground_truth"] * 255, expected, atol=2.0)
    with pytest.raises(ValueError, match="--short_side must be an integer of at least"):
        evaluation.evaluate(None, str(folder), 32, short_side=16, **kwargs)


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


def _smooth_image(size=24):
    y, x = np.mgrid[0:size, 0:size] / (size - 1.0)
    return np.stack([0.3 + 0.5 * x, 0.3 + 0.5 * y, 0.6 - 0.2 * x], axis=-1).astype(np.float32)


@pytest.mark.parametrize("method", postprocess.CLASSICAL_METHODS)
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_classical_fills_keep_known_pixels_and_fill_holes(method, dtype):
    truth = _smooth_image()
    holes = np.zeros(truth.shape[:2], np.float32)
    holes[8:16, 9:15] = 1.0
    holes[10:14, 20:24] = 1.0  # A hole at the right border, too.
    is_hole = holes > 0.5
    # Black holes in a bright image: a fill that kept them (a mask read with the wrong
    # polarity, as xphoto's 1 = valid would be) fails the error bound below.
    damaged = truth.copy()
    damaged[is_hole] = 0.0
    if dtype == "uint8":
        damaged = np.round(damaged * 255).astype(np.uint8)
    filled = postprocess.classical_inpaint(damaged, holes[..., None], method)
    assert filled.shape == damaged.shape and filled.dtype == damaged.dtype
    np.testing.assert_array_equal(filled[~is_hole], damaged[~is_hole])  # Exact, every dtype.
    unit = filled.astype(np.float64) / (255.0 if dtype == "uint8" else 1.0)
    assert np.all(np.isfinite(unit)) and np.all((unit >= 0) & (unit <= 1))
    # On a smooth ramp every classical fill lands near the truth, far from the black it started
    # at. Largest errors measured inside / at the border: Telea 0.042 / 0.054, NS 0.035 / 0.024,
    # biharmonic 0.004 / 0.008, FSR 0.012 / 0.082 (FSR extrapolates worst: 0.32 into a corner).
    error = np.abs(unit - truth)
    inside = is_hole.copy()
    inside[:, 16:] = False
    assert error[inside].max() < 0.06 and error[is_hole & ~inside].max() < 0.12
    assert error[is_hole].mean() < 0.03
    # Grayscale images keep their shape.
    gray = damaged[..., 0]
    gray_filled = postprocess.classical_inpaint(gray, holes, method)
    assert gray_filled.shape == gray.shape
    np.testing.assert_array_equal(gray_filled[~is_hole], gray[~is_hole])
    assert np.all(postprocess.classical_inpaint(damaged, np.zeros_like(holes), method) == damaged)


def test_fsr_mask_polarity_and_errors():
    truth = np.round(_smooth_image(32) * 255).astype(np.uint8)
    holes = np.zeros((32, 32), bool)
    holes[10:20, 12:22] = True
    damaged = truth.copy()
    damaged[holes] = 0
    filled = postprocess.fsr_inpaint(damaged, holes)
    # The hole-only region changed (filled from its context), the valid pixels did not.
    assert np.all(filled[holes] > 40)
    np.testing.assert_array_equal(filled[~holes], damaged[~holes])
    # Raw xphoto moves known pixels by up to 1/255 and takes the mask as 1 = valid: with a
    # hole mask it would leave the hole black.
    raw = np.zeros_like(damaged)
    cv2.xphoto.inpaint(
        np.ascontiguousarray(damaged[..., ::-1]),
        holes.astype(np.uint8),
        raw,
        cv2.xphoto.INPAINT_FSR_FAST,
    )
    assert np.all(raw[..., ::-1][holes] == 0)
    with pytest.raises(ValueError, match="Every pixel is a hole"):
        postprocess.fsr_inpaint(damaged, np.ones((32, 32)))
    with pytest.raises(ValueError, match="Every pixel is a hole"):
        postprocess.biharmonic_inpaint(damaged, np.ones((32, 32)))
    with pytest.raises(ValueError, match="Unknown classical method 'paint'"):
        postprocess.classical_inpaint(damaged, holes, "paint")
    with pytest.raises(ValueError, match="quality"):
        postprocess.fsr_inpaint(damaged, holes, quality="good")


def test_bootstrap_interval():
    rng = np.random.default_rng(1)
    values = rng.normal(20.0, 2.0, 40)
    low, high = evaluation.bootstrap_interval(values)
    assert low < values.mean() < high
    # About 2 x 1.96 standard errors wide (2 / sqrt(40) = 0.32 dB): within 25 %.
    assert (high - low) == pytest.approx(2 * 1.96 * values.std() / np.sqrt(40), rel=0.25)
    assert evaluation.bootstrap_interval(values) == [low, high]  # Seeded: reproducible.
    # Non-finite values are dropped; fewer than 2 leave the noise undefined.
    assert evaluation.bootstrap_interval([*values, np.inf, np.nan]) == [low, high]
    assert np.all(np.isnan(evaluation.bootstrap_interval([20.0, np.nan])))
    assert evaluation.bootstrap_interval([3.0, 3.0, 3.0]) == [3.0, 3.0]


def _record(bucket, **methods):
    record = {"hole_ratio": 0.2, "bucket": bucket}
    for method, psnr_hole in methods.items():
        record[method] = {metric: 0.5 for metric in evaluation.METRIC_NAMES}
        record[method]["psnr_hole"] = psnr_hole
        record[method]["sharpness"] = 0.8 if method == "model" else 0.6
    return record


def test_compare_to_classical_picks_the_best_baseline_per_bucket():
    rng = np.random.default_rng(2)
    records = []
    for bucket, telea, fsr in (("(0.10, 0.30]", 20.0, 21.0), ("(0.30, 0.50]", 18.0, 17.0)):
        for noise in rng.normal(0.0, 1.0, 12):
            best = max(telea, fsr) + noise
            # The model is 0.5 dB over the best fill on every image, +- 0.05 dB.
            model = best + 0.5 + rng.uniform(-0.05, 0.05)
            records.append(_record(bucket, model=model, telea=telea + noise, fsr=fsr + noise))
    records[0]["fsr"]["psnr_hole"] = float("nan")  # Skipped in the means and the margin.
    summary = evaluation.summarize(records)
    comparison = evaluation.compare_to_classical(records, summary)
    assert list(comparison) == ["(0.10, 0.30]", "(0.30, 0.50]", "all"]
    assert comparison["(0.10, 0.30]"]["best_classical"] == "fsr"
    assert comparison["(0.30, 0.50]"]["best_classical"] == "telea"
    # Over all images Telea's mean (19.0 + noise) and FSR's (19.0 + noise) nearly tie: the
    # best is whichever is higher, whatever the buckets said.
    scores = {b: summary["all"][b]["psnr_hole"] for b in ("telea", "fsr")}
    assert comparison["all"]["best_classical"] == max(scores, key=scores.get)
    for bucket in ("(0.10, 0.30]", "(0.30, 0.50]"):
        row = comparison[bucket]
        best = row["best_classical"]
        members = [r for r in records if r["bucket"] == bucket]
        differences = [r["model"]["psnr_hole"] - r[best]["psnr_hole"] for r in members]
        finite = [d for d in differences if np.isfinite(d)]
        assert row["margin"]["psnr_hole"] == pytest.approx(np.mean(finite))
        assert row["margin"]["ssim_hole"] == 0.0
        assert row["margin"]["sharpness"] == pytest.approx(0.2)
        assert row["count"] == 12
        assert row["best"]["psnr_hole"] == summary[bucket][best]["psnr_hole"]
        # Paired: the images' shared noise (1 dB) cancels, so the interval is a few hundredths
        # wide around +0.5, while each method's own interval is about 1 dB wide.
        low, high = row["margin_psnr_hole_ci95"]
        assert 0.45 < low < 0.5 < high < 0.55
        own_low, own_high = summary[bucket]["model"]["psnr_hole_ci95"]
        assert own_high - own_low > 0.4
    table = evaluation.format_comparison(comparison)
    assert table.count("\n") == 1 + 3
    assert "| (0.10, 0.30] | 12 | fsr |" in table and "| (0.30, 0.50] | 12 | telea |" in table
    row = comparison["(0.30, 0.50]"]
    low, high = row["margin_psnr_hole_ci95"]
    assert f"| {row['margin']['psnr_hole']:+.2f} [{low:+.2f}, {high:+.2f}] |" in table
    # Over all images one baseline must serve both buckets: Telea, 1 dB under FSR in the first.
    assert comparison["all"]["margin"]["psnr_hole"] == pytest.approx(1.0, abs=0.1)
    summary_table = evaluation.format_summary(summary)
    assert "| (0.30, 0.50] | model | 12 |" in summary_table and "[n/a]" not in summary_table
    # No baseline, no comparison.
    alone = [{"hole_ratio": 0.2, "bucket": "all", "model": r["model"]} for r in records]
    assert evaluation.compare_to_classical(alone) == {}


def test_tool_compares_with_the_best_baseline_per_bucket(trained_run, tmp_path):
    output = tmp_path / "eval.json"
    result = _run_tool(
        "evaluate.py", f"--workdir={trained_run}", "--data=samples", "--num_images=4",
        "--masks=rect:0.3-0.7", "--baselines=telea,fsr,biharmonic", "--bucket_edges=0.1,0.3,0.5",
        f"--output_json={output}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(output.read_text())
    assert report["settings"]["bucket_edges"] == [0.1, 0.3, 0.5]
    buckets = {r["bucket"] for r in report["records"]}
    assert buckets <= {"(0.10, 0.30]", "(0.30, 0.50]", "other"}
    for bucket, row in report["comparison"].items():
        assert row["best_classical"] in ("telea", "fsr", "biharmonic")
        assert row["count"] == report["summary"][bucket]["model"]["count"]
        assert set(row["margin"]) == set(evaluation.METRIC_NAMES)
        assert f"| {bucket} | {row['count']} | {row['best_classical']} |" in result.stdout
    assert report["comparison"]["all"]["count"] == 4
    for method in ("model", "telea", "fsr", "biharmonic"):
        assert f"| all | {method} | 4 |" in result.stdout
        assert report["summary"]["all"][method]["sharpness"] > 0
        assert len(report["summary"]["all"][method]["psnr_hole_ci95"]) == 2
    assert "best classical fill of each bucket" in result.stdout
    for flags_, message in (
        (["--baselines=telea,paint"], "Error: Unknown baseline 'paint': expected one of telea, "),
        (["--baselines=ns,ns"], "Error: Baseline 'ns' is named twice"),
        (["--bucket_edges=0.3,0.1"], "Error: Bucket edges [0.3, 0.1] are not at least 2"),
        (["--bucket_edges=0.1,x"], "Error: Bucket edges ['0.1', 'x'] are not all numbers"),
    ):
        bad = _run_tool("evaluate.py", f"--workdir={trained_run}", *flags_)
        assert bad.returncode != 0 and message in bad.stderr, bad.stderr[-2000:]
        assert bad.stderr.strip().count("\n") == 0
