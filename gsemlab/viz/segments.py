"""Figures of chapter 4 (DBSCAN, disjoint segments, packets).

Every function draws, returns the figure (or axes) it drew on and never calls ``plt.show()``; the
chapter runs DBSCAN and packs (``gsemlab.segment``, ``gsemlab.packing``) and passes the results in.
New figures are at most ``MAX_WIDTH_IN`` (7) inches wide, at most 6 panels a row, with no text below
``MIN_FONT_PT`` (9 pt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

from .figures import COLORS, mask_colour
from .style import MAX_WIDTH_IN, MIN_FONT_PT

__all__ = ["DROPPED", "cluster_panel", "dbscan_figure", "image_grid", "segments_figure", "sweep_figure"]

FONT = MIN_FONT_PT
#: Colour of the pixels DBSCAN drops (noise and clusters under the minimum size).
DROPPED = "#d62728"
_KEPT = tuple(c for c in COLORS if c != DROPPED)
_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")


def _bare(ax):
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def cluster_panel(binary_map, labels, *, ax, title: str | None = None) -> tuple[int, int]:
    """Draw DBSCAN's result on one map: each kept cluster in a colour, dropped pixels in red.

    Parameters
    ----------
    binary_map : ndarray of bool, shape (H, W)
        The binary map DBSCAN ran on (Eq. 8).
    labels : ndarray of int, shape (H, W)
        :func:`gsemlab.segment.cluster_map`'s labels: 0..K-1 kept clusters, -1 elsewhere.
    ax : matplotlib.axes.Axes
        Where to draw.
    title : str, optional
        Title of the panel.

    Returns
    -------
    (int, int)
        Number of kept clusters and number of dropped map pixels (noise or small clusters).
    """
    b, lab = np.asarray(binary_map, dtype=bool), np.asarray(labels)
    if b.shape != lab.shape or b.ndim != 2:
        raise ValueError(f"binary_map and labels must be (H, W) arrays of one shape, got {b.shape}, {lab.shape}")
    out = np.ones((*b.shape, 3))
    n_kept = int(lab.max()) + 1 if lab.size else 0
    for c in range(n_kept):
        out[lab == c] = to_rgb(_KEPT[c % len(_KEPT)])
    dropped = b & (lab < 0)
    out[dropped] = to_rgb(DROPPED)
    _bare(ax).imshow(out)
    if title:
        ax.set_title(title, fontsize=FONT)
    return n_kept, int(dropped.sum())


def dbscan_figure(source, binary_map, labels, word: str):
    """Source image, one word's binary map, and what DBSCAN keeps and drops of it.

    Parameters
    ----------
    source : ndarray of uint8, shape (H, W, 3)
        The generated image.
    binary_map : ndarray of bool, shape (H, W)
        The word's binary map.
    labels : ndarray of int, shape (H, W)
        DBSCAN's labels of that map (see :func:`cluster_panel`).
    word : str
        The word, for the titles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, 3, figsize=(MAX_WIDTH_IN, 2.9), layout="constrained")
    _bare(axes[0]).imshow(np.asarray(source))
    axes[0].set_title("source", fontsize=FONT)
    _bare(axes[1]).imshow(np.asarray(binary_map, dtype=bool), cmap="gray", vmin=0, vmax=1)
    axes[1].set_title(f"'{word}', binary map", fontsize=FONT)
    n, d = cluster_panel(binary_map, labels, ax=axes[2], title="kept (colours), dropped (red)")
    axes[2].set_xlabel(f"{n} cluster(s) kept, {d} px dropped", fontsize=FONT)
    return fig


