"""Figures of the knowledge-alignment chapter: sub-carrier correlation, the T-KA benchmark and MAKD."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .figures import series_style

__all__ = ["correlation_figure", "makd_figure", "tka_figure"]

TKA_LABELS = {"no-ka": "No-KA", "lora": "LoRA", "cala": "CALA", "full-ft": "full fine-tuning",
              "jpeg-ldpc": "JPEG + LDPC", "latent-ldpc": "latent + LDPC"}
MAKD_LABELS = {"none": "none (LB)", "ti": "textual inversion", "lora": "LoRA", "makd": "MAKD", "cloud": "cloud (UB)"}


def correlation_figure(lags: np.ndarray, correlation: Mapping[str, np.ndarray], gains: Mapping[str, np.ndarray]):
    """Two panels: ``|E[h_k h_l*]|`` against the sub-carrier lag, and one draw of ``|h_k|`` per delay spread.

    Parameters
    ----------
    lags : numpy.ndarray, shape (K,)
        Sub-carrier lags ``k - l``.
    correlation : mapping of str -> numpy.ndarray, shape (K,)
        Label (a delay spread) -> magnitude of the correlation at each lag.
    gains : mapping of str -> numpy.ndarray, shape (n_subcarriers,)
        Same labels -> ``|h_k|`` of one realisation over the sub-carriers.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.7), layout="constrained")
    for k, (label, c) in enumerate(correlation.items()):
        a.plot(lags, c, label=label, markevery=8, **series_style(k))
    a.set_xlabel("sub-carrier lag $k - l$")
    a.set_ylabel(r"$|E[h_k h_l^*]|$")
    a.set_ylim(0, 1.05)
    a.legend(fontsize=8)
    for k, (label, g) in enumerate(gains.items()):
        b.plot(np.arange(len(g)), g, label=label, markevery=8, **series_style(k))
    b.set_xlabel("sub-carrier $k$")
    b.set_ylabel("$|h_k|$ (one draw)")
    return fig


def tka_figure(rows: Sequence[Mapping], classical: Sequence[Mapping], *, rates: Sequence[float],
               snrs_db: Sequence[float], methods: Sequence[str], classical_methods: Sequence[str]):
    """One panel per rate: each method's PSNR against SNR (mean over delay spreads), classical ones dashed.

    Parameters
    ----------
    rows, classical : sequence of mapping
        Benchmark cells with ``method``, ``rate``, ``snr_db`` and ``psnr_db`` (the learned codec's and the
        classical references').
    rates, snrs_db : sequence of float
        The panels and the x axis.
    methods, classical_methods : sequence of str
        The curves.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, len(rates), figsize=(7.2, 2.8), sharey=True, layout="constrained")
    for ax, rate in zip(np.atleast_1d(axes), rates):
        for k, m in enumerate(list(methods) + list(classical_methods)):
            src = rows if m in methods else classical
            y = [np.mean([r["psnr_db"] for r in src if r["method"] == m and r["rate"] == rate and r["snr_db"] == s])
                 for s in snrs_db]
            style = series_style(k)
            if m in classical_methods:
                style = {**style, "linestyle": "--"}
            ax.plot(snrs_db, y, label=TKA_LABELS.get(m, m), **style)
        ax.set_title(f"rate 1/{round(1 / rate)}", fontsize=9)
        ax.set_xlabel("SNR (dB)")
    np.atleast_1d(axes)[0].set_ylabel("PSNR (dB)")
    np.atleast_1d(axes)[-1].legend(fontsize=7)
    return fig


def makd_figure(means: Mapping[str, Mapping], methods: Sequence[str]):
    """Two bar panels per method: ToySim distance to the cloud's images (with one standard error), and the
    share of images where the subject is found.

    Parameters
    ----------
    means : mapping of str -> mapping
        Method -> ``toysim``, ``toysim_se`` and ``found`` (share in [0, 1]).
    methods : sequence of str
        The bars, in order.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.7), layout="constrained")
    x = np.arange(len(methods))
    colours = [series_style(k)["color"] for k in range(len(methods))]
    a.bar(x, [means[m]["toysim"] for m in methods], yerr=[means[m]["toysim_se"] for m in methods],
          color=colours, capsize=3)
    a.set_ylabel("ToySim distance to the cloud")
    b.bar(x, [100 * means[m]["found"] for m in methods], color=colours)
    b.set_ylabel("cross found (%)")
    b.set_ylim(0, 100)
    for ax in (a, b):
        ax.set_xticks(x, [MAKD_LABELS.get(m, m) for m in methods], rotation=30, ha="right", fontsize=8)
    return fig
