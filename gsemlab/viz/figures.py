"""Matplotlib figures used by the chapters: one small helper per kind of figure.

Every helper draws on the axes it is given (or makes a new figure), returns what it drew on and
never calls ``plt.show()``, so chapters, tests and assignments can compose them. Only matplotlib
and numpy are imported.

Helpers
-------
system_diagram
    The G-SemCom system in one picture (Fig. 3 of [G-SemCom], chapter 0).
plot_curves
    Named curves against one x axis, with optional shaded bands (chapter 5: capacity against
    distance and bandwidth).
plot_distribution
    Histogram and empirical CDF of one or more named samples (chapter 5: latency-bounded payloads).
image_rows
    Rows of small images, each row labelled (chapter 1: noised images, samplers side by side).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["COLORS", "image_rows", "new_axes", "plot_curves", "plot_distribution", "system_diagram"]

# One palette for the whole course (colour-blind safe, from matplotlib's "tab10" order).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def new_axes(ax, figsize):
    """``ax`` itself, or the axes of a new constrained-layout figure of ``figsize`` (inches) when None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _box(ax, xy, text, *, width, height, color, fontsize=9):
    """A rounded box centred at ``xy`` with ``text``; returns its (left, right, bottom, top)."""
    x, y = xy
    patch = FancyBboxPatch(
        (x - width / 2, y - height / 2),
        width,
        height,
        boxstyle="round,pad=0.02,rounding_size=0.08",
        linewidth=1.2,
        edgecolor=color,
        facecolor=color + "22",
    )
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, wrap=True)
    return x - width / 2, x + width / 2, y - height / 2, y + height / 2


def _arrow(ax, start, end, *, color="#444444"):
    ax.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle="-|>", mutation_scale=12, linewidth=1.2, color=color, shrinkA=2, shrinkB=2
        )
    )


def system_diagram(ax=None, *, n_users: int = 3):
    """Draw the G-SemCom system of [G-SemCom] (Fig. 3, Algorithm 1) as boxes and arrows.

    Top row, inside the MASP: the diffusion model generates the image (Eq. 2-4) and, as a by-product,
    cross-attention maps (Eq. 5-8); the prompt's words are ranked by importance (Table II,
    Eq. 9-12); the image is segmented by the words' binary maps (Eq. 13) and the most important
    segments are packed with the prompt into a packet (Eq. 14). Bottom row: the packet crosses the
    OFDMA downlink (Eq. 1) on a bandwidth chosen by the ADD agent (Eq. 19-23), and each user
    regenerates the missing pixels with diffusion inpainting; JPSQ (Eq. 15-18) scores the result.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new 11 x 4.6 inch figure when omitted.
    n_users : int
        Number of user boxes drawn (1 to 5).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes, with limits (0, 11) x (0, 4.6) and no ticks.
    """
    if isinstance(n_users, bool) or not isinstance(n_users, int) or not 1 <= n_users <= 5:
        raise ValueError(f"n_users must be an int from 1 to 5, got {n_users!r}")
    ax = new_axes(ax, (11, 4.6))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 4.6)
    ax.set_axis_off()
    ax.set_aspect("equal")

    blue, orange, green, red, purple = COLORS[:5]
    # The MASP frame and its pipeline (top row).
    ax.add_patch(
        FancyBboxPatch(
            (0.15, 2.45),
            10.7,
            2.0,
            boxstyle="round,pad=0.02,rounding_size=0.15",
            linewidth=1.0,
            linestyle="--",
            edgecolor="#555555",
            facecolor="none",
        )
    )
    ax.text(
        0.35,
        4.25,
        "MASP (mobile AIGC service provider, edge server)",
        fontsize=9,
        va="center",
        color="#333333",
        style="italic",
    )
    top = 3.3
    steps = [
        ("prompt $p$", "user's\nprompt", "#555555"),
        ("diffusion", "diffusion model\ngenerates image\n(Eq. 2-4)", blue),
        ("attention", "cross-attention\nmaps per word\n(Eq. 5-8)", blue),
        ("importance", "word importance $s$\n(Table II,\nEq. 9-12)", orange),
        ("segments", "DBSCAN segments,\nimportance order\n(Eq. 13-14)", green),
        ("packet", "packet: important\npixels + prompt\n(Eq. 14)", green),
    ]
    xs = np.linspace(1.0, 10.0, len(steps))
    width = 1.55
    edges = []
    for x, (_, text, color) in zip(xs, steps):
        edges.append(_box(ax, (x, top), text, width=width, height=1.05, color=color, fontsize=8))
    for (_, r, _, _), (l, _, _, _) in itertools.pairwise(edges):
        _arrow(ax, (r, top), (l, top))

    # Downlink (bottom right), then a bus that feeds every user (bottom row, left).
    bottom = 1.0
    cx = xs[-1] - 0.25
    channel = _box(
        ax,
        (cx, bottom),
        "OFDMA downlink, one RB each\n$c_i = W\\log_2(1+\\frac{P\\phi_i}{I_n+WN_0})$\n(Eq. 1)",
        width=2.3,
        height=1.15,
        color=red,
        fontsize=8,
    )
    _arrow(ax, (cx, edges[-1][2]), (cx, channel[3]))
    ax.text(
        cx + 0.12,
        (edges[-1][2] + channel[3]) / 2,
        "bandwidth $b_i$\nchosen by ADD\n(Eq. 19-23)",
        ha="left",
        va="center",
        fontsize=8,
        color=purple,
    )

    user_x = np.linspace(1.2, 6.3, n_users) if n_users > 1 else np.array([3.7])
    bus_y = 2.0
    user_top = bottom + 0.5
    ax.plot([channel[0], 7.6, 7.6, user_x[0]], [bottom, bottom, bus_y, bus_y], color="#444444", lw=1.2)
    ax.text(
        7.55,
        bus_y + 0.05,
        "packet $S_i$, at most $L_i c_i$ bits",
        ha="right",
        va="bottom",
        fontsize=8,
        color="#444444",
    )
    for k, x in enumerate(user_x):
        last = k == n_users - 1 and n_users >= 3
        label = "$U_N$" if last else f"$U_{{{k + 1}}}$"
        _box(
            ax,
            (x, bottom),
            f"user {label}: inpainting\nregenerates the rest;\nquality by JPSQ (Eq. 15-18)",
            width=1.95,
            height=1.0,
            color=purple,
            fontsize=7.5,
        )
        _arrow(ax, (x, bus_y), (x, user_top))
    if n_users >= 3:
        ax.text((user_x[-2] + user_x[-1]) / 2, bottom, "...", ha="center", va="center", fontsize=11)
    ax.text(
        0.25,
        0.12,
        "Each user $U_i$ has its own resource block and latency bound $L_i$; "
        "only the packet (pixels + prompt) travels over the air.",
        fontsize=8,
        color="#333333",
    )
    return ax