def sweep_figure(omegas, kept_by_omega: Mapping[str, Sequence[int]], epss,
                 kept_by_eps: Mapping[str, Sequence[int]], *, eps: float, omega: int):
    """Pixels kept by DBSCAN for every word, against m (eps fixed) and against eps (m fixed).

    Parameters
    ----------
    omegas : array_like of int, shape (A,)
        Values of m (``min_samples``), the x axis of the left panel.
    kept_by_omega : mapping of str to sequence of int, each of length A
        Word -> pixels kept at each m.
    epss : array_like of float, shape (B,)
        Values of eps in pixels, the x axis of the right panel.
    kept_by_eps : mapping of str to sequence of int, each of length B
        Word -> pixels kept at each eps.
    eps, omega : float, int
        The fixed value of the other parameter in each panel (for the axis labels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if list(kept_by_omega) != list(kept_by_eps):
        raise ValueError("kept_by_omega and kept_by_eps must have the same words in the same order")
    fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH_IN, 3.9), layout="constrained", sharey=True)
    for k, w in enumerate(kept_by_omega):
        style = {"color": COLORS[k % len(COLORS)], "linestyle": _STYLES[(k // len(COLORS)) % 4],
                 "marker": _MARKERS[k % len(_MARKERS)], "ms": 4, "lw": 1.4}
        axes[0].plot(omegas, kept_by_omega[w], label=w, **style)
        axes[1].plot(epss, kept_by_eps[w], **style)
    axes[0].set_xlabel(rf"$m$ (min_samples), $\varepsilon = {eps}$")
    axes[1].set_xlabel(rf"$\varepsilon$ (pixels), $m = {omega}$")
    axes[0].set_ylabel("pixels kept")
    for ax in axes:
        ax.set_yscale("symlog", linthresh=10)  # a map that loses every pixel is drawn at 0
        ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=min(5, len(kept_by_omega)), frameon=False)
    return fig


def segments_figure(source, segments: Sequence, labels: Sequence[str]):
    """The source image and its disjoint segments painted over it, with a legend (Eq. 14).

    Parameters
    ----------
    source : ndarray of uint8, shape (H, W, 3)
        The generated image.
    segments : sequence of ndarray of bool, shape (H, W)
        Disjoint segments in importance order; empty ones are left out of the legend.
    labels : sequence of str
        One legend entry per segment.

    Returns
    -------
    matplotlib.figure.Figure
    """
    segments = [np.asarray(s, dtype=bool) for s in segments]
    if len(labels) != len(segments):
        raise ValueError(f"labels must have one entry per segment ({len(segments)}), got {len(labels)}")
    src = np.asarray(source)
    fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH_IN, 3.2), layout="constrained")
    _bare(axes[0]).imshow(src)
    axes[0].set_title("source", fontsize=FONT)
    out = src.astype(float) / 255.0
    handles = []
    for k, (s, lab) in enumerate(zip(segments, labels)):
        colour = mask_colour(k)
        out[s] = 0.4 * out[s] + 0.6 * np.array(to_rgb(colour))
        if s.any():
            handles.append(Patch(color=colour, label=f"{lab} ({int(s.sum())} px)"))
    _bare(axes[1]).imshow(out)
    axes[1].set_title("segments in importance order", fontsize=FONT)
    axes[1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
                   fontsize=FONT)
    return fig


def image_grid(images: Sequence, titles: Sequence[str], *, ncols: int = 6):
    """Images (RGB, or boolean masks) in rows of at most ``ncols`` (<= 6) panels, 7 inches wide.

    Parameters
    ----------
    images : sequence of ndarray, shape (H, W, 3) uint8 or (H, W) bool
        The panels.
    titles : sequence of str
        One title per panel.
    ncols : int
        Panels a row, 1 to 6.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = [np.asarray(im) for im in images]
    if not images or len(titles) != len(images):
        raise ValueError(f"give at least one image and one title per image, got {len(images)}, {len(titles)}")
    if not 1 <= ncols <= 6:
        raise ValueError(f"ncols must be 1 to 6 panels a row, got {ncols}")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    side = MAX_WIDTH_IN / max(ncols, 4)
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, nrows * (side + 0.35)),
                             layout="constrained", squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        _bare(ax)
        if k >= len(images):
            ax.set_visible(False)
            continue
        im = images[k]
        ax.imshow(im, cmap="gray", vmin=0, vmax=1) if im.ndim == 2 else ax.imshow(im)
        ax.set_title(titles[k], fontsize=FONT)
    return fig
