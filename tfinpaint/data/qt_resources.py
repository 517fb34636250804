"""Reads Qt binary resource files (`.rcc`), and picks the photographs inside GCompris' ones.

Debian's `gcompris-qt-data` ships its pictures packed in `usr/share/gcompris-qt/rcc/*.rcc`,
one file per activity. The format (Qt's `rcc` tool, `src/tools/rcc/rcc.cpp`, format versions
1-3) is a header (`qres`, version, tree offset, data offset, names offset, and from version 3 a
flags word), a tree of fixed-size nodes (14 bytes in version 1, 22 from version 2, which adds
a modification time), a names table (big-endian UTF-16 names with their length and hash) and a
data table (each file's 32-bit length, then its bytes; zlib-compressed files, flag 1, start with
their 32-bit uncompressed length, as `qCompress` writes them).

Which GCompris pictures are photographs is a documented rule, not a guess per picture:
- only the activities whose pictures are photographs of real scenes (`PHOTO_ACTIVITIES`:
  monuments, animals, musical instruments and musicians, objects to sort, the underwater
  backgrounds of the fish game, the animals of the "erase" game); drawings, cartoons, paintings
  (the "details" and "babyshapes" activities show paintings), renders (the solar system) and
  textures live in the other activities;
- a picture with any transparent pixel is a cut-out or a drawing, and is left out
  (`has_transparency`).
`tfinpaint.data.photos.prepare_photos` applies the rule to every `.rcc` file under its inputs.
"""

import re
import struct
import zlib

__all__ = [
    "PHOTO_ACTIVITIES",
    "IMAGE_EXTENSIONS",
    "read_rcc",
    "gcompris_activity",
    "is_gcompris_photo_member",
    "copyright_relative",
]

# Activities of GCompris 3.x whose pictures are photographs (checked by eye on contact sheets
# of every picture of gcompris-qt-data 3.1 with a short side of at least 256 px: 132 pictures).
PHOTO_ACTIVITIES = (
    "categorization",
    "clickgame",
    "erase",
    "explore_farm_animals",
    "explore_monuments",
    "explore_world_animals",
    "explore_world_music",
)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
_ACTIVITY = re.compile(r"/src/activities/([^/]+)/")
_COMPRESSED = 0x01
_DIRECTORY = 0x02
_COMPRESSED_ZSTD = 0x04


def _unpack(fmt, data, offset, path):
    try:
        return struct.unpack_from(fmt, data, offset)
    except struct.error:
        raise ValueError(f"{path} is not a readable Qt resource file (truncated).") from None


def read_rcc(path):
    """Every file in a Qt binary resource file.

    Args:
        path: str. A `.rcc` file.

    Returns:
        A list of (name, bytes) in tree order; names are absolute resource paths such as
        "/gcompris/src/activities/erase/resource/calf.webp". Compressed members come back
        uncompressed.

    Raises:
        ValueError: not a Qt resource file, an unknown format version, a truncated file, or a
            member compressed with zstd (which needs a library this package does not use).
    """
    with open(path, "rb") as resource_file:
        data = resource_file.read()
    if data[:4] != b"qres":
        raise ValueError(f"{path} is not a Qt resource file (no 'qres' header).")
    version, tree, payload, names = _unpack(">IIII", data, 4, path)
    if version not in (1, 2, 3):
        raise ValueError(f"{path} is a Qt resource file of version {version}; expected 1-3.")
    node_size = 14 if version == 1 else 22

    def name_at(offset):
        (length,) = _unpack(">H", data, names + offset, path)
        start = names + offset + 6  # Length (2 bytes) and hash (4 bytes).
        return data[start : start + 2 * length].decode("utf-16-be")

    members, pending, seen = [], [(0, "")], set()
    while pending:
        index, prefix = pending.pop()
        if index in seen:  # A malformed tree must not loop forever.
            raise ValueError(f"{path} is not a readable Qt resource file (cyclic tree).")
        seen.add(index)
        offset = tree + index * node_size
        name_offset, flags = _unpack(">IH", data, offset, path)
        name = name_at(name_offset) if index else ""
        if flags & _DIRECTORY:
            count, first = _unpack(">II", data, offset + 6, path)
            pending.extend(
                (child, f"{prefix}{name}/") for child in reversed(range(first, first + count))
            )
            continue
        (data_offset,) = _unpack(">I", data, offset + 10, path)
        (size,) = _unpack(">I", data, payload + data_offset, path)
        content = data[payload + data_offset + 4 : payload + data_offset + 4 + size]
        if len(content) != size:
            raise ValueError(f"{path} is not a readable Qt resource file (truncated).")
        if flags & _COMPRESSED_ZSTD:
            raise ValueError(f"{path}: {prefix}{name} is zstd-compressed, which is not supported.")
        if flags & _COMPRESSED:
            content = zlib.decompress(content[4:])
        members.append((prefix + name, content))
    return members


def gcompris_activity(member):
    """The activity folder of a GCompris resource path, or None."""
    match = _ACTIVITY.search(member)
    return match.group(1) if match else None


def is_gcompris_photo_member(member):
    """Whether a resource path is a picture of one of the `PHOTO_ACTIVITIES`."""
    return (
        member.lower().endswith(IMAGE_EXTENSIONS) and gcompris_activity(member) in PHOTO_ACTIVITIES
    )


def copyright_relative(member):
    """The path a DEP-5 `Files:` pattern of gcompris-qt matches: "src/activities/...".

    Resource paths start with the resource prefix ("/gcompris/src/..."); the copyright file
    names source-tree paths ("src/activities/..."), so the prefix is dropped.
    """
    index = member.find("/src/")
    return member[index + 1 :] if index >= 0 else member.lstrip("/")
