"""Tests of gsemlab.packing: Eq. 14 segments, budgeted packing, the packet wire format (version 2) with
its lossy (VP8) and lossless codings, the mask's arithmetic coder, and bits per sent pixel.

The wire format is read back by hand here (:func:`_sections`), the VP8 frame is decoded by Pillow
directly, and the mask coder's length is checked against the ideal code length of its model,
computed independently (:func:`_ideal_mask_bits`).
"""

from __future__ import annotations

import io
import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from gsemlab.packing import (
    DEFAULT_QUALITY,
    Packet,
    PacketError,
    PacketRate,
    decode_image,
    disjoint_segments,
    jpeg_bytes,
    pack,
    packet_rate,
    pixel_budget,
    png_bytes,
    webp_bytes,
)
from gsemlab.packing.codecs import decode_mask, encode_mask, fill_unsent

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
    # budget 5, the default rule ("stop"): all of s1 (4 px), then nothing (s2 has 2 px)
    np.testing.assert_array_equal(pack(img, [a1, a2, a3], 5).mask, a1)
    # partial="raster": all of s1, then the first pixel of s2 in raster order, (0,2); nothing of s3.
    p = pack(img, [a1, a2, a3], 5, prompt="car", partial="raster")
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


# ---------------------------------------------------------------- the wire format read by hand


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _sections(data: bytes) -> dict:
    """Version-2 packet fields, parsed by hand from the module docstring's table."""
    assert data[:4] == b"GSPK" and data[-4:] == zlib.crc32(data[:-4]).to_bytes(4, "little")
    out = {"version": data[4], "coding": data[5], "quality": data[6]}
    pos = 7
    for name in ("h", "w", "c"):
        out[name], pos = _varint(data, pos)
    n, pos = _varint(data, pos)
    out["prompt"], pos = data[pos : pos + n], pos + n
    box = []
    for _ in range(4):
        v, pos = _varint(data, pos)
        box.append(v)
    out["box"] = tuple(box)
    for name in ("mask", "pixels"):
        n, pos = _varint(data, pos)
        out[name], pos = data[pos : pos + n], pos + n
    assert pos == len(data) - 4
    return out


def _pil_vp8(frame: bytes, w: int, channels: int = 3) -> np.ndarray:
    """Decode a bare VP8 key frame with Pillow, after wrapping it in the RIFF container by hand; for RGB,
    cut the Y, Cb, Cr planes (each ``w`` rounded up to 16 columns wide) and convert them to RGB."""
    chunk = b"VP8 " + len(frame).to_bytes(4, "little") + frame + b"\x00" * (len(frame) % 2)
    riff = b"RIFF" + (4 + len(chunk)).to_bytes(4, "little") + b"WEBP" + chunk
    grey = np.asarray(Image.open(io.BytesIO(riff)).convert("RGB").convert("L"))
    if channels == 1:
        assert grey.shape[1] == w
        return grey[:, :, None]
    wp = (w + 15) // 16 * 16
    assert grey.shape[1] == 3 * wp
    ycc = np.stack([grey[:, 0:w], grey[:, wp : wp + w], grey[:, 2 * wp : 2 * wp + w]], axis=-1)
    return np.asarray(Image.fromarray(np.ascontiguousarray(ycc), "YCbCr").convert("RGB"))


def test_wire_format_layout_by_hand():
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    a1 = np.zeros((4, 4), bool)
    a1[:2, :2] = True
    p = pack(img, [a1], 5, prompt="car")  # 4 pixels: the segment is smaller than the budget
    raw = p.to_bytes("raw")
    # magic 4, version, coding, quality: 7; H, W, C: 3 one-byte varints; prompt: length 1 + 3;
    # box (0, 0, 2, 2): 4; mask: length 1 + ceil(2 * 2 / 8) = 1; pixels: length 1 + 4 x 3; CRC 4
    assert len(raw) == 7 + 3 + 4 + 4 + 2 + 13 + 4 == 37
    assert raw[:10] == b"GSPK" + bytes([2, 0, 0, 4, 4, 3])
    assert raw[10:14] == b"\x03car" and raw[14:18] == bytes([0, 0, 2, 2])
    assert raw[18:20] == bytes([1, 0b11110000])  # the 2 x 2 box, all sent
    assert raw[20] == 12 and raw[21:33] == img[:2, :2].tobytes()
    assert raw[-4:] == zlib.crc32(raw[:-4]).to_bytes(4, "little")
    assert Packet.from_bytes(raw) == p
    assert Packet.from_bytes(p.to_bytes("zlib")) == p
    assert len(p.to_bytes("zlib")) <= len(raw)  # compression is used only when it helps
    f = _sections(p.to_bytes())  # the default coding: VP8 of the 2 x 2 box
    assert (f["version"], f["coding"] & 3, f["quality"]) == (2, 2, DEFAULT_QUALITY)
    assert f["box"] == (0, 0, 2, 2) and f["pixels"][3:6] == b"\x9d\x01\x2a"


def test_lossy_pixels_are_the_vp8_frame_decoded_by_pillow():
    y, x = np.mgrid[0:40, 0:48]
    img = np.stack([x * 5, y * 6, 120 + 0 * x], -1).astype(np.uint8)
    seg = (y - 20) ** 2 + (x - 30) ** 2 < 120  # a disc: box rows 10-30, columns 20-40
    p = pack(img, [seg], None, prompt="a disc")
    data = p.to_bytes(quality=60)
    f = _sections(data)
    top, left, bh, bw = f["box"]
    rows, cols = np.nonzero(seg)
    assert (top, left, bh, bw) == (rows.min(), cols.min(), np.ptp(rows) + 1, np.ptp(cols) + 1)
    assert (top, left, bh, bw) == (10, 20, 21, 21)
    # the frame: the three planes side by side, 21 columns each rounded up to 32: 21 x 96
    assert int.from_bytes(f["pixels"][6:8], "little") == 96
    assert int.from_bytes(f["pixels"][8:10], "little") == 21
    decoded = _pil_vp8(f["pixels"], bw)
    assert decoded.shape == (bh, bw, 3)
    q = Packet.from_bytes(data)
    crop = seg[top : top + bh, left : left + bw]
    np.testing.assert_array_equal(q.pixels, decoded[crop])
    np.testing.assert_array_equal(q.mask, seg)
    assert q.prompt == "a disc" and q.shape == p.shape
    assert np.abs(q.pixels.astype(int) - p.pixels).mean() < 4  # a smooth ramp survives quality 60
    # the frame is libwebp's file of the filled box's planes, less its 20-byte container
    box = fill_unsent(img[top : top + bh, left : left + bw], crop)
    ycc = np.asarray(Image.fromarray(box).convert("YCbCr"))
    tile = np.concatenate([np.pad(ycc[:, :, k], ((0, 0), (0, 11)), mode="edge") for k in range(3)], axis=1)
    buf = io.BytesIO()
    Image.fromarray(tile).save(buf, format="WEBP", quality=60, method=6)
    assert buf.getvalue()[12:16] == b"VP8 " and f["pixels"] == buf.getvalue()[20:]
    # a received packet re-sends the bytes it came as (no second loss), and knows their size
    assert q.to_bytes(quality=60) == data and q.received(quality=60) == q
    assert Packet.from_bytes(q.to_bytes("zlib")) == q  # lossless from there on
    # a grey image travels as one plane
    g = pack(img[:, :, 1], [seg], None)
    gq = Packet.from_bytes(g.to_bytes())
    assert gq.shape == (40, 48, 1)
    np.testing.assert_array_equal(gq.pixels, _pil_vp8(_sections(g.to_bytes())["pixels"], bw, 1)[crop])


def test_fill_unsent_by_hand():
    img = np.zeros((4, 4, 1), np.uint8)
    img[0, 0], img[3, 3] = 10, 50
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = mask[3, 3] = True
    out = fill_unsent(img, mask)[:, :, 0]
    # the 2 x 2 block of (0, 0) takes 10, that of (3, 3) takes 50; the two empty blocks take the mean of
    # the 4 x 4 block, (10 + 50) / 2 = 30
    want = [[10, 10, 30, 30], [10, 10, 30, 30], [30, 30, 50, 50], [30, 30, 50, 50]]
    np.testing.assert_array_equal(out, want)
    # odd sizes: a 3 x 3 image with one sent pixel is filled with it everywhere
    one = np.zeros((3, 3), bool)
    one[2, 1] = True
    np.testing.assert_array_equal(fill_unsent(np.full((3, 3, 3), 7, np.uint8) * one[..., None], one),
                                  np.full((3, 3, 3), 7))
    with pytest.raises(ValueError, match="at least one"):
        fill_unsent(img, np.zeros((4, 4), bool))


# ---------------------------------------------------------------- the mask coder


_TEMPLATE = ((-2, -1), (-2, 0), (-2, 1), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2), (0, -2), (0, -1))


def _ideal_mask_bits(mask: np.ndarray) -> float:
    """Code length (bits) of the model the coder uses, pixel by pixel in pure Python: the 10-pixel JBIG
    template, counts starting at 1 and growing by 4 (p(bit) = (4 n_bit + 1) / (4 n + 2))."""
    h, w = mask.shape
    counts: dict = {}
    total = 0.0
    for r in range(h):
        for c in range(w):
            ctx = tuple(bool(mask[r + dr, c + dc]) if 0 <= r + dr < h and 0 <= c + dc < w else False
                        for dr, dc in _TEMPLATE)
            n = counts.setdefault(ctx, [1, 1])
            bit = int(mask[r, c])
            total -= math.log2(n[bit] / (n[0] + n[1]))
            n[bit] += 4
    return total


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 24), st.integers(1, 24), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_mask_coder_round_trip_and_length(h, w, density, seed):
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w)) < density
    blobs = np.kron(rng.random((h // 4 + 1, w // 4 + 1)) < density, np.ones((4, 4), bool))[:h, :w]
    for mask in (noise, blobs):
        data = encode_mask(mask)
        np.testing.assert_array_equal(decode_mask(data, (h, w)), mask)
        # an arithmetic coder spends the model's code length, to within its termination (< 4 bytes)
        assert abs(8 * len(data) - _ideal_mask_bits(mask)) <= 32


def test_mask_coder_by_hand():
    assert encode_mask(np.zeros((5, 7), bool)) == b""  # an empty mask costs nothing ...
    np.testing.assert_array_equal(decode_mask(b"", (5, 7)), np.zeros((5, 7), bool))  # ... and reads back
    disc = np.hypot(*np.mgrid[-20:20, -20:20]) < 15
    assert len(encode_mask(disc)) < len(zlib.compress(np.packbits(disc).tobytes(), 9)) / 2
    with pytest.raises(ValueError, match="2-D boolean"):
        encode_mask(np.zeros((2, 2), np.uint8))


# ---------------------------------------------------------------- properties (hypothesis)


@st.composite
def packing_case(draw, channels=(1, 3, 4)):
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.sampled_from(channels))
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
def test_pack_properties_and_lossless_round_trip(case):
    image, masks, budget, prompt = case
    p = pack(image, masks, budget, prompt=prompt, partial="raster")  # the reference is raster
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
    for codec in ("zlib", "raw"):
        q = Packet.from_bytes(p.to_bytes(codec))
        assert q == p and q.prompt == prompt and q.mask.dtype == bool and q.pixels.dtype == np.uint8
    np.testing.assert_array_equal(Packet.from_bytes(p.to_bytes("zlib")).image(fill=0)[p.mask], image[p.mask])
    raw = _sections(p.to_bytes("raw"))
    assert raw["pixels"] == image[p.mask].tobytes() and raw["prompt"] == prompt.encode("utf-8")


@settings(max_examples=60, deadline=None)
@given(packing_case(channels=(1, 3)), st.integers(0, 100))
def test_lossy_round_trip(case, quality):
    image, masks, budget, prompt = case
    p = pack(image, masks, budget, prompt=prompt)
    data = p.to_bytes(quality=quality)
    q = Packet.from_bytes(data)
    np.testing.assert_array_equal(q.mask, p.mask)
    assert q.prompt == prompt and q.shape == p.shape and q.n_pixels == p.n_pixels
    f = _sections(data)
    assert f["quality"] == quality
    if p.n_pixels:
        top, left, bh, bw = f["box"]
        want = _pil_vp8(f["pixels"], bw, p.shape[2])
        np.testing.assert_array_equal(q.pixels, want[p.mask[top : top + bh, left : left + bw]])
    else:
        assert f["pixels"] == b"" and f["box"] == (0, 0, 0, 0)
    assert q.to_bytes(quality=quality) == data and p.to_bytes(quality=quality) == data
    if quality == DEFAULT_QUALITY:
        assert p.nbytes == q.nbytes == len(data) and p.to_bytes() is p.to_bytes()  # encoded once


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


@pytest.fixture(params=["webp", "zlib", "raw"])
def packet_bytes(request):
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:20, 0:23]
    smooth = np.stack([x * 9, y * 11, 90 + 0 * x], -1)
    img = np.clip(smooth + rng.normal(0, 6, (20, 23, 3)), 0, 255).astype(np.uint8)
    masks = [np.hypot(y - 8, x - 9) < 6, rng.random((20, 23)) < 0.3]
    return pack(img, masks, 150, prompt="blue car ☃ " * 3, partial="raster").to_bytes(request.param)


def test_every_flipped_byte_is_detected(packet_bytes):
    assert Packet.from_bytes(packet_bytes).n_pixels == 150
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


def _forge(body: bytes) -> bytes:
    """Bytes with a valid checksum: damage the CRC cannot see."""
    return bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "little")


