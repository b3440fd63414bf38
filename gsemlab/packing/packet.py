"""The packet the MASP sends one user, and its wire format (version 2).

A :class:`Packet` holds what the user needs: the mask of sent pixels, their values and the prompt.
:meth:`Packet.to_bytes` encodes it, so sizes in this course are measured, not estimated, with one of
three pixel codings:

* ``"webp"`` (default, lossy): the bounding box of the sent pixels, unsent pixels filled, its Y, Cb
  and Cr planes side by side as one grey VP8 key frame (WebP's lossy bitstream with colour at full
  resolution, :func:`.codecs.vp8_encode`); the user keeps the decoded values, so a received
  packet's ``pixels`` are what the codec gave back, not the source's;
* ``"zlib"`` (lossless): the sent values in raster order, deflated;
* ``"raw"`` (lossless, uncompressed): every section as it is, to read by hand.

The mask is always lossless (context-coded, or raw bits when that is smaller), and so is the prompt
(UTF-8, deflated when that is smaller; raw under ``"raw"``).

Wire format, version 2 (``varint``: unsigned LEB128, 7 bits a byte, low bits first)::

    magic     4 bytes   b"GSPK"
    version   u8        2
    coding    u8        bits 0-1: pixels 0 raw, 1 deflate, 2 VP8; bit 2: mask
                        context-coded (else raw bits, np.packbits of the box in
                        raster order); bit 3: prompt deflated
    quality   u8        the VP8 quality (0-100); 0 for the lossless codings
    H, W, C   varint x3 image height and width (pixels), channels per pixel
    prompt    varint n, n bytes
    box       varint x4 top row, left column, height, width of the sent
                        pixels' bounding box (all 0: none)
    mask      varint n, n bytes   the box's bits
    pixels    varint n, n bytes   raw: n_pixels * C bytes; deflate: those,
                        deflated; VP8: the key frame of the box's planes
                        (.codecs.vp8_encode); empty when no pixel is sent
    crc       u32 LE    CRC-32 (zlib.crc32) of every byte before it

Deflate is raw deflate (RFC 1951, zlib ``wbits=-15``). Damaged input raises :class:`PacketError`
(a ``ValueError``), never another exception.
"""

from __future__ import annotations

import functools
import numbers
import zlib
from dataclasses import dataclass

import numpy as np

from ..checks import readonly
from .codecs import decode_mask, encode_mask, fill_unsent, vp8_decode, vp8_encode

__all__ = ["CODECS", "DEFAULT_CODEC", "DEFAULT_QUALITY", "MAGIC", "MAX_PIXELS", "VERSION", "Packet",
           "PacketError", "section_sizes"]

MAGIC = b"GSPK"
VERSION = 2
#: Pixel codings of :meth:`Packet.to_bytes`: lossy VP8, lossless deflate, lossless uncompressed.
CODECS = ("webp", "zlib", "raw")
DEFAULT_CODEC = "webp"
#: WebP quality of the default coding, chosen on validation captions (``benchmarks/rate_distortion.py``).
DEFAULT_QUALITY = 75
#: Largest H * W a packet may declare (2048 x 2048): decoding work stays bounded on forged input.
MAX_PIXELS = 1 << 22
#: Largest prompt, in UTF-8 bytes, that is deflated (a deflated prompt inflates to at most this).
MAX_DEFLATED_PROMPT = 1 << 16
_PIX_RAW, _PIX_DEFLATE, _PIX_VP8 = 0, 1, 2
_MASK_CONTEXT, _PROMPT_DEFLATE = 4, 8
_CRC_SIZE = 4
_MIN_SIZE = 7 + 3 + 1 + 4 + 1 + 1 + _CRC_SIZE  # fixed header, H W C, three lengths, box, CRC


