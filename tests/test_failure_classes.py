"""Failure classes of issue 30, each tested over several members, through every reader.

- Non-regular files (FIFO, character device, socket, folder) where an image, a mask, a data
  source, a JSON file or a weights file is expected: refused by what they are, never opened
  (a FIFO would block forever; a timer fails the test instead of hanging).
- Decompression bombs: headers (PNG, JPEG, WebP, BMP, GIF, TIFF; other formats through Pillow)
  declaring more pixels than the limit, refused before decoding.
- Memory: strategies and batches whose estimate exceeds the memory available.
- Malformed JSON (list, string, number, null, nested past the recursion limit, empty, not
  JSON) and HDF5 (truncated, empty, random bytes, another family's weights).
- The mask rule: 0/1 masks at 8 and 16 bits and in RGB, colour masks, masks without holes.
"""

import json
import logging
import os
import shutil
import signal

import bad_files
import cv2
import numpy as np
import pytest

from tfinpaint import inference, json_files
from tfinpaint.data import image_files, mask_sets, masks, photos, sources
from tfinpaint.models import registry, saving
from tfinpaint.models.ensemble import SelfEnsemble


@pytest.fixture(autouse=True)
def no_hang():
    """A reader that opens a FIFO blocks forever: fail after 20 s instead."""

    def fail(signum, frame):
        raise TimeoutError("a reader blocked (opened a FIFO?)")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _special(tmp_path, kind, name="thing.png"):
    if kind == "char_device":
        return "/dev/zero"
    return bad_files.SPECIAL_MAKERS[kind](str(tmp_path / name))


SPECIAL_KINDS = ("fifo", "char_device", "socket", "folder")

# Every reader of a user's file, as (name, call); each must refuse a non-regular path.
READERS = {
    "inference.read_image": inference.read_image,
    "inference.read_hole_mask": inference.read_hole_mask,
    "sources.read_image": sources.read_image,
    "image_files.read_hole_level": image_files.read_hole_level,
    "image_files.read_image_header_size": image_files.read_image_header_size,
    "json_files.load_json_object": json_files.load_json_object,
    "saving.check_weights_file": saving.check_weights_file,
}


@pytest.mark.parametrize("kind", SPECIAL_KINDS)
@pytest.mark.parametrize("reader", sorted(READERS))
def test_non_regular_files_are_refused_by_what_they_are(tmp_path, kind, reader):
    path = _special(tmp_path, kind)
    with pytest.raises(ValueError, match=bad_files.SPECIAL_KIND_WORDS[kind]) as error:
        READERS[reader](path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kind", ("fifo", "char_device", "socket"))
def test_non_regular_data_source_is_named(tmp_path, kind):
    path = _special(tmp_path, kind, "data")
    with pytest.raises(ValueError, match=f"is a.* {bad_files.SPECIAL_KIND_WORDS[kind]}") as error:
        sources.check_source(path)
    assert "does not exist" not in str(error.value)


@pytest.mark.parametrize("kind", ("fifo", "socket"))
def test_folder_scans_skip_non_regular_entries_with_a_warning(tmp_path, kind, caplog):
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), np.full((40, 40, 3), 90, np.uint8))
    _special(folder, kind, "x.png")
    with caplog.at_level(logging.WARNING):
        paths = sources.list_image_files(str(folder))
    assert [os.path.basename(p) for p in paths] == ["good.png"]
    assert "x.png" in caplog.text and bad_files.SPECIAL_KIND_WORDS[kind] in caplog.text


@pytest.mark.parametrize("kind", ("fifo", "socket"))
def test_list_files_refuse_non_regular_entries(tmp_path, kind):
    cv2.imwrite(str(tmp_path / "good.png"), np.full((40, 40, 3), 90, np.uint8))
    _special(tmp_path, kind, "x.png")
    (tmp_path / "list.txt").write_text("good.png\nx.png\n")
    with pytest.raises(ValueError, match="1 of 2 listed files are not regular files"):
        sources.list_image_files(str(tmp_path / "list.txt"))


@pytest.mark.parametrize("kind", ("fifo", "socket"))
def test_prepare_photos_drops_non_regular_files(tmp_path, kind):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "good.png"), rng.integers(0, 255, (64, 64, 3), np.uint8))
    _special(folder, kind, "x.png")
    manifest = photos.prepare_photos(
        [str(folder)], str(tmp_path / "out"), short_side=32, min_short_side=32, progress=None
    )
    reasons = {os.path.basename(d["source"]): d["reason"] for d in manifest["dropped"]}
    assert bad_files.SPECIAL_KIND_WORDS[kind] in reasons["x.png"]
    assert manifest["num_train"] + manifest["num_val"] == 1


@pytest.mark.parametrize("kind", ("fifo", "socket", "folder"))
def test_mask_folders_skip_non_regular_entries(tmp_path, kind):
    folder = tmp_path / "masks"
    folder.mkdir()
    hole_mask = np.zeros((32, 32), np.uint8)
    hole_mask[8:24, 8:24] = 255
    cv2.imwrite(str(folder / "a.png"), hole_mask)
    _special(folder, kind, "b.png")
    mask_fn = masks.make_mask_fns(f"irregular:{folder}", 32, training=False)[0]
    assert float(mask_fn(np.array([0, 1]))["masks"].numpy().mean()) > 0
    assert len(mask_sets.MaskSet(str(folder), 32)) == 1


# --- Decompression bombs ---------------------------------------------------------------------


def _bomb_size(kind):
    return (16000, 16000) if kind.startswith("webp") else (60000, 60000)


@pytest.mark.parametrize("kind", sorted(bad_files.BOMBS))
def test_header_sizes_are_read_without_decoding(kind):
    width, height = _bomb_size(kind)
    assert image_files.read_image_header_size(bad_files.BOMBS[kind](width, height)) == (
        width,
        height,
    )


@pytest.mark.parametrize("extension", [".png", ".jpg", ".webp", ".bmp", ".tif"])
def test_header_sizes_of_real_files(tmp_path, extension):
    path = str(tmp_path / f"real{extension}")
    cv2.imwrite(path, np.zeros((37, 53, 3), np.uint8))
    assert image_files.read_image_header_size(path) == (53, 37)


@pytest.mark.parametrize("variant", ["baseline", "progressive", "big_app1", "fill_bytes"])
def test_jpeg_header_sizes(variant):
    params = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if variant == "progressive" else []
    data = cv2.imencode(".jpg", np.zeros((37, 53, 3), np.uint8), params)[1].tobytes()
    if variant == "big_app1":  # A large EXIF block before the frame header.
        payload = b"Exif\x00\x00" + bytes(60000)
        data = data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]
    elif variant == "fill_bytes":
        data = data[:2] + b"\xff\xff\xff" + data[3:]
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (37, 53, 3)
    assert image_files.read_image_header_size(data) == (53, 37)


def test_header_size_of_other_formats_through_pillow(tmp_path):
    path = bad_files.write(str(tmp_path / "big.ppm"), b"P6\n100000 100000\n255\n")
    width, height = image_files.read_image_header_size(path)
    assert width * height == 10**10
    with pytest.raises(ValueError, match="10000.0 megapixels"):
        image_files.read_image_file(path)


BOMB_READERS = {
    "inference.read_image": inference.read_image,
    "inference.read_hole_mask": inference.read_hole_mask,
    "sources.read_image": sources.read_image,
    "image_files.read_hole_level": image_files.read_hole_level,
}


@pytest.mark.parametrize("kind", sorted(bad_files.BOMBS))
@pytest.mark.parametrize("reader", sorted(BOMB_READERS))
def test_bombs_are_refused_from_the_header(tmp_path, kind, reader):
    width, height = _bomb_size(kind)
    path = bad_files.write(
        str(tmp_path / f"bomb{bad_files.BOMB_EXTENSIONS[kind]}"),
        bad_files.BOMBS[kind](width, height),
    )
    with pytest.raises(ValueError, match=rf"{width}x{height}.*--max_pixels=50000000"):
        BOMB_READERS[reader](path)


def test_a_real_compressible_png_is_refused_before_decoding(tmp_path):
    # 64 megapixels of zeros: 64 KB on disk. Decoding it would take 64 MB, and 30000 x 30000
    # would take 900 MB; the gate reads 24 bytes.
    path = bad_files.write(str(tmp_path / "zeros.png"), bad_files.compressible_png(8000, 8000))
    assert os.path.getsize(path) < 200_000
    with pytest.raises(ValueError, match="8000x8000"):
        inference.read_image(path)
    with pytest.raises(ValueError, match="8000x8000"):
        sources.decode_image_bytes(open(path, "rb").read())