def plot_curves(
    x,
    curves: Mapping[str, np.ndarray],
    *,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    bands: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    logx: bool = False,
    logy: bool = False,
    styles: Mapping[str, str] | None = None,
    ax=None,
):
    """Plot named curves ``y(x)`` on one axes, with optional shaded bands (e.g. 10-90 % ranges).

    Parameters
    ----------
    x : array_like, shape (n,)
        Common x values.
    curves : mapping of str to array_like, each shape (n,)
        Legend label -> y values.
    xlabel, ylabel : str
        Axis labels; put the unit in them, e.g. ``"distance d (m)"``.
    title : str, optional
        Axes title.
    bands : mapping of str to (low, high), optional
        Legend label -> two arrays of shape (n,) shaded between; a band whose label is also a curve
        takes that curve's colour.
    logx, logy : bool
        Logarithmic axes.
    styles : mapping of str to str, optional
        Curve label -> matplotlib line style (``"--"``, ``":"``, ...).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new 6 x 4 inch figure when omitted.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must be one-dimensional, got shape {x.shape}")
    if not curves:
        raise ValueError("curves must hold at least one named curve")
    ax = new_axes(ax, (6, 4))
    styles = dict(styles or {})
    colors = {}
    for k, (label, y) in enumerate(curves.items()):
        y = np.asarray(y, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"curve {label!r} has shape {y.shape}, expected {x.shape} like x")
        (line,) = ax.plot(x, y, styles.get(label, "-"), color=COLORS[k % len(COLORS)], label=label, lw=1.8)
        colors[label] = line.get_color()
    for k, (label, (low, high)) in enumerate((bands or {}).items()):
        low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        if low.shape != x.shape or high.shape != x.shape:
            raise ValueError(f"band {label!r} must hold two arrays of shape {x.shape}")
        color = colors.get(label, COLORS[(len(curves) + k) % len(COLORS)])
        ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0, label=None if label in colors else label)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_distribution(
    samples: Mapping[str, np.ndarray],
    *,
    xlabel: str,
    bins: int = 40,
    title: str | None = None,
    markers: Mapping[str, float] | None = None,
    axes=None,
):
    """Histogram (density) and empirical CDF of one or more named samples, side by side.

    Parameters
    ----------
    samples : mapping of str to array_like
        Legend label -> 1-D sample (any length >= 1; NaNs are not allowed).
    xlabel : str
        Label of the common x axis, with its unit.
    bins : int
        Number of histogram bins, shared by all samples (>= 1).
    title : str, optional
        Figure title.
    markers : mapping of str to float, optional
        Label -> x value drawn as a vertical dashed line on both panels (e.g. a mean or a threshold).
    axes : sequence of two matplotlib.axes.Axes, optional
        Where to draw the histogram and the CDF; a new 10 x 3.6 inch figure when omitted.

    Returns
    -------
    axes : tuple of two matplotlib.axes.Axes
        (histogram axes, CDF axes).
    """
    if not samples:
        raise ValueError("samples must hold at least one named sample")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive int, got {bins!r}")
    data = {}
    for label, values in samples.items():
        v = np.asarray(values, dtype=float).ravel()
        if v.size == 0 or not np.isfinite(v).all():
            raise ValueError(f"sample {label!r} must be non-empty and finite")
        data[label] = v
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
        if title:
            fig.suptitle(title)
    hist_ax, cdf_ax = axes
    lo = min(v.min() for v in data.values())
    hi = max(v.max() for v in data.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for k, (label, v) in enumerate(data.items()):
        color = COLORS[k % len(COLORS)]
        hist_ax.hist(v, bins=edges, density=True, alpha=0.45, color=color, label=label)
        xs = np.sort(v)
        cdf_ax.step(xs, np.arange(1, xs.size + 1) / xs.size, where="post", color=color, label=label)
    for k, (label, value) in enumerate((markers or {}).items()):
        for a in (hist_ax, cdf_ax):
            a.axvline(
                value,
                ls="--",
                lw=1.2,
                color=COLORS[(len(data) + k) % len(COLORS)],
                label=label if a is hist_ax else None,
            )
    hist_ax.set_xlabel(xlabel)
    hist_ax.set_ylabel("density")
    cdf_ax.set_xlabel(xlabel)
    cdf_ax.set_ylabel("P(X <= x)")
    cdf_ax.set_ylim(0, 1.01)
    for a in (hist_ax, cdf_ax):
        a.grid(True, alpha=0.3)
    hist_ax.legend(fontsize=8)
    return hist_ax, cdf_ax


def image_rows(rows: Mapping[str, np.ndarray], *, col_titles=None, size: float = 1.1,
               suptitle: str | None = None, fig=None):
    """Rows of small RGB images, each row labelled on its left (chapter 1: noised images, samplers).

    Parameters
    ----------
    rows : mapping of str to array_like of uint8, each shape (n, H, W, 3)
        Row label -> the row's images; every row has the same number ``n`` of images.
    col_titles : sequence of str, optional
        One title per column, drawn above the first row (e.g. ``"t = 250"``).
    size : float
        Side of each panel in inches.
    suptitle : str, optional
        Figure title.
    fig : matplotlib.figure.Figure, optional
        Empty figure (or sub-figure) to draw in; a new one when omitted.

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes, shape (len(rows), n)
    """
    if not rows:
        raise ValueError("rows must hold at least one labelled row of images")
    arrays = {}
    for label, images in rows.items():
        arr = np.asarray(images)
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
            raise ValueError(f"row {label!r} must have shape (n, H, W, 3) with n >= 1, got {arr.shape}")
        arrays[label] = arr
    n = {a.shape[0] for a in arrays.values()}
    if len(n) != 1:
        raise ValueError(f"every row must hold the same number of images, got {sorted(n)}")
    n = n.pop()
    if col_titles is not None and len(col_titles) != n:
        raise ValueError(f"col_titles must have one entry per column ({n}), got {len(col_titles)}")
    if fig is None:
        fig = plt.figure(figsize=(size * n + 1.2, size * len(arrays) + 0.25 * (col_titles is not None)),
                         layout="constrained")
    axes = fig.subplots(len(arrays), n, squeeze=False)
    for r, (label, arr) in enumerate(arrays.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(arr[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and col_titles is not None:
                ax.set_title(col_titles[c], fontsize=8)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return axes
