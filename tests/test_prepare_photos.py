"""tools/prepare_photos.py and tfinpaint.data.photos: dedup, licences, the fixed split, errors."""

import hashlib
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tfinpaint.data import photos

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _texture(seed, height=300, width=400):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 20, width // 20, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def _write(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


@pytest.fixture
def trees(tmp_path):
    """A KDE wallpaper tree and a DEP-5 package tree, as `dpkg -x` would leave them."""
    kde = tmp_path / "deb_kde"
    package = kde / "usr/share/wallpapers/Hills"
    big = _texture(0, 600, 800)
    _write(str(package / "contents/images/800x600.png"), big)
    os.symlink("800x600.png", package / "contents/images/400x300.png")
    _write(str(package / "contents/images/400x300_small.png"), cv2.resize(big, (400, 300)))
    _write(str(package / "contents/screenshot.png"), cv2.resize(big, (200, 150)))
    with open(package / "metadata.json", "w") as f:
        json.dump({"KPlugin": {"License": "CC-BY-SA-4.0", "Name": "Hills"}}, f)
    os.makedirs(kde / "usr/share/doc/kde-walls")
    (kde / "usr/share/doc/kde-walls/copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: someone\nLicense: GPL-2+\n"
    )
    dep5 = tmp_path / "deb_photos"
    for index in range(6):
        _write(str(dep5 / f"usr/share/backgrounds/photo_{index}.jpg"), _texture(10 + index))
    _write(str(dep5 / "usr/share/backgrounds/flat.png"), np.full((300, 400, 3), 90, np.uint8))
    _write(str(dep5 / "usr/share/backgrounds/tiny.png"), _texture(99, 100, 120))
    # The same picture as photo_0 at half size: a near-duplicate across files.
    _write(
        str(dep5 / "usr/share/backgrounds/photo_0_small.png"), cv2.resize(_texture(10), (200, 150))
    )
    os.makedirs(dep5 / "usr/share/doc/photo-pack")
    (dep5 / "usr/share/doc/photo-pack/copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: a\nLicense: GPL-2+\n\n"
        "Files: usr/share/backgrounds/photo_*\nCopyright: b\nLicense: CC-BY-4.0\n"
    )
    return kde, dep5


def _digests(folder):
    result = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                result[path] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return result


def test_prepare_photos_dedups_licences_and_splits(trees, tmp_path):
    kde, dep5 = trees
    before = _digests(tmp_path)
    output = tmp_path / "out"
    manifest = photos.prepare_photos(
        [str(kde), str(dep5)],
        str(output),
        short_side=128,
        val_fraction=0.5,
        min_short_side=140,
        exclude=["*/screenshot.*"],
        train_only=["*/wallpapers/*"],
        progress=None,
    )
    assert _digests(tmp_path / "deb_kde") == {k: v for k, v in before.items() if "deb_kde" in k}
    assert _digests(tmp_path / "deb_photos") == {
        k: v for k, v in before.items() if "deb_photos" in k
    }
    kept = {os.path.basename(f["source"]): f for f in manifest["files"]}
    # One picture per KDE package (its largest real file), one per near-duplicate group.
    assert set(kept) == {"800x600.png"} | {f"photo_{i}.jpg" for i in range(6)}
    reasons = {os.path.basename(d["source"]): d["reason"] for d in manifest["dropped"]}
    assert reasons["screenshot.png"] == "excluded by pattern"
    assert reasons["flat.png"].startswith("flat")
    assert reasons["tiny.png"].startswith("short side 100")
    assert reasons["photo_0_small.png"].startswith("duplicate of")
    assert reasons["400x300.png"].startswith("duplicate of")
    assert kept["800x600.png"]["licence"] == "CC-BY-SA-4.0"
    assert kept["800x600.png"]["split"] == "train"  # train_only
    assert kept["photo_1.jpg"]["licence"] == "CC-BY-4.0"
    assert kept["photo_1.jpg"]["package"] == "photo-pack"
    for entry in manifest["files"]:
        image = cv2.imread(str(output / entry["output"]))
        assert min(image.shape[:2]) == 128
        assert entry["sha256"] == before[entry["source"]]
    splits = {entry["split"] for entry in manifest["files"]}
    assert splits == {"train", "val"}
    on_disk = json.load(open(output / "manifest.json"))
    assert on_disk["num_train"] + on_disk["num_val"] == len(kept)
    # The split depends only on names and seed: a second run gives the same one.
    again = photos.prepare_photos(
        [str(kde), str(dep5)],
        str(tmp_path / "out2"),
        short_side=128,
        val_fraction=0.5,
        min_short_side=140,
        exclude=["*/screenshot.*"],
        train_only=["*/wallpapers/*"],
        progress=None,
    )
    assert [f["output"] for f in again["files"]] == [f["output"] for f in manifest["files"]]


def test_prepare_photos_refuses_bad_input(trees, tmp_path):
    kde, _ = trees
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an empty folder"):
        photos.prepare_photos([str(kde)], str(occupied), progress=None)
    assert (occupied / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="is not a folder"):
        photos.prepare_photos([str(tmp_path / "missing")], str(tmp_path / "o1"), progress=None)
    with pytest.raises(ValueError, match="val_fraction"):
        photos.prepare_photos([str(kde)], str(tmp_path / "o2"), val_fraction=1.5, progress=None)
    with pytest.raises(ValueError, match="No image left"):
        photos.prepare_photos([str(kde)], str(tmp_path / "o3"), min_short_side=5000, progress=None)


def test_prepare_photos_tool(trees, tmp_path):
    kde, dep5 = trees
    command = [sys.executable, os.path.join(ROOT, "tools", "prepare_photos.py")]
    result = subprocess.run(
        command
        + [
            f"--input={kde},{dep5}",
            f"--output={tmp_path / 'out'}",
            "--short_side=96",
            "--min_short_side=140",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "training and" in result.stdout
    result = subprocess.run(
        command + [f"--input={kde}", f"--output={tmp_path / 'out'}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Error: Output" in result.stderr + result.stdout


def test_difference_hash_matches_resized_copies():
    image = _texture(3, 300, 400)
    resized = cv2.resize(image, (200, 150), interpolation=cv2.INTER_AREA)
    other = _texture(4, 300, 400)
    same = bin(photos.difference_hash(image) ^ photos.difference_hash(resized)).count("1")
    different = bin(photos.difference_hash(image) ^ photos.difference_hash(other)).count("1")
    assert same <= 4 < 16 <= different
