"""Metrics against scikit-image's reference implementations and hand-computed cases."""

import math

import numpy as np
import pytest
import tensorflow as tf
from skimage import metrics as skmetrics

from tfinpaint import metrics


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    truth = rng.random((2, 32, 40, 3)).astype(np.float32)
    noisy = np.clip(truth + rng.normal(0, 0.1, truth.shape), 0, 1).astype(np.float32)
    holes = np.zeros((2, 32, 40, 1), np.float32)
    holes[0, 8:20, 10:30] = 1.0
    holes[1, 2:30, 2:12] = 1.0
    return truth, noisy, holes


def test_psnr_matches_skimage(pair):
    truth, noisy, _ = pair
    ours = metrics.psnr(truth, noisy).numpy()
    for i in range(2):
        expected = skmetrics.peak_signal_noise_ratio(truth[i], noisy[i], data_range=1.0)
        assert ours[i] == pytest.approx(expected, abs=1e-3)


def test_ssim_matches_skimage(pair):
    truth, noisy, _ = pair
    ours = metrics.ssim(truth, noisy).numpy()
    np.testing.assert_allclose(ours, metrics.ssim(truth, noisy, variant="gaussian").numpy())
    for i in range(2):
        expected = skmetrics.structural_similarity(
            truth[i],
            noisy[i],
            data_range=1.0,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert ours[i] == pytest.approx(expected, abs=1e-4)
    # ... and tf.image.ssim, whose defaults are the same filter.
    expected = tf.image.ssim(tf.constant(truth), tf.constant(noisy), max_val=1.0).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_ssim_skimage_default_variant_matches_skimage_defaults(pair):
    truth, noisy, _ = pair
    ours = metrics.ssim(truth, noisy, variant="skimage_default").numpy()
    gaussian = metrics.ssim(truth, noisy).numpy()
    for i in range(2):
        expected = skmetrics.structural_similarity(
            truth[i], noisy[i], data_range=1.0, channel_axis=-1
        )
        assert ours[i] == pytest.approx(expected, abs=1e-4)
        assert abs(ours[i] - gaussian[i]) > 1e-3  # the two variants really differ
    # Single-channel images too (skimage without channel_axis).
    gray_truth, gray_noisy = truth[:1, ..., :1], noisy[:1, ..., :1]
    expected = skmetrics.structural_similarity(
        gray_truth[0, ..., 0], gray_noisy[0, ..., 0], data_range=1.0
    )
    assert metrics.ssim(gray_truth, gray_noisy, variant="skimage_default").numpy()[0] == (
        pytest.approx(expected, abs=1e-4)
    )


def test_ssim_variant_checks():
    with pytest.raises(ValueError, match="Unknown SSIM variant 'box'"):
        metrics.ssim(np.zeros((1, 16, 16, 3)), np.zeros((1, 16, 16, 3)), variant="box")
    # The 7x7 window accepts 8x8 images that the 11x11 one refuses.
    value = metrics.ssim(np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8, 3)), variant="skimage_default")
    assert value.numpy()[0] == pytest.approx(1.0)


def test_quantize_is_what_an_8_bit_file_holds():
    values = np.array([-0.2, 0.0, 0.5, 1.0 / 510 - 1e-4, 0.999, 1.3], np.float32)
    quantized = metrics.quantize(values)
    np.testing.assert_allclose(quantized * 255, np.round(quantized * 255), atol=1e-4)
    np.testing.assert_allclose(quantized, [0, 0, 128 / 255, 0, 1, 1], atol=1e-6)
    assert quantized.dtype == np.float32


def test_hole_only_metrics_use_hole_pixels(pair):
    truth, noisy, holes = pair
    # Make the prediction perfect outside the holes: hole-only MSE must equal the hole MSE.
    pred = truth * (1 - holes) + noisy * holes
    hole_mse = [np.mean((truth[i] - pred[i])[holes[i, ..., 0] > 0] ** 2) for i in range(2)]
    expected = [10 * math.log10(1.0 / m) for m in hole_mse]
    np.testing.assert_allclose(metrics.psnr(truth, pred, holes).numpy(), expected, rtol=1e-5)
    hole_l1 = [np.mean(np.abs(truth[i] - pred[i])[holes[i, ..., 0] > 0]) for i in range(2)]
    np.testing.assert_allclose(metrics.l1_error(truth, pred, holes).numpy(), hole_l1, rtol=1e-5)
    # Whole-image PSNR of the same prediction is higher: known pixels are exact.
    assert np.all(metrics.psnr(truth, pred).numpy() > metrics.psnr(truth, pred, holes).numpy())
    ssim_hole = metrics.ssim(truth, pred, holes).numpy()
    assert np.all(ssim_hole < metrics.ssim(truth, pred).numpy())


