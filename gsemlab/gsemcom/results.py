"""What each step of G-SemCom produces: a generation, an encoding, a reception, a transmission.

Plain frozen records (no computation beyond a few derived sizes), shared by the encoder, the decoder,
the baselines and the :class:`~gsemlab.gsemcom.GSemCom` facade, and read by the chapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..packing import Packet
from ..prompt import Deconstruction

__all__ = ["Encoded", "Generation", "Reception", "Transmission"]


@dataclass(frozen=True, eq=False)
class Generation:
    """The MASP's source image and the attention it recorded while generating it (Eq. 2-6).

    Attributes
    ----------
    prompt : str
    seed : int
        Seed of the generation.
    source : ndarray of uint8, shape (H, W, 3)
        The source image ``g0``.
    store : gsemlab.attention.AttentionStore
        The recorded cross-attention (aggregated per word in the extraction stage, Eq. 7).
    seconds, cpu_seconds : float
        Wall and CPU time of the generation (s).
    peak_mb : float or None
        Peak memory increase of the generation (MiB), when profiled.
    """

    prompt: str
    seed: int
    source: np.ndarray = field(repr=False)
    store: object = field(repr=False)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_mb: float | None = None


@dataclass(frozen=True, eq=False)
class Encoded:
    """Everything the MASP computed for one prompt (Algorithm 1).

    Attributes
    ----------
    prompt : str
    seed : int
    source : ndarray of uint8, shape (H, W, 3)
        The source image ``g0``.
    word_maps : dict of str -> ndarray of float, shape (H, W)
        Aggregated cross-attention map of every kept word (Eq. 7).
    deconstruction : gsemlab.prompt.Deconstruction
        Tokens, Table II classes, C and C* (Eq. 9).
    D_star : ndarray of float, shape (K, K)
        IoU matrix of the kept words' maps binarised at ``ranking_xi`` (Eq. 10-11).
    importance : ndarray of float, shape (K,)
        ``s`` (Eq. 12), in ``deconstruction.words`` order.
    order : tuple of int, length K
        Indices into ``deconstruction.words`` by decreasing importance (ties in prompt order).
    words : tuple of str, length K
        The kept words by decreasing importance.
    xi : tuple of float, length K
        Threshold used for each ranked word (:func:`xi_per_rank`).
    binary_maps : tuple of ndarray of bool, shape (H, W)
        Ranked words' maps binarised at their thresholds (Eq. 8).
    clean_maps : tuple of ndarray of bool, shape (H, W)
        The same after DBSCAN noise removal (Eq. 13), or the binary maps when clustering is off.
    segments : tuple of ndarray of bool, shape (H, W)
        Disjoint segments in importance order (Eq. 14).
    packet : gsemlab.packing.Packet
        What is sent: the budgeted pixels and the prompt, as the user parses it from ``data`` (with the
        default lossy coding its pixels are the codec's decoded values, not the source's).
    data : bytes
        ``packet.to_bytes()``, coded once in the packing stage: what goes on the wire.
    timings, cpu_timings : dict of str -> float
        Wall and CPU seconds of the stages ``generation``, ``extraction`` and ``packing``.
    peak_mb : dict of str -> float
        Peak memory increase per stage (MiB), when profiled.
    """

    prompt: str
    seed: int
    source: np.ndarray = field(repr=False)
    word_maps: dict = field(repr=False)
    deconstruction: Deconstruction = field(repr=False)
    D_star: np.ndarray = field(repr=False)
    importance: np.ndarray = field(repr=False)
    order: tuple
    words: tuple
    xi: tuple
    binary_maps: tuple = field(repr=False)
    clean_maps: tuple = field(repr=False)
    segments: tuple = field(repr=False)
    packet: Packet = field(repr=False)
    data: bytes = field(repr=False, default=b"")
    timings: dict = field(default_factory=dict)
    cpu_timings: dict = field(default_factory=dict)
    peak_mb: dict = field(default_factory=dict)

    @property
    def semantic_pixels(self) -> int:
        """Pixels of the union of all segments, what an unlimited budget sends (the 'size' of Fig. 12a)."""
        return int(sum(int(s.sum()) for s in self.segments))

    @property
    def map_pixels(self) -> int:
        """Pixels of the ranked words' binary maps (Eq. 8), summed over the words (overlaps counted twice).

        Without binarisation every word's map holds all ``H * W`` pixels, so
        ``1 - map_pixels / (len(words) * H * W)`` is the per-word size reduction of Fig. 12(a).
        """
        return int(sum(int(b.sum()) for b in self.binary_maps))


@dataclass(frozen=True, eq=False)
class Reception:
    """What the user made of the bytes it received.

    Attributes
    ----------
    image : ndarray of uint8, shape (H, W, 3)
        The decoded image.
    packet : Packet or None
        The parsed packet; None when it was lost or damaged.
    fallback : bool
        True when the packet was lost or damaged and the image is prompt-only inpainting.
    error : str or None
        Why the packet was rejected.
    seconds, cpu_seconds : float
        Wall and CPU time of the decoding (s).
    peak_mb : float or None
        Peak memory increase of the decoding (MiB), when profiled.
    """

    image: np.ndarray = field(repr=False)
    packet: Packet | None = field(repr=False)
    fallback: bool
    error: str | None
    seconds: float
    cpu_seconds: float = 0.0
    peak_mb: float | None = None


@dataclass(frozen=True, eq=False)
class Transmission:
    """One user's outcome: the source, what it recovered, what it cost and how good it is.

    Attributes
    ----------
    method : {"gsemcom", "traditional", "local_aigc", "fully_masked"}
    prompt : str
    seed : int
        The MASP's generation seed.
    source : ndarray of uint8, shape (H, W, 3)
        ``g0``, the MASP's image.
    recovered : ndarray of uint8, shape (H, W, 3)
        ``g1``, the user's image.
    pixels_sent : int
        Pixels transmitted (the bandwidth at O = 1 per pixel, Table III).
    pixels_full : int
        Pixels of the whole image, ``H * W`` (what the traditional method sends).
    bytes_sent : int
        Bytes on the wire: the packet (G-SemCom, fully masked: prompt only), the PNG file
        (traditional), 0 (local AIGC).
    distance : float
        ``D(g0, g1)``, the backend's perceptual distance (Eq. 15).
    quality : float
        ``Q(g1)``, the backend's quality score (Eq. 16).
    jpsq : float
        ``J(g0, g1)`` (Eq. 17-18) with the backend's calibrated ``t_max``.
    timings, cpu_timings : dict of str -> float
        Wall and CPU seconds of the stages that ran, among ``generation``, ``extraction``,
        ``packing`` and ``decoding``.
    peak_mb : dict of str -> float or None
        Peak memory increase per stage (MiB) when profiled; empty otherwise.
    fallback : bool
        True when the packet was damaged or lost and the user fell back to prompt-only inpainting.
    encoded : Encoded or None
        The MASP's intermediate results (G-SemCom only).
    extra : dict
        Method-specific values (traditional: ``png_bytes``, ``jpeg_bytes``).
    """

    method: str
    prompt: str
    seed: int
    source: np.ndarray = field(repr=False)
    recovered: np.ndarray = field(repr=False)
    pixels_sent: int
    pixels_full: int
    bytes_sent: int
    distance: float
    quality: float
    jpsq: float
    timings: dict = field(default_factory=dict)
    cpu_timings: dict = field(default_factory=dict)
    peak_mb: dict = field(default_factory=dict)
    fallback: bool = False
    encoded: Encoded | None = field(default=None, repr=False)
    extra: dict = field(default_factory=dict)

    @property
    def bandwidth_saving(self) -> float:
        """The fraction of the traditional bandwidth saved, ``1 - pixels_sent / pixels_full``."""
        return 1.0 - self.pixels_sent / self.pixels_full
