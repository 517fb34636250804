"""Writers of the bad files the failure-class tests feed the readers (shared by
test_image_files.py and the campaign's build_inputs).

Bombs are tiny on disk: a header that declares a huge size and little or nothing after it,
or a real PNG of zeros whose IDAT compresses ~1000:1. No test decodes them; the gate must
refuse them from the header.
"""

import os
import socket
import struct
import zlib


def _png_chunk(kind, data):
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_header(width, height, color_type=0, bit_depth=8):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)


def png_bomb(width, height):
    """A PNG header with one small IDAT: too short to decode, but the header says the size."""
    return png_header(width, height) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))


def compressible_png(width, height):
    """A complete, valid 8-bit gray PNG of zeros; ~width * height / 1000 bytes on disk."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return png_header(width, height) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def jpeg_bomb(width, height):
    """SOI, an APP0 segment, then a baseline SOF0 frame header with the size (no scan)."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return (
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", len(app0) + 2)
        + app0
        + b"\xff\xc0"
        + struct.pack(">H", len(sof) + 2)
        + sof
        + b"\xff\xd9"
    )


def webp_bomb(width, height):
    """An extended (VP8X) WebP header; sizes up to 16384 x 16384 each."""
    payload = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    payload += (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def webp_lossless_bomb(width, height):
    """A lossless (VP8L) WebP header; sizes up to 16384 x 16384 each."""
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 8
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def bmp_bomb(width, height):
    """A BITMAPINFOHEADER declaring a 24-bit image, with no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    header = b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info))
    return header + info


def gif_bomb(width, height):
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b"\x3b"


def tiff_bomb(width, height):
    """A little-endian TIFF whose first IFD holds ImageWidth and ImageLength (LONG)."""
    entries = struct.pack("<HHII", 256, 4, 1, width) + struct.pack("<HHII", 257, 4, 1, height)
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2) + entries + b"\x00" * 4


BOMBS = {
    "png": png_bomb,
    "jpeg": jpeg_bomb,
    "webp": webp_bomb,
    "webp_lossless": webp_lossless_bomb,
    "bmp": bmp_bomb,
    "gif": gif_bomb,
    "tiff": tiff_bomb,
}
BOMB_EXTENSIONS = {
    "png": ".png",
    "jpeg": ".jpg",
    "webp": ".webp",
    "webp_lossless": ".webp",
    "bmp": ".bmp",
    "gif": ".gif",
    "tiff": ".tif",
}


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def make_fifo(path):
    os.mkfifo(path)
    return path


def make_socket(path):
    """A unix socket file (it stays behind after the socket closes)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    finally:
        sock.close()
    return path


def make_folder(path):
    os.makedirs(path)
    return path


# Non-regular things of each kind, as (name, maker or fixed path). /dev/zero never ends.
SPECIAL_MAKERS = {
    "fifo": make_fifo,
    "socket": make_socket,
    "folder": make_folder,
}
SPECIAL_KIND_WORDS = {
    "fifo": "FIFO",
    "socket": "socket",
    "folder": "folder",
    "char_device": "character device",
}
