"""The helpers inference, export and post-processing share (`tfinpaint.imageops`), against
numpy references."""

import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import imageops


def test_binary_holes_forms_threshold_and_size_check():
    numbers = np.array([[0.0, 0.49], [0.5, 255.0]], np.float32)
    expected = np.array([[False, False], [True, True]])
    np.testing.assert_array_equal(imageops.binary_holes(numbers, (2, 2, 3)), expected)
    np.testing.assert_array_equal(imageops.binary_holes(numbers[..., None], (2, 2)), expected)
    bools = np.array([[True, False], [False, True]])
    assert imageops.binary_holes(bools, (2, 2)) is bools
    with pytest.raises(ValueError, match=r"hole mask of shape \(2, 2, 2\); expected \(H, W\)"):
        imageops.binary_holes(np.zeros((2, 2, 2)), (2, 2))
    with pytest.raises(ValueError, match=r"hole mask of shape \(2, 2\), 2x2 \(HxW\).* 3x2;"):
        imageops.binary_holes(numbers, (3, 2, 3))


def test_from_unit_float_rounds_integers_and_clips_floats():
    values = np.array([-0.1, 0.0, 0.5 / 255.0, 0.5, 1.0, 1.2], np.float32)
    np.testing.assert_array_equal(
        imageops.from_unit_float(values, np.uint8), np.rint(np.clip(values, 0, 1) * 255)
    )
    uint16 = imageops.from_unit_float(values, np.uint16)
    assert uint16.dtype == np.uint16 and uint16[-2] == uint16[-1] == 65535 and uint16[0] == 0
    as_float64 = imageops.from_unit_float(values, np.float64)
    assert as_float64.dtype == np.float64
    np.testing.assert_array_equal(as_float64, np.clip(values, 0.0, 1.0))


def test_paste_holes_keeps_known_pixels_and_the_input():
    image = np.arange(2 * 3 * 3, dtype=np.uint16).reshape(2, 3, 3)
    holes = np.array([[True, False, False], [False, False, True]])
    filled = np.full_like(image, 9999)
    result = imageops.paste_holes(image, holes, filled)
    np.testing.assert_array_equal(result[holes], filled[holes])
    np.testing.assert_array_equal(result[~holes], image[~holes])
    assert result.dtype == np.uint16 and image.max() < 9999  # The input is not written into.


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
@pytest.mark.parametrize("multiple", [1, 4, 8, 16])
def test_padded_size(size, multiple):
    padded = imageops.padded_size(size, multiple)
    assert padded % multiple == 0 and size <= padded < size + multiple
    assert int(imageops.padded_size(tf.constant(size), multiple)) == padded


@pytest.mark.parametrize("height,width", [(1, 3), (2, 5), (3, 3), (7, 10), (8, 8)])
def test_reflect_pad_equals_numpy_and_crops_back(height, width):
    multiple = 8  # Pads of up to 7 px: more than the side for most of these sizes.
    batch = np.random.default_rng(0).random((2, height, width, 3), dtype=np.float32)
    pad = ((0, 0), (0, -height % multiple), (0, -width % multiple), (0, 0))
    expected = np.pad(batch, pad, mode="reflect")

    padded, size = imageops.reflect_pad_to_multiple(batch, multiple)  # Static shape.
    np.testing.assert_array_equal(np.asarray(padded), expected)
    np.testing.assert_array_equal(np.asarray(imageops.crop_to_size(padded, size)), batch)

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
    def dynamic(images):
        padded, size = imageops.reflect_pad_to_multiple(images, multiple)
        return padded, imageops.crop_to_size(padded, size)

    padded, cropped = dynamic(batch)
    np.testing.assert_array_equal(padded.numpy(), expected)
    np.testing.assert_array_equal(cropped.numpy(), batch)


def test_reflect_pad_leaves_multiples_alone():
    batch = np.zeros((1, 16, 8, 1), np.float32)
    padded, size = imageops.reflect_pad_to_multiple(batch, 8)
    assert padded is batch and size is None
    assert imageops.crop_to_size(batch, size) is batch
