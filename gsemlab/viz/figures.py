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
series_style
    Colour, line style and marker of the k-th series, so that a legend never repeats a look.
image_rows
    Rows of small images, each row labelled (chapter 1: noised images, samplers side by side).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["COLORS", "LINE_STYLES", "MARKERS", "MASK_COLORS", "image_rows", "mask_colour", "new_axes", "plot_curves", "plot_distribution",
           "series_style", "system_diagram"]

# One palette for the whole course: the first eight colours of matplotlib's "tab10", in its order.
# Eight colours are not enough for a legend of twelve entries, and some of them are hard to tell apart
# for a colour-blind reader, so every series also gets a line style and a marker (``series_style``):
# entry k has colour ``COLORS[k % 8]`` and line style ``LINE_STYLES[(k // 8) % 4]``, so no two of the
# first 32 entries of a legend share both, and the markers differ between neighbouring entries.
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")
# Filled areas (masks, segments) cannot tell series apart by line style: twenty distinct colours,
# the course's eight first, then the rest of "tab10" and the light half of "tab20".
MASK_COLORS = COLORS + ("#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
                        "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79")


def mask_colour(k: int) -> str:
    """Colour of the k-th filled mask or segment: ``MASK_COLORS[k]``, distinct for k < 20, then cycling.

    Parameters
    ----------
    k : int
        Index of the mask in its legend, >= 0.

    Returns
    -------
    str
        A hexadecimal colour.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    return MASK_COLORS[int(k) % len(MASK_COLORS)]


def series_style(k: int) -> dict:
    """Colour, line style and marker of the ``k``-th series of a figure (k = 0, 1, ...).

    Parameters
    ----------
    k : int
        Index of the series in its legend, >= 0.

    Returns
    -------
    dict
        ``{"color": COLORS[k % 8], "linestyle": LINE_STYLES[(k // 8) % 4],
        "marker": MARKERS[k % 11]}``, keyword arguments of ``Axes.plot``: the pair (colour, line
        style) differs for every k below 32, so a legend of up to 32 entries never repeats one.

    Raises
    ------
    ValueError
        If ``k`` is not an int >= 0.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an int >= 0, got {k!r}")
    k = int(k)
    return {"color": COLORS[k % len(COLORS)], "linestyle": LINE_STYLES[(k // len(COLORS)) % len(LINE_STYLES)],
            "marker": MARKERS[k % len(MARKERS)]}


#: Font size (points) of every text of the system diagram: at 100 dpi and its 7-inch width the
#: diagram is shown at its own size in the book's column, so 9.5 pt is 13 screen pixels.
DIAGRAM_FONT_PT = 9.5
#: Size (inches) of the system diagram; its axes span the whole figure, one data unit per inch.
DIAGRAM_SIZE_IN = (7.0, 5.4)


def new_axes(ax, figsize):
    """The axes to draw on: ``ax`` itself, or the axes of a new figure.

    Parameters
    ----------
    ax : matplotlib.axes.Axes or None
        Axes given by the caller; returned unchanged when not None.
    figsize : (float, float)
        Width and height in inches of the new constrained-layout figure made when ``ax`` is None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _box(ax, xy, text, *, width, height, color, fontsize=DIAGRAM_FONT_PT):
    """A rounded box centred at ``xy`` (data units) holding ``text``.

    Returns
    -------
    (float, float, float, float)
        The box's left, right, bottom and top edges in data units.
    """
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
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, linespacing=1.25)
    return x - width / 2, x + width / 2, y - height / 2, y + height / 2


def _arrow(ax, start, end, *, color="#444444"):
    """An arrow from ``start`` to ``end`` (data units), its head at ``end``."""
    ax.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle="-|>", mutation_scale=14, linewidth=1.3, color=color,
            shrinkA=1, shrinkB=1,
        )
    )


def system_diagram(ax=None, *, n_users: int = 3):
    """Draw the G-SemCom system of [G-SemCom] (Fig. 3, Algorithm 1) as boxes and arrows.

    Inside the MASP frame the pipeline runs in two rows, left to right and back: the prompt, the
    diffusion model that generates the image (Eq. 2-4) and, as a by-product, cross-attention maps
    per word (Eq. 5-8); then the word importance (Table II, Eq. 9-12), the segments in importance
    order (Eq. 13) and the packet of important pixels and prompt (Eq. 14). Below the frame the
    packet crosses the OFDMA downlink (Eq. 1) on a bandwidth chosen by the ADD agent (Eq. 19-23),
    and each user regenerates the missing pixels by inpainting; JPSQ (Eq. 15-18) scores the result.

    Every text is ``DIAGRAM_FONT_PT`` points and fits inside its box; the new figure is
    ``DIAGRAM_SIZE_IN`` inches (7 in wide: shown at its own size in the book's column).

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Axes to draw on, best one spanning a 7 x 5.4 inch figure (texts are sized in points, boxes
        in data units); a new figure of that size when omitted.
    n_users : int
        Number of user boxes drawn (1 to 5); with 3 or more the last is user N, after an ellipsis.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes, with limits (0, 7) x (0, 5.4) and no ticks.

    Raises
    ------
    ValueError
        If ``n_users`` is not an int from 1 to 5.
    """
    if isinstance(n_users, bool) or not isinstance(n_users, int) or not 1 <= n_users <= 5:
        raise ValueError(f"n_users must be an int from 1 to 5, got {n_users!r}")
    width_in, height_in = DIAGRAM_SIZE_IN
    if ax is None:
        fig = plt.figure(figsize=DIAGRAM_SIZE_IN)
        ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width_in)
    ax.set_ylim(0, height_in)
    ax.set_axis_off()
    ax.set_aspect("equal")
    font = DIAGRAM_FONT_PT

    blue, orange, green, red, purple = COLORS[:5]
    gray = "#555555"
    # The MASP frame and its pipeline: two rows, the second read from right to left.
    ax.add_patch(
        FancyBboxPatch(
            (0.08, 2.42), 6.84, 2.9,
            boxstyle="round,pad=0.02,rounding_size=0.15",
            linewidth=1.0, linestyle="--", edgecolor=gray, facecolor="none",
        )
    )
    ax.text(0.22, 5.08, "MASP: mobile AIGC service provider (edge server)", fontsize=font,
            va="center", color="#333333", style="italic")
    xs = (1.2, 3.5, 5.8)
    box_w, box_h = 2.0, 0.85
    row_a, row_b = 4.3, 3.0
    steps = [
        ((xs[0], row_a), "user's prompt $\\mathbf{p}$\n(text)", gray),
        ((xs[1], row_a), "diffusion model\ngenerates the image\n(Eq. 2-4)", blue),
        ((xs[2], row_a), "cross-attention\nmaps, one per word\n(Eq. 5-8)", blue),
        ((xs[2], row_b), "word importance $s_z$\n(Table II,\nEq. 9-12)", orange),
        ((xs[1], row_b), "DBSCAN segments\nin importance order\n(Eq. 13)", green),
        ((xs[0], row_b), "packet: important\npixels + prompt\n(Eq. 14)", green),
    ]
    edges = [_box(ax, xy, text, width=box_w, height=box_h, color=color) for xy, text, color in steps]
    for k in range(len(edges) - 1):
        (l0, r0, b0, _), (l1, r1, _, t1) = edges[k], edges[k + 1]
        y0, y1 = steps[k][0][1], steps[k + 1][0][1]
        if y0 == y1 and r0 < l1:  # left to right
            _arrow(ax, (r0, y0), (l1, y1))
        elif y0 == y1:  # right to left
            _arrow(ax, (l0, y0), (r1, y1))
        else:  # down
            _arrow(ax, ((l0 + r0) / 2, b0), ((l1 + r1) / 2, t1))

    # The downlink below the packet, then a bus that feeds every user (bottom row).
    packet = edges[-1]
    cx = 1.38
    channel = _box(
        ax, (cx, 1.72),
        "OFDMA downlink, one RB each\n$c_i = W\\log_2(1 + P\\phi_i / (I_n + W N_0))$\n(Eq. 1)",
        width=2.6, height=0.85, color=red,
    )
    _arrow(ax, (cx, packet[2]), (cx, channel[3]))
    ax.text(channel[1] + 0.15, 1.72, "bandwidth $b_i$ of each user\nchosen by the ADD agent\n"
            "(Eq. 19-23)", ha="left", va="center", fontsize=font, color=purple, linespacing=1.25)

    user_w, user_h, user_y = 1.25, 0.85, 0.5
    if n_users == 1:
        user_x = np.array([width_in / 2])
    else:
        user_x = np.linspace(0.15 + user_w / 2, width_in - 0.15 - user_w / 2, n_users)
    gap = user_x[-1] - user_x[-2] - user_w if n_users >= 3 else 0.0
    bus_y = 1.05
    ax.plot([cx, cx], [channel[2], bus_y], color="#444444", lw=1.3)
    ax.plot([min(user_x[0], cx), max(user_x[-1], cx)], [bus_y, bus_y], color="#444444", lw=1.3)
    ax.text(width_in - 0.1, bus_y + 0.05, "packet $\\mathbf{S}_i$: at most $L_i c_i$ bits",
            ha="right", va="bottom", fontsize=font, color="#444444")
    for k, x in enumerate(user_x):
        last = k == n_users - 1 and n_users >= 3
        label = "$U_N$" if last else f"$U_{{{k + 1}}}$"
        _box(ax, (x, user_y), f"user {label}:\ninpainting,\nJPSQ (Eq. 15-18)",
             width=user_w, height=user_h, color=purple)
        _arrow(ax, (x, bus_y), (x, user_y + user_h / 2))
    if gap >= 0.4:  # "U_1, U_2, ..., U_N" where there is room for the ellipsis
        ax.text((user_x[-2] + user_x[-1]) / 2, user_y, "...", ha="center", va="center",
                fontsize=font + 2)
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
    markers: bool = False,
    legend: bool = True,
    ax=None,
):
    """Plot named curves ``y(x)`` on one axes, with optional shaded bands (e.g. 10-90 % ranges).

    Curve ``k`` takes :func:`series_style` ``(k)``: its colour and line style together differ from
    every other curve's (up to 32 curves), so a legend never shows two entries drawn alike.

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
        Curve label -> matplotlib line style (``"--"``, ``":"``, ...), overriding the series' own.
    markers : bool
        Draw each series' marker too (at most about 12 per curve, so dense curves stay readable).
    legend : bool
        Draw the legend (in the book's legend font, at least ``MIN_FONT_PT``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new 6 x 4 inch figure when omitted.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If ``x`` is not one-dimensional, ``curves`` is empty, or a curve or band does not have the
        shape of ``x``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must be one-dimensional, got shape {x.shape}")
    if not curves:
        raise ValueError("curves must hold at least one named curve")
    ax = new_axes(ax, (6, 4))
    styles = dict(styles or {})
    colors = {}
    every = max(1, x.size // 12)
    for k, (label, y) in enumerate(curves.items()):
        y = np.asarray(y, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"curve {label!r} has shape {y.shape}, expected {x.shape} like x")
        style = series_style(k)
        (line,) = ax.plot(x, y, color=style["color"], linestyle=styles.get(label, style["linestyle"]),
                          marker=style["marker"] if markers else None, markevery=every, ms=4,
                          label=label, lw=1.8)
        colors[label] = line.get_color()
    for k, (label, (low, high)) in enumerate((bands or {}).items()):
        low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        if low.shape != x.shape or high.shape != x.shape:
            raise ValueError(f"band {label!r} must hold two arrays of shape {x.shape}")
        color = colors.get(label, series_style(len(curves) + k)["color"])
        ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0, label=None if label in colors else label)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if legend:
        ax.legend()
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

    Sample ``k`` takes :func:`series_style` ``(k)`` (its histogram's outline and its CDF line);
    marker ``j`` continues the sequence at ``len(samples) + j`` with a dashed variant of the style,
    so no two legend entries look alike. The legend sits on the CDF panel, where every entry is a line.

    Parameters
    ----------
    samples : mapping of str to array_like
        Legend label -> 1-D sample (any length >= 1; NaNs are not allowed).
    xlabel : str
        Label of the common x axis, with its unit.
    bins : int
        Number of histogram bins, shared by all samples (>= 1).
    title : str, optional
        Figure title (only for a new figure).
    markers : mapping of str to float, optional
        Label -> x value drawn as a vertical line on both panels (e.g. a mean or a threshold).
    axes : sequence of two matplotlib.axes.Axes, optional
        Where to draw the histogram and the CDF; a new 7 x 3 inch figure when omitted.

    Returns
    -------
    axes : tuple of two matplotlib.axes.Axes
        (histogram axes, CDF axes).

    Raises
    ------
    ValueError
        If ``samples`` is empty, a sample is empty or not finite, or ``bins`` is not a positive int.
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
        fig, axes = plt.subplots(1, 2, figsize=(7, 3), layout="constrained")
        if title:
            fig.suptitle(title)
    hist_ax, cdf_ax = axes
    lo = min(v.min() for v in data.values())
    hi = max(v.max() for v in data.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for k, (label, v) in enumerate(data.items()):
        style = series_style(k)
        hist_ax.hist(v, bins=edges, density=True, histtype="stepfilled", alpha=0.35, color=style["color"],
                     label=label)
        hist_ax.hist(v, bins=edges, density=True, histtype="step", lw=1.2, color=style["color"],
                     linestyle=style["linestyle"])
        xs = np.sort(v)
        cdf_ax.step(xs, np.arange(1, xs.size + 1) / xs.size, where="post", color=style["color"],
                    linestyle=style["linestyle"], lw=1.6, label=label)
    dashed = {"-": "--", "--": "-.", ":": (0, (5, 1, 1, 1)), "-.": (0, (1, 3))}
    for k, (label, value) in enumerate((markers or {}).items()):
        style = series_style(len(data) + k)
        for a in (hist_ax, cdf_ax):
            a.axvline(value, lw=1.4, color=style["color"], linestyle=dashed[style["linestyle"]],
                      label=label if a is cdf_ax else None)
    hist_ax.set_xlabel(xlabel)
    hist_ax.set_ylabel("density")
    cdf_ax.set_xlabel(xlabel)
    cdf_ax.set_ylabel("P(X <= x)")
    cdf_ax.set_ylim(0, 1.01)
    for a in (hist_ax, cdf_ax):
        a.grid(True, alpha=0.3)
    cdf_ax.legend()
    return hist_ax, cdf_ax


#: The most panels ``image_rows`` puts in one row (more would be too small at the page's width).
MAX_PANELS_PER_ROW = 6
#: Width (inches) ``image_rows`` keeps for the row labels on the left of the panels.
ROW_LABEL_IN = 1.25


def image_rows(rows: Mapping[str, np.ndarray], *, col_titles=None, size: float = 1.0,
               suptitle: str | None = None, fig=None):
    """Rows of small RGB images, each row labelled on its left (chapter 1: noised images, samplers).

    A new figure is at most ``MAX_WIDTH_IN`` (7) inches wide: the panels shrink below ``size``
    when ``ROW_LABEL_IN`` plus ``n`` panels would be wider. Labels and titles are 9-10 points.

    Parameters
    ----------
    rows : mapping of str to array_like of uint8, each shape (n, H, W, 3)
        Row label -> the row's images; every row has the same number ``n`` of images, at most
        ``MAX_PANELS_PER_ROW`` (6).
    col_titles : sequence of str, optional
        One title per column, drawn above the first row (e.g. ``"t = 250"``).
    size : float
        Largest side of each panel, in inches (> 0).
    suptitle : str, optional
        Figure title.
    fig : matplotlib.figure.Figure, optional
        Empty figure (or sub-figure) to draw in; a new one when omitted.

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes, shape (len(rows), n)

    Raises
    ------
    ValueError
        If ``rows`` is empty, a row is not of shape (n, H, W, 3), the rows differ in ``n``, ``n``
        exceeds ``MAX_PANELS_PER_ROW``, ``col_titles`` has not ``n`` entries or ``size`` <= 0.
    """
    from .style import MAX_WIDTH_IN

    if not rows:
        raise ValueError("rows must hold at least one labelled row of images")
    if not isinstance(size, (int, float)) or isinstance(size, bool) or not size > 0:
        raise ValueError(f"size must be a positive number of inches, got {size!r}")
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
    if n > MAX_PANELS_PER_ROW:
        raise ValueError(f"at most {MAX_PANELS_PER_ROW} images a row stay legible, got {n}")
    if col_titles is not None and len(col_titles) != n:
        raise ValueError(f"col_titles must have one entry per column ({n}), got {len(col_titles)}")
    if fig is None:
        side = min(float(size), (MAX_WIDTH_IN - ROW_LABEL_IN) / n)
        height = side * len(arrays) + 0.3 * (col_titles is not None) + 0.35 * bool(suptitle)
        fig = plt.figure(figsize=(side * n + ROW_LABEL_IN, height), layout="constrained")
    axes = fig.subplots(len(arrays), n, squeeze=False)
    for r, (label, arr) in enumerate(arrays.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(arr[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and col_titles is not None:
                ax.set_title(col_titles[c], fontsize=10)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return axes