def test_valid_checksum_but_bad_version_is_rejected(packet_bytes):
    for version in (1, 3, 255):  # version 1 was the format before the lossy coding
        body = bytearray(packet_bytes[:-4])
        body[4] = version
        with pytest.raises(PacketError, match=f"unsupported packet version {version}, expected 2"):
            Packet.from_bytes(_forge(body))


def test_forged_packets_raise_packet_error_only(packet_bytes):
    """Damage behind a recomputed CRC (header fields, lengths, VP8 and deflate payloads): the parser and
    the codecs behind it raise PacketError or return a packet, never another exception."""
    rng = np.random.default_rng(7)
    body = packet_bytes[:-4]
    outcomes = {"error": 0, "packet": 0}
    for trial in range(400):
        bad = bytearray(body)
        if trial % 4 == 0:  # one random byte anywhere after the magic
            bad[rng.integers(4, len(bad))] = rng.integers(256)
        elif trial % 4 == 1:  # a burst in the last section (the pixels)
            start = rng.integers(len(bad) * 2 // 3, len(bad))
            for k in range(start, min(len(bad), start + 6)):
                bad[k] = rng.integers(256)
        elif trial % 4 == 2:  # a cut and a splice of junk
            cut = rng.integers(7, len(bad))
            bad = bad[:cut] + bytearray(rng.integers(0, 256, rng.integers(0, 8), dtype=np.uint8).tobytes())
        else:  # several bit flips
            for pos in rng.choice(len(bad) * 8, 4, replace=False):
                if pos >= 32:
                    bad[pos // 8] ^= 1 << (pos % 8)
        try:
            got = Packet.from_bytes(_forge(bad))
        except PacketError:
            outcomes["error"] += 1
        else:
            assert isinstance(got, Packet) and got.pixels.shape == (got.n_pixels, got.shape[2])
            outcomes["packet"] += 1
    assert outcomes["error"] > 100


def test_forged_sizes_are_rejected_before_any_work():
    def header(h, w, c=3, coding=0, quality=0):
        sizes = bytes([h & 0x7F | 0x80, h >> 7, w & 0x7F | 0x80, w >> 7, c])  # two-byte varints H, W
        return b"GSPK" + bytes([2, coding, quality]) + sizes

    tail = b"\x00" + bytes([0, 0, 0, 0]) + b"\x00" + b"\x00"  # empty prompt, empty box, mask, pixels
    assert Packet.from_bytes(_forge(header(300, 200) + tail)).shape == (300, 200, 3)
    with pytest.raises(PacketError, match="at most"):
        Packet.from_bytes(_forge(header(16000, 16000) + tail))
    with pytest.raises(PacketError, match="unknown coding"):
        Packet.from_bytes(_forge(header(3, 3, coding=0x13) + tail))
    with pytest.raises(PacketError, match="unknown coding"):
        Packet.from_bytes(_forge(header(3, 3, coding=0, quality=50) + tail))
    with pytest.raises(PacketError, match="does not fit"):  # a box outside the image
        Packet.from_bytes(_forge(header(3, 3) + b"\x00" + bytes([2, 0, 2, 2]) + b"\x01\xff\x00"))
    with pytest.raises(PacketError, match="bounding box"):  # a box wider than its pixels
        Packet.from_bytes(_forge(header(3, 3) + b"\x00" + bytes([0, 0, 2, 2]) + b"\x01\x80\x03abc"))
    with pytest.raises(PacketError, match="VP8"):  # a pixel section that is no VP8 frame
        Packet.from_bytes(_forge(header(3, 3, coding=2, quality=50) + b"\x00" + bytes([0, 0, 1, 1])
                                 + b"\x01\x80\x05junk!"))


# ---------------------------------------------------------------- sizes against PNG, JPEG and WebP


def test_half_mask_packet_sizes():
    rng = np.random.default_rng(0)
    h = w = 128
    y, x = np.mgrid[0:h, 0:w]
    # smooth structure plus sensor-like noise (std 12): PNG cannot squeeze the noise away
    base = np.stack([x * 2.0, y * 2.0, 128 + 60 * np.sin(x / 6.0) * np.cos(y / 9.0)], axis=-1)
    img = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), bool)
    mask[:, : w // 2] = True
    p = pack(img, [mask], None, prompt="A blue car driving through the city.")
    png, jpg75, webp75 = len(png_bytes(img)), len(jpeg_bytes(img, 75)), len(webp_bytes(img, 75))
    raw, lossless, lossy = len(p.to_bytes("raw")), len(p.to_bytes("zlib")), p.nbytes
    print(f"\nraw image {img.nbytes} B, packet lossy {lossy} B, lossless {lossless} B, uncompressed {raw} B, "
          f"PNG {png} B, JPEG q75 {jpg75} B, WebP q75 {webp75} B")  # fmt: skip
    # uncompressed: 7 + H, W (2-byte varints 128) and C: 5 + prompt 1 + 36 + box (0, 0, 128, 64): 5
    # + mask 2 + 128 * 64 / 8 + pixels 3 + 8192 * 3 + CRC 4 = 25663 bytes: 3 bytes per sent pixel and
    # one bit per pixel of the box
    assert raw == 7 + 5 + 37 + 5 + (2 + 1024) + (3 + 24576) + 4 == 25663
    assert lossless < raw and lossless < png  # half the pixels, losslessly, beat the lossless whole image
    assert lossy < lossless / 3 and lossy < jpg75  # the lossy packet: a third of the lossless one
    # bits per sent pixel, uncompressed: 24 for the values, plus the mask bit of each of the 8192 box pixels
    # per sent pixel (1), plus the rest (63 bytes) spread over 8192 pixels
    assert 8 * raw / p.n_pixels == pytest.approx(24 + 1 + 8 * (7 + 5 + 37 + 5 + 2 + 3 + 4) / 8192)
    # the helpers make real files, which decode to the image's shape
    assert png_bytes(img)[:8] == b"\x89PNG\r\n\x1a\n" and jpeg_bytes(img)[:2] == b"\xff\xd8"
    assert webp_bytes(img)[:4] == b"RIFF" and webp_bytes(img)[8:16] == b"WEBPVP8 "
    np.testing.assert_array_equal(decode_image(png_bytes(img)), img)
    np.testing.assert_array_equal(decode_image(webp_bytes(img, 80)),
                                  np.asarray(Image.open(io.BytesIO(webp_bytes(img, 80))).convert("RGB")))


# ---------------------------------------------------------------- bits per sent pixel (Eq. 19a)


def test_packet_rate_by_hand():
    rate = PacketRate(overhead_bits=800, bits_per_pixel=2.5)
    assert rate.bits(0) == 800 and rate.bits(100) == 800 + 250
    # (1000 - 800) / 2.5 = 80 pixels; a payload under the overhead buys none
    assert rate.pixel_budget(1000) == 80 and rate.pixel_budget(1002.4) == 80 and rate.pixel_budget(799) == 0
    np.testing.assert_array_equal(rate.pixel_budget([800, 1050, 3300]), [0, 100, 1000])
    assert rate.pixel_budget(rate.bits(437)) == 437  # the budget is the inverse of the size model
    with pytest.raises(ValueError, match="bits_per_pixel must be a finite number > 0"):
        PacketRate(10, 0)
    with pytest.raises(ValueError, match="payload_bits must be >= 0"):
        rate.pixel_budget(-1)


def test_measured_packet_rate():
    lossy, lossless = packet_rate("webp"), packet_rate("zlib")
    assert 0 < lossy.bits_per_pixel < lossless.bits_per_pixel <= 24 + 8  # RGB and a mask bit bound zlib
    assert packet_rate("webp", conservative=False).overhead_bits <= lossy.overhead_bits
    n = pixel_budget(lossy.bits(300))
    assert n == 300 and isinstance(n, int)
    with pytest.raises(ValueError, match="codec must be one of"):
        packet_rate("jpeg")


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
    with pytest.raises(ValueError, match="codec must be one of"):
        p.to_bytes("png")
    with pytest.raises(ValueError, match=r"quality must be an int in \[0, 100\]"):
        p.to_bytes(quality=101)
    with pytest.raises(ValueError, match="quality applies to codec 'webp' only"):
        p.to_bytes("zlib", quality=50)
    with pytest.raises(ValueError, match=r"level must be an int in \[0, 9\]"):
        p.to_bytes("zlib", level=10)
    rgba = Packet(mask=np.ones((2, 2), bool), pixels=np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="codec 'webp' codes 1 or 3 channels, this packet has 4"):
        rgba.to_bytes()
    assert Packet.from_bytes(rgba.to_bytes("zlib")) == rgba
    with pytest.raises(ValueError, match="quality"):
        jpeg_bytes(np.zeros((2, 2, 3), np.uint8), quality=0)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        jpeg_bytes(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        webp_bytes(np.zeros((2, 2, 4), np.uint8))
