"""Figures of chapter 9, the channel as the forward diffusion: the SNR-to-timestep map and the benchmark."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .figures import series_style

__all__ = ["benchmark_figure", "snr_timestep_figure"]

METHOD_LABELS = {"diffusion": "diffusion receiver", "latent": "latent, no denoiser", "djscc": "deep JSCC"}
METRIC_LABELS = {"toysim": "ToySim distance (lower is better)", "psnr_db": "PSNR (dB)", "ssim": "SSIM"}


def snr_timestep_figure(log_snr_db, snrs_db, t_exact, t_grid, mismatch_db, *, grid_steps: int):
    """Two panels: the schedule's SNR against t with the matched timesteps, and the grid rule's mismatch.

    Parameters
    ----------
    log_snr_db : array_like, shape (T,)
        ``10 log10(abar_t / (1 - abar_t))`` at every grid step (dB).
    snrs_db : array_like, shape (n,)
        Channel SNRs (dB).
    t_exact, t_grid : array_like, shape (n,)
        The interpolated timestep ``t*`` and the grid rule's step for each SNR.
    mismatch_db : array_like, shape (n,)
        The grid rule's SNR minus the target (dB).
    grid_steps : int
        Steps of the DDIM grid the rule picks from (for the labels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    lam = np.asarray(log_snr_db, float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.8), layout="constrained")
    a.plot(np.arange(lam.size), lam, color=series_style(0)["color"], label="schedule")
    a.scatter(t_exact, snrs_db, color=series_style(1)["color"], zorder=3, label="exact $t^*$")
    a.scatter(t_grid, np.interp(t_grid, np.arange(lam.size), lam), marker="x", color=series_style(2)["color"],
              zorder=3, label=f"grid rule ({grid_steps} steps)")
    a.set_ylim(-15, 45)
    a.set_xlabel("timestep t")
    a.set_ylabel(r"SNR $\bar\alpha_t/(1-\bar\alpha_t)$ (dB)")
    a.legend(fontsize=8)
    b.bar(np.arange(len(snrs_db)), mismatch_db, color=series_style(2)["color"])
    b.set_xticks(np.arange(len(snrs_db)), [f"{s:g}" for s in snrs_db])
    b.set_xlabel("channel SNR (dB)")
    b.set_ylabel("grid rule's excess SNR (dB)")
    return fig


def benchmark_figure(rows: Sequence[Mapping], *, rates: Sequence[float], snrs_db: Sequence[float],
                     metrics: Sequence[str] = ("toysim", "psnr_db", "ssim"), channel: str = "awgn"):
    """A grid of panels, one row per metric and one column per rate: each method's mean against SNR.

    Parameters
    ----------
    rows : sequence of mapping
        Benchmark rows (``method``, ``rate``, ``snr_db``, ``channel``, ``variant``, ``rule`` and each metric
        with its ``*_se``); only the ``matched`` and ``exact`` rows of ``channel`` are drawn.
    rates : sequence of float
        Channel uses per pixel, one column each.
    snrs_db : sequence of float
        The SNR grid (dB).
    metrics : sequence of str
        Keys of the rows to draw, one row of panels each.
    channel : str
        Which channel's rows.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(len(metrics), len(rates), figsize=(7.0, 2.0 * len(metrics)), layout="constrained",
                             sharex=True, squeeze=False)
    methods = list(METHOD_LABELS)
    for j, rate in enumerate(rates):
        for i, metric in enumerate(metrics):
            ax = axes[i, j]
            for k, m in enumerate(methods):
                sel = sorted((r for r in rows if r["method"] == m and r["channel"] == channel
                              and r["variant"] == "matched" and r["rule"] == "exact"
                              and abs(r["rate"] - rate) < 1e-12), key=lambda r: r["snr_db"])
                if not sel:
                    continue
                x = np.array([r["snr_db"] for r in sel])
                y = np.array([r[metric] for r in sel])
                se = np.array([r[f"{metric}_se"] for r in sel])
                st = series_style(k)
                ax.plot(x, y, marker="o", ms=3, color=st["color"], ls=st["linestyle"], label=METHOD_LABELS[m])
                ax.fill_between(x, y - se, y + se, color=st["color"], alpha=0.2, lw=0)
            if i == 0:
                ax.set_title(f"rate 1/{round(1 / rate)} ({round(rate * 4096)} symbols)", fontsize=9)
            if j == 0:
                ax.set_ylabel(METRIC_LABELS.get(metric, metric), fontsize=8)
            if i == len(metrics) - 1:
                ax.set_xlabel("SNR (dB)")
            ax.set_xticks(list(snrs_db))
    axes[0, 0].legend(fontsize=7)
    return fig
