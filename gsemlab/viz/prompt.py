"""Figures of chapter 3 (prompt deconstruction): dependency matrices, word maps, importance.

Every function draws, returns the figure (or axes) it drew on and never calls ``plt.show()``; the
chapter computes C, C*, D*, the maps and the importance (``gsemlab.prompt``) and passes them in.
New figures are at most ``MAX_WIDTH_IN`` (7) inches wide, with no text below ``MIN_FONT_PT`` (9 pt).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .figures import COLORS
from .style import MAX_WIDTH_IN, MIN_FONT_PT

__all__ = ["importance_curves", "importance_figure", "matrices", "matrix", "word_maps"]

FONT = MIN_FONT_PT
#: Line styles of the series of :func:`importance_curves` (with ``COLORS``, no two series alike).
_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")


def _check_square(m, labels, name: str) -> np.ndarray:
    m = np.asarray(m)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square (n, n) matrix, got shape {m.shape}")
    if len(labels) != m.shape[0]:
        raise ValueError(f"{name} has {m.shape[0]} rows but {len(labels)} labels were given")
    return m


def matrix(m, labels: Sequence[str], *, ax, title: str | None = None, fmt: str = "{:.2f}",
           values: bool = True):
    """Draw a labelled square matrix as a heat map, values in the cells (C, C*, D*).

    Parameters
    ----------
    m : array_like of bool or float, shape (n, n)
        The matrix; booleans are written 0/1, numbers with ``fmt``; colours span [0, 1].
    labels : sequence of str, length n
        Row and column labels (words or tokens); row = head for C and C*.
    ax : matplotlib.axes.Axes
        Where to draw.
    title : str, optional
        Title of the panel.
    fmt : str
        Format of numeric cells.
    values : bool
        Write the values in the cells (off for large matrices).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    m = _check_square(m, labels, "m")
    v = m.astype(float)
    ax.imshow(v, cmap="Blues", vmin=0.0, vmax=1.0)
    if values:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                text = str(int(m[i, j])) if m.dtype == bool else fmt.format(v[i, j])
                ax.text(j, i, text, ha="center", va="center", fontsize=FONT,
                        color="white" if v[i, j] > 0.6 else "black")
    n = m.shape[0]
    ax.set_xticks(range(n), labels, rotation=60, ha="right", rotation_mode="anchor", fontsize=FONT)
    ax.set_yticks(range(n), labels, fontsize=FONT)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def matrices(panels: Sequence[tuple], *, height: float = 3.4):
    """Several labelled matrices side by side, each panel as wide as its matrix (C next to C*).

    Parameters
    ----------
    panels : sequence of (matrix, labels, title)
        One to three matrices (see :func:`matrix`).
    height : float
        Height of the figure in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = list(panels)
    if not 1 <= len(panels) <= 3:
        raise ValueError(f"panels must hold 1 to 3 matrices, got {len(panels)}")
    sizes = [np.asarray(p[0]).shape[0] for p in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(MAX_WIDTH_IN, height), layout="constrained",
                             gridspec_kw={"width_ratios": sizes}, squeeze=False)
    for ax, (m, labels, title) in zip(axes[0], panels):
        matrix(m, labels, ax=ax, title=title, values=np.asarray(m).shape[0] <= 12)
    return fig


def word_maps(source, maps: Sequence, titles: Sequence[str], *, ncols: int = 6,
              cmap: str = "viridis"):
    """The source image, then one panel per word map, at most ``ncols`` (<= 6) panels a row.

    Parameters
    ----------
    source : ndarray of uint8, shape (H, W, 3)
        The generated image.
    maps : sequence of ndarray, shape (H, W)
        Word maps (float, Eq. 7) or binary maps (bool, Eq. 8), one per word.
    titles : sequence of str
        One title per map (the word, and its threshold for a binary map).
    ncols : int
        Panels a row, 1 to 6.
    cmap : str
        Colour map of float maps; binary maps are black (0) and white (1).

    Returns
    -------
    matplotlib.figure.Figure
    """
    maps = list(maps)
    if len(titles) != len(maps):
        raise ValueError(f"titles must have one entry per map ({len(maps)}), got {len(titles)}")
    if not 1 <= ncols <= 6:
        raise ValueError(f"ncols must be 1 to 6 panels a row, got {ncols}")
    images = [np.asarray(source)] + [np.asarray(m) for m in maps]
    names = ["source image"] + list(titles)
    nrows = -(-len(images) // ncols)
    side = MAX_WIDTH_IN / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(MAX_WIDTH_IN, nrows * (side + 0.3)),
                             layout="constrained", squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(images):
            ax.set_visible(False)
            continue
        img = images[k]
        if img.ndim == 3:
            ax.imshow(img)
        elif img.dtype == bool:
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(img, cmap=cmap)
        ax.set_title(names[k], fontsize=FONT)
    return fig


def importance_figure(C_star, D_star, s, words: Sequence[str]):
    """C*, D* and the importance s of the same words (Eq. 9-12): two matrices above a bar chart.

    Parameters
    ----------
    C_star : array_like of bool, shape (n, n)
        Compressed dependency matrix (row = head).
    D_star : array_like of float, shape (n, n)
        IoU matrix of the binary maps.
    s : array_like of float, shape (n,)
        Importance of each word (Eq. 12), in the order of ``words``.
    words : sequence of str, length n
        The kept words.

    Returns
    -------
    matplotlib.figure.Figure
    """
    s = np.asarray(s, dtype=float)
    _check_square(C_star, words, "C_star")
    _check_square(D_star, words, "D_star")
    if s.shape != (len(words),):
        raise ValueError(f"s must have shape ({len(words)},), got {s.shape}")
    n = len(words)
    fig = plt.figure(figsize=(MAX_WIDTH_IN, 3.6 + 0.22 * n + 0.3 * n), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.6 + 0.22 * n, 0.3 * n + 0.9])
    ax_c, ax_d = top.subplots(1, 2)
    big = n > 8
    matrix(C_star, words, ax=ax_c, title="$C^*$ (row = head)", values=True)
    matrix(D_star, words, ax=ax_d, title="$D^*$: IoU of the binary maps", fmt="{:.1f}" if big else "{:.2f}")
    ax = bottom.subplots()
    ax.barh(range(n), s, color=COLORS[0])
    ax.set_yticks(range(n), words, fontsize=FONT)
    ax.invert_yaxis()
    ax.axvline(1 / n, ls="--", color="gray", lw=1, label="uniform, 1/n")
    ax.set_xlabel("importance $s_i$ (Eq. 12)")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def importance_curves(xis, S, words: Sequence[str]):
    """Importance of every word against the threshold of the ranking maps.

    Parameters
    ----------
    xis : array_like of float, shape (T,)
        Thresholds xi (Eq. 8), the x axis.
    S : array_like of float, shape (T, n)
        ``S[t, i]``: importance of word i (Eq. 12) when the maps are binarised at ``xis[t]``.
    words : sequence of str, length n
        Legend entries.

    Returns
    -------
    matplotlib.axes.Axes
    """
    xis, S = np.asarray(xis, dtype=float), np.asarray(S, dtype=float)
    if S.ndim != 2 or S.shape != (len(xis), len(words)):
        raise ValueError(f"S must have shape ({len(xis)}, {len(words)}), got {S.shape}")
    _, ax = plt.subplots(figsize=(MAX_WIDTH_IN, 3.8), layout="constrained")
    for k, w in enumerate(words):
        ax.plot(xis, S[:, k], label=w, lw=1.5, color=COLORS[k % len(COLORS)],
                linestyle=_STYLES[(k // len(COLORS)) % len(_STYLES)], marker=_MARKERS[k % len(_MARKERS)],
                ms=4)
    ax.set_xlabel(r"threshold $\xi$ of the ranking maps (Eq. 8)")
    ax.set_ylabel("importance $s_i$ (Eq. 12)")
    ax.grid(alpha=0.3)
    ax.legend(ncols=2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax
