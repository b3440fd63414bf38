"""Channels of the course: the OFDMA downlink of Eq. 1 and bits over a noisy link.

* :mod:`gsemlab.channel.ofdma`: Rayleigh users, OFDMA capacity (Eq. 1), latency-bounded payload.
* :mod:`gsemlab.channel.bits`: a packet's bytes through a binary symmetric or an erasure channel.

The fading and OFDM channels of the later chapters (AWGN, correlated OFDM fading, QAM) go here too.
Every name is re-exported here, so ``from gsemlab.channel import ofdma_capacity, bsc`` works.
"""

from .bits import bit_errors, bsc, erasure
from .ofdma import drop_users, expected_capacity, max_payload_bits, ofdma_capacity, rayleigh_gains

__all__ = [
    "bit_errors",
    "bsc",
    "drop_users",
    "erasure",
    "expected_capacity",
    "max_payload_bits",
    "ofdma_capacity",
    "rayleigh_gains",
]
