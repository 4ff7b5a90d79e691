"""The 10 sample employee photos that lab 3's upload step puts in the learner's S3 bucket.

The project draws them itself (small 96x96 PNG avatars of fictional employees), so nothing is
downloaded and the bytes are the same on every machine: graders recognise an uploaded photo by
its name or by its MD5, which is what S3 reports as the ETag of a single-part upload.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib
from pathlib import Path

MEDIA_TYPE = "image/png"
SIZE = 96
_LEVEL = 9  # fixed: the compressed bytes, hence the MD5s, depend on it

# name, background, skin, hair, clothing, hair style (0 short, 1 long, 2 shaved)
_PEOPLE = (
    ("seoyeon-han", (0x8E, 0xC5, 0xE8), (0xF3, 0xD2, 0xB8), (0x2B, 0x1E, 0x16), (0xC0, 0x39, 0x2B), 1),
    ("dohyun-yoon", (0xF4, 0xC4, 0x6A), (0xE8, 0xBE, 0x9C), (0x1A, 0x14, 0x10), (0x2C, 0x3E, 0x50), 0),
    ("amara-okafor", (0xA8, 0xD8, 0xB0), (0x6B, 0x44, 0x2A), (0x14, 0x0E, 0x0A), (0xF3, 0x9C, 0x12), 1),
    ("lucas-moreau", (0xD7, 0xBD, 0xE2), (0xF5, 0xD6, 0xC0), (0x9C, 0x6B, 0x30), (0x27, 0x6E, 0x3A), 0),
    ("hyejin-oh", (0xF5, 0xB7, 0xB1), (0xEE, 0xC9, 0xA8), (0x3B, 0x24, 0x1A), (0x1F, 0x61, 0x8D), 1),
    ("ananya-iyer", (0x76, 0xD7, 0xC4), (0xA5, 0x72, 0x4F), (0x1C, 0x12, 0x0C), (0x8E, 0x44, 0xAD), 1),
    ("minseo-jang", (0xFA, 0xE5, 0xA0), (0xF1, 0xCF, 0xAE), (0x4A, 0x2C, 0x1C), (0x16, 0xA0, 0x85), 0),
    ("mateo-ferreira", (0xB0, 0xBE, 0xC5), (0xC6, 0x8E, 0x63), (0x2E, 0x1B, 0x0F), (0xD3, 0x54, 0x00), 2),
    ("sungho-baek", (0xAE, 0xD6, 0xF1), (0xE3, 0xB5, 0x8E), (0x55, 0x55, 0x5E), (0x7B, 0x24, 0x1C), 2),
    ("ingrid-larsen", (0xF8, 0xC4, 0x8A), (0xFA, 0xDE, 0xCB), (0xE0, 0xC0, 0x6E), (0x34, 0x49, 0x5E), 1),
)

SAMPLES: tuple[str, ...] = tuple(f"{person[0]}.png" for person in _PEOPLE)

# Geometry in pixels: the head is centred in the upper half, the shoulders fill the bottom.
_HEAD = (48, 38, 19)  # centre x, centre y, radius
_NECK = (41, 55, 50, 70)  # left, right (inclusive), top, bottom (exclusive)
_SHOULDERS = (48, 100, 40, 35)  # centre x, centre y (below the image), half-width, half-height


def _inside_circle(x: int, y: int, cx: int, cy: int, r: int) -> bool:
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r + r  # "+ r" rounds off the one-pixel nubs


def _pixel(x: int, y: int, skin: bytes, hair: bytes, clothes: bytes, bg: bytes, style: int) -> bytes:
    """The colour at (x, y), testing layers from front to back."""
    cx, cy, r = _HEAD
    fringe, cap = (cy - 12, r + 1) if style == 2 else (cy - 8, r + 2)
    if y <= fringe and _inside_circle(x, y, cx, cy, cap):
        return hair
    if style == 1 and r - 6 < abs(x - cx) <= r + 2 and fringe < y <= cy + 14:
        return hair  # long hair falls beside the face
    if _inside_circle(x, y, cx, cy, r):
        return skin
    sx, sy, rx, ry = _SHOULDERS
    if (x - sx) ** 2 * ry * ry + (y - sy) ** 2 * rx * rx <= rx * rx * ry * ry + rx * rx * ry:
        return clothes
    left, right, top, bottom = _NECK
    if left <= x <= right and top <= y < bottom:
        return skin
    return bg


def _raw_rows(bg: tuple, skin: tuple, hair: tuple, clothes: tuple, style: int) -> bytes:
    colours = [bytes(c) for c in (skin, hair, clothes, bg)]
    rows = bytearray()
    for y in range(SIZE):
        rows.append(0)  # filter type 0 (None) on every row
        for x in range(SIZE):
            rows += _pixel(x, y, *colours, style)
    return bytes(rows)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(raw: bytes, width: int, height: int) -> bytes:
    """A PNG of 8-bit RGB rows, each already prefixed with its filter byte."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, _LEVEL))
        + _chunk(b"IEND", b"")
    )


@functools.cache
def sample_photos() -> dict[str, bytes]:
    """File name -> PNG bytes of every sample photo, in SAMPLES order."""
    return {
        f"{name}.png": encode_png(_raw_rows(bg, skin, hair, clothes, style), SIZE, SIZE)
        for name, bg, skin, hair, clothes, style in _PEOPLE
    }


def md5s() -> dict[str, str]:
    """File name -> hex MD5, as S3 reports it (without quotes) for a single-part upload."""
    return {name: hashlib.md5(data).hexdigest() for name, data in sample_photos().items()}


def write(folder: Path) -> list[Path]:
    """Write the photos into folder, touching only files that are missing or differ."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in sample_photos().items():
        path = folder / name
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        paths.append(path)
    return paths
