"""Fréchet Inception Distance (Heusel et al., NeurIPS 2017) with Keras's InceptionV3.

FID compares two image sets through the 2048-d average-pooled features of InceptionV3: with
means mu_1, mu_2 and covariances S_1, S_2 of the features,

    FID = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)).

Images in [0, 1] are resized to 299x299 (bilinear) and scaled to [-1, 1], as
`keras.applications.inception_v3.preprocess_input` expects. The ImageNet weights are Keras's
(`weights="imagenet"`, downloaded once into ~/.keras/models) or a local file. Keras's weights
are not the TF-slim 2015 graph that the reference TTUR / pytorch-fid code uses, so values are
close to, not equal to, published FIDs; compare FIDs computed with the same weights. FID is
biased for small sets and needs thousands of images to mean much (the covariance of N < 2048
features is singular; the square root is then stabilised as pytorch-fid does).

Example:

    extractor = build_inception("imagenet")  # or a path to the weights file
    real = inception_features(extractor, real_images)
    fake = inception_features(extractor, inpainted)
    fid = frechet_distance_from_features(real, fake)
"""

import os
import warnings

import keras
import numpy as np
import tensorflow as tf

INCEPTION_SIZE = 299
FEATURE_DIM = 2048
# Keras's notop InceptionV3 file, for the error message that names the fix.
_KERAS_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def check_inception_weights(weights):
    """Checks `--inception_weights` before any work: "none", "imagenet", "random" or a file.

    Returns:
        None when FID is off ("none"), else the value to pass to `build_inception`.

    Raises:
        ValueError: one sentence naming the expected values, for an empty value or a missing
            file.
    """
    text = "" if weights is None else str(weights).strip()
    if text.lower() in ("", "none"):
        return None
    if text.lower() in ("imagenet", "random"):
        return text.lower()
    if not os.path.isfile(text):
        raise ValueError(
            f"--inception_weights={text} is not a file; expected none, imagenet or the "
            f"path of an InceptionV3 weights file (e.g. Keras's {_KERAS_WEIGHTS_FILE})."
        )
    return text


def build_inception(weights="imagenet"):
    """The FID feature extractor: InceptionV3 without its top, global average pooling.

    Args:
        weights: str. "imagenet" (Keras's weights, downloaded on first use), "random"
            (untrained, for tests) or the path of a weights file for
            `InceptionV3(include_top=False)` (such as Keras's `_notop.h5`).

    Returns:
        keras.Model mapping (B, 299, 299, 3) images in [-1, 1] to (B, 2048) features.

    Raises:
        ValueError: one sentence when the ImageNet weights cannot be fetched or the file cannot
            be loaded, naming `--inception_weights=PATH` as the fix.
    """
    keras_weights = None if weights == "random" else weights
    try:
        return keras.applications.InceptionV3(
            include_top=False,
            weights=keras_weights,
            input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3),
            pooling="avg",
        )
    except Exception as error:  # noqa: BLE001 - Keras raises a bare Exception on fetch failure
        cause = " ".join(str(error).split())[:300]
        if weights == "imagenet":
            raise ValueError(
                f"Cannot fetch the InceptionV3 ImageNet weights for FID ({cause}); download "
                f"{_KERAS_WEIGHTS_FILE} where there is internet and pass "
                "--inception_weights=PATH (or --inception_weights=none to skip FID)."
            ) from None
        raise ValueError(
            f"Cannot load --inception_weights={weights} into InceptionV3 without its top "
            f"({cause}); expected a weights file such as Keras's {_KERAS_WEIGHTS_FILE}."
        ) from None


def preprocess(images):
    """(B, H, W, 3) images in [0, 1] -> (B, 299, 299, 3) in [-1, 1], bilinear resize."""
    images = tf.convert_to_tensor(images, tf.float32)
    resized = tf.image.resize(images, (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear")
    return resized * 2.0 - 1.0


def inception_features(extractor, images, batch_size=32):
    """(N, 2048) float64 features of (N, H, W, 3) images in [0, 1]."""
    images = np.asarray(images, np.float32)
    features = [
        np.asarray(
            extractor(preprocess(images[start : start + batch_size]), training=False), np.float64
        )
        for start in range(0, len(images), batch_size)
    ]
    if not features:
        return np.zeros((0, FEATURE_DIM), np.float64)
    return np.concatenate(features)


def feature_statistics(features):
    """Mean (D,) and covariance (D, D) of (N, D) features (N - 1 normalisation, as TTUR)."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(
            f"FID needs at least 2 feature vectors, got an array of shape {features.shape}."
        )
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    The matrix square root is scipy's `sqrtm`; as in pytorch-fid, a singular product gets
    `eps` added to both diagonals, and a complex result whose imaginary part is round-off
    (diagonal below 1e-3) is reduced to its real part.
    """
    from scipy import linalg  # scikit-image depends on scipy; imported late as it is slow.

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"Feature statistics differ in shape: means {mu1.shape} and {mu2.shape}, "
            f"covariances {sigma1.shape} and {sigma2.shape}."
        )
    diff = mu1 - mu2
    with warnings.catch_warnings():
        # Singular products (fewer images than feature dimensions) are expected and handled.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                "The square root of the feature covariances has a large imaginary part "
                f"({np.max(np.abs(covmean.imag)):.3g}); expected real covariances."
            )
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def frechet_distance_from_features(features1, features2):
    """FID between two (N, D) feature sets."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))
