"""Default parameters of the G-SemCom system (Table III of [G-SemCom]) as frozen dataclasses.

Every dataclass checks its fields in ``__post_init__``, so a bad setting fails where it is written,
with a message naming the field, before any model runs; ``dataclasses.replace`` makes a changed copy.
This module imports nothing of gsemlab (it is the lowest layer, with :mod:`gsemlab.checks`).

Table III gives the G-SemCom and ADD settings. The radio parameters of Eq. 1 (RB bandwidth W,
transmit power P, interference I, noise density N0, cell radius) are not listed in the paper; the
values below are the course's choice (one 180 kHz resource block, 23 dBm, thermal noise at
-174 dBm/Hz, -90 dBm inter-cell interference, users 50-500 m away) and are stated in chapter 5.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

__all__ = [
    "DEFAULTS",
    "ADDConfig",
    "ChannelConfig",
    "DecoderOptions",
    "GSemComConfig",
    "GenerationOptions",
    "JPSQConfig",
    "PACKET_CODECS",
    "PACKET_PARTIAL_RULES",
    "PaperConfig",
    "xi_scheme",
]


def _dbm_to_w(dbm: float) -> float:
    return 10.0 ** (dbm / 10.0) / 1000.0


#: Codings of a packet's pixels (the same tuple as :data:`gsemlab.packing.CODECS`; a test checks it).
PACKET_CODECS = ("webp", "zlib", "raw")
PACKET_PARTIAL_RULES = ("stop", "raster", "priority", "skip")  # gsemlab.packing.PARTIAL_RULES


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _require_int(owner: str, name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")


def _require_bool(owner: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}.{name} must be a bool, got {type(value).__name__}")


def xi_scheme(xi) -> tuple[float, ...]:
    """Binarisation thresholds of Eq. 8 as a tuple: one number, or a sequence of them, each in (0, 1].

    Parameters
    ----------
    xi : float or sequence of float
        Fractions of each normalised map's maximum (Table III: 0.9, 0.8, 0.5).

    Returns
    -------
    tuple of float
        ``(xi,)`` for a single number, the values as floats otherwise.

    Raises
    ------
    TypeError
        ``xi`` is not a number or a sequence of numbers (a string is neither).
    ValueError
        A value outside (0, 1], or an empty sequence.
    """
    values = (xi,) if _is_real(xi) else xi
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"xi must be a number or a sequence of numbers in (0, 1], got {type(xi).__name__}")
    out = []
    for v in values:
        if not _is_real(v):
            raise TypeError(f"xi must hold real numbers, got {type(v).__name__}")
        if not 0.0 < float(v) <= 1.0:  # also rejects NaN
            raise ValueError(f"xi values must lie in (0, 1], got {v!r}")
        out.append(float(v))
    if not out:
        raise ValueError("xi must hold at least one threshold, got an empty sequence")
    return tuple(out)


@dataclass(frozen=True)
class ChannelConfig:
    """OFDMA transmission model, Eq. 1.

    Attributes
    ----------
    bandwidth_hz : float
        W, bandwidth of one resource block (Hz).
    power_w : float
        P, transmit power of the MASP per resource block (W).
    interference_w : float
        I_n, inter-cell interference on the resource block (W).
    noise_psd_w_per_hz : float
        N_0, noise power spectral density (W/Hz); -174 dBm/Hz.
    latency_s : float
        L_i, latency bound of each user (s); Table III: 5 s.
    min_distance_m, max_distance_m : float
        Users are dropped uniformly at these MASP-user distances (m).
    """

    bandwidth_hz: float = 180e3
    power_w: float = _dbm_to_w(23.0)
    interference_w: float = _dbm_to_w(-90.0)
    noise_psd_w_per_hz: float = _dbm_to_w(-174.0)
    latency_s: float = 5.0
    min_distance_m: float = 50.0
    max_distance_m: float = 500.0


@dataclass(frozen=True)
class GSemComConfig:
    """Semantic extraction and decoding settings (Sec. IV, Table III).

    Attributes
    ----------
    xi : tuple of float
        Binarisation thresholds of Eq. 8, one per importance rank (Table III: 0.9, 0.8, 0.5);
        the last value applies to every lower rank.
    generation_steps : int
        Denoising steps of the source image (Sec. VI: 25).
    decode_steps : int
        Inpainting steps at the user (Sec. VI: 5).
    dbscan_eps : float
        DBSCAN neighbourhood radius epsilon of Eq. 13 (pixels).
    dbscan_min_samples : int
        Omega of Eq. 13.
    min_cluster_size : int
        Clusters smaller than this are dropped as noise clusters (Fig. 6: 30 points).
    pixel_cost : float
        O, bandwidth consumption per transmitted pixel (Table III: 1).
    """

    xi: tuple[float, ...] = (0.9, 0.8, 0.5)
    generation_steps: int = 25
    decode_steps: int = 5
    dbscan_eps: float = 1.5
    dbscan_min_samples: int = 4
    min_cluster_size: int = 30
    pixel_cost: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "xi", xi_scheme(self.xi))
        for name in ("generation_steps", "decode_steps", "dbscan_min_samples"):
            _require_int("config", name, getattr(self, name), 1)
        _require_int("config", "min_cluster_size", self.min_cluster_size, 0)
        for name in ("dbscan_eps", "pixel_cost"):
            value = getattr(self, name)
            if not _is_real(value) or not math.isfinite(value) or not value > 0:
                raise ValueError(f"config.{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class GenerationOptions:
    """How the MASP generates, extracts and packs (Sec. IV-A to IV-C), beyond Table III.

    Attributes
    ----------
    guidance_scale : float
        Classifier-free guidance of the source generation (> 1 enables it; 0 and 1 disable it).
    binarize : bool
        Threshold the word maps with Eq. 8. False keeps every pixel with positive attention, which for
        softmax attention is the whole image (the Fig. 12a ablation).
    cluster : bool
        Remove noise and small clusters with DBSCAN, Eq. 13 (the Fig. 12c ablation when False).
    ranking_xi : float or None
        Common threshold of the maps that give D* (Eq. 10-11) and the importance ranking (Eq. 12);
        None takes the last value of ``GSemComConfig.xi``.
    codec : {"webp", "zlib", "raw"}
        Coding of the sent pixels in the packet (:meth:`gsemlab.packing.Packet.to_bytes`): lossy VP8
        of their bounding box, lossless deflate, or lossless uncompressed.
    codec_quality : int in [0, 100] or None
        Quality of the ``"webp"`` coding; None takes :data:`gsemlab.packing.DEFAULT_QUALITY`.
    partial : {"stop", "raster", "priority", "skip"}
        What the packet does with the first segment that does not fit the budget
        (:func:`gsemlab.packing.pack`): none of it nor of any later segment, so the packet is the
        longest prefix of whole segments that fits ("stop", the default: issue 16 measured that a cut
        segment makes the user's image look worse than sending nothing of it); its first pixels in
        raster order; its pixels of highest attention of its word; or none of it, with later
        segments that still fit sent ("skip").
    """

    guidance_scale: float = 5.0
    binarize: bool = True
    cluster: bool = True
    ranking_xi: float | None = None
    codec: str = "webp"
    codec_quality: int | None = None
    partial: str = "stop"

    def __post_init__(self) -> None:
        if self.partial not in PACKET_PARTIAL_RULES:
            raise ValueError(f"partial must be one of {PACKET_PARTIAL_RULES}, got {self.partial!r}")
        if not _is_real(self.guidance_scale) or not self.guidance_scale >= 0 or math.isinf(self.guidance_scale):
            raise ValueError(f"guidance_scale must be a number >= 0, got {self.guidance_scale!r}")
        _require_bool("options", "binarize", self.binarize)
        _require_bool("options", "cluster", self.cluster)
        if self.ranking_xi is not None:
            object.__setattr__(self, "ranking_xi", xi_scheme(self.ranking_xi)[0])
        if self.codec not in PACKET_CODECS:
            raise ValueError(f"codec must be one of {PACKET_CODECS}, got {self.codec!r}")
        q = self.codec_quality
        if q is not None and (isinstance(q, bool) or not isinstance(q, numbers.Integral) or not 0 <= q <= 100):
            raise ValueError(f"codec_quality must be None or an integer in [0, 100], got {q!r}")


@dataclass(frozen=True)
class DecoderOptions:
    """How the user's generative decoder fills what it did not receive (Sec. IV-D).

    Attributes
    ----------
    guidance_scale : float
        Classifier-free guidance of the inpainting and of the local-AIGC baseline.
    latent_mask : {"cover", "nearest"}
        How the pixel mask reaches the latent grid: ``"cover"`` repaints a latent cell when any pixel
        of its ``f x f`` block is missing; ``"nearest"`` leaves the pixel mask to diffusers, which
        samples one pixel per block.
    fill : {"ring", "nearest"} or int
        What the missing pixels hold in the image given to the inpainting pipeline: ``"ring"``, one
        colour per hole (the median of the received pixels around it; the hole that reaches the
        image's border takes the median of the received border pixels, or ``background``);
        ``"nearest"``, the nearest received pixel; an int in [0, 255], one grey level.
    strength : float in (0, 1] or None
        Share of the noise schedule the decoder runs (diffusers' img2img ``strength``). None: 1.0 for
        a dedicated 9-channel inpainting UNet (trained to start from pure noise), 0.9 for a 4-channel
        UNet that inpaints by latent blending.
    background : tuple of 3 ints or None
        RGB guess of the background for ``fill="ring"`` when no border pixel arrived; None takes the
        backend's ``background``.
    """

    guidance_scale: float = 5.0
    latent_mask: str = "cover"
    fill: int | str = "ring"
    strength: float | None = None
    background: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if not _is_real(self.guidance_scale) or not self.guidance_scale >= 0 or math.isinf(self.guidance_scale):
            raise ValueError(f"guidance_scale must be a number >= 0, got {self.guidance_scale!r}")
        if self.latent_mask not in ("cover", "nearest"):
            raise ValueError(f"latent_mask must be 'cover' or 'nearest', got {self.latent_mask!r}")
        fill = self.fill
        grey = isinstance(fill, numbers.Integral) and not isinstance(fill, bool) and 0 <= fill <= 255
        if not (grey or (isinstance(fill, str) and fill in ("nearest", "ring"))):
            raise ValueError(f"fill must be 'nearest', 'ring' or an int in [0, 255], got {fill!r}")
        object.__setattr__(self, "fill", int(fill) if grey else fill)
        if self.strength is not None:
            if not _is_real(self.strength) or not 0 < self.strength <= 1:
                raise ValueError(f"strength must be a number in (0, 1], got {self.strength!r}")
            object.__setattr__(self, "strength", float(self.strength))
        if self.background is not None:
            bg = self.background
            values = [] if isinstance(bg, (str, bytes)) or not hasattr(bg, "__iter__") else list(bg)
            ok = len(values) == 3 and all(_is_real(v) and 0 <= v <= 255 for v in values)
            if not ok:
                raise ValueError(f"background must be 3 numbers in [0, 255] (RGB) or None, got {bg!r}")
            object.__setattr__(self, "background", tuple(round(float(v)) for v in values))


@dataclass(frozen=True)
class JPSQConfig:
    """JPSQ of Eq. 17-18 (Table III).

    Attributes
    ----------
    omega0 : float
        Weighting factor omega_0 of Eq. 17 (1.25).
    q_th : float
        Q_th, the users' quality threshold (4.9827).
    t_min : float
        Lower bound of the distance in Eq. 18 (0).
    """

    omega0: float = 1.25
    q_th: float = 4.9827
    t_min: float = 0.0


@dataclass(frozen=True)
class ADDConfig:
    """ADD agent and problem (Eq. 19) settings (Table III).

    Attributes
    ----------
    gamma : float
        Discount factor (0.95).
    learning_rate : float
        eta (1e-4).
    diffusion_steps : int
        T, denoising steps of the diffusion policy (Table III: 5 and 6; 5 by default).
    omega1, omega2 : float
        Weighting factors of Eq. 19 (500 and 0.05).
    """

    gamma: float = 0.95
    learning_rate: float = 1e-4
    diffusion_steps: int = 5
    omega1: float = 500.0
    omega2: float = 0.05


@dataclass(frozen=True)
class PaperConfig:
    """All defaults of Table III grouped by subsystem."""

    channel: ChannelConfig = field(default_factory=ChannelConfig)
    gsemcom: GSemComConfig = field(default_factory=GSemComConfig)
    jpsq: JPSQConfig = field(default_factory=JPSQConfig)
    add: ADDConfig = field(default_factory=ADDConfig)


DEFAULTS = PaperConfig()
