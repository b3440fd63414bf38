"""Bits per sent pixel: from a payload in bits (Eq. 19a's ``L_i c_i``) to a pixel budget, and back.

Eq. 19a bounds user ``i``'s bandwidth by ``0 <= b_i <= min{L_i c_i, O |S_i|}``: ``L_i c_i`` is the
payload in bits the link carries within the latency ``L_i`` (Eq. 1,
:func:`gsemlab.channel.max_payload_bits`), ``O |S_i|`` the semantic information in bandwidth units,
pixels at Table III's ``O = 1``. The two terms are in different units. A packet's size is close to
affine in the pixels it carries,

    bits(n) = overhead_bits + bits_per_pixel * n,

the overhead being header, prompt, CRC and the part of the mask and pixel sections that does not
grow with n; so a payload of B bits buys ``n(B) = floor((B - overhead_bits) / bits_per_pixel)``
pixels, and Eq. 19a in pixels reads ``b_i <= min{n(L_i c_i), |S_i|}``.

:func:`packet_rate` gives the model measured by ``benchmarks/rate_distortion.py`` (least squares over
the default scheme's packets at every budget, toy backend, 64 x 64 ShapesWorld images; bundled as
``gsemlab.data.load_result("rate_distortion")["rate_model"]``). By default its intercept is the 95th
percentile of the measured packets' excess, so 95 % of those packets fit the payload they were
budgeted for. On other images (512 x 512 photographs) bits per pixel are far higher: measure them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks import as_float_array, scalar_or_array
from ..data import load_result
from .packet import CODECS, DEFAULT_QUALITY

__all__ = ["PacketRate", "packet_rate", "pixel_budget"]


@dataclass(frozen=True)
class PacketRate:
    """Affine size model of a packet, ``bits(n) = overhead_bits + bits_per_pixel * n``.

    Attributes
    ----------
    overhead_bits : float
        Bits of a packet that carries no pixel (>= 0).
    bits_per_pixel : float
        Bits each sent pixel adds, > 0 (mask and pixel sections together).
    """

    overhead_bits: float
    bits_per_pixel: float

    def __post_init__(self) -> None:
        for name, low in (("overhead_bits", 0.0), ("bits_per_pixel", None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
            if not math.isfinite(value) or (value < 0 if low is not None else value <= 0):
                raise ValueError(f"{name} must be a finite number {'>= 0' if low is not None else '> 0'}, "
                                 f"got {value!r}")
        object.__setattr__(self, "overhead_bits", float(self.overhead_bits))
        object.__setattr__(self, "bits_per_pixel", float(self.bits_per_pixel))

    def bits(self, n_pixels):
        """Modelled size in bits of a packet of ``n_pixels`` sent pixels (array_like, >= 0)."""
        n = as_float_array(n_pixels, "n_pixels", low=0.0)
        return scalar_or_array(self.overhead_bits + self.bits_per_pixel * n)

    def pixel_budget(self, payload_bits):
        """Largest pixel count whose modelled packet fits ``payload_bits`` (array_like, >= 0).

        Returns
        -------
        int or ndarray of int64
            ``floor((payload_bits - overhead_bits) / bits_per_pixel)``, and 0 where the payload does
            not cover the overhead.
        """
        b = as_float_array(payload_bits, "payload_bits", low=0.0)
        n = np.floor((b - self.overhead_bits) / self.bits_per_pixel + 1e-9)
        out = np.maximum(n, 0).astype(np.int64)
        return int(out) if out.ndim == 0 else out


def packet_rate(codec: str = "webp", *, conservative: bool = True) -> PacketRate:
    """The packet size model measured by ``benchmarks/rate_distortion.py`` (bundled result).

    Parameters
    ----------
    codec : {"webp", "zlib"}
        The pixel coding (:meth:`gsemlab.packing.Packet.to_bytes`); ``"webp"`` at
        :data:`~gsemlab.packing.DEFAULT_QUALITY`.
    conservative : bool, default True
        Use the intercept that 95 % of the measured packets stay under, instead of the least-squares one.

    Returns
    -------
    PacketRate

    Raises
    ------
    ValueError
        No measurement for ``codec``.
    RuntimeError
        The bundled measurement was made at another default quality than this package's.
    """
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    models = load_result("rate_distortion")["rate_model"]
    if codec not in models:
        raise ValueError(f"no measured rate for codec {codec!r}; have {sorted(models)}")
    m = models[codec]
    if codec == "webp" and m["quality"] != DEFAULT_QUALITY:
        raise RuntimeError(f"the bundled rate was measured at WebP quality {m['quality']}, the default is "
                           f"{DEFAULT_QUALITY}: rerun benchmarks/rate_distortion.py")
    return PacketRate(m["overhead_bits_p95"] if conservative else m["overhead_bits"], m["bits_per_pixel"])


def pixel_budget(payload_bits, codec: str = "webp", *, conservative: bool = True):
    """Pixels a payload of ``payload_bits`` buys: the bound of Eq. 19a of [G-SemCom] in pixels.

    ``packet_rate(codec, conservative=conservative).pixel_budget(payload_bits)``; e.g. for ADD,
    ``b_max = min(pixel_budget(max_payload_bits(c, L)), semantic_pixels)``.

    Parameters
    ----------
    payload_bits : array_like
        Payload in bits, >= 0.
    codec : {"webp", "zlib"}
    conservative : bool, default True

    Returns
    -------
    int or ndarray of int64
    """
    return packet_rate(codec, conservative=conservative).pixel_budget(payload_bits)
