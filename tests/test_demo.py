"""tools/demo.py's pure functions, without Gradio or a browser (test_demo_browser.py drives the
page): the hole mask read from the editor's layers, the checks before any work, and the
full-size fill whose known pixels are the upload's byte for byte."""

import importlib.util
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("tfinpaint_demo_tool", f"{ROOT}/tools/demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_never_imports_gradio(demo):
    # Neither does the tool until it builds the page; nothing else in the suite imports it.
    import tfinpaint  # noqa: F401 (imports every subpackage)

    assert "gradio" not in sys.modules


def test_the_page_opens_on_a_shipped_checkpoint_and_a_classical_fill_it_offers(demo):
    from tfinpaint import inference, postprocess

    assert demo.DEFAULT_CHECKPOINT in inference.list_checkpoints()
    assert demo.flags.FLAGS["checkpoint"].default == demo.DEFAULT_CHECKPOINT
    assert demo.DEFAULT_CLASSICAL in postprocess.CLASSICAL_METHODS


def _layer(height, width, painted):
    layer = np.zeros((height, width, 4), np.uint8)
    layer[painted] = (255, 0, 255, 255)
    return layer


def test_holes_are_wherever_a_layer_is_painted_at_the_photos_size(demo):
    painted = np.zeros((8, 10), bool)
    painted[2:4, 3:7] = True
    faint = _layer(8, 10, np.zeros((8, 10), bool))
    faint[6, 1, 3] = 1  # An antialiased edge: still a hole.
    holes = demo.hole_mask_from_layers([_layer(8, 10, painted), faint], (8, 10, 3))
    expected = painted.copy()
    expected[6, 1] = True
    np.testing.assert_array_equal(holes, expected)
    assert not demo.hole_mask_from_layers([], (8, 10, 3)).any()
    # A canvas the browser scaled by 2 maps back by nearest neighbour.
    big = np.repeat(np.repeat(_layer(8, 10, painted), 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(demo.hole_mask_from_layers([big], (8, 10, 3)), painted)
    # A layer without alpha counts where it is not black.
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[painted] = 200
    np.testing.assert_array_equal(demo.hole_mask_from_layers([rgb], (8, 10, 3)), painted)


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_photo", "No photo yet"),
        ("no_hole", "No hole painted"),
        ("all_holes", "Every pixel is painted"),
        ("bad_strategy", "expected one of"),
    ],
)
def test_requests_the_page_cannot_run_are_refused_in_one_sentence(demo, case, message):
    image = np.zeros((8, 8, 3), np.uint8)
    holes = np.zeros((8, 8), bool)
    holes[2, 2] = True
    strategy = "pad"
    if case == "no_photo":
        image = None
    elif case == "no_hole":
        holes[:] = False
    elif case == "all_holes":
        holes[:] = True
    elif case == "bad_strategy":
        strategy = "sideways"
    with pytest.raises(ValueError, match=message):
        demo.check_request(image, holes, strategy, 64)


def test_load_photo_refuses_non_images_and_photos_over_max_pixels(demo, tmp_path):
    (tmp_path / "notes.png").write_text("not an image\n")
    with pytest.raises(ValueError, match="Could not decode"):
        demo.load_photo(str(tmp_path / "notes.png"), max_pixels=10_000)
    big = str(tmp_path / "big.png")
    demo.write_png(str(tmp_path), "big.png", np.zeros((120, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="max_pixels"):
        demo.load_photo(big, max_pixels=10_000)
    assert demo.load_photo(big, max_pixels=12_000).shape == (120, 100, 3)
    assert "astronaut.png" in demo.sample_photos()


@pytest.mark.parametrize("strategy", ["pad", "tile"])
def test_the_downloaded_png_keeps_every_known_pixel_byte_for_byte(demo, tmp_path, strategy):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)  # Not a size multiple.
    holes = np.zeros((45, 70), bool)
    holes[10:25, 20:50] = True
    cache = demo.GeneratorCache(1)
    generator = cache.get("pconv_small_photos", False)
    assert cache.get("pconv_small_photos", False) is generator  # Loaded once.
    result = demo.network_fill(generator, image, holes, strategy, 64)  # 2 tiles wide
    path = demo.write_png(str(tmp_path), "result.png", result)
    downloaded = demo.load_photo(path, max_pixels=None)
    assert downloaded.shape == image.shape
    np.testing.assert_array_equal(downloaded[~holes], image[~holes])
    assert (downloaded[holes] != image[holes]).any(axis=-1).mean() > 0.5