def test_max_pixels_is_the_limit(tmp_path):
    path = str(tmp_path / "small.png")
    cv2.imwrite(path, np.zeros((10, 20, 3), np.uint8))
    assert inference.read_image(path, max_pixels=200).shape == (10, 20, 3)
    with pytest.raises(ValueError, match="--max_pixels=199"):
        inference.read_image(path, max_pixels=199)
    image_files.set_default_max_pixels(199)
    try:
        with pytest.raises(ValueError, match="--max_pixels=199"):
            sources.read_image(path)
    finally:
        image_files.set_default_max_pixels(None)
    with pytest.raises(ValueError, match="positive integer"):
        image_files.set_default_max_pixels(0)


def test_the_pipeline_reader_skips_bombs(tmp_path, caplog):
    path = bad_files.write(str(tmp_path / "bomb.png"), bad_files.png_bomb(60000, 60000))
    reader = sources.ImageReader(num_items=2, source=str(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert reader(path.encode(), b"").shape == (0, 0, 3)
        encoded, route = reader.read(path.encode(), b"")
    assert encoded == b"" and route == sources.ROUTE_OPENCV
    assert "Skipping unreadable image" in caplog.text


# --- Memory estimates -------------------------------------------------------------------------


class _FakeGenerator:
    size_multiple = 8
    built = True

    def count_params(self):
        return 1_000_000


GIB = 1024**3


@pytest.mark.parametrize("size", [(6000, 8000), (4000, 4000), (9000, 12000)])
def test_pad_that_cannot_fit_is_refused_naming_a_tile_size(size):
    with pytest.raises(ValueError, match=r"--strategy=tile --max_size=\d+") as error:
        inference.check_inpaint_memory(_FakeGenerator(), [size], "pad", available=8 * GIB)
    assert f"{size[0]}x{size[1]}" in str(error.value)
    tile = int(str(error.value).split("--max_size=")[1].split()[0])
    inference.check_inpaint_memory(_FakeGenerator(), [size], "tile", tile, available=8 * GIB)
    inference.check_inpaint_memory(_FakeGenerator(), [size], "resize", tile, available=8 * GIB)


def test_nothing_fits_says_so():
    with pytest.raises(ValueError, match="no strategy fits"):
        inference.check_inpaint_memory(_FakeGenerator(), [(8000, 8000)], "pad", available=10)


@pytest.mark.parametrize("batch_size,image_size", [(10_000, 256), (64, 4096), (1_000_000, 32)])
def test_batches_too_large_for_memory_are_refused(batch_size, image_size):
    with pytest.raises(ValueError, match=r"--batch_size=\d+ or less|even one image"):
        inference.check_batch_memory(_FakeGenerator(), batch_size, image_size, available=8 * GIB)
    with pytest.raises(ValueError, match="--batch_size"):
        inference.check_batch_memory(None, batch_size, image_size, available=8 * GIB, training=True)
    inference.check_batch_memory(_FakeGenerator(), 1, 32, available=8 * GIB)


# --- Malformed JSON and HDF5 ------------------------------------------------------------------

JSON_SHAPES = {
    "list": ("[1, 2]", "holds a list"),
    "string": ('"text"', "holds a string"),
    "number": ("3.5", "holds a number"),
    "null": ("null", "holds null"),
    "nested_deep": ("[" * 50_000 + "]" * 50_000, "RecursionError"),
    "nested_deep_object": ('{"a":' * 50_000 + "1" + "}" * 50_000, "RecursionError"),
    "empty": ("", "is empty"),
    "truncated": ('{"model": "pconv", "config": {', "not valid JSON"),
    "not_utf8": (b"\xff\xfe{", "not UTF-8"),
}


@pytest.mark.parametrize("shape", sorted(JSON_SHAPES))
def test_json_objects_name_the_file_and_what_is_wrong(tmp_path, shape):
    text, expected = JSON_SHAPES[shape]
    path = tmp_path / "thing.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=expected) as error:
        json_files.load_json_object(str(path), "a thing")
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    if not isinstance(text, bytes):
        with pytest.raises(ValueError, match=expected):
            json_files.parse_json_object(text, "--options")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny PConv generator and a tiny cascade one, saved as description + weights."""
    root = tmp_path_factory.mktemp("saved")
    pconv = saving.save_generator(
        registry.build_generator("pconv", "tiny"), "pconv", "tiny", str(root / "pconv")
    )
    cascade = saving.save_generator(
        registry.build_generator("cascade", "tiny"), "cascade", "tiny", str(root / "cascade")
    )
    return pconv, cascade


@pytest.mark.parametrize("shape", sorted(JSON_SHAPES))
def test_generator_descriptions_of_any_shape(saved, tmp_path, shape):
    text, expected = JSON_SHAPES[shape]
    path = tmp_path / "generator.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=expected):
        inference.load_generator(str(path))


FIELD_DAMAGE = {
    "config_string": ({"config": "not a dict"}, "'config' in .* is a string"),
    "config_list": ({"config": [1]}, "'config' in .* is a list"),
    "model_number": ({"model": 5}, "'model' in .* is a number"),
    "model_unknown": ({"model": "unet"}, "Unknown model 'unet'"),
    "weights_path": ({"weights": "../elsewhere.weights.h5"}, "a file beside it"),
    "ensemble_string": ({"ensemble": "yes"}, "'ensemble' in .* is a string"),
    "unknown_config_key": ({"config": {"bogus_key": 1}}, "Unknown config key.*'bogus_key'"),
}


@pytest.mark.parametrize("damage", sorted(FIELD_DAMAGE))
def test_generator_description_fields(saved, tmp_path, damage):
    pconv_json, _ = saved
    description = json.loads(open(pconv_json).read())
    change, expected = FIELD_DAMAGE[damage]
    for key, value in change.items():
        if key == "config" and isinstance(value, dict):
            description["config"].update(value)
        else:
            description[key] = value
    shutil.copy(os.path.join(os.path.dirname(pconv_json), "generator.weights.h5"), tmp_path)
    (tmp_path / "generator.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match=expected):
        inference.load_generator(str(tmp_path / "generator.json"))


def _weights_damage(kind, weights_path, other_weights_path):
    data = open(weights_path, "rb").read()
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "zero_bytes":
        return b""
    if kind == "random_bytes":
        return np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes()
    if kind == "text":
        return b"not an HDF5 file\n"
    if kind == "other_family":
        return open(other_weights_path, "rb").read()
    raise AssertionError(kind)


WEIGHTS_DAMAGE = {
    "truncated": "damaged or truncated",
    "zero_bytes": "is empty",
    "random_bytes": "not an HDF5 file",
    "text": "not an HDF5 file",
    "other_family": "does not fit the pconv generator.*another family or architecture",
}


@pytest.mark.parametrize("kind", sorted(WEIGHTS_DAMAGE))
def test_weights_files(saved, tmp_path, kind):
    pconv_json, cascade_json = saved
    weights = os.path.join(os.path.dirname(pconv_json), "generator.weights.h5")
    other = os.path.join(os.path.dirname(cascade_json), "generator.weights.h5")
    shutil.copy(pconv_json, tmp_path / "generator.json")
    (tmp_path / "generator.weights.h5").write_bytes(_weights_damage(kind, weights, other))
    with pytest.raises(ValueError, match=WEIGHTS_DAMAGE[kind]) as error:
        inference.load_generator(str(tmp_path))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("shape", ["list", "string", "null", "empty", "truncated"])
def test_list_checkpoints_says_what_is_wrong(saved, tmp_path, monkeypatch, shape):
    pconv_json, _ = saved
    text, expected = JSON_SHAPES[shape]
    shutil.copy(
        os.path.join(os.path.dirname(pconv_json), "generator.weights.h5"),
        tmp_path / "broken.weights.h5",
    )
    (tmp_path / "broken.json").write_text(text)
    (tmp_path / "manifest.json").write_text("[1]")  # Not a checkpoint: no weights beside it.
    monkeypatch.setenv(inference.CHECKPOINTS_DIR_ENV, str(tmp_path))
    listing = inference.list_checkpoints()
    assert list(listing) == ["broken"]
    assert "missing" not in listing["broken"] and expected in listing["broken"]
    with pytest.raises(ValueError, match=expected):
        inference.load_generator("broken")


@pytest.mark.parametrize("kind", ("fifo", "socket"))
def test_load_generator_names_non_regular_paths(tmp_path, kind):
    path = bad_files.SPECIAL_MAKERS[kind](str(tmp_path / "generator.json"))
    with pytest.raises(ValueError, match=f"is a.*{bad_files.SPECIAL_KIND_WORDS[kind]}"):
        inference.load_generator(path)


@pytest.mark.parametrize("kind", ("regular", "fifo", "socket"))
def test_checkpoints_folder_variable_naming_a_non_folder(tmp_path, monkeypatch, kind):
    path = str(tmp_path / "ckpts")
    if kind == "regular":
        open(path, "w").close()
    else:
        bad_files.SPECIAL_MAKERS[kind](path)
    monkeypatch.setenv(inference.CHECKPOINTS_DIR_ENV, path)
    with pytest.raises(ValueError, match=r"TFINPAINT_CHECKPOINTS_DIR\) is a .*not a folder"):
        inference.load_generator("nosuchname")


# --- The mask rule ----------------------------------------------------------------------------


def _rect(dtype=np.uint8, value=1, shape=(20, 30)):
    hole_mask = np.zeros(shape, dtype)
    hole_mask[5:10, 6:18] = value
    return hole_mask


MASKS = {
    "zero_one_8bit": (_rect(np.uint8, 1), 60),
    "zero_one_16bit": (_rect(np.uint16, 1), 60),
    "zero_one_rgb": (np.dstack([_rect(np.uint8, 1)] * 3), 60),
    "zero_one_rgba_opaque": (
        np.dstack([_rect(np.uint8, 1)] * 3 + [np.full((20, 30), 255, np.uint8)]),
        60,
    ),
    "full_range_8bit": (_rect(np.uint8, 255), 60),
    "full_range_16bit": (_rect(np.uint16, 65535), 60),
    "all_zero": (np.zeros((20, 30), np.uint8), 0),
    "all_zero_16bit": (np.zeros((20, 30), np.uint16), 0),
}


@pytest.mark.parametrize("name", sorted(MASKS))
def test_mask_values(tmp_path, name):
    array, holes = MASKS[name]
    path = str(tmp_path / f"{name}.png")
    cv2.imwrite(path, array)
    assert int(inference.read_hole_mask(path).sum()) == holes
    black = inference.read_hole_mask(path, "hole_black")
    assert int(black.sum()) == (600 - holes if "rgba" not in name else 600 - holes)


COLOUR_MASKS = {
    "red_strokes_on_photo": lambda: _photo_with_strokes((0, 0, 255)),
    "green_strokes": lambda: _photo_with_strokes((0, 255, 0)),
    "blue_on_black": lambda: np.dstack([_rect(np.uint8, 255), np.zeros((20, 30, 2), np.uint8)]),
    "colour_16bit": lambda: np.dstack(
        [_rect(np.uint16, 65535), np.zeros((20, 30), np.uint16), _rect(np.uint16, 20000)]
    ),
}


def _photo_with_strokes(bgr):
    photo = np.random.default_rng(0).integers(100, 140, (20, 30, 3), np.uint8)
    photo[5:10, 6:18] = bgr
    return photo


@pytest.mark.parametrize("name", sorted(COLOUR_MASKS))
def test_colour_masks_are_refused(tmp_path, name):
    path = str(tmp_path / f"{name}.png")
    cv2.imwrite(path, COLOUR_MASKS[name]())
    with pytest.raises(ValueError, match="is in colour.*expected a grayscale mask"):
        inference.read_hole_mask(path)
    with pytest.raises(ValueError, match="is in colour"):
        image_files.read_hole_level(path)


def test_jpeg_noise_on_a_gray_mask_is_not_colour(tmp_path):
    path = str(tmp_path / "mask.jpg")
    cv2.imwrite(path, np.dstack([_rect(np.uint8, 255)] * 3), [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert 40 <= int(inference.read_hole_mask(path).sum()) <= 80


def test_check_jobs_warns_about_masks_without_holes(tmp_path):
    image = str(tmp_path / "image.png")
    cv2.imwrite(image, np.full((20, 30, 3), 100, np.uint8))
    for name in ("empty", "holes"):
        cv2.imwrite(
            str(tmp_path / f"{name}.png"),
            MASKS["all_zero" if name == "empty" else "zero_one_8bit"][0],
        )
    jobs = [
        (image, str(tmp_path / "empty.png"), "o1.png"),
        (image, str(tmp_path / "holes.png"), "o2.png"),
    ]
    report = inference.check_jobs(jobs)
    assert len(report["warnings"]) == 1 and "empty.png has no hole pixel" in report["warnings"][0]
    assert report["sizes"] == [(20, 30), (20, 30)]


@pytest.mark.parametrize(
    "name,expected",
    [
        ("all_zero", "have no hole pixel"),
        ("all_zero_16bit", "have no hole pixel"),
        ("red_strokes_on_photo", "is in colour"),
        ("truncated", "could not be decoded"),
    ],
)
def test_mask_sets_check_every_mask_first(tmp_path, name, expected):
    folder = tmp_path / "set"
    folder.mkdir()
    good = np.zeros((32, 32), np.uint8)
    good[4:20, 6:26] = 255
    cv2.imwrite(str(folder / "00000.png"), good)
    if name == "truncated":
        cv2.imwrite(str(folder / "00001.png"), good)
        data = (folder / "00001.png").read_bytes()
        (folder / "00001.png").write_bytes(data[: len(data) // 3])
    else:
        array = MASKS[name][0] if name in MASKS else COLOUR_MASKS[name]()
        cv2.imwrite(str(folder / "00001.png"), cv2.resize(array, (32, 32)))
    with pytest.raises(ValueError, match=rf"of the 2 masks in --mask_dir=.*{expected}"):
        mask_sets.MaskSet(str(folder), 32)


def test_mask_sets_read_zero_one_masks(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    for index, dtype in enumerate((np.uint8, np.uint16)):
        hole_mask = np.zeros((32, 32), dtype)
        hole_mask[4:20, 6:26] = 1
        cv2.imwrite(str(folder / f"{index:05d}.png"), hole_mask)
    read = mask_sets.MaskSet(str(folder), 32).read([0, 1])
    assert read.shape == (2, 32, 32, 1) and read.sum() == 2 * 16 * 20


@pytest.mark.parametrize("damage", ["truncated", "colour", "garbage", "no_hole", "no_hole_16bit"])
def test_irregular_folders_skip_damaged_masks(tmp_path, damage, caplog):
    folder = tmp_path / "masks"
    folder.mkdir()
    for index in range(3):
        hole_mask = np.zeros((32, 32), np.uint8)
        hole_mask[4 + 4 * index : 20, 6:26] = 255
        cv2.imwrite(str(folder / f"{index}.png"), hole_mask)
    bad = folder / "1.png"
    if damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:60])
    elif damage == "colour":
        cv2.imwrite(str(bad), _photo_with_strokes((0, 0, 255)))
    elif damage == "no_hole":  # A silent 0 % of holes in evaluation, were it drawn.
        cv2.imwrite(str(bad), np.zeros((32, 32), np.uint8))
    elif damage == "no_hole_16bit":
        cv2.imwrite(str(bad), np.full((32, 32), 20000, np.uint16))  # Gray, under 0.5.
    else:
        bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    with caplog.at_level(logging.WARNING):
        for training in (False, True):
            mask_fn = masks.make_mask_fns(f"irregular:{folder}", 32, training=training)[0]
            for seed in range(12):  # Every file is drawn by some seed.
                assert mask_fn(np.array([0, seed]))["masks"].numpy().sum() > 0
    assert "Skipping damaged mask" in caplog.text and "1.png" in caplog.text


def test_irregular_folder_with_no_readable_mask_is_refused(tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    for index in range(2):
        (folder / f"{index}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(100)))
    with pytest.raises(ValueError, match="None of the 2 PNG masks"):
        masks.make_mask_fns(f"irregular:{folder}", 32)


def test_the_traced_estimate_lets_through_what_only_the_bound_refuses():
    generator = registry.build_generator("pconv", "tiny")
    size = (1024, 1536)
    bound = inference.estimate_inpaint_bytes(generator, size)
    traced = inference.estimate_inpaint_bytes(generator, size, traced=True)
    assert 0 < traced < bound
    # Between the two: the bound alone would refuse; the generator's own graph says it fits.
    inference.check_inpaint_memory(generator, [size], "pad", available=(bound + traced) // 2)
    with pytest.raises(ValueError, match="--strategy=tile --max_size="):
        inference.check_inpaint_memory(generator, [size], "pad", available=traced // 2)
    # A self-ensemble batches 5 views of a square image, 3 of another.
    ensemble = SelfEnsemble(generator)
    single = inference.estimate_inpaint_bytes(generator, (64, 96))
    weights_and_image = 4 * generator.count_params() + 48 * 64 * 96
    assert inference.estimate_inpaint_bytes(ensemble, (64, 96)) - weights_and_image == 3 * (
        single - weights_and_image
    )