class PacketError(ValueError):
    """Bytes that are not a valid packet: bad magic or version, truncated, or checksum mismatch."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class _Reader:
    """Reads varints and sections from a packet body; every overrun is a PacketError."""

    def __init__(self, body: bytes, pos: int):
        self.body, self.pos = body, pos

    def varint(self, what: str) -> int:
        value = 0
        for shift in range(0, 35, 7):
            if self.pos >= len(self.body):
                raise PacketError(f"truncated packet: {what} missing")
            byte = self.body[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise PacketError(f"{what} is not a valid varint (longer than 5 bytes)")

    def section(self, what: str) -> bytes:
        n = self.varint(f"{what} length")
        if self.pos + n > len(self.body):
            raise PacketError(f"truncated packet: {what} section shorter than its declared {n} bytes")
        self.pos += n
        return self.body[self.pos - n : self.pos]


def _deflate(raw: bytes, level: int) -> bytes:
    z = zlib.compressobj(level, zlib.DEFLATED, -15)
    return z.compress(raw) + z.flush()


def _inflate(data: bytes, expected: int, what: str) -> bytes:
    """Raw-inflate at most ``expected + 1`` bytes (no decompression bombs)."""
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(data, expected + 1)
    except zlib.error as e:
        raise PacketError(f"{what} section is not valid deflate data: {e}") from None
    if not d.eof or d.unused_data or len(out) != expected:
        raise PacketError(f"{what} section does not inflate to the expected {expected} bytes")
    return out


def _check_codec(codec, quality, level) -> tuple[str, int]:
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    if isinstance(level, bool) or not isinstance(level, numbers.Integral) or not 0 <= level <= 9:
        raise ValueError(f"level must be an int in [0, 9], got {level!r}")
    if codec != "webp":
        if quality is not None:
            raise ValueError(f"quality applies to codec 'webp' only, got quality={quality!r} for {codec!r}")
        return codec, 0
    if quality is None:
        return codec, DEFAULT_QUALITY
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) or not 0 <= quality <= 100:
        raise ValueError(f"quality must be an int in [0, 100], got {quality!r}")
    return codec, int(quality)


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the True pixels' bounding box; zeros when there are none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0
    return int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


_DEFAULT_KEY = (DEFAULT_CODEC, DEFAULT_QUALITY, 9)


@dataclass(frozen=True, eq=False)
class Packet:
    """What the MASP sends one user: the mask of sent pixels, their values and the prompt.

    Immutable (the arrays are read-only copies); two packets are equal when mask, pixels and prompt are.

    Attributes
    ----------
    mask : ndarray of bool, shape (H, W)
        True where a pixel is sent.
    pixels : ndarray of uint8, shape (n_pixels, C)
        Values of the sent pixels in the raster order of ``mask`` (``image[mask]``); in a packet
        parsed from VP8-coded bytes, the codec's decoded values.
    prompt : str
        The prompt, needed by the user's inpainting decoder.
    """

    mask: np.ndarray
    pixels: np.ndarray
    prompt: str = ""

    def __post_init__(self) -> None:
        mask = np.array(self.mask, copy=True)
        pixels = np.array(self.pixels, copy=True)
        if mask.dtype != bool or mask.ndim != 2:
            raise ValueError(f"mask must be a 2-D boolean array, got dtype {mask.dtype} shape {mask.shape}")
        if pixels.dtype != np.uint8 or pixels.ndim != 2 or not 1 <= pixels.shape[1] <= 0xFFFF:
            raise ValueError(
                f"pixels must be a uint8 array (n, C), got dtype {pixels.dtype} shape {pixels.shape}"
            )
        if pixels.shape[0] != int(mask.sum()):
            raise ValueError(
                f"pixels must have one row per True in mask ({int(mask.sum())}), got {pixels.shape[0]}"
            )
        if mask.size > MAX_PIXELS:
            raise ValueError(f"mask is too large for the wire format (H * W <= {MAX_PIXELS}), "
                             f"got {mask.shape}")
        if not isinstance(self.prompt, str):
            raise TypeError(f"prompt must be a str, got {type(self.prompt).__name__}")
        object.__setattr__(self, "mask", readonly(mask))
        object.__setattr__(self, "pixels", readonly(pixels))
        object.__setattr__(self, "_wire", {})  # the bytes it was parsed from, by (codec, quality)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Packet):
            return NotImplemented
        return (
            self.prompt == other.prompt
            and self.mask.shape == other.mask.shape
            and self.pixels.shape == other.pixels.shape
            and np.array_equal(self.mask, other.mask)
            and np.array_equal(self.pixels, other.pixels)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the source image."""
        return (*self.mask.shape, self.pixels.shape[1])

    @property
    def n_pixels(self) -> int:
        """Number of sent pixels, i.e. the bandwidth used at O = 1 per pixel (Table III)."""
        return int(self.pixels.shape[0])

    @functools.cached_property
    def _default_bytes(self) -> bytes:
        return self._wire.get(_DEFAULT_KEY[:2]) or self._encode(*_DEFAULT_KEY)

    @property
    def nbytes(self) -> int:
        """Size in bytes of the packet in the default coding, ``len(self.to_bytes())``."""
        return len(self._default_bytes)

    def to_bytes(self, codec: str = DEFAULT_CODEC, *, quality: int | None = None, level: int = 9) -> bytes:
        """Encode the packet in the wire format of this module (see the module docstring).

        Parameters
        ----------
        codec : {"webp", "zlib", "raw"}, default "webp"
            Coding of the sent pixels: lossy VP8 of their bounding box, lossless deflate, or
            lossless uncompressed (then mask and prompt are not compressed either).
        quality : int, optional
            WebP quality 0-100 of the ``"webp"`` coding; default :data:`DEFAULT_QUALITY`.
        level : int, default 9
            Deflate level, 0-9, of the deflated sections.

        Returns
        -------
        bytes
            ``Packet.from_bytes`` of it gives back the packet: an equal one for the lossless codings;
            for ``"webp"`` the same mask and prompt with the codec's decoded pixels. The default
            encoding is computed once and shared by every call and :attr:`nbytes`. A packet parsed
            from VP8-coded bytes returns those very bytes for their codec and quality (it is not
            coded a second time, which would add the codec's loss again).
        """
        codec, quality = _check_codec(codec, quality, level)
        key = (codec, quality, int(level))
        if key == _DEFAULT_KEY:
            return self._default_bytes
        if codec == "webp" and (codec, quality) in self._wire:
            return self._wire[(codec, quality)]
        return self._encode(*key)

    def received(self, codec: str = DEFAULT_CODEC, *, quality: int | None = None) -> Packet:
        """The packet as the user parses it: ``Packet.from_bytes(self.to_bytes(codec, quality=quality))``."""
        return Packet.from_bytes(self.to_bytes(codec, quality=quality))

    def _encode(self, codec: str, quality: int, level: int) -> bytes:
        h, w, c = self.shape
        coding = 0
        prompt = self.prompt.encode("utf-8")
        if (codec != "raw" and len(prompt) <= MAX_DEFLATED_PROMPT
                and len(z := _deflate(prompt, level)) < len(prompt)):
            prompt, coding = z, coding | _PROMPT_DEFLATE
        top, left, bh, bw = _box(self.mask)
        crop = self.mask[top : top + bh, left : left + bw]
        mask = np.packbits(crop.reshape(-1)).tobytes()
        if codec != "raw" and len(ctx := encode_mask(crop)) < len(mask):
            mask, coding = ctx, coding | _MASK_CONTEXT
        pixels = self.pixels.tobytes()
        if codec == "webp":
            if c not in (1, 3):
                raise ValueError(f"codec 'webp' codes 1 or 3 channels, this packet has {c}; use codec='zlib'")
            if self.n_pixels:
                box = np.zeros((bh, bw, c), np.uint8)
                box[crop] = self.pixels
                pixels = vp8_encode(fill_unsent(box, crop), quality)
            coding |= _PIX_VP8
        elif codec == "zlib" and len(z := _deflate(pixels, level)) < len(pixels):
            pixels, coding = z, coding | _PIX_DEFLATE
        body = b"".join([
            MAGIC, bytes([VERSION, coding, quality]), _varint(h), _varint(w), _varint(c),
            _varint(len(prompt)), prompt, *map(_varint, (top, left, bh, bw)), _varint(len(mask)), mask,
            _varint(len(pixels)), pixels,
        ])
        return body + zlib.crc32(body).to_bytes(_CRC_SIZE, "little")

    @classmethod
    def from_bytes(cls, data: bytes) -> Packet:
        """Decode bytes made by :meth:`to_bytes`.

        Parameters
        ----------
        data : bytes-like

        Returns
        -------
        Packet
            For VP8-coded bytes, the pixels are the codec's decoded values at the sent positions.

        Raises
        ------
        PacketError
            Bad magic or version, truncated or trailing data, checksum mismatch, or inconsistent
            sections (also a VP8 frame that does not decode).
        TypeError
            If ``data`` is not bytes-like.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < 4 or data[:4] != MAGIC[: len(data)]:
            raise PacketError(f"not a gsemlab packet: magic {data[:4]!r}, expected {MAGIC!r}")
        if len(data) < _MIN_SIZE:
            raise PacketError(f"truncated packet: {len(data)} bytes, a packet has at least {_MIN_SIZE}")
        body = data[:-_CRC_SIZE]
        if zlib.crc32(body) != int.from_bytes(data[-_CRC_SIZE:], "little"):
            raise PacketError("checksum mismatch: the packet is damaged or truncated")
        version, coding, quality = body[4], body[5], body[6]
        if version != VERSION:
            raise PacketError(f"unsupported packet version {version}, expected {VERSION}")
        pix_coding = coding & 3
        if coding >> 4 or pix_coding == 3 or quality > 100 or (quality and pix_coding != _PIX_VP8):
            raise PacketError(f"unknown coding {coding:#04x} with quality {quality}")
        rd = _Reader(body, 7)
        h, w, c = rd.varint("height"), rd.varint("width"), rd.varint("channels")
        if h * w > MAX_PIXELS or not 1 <= c <= 0xFFFF:
            raise PacketError(f"packet declares {h}x{w} pixels of {c} channels (at most {MAX_PIXELS} pixels)")
        prompt_b = rd.section("prompt")
        if coding & _PROMPT_DEFLATE:
            prompt_b = _inflate_unknown(prompt_b, MAX_DEFLATED_PROMPT, "prompt")
        try:
            prompt = prompt_b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PacketError(f"prompt is not valid UTF-8: {e}") from None
        top, left, bh, bw = (rd.varint(f"box {k}") for k in ("top", "left", "height", "width"))
        if (bh == 0) != (bw == 0) or (bh == 0 and top + left) or top + bh > h or left + bw > w:
            raise PacketError(f"box ({top}, {left}, {bh}, {bw}) does not fit a {h}x{w} image")
        mask_b = rd.section("mask")
        if coding & _MASK_CONTEXT:
            crop = decode_mask(mask_b, (bh, bw))
        elif len(mask_b) == (bh * bw + 7) // 8:
            crop = np.unpackbits(np.frombuffer(mask_b, np.uint8), count=bh * bw).astype(bool).reshape(bh, bw)
        else:
            raise PacketError(f"mask section has {len(mask_b)} bytes, expected {(bh * bw + 7) // 8} "
                              f"for {bh}x{bw}")
        if bh and not (crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, -1].any()):
            raise PacketError("mask does not fill its bounding box")
        pix_b = rd.section("pixels")
        if rd.pos != len(body):
            raise PacketError(f"{len(body) - rd.pos} unexpected bytes after the last section")
        n = int(crop.sum())
        if n == 0 and pix_b:
            raise PacketError(f"pixel section has {len(pix_b)} bytes for no sent pixel")
        if pix_coding == _PIX_VP8:
            if c not in (1, 3):
                raise PacketError(f"a VP8 pixel section needs 1 or 3 channels, the packet declares {c}")
            try:
                values = vp8_decode(pix_b, (bh, bw), c)[crop] if n else np.zeros((0, c), np.uint8)
            except ValueError as err:
                raise PacketError(str(err)) from None
        else:
            if pix_coding == _PIX_DEFLATE:
                pix_b = _inflate(pix_b, n * c, "pixels")
            if len(pix_b) != n * c:
                raise PacketError(f"pixel section has {len(pix_b)} bytes, expected {n} pixels x {c} channels")
            values = np.frombuffer(pix_b, dtype=np.uint8).reshape(n, c)
        mask = np.zeros((h, w), bool)
        mask[top : top + bh, left : left + bw] = crop
        packet = cls(mask=mask, pixels=values, prompt=prompt)
        if pix_coding == _PIX_VP8:
            packet._wire[("webp", quality)] = data
        return packet

    def image(self, fill=0) -> np.ndarray:
        """The received image: sent pixels in place, the rest set to ``fill``.

        Parameters
        ----------
        fill : int or sequence of C ints, default 0
            Value (0-255) of the pixels that were not sent (the user inpaints them).

        Returns
        -------
        ndarray of uint8, shape (H, W, C)
        """
        fill_arr = np.asarray(fill)
        if not np.issubdtype(fill_arr.dtype, np.number) or fill_arr.ndim > 1:
            raise TypeError(f"fill must be a number or a sequence of {self.shape[2]} numbers, got {fill!r}")
        if fill_arr.ndim == 1 and fill_arr.shape[0] != self.shape[2]:
            raise ValueError(
                f"fill must have {self.shape[2]} values (one per channel), got {fill_arr.shape[0]}"
            )
        if fill_arr.min() < 0 or fill_arr.max() > 255:
            raise ValueError(f"fill must be within [0, 255], got {fill!r}")
        out = np.empty(self.shape, dtype=np.uint8)
        out[...] = fill_arr.astype(np.uint8)
        out[self.mask] = self.pixels
        return out


def _inflate_unknown(data: bytes, limit: int, what: str) -> bytes:
    """Raw-inflate a section of unknown size, at most ``limit`` bytes."""
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(data, limit)
    except zlib.error as e:
        raise PacketError(f"{what} section is not valid deflate data: {e}") from None
    if not d.eof or d.unused_data:
        raise PacketError(f"{what} section is not one complete deflate stream of at most {limit} bytes")
    return out


def section_sizes(data: bytes) -> dict[str, int]:
    """Bytes of each part of an encoded packet, read from its header and lengths (nothing is decoded).

    Parameters
    ----------
    data : bytes
        A packet from :meth:`Packet.to_bytes` (its CRC is checked).

    Returns
    -------
    dict
        ``header`` (magic, version, coding, quality, H, W, C), ``prompt``, ``box``, ``mask`` and
        ``pixels`` (each with its length varint) and ``crc``; they sum to ``len(data)``.
    """
    Packet.from_bytes(data)  # a valid packet, or PacketError
    rd, out = _Reader(data[:-_CRC_SIZE], 7), {}
    for _ in range(3):
        rd.varint("size")
    out["header"] = rd.pos
    for name in ("prompt", "box", "mask", "pixels"):
        start = rd.pos
        if name == "box":
            for _ in range(4):
                rd.varint(name)
        else:
            rd.section(name)
        out[name] = rd.pos - start
    out["crc"] = _CRC_SIZE
    return out
