"""The "crop" and "auto" strategies: context windows around the holes of large photos."""

import numpy as np
import pytest

from tfinpaint.inference import regions


def _covers(windows, holes):
    covered = np.zeros_like(holes)
    for top, left, bottom, right in windows:
        assert not covered[top:bottom, left:right].any(), "windows overlap"
        covered[top:bottom, left:right] = True
    return covered[holes].all()


def test_windows_hold_each_region_with_context_and_never_overlap():
    holes = np.zeros((3000, 4000), bool)
    holes[100:140, 200:900] = True  # A long horizontal stroke near the top.
    holes[2000:2300, 3000:3050] = True  # A vertical one ...
    holes[2100:2120, 2800:2900] = True  # ... with a short one beside it: windows merge.
    windows = regions.hole_windows(holes, 256, context=3.0)
    assert _covers(windows, holes)
    assert len(windows) == 2
    first, second = windows
    # The stroke's box is 40 x 700: the window is 3x on each axis, at least 256, inside the image.
    assert first == (0, 0, 256, 2100)
    top, left, bottom, right = second
    assert bottom - top >= 900 and right - left >= 256
    assert regions.windows_area(windows) < 0.1 * holes.size


def test_windows_are_clipped_to_small_images_and_join_specks():
    holes = np.zeros((100, 150), bool)
    holes[10:12, 10:12] = True
    assert regions.hole_windows(holes, 256) == [(0, 0, 100, 150)]
    assert regions.hole_windows(np.zeros((50, 50), bool), 256) == []
    # Specks closer than `join` are one region: one window, not one per speck.
    specks = np.zeros((1000, 1000), bool)
    specks[500:520:4, 500:520:4] = True
    assert len(regions.hole_windows(specks, 256)) == 1
    assert len(regions.hole_windows(specks, 256, join=1, context=1.0)) == 1  # Still overlapping.


@pytest.mark.parametrize("seed", range(5))
def test_random_masks_are_always_covered_without_overlap(seed):
    rng = np.random.default_rng(seed)
    holes = np.zeros((int(rng.integers(50, 900)), int(rng.integers(50, 900))), bool)
    for _ in range(int(rng.integers(1, 12))):
        top, left = rng.integers(0, holes.shape[0]), rng.integers(0, holes.shape[1])
        holes[top : top + int(rng.integers(1, 80)), left : left + int(rng.integers(1, 80))] = True
    windows = regions.hole_windows(holes, int(rng.integers(16, 300)), context=rng.uniform(1, 4))
    assert _covers(windows, holes)
    for top, left, bottom, right in windows:
        assert 0 <= top < bottom <= holes.shape[0] and 0 <= left < right <= holes.shape[1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="context"):
        regions.hole_windows(np.ones((4, 4), bool), 4, context=0.5)
    with pytest.raises(ValueError, match="min_side"):
        regions.hole_windows(np.ones((4, 4), bool), 0)
    with pytest.raises(ValueError, match=r"expected \(H, W\)"):
        regions.hole_windows(np.ones((4, 4, 1), bool), 4)


# --- The strategies, with a network ---------------------------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import cv2  # noqa: E402

from tfinpaint import inference  # noqa: E402
from tfinpaint.inference import strategies  # noqa: E402
from tfinpaint.models import registry  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def generator():
    return registry.build_generator("pconv", "tiny")


