"""The one image writer (`tfinpaint.data.imageio.write_image`): formats, depth, atomicity."""

import os

import cv2
import numpy as np
import pytest

from tfinpaint.data import imageio


def _rgb(dtype, top):
    rng = np.random.default_rng(0)
    return rng.integers(0, top + 1, (5, 7, 3)).astype(dtype)


def test_writes_rgb_8_and_16_bit_png_exactly(tmp_path):
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        image = _rgb(dtype, top)
        path = tmp_path / "nested" / f"{np.dtype(dtype).name}.png"
        assert imageio.write_image(path, image) == str(path)
        read = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        assert read.dtype == dtype
        np.testing.assert_array_equal(read, image)
    assert sorted(os.listdir(tmp_path / "nested")) == ["uint16.png", "uint8.png"]  # No temp files.


def test_16_bit_is_rounded_to_8_bits_for_8_bit_formats(tmp_path):
    image = np.array([[[0, 128, 65535], [257, 385, 386]]], np.uint16)
    path = imageio.write_image(tmp_path / "out.bmp", image)
    read = cv2.imread(path, cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    np.testing.assert_array_equal(read, [[[0, 0, 255], [1, 1, 2]]])


def test_replaces_atomically_with_umask_permissions(tmp_path):
    path = tmp_path / "out.png"
    other_name = tmp_path / "link.png"
    imageio.write_image(path, _rgb(np.uint8, 255))
    os.link(path, other_name)
    before = other_name.read_bytes()
    old_umask = os.umask(0o027)
    try:
        imageio.write_image(path, np.zeros((2, 2, 3), np.uint8))
    finally:
        os.umask(old_umask)
    assert other_name.read_bytes() == before  # A hard link to the old file is not written into.
    assert cv2.imread(str(path)).shape == (2, 2, 3)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_refusals_name_the_problem(tmp_path):
    image = _rgb(np.uint8, 255)
    path = imageio.write_image(tmp_path / "out.png", image)
    with pytest.raises(ValueError, match="already exists"):
        imageio.write_image(path, image, overwrite=False)
    with pytest.raises(ValueError, match="no writer"):
        imageio.write_image(tmp_path / "out.xyz", image)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) RGB array of uint8 or uint16"):
        imageio.write_image(tmp_path / "float.png", image.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        imageio.write_image(tmp_path / "gray.png", image[:, :, 0])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="expected a writable folder"):
        imageio.write_image(blocker / "out.png", image)
