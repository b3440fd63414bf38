"""Default parameters of the G-SemCom system (Table III of [G-SemCom]) as frozen dataclasses.

Table III gives the G-SemCom and ADD settings. The radio parameters of Eq. 1 (RB bandwidth W,
transmit power P, interference I, noise density N0, cell radius) are not listed in the paper; the
values below are the course's choice (one 180 kHz resource block, 23 dBm, thermal noise at
-174 dBm/Hz, -90 dBm inter-cell interference, users 50-500 m away) and are stated in chapter 5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULTS", "ADDConfig", "ChannelConfig", "GSemComConfig", "JPSQConfig", "PaperConfig"]


def _dbm_to_w(dbm: float) -> float:
    return 10.0 ** (dbm / 10.0) / 1000.0


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
    """ADD agent and problem (19) settings (Table III).

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