def test_empty_hole_gives_nan_and_perfect_gives_inf(pair):
    truth, noisy, _ = pair
    empty = np.zeros(truth.shape[:3] + (1,), np.float32)
    assert np.all(np.isnan(metrics.psnr(truth, noisy, empty).numpy()))
    assert np.all(np.isinf(metrics.psnr(truth, truth).numpy()))


def test_ssim_rejects_tiny_images():
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8, 3)))


def test_hole_ratio_buckets():
    holes = np.zeros((3, 10, 10, 1), np.float32)
    holes[0, :1, :5] = 1  # 0.05
    holes[1, :3, :5] = 1  # 0.15
    holes[2] = 1  # 1.0
    ratios = metrics.hole_ratio(holes).numpy()
    np.testing.assert_allclose(ratios, [0.05, 0.15, 1.0])
    assert [metrics.bucket_index(r) for r in ratios] == [0, 1, -1]
    assert metrics.bucket_name(1) == "(0.10, 0.20]"
    assert metrics.bucket_name(-1) == "other"
    assert metrics.bucket_index(0.1) == 0  # (low, high]: 0.1 belongs to the first bucket


def _sharpness_reference(truth, pred, holes):
    """sharpness_ratio from its definition, in float64 numpy: BT.601 luma, 3x3 Sobel with
    reflected borders (numpy's "reflect", as tf.image.sobel_edges), magnitude, hole means."""

    def magnitude(image):
        gray = image @ np.array([0.299, 0.587, 0.114])
        padded = np.pad(gray, 1, mode="reflect")
        sobel_y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float64)
        gy = np.zeros_like(gray)
        gx = np.zeros_like(gray)
        for i in range(3):
            for j in range(3):
                window = padded[i : i + gray.shape[0], j : j + gray.shape[1]]
                gy += sobel_y[i, j] * window
                gx += sobel_y.T[i, j] * window
        return np.sqrt(gx**2 + gy**2)

    return np.array(
        [
            np.mean(magnitude(p.astype(np.float64))[h[..., 0] > 0.5])
            / np.mean(magnitude(t.astype(np.float64))[h[..., 0] > 0.5])
            for t, p, h in zip(truth, pred, holes)
        ]
    )


def test_sharpness_ratio_matches_a_numpy_reference(pair):
    truth, noisy, holes = pair
    ours = metrics.sharpness_ratio(truth, noisy, holes)
    assert ours.shape == (2,) and ours.dtype == np.float32
    # float32 sums of a few hundred magnitudes of order 1: relative error far under 1e-4.
    np.testing.assert_allclose(ours, _sharpness_reference(truth, noisy, holes), rtol=1e-4)
    np.testing.assert_allclose(metrics.sharpness_ratio(truth, truth, holes), 1.0, rtol=1e-6)
    # A blurred copy (3x3 box, 3 passes) is much less sharp than the photo; (B, H, W) masks too.
    blurred = truth.copy()
    for _ in range(3):
        padded = np.pad(blurred, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        blurred = (
            sum(
                padded[:, i : i + truth.shape[1], j : j + truth.shape[2]]
                for i in range(3)
                for j in range(3)
            )
            / 9.0
        )
    ratio = metrics.sharpness_ratio(truth, blurred, holes[..., 0])
    np.testing.assert_allclose(ratio, _sharpness_reference(truth, blurred, holes), rtol=1e-4)
    assert np.all(ratio < 0.5)
    # No hole, or a flat ground truth in the hole: undefined.
    flat = np.full_like(truth, 0.5)
    assert np.all(np.isnan(metrics.sharpness_ratio(truth, noisy, np.zeros_like(holes))))
    assert np.all(np.isnan(metrics.sharpness_ratio(flat, noisy, holes)))
    gray = truth[..., :1]
    np.testing.assert_allclose(metrics.sharpness_ratio(gray, gray, holes), 1.0, rtol=1e-6)


def test_bucket_edges():
    buckets = metrics.buckets_from_edges(["0.1", 0.3, 0.5])
    assert buckets == ((0.1, 0.3), (0.3, 0.5))
    assert [metrics.bucket_index(r, buckets) for r in (0.05, 0.1, 0.2, 0.3, 0.45, 0.6)] == [
        -1, -1, 0, 0, 1, -1,
    ]  # fmt: skip
    assert metrics.bucket_name(1, buckets) == "(0.30, 0.50]"
    # The default stays the NVIDIA protocol's.
    assert metrics.bucket_index(0.35) == 3 and metrics.bucket_name(3) == "(0.30, 0.40]"
    for bad in ([0.3], [0.3, 0.1], [0.1, 0.1], [0.5, 1.5], ["x", 0.3]):
        with pytest.raises(ValueError, match="[Bb]ucket edges"):
            metrics.buckets_from_edges(bad)
