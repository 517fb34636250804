"""Tests for tfinpaint.data.gradients: Sobel maps match OpenCV, eagerly and inside tf.data."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint.data.gradients import add_gradients, rgb_to_gray, sobel_gradients


def _cv2_reference(image):
    """OpenCV's Sobel x, y of the RGB2GRAY image: the definition the module promises."""
    gray = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2GRAY)
    grad_x = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    grad_y = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return np.stack([grad_x, grad_y], axis=-1)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.random((3, 19, 26, 3), dtype=np.float32)


def test_gray_matches_cv2(images):
    expected = cv2.cvtColor(images[0], cv2.COLOR_RGB2GRAY)
    np.testing.assert_allclose(rgb_to_gray(images[0]).numpy(), expected, atol=1e-6)


def test_unbatched_matches_cv2(images):
    result = sobel_gradients(images[0])
    assert result.shape == (19, 26, 2)
    assert result.dtype == tf.float32
    np.testing.assert_allclose(result.numpy(), _cv2_reference(images[0]), atol=1e-5)


def test_batched_matches_cv2(images):
    result = sobel_gradients(tf.constant(images)).numpy()
    assert result.shape == (3, 19, 26, 2)
    for image, gradients in zip(images, result):
        np.testing.assert_allclose(gradients, _cv2_reference(image), atol=1e-5)


def test_borders_follow_reflect_101():
    # A horizontal ramp: reflect-101 makes the x-derivative vanish on the first and last
    # columns (a replicated border would give a half-size step there instead).
    ramp = np.tile(np.linspace(0.0, 1.0, 8, dtype=np.float32)[None, :, None], (5, 1, 3))
    result = sobel_gradients(ramp).numpy()
    np.testing.assert_allclose(result, _cv2_reference(ramp), atol=1e-5)
    np.testing.assert_allclose(result[:, 0, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(result[:, 3, 0], 8.0 / 7.0, atol=1e-5)


def test_value_range_is_unscaled():
    # A vertical step edge from 0 to 1 gives the extreme value 4 (1 + 2 + 1).
    step = np.zeros((6, 6, 3), np.float32)
    step[:, 3:] = 1.0
    result = sobel_gradients(step).numpy()
    assert result[..., 0].max() == pytest.approx(4.0)
    np.testing.assert_allclose(result[..., 1], 0.0, atol=1e-6)


def test_inside_dataset_map(images):
    dataset = tf.data.Dataset.from_tensor_slices({"images": images}).map(add_gradients)
    for image, example in zip(images, dataset):
        assert set(example) == {"images", "gradients"}
        np.testing.assert_allclose(example["gradients"].numpy(), _cv2_reference(image), atol=1e-5)


def test_add_gradients_on_a_batch_in_map(images):
    dataset = tf.data.Dataset.from_tensor_slices({"images": images}).batch(3).map(add_gradients)
    batch = next(iter(dataset))
    assert batch["gradients"].shape == (3, 19, 26, 2)
    np.testing.assert_allclose(batch["gradients"].numpy()[2], _cv2_reference(images[2]), atol=1e-5)


def test_add_gradients_keeps_input_and_is_pure(images):
    example = {"images": tf.constant(images[0]), "masks": tf.zeros([19, 26, 1])}
    result = add_gradients(example)
    assert set(example) == {"images", "masks"}
    assert set(result) == {"images", "masks", "gradients"}


@pytest.mark.parametrize(
    "shape", [(19, 26), (19, 26, 1), (2, 19, 26, 4), (1, 2, 19, 26, 3), (1, 26, 3)]
)
def test_bad_shapes_raise(shape):
    with pytest.raises(ValueError, match="Received images of shape"):
        sobel_gradients(tf.zeros(shape))
