"""Qt resource files (gcompris-qt-data's pictures) and the GCompris photograph rule."""

import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from tfinpaint.data import photos, qt_resources


def _write_rcc(path, files, version=3, compress=()):
    """A Qt binary resource file written from the format's definition (Qt's rcc.cpp).

    `files` maps "/a/b/c.ext" to bytes. Nodes: name offset (4), flags (2), then a directory's
    child count (4) and first child index (4), or a file's country (2), language (2) and data
    offset (4); from version 2 every node adds an 8-byte modification time. Children of a
    directory are consecutive, sorted by name hash in Qt; any order reads the same here.
    """
    tree = {}
    for name, content in files.items():
        node = tree
        parts = name.strip("/").split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = content
    names, name_offsets = bytearray(), {}
    payload = bytearray()

    def name_offset(name):
        if name not in name_offsets:
            name_offsets[name] = len(names)
            encoded = name.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(name), 0) + encoded)
        return name_offsets[name]

    # Breadth-first numbering, as rcc writes it: node 0 is the root.
    nodes = [("", tree, None)]
    index = 0
    records = []
    while index < len(nodes):
        name, value, full = nodes[index]
        if isinstance(value, dict):
            first = len(nodes)
            for child in sorted(value):
                nodes.append((child, value[child], f"{full or ''}/{child}"))
            record = struct.pack(">IHII", name_offset(name), 2, len(value), first)
        else:
            flags = 0
            data = value
            if full in compress:
                flags = 1
                data = struct.pack(">I", len(value)) + zlib.compress(value)
            record = struct.pack(">IHHHI", name_offset(name), flags, 0, 0, len(payload))
            payload.extend(struct.pack(">I", len(data)) + data)
        if version >= 2:
            record += struct.pack(">Q", 0)
        records.append(record)
        index += 1
    header_size = 24 if version >= 3 else 20
    tree_bytes = b"".join(records)
    tree_offset = header_size
    data_offset = tree_offset + len(tree_bytes)
    names_offset = data_offset + len(payload)
    header = b"qres" + struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    if version >= 3:
        header += struct.pack(">I", 0)
    with open(path, "wb") as rcc:
        rcc.write(header + tree_bytes + bytes(payload) + bytes(names))


@pytest.mark.parametrize("version", [1, 2, 3])
def test_read_rcc_returns_every_member_uncompressed(tmp_path, version):
    files = {
        "/gcompris/src/activities/erase/resource/a.webp": b"first" * 10,
        "/gcompris/src/activities/erase/resource/b.png": bytes(range(256)),
        "/gcompris/src/activities/erase/Erase.qml": b"import QtQuick 2.12",
    }
    path = tmp_path / "erase.rcc"
    _write_rcc(path, files, version, compress={"/gcompris/src/activities/erase/resource/b.png"})
    assert dict(qt_resources.read_rcc(str(path))) == files


def test_read_rcc_refuses_what_it_cannot_read(tmp_path):
    not_rcc = tmp_path / "x.rcc"
    not_rcc.write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(ValueError, match="not a Qt resource file"):
        qt_resources.read_rcc(str(not_rcc))
    good = tmp_path / "good.rcc"
    _write_rcc(good, {"/a/b.png": b"x" * 100})
    truncated = tmp_path / "truncated.rcc"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(ValueError, match="truncated"):
        qt_resources.read_rcc(str(truncated))
    future = tmp_path / "future.rcc"
    future.write_bytes(b"qres" + struct.pack(">I", 9) + good.read_bytes()[8:])
    with pytest.raises(ValueError, match="version 9"):
        qt_resources.read_rcc(str(future))
    zstd = bytearray(good.read_bytes())
    # The file node is node 2 (root, "a", "b.png"); its flags follow its 4-byte name offset.
    struct.pack_into(">H", zstd, 24 + 2 * 22 + 4, 4)
    (tmp_path / "zstd.rcc").write_bytes(bytes(zstd))
    with pytest.raises(ValueError, match="zstd"):
        qt_resources.read_rcc(str(tmp_path / "zstd.rcc"))


