"""Tests for tfinpaint.data.sources: listing images and decoding every format to RGB uint8."""

import io
import logging
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tfinpaint.data.sources import (
    SAMPLE_IMAGES,
    ImageReader,
    decode,
    decode_image_bytes,
    encoded_image_dataset,
    is_plain_jpeg,
    list_image_files,
    read_image,
    source_kind,
    write_sample_jpegs,
)

_HEIGHT, _WIDTH = 12, 17


def _rgb(seed=0):
    """A smooth image with distinct channels (red: ramp across, green: ramp down, blue: flat),
    so that lossy formats stay close and a swapped channel order shows."""
    rows, columns = np.mgrid[0:_HEIGHT, 0:_WIDTH]
    red = 20 + 200 * columns / (_WIDTH - 1)
    green = 230 - 180 * rows / (_HEIGHT - 1)
    blue = np.full_like(red, 60 + 10 * seed)
    return np.rint(np.stack([red, green, blue], axis=-1)).astype(np.uint8)


def _write_cv2(path, array):
    assert cv2.imwrite(str(path), array)
    return str(path)


@pytest.fixture
def awkward_folder(tmp_path):
    """Writes one file per awkward format; returns (folder, {name: expected RGB or None})."""
    rgb = _rgb()
    bgr = rgb[:, :, ::-1]
    gray = rgb[:, :, 0]
    alpha = np.where(np.arange(_WIDTH)[None, :] < 8, 255, 0).astype(np.uint8)
    alpha = np.broadcast_to(alpha, (_HEIGHT, _WIDTH)).copy()
    alpha[0, 0] = 128
    expected = {}

    _write_cv2(tmp_path / "gray.png", gray)
    expected["gray.png"] = np.repeat(gray[:, :, None], 3, axis=2)

    _write_cv2(tmp_path / "rgba.png", np.dstack([bgr, alpha]))
    a = alpha[:, :, None].astype(np.float32) / 255.0
    expected["rgba.png"] = np.rint(rgb * a + 255.0 * (1.0 - a)).astype(np.uint8)

    # Gray + alpha and palette PNGs: OpenCV cannot write them, Pillow can.
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(tmp_path / "gray_alpha.png")
    expected["gray_alpha.png"] = np.rint(
        np.repeat(gray[:, :, None], 3, axis=2) * a + 255.0 * (1.0 - a)
    ).astype(np.uint8)
    palette = Image.fromarray(rgb, "RGB").quantize(colors=16)
    palette.save(tmp_path / "palette.png")
    expected["palette.png"] = np.asarray(palette.convert("RGB"))

    sixteen = rgb.astype(np.uint16) * 257 + 100  # Low byte set: must round, not truncate.
    _write_cv2(tmp_path / "sixteen.png", sixteen[:, :, ::-1])
    expected["sixteen.png"] = np.rint(sixteen / 257.0).astype(np.uint8)

    _write_cv2(tmp_path / "image.bmp", bgr)
    expected["image.bmp"] = rgb
    _write_cv2(tmp_path / "IMAGE.WEBP", bgr)  # Lossy by default: compared loosely below.
    expected["IMAGE.WEBP"] = rgb
    _write_cv2(tmp_path / "photo.jpg", bgr)
    expected["photo.jpg"] = rgb

    _, jpeg = cv2.imencode(".jpg", bgr)
    (tmp_path / "corrupt.jpg").write_bytes(jpeg.tobytes()[:40])  # Truncated inside the header.
    expected["corrupt.jpg"] = None
    return tmp_path, expected


def test_folder_is_searched_recursively_with_any_case(tmp_path):
    for relative in ["b.PNG", "a/c.jpg", "a/deeper/d.JpEg", "e.bmp", "f.webp", "z/g.png"]:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_cv2(path, _rgb())
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "a" / "h.gif").write_bytes(b"GIF89a")
    paths = list_image_files(str(tmp_path))
    names = [os.path.relpath(path, tmp_path) for path in paths]
    assert names == sorted(names)
    assert sorted(names) == sorted(
        ["b.PNG", "a/c.jpg", "a/deeper/d.JpEg", "e.bmp", "f.webp", "z/g.png"]
    )
    assert all(os.path.isabs(path) for path in paths)
    assert source_kind(str(tmp_path)) == "folder"


