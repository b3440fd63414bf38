"""Tests of gsemlab.packing: Eq. 14 segments, budgeted packing and the packet wire format."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gsemlab.packing import Packet, PacketError, disjoint_segments, jpeg_bytes, pack, png_bytes

# ---------------------------------------------------------------- Eq. 14 by hand


def test_disjoint_segments_by_hand():
    a1 = np.array([[1, 1, 0], [1, 1, 0]], bool)
    a2 = np.array([[0, 1, 1], [0, 1, 1]], bool)
    a3 = np.array([[1, 1, 1], [0, 0, 0]], bool)
    s1, s2, s3 = disjoint_segments([a1, a2, a3])
    np.testing.assert_array_equal(s1, a1)
    np.testing.assert_array_equal(s2, [[0, 0, 1], [0, 0, 1]])  # a2 minus column 1 (in a1)
    np.testing.assert_array_equal(s3, np.zeros((2, 3), bool))  # top row already covered by s1 | s2
    assert disjoint_segments([]) == []


def test_pack_by_hand():
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)  # pixel (r, c) = 12r + 3c + (0, 1, 2)
    a1 = np.zeros((4, 4), bool)
    a1[:2, :2] = True  # (0,0) (0,1) (1,0) (1,1): 4 px
    a2 = np.zeros((4, 4), bool)
    a2[0, :] = True  # (0,0)..(0,3): s2 = {(0,2), (0,3)}
    a3 = np.zeros((4, 4), bool)
    a3[3, 3] = True
    # budget 5: all of s1 (4 px), then the first pixel of s2 in raster order, (0,2); nothing of s3.
    p = pack(img, [a1, a2, a3], 5, prompt="car")
    expected = np.zeros((4, 4), bool)
    expected[[0, 0, 1, 1, 0], [0, 1, 0, 1, 2]] = True
    np.testing.assert_array_equal(p.mask, expected)
    # raster order: (0,0) (0,1) (0,2) (1,0) (1,1) -> first channel 0, 3, 6, 12, 15
    np.testing.assert_array_equal(p.pixels[:, 0], [0, 3, 6, 12, 15])
    assert p.n_pixels == 5 and p.shape == (4, 4, 3) and p.prompt == "car"
    assert pack(img, [a1, a2, a3], None).n_pixels == 7  # 4 + 2 + 1
    assert pack(img, [a1, a2, a3], 0).n_pixels == 0
    assert pack(img, [a1, a2, a3], 100).n_pixels == 7
    # the received image: sent pixels in place, the rest filled
    got = p.image(fill=(255, 0, 7))
    np.testing.assert_array_equal(got[0, 2], img[0, 2])
    np.testing.assert_array_equal(got[3, 3], [255, 0, 7])
    # a grayscale image travels as one channel
    g = pack(img[:, :, 0], [a1], None)
    assert g.shape == (4, 4, 1) and g.pixels[:, 0].tolist() == [0, 3, 12, 15]


def test_wire_format_layout_by_hand():
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    a1 = np.zeros((4, 4), bool)
    a1[:2, :2] = True
    p = pack(img, [a1], 5, prompt="car")
    raw = p.to_bytes(compress=False)
    # header 4 + 1 + 1 + 4 + 4 + 2 = 16, three u32 lengths = 12, prompt 3, mask ceil(16/8) = 2,
    # pixels 4 x 3 = 12, CRC 4: 16 + 12 + 3 + 2 + 12 + 4 = 49 bytes
    assert len(raw) == 49
    magic, version, flags, h, w, c = struct.unpack_from("<4sBBIIH", raw)
    assert (magic, version, flags, h, w, c) == (b"GSPK", 1, 0, 4, 4, 3)
    assert raw[16:20] == (3).to_bytes(4, "little") and raw[20:23] == b"car"
    assert raw[23:27] == (2).to_bytes(4, "little")
    assert raw[27:29] == bytes([0b11001100, 0b00000000])  # rows 0 and 1: 1100 1100, rows 2 and 3: 0
    assert raw[-4:] == zlib.crc32(raw[:-4]).to_bytes(4, "little")
    assert Packet.from_bytes(raw) == p
    assert p.nbytes == len(p.to_bytes()) <= len(raw)  # compression is used only when it helps


# ---------------------------------------------------------------- properties (hypothesis)


@st.composite
def packing_case(draw):
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.sampled_from([1, 3, 4]))
    image = draw(arrays(np.uint8, (h, w, c)))
    masks = draw(st.lists(arrays(bool, (h, w)), max_size=4))
    budget = draw(st.none() | st.integers(0, h * w + 3))
    prompt = draw(st.text(max_size=40))
    return image, masks, budget, prompt


def _reference_mask(masks, budget, shape):
    """Pure-Python Eq. 14 packing: segments in order, pixels of each in raster order, skip taken ones."""
    taken, sent = set(), []
    for m in masks:
        for r in range(shape[0]):
            for c in range(shape[1]):
                if m[r, c] and (r, c) not in taken:
                    taken.add((r, c))
                    if budget is None or len(sent) < budget:
                        sent.append((r, c))
    return sent, taken


@settings(max_examples=80, deadline=None)
@given(packing_case())
def test_pack_properties_and_round_trip(case):
    image, masks, budget, prompt = case
    p = pack(image, masks, budget, prompt=prompt)
    sent, union = _reference_mask(masks, budget, image.shape[:2])
    # exactly min(budget, total) pixels, never more than the budget
    assert p.n_pixels == len(sent) == (len(union) if budget is None else min(budget, len(union)))
    if budget is not None:
        assert p.n_pixels <= budget
    # the sent set is the greedy prefix: whole earlier segments, then a raster prefix of the next one
    assert set(zip(*np.nonzero(p.mask))) == set(sent)
    np.testing.assert_array_equal(
        p.pixels, np.array([image[r, c] for r, c in sorted(sent)]).reshape(-1, image.shape[2])
    )
    # wire round trip
    b = p.to_bytes()
    q = Packet.from_bytes(b)
    assert q == p and q.prompt == prompt and q.mask.dtype == bool and q.pixels.dtype == np.uint8
    assert p.nbytes == len(b)
    assert Packet.from_bytes(p.to_bytes(compress=False)) == p
    np.testing.assert_array_equal(q.image(fill=0)[p.mask], image[p.mask])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8).flatmap(lambda h: st.lists(arrays(bool, (h, 5)), min_size=1, max_size=5)))
def test_disjoint_segments_properties(masks):
    segs = disjoint_segments(masks)
    assert len(segs) == len(masks)
    for i in range(len(segs)):
        assert not np.any(segs[i] & ~masks[i])  # s_i is a subset of A_i
        for j in range(i):
            assert not np.any(segs[i] & segs[j])  # pairwise disjoint
    np.testing.assert_array_equal(np.logical_or.reduce(segs), np.logical_or.reduce(masks))
    # s_k = A_k minus every earlier A (the union of earlier s equals the union of earlier A)
    for k in range(len(masks)):
        earlier = np.logical_or.reduce(masks[:k]) if k else np.zeros_like(masks[0])
        np.testing.assert_array_equal(segs[k], masks[k] & ~earlier)


# ---------------------------------------------------------------- damaged packets


@pytest.fixture
def packet_bytes():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    masks = [rng.random((6, 7)) < 0.3, rng.random((6, 7)) < 0.3]
    return pack(img, masks, 12, prompt="blue car ☃").to_bytes()


def test_every_flipped_byte_is_detected(packet_bytes):
    assert Packet.from_bytes(packet_bytes).n_pixels == 12
    for i in range(len(packet_bytes)):
        for bit in (0x01, 0x80):
            bad = bytearray(packet_bytes)
            bad[i] ^= bit
            with pytest.raises(PacketError):
                Packet.from_bytes(bytes(bad))


def test_truncation_and_trailing_bytes_are_detected(packet_bytes):
    for n in range(len(packet_bytes)):
        with pytest.raises(PacketError):
            Packet.from_bytes(packet_bytes[:n])
    with pytest.raises(PacketError):
        Packet.from_bytes(packet_bytes + b"\x00")
    with pytest.raises(PacketError, match="magic"):
        Packet.from_bytes(b"JUNK" + packet_bytes[4:])
    assert issubclass(PacketError, ValueError)
    with pytest.raises(TypeError, match="data must be bytes-like"):
        Packet.from_bytes("GSPK")


def test_valid_checksum_but_bad_version_is_rejected(packet_bytes):
    body = bytearray(packet_bytes[:-4])
    body[4] = 2  # version
    forged = bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "little")
    with pytest.raises(PacketError, match="version"):
        Packet.from_bytes(forged)


# ---------------------------------------------------------------- sizes against PNG and JPEG


def test_half_mask_packet_is_smaller_than_png_of_the_image():
    rng = np.random.default_rng(0)
    h = w = 128
    y, x = np.mgrid[0:h, 0:w]
    # smooth structure plus sensor-like noise (std 12): PNG cannot squeeze the noise away
    base = np.stack([x * 2.0, y * 2.0, 128 + 60 * np.sin(x / 6.0) * np.cos(y / 9.0)], axis=-1)
    img = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), bool)
    mask[:, : w // 2] = True
    p = pack(img, [mask], None, prompt="A blue car driving through the city.")
    png, jpg75, jpg95 = len(png_bytes(img)), len(jpeg_bytes(img, 75)), len(jpeg_bytes(img, 95))
    raw = len(p.to_bytes(compress=False))
    print(f"\nraw image {img.nbytes} B, packet {p.nbytes} B (uncompressed {raw} B), PNG {png} B, "
          f"JPEG q75 {jpg75} B, JPEG q95 {jpg95} B")  # fmt: skip
    # uncompressed: 16 + 12 + 36 (prompt) + 2048 (mask bits) + 8192 * 3 (pixels) + 4 = 26692 bytes
    assert raw == 26692
    assert p.nbytes <= raw
    assert p.nbytes < png  # half the pixels, losslessly, beat the lossless whole image
    # PNG and JPEG really decode to images (the helpers make real files)
    assert png_bytes(img)[:8] == b"\x89PNG\r\n\x1a\n" and jpeg_bytes(img)[:2] == b"\xff\xd8"


# ---------------------------------------------------------------- errors


def test_pack_errors():
    img = np.zeros((4, 5, 3), np.uint8)
    seg = [np.ones((4, 5), bool)]
    with pytest.raises(ValueError, match="budget_pixels must be >= 0, got -1"):
        pack(img, seg, -1)
    with pytest.raises(TypeError, match="budget_pixels must be an int or None"):
        pack(img, seg, 2.5)
    with pytest.raises(TypeError, match="image must have dtype uint8, got float64"):
        pack(img.astype(float), seg, 3)
    with pytest.raises(ValueError, match=r"segments must have the image's shape \(4, 5\), got \(5, 4\)"):
        pack(img, [np.ones((5, 4), bool)], 3)
    with pytest.raises(TypeError, match="must be boolean masks, got dtype int64"):
        pack(img, [np.ones((4, 5), np.int64)], 3)
    with pytest.raises(ValueError, match="image must have shape"):
        pack(np.zeros((4,), np.uint8), seg, 3)
    with pytest.raises(TypeError, match="prompt must be a str"):
        pack(img, seg, 3, prompt=None)


def test_disjoint_segments_errors():
    with pytest.raises(
        ValueError,
        match=r"masks_in_importance_order must all have the same shape, got \[\(2, 2\), \(2, 3\)\]",
    ):
        disjoint_segments([np.ones((2, 2), bool), np.ones((2, 3), bool)])
    with pytest.raises(TypeError, match="boolean"):
        disjoint_segments([np.ones((2, 2), np.float32)])
    with pytest.raises(ValueError, match="2-D"):
        disjoint_segments([np.ones((2, 2, 2), bool)])


def test_packet_and_helper_errors():
    with pytest.raises(ValueError, match="one row per True in mask"):
        Packet(mask=np.ones((2, 2), bool), pixels=np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match="mask must be a 2-D boolean array"):
        Packet(mask=np.ones((2, 2), np.uint8), pixels=np.zeros((4, 3), np.uint8))
    p = Packet(mask=np.ones((2, 2), bool), pixels=np.zeros((4, 3), np.uint8))
    with pytest.raises(ValueError, match="fill must have 3 values"):
        p.image(fill=(1, 2))
    with pytest.raises(ValueError, match=r"fill must be within \[0, 255\]"):
        p.image(fill=256)
    with pytest.raises(ValueError, match="quality"):
        jpeg_bytes(np.zeros((2, 2, 3), np.uint8), quality=0)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        jpeg_bytes(np.zeros((2, 2, 4), np.uint8))
