"""Semantic information packing (Eq. 14 of [G-SemCom]) and the packet that carries it, in bytes.

The paper counts bandwidth in pixels (Table III: O = 1 per pixel); a link carries bits. This
subpackage does both: :func:`pack` picks the pixels (Eq. 14, in pixels), :class:`Packet` turns them
into bytes (a real wire format with a CRC), and :mod:`.rate` turns a payload in bits (Eq. 19a's
``L_i c_i``) back into a pixel budget.

Modules, in the order data flows:

* :mod:`.segments`: :func:`disjoint_segments` (Eq. 14) and :func:`pack` (the budget, in pixels).
* :mod:`.packet`: :class:`Packet`, its wire format (version 2: magic, version, coding, lengths,
  CRC-32) and :class:`PacketError`. Default coding: lossy (the sent pixels' bounding box as one VP8
  frame, WebP's lossy bitstream, at :data:`DEFAULT_QUALITY`); ``"zlib"`` and ``"raw"`` are lossless.
* :mod:`.codecs`: the mask's context-adaptive arithmetic coder, the fill of unsent pixels, VP8, and
  whole-image PNG / JPEG / WebP files for the baselines.
* :mod:`.rate`: bits per sent pixel, measured by ``benchmarks/rate_distortion.py``, and the pixel
  budget a payload in bits buys.

Every public name is re-exported here (``from gsemlab.packing import pack, Packet``).
"""

from .codecs import decode_image, jpeg_bytes, png_bytes, webp_bytes
from .packet import (
    CODECS,
    DEFAULT_CODEC,
    DEFAULT_QUALITY,
    MAGIC,
    MAX_PIXELS,
    VERSION,
    Packet,
    PacketError,
    section_sizes,
)
from .rate import PacketRate, packet_rate, pixel_budget
from .segments import PARTIAL_RULES, disjoint_segments, pack

__all__ = [
    "CODECS", "DEFAULT_CODEC", "DEFAULT_QUALITY", "MAGIC", "MAX_PIXELS", "VERSION", "Packet", "PacketError",
    "PARTIAL_RULES", "PacketRate", "decode_image", "disjoint_segments", "jpeg_bytes", "pack", "packet_rate", "pixel_budget",
    "png_bytes", "section_sizes", "webp_bytes",
]