def test_list_file_resolves_relative_paths(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    first = _write_cv2(images / "one.png", _rgb(1))
    second = _write_cv2(tmp_path / "two.jpg", _rgb(2))
    lists = tmp_path / "lists"
    lists.mkdir()
    list_file = lists / "train.txt"
    list_file.write_text(f"# training images\n\n../images/one.png\n  {second}  \n\n# end\n")
    assert source_kind(str(list_file)) == "list"
    assert list_image_files(str(list_file)) == [first, second]


def test_empty_list_file_raises(tmp_path):
    list_file = tmp_path / "empty.txt"
    list_file.write_text("# nothing here\n\n")
    with pytest.raises(ValueError, match="No image paths listed in"):
        list_image_files(str(list_file))


def test_empty_folder_raises_naming_it(tmp_path):
    (tmp_path / "readme.txt").write_text("no images")
    with pytest.raises(ValueError, match=f"No images found in folder {tmp_path}"):
        list_image_files(str(tmp_path))


def test_missing_source_raises(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        list_image_files(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="expected a folder"):
        source_kind(42)
    with pytest.raises(ValueError, match="with a name"):
        source_kind("tfds:")


def test_samples_lists_bundled_photos():
    paths = list_image_files("samples")
    assert len(paths) >= 10
    assert [os.path.basename(path) for path in paths] == list(SAMPLE_IMAGES)
    for path in paths[:3]:
        image = read_image(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def _check_decoded(expected, name, image):
    assert image.dtype == np.uint8
    assert image.shape == (_HEIGHT, _WIDTH, 3), name
    difference = np.abs(image.astype(int) - expected[name].astype(int))
    if name.lower().endswith((".jpg", ".webp")):  # Lossy formats: close, not equal.
        assert np.mean(difference) < 4 and difference.max() < 40, name
    else:
        assert difference.max() == 0, name


def test_awkward_files_decode_eagerly(awkward_folder):
    folder, expected = awkward_folder
    for name, reference in expected.items():
        path = str(folder / name)
        if reference is None:
            with pytest.raises(ValueError, match="Could not decode"):
                read_image(path)
            continue
        _check_decoded(expected, name, read_image(path))


def test_awkward_files_decode_in_dataset_map_and_corrupt_one_is_skipped(awkward_folder, caplog):
    folder, expected = awkward_folder
    paths = list_image_files(str(folder))
    assert len(paths) == len(expected)
    reader = ImageReader(len(paths), source=str(folder))
    dataset = tf.data.Dataset.from_tensor_slices({"paths": paths})
    dataset = dataset.map(lambda example: decode(example, reader), num_parallel_calls=2)
    with caplog.at_level(logging.WARNING):
        decoded = {}
        for path, example in zip(paths, dataset):
            assert example["images"].dtype == tf.uint8
            if example["valid"]:
                decoded[os.path.basename(path)] = example["images"].numpy()
            else:
                assert example["images"].shape == (0, 0, 3)
    assert sorted(decoded) == sorted(name for name in expected if expected[name] is not None)
    for name, image in decoded.items():
        _check_decoded(expected, name, image)
    corrupt = str(folder / "corrupt.jpg")
    messages = [record.getMessage() for record in caplog.records]
    assert f"Skipping unreadable image {corrupt} (1 skipped so far)" in messages
    assert reader.num_skipped == 1


def test_decode_op_eagerly_on_bytes():
    _, png = cv2.imencode(".png", _rgb()[:, :, ::-1])
    example = decode({"encoded": tf.constant(png.tobytes()), "names": tf.constant("x")})
    assert bool(example["valid"])
    np.testing.assert_array_equal(example["images"].numpy(), _rgb())
    assert set(example) == {"images", "valid"}


def test_reader_warns_once_per_file_and_gives_up_when_all_fail(tmp_path, caplog):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    reader = ImageReader(num_items=2, source=str(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert reader(str(bad).encode(), b"").shape == (0, 0, 3)
        assert reader(str(bad).encode(), b"").shape == (0, 0, 3)
        with pytest.raises(ValueError, match="All 2 images of source"):
            reader(str(tmp_path / "missing.png").encode(), b"")
    warnings = [r.getMessage() for r in caplog.records if "Skipping" in r.getMessage()]
    assert warnings == [
        f"Skipping unreadable image {bad} (1 skipped so far)",
        f"Skipping unreadable image {tmp_path / 'missing.png'} (2 skipped so far)",
    ]


def test_decode_image_bytes_rejects_empty_and_garbage():
    for data in (b"", b"garbage bytes"):
        with pytest.raises(ValueError, match="Could not decode"):
            decode_image_bytes(data)


def test_tfds_source_with_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=4, data_dir=str(tmp_path)):
        assert source_kind("tfds:mnist") == "tfds"
        dataset, _ = encoded_image_dataset("tfds:mnist", training=False)
        examples = list(dataset.map(decode))
    assert len(examples) == 4
    for example in examples:
        assert bool(example["valid"])
        image = example["images"].numpy()
        assert image.shape == (28, 28, 3) and image.dtype == np.uint8
        # MNIST is grayscale: the three channels are copies.
        np.testing.assert_array_equal(image[..., 0], image[..., 2])


def test_tfds_unknown_name_raises():
    with pytest.raises(ValueError, match="Unknown TFDS dataset 'no_such_dataset_xyz'"):
        encoded_image_dataset("tfds:no_such_dataset_xyz")


def test_list_image_files_rejects_tfds():
    with pytest.raises(ValueError, match="list_image_files expects"):
        list_image_files("tfds:mnist")


def _jpeg_bytes(image, **save_options):
    buffer = io.BytesIO()
    image = image if isinstance(image, Image.Image) else Image.fromarray(image)
    image.save(buffer, "JPEG", **save_options)
    return buffer.getvalue()


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def test_plain_jpeg_detection():
    photo = _rgb()
    plain = _jpeg_bytes(photo)
    assert is_plain_jpeg(plain)
    assert is_plain_jpeg(_jpeg_bytes(photo, progressive=True))
    assert is_plain_jpeg(_jpeg_bytes(photo[:, :, 0]))  # Grayscale.
    assert is_plain_jpeg(_jpeg_bytes(photo, exif=_exif(1)))
    assert not is_plain_jpeg(_jpeg_bytes(photo, exif=_exif(6)))  # Rotated: OpenCV applies it.
    assert not is_plain_jpeg(plain[:-10])  # Truncated.
    assert not is_plain_jpeg(_jpeg_bytes(Image.fromarray(photo).convert("CMYK")))
    assert not is_plain_jpeg(cv2.imencode(".png", photo)[1].tobytes())
    assert not is_plain_jpeg(b"")


def test_write_sample_jpegs(tmp_path):
    folder = tmp_path / "jpegs"
    paths = write_sample_jpegs(str(folder), num_images=3, width=40, height=30)
    assert list_image_files(str(folder)) == paths
    images = [read_image(path) for path in paths]
    assert all(image.shape == (30, 40, 3) for image in images)
    assert not np.array_equal(images[0], images[1])
    with pytest.raises(ValueError, match="is not empty"):
        write_sample_jpegs(str(folder), num_images=1)
