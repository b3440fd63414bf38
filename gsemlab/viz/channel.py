"""Figures of chapter 5: the OFDMA downlink of Eq. 1 of [G-SemCom] and its latency-bounded payload.

Every helper draws what the chapter computed (capacities in bit/s, payloads in bits, pixel budgets)
on the axes it is given, or on a new figure at most ``gsemlab.viz.style.MAX_WIDTH_IN`` wide, and
returns the axes; none calls ``plt.show()``. Only matplotlib and numpy are used.

Helpers
-------
capacity_vs_distance
    Capacity without fading, ergodic capacity with a band of fading quantiles, Monte Carlo mean.
capacity_vs_bandwidth
    Ergodic capacity and spectral efficiency against the resource block's bandwidth.
pixel_budget_vs_latency
    Pixels a latency-bounded payload buys (Eq. 19a in pixels) against the latency bound.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from .figures import plot_curves, series_style

__all__ = ["capacity_vs_bandwidth", "capacity_vs_distance", "pixel_budget_vs_latency"]


def _positive_1d(values, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name} must be a 1-D array of at least two finite values > 0, got shape {v.shape}")
    return v


def capacity_vs_distance(distances_m, no_fading_bps, ergodic_bps, draws_bps, *,
                         quantiles: tuple[float, float] = (0.1, 0.9), ax=None):
    """Capacity of one resource block against distance (Eq. 1), in Mbit/s on a log distance axis.

    Parameters
    ----------
    distances_m : array_like, shape (n,)
        MASP-user distances (m), > 0.
    no_fading_bps : array_like, shape (n,)
        Capacity at ``gamma = 1`` (bit/s).
    ergodic_bps : array_like, shape (n,)
        Ergodic capacity ``E[c]`` over Rayleigh fading (bit/s), e.g. from
        :func:`gsemlab.channel.expected_capacity`.
    draws_bps : array_like, shape (n_draws, n)
        Capacities of ``n_draws`` fading draws at each distance (bit/s); their mean is drawn dotted
        and the ``quantiles`` band is shaded around the ergodic curve.
    quantiles : (float, float)
        Lower and upper quantile of the band, ``0 <= low < high <= 1``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new 6 x 3.4 inch figure when omitted.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Raises
    ------
    ValueError
        On arrays of the wrong shape or quantiles outside ``[0, 1]``.
    """
    d = _positive_1d(distances_m, "distances_m")
    draws = np.asarray(draws_bps, dtype=float)
    if draws.ndim != 2 or draws.shape[1] != d.size:
        raise ValueError(f"draws_bps must have shape (n_draws, {d.size}), got {draws.shape}")
    low, high = (float(q) for q in quantiles)
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"quantiles must satisfy 0 <= low < high <= 1, got {quantiles!r}")
    q_low, q_high = np.quantile(draws, [low, high], axis=0)
    ergodic_label = r"ergodic $\mathbb{E}[c]$ (Rayleigh)"
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4), layout="constrained")
    return plot_curves(
        d,
        {r"no fading ($\gamma = 1$)": np.asarray(no_fading_bps, float) / 1e6,
         ergodic_label: np.asarray(ergodic_bps, float) / 1e6,
         f"Monte Carlo mean ({draws.shape[0]} draws)": draws.mean(axis=0) / 1e6},
        bands={ergodic_label: (q_low / 1e6, q_high / 1e6)},
        styles={f"Monte Carlo mean ({draws.shape[0]} draws)": ":"},
        xlabel="distance $d$ (m)", ylabel="capacity (Mbit/s)", logx=True, ax=ax,
        title=f"band: {low:.0%} to {high:.0%} of the fading draws",
    )


def capacity_vs_bandwidth(bandwidths_hz, capacities_bps: Mapping[str, np.ndarray], *,
                          knee_hz: float | None = None, axes=None):
    """Ergodic capacity (log-log) and spectral efficiency ``E[c]/W`` against the bandwidth ``W``.

    Parameters
    ----------
    bandwidths_hz : array_like, shape (n,)
        Resource-block bandwidths (Hz), > 0; drawn in kHz.
    capacities_bps : mapping of str to array_like, each shape (n,)
        Legend label -> ergodic capacity at each bandwidth (bit/s).
    knee_hz : float, optional
        A bandwidth drawn as a dashed vertical line on both panels (e.g. ``I_n / N_0``, where noise
        and interference are equal).
    axes : sequence of two matplotlib.axes.Axes, optional
        Where to draw; a new 7 x 3 inch figure when omitted.

    Returns
    -------
    axes : tuple of two matplotlib.axes.Axes
        (capacity axes, spectral-efficiency axes).
    """
    w = _positive_1d(bandwidths_hz, "bandwidths_hz")
    if not capacities_bps:
        raise ValueError("capacities_bps must hold at least one named curve")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7, 3), layout="constrained")
    ax_c, ax_se = axes
    caps = {k: np.asarray(v, dtype=float) for k, v in capacities_bps.items()}
    plot_curves(w / 1e3, {k: v / 1e6 for k, v in caps.items()}, xlabel="RB bandwidth $W$ (kHz)",
                ylabel="ergodic capacity (Mbit/s)", logx=True, logy=True, ax=ax_c)
    plot_curves(w / 1e3, {k: v / w for k, v in caps.items()}, xlabel="RB bandwidth $W$ (kHz)",
                ylabel="spectral efficiency (bit/s/Hz)", logx=True, legend=False, ax=ax_se)
    if knee_hz is not None:
        for a in (ax_c, ax_se):
            a.axvline(float(knee_hz) / 1e3, color="gray", lw=1, ls="--")
    return ax_c, ax_se


def pixel_budget_vs_latency(latencies_s, budgets: Mapping[str, np.ndarray], *, image_pixels: int,
                            latency_mark_s: float | None = None, ax=None):
    """Pixels a latency-bounded payload buys, against the latency bound (Eq. 19a in pixels).

    Parameters
    ----------
    latencies_s : array_like, shape (n,)
        Latency bounds ``L_i`` (s), > 0; drawn on a log axis.
    budgets : mapping of str to array_like, each shape (n,)
        Legend label -> pixel budget ``n(L_i c_i)`` at each latency (pixels, >= 0); zeros (a payload
        that does not cover the packet's overhead) are drawn at the bottom of the log axis.
    image_pixels : int
        Pixels of a whole image, the largest ``|S_i|`` can be; drawn as a horizontal line.
    latency_mark_s : float, optional
        A latency drawn as a dashed vertical line (e.g. Table III's 5 s).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new 6 x 3.4 inch figure when omitted.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    lat = _positive_1d(latencies_s, "latencies_s")
    if isinstance(image_pixels, bool) or not isinstance(image_pixels, (int, np.integer)) or image_pixels < 1:
        raise ValueError(f"image_pixels must be a positive int, got {image_pixels!r}")
    floor = 1.0
    curves = {}
    for label, b in budgets.items():
        b = np.asarray(b, dtype=float)
        if b.shape != lat.shape or np.any(b < 0):
            raise ValueError(f"budget {label!r} must hold {lat.size} values >= 0")
        curves[label] = np.maximum(b, floor)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4), layout="constrained")
    plot_curves(lat, curves, xlabel="latency bound $L_i$ (s)", ylabel="pixel budget (pixels)",
                logx=True, logy=True, legend=False, ax=ax)
    style = series_style(len(curves))
    ax.axhline(image_pixels, color=style["color"], ls="--", lw=1.4,
               label=f"a whole image, {image_pixels} pixels")
    if latency_mark_s is not None:
        ax.axvline(float(latency_mark_s), color="gray", ls=":", lw=1.2,
                   label=f"$L_i$ = {float(latency_mark_s):g} s")
    ax.set_ylim(bottom=floor)
    ax.legend()
    return ax
