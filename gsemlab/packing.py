"""Semantic information packing, Eq. 14 of [G-SemCom], and a real wire format for it.

The MASP orders the clean segments of the kept words by importance (Eq. 12) and makes them disjoint,
``s_1 = A_1, s_2 = A_2 \\ s_1, s_3 = A_3 \\ (s_1 | s_2), ...`` (Eq. 14); then it sends whole segments in
that order until the bandwidth budget is spent, and the part of the next segment that still fits,
taken in raster order. The budget counts pixels: Table III sets the cost per transmitted item to
O = 1, one pixel (all its channels) per unit.

A :class:`Packet` holds what the user receives (the mask of sent pixels, their values, the prompt)
and encodes it to bytes, so sizes in this course are measured, not estimated.

Wire format, version 1 (all integers little-endian)::

    magic     4 bytes   b"GSPK"
    version   u8        1
    flags     u8        bit 0: mask is zlib-compressed; bit 1: pixels are zlib-compressed
    H, W      u32, u32  image height and width (pixels)
    C         u16       channels per pixel
    len, ...  u32 + bytes   the prompt, UTF-8
    len, ...  u32 + bytes   the mask: np.packbits of the H*W raster-order bits (ceil(H*W/8) bytes)
    len, ...  u32 + bytes   the sent pixel values, uint8, raster order, n_pixels * C bytes
    crc       u32       CRC-32 (zlib.crc32) of every byte before it

Each section is zlib-compressed only when that makes it smaller. Damaged input raises
:class:`PacketError` (a ``ValueError``).
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .checks import readonly

__all__ = ["Packet", "PacketError", "disjoint_segments", "jpeg_bytes", "pack", "png_bytes"]

MAGIC = b"GSPK"
VERSION = 1
_HEADER = struct.Struct("<4sBBIIH")  # magic, version, flags, H, W, C
_LEN = struct.Struct("<I")
_CRC = struct.Struct("<I")
_FLAG_MASK_Z = 1
_FLAG_PIXELS_Z = 2


class PacketError(ValueError):
    """Bytes that are not a valid packet: bad magic or version, truncated, or checksum mismatch."""


def _as_mask_list(masks, name: str) -> list[np.ndarray]:
    """Validate a sequence (or (K, H, W) array) of equal-shape 2-D boolean masks."""
    if isinstance(masks, np.ndarray):
        if masks.ndim != 3:
            raise ValueError(
                f"{name} must be a (K, H, W) array or a sequence of 2-D masks, got shape {masks.shape}"
            )
        out = list(masks)
    elif isinstance(masks, (str, bytes)) or not isinstance(masks, Sequence):
        raise TypeError(f"{name} must be a sequence of boolean masks, got {type(masks).__name__}")
    else:
        out = [np.asarray(m) for m in masks]
    shapes = [m.shape for m in out]
    if any(len(s) != 2 for s in shapes):
        raise ValueError(f"{name} must be 2-D (H, W) masks, got shapes {shapes}")
    if len(set(shapes)) > 1:
        raise ValueError(f"{name} must all have the same shape, got {shapes}")
    for m in out:
        if m.dtype != bool:
            raise TypeError(f"{name} must be boolean masks, got dtype {m.dtype}")
    return out


def disjoint_segments(masks_in_importance_order) -> list[np.ndarray]:
    """Make importance-ordered segments disjoint, Eq. 14.

    ``s_1 = A_1`` and ``s_k = A_k \\ (s_1 | ... | s_{k-1})``: a pixel belongs to the most important
    word whose segment covers it.

    Parameters
    ----------
    masks_in_importance_order : sequence of K arrays of bool, shape (H, W), or array (K, H, W)
        Clean segments (after DBSCAN, Eq. 13), most important word first.

    Returns
    -------
    list of K ndarray of bool, shape (H, W)
        Pairwise disjoint; their union equals the union of the inputs. Empty input gives ``[]``.

    Raises
    ------
    ValueError
        If the masks are not 2-D or their shapes differ.
    TypeError
        If a mask is not boolean.
    """
    masks = _as_mask_list(masks_in_importance_order, "masks_in_importance_order")
    if not masks:
        return []
    taken = np.zeros(masks[0].shape, dtype=bool)
    out = []
    for m in masks:
        seg = m & ~taken
        taken |= seg
        out.append(seg)
    return out


def _as_image(image, name: str = "image") -> np.ndarray:
    """uint8 image as (H, W, C)."""
    if hasattr(image, "mode") and hasattr(image, "size"):  # a PIL image
        image = np.asarray(image)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (H, W) or (H, W, C), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] < 1:
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C), got {image.shape}")
    return image


@dataclass(frozen=True, eq=False)
class Packet:
    """What the MASP sends one user: the mask of sent pixels, their values and the prompt.

    Attributes
    ----------
    mask : ndarray of bool, shape (H, W)
        True where a pixel is sent.
    pixels : ndarray of uint8, shape (n_pixels, C)
        Values of the sent pixels in the raster order of ``mask`` (``image[mask]``).
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
        if max(mask.shape) > 0xFFFFFFFF:
            raise ValueError(f"mask is too large for the wire format, got shape {mask.shape}")
        if not isinstance(self.prompt, str):
            raise TypeError(f"prompt must be a str, got {type(self.prompt).__name__}")
        object.__setattr__(self, "mask", readonly(mask))
        object.__setattr__(self, "pixels", readonly(pixels))

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
        return self._encode(compress=True, level=9)

    @property
    def nbytes(self) -> int:
        """Size in bytes of the encoded packet, ``len(self.to_bytes())``."""
        return len(self._default_bytes)

    def to_bytes(self, *, compress: bool = True, level: int = 9) -> bytes:
        """Encode the packet in the wire format of this module (see the module docstring).

        Parameters
        ----------
        compress : bool, default True
            zlib-compress each of the mask and pixel sections when that makes it smaller.
        level : int, default 9
            zlib compression level, 0-9.

        Returns
        -------
        bytes
            ``Packet.from_bytes`` of it gives back an equal packet. The packet is immutable, so the
            default encoding is computed once and shared by every call and :attr:`nbytes`.
        """
        if compress is True and level == 9:
            return self._default_bytes
        return self._encode(compress=compress, level=level)

    def _encode(self, *, compress: bool, level: int) -> bytes:
        h, w, c = self.shape
        prompt = self.prompt.encode("utf-8")
        mask_raw = np.packbits(self.mask.reshape(-1)).tobytes()
        pix_raw = self.pixels.tobytes()
        flags = 0
        sections = []
        for raw, flag in ((mask_raw, _FLAG_MASK_Z), (pix_raw, _FLAG_PIXELS_Z)):
            if compress:
                z = zlib.compress(raw, level)
                if len(z) < len(raw):
                    raw, flags = z, flags | flag
            sections.append(raw)
        body = _HEADER.pack(MAGIC, VERSION, flags, h, w, c) + b"".join(
            _LEN.pack(len(s)) + s for s in (prompt, *sections)
        )
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> Packet:
        """Decode bytes made by :meth:`to_bytes`.

        Parameters
        ----------
        data : bytes-like

        Returns
        -------
        Packet

        Raises
        ------
        PacketError
            Bad magic or version, truncated or trailing data, checksum mismatch, or inconsistent
            sections.
        TypeError
            If ``data`` is not bytes-like.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, got {type(data).__name__}")
        data = bytes(data)
        minimum = _HEADER.size + 3 * _LEN.size + _CRC.size
        if len(data) < 4 or data[:4] != MAGIC[: len(data)]:
            raise PacketError(f"not a gsemlab packet: magic {data[:4]!r}, expected {MAGIC!r}")
        if len(data) < minimum:
            raise PacketError(f"truncated packet: {len(data)} bytes, a packet has at least {minimum}")
        body, (crc,) = data[: -_CRC.size], _CRC.unpack(data[-_CRC.size :])
        if zlib.crc32(body) != crc:
            raise PacketError("checksum mismatch: the packet is damaged or truncated")
        _, version, flags, h, w, c = _HEADER.unpack_from(body)
        if version != VERSION:
            raise PacketError(f"unsupported packet version {version}, expected {VERSION}")
        pos = _HEADER.size
        sections = []
        for _ in range(3):
            if pos + _LEN.size > len(body):
                raise PacketError("truncated packet: section length missing")
            (n,) = _LEN.unpack_from(body, pos)
            pos += _LEN.size
            if pos + n > len(body):
                raise PacketError("truncated packet: section shorter than its declared length")
            sections.append(body[pos : pos + n])
            pos += n
        if pos != len(body):
            raise PacketError(f"{len(body) - pos} unexpected bytes after the last section")
        prompt_b, mask_b, pix_b = sections
        try:
            prompt = prompt_b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PacketError(f"prompt is not valid UTF-8: {e}") from None
        if c < 1:
            raise PacketError("packet declares 0 channels")
        mask_len = (h * w + 7) // 8
        mask_b = _inflate(mask_b, mask_len, "mask") if flags & _FLAG_MASK_Z else mask_b
        if len(mask_b) != mask_len:
            raise PacketError(f"mask section has {len(mask_b)} bytes, expected {mask_len} for {h}x{w}")
        mask = np.unpackbits(np.frombuffer(mask_b, dtype=np.uint8), count=h * w).astype(bool).reshape(h, w)
        n_pix = int(mask.sum())
        pix_b = _inflate(pix_b, n_pix * c, "pixels") if flags & _FLAG_PIXELS_Z else pix_b
        if len(pix_b) != n_pix * c:
            raise PacketError(f"pixel section has {len(pix_b)} bytes, expected {n_pix} pixels x {c} channels")
        pixels = np.frombuffer(pix_b, dtype=np.uint8).reshape(n_pix, c)
        return cls(mask=mask, pixels=pixels, prompt=prompt)

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


def _inflate(data: bytes, expected: int, what: str) -> bytes:
    """zlib-decompress at most ``expected + 1`` bytes (no decompression bombs)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, expected + 1)
    except zlib.error as e:
        raise PacketError(f"{what} section is not valid zlib data: {e}") from None
    if not d.eof:
        raise PacketError(f"{what} section does not decompress to the expected {expected} bytes")
    return out