def _photo(height, width, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def test_crop_runs_each_window_as_its_own_image(generator):
    image = _photo(600, 900)
    holes = np.zeros((600, 900), bool)
    holes[50:70, 100:160] = True  # Window of 64 px (3x the box, at least min_window).
    holes[400:430, 700:720] = True
    chosen = []
    result = inference.inpaint(
        generator, image, holes, strategy="crop", max_size=256, min_window=64,
        on_strategy=lambda *a: chosen.append(a),
    )  # fmt: skip
    assert chosen == [("crop", 256, "")]
    np.testing.assert_array_equal(result[~holes], image[~holes])
    for top, left, bottom, right in regions.hole_windows(holes, 64):
        alone = inference.inpaint(
            generator, image[top:bottom, left:right], holes[top:bottom, left:right]
        )
        window_holes = holes[top:bottom, left:right]
        np.testing.assert_array_equal(
            result[top:bottom, left:right][window_holes], alone[window_holes]
        )


def test_crop_downscales_only_windows_larger_than_max_size(generator):
    image = _photo(300, 900)
    holes = np.zeros((300, 900), bool)
    holes[140:150, 100:800] = True  # A long stroke: a window of 900 px, over max_size.
    result = inference.inpaint(
        generator, image, holes, strategy="crop", max_size=128, min_window=32
    )
    expected = inference.inpaint(generator, image, holes, strategy="resize", max_size=128)
    (window,) = regions.hole_windows(holes, 32)
    assert window == (129, 0, 161, 900)  # 3 x 10 rows, at least 32; the whole width.
    np.testing.assert_array_equal(result[~holes], image[~holes])
    # The window, not the whole image, was downscaled: its fill differs from a whole resize.
    assert np.abs(result.astype(int) - expected.astype(int))[holes].max() > 0


def test_auto_rule():
    big = np.zeros((2000, 3000), bool)
    small = np.zeros((500, 500), bool)
    small[200:260, 100:400] = True  # 30 px deep: shallow for a network trained at 256 px.
    assert regions.choose_strategy(small, 512, 256)[0] == "pad"
    assert regions.choose_strategy(small, 512, 256, pad_fits=False)[0] != "pad"
    # Holes deeper than the network fills at full resolution are cropped (and downscaled).
    deep = np.zeros((500, 500), bool)
    deep[150:350, 100:400] = True  # 100 px deep.
    strategy, reason = regions.choose_strategy(deep, 512, 256)
    assert strategy == "crop" and "deep" in reason
    strokes = big.copy()
    strokes[100:120, 200:600] = True
    strokes[1500:1700, 2500:2520] = True
    strategy, reason = regions.choose_strategy(strokes, 512, 256)
    assert strategy == "crop" and reason.startswith("2 window(s), over")
    spread = big.copy()
    spread[::400, :] = True  # Lines across the whole image: windows everywhere.
    assert regions.choose_strategy(spread[:1100, :1100], 512, 256)[0] == "tile"
    assert regions.choose_strategy(spread, 512, 256)[0] == "resize"  # 20+ tiles with holes.


def test_auto_picks_per_image_and_keeps_known_pixels(generator):
    calls = []
    image = _photo(64, 96)
    holes = np.zeros((64, 96), bool)
    holes[10:30, 20:50] = True
    small = inference.inpaint(
        generator, image, holes, strategy="auto", on_strategy=lambda *a: calls.append(a)
    )
    np.testing.assert_array_equal(small, inference.inpaint(generator, image, holes))
    image = _photo(1100, 1200)
    holes = np.zeros((1100, 1200), bool)
    holes[500:520, 600:640] = True
    large = inference.inpaint(
        generator, image, holes, strategy="auto", max_size=256, min_window=64,
        on_strategy=lambda *a: calls.append(a),
    )  # fmt: skip
    np.testing.assert_array_equal(large[~holes], image[~holes])
    assert [c[0] for c in calls] == ["pad", "crop"]
    assert calls[1][1] == 256 and calls[0][1] is None
    with pytest.raises(ValueError, match="min_window"):
        inference.inpaint(generator, image, holes, strategy="crop", min_window=0)
    assert strategies.resolve_strategy(generator, holes, "crop") == (
        "crop",
        inference.DEFAULT_MAX_SIZE,
        "",
    )


def test_inpaint_tool_says_what_auto_chose(generator, tmp_path):
    from tfinpaint.models import save_generator

    json_path = save_generator(generator, "pconv", "tiny", str(tmp_path), extra={"image_size": 32})
    image = _photo(64, 96)
    mask = np.zeros((64, 96), np.uint8)
    mask[10:14, 20:50] = 255  # 2 px deep: shallow enough at the model's 32 px.
    cv2.imwrite(str(tmp_path / "photo.png"), image)
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    result = subprocess.run(
        [
            sys.executable, os.path.join(REPO, "tools", "inpaint.py"),
            f"--checkpoint={json_path}", f"--image={tmp_path / 'photo.png'}",
            f"--mask={tmp_path / 'mask.png'}", f"--output={tmp_path / 'out.png'}",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "auto: pad, 64x96 is at most 1.0 MP" in result.stdout


def test_hole_depth():
    holes = np.zeros((100, 100), bool)
    assert regions.hole_depth(holes) == 0.0
    holes[40:61, :] = True  # A band 21 rows high: its middle row is 11 rows from known pixels.
    assert regions.hole_depth(holes) == pytest.approx(11.0, abs=0.1)
    assert regions.max_hole_depth(256) == 48


def test_crop_downscales_windows_whose_holes_are_too_deep(generator):
    image = _photo(400, 400)
    holes = np.zeros((400, 400), bool)
    holes[150:250, 100:300] = True  # 50 px deep against 12 for min_window=64.
    (window,) = regions.hole_windows(holes, 64)
    result = inference.inpaint(
        generator, image, holes, strategy="crop", max_size=512, min_window=64
    )
    np.testing.assert_array_equal(result[~holes], image[~holes])
    # What the window gives alone at full resolution differs: it was downscaled.
    top, left, bottom, right = window
    alone = inference.inpaint(
        generator, image[top:bottom, left:right], holes[top:bottom, left:right]
    )
    assert np.any(result[top:bottom, left:right] != alone)
