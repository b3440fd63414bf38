"""Figures of chapter 6: perceptual distance (Eq. 15), quality (Eq. 16) and JPSQ (Eq. 17-18).

Every helper draws what the chapter computed (distances, NIMA distributions, scores) on the axes it
is given, or on a new figure at most ``gsemlab.viz.style.MAX_WIDTH_IN`` wide, and returns the axes;
none calls ``plt.show()``. Only matplotlib and numpy are used.

Helpers
-------
distance_ladder
    The source image and its edited, generated and noise versions, each titled with its distance.
quality_vs_degradation
    Quality against the level of each kind of degradation, with the threshold line.
score_distributions
    NIMA's distributions of scores as bar charts, one panel each.
budget_curves
    Distance, quality and JPSQ against the pixels sent, with error bars and reference lines.
jpsq_landscape
    JPSQ against quality for several weights, and as a map over (distance, quality).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .figures import plot_curves, series_style
from .images import show_images

__all__ = ["budget_curves", "distance_ladder", "jpsq_landscape", "quality_vs_degradation",
           "score_distributions"]


def distance_ladder(source, images: Mapping[str, np.ndarray], distances: Mapping[str, float], *,
                    source_title: str = "$g_0$ (source)", ncols: int = 4, size: float = 1.7,
                    symbol: str = r"d_{\mathrm{DS}}"):
    """The source and a series of other images, each titled with its distance to the source.

    Parameters
    ----------
    source : array_like of uint8, shape (H, W, 3)
        The source image ``g0``, drawn first.
    images : mapping of str to array_like of uint8, shape (H, W, 3)
        Name -> image, drawn in order after the source.
    distances : mapping of str to float
        Name -> distance of that image to the source (same keys as ``images``).
    source_title : str
        Title of the source panel.
    ncols : int
        Panels per row, 1 to 6.
    size : float
        Side of each panel (inches); the figure is at most 7 inches wide.
    symbol : str
        The distance's symbol in the titles (TeX, without dollars).

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes
    """
    if set(images) != set(distances):
        raise ValueError("images and distances must have the same names")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or not 1 <= ncols <= 6:
        raise ValueError(f"ncols must be an int from 1 to 6, got {ncols!r}")
    size = min(float(size), 7.0 / ncols)
    titles = [source_title] + [f"{name}\n${symbol}$ = {distances[name]:.3f}" for name in images]
    axes = show_images([source, *images.values()], titles, ncols=ncols, size=size)
    for ax in axes:
        ax.title.set_fontsize(9)
    return axes


def quality_vs_degradation(levels, quality: Mapping[str, Sequence[float]], *, q_th: float,
                           q_zero: float | None = None, ax=None):
    """Quality ``Q`` against the degradation level, one curve per kind of degradation.

    Parameters
    ----------
    levels : array_like of int, shape (n,)
        Degradation levels (0 = clean).
    quality : mapping of str to array_like, each shape (n,)
        Kind of degradation -> quality at each level (score, 1 to 10).
    q_th : float
        The quality threshold ``Q_th`` (Table III), drawn as a dashed line.
    q_zero : float, optional
        The quality at which ``J`` changes sign, ``Q_th / omega_0``, drawn as a dotted line.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new 6.4 x 3.4 inch figure when omitted.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.4), layout="constrained")
    plot_curves(levels, quality, xlabel="degradation level (0 = clean, 9 = worst)",
                ylabel="quality $Q$ (Eq. 16)", markers=True, legend=False, ax=ax)
    ax.axhline(q_th, color="gray", ls="--", lw=1.2, label=r"$Q_{\mathrm{th}}$ (Table III)")
    if q_zero is not None:
        ax.axhline(q_zero, color="black", ls=":", lw=1.2, label=r"$Q_{\mathrm{th}}/\omega_0$ ($J = 0$)")
    ax.legend(ncols=2)
    return ax


def score_distributions(distributions: Mapping[str, np.ndarray], titles: Mapping[str, str] | None = None,
                        *, axes=None):
    """NIMA's predicted distributions ``p_1, ..., p_10`` as bar charts, one panel each (at most 6).

    Parameters
    ----------
    distributions : mapping of str to array_like, each shape (10,)
        Name -> probabilities of the scores 1 to 10 (non-negative, summing to 1).
    titles : mapping of str to str, optional
        Name -> panel title; the name itself when omitted.
    axes : sequence of matplotlib.axes.Axes, optional
        One axes per distribution; a new row of panels, 7 inches wide, when omitted.

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes
    """
    n = len(distributions)
    if not 1 <= n <= 6:
        raise ValueError(f"distributions must hold 1 to 6 entries, got {n}")
    probs = {}
    for name, p in distributions.items():
        p = np.asarray(p, dtype=float)
        if p.shape != (10,) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-4:
            raise ValueError(f"distribution {name!r} must hold 10 probabilities summing to 1")
        probs[name] = p
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(7, 2.6), layout="constrained", sharey=True, squeeze=False)
    axes = np.asarray(axes).ravel()
    for k, (ax, (name, p)) in enumerate(zip(axes, probs.items())):
        ax.bar(np.arange(1, 11), p, color=series_style(k)["color"])
        ax.set_title((titles or {}).get(name, name), fontsize=9)
        ax.set_xticks([1, 4, 7, 10])
        ax.set_xlabel("score $k$")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("$p_k$")
    return axes