def pack(image, segments, budget_pixels: int | None, prompt: str = "") -> Packet:
    """Pack the most important pixels of an image within a pixel budget (Eq. 14, Sec. IV-C).

    Whole segments are sent in order while they fit; then the first pixels, in raster order, of the
    next segment fill what is left of the budget. Segments are made disjoint first
    (:func:`disjoint_segments`, a no-op for disjoint input), so no pixel is counted twice.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, C) or (H, W)
        The source image.
    segments : sequence of arrays of bool, shape (H, W), or array (K, H, W)
        Segments in importance order (Eq. 14).
    budget_pixels : int or None
        Bandwidth in pixels, O = 1 per pixel (Table III); None sends every segment pixel.
    prompt : str, default ""
        The prompt, sent along.

    Returns
    -------
    Packet
        Holds exactly ``min(budget_pixels, total segment pixels)`` pixels.

    Raises
    ------
    ValueError
        If the budget is negative, or the segments' shape differs from the image's (H, W).
    TypeError
        If the image is not uint8, the segments not boolean, the budget not an integer or None,
        or the prompt not a str.
    """
    img = _as_image(image)
    segs = disjoint_segments(segments)
    if any(s.shape != img.shape[:2] for s in segs):
        raise ValueError(f"segments must have the image's shape {img.shape[:2]}, got {segs[0].shape}")
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    if budget_pixels is not None:
        if isinstance(budget_pixels, bool) or not isinstance(budget_pixels, (int, np.integer)):
            raise TypeError(f"budget_pixels must be an int or None, got {type(budget_pixels).__name__}")
        if budget_pixels < 0:
            raise ValueError(f"budget_pixels must be >= 0, got {budget_pixels}")
    mask = np.zeros(img.shape[:2], dtype=bool)
    left = np.inf if budget_pixels is None else int(budget_pixels)
    for seg in segs:
        n = int(seg.sum())
        if n <= left:
            mask |= seg
            left -= n
        else:
            mask.reshape(-1)[np.flatnonzero(seg)[: int(left)]] = True
            break
    return Packet(mask=mask, pixels=img[mask], prompt=prompt)


def png_bytes(image) -> bytes:
    """Lossless PNG encoding of a whole image (Pillow), the 'traditional' baseline's payload.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)

    Returns
    -------
    bytes
        The PNG file (Pillow's default compression).
    """
    buf = io.BytesIO()
    _to_pil(image).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(image, quality: int = 75) -> bytes:
    """Lossy JPEG encoding of a whole image (Pillow), for size comparisons.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W), (H, W, 1) or (H, W, 3)
    quality : int, default 75
        JPEG quality, 1-95.

    Returns
    -------
    bytes
        The JPEG file.
    """
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 95:
        raise ValueError(f"quality must be an int in [1, 95], got {quality!r}")
    img = _to_pil(image)
    if img.mode not in ("L", "RGB"):
        raise ValueError(f"image must have 1 or 3 channels for JPEG, got mode {img.mode}")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def _to_pil(image):
    from PIL import Image

    img = _as_image(image)
    if img.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have 1, 3 or 4 channels, got {img.shape[2]}")
    return Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
