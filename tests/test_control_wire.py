"""The control message's wire format: exact round trips, hand-checked bytes, sizes that shrink with the factor."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

from gsemlab.control.maps import FACTORS, METHODS, downscale, extract
from gsemlab.control.wire import HEADER_BYTES, nbytes, pack, raw_payload_bytes, unpack
from gsemlab.toyworld import sample_scenes


@pytest.fixture(scope="module")
def maps():
    out = []
    for s in sample_scenes(6, seed=11, split="test"):
        img, _ = s.render()
        out.append((s.caption, {m: extract(img, m) for m in METHODS}))
    return out


def test_round_trip_is_exact(maps):
    for caption, by_method in maps:
        for m in METHODS:
            for f in FACTORS:
                small = downscale(by_method[m], f, m)
                data = pack(caption, small, method=m, factor=f)
                prompt, got, method, factor = unpack(data)
                assert (prompt, method, factor) == (caption, m, f)
                assert got.dtype == np.uint8
                np.testing.assert_array_equal(got, small)
                assert nbytes(caption, small, method=m, factor=f) == len(data)


def test_round_trip_of_random_maps_and_unicode_prompt():
    rng = np.random.default_rng(0)
    for f in FACTORS:
        side = 64 // f
        cases = {"canny": (rng.random((side, side)) < 0.5).astype(np.uint8) * 255,
                 "segmentation": rng.integers(0, 7, (side, side)).astype(np.uint8),
                 "depth": rng.integers(0, 256, (side, side)).astype(np.uint8)}
        for m, x in cases.items():
            out = unpack(pack("un cercle rouge, très petit", x, method=m, factor=f))
            assert out.prompt == "un cercle rouge, très petit"
            np.testing.assert_array_equal(out.control_map, x)


def test_layout_by_hand():
    prompt = "a red circle"
    e = np.zeros((8, 8), np.uint8)
    e[0, 0] = 255  # the first pixel: the most significant bit of the first byte
    e[7, 7] = 255  # the last: the least significant bit of the last
    data = pack(prompt, e, method="canny", factor=8)
    assert data[:4] == b"GCM1"
    assert data[4] == 0 and data[5] == 8  # canny is METHODS[0]
    assert int.from_bytes(data[7:9], "big") == len(prompt)
    assert data[9:9 + len(prompt)] == prompt.encode()
    # 64 bits = 8 bytes; zlib would need more than 8 for them, so they go raw (coding 0)
    assert data[6] == 0
    assert data[9 + len(prompt):] == bytes([0x80, 0, 0, 0, 0, 0, 0, 0x01])
    assert len(data) == 9 + 12 + 8

    seg = np.zeros((8, 8), np.uint8)
    seg[0, :4] = [1, 2, 6, 0]
    data = pack(prompt, seg, method="segmentation", factor=8)
    raw = bytes([0x12, 0x60]) + bytes(30)  # two labels per byte, the first in the high nibble
    payload = data[9 + len(prompt):]
    assert data[4] == 1
    if data[6] == 1:
        assert zlib.decompress(payload) == raw
    else:
        assert payload == raw

    dep = np.arange(64, dtype=np.uint8).reshape(8, 8)  # incompressible-ish: 64 distinct bytes
    data = pack(prompt, dep, method="depth", factor=8)
    payload = data[9 + len(prompt):]
    assert data[4] == 2
    assert (zlib.decompress(payload) if data[6] == 1 else payload) == bytes(range(64))


def test_raw_payload_sizes_in_closed_form():
    for f in FACTORS:
        side = 64 // f
        assert raw_payload_bytes("canny", f) == side * side // 8
        assert raw_payload_bytes("segmentation", f) == side * side // 2
        assert raw_payload_bytes("depth", f) == side * side
    assert HEADER_BYTES == 9


def test_bytes_shrink_with_the_factor(maps):
    for caption, by_method in maps:
        n_prompt = len(caption.encode())
        for m in METHODS:
            sizes = [nbytes(caption, downscale(by_method[m], f, m), method=m, factor=f) for f in FACTORS]
            assert all(a > b for a, b in itertools.pairwise(sizes)), (m, sizes)
            for f, n in zip(FACTORS, sizes):  # never above the header, the prompt and the raw coding
                assert n <= HEADER_BYTES + n_prompt + raw_payload_bytes(m, f)
        # an edge map costs less than an image: 64 x 64 x 3 bytes raw
        assert sizes[0] < 64 * 64 * 3


def test_bad_messages_raise():
    e = np.zeros((16, 16), np.uint8)
    data = pack("a circle", e, method="canny", factor=4)
    with pytest.raises(ValueError, match="not a control message"):
        unpack(b"XXXX" + data[4:])
    with pytest.raises(ValueError, match="at least 9 bytes"):
        unpack(data[:5])
    assert data[6] == 1  # an empty edge map is zlib'd
    with pytest.raises(ValueError, match="corrupt zlib payload"):
        unpack(data[:-1])
    with pytest.raises(ValueError, match="corrupt zlib payload"):
        unpack(data + b"\x00")
    noise = (np.random.default_rng(0).random((16, 16)) < 0.5).astype(np.uint8) * 255
    raw = pack("a circle", noise, method="canny", factor=4)
    assert raw[6] == 0  # random bits do not compress: sent raw
    with pytest.raises(ValueError, match="takes 32 bytes"):
        unpack(raw[:-1])
    with pytest.raises(ValueError, match="takes 32 bytes"):
        unpack(raw + b"\x00")
    with pytest.raises(ValueError, match="unknown method index 9"):
        unpack(data[:4] + bytes([9]) + data[5:])
    with pytest.raises(ValueError, match="factor must be one of"):
        unpack(data[:5] + bytes([3]) + data[6:])
    with pytest.raises(ValueError, match="unknown payload coding"):
        unpack(data[:6] + bytes([7]) + data[7:])
    with pytest.raises(ValueError, match="truncated"):
        unpack(data[:7] + (500).to_bytes(2, "big") + data[9:])
    with pytest.raises(TypeError, match="bytes"):
        unpack("GCM1")


def test_bad_packs_raise():
    e = np.zeros((16, 16), np.uint8)
    with pytest.raises(ValueError, match=r"shape \(32, 32\)"):
        pack("a circle", e, method="canny", factor=2)  # a factor-4 map sent as factor 2
    with pytest.raises(ValueError, match="factor must be one of"):
        pack("a circle", e, method="canny", factor=3)
    with pytest.raises(ValueError, match="unknown control method"):
        pack("a circle", e, method="hed", factor=4)
    with pytest.raises(ValueError, match="at least one word"):
        pack("  ", e, method="canny", factor=4)
    with pytest.raises(TypeError, match="uint8"):
        pack("a circle", e.astype(float), method="depth", factor=4)
    with pytest.raises(ValueError, match="at most 65535 bytes"):
        pack("a " * 40000, e, method="depth", factor=4)