def budget_curves(x, means: Mapping[str, np.ndarray], errors: Mapping[str, np.ndarray], *,
                  ylabels: Mapping[str, str], references: Mapping[str, Mapping[str, float]] | None = None,
                  xlabel: str = "pixels sent", legend: bool = True, axes=None):
    """One panel per measurement (e.g. distance, quality, JPSQ) against the pixels sent.

    Parameters
    ----------
    x : array_like, shape (n,)
        Pixels sent at each point of the budget grid (> 0; log axis).
    means, errors : mapping of str to array_like, each shape (n,)
        Measurement -> its mean and its error bar (e.g. the standard error) at each point; one panel
        per key of ``means``, in order (at most 6).
    ylabels : mapping of str to str
        Measurement -> axis label.
    references : mapping of str to mapping of str to float, optional
        Reference name (e.g. ``"source g0"``) -> measurement -> value, drawn as horizontal lines
        on the panels of the measurements it has.
    xlabel : str
        Label of every panel's x axis.
    legend : bool
        Draw one legend for the figure, below the panels (the entries of the panel that has most).
    axes : sequence of matplotlib.axes.Axes, optional
        One per measurement; a new 7 inch wide row when omitted.

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or np.any(x <= 0):
        raise ValueError("x must be a 1-D array of pixel counts > 0")
    if not 1 <= len(means) <= 6 or set(errors) != set(means) or not set(means) <= set(ylabels):
        raise ValueError("means and errors must name the same 1 to 6 measurements, each with a ylabel")
    if axes is None:
        _, axes = plt.subplots(1, len(means), figsize=(7, 3.1), layout="constrained", squeeze=False)
    axes = np.asarray(axes).ravel()
    for ax, key in zip(axes, means):
        m, e = np.asarray(means[key], float), np.asarray(errors[key], float)
        if m.shape != x.shape or e.shape != x.shape:
            raise ValueError(f"measurement {key!r} must hold {x.size} means and errors")
        style = series_style(0)
        ax.errorbar(x, m, yerr=e, color=style["color"], marker="o", ms=4, capsize=2, label="G-SemCom")
        for k, (name, values) in enumerate((references or {}).items()):
            if key in values:
                s = series_style(k + 1)
                ax.axhline(values[key], color=s["color"], ls=("--", "-.", ":")[k % 3], lw=1.2, label=name)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabels[key])
        ax.grid(alpha=0.3)
    if legend:
        fullest = max(axes[: len(means)], key=lambda a: len(a.get_legend_handles_labels()[1]))
        handles, labels = fullest.get_legend_handles_labels()
        fullest.figure.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return axes


def jpsq_landscape(q, curves: Mapping[str, np.ndarray], d_grid, q_grid, j_grid, *, points=None,
                   points_label: str = "measured", axes=None):
    """Two panels: ``J`` at distance 0 against quality for several settings, and ``J`` as a map.

    Parameters
    ----------
    q : array_like, shape (n,)
        Qualities of the left panel's x axis.
    curves : mapping of str to array_like, each shape (n,)
        Setting (e.g. ``"omega_0 = 1.25"``) -> ``J`` at each quality.
    d_grid, q_grid, j_grid : array_like, each shape (m, k)
        A mesh of distances and qualities and ``J`` on it (right panel; the ``J = 0`` contour is
        drawn in black).
    points : (array_like, array_like), optional
        Distances and qualities of measured images, drawn as dots on the map.
    points_label : str
        Legend label of the dots.
    axes : sequence of two matplotlib.axes.Axes, optional
        Where to draw; a new 7 x 4 inch figure when omitted (legends below the panels).

    Returns
    -------
    axes : tuple of two matplotlib.axes.Axes
    """
    dd, qq, jj = (np.asarray(a, dtype=float) for a in (d_grid, q_grid, j_grid))
    if not dd.shape == qq.shape == jj.shape or dd.ndim != 2:
        raise ValueError("d_grid, q_grid and j_grid must be 2-D arrays of one shape")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7, 4.0), layout="constrained")
    ax_l, ax_r = axes
    plot_curves(q, curves, xlabel="quality $Q(g_1)$", ylabel="$J$ at $d_{\\mathrm{DS}} = 0$", legend=False,
                ax=ax_l)
    ax_l.axhline(0, color="k", lw=0.8)
    ax_l.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)
    cs = ax_r.contourf(dd, qq, jj, levels=20, cmap="RdBu")
    ax_r.figure.colorbar(cs, ax=ax_r, label="$J$ (Table III)")
    ax_r.contour(dd, qq, jj, levels=[0.0], colors="k", linewidths=1)
    if points is not None:
        ax_r.scatter(np.ravel(points[0]), np.ravel(points[1]), s=10, c="k", label=points_label)
        ax_r.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax_r.set_xlabel("distance $d_{\\mathrm{DS}}(g_0, g_1)$")
    ax_r.set_ylabel("quality $Q(g_1)$")
    return ax_l, ax_r