def test_photo_rule_is_by_activity_and_extension():
    photo = "/gcompris/src/activities/explore_monuments/resource/wonders/petra.webp"
    assert qt_resources.is_gcompris_photo_member(photo)
    assert qt_resources.gcompris_activity(photo) == "explore_monuments"
    assert not qt_resources.is_gcompris_photo_member(photo.replace(".webp", ".svg"))
    assert not qt_resources.is_gcompris_photo_member(
        "/gcompris/src/activities/details/resource/image/Gogh4_background.webp"
    )
    assert qt_resources.copyright_relative(photo) == (
        "src/activities/explore_monuments/resource/wonders/petra.webp"
    )


def _encoded(extension, image):
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


def test_prepare_photos_takes_the_photographs_out_of_gcompris_resources(tmp_path):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (320, 300, 3), dtype=np.uint8)
    cut_out = np.dstack([other, np.full(other.shape[:2], 255, np.uint8)])
    cut_out[:10, :10, 3] = 0  # A transparent corner: a cut-out, not a photograph.
    opaque = np.dstack([photo[:, ::-1], np.full(photo.shape[:2], 255, np.uint8)])
    tree = tmp_path / "deb_gcompris-qt-data"
    rcc_folder = tree / "usr/share/gcompris-qt/rcc"
    rcc_folder.mkdir(parents=True)
    doc = tree / "usr/share/doc/gcompris-qt-data"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2014 someone\nLicense: GPL-3+\n\n"
        "Files: src/activities/erase/resource/*.jpg\nCopyright: 2015 someone else\n"
        "License: CC-BY-SA-4.0\n"
    )
    prefix = "/gcompris/src/activities"
    _write_rcc(
        rcc_folder / "erase.rcc",
        {
            f"{prefix}/erase/resource/calf.jpg": _encoded(".jpg", photo),
            f"{prefix}/erase/resource/cutout.png": _encoded(".png", cut_out),
            f"{prefix}/erase/resource/opaque.png": _encoded(".png", opaque),
            f"{prefix}/erase/resource/tiny.png": _encoded(".png", photo[:100, :100]),
            f"{prefix}/erase/Erase.qml": b"import QtQuick 2.12",
        },
        compress={f"{prefix}/erase/resource/opaque.png"},
    )
    _write_rcc(
        rcc_folder / "details.rcc",
        {f"{prefix}/details/resource/painting.png": _encoded(".png", other)},
    )
    before = {p: p.read_bytes() for p in rcc_folder.iterdir()}
    manifest = photos.prepare_photos(
        [str(tree)], str(tmp_path / "out"), short_side=256, val_fraction=0.0, progress=None
    )
    assert {p: p.read_bytes() for p in rcc_folder.iterdir()} == before  # Inputs only read.
    kept = {f["output"]: f for f in manifest["files"]}
    assert sorted(kept) == ["train/gcompris_erase_calf.png", "train/gcompris_erase_opaque.png"]
    calf = kept["train/gcompris_erase_calf.png"]
    assert calf["package"] == "gcompris-qt-data"
    assert calf["licence"] == "CC-BY-SA-4.0"  # The specific stanza, matched on the source path.
    assert kept["train/gcompris_erase_opaque.png"]["licence"] == "GPL-3+"
    assert calf["source"].endswith("erase.rcc::/gcompris/src/activities/erase/resource/calf.jpg")
    assert calf["source_size"] == [300, 400] and calf["size"] == [256, 341]
    reasons = {d["source"].rsplit("/", 1)[-1]: d["reason"] for d in manifest["dropped"]}
    assert reasons["cutout.png"].startswith("not a photograph: transparent pixels")
    assert reasons["tiny.png"].startswith("short side 100")
    assert not any("painting" in source for source in reasons)  # Not a photo activity.
    written = cv2.imread(str(tmp_path / "out/train/gcompris_erase_opaque.png"))
    assert written.shape == (256, 341, 3)
    assert json.loads((tmp_path / "out/manifest.json").read_text())["num_train"] == 2
