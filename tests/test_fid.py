"""FID: the Fréchet distance against a numpy reference, and the InceptionV3 feature extractor."""

import numpy as np
import pytest

from tfinpaint import fid


def _reference_frechet(mu1, sigma1, mu2, sigma2):
    # Tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of S1 S2, which are
    # real and non-negative for covariance matrices.
    eigenvalues = np.linalg.eigvals(sigma1 @ sigma2).real.clip(min=0)
    diff = mu1 - mu2
    return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(eigenvalues).sum()


def test_frechet_distance_matches_numpy_reference():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (200, 6))
    b = rng.normal(0.5, 1.5, (300, 6)) @ rng.normal(size=(6, 6))
    stats_a, stats_b = fid.feature_statistics(a), fid.feature_statistics(b)
    np.testing.assert_allclose(stats_a[1], np.cov(a.T))
    expected = _reference_frechet(*stats_a, *stats_b)
    assert fid.frechet_distance(*stats_a, *stats_b) == pytest.approx(expected, rel=1e-6)
    assert fid.frechet_distance_from_features(a, b) == pytest.approx(expected, rel=1e-6)
    # Known closed form for 1-d Gaussians: (m1 - m2)^2 + (s1 - s2)^2.
    assert fid.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)
    # A set with itself: zero, also when the covariance is singular (fewer samples than dims).
    assert fid.frechet_distance_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    few = rng.normal(size=(4, 10))
    assert fid.frechet_distance_from_features(few, few) == pytest.approx(0.0, abs=1e-3)


def test_frechet_distance_bad_input():
    with pytest.raises(ValueError, match="at least 2 feature vectors"):
        fid.feature_statistics(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="differ in shape"):
        fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_inception_weights_checks(tmp_path, monkeypatch):
    assert fid.check_inception_weights("none") is None
    assert fid.check_inception_weights(None) is None
    assert fid.check_inception_weights("ImageNet") == "imagenet"
    with pytest.raises(ValueError, match="is not a file; expected none, imagenet"):
        fid.check_inception_weights(str(tmp_path / "missing.h5"))

    def offline(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: Name unknown")

    monkeypatch.setattr(fid.keras.applications, "InceptionV3", offline)
    with pytest.raises(ValueError, match=r"Cannot fetch .*--inception_weights=PATH") as info:
        fid.build_inception("imagenet")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="Cannot load --inception_weights="):
        fid.build_inception(str(tmp_path / "w.h5"))


def test_random_inception_features_and_fid():
    # The one InceptionV3 test: random weights at 299 px on CPU, 3 tiny images.
    extractor = fid.build_inception("random")
    rng = np.random.default_rng(0)
    images = rng.random((3, 24, 24, 3)).astype(np.float32)
    features = fid.inception_features(extractor, images, batch_size=2)
    assert features.shape == (3, fid.FEATURE_DIM) and np.isfinite(features).all()
    batch = fid.preprocess(images)
    assert batch.shape == (3, 299, 299, 3)
    assert -1.0 <= float(np.min(batch)) and float(np.max(batch)) <= 1.0
    assert fid.frechet_distance_from_features(features, features) == pytest.approx(0.0, abs=1e-2)
