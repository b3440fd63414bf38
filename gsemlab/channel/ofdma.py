"""OFDMA downlink of Eq. 1 of [G-SemCom]: Rayleigh users, capacity and latency-bounded payload.

Each user ``U_i`` gets one resource block (RB) of bandwidth ``W`` and receives at

    c_i = W log2(1 + P phi_i / (I_n + W N_0)),   phi_i = gamma_i d_i**-2,   gamma_i ~ Exp(1),   (Eq. 1)

so within its latency bound ``L_i`` it can receive at most ``L_i c_i`` bits (the first term of Eq. 19a).
``gamma_i`` is the power of a unit-mean Rayleigh fading coefficient, hence exponential with mean 1.

Every function is vectorised: arguments broadcast with numpy's rules, so one call handles all users and
all Monte Carlo draws. Units: Hz, W, W/Hz, m, s, bit. Scalar inputs give numpy float scalars.
Defaults live in :class:`gsemlab.config.ChannelConfig`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import exp1

from ..checks import as_float_array, as_rng, check_positive_int, scalar_or_array
from ..config import ChannelConfig

__all__ = ["drop_users", "expected_capacity", "max_payload_bits", "ofdma_capacity", "rayleigh_gains"]

_DEFAULTS = ChannelConfig()


def rayleigh_gains(distances_m, rng=None, *, n_draws: int | None = None, path_loss_exponent: float = 2.0):
    """Draw channel gains ``phi = gamma * d**-2`` with Rayleigh fading ``gamma ~ Exp(1)``.

    These are the ``phi_i`` of Eq. 1 of [G-SemCom].

    Parameters
    ----------
    distances_m : array_like, shape (...)
        MASP-user distances ``d_i`` (m), all > 0.
    rng : None, int or numpy.random.Generator
        Seed or generator for ``gamma``.
    n_draws : int, optional
        Number of independent fading draws. When given, the result has a leading axis of this length:
        shape ``(n_draws, ...)``, so Monte Carlo over users and draws is one call.
    path_loss_exponent : float
        Exponent of the distance in the path loss; the paper uses 2.

    Returns
    -------
    gains : ndarray, shape (...) or (n_draws, ...)
        Dimensionless power gains ``phi_i`` (W received per W sent); a float for a scalar distance.
    """
    d = as_float_array(distances_m, "distances_m", low=0.0, strict=True)
    alpha = float(as_float_array(path_loss_exponent, "path_loss_exponent", low=0.0))
    shape = d.shape if n_draws is None else (check_positive_int(n_draws, "n_draws"), *d.shape)
    gamma = as_rng(rng).exponential(1.0, size=shape)
    return scalar_or_array(gamma * d ** (-alpha))


def _snr(bandwidth_hz, power_w, gain, interference_w, noise_psd_w_per_hz, gain_name="gain"):
    """Validated inputs and the linear SNR ``P phi / (I + W N0)`` of Eq. 1 (inf/NaN where W = I = 0)."""
    w = as_float_array(bandwidth_hz, "bandwidth_hz", low=0.0)
    p = as_float_array(power_w, "power_w", low=0.0)
    phi = as_float_array(gain, gain_name, low=0.0)
    i = as_float_array(interference_w, "interference_w", low=0.0)
    n0 = as_float_array(noise_psd_w_per_hz, "noise_psd_w_per_hz", low=0.0, strict=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = p * phi / (i + w * n0)
    return w, snr


def ofdma_capacity(bandwidth_hz, power_w, gain, interference_w, noise_psd_w_per_hz):
    """Downlink capacity of one resource block, Eq. 1 of [G-SemCom]: ``c = W log2(1 + P phi / (I + W N0))``.

    All arguments broadcast against each other (e.g. bandwidths of shape (k, 1) against gains of shape
    (n_users,) give a (k, n_users) result).

    Parameters
    ----------
    bandwidth_hz : array_like
        ``W``, bandwidth of the RB (Hz), >= 0. ``W = 0`` gives capacity 0.
    power_w : array_like
        ``P``, transmit power of the MASP on the RB (W), >= 0.
    gain : array_like
        ``phi_i``, channel power gain (dimensionless, >= 0), e.g. from :func:`rayleigh_gains`.
    interference_w : array_like
        ``I_n``, inter-cell interference power on the RB (W), >= 0.
    noise_psd_w_per_hz : array_like
        ``N_0``, noise power spectral density (W/Hz), > 0.

    Returns
    -------
    capacity_bps : ndarray
        ``c_i`` in bit/s, of the broadcast shape; a float for scalar inputs.

    Raises
    ------
    ValueError
        On NaN or infinite input, negative bandwidth, power, gain (a negative linear SNR) or
        interference, or non-positive noise density.
    """
    w, snr = _snr(bandwidth_hz, power_w, gain, interference_w, noise_psd_w_per_hz)
    with np.errstate(invalid="ignore"):
        c = np.where(w > 0, w * np.log2(1.0 + snr), 0.0)
    return scalar_or_array(np.asarray(c, dtype=np.float64))


def max_payload_bits(capacity_bps, latency_s):
    """Largest payload a user can receive within its latency bound: ``L_i c_i`` (Eq. 19a of [G-SemCom]).

    Parameters
    ----------
    capacity_bps : array_like
        ``c_i``, capacity (bit/s), >= 0.
    latency_s : array_like
        ``L_i``, latency bound (s), > 0; Table III uses 5 s.

    Returns
    -------
    payload_bits : ndarray
        ``L_i c_i`` in bit, broadcast shape; a float for scalar inputs. Converting bits into the
        paper's pixel unit (``O`` per pixel) is left to the caller.
    """
    c = as_float_array(capacity_bps, "capacity_bps", low=0.0)
    latency = as_float_array(latency_s, "latency_s", low=0.0, strict=True)
    return scalar_or_array(c * latency)


def drop_users(
    n,
    rng=None,
    *,
    min_distance_m: float = _DEFAULTS.min_distance_m,
    max_distance_m: float = _DEFAULTS.max_distance_m,
):
    """Drop users uniformly over the area of an annulus around the MASP; return their distances.

    Users are uniform in the *area* of the ring ``min_distance_m <= d <= max_distance_m`` (the usual
    cell model; uniform-in-distance would crowd users near the MASP). The distance then has density
    ``2 d / (R**2 - r**2)`` and is drawn as ``d = sqrt(r**2 + u (R**2 - r**2))`` with ``u ~ U(0, 1)``.

    Parameters
    ----------
    n : int or tuple of int
        Number of users, or the output shape (e.g. ``(n_draws, n_users)``).
    rng : None, int or numpy.random.Generator
        Seed or generator.
    min_distance_m, max_distance_m : float
        Inner radius ``r`` > 0 and outer radius ``R`` > ``r`` (m); defaults from ``ChannelConfig``.

    Returns
    -------
    distances_m : ndarray, shape (n,) or n
        MASP-user distances (m).
    """
    shape = (n,) if not isinstance(n, tuple) else n
    shape = tuple(check_positive_int(k, "n") for k in shape)
    r = float(as_float_array(min_distance_m, "min_distance_m", low=0.0, strict=True))
    big_r = float(as_float_array(max_distance_m, "max_distance_m", low=0.0, strict=True))
    if big_r <= r:
        raise ValueError(f"max_distance_m must be > min_distance_m, got {big_r} <= {r}")
    u = as_rng(rng).random(shape)
    return np.sqrt(r**2 + u * (big_r**2 - r**2))


def _exp_e1(x: np.ndarray) -> np.ndarray:
    """``exp(x) * E1(x)`` for x > 0 without overflow (asymptotic series for x >= 50)."""
    out = np.empty_like(x)
    small = x < 50.0
    out[small] = np.exp(x[small]) * exp1(x[small])
    xl = x[~small]
    term = np.ones_like(xl)
    total = np.ones_like(xl)
    for k in range(1, 30):  # sum_k (-1)^k k! / x^k; the 30th term is below 1e-18 at x = 50
        term = term * (-k / xl)
        total = total + term
    out[~small] = total / xl
    return out


def expected_capacity(bandwidth_hz, power_w, mean_gain, interference_w, noise_psd_w_per_hz):
    """Ergodic capacity under Rayleigh fading: ``E[c] = W E[log2(1 + a gamma)]``, ``gamma ~ Exp(1)``.

    With ``a = P E[phi] / (I + W N0)`` the mean SNR, the closed form is

        E[log2(1 + a gamma)] = exp(1/a) E1(1/a) / ln 2,

    where ``E1`` is the exponential integral (``scipy.special.exp1``). It is the mean of Eq. 1 over the
    fading of :func:`rayleigh_gains` at a fixed distance (``mean_gain = d**-2``), used to check Monte
    Carlo estimates.

    Parameters
    ----------
    bandwidth_hz, power_w, interference_w, noise_psd_w_per_hz : array_like
        As in :func:`ofdma_capacity` (Hz, W, W, W/Hz).
    mean_gain : array_like
        ``E[phi] = d**-2``, mean channel power gain (dimensionless, >= 0).

    Returns
    -------
    capacity_bps : ndarray
        Expected capacity in bit/s, broadcast shape; a float for scalar inputs.
    """
    w, a = _snr(bandwidth_hz, power_w, mean_gain, interference_w, noise_psd_w_per_hz, "mean_gain")
    w, a = np.broadcast_arrays(w, a)
    out = np.zeros(a.shape, dtype=np.float64)
    live = (w > 0) & (a > 0)
    out[live] = w[live] * _exp_e1(1.0 / a[live]) / np.log(2.0)
    return scalar_or_array(out)
