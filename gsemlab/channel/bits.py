"""Packets over a noisy link: a binary symmetric channel and an erasure channel on bytes.

The OFDMA model of Eq. 1 says how many bits a user can receive in time; it says nothing about bit
errors. To see what a damaged packet does to G-SemCom, this module corrupts the bytes of a packet
(:meth:`gsemlab.packing.Packet.to_bytes`) the two textbook ways:

* :func:`bsc`, the binary symmetric channel BSC(p): every bit is flipped independently with
  probability ``p``; the number of flipped bits of an ``n``-byte packet is Binomial(8 n, p).
* :func:`erasure`, the erasure channel: either every byte is independently lost with probability
  ``p`` (``unit="byte"``; the receiver sees a fill byte where a byte was lost, as a decoder without
  erasure flags would) or the whole packet is lost with probability ``p`` (``unit="packet"``; the
  function returns ``None``, nothing arrives).

The packet's CRC-32 detects the damage; :meth:`gsemlab.gsemcom.GSemCom.receive` then falls back to
prompt-only inpainting. Pure numpy: no torch.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..checks import as_rng

__all__ = ["bit_errors", "bsc", "erasure"]


def _check_data(data) -> np.ndarray:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes-like, got {type(data).__name__}")
    return np.frombuffer(bytes(data), dtype=np.uint8)


def _check_probability(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a real number in [0, 1], got {type(p).__name__}")
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    return p


def bsc(data, p, rng=None) -> bytes:
    """Send bytes through a binary symmetric channel BSC(p): each bit flips with probability ``p``.

    Parameters
    ----------
    data : bytes-like, length n
        The transmitted bytes, e.g. ``packet.to_bytes()``.
    p : float
        Crossover (bit error) probability, in [0, 1].
    rng : None, int or numpy.random.Generator
        Seed or generator of the flips.

    Returns
    -------
    bytes, length n
        The received bytes; on average ``8 n p`` bits differ from ``data``.

    Examples
    --------
    >>> bsc(b"\\x00\\xff", 1.0)  # p = 1 flips every bit
    b'\\xff\\x00'
    """
    arr = _check_data(data)
    p = _check_probability(p)
    gen = as_rng(rng)
    flips = gen.random((arr.size, 8)) < p  # (n, 8) one draw per bit
    return (arr ^ np.packbits(flips, axis=1)[:, 0]).tobytes()


def erasure(data, p, rng=None, *, unit: str = "byte", fill: int = 0) -> bytes | None:
    """Send bytes through an erasure channel.

    Parameters
    ----------
    data : bytes-like, length n
        The transmitted bytes.
    p : float
        Erasure probability, in [0, 1]: of each byte (``unit="byte"``) or of the whole packet
        (``unit="packet"``).
    rng : None, int or numpy.random.Generator
        Seed or generator.
    unit : {"byte", "packet"}
        What is erased.
    fill : int
        Byte value (0-255) the receiver sees in place of an erased byte (``unit="byte"``).

    Returns
    -------
    bytes of length n, or None
        The received bytes, erased bytes replaced by ``fill``; ``None`` when the packet was lost
        (``unit="packet"``).
    """
    arr = _check_data(data)
    p = _check_probability(p)
    if unit not in ("byte", "packet"):
        raise ValueError(f"unit must be 'byte' or 'packet', got {unit!r}")
    if isinstance(fill, bool) or not isinstance(fill, numbers.Integral) or not 0 <= fill <= 255:
        raise ValueError(f"fill must be an int in [0, 255], got {fill!r}")
    gen = as_rng(rng)
    if unit == "packet":
        return None if gen.random() < p else arr.tobytes()
    out = arr.copy()
    out[gen.random(arr.size) < p] = fill
    return out.tobytes()


def bit_errors(sent, received) -> int:
    """Number of bit positions in which two equal-length byte strings differ (Hamming distance).

    Parameters
    ----------
    sent, received : bytes-like, same length

    Returns
    -------
    int
    """
    a, b = _check_data(sent), _check_data(received)
    if a.size != b.size:
        raise ValueError(f"sent and received must have the same length, got {a.size} and {b.size}")
    return int(np.unpackbits(a ^ b).sum())
