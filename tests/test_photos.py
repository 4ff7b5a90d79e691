"""The sample employee photos of lab 3: valid 96x96 RGB PNGs that look like avatars, the same bytes everywhere."""

import hashlib
import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from bootcamp import photos

SIZE = 96
SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Computed once and pasted: any change to the drawing or the encoder fails here, on purpose,
# because graders recognise uploaded photos by these digests (S3's ETags).
EXPECTED_MD5 = {
    "seoyeon-han.png": "d224f8e0a1e7fc89a908319013331c63",
    "dohyun-yoon.png": "dcaef6171599c22651d360adc1e56b87",
    "amara-okafor.png": "0d860490317507576ea3e9bf664e5f38",
    "lucas-moreau.png": "f7e4c56276c1796fd8d81236bc4d3610",
    "hyejin-oh.png": "5351dccd52e0881089aebeeec619308a",
    "ananya-iyer.png": "5ef4ba415025c4dd1d9174e547aa3130",
    "minseo-jang.png": "d803c9063586405f8e0e7689d8f6076d",
    "mateo-ferreira.png": "982841872bf170f4aa1d748848d1b864",
    "sungho-baek.png": "eb61f6d634fac9e7750bd6efceb3d644",
    "ingrid-larsen.png": "f767a7a38ccb3daef984daa76f58e315",
}


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking the signature and each CRC."""
    assert data[:8] == SIGNATURE
    found, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert len(body) == length, f"{kind!r} is truncated"
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC on {kind!r}"
        found.append((kind, body))
        offset += 12 + length
    assert offset == len(data)
    return found


def pixels(data: bytes) -> list[list[tuple[int, int, int]]]:
    """Rows of RGB pixels, after checking the PNG's structure."""
    found = chunks(data)
    kinds = [kind for kind, _ in found]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", found[0][1])
    assert (width, height, depth, colour) == (SIZE, SIZE, 8, 2)
    assert (compression, filtering, interlace) == (0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in found if kind == b"IDAT"))
    stride = 1 + SIZE * 3
    assert len(raw) == SIZE * stride
    rows = []
    for y in range(SIZE):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0, f"row {y} uses filter {row[0]}"
        rows.append([tuple(row[1 + 3 * x : 4 + 3 * x]) for x in range(SIZE)])
    return rows


@pytest.fixture(scope="module")
def images() -> dict[str, list[list[tuple[int, int, int]]]]:
    return {name: pixels(data) for name, data in photos.sample_photos().items()}


def test_ten_distinct_lowercase_png_names():
    assert len(photos.SAMPLES) == len(set(photos.SAMPLES)) == 10
    assert all(re.fullmatch(r"[a-z]+-[a-z]+\.png", name) for name in photos.SAMPLES)
    assert list(photos.sample_photos()) == list(photos.SAMPLES)
    assert photos.MEDIA_TYPE == "image/png"


def test_every_photo_is_a_valid_96x96_rgb_png(images):
    assert set(images) == set(photos.SAMPLES)


def test_photos_differ_and_are_not_flat_squares(images):
    data = list(photos.sample_photos().values())
    assert len(set(data)) == 10
    for name, rows in images.items():
        assert len({pixel for row in rows for pixel in row}) > 2, name
    assert len({rows[0][0] for rows in images.values()}) == 10, "each person has their own background"


def test_each_photo_is_a_head_above_shoulders(images):
    for name, rows in images.items():
        background = rows[0][0]
        assert rows[0][SIZE - 1] == rows[SIZE // 2][0] == background, name
        upper = [(x, y) for y in range(SIZE // 2) for x in range(SIZE) if rows[y][x] != background]
        xs, ys = [x for x, _ in upper], [y for _, y in upper]
        assert abs((min(xs) + max(xs)) / 2 - (SIZE - 1) / 2) <= 1, f"{name}: head is not centred"
        assert 8 <= min(ys) <= 24 and max(xs) - min(xs) <= SIZE // 2, f"{name}: head is misplaced"
        assert rows[SIZE // 3][SIZE // 2] != background, f"{name}: no head in the upper half"
        bottom = [x for x in range(SIZE) if rows[SIZE - 1][x] != background]
        assert len(bottom) > SIZE // 2 and rows[SIZE - 1][0] == background, f"{name}: no shoulders"
        assert rows[SIZE - 1][SIZE // 2] != rows[SIZE // 3][SIZE // 2], f"{name}: clothes match the face"


def test_bytes_match_the_recorded_digests():
    assert photos.md5s() == EXPECTED_MD5
    assert {name: hashlib.md5(data).hexdigest() for name, data in photos.sample_photos().items()} == EXPECTED_MD5


def test_a_fresh_interpreter_draws_the_same_bytes():
    code = "import json; from bootcamp import photos; print(json.dumps(photos.md5s()))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]
    )
    assert json.loads(done.stdout) == EXPECTED_MD5


def test_each_photo_is_small():
    assert all(len(data) < 20 * 1024 for data in photos.sample_photos().values())


def test_write_is_idempotent_and_repairs_damaged_files(tmp_path):
    folder = tmp_path / "photos" / "employees"
    paths = photos.write(folder)
    assert paths == [folder / name for name in photos.SAMPLES]
    assert {p.name: p.read_bytes() for p in paths} == photos.sample_photos()
    assert all(p.stat().st_size < 20 * 1024 for p in paths)

    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    assert photos.write(folder) == paths
    assert {p: p.stat().st_mtime_ns for p in paths} == mtimes

    damaged, truncated, missing = paths[0], paths[1], paths[2]
    damaged.write_bytes(b"not a png")
    truncated.write_bytes(photos.sample_photos()[truncated.name][:-1])
    missing.unlink()
    assert photos.write(folder) == paths
    assert {p.name: p.read_bytes() for p in paths} == photos.sample_photos()
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in paths[3:])
