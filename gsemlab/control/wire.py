"""The wire format of a control message: a downscaled control map and the prompt ([Control], Sec. IV-A).

What the sender of [Control] transmits instead of pixels (Fig. 2 Part C, Fig. 3): the prompt and the
control map, downscaled by the factor the allocation chose. :func:`pack` turns them into bytes and
:func:`unpack` back; the link's cost of a message is ``len(pack(...))`` bytes (:func:`nbytes`).

Layout (big-endian)::

    offset  size  field
    0       4     magic b"GCM1"
    4       1     method: index into gsemlab.control.maps.METHODS
    5       1     factor: 1, 2, 4 or 8 (the map's side is 64 / factor)
    6       1     payload coding: 0 raw, 1 zlib (whichever is shorter)
    7       2     prompt length n (bytes of UTF-8)
    9       n     prompt, UTF-8
    9 + n   ...   payload: the map's pixels, row-major, coded per method (below)

Map coding before the optional zlib (level 9):

* ``"canny"``: one bit per pixel (``numpy.packbits`` of ``map > 0``, most significant bit first):
  ``side**2 / 8`` bytes;
* ``"segmentation"``: labels 0-6 in four bits each, two pixels per byte (first pixel in the high
  nibble): ``side**2 / 2`` bytes;
* ``"depth"``: one byte per pixel.

The payload length follows from the method and factor, so the header carries no size; a truncated or
padded message is rejected.
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

import numpy as np

from ..checks import check_prompt
from .maps import IMAGE_SIDE, METHODS, check_factor, check_map, check_method

__all__ = ["HEADER_BYTES", "MAGIC", "ControlMessage", "nbytes", "pack", "raw_payload_bytes", "unpack"]

#: the first four bytes of every control message
MAGIC = b"GCM1"
_HEADER = struct.Struct(">4sBBBH")
#: bytes of the fixed header (magic, method, factor, coding, prompt length), before the prompt
HEADER_BYTES = _HEADER.size
_RAW, _ZLIB = 0, 1
_MAX_PROMPT = 0xFFFF


class ControlMessage(NamedTuple):
    """A decoded control message: ``prompt, control_map, method, factor = unpack(data)``.

    Parameters
    ----------
    prompt : str
        The prompt.
    control_map : ndarray of uint8, shape (64 / factor, 64 / factor)
        The downscaled control map, exactly as packed.
    method : str
        One of :data:`gsemlab.control.maps.METHODS`.
    factor : int
        The downscaling factor, one of :data:`gsemlab.control.maps.FACTORS`.
    """

    prompt: str
    control_map: np.ndarray
    method: str
    factor: int


def raw_payload_bytes(method: str, factor: int) -> int:
    """Bytes of a map's coding before zlib: ``side**2`` / 8 (canny), / 2 (segmentation), / 1 (depth).

    Parameters
    ----------
    method : {"canny", "segmentation", "depth"}
        The extraction method.
    factor : {1, 2, 4, 8}
        The downscaling factor; ``side = 64 / factor``.
    """
    method, factor = check_method(method), check_factor(factor)
    pixels = (IMAGE_SIDE // factor) ** 2
    return {"canny": pixels // 8, "segmentation": pixels // 2, "depth": pixels}[method]


def _code(control_map: np.ndarray, method: str) -> bytes:
    flat = control_map.reshape(-1)
    if method == "canny":
        return np.packbits(flat > 0).tobytes()
    if method == "segmentation":
        return ((flat[0::2] << 4) | flat[1::2]).astype(np.uint8).tobytes()
    return flat.tobytes()


def _decode(raw: bytes, method: str, side: int) -> np.ndarray:
    b = np.frombuffer(raw, np.uint8)
    if method == "canny":
        flat = np.unpackbits(b)[: side * side] * np.uint8(255)
    elif method == "segmentation":
        flat = np.empty(side * side, np.uint8)
        flat[0::2], flat[1::2] = b >> 4, b & 0x0F
    else:
        flat = b.copy()
    return flat.reshape(side, side)


def pack(prompt: str, control_map, *, method: str, factor: int) -> bytes:
    """The bytes that carry a prompt and its downscaled control map over the link ([Control], Fig. 3).

    Parameters
    ----------
    prompt : str
        The prompt (UTF-8, at most 65535 bytes).
    control_map : ndarray of uint8, shape (64 / factor, 64 / factor)
        A map of :func:`gsemlab.control.maps.downscale`.
    method : {"canny", "segmentation", "depth"}
        How the map was extracted (it picks the map's coding).
    factor : {1, 2, 4, 8}
        How much it was downscaled.

    Returns
    -------
    bytes
        :data:`HEADER_BYTES` + prompt + payload (module docstring: the layout); the payload is zlib'd when
        that is shorter.
    """
    prompt = check_prompt(prompt)
    method, factor = check_method(method), check_factor(factor)
    side = IMAGE_SIDE // factor
    check_map(control_map, method, side=side)
    text = prompt.encode("utf-8")
    if len(text) > _MAX_PROMPT:
        raise ValueError(f"prompt must be at most {_MAX_PROMPT} bytes of UTF-8, got {len(text)}")
    raw = _code(control_map, method)
    packed = zlib.compress(raw, 9)
    coding, payload = (_ZLIB, packed) if len(packed) < len(raw) else (_RAW, raw)
    return _HEADER.pack(MAGIC, METHODS.index(method), factor, coding, len(text)) + text + payload


def unpack(data) -> ControlMessage:
    """Decode the bytes of :func:`pack`: the receiver's side of the link ([Control], Fig. 2 Part C).

    Parameters
    ----------
    data : bytes or bytearray
        One whole message.

    Returns
    -------
    ControlMessage
        ``(prompt, control_map, method, factor)``; the map is uint8 (64 / factor, 64 / factor), equal to
        the packed one.

    Raises
    ------
    ValueError
        Not a control message (magic), an unknown method, factor or coding, or a truncated, padded or
        corrupt payload.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER_BYTES:
        raise ValueError(f"a control message has at least {HEADER_BYTES} bytes of header, "
                         f"got {len(data)} bytes")
    magic, m, factor, coding, n = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"not a control message: starts with {magic!r}, expected {MAGIC!r}")
    if m >= len(METHODS):
        raise ValueError(f"unknown method index {m} in the header "
                         f"(expected 0 to {len(METHODS) - 1}: {METHODS})")
    method, factor = METHODS[m], check_factor(factor)
    if coding not in (_RAW, _ZLIB):
        raise ValueError(f"unknown payload coding {coding} in the header (expected 0 raw or 1 zlib)")
    if len(data) < HEADER_BYTES + n:
        raise ValueError(f"truncated message: the header announces a {n}-byte prompt, "
                         f"{len(data) - HEADER_BYTES} bytes follow the header")
    prompt = data[HEADER_BYTES:HEADER_BYTES + n].decode("utf-8")
    payload = data[HEADER_BYTES + n:]
    if coding == _ZLIB:
        d = zlib.decompressobj()
        try:
            payload = d.decompress(payload) + d.flush()
        except zlib.error as err:
            raise ValueError(f"corrupt zlib payload: {err}") from err
        if not d.eof or d.unused_data:
            raise ValueError("corrupt zlib payload: truncated, or bytes after its end")
    expected = raw_payload_bytes(method, factor)
    if len(payload) != expected:
        raise ValueError(f"a {method} map at factor {factor} takes {expected} bytes, the message carries "
                         f"{len(payload)}")
    side = IMAGE_SIDE // factor
    control_map = _decode(payload, method, side)
    check_map(control_map, method, side=side)
    return ControlMessage(prompt, control_map, method, factor)


def nbytes(prompt: str, control_map, *, method: str, factor: int) -> int:
    """Bytes the link carries for one message: ``len(pack(prompt, control_map, method=..., factor=...))``.

    Parameters
    ----------
    prompt, control_map, method, factor
        As :func:`pack`.
    """
    return len(pack(prompt, control_map, method=method, factor=factor))
