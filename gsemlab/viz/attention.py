"""Figures of chapter 2 (cross-attention maps), sized for the book's 7-inch column.

Every helper draws (it computes nothing about attention: the maps, masks and scores are passed in),
returns what it drew on and never calls ``plt.show()``. No figure is wider than
:data:`gsemlab.viz.style.MAX_WIDTH_IN`, holds more than :data:`MAX_PANELS_PER_ROW` panels in a
row, or writes text below :data:`gsemlab.viz.style.MIN_FONT_PT`.

Helpers
-------
image_grid
    A grid of images, maps and masks, at most six to a row (word maps, layers, steps).
panel_rows
    Labelled rows of panels (Eq. 8 on two models; daam against the store).
located_figure
    The rendered scene, the generated image and both sets of object masks, with one legend.
step_curve
    A score against the denoising step.
threshold_curves
    Mean IoU against the threshold xi, for several maps, with marked thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from .figures import COLORS, new_axes
from .images import overlay_masks, show_images
from .style import MAX_WIDTH_IN, MIN_FONT_PT

__all__ = ["MAX_PANELS_PER_ROW", "image_grid", "located_figure", "panel_rows", "step_curve",
           "threshold_curves"]

#: At most this many image panels side by side: at 7 inches a panel is then at least 1.1 in wide.
MAX_PANELS_PER_ROW = 6
#: Font of panel titles and legends (points).
TITLE_PT = max(MIN_FONT_PT, 9.0)
#: Extra height (inches) a row of panels needs for a title of one and of two lines.
_TITLE_IN = {0: 0.0, 1: 0.25, 2: 0.42}


def _check_ncols(ncols: int) -> int:
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)):
        raise TypeError(f"ncols must be an int, got {type(ncols).__name__}")
    if not 1 <= ncols <= MAX_PANELS_PER_ROW:
        raise ValueError(f"ncols must be between 1 and {MAX_PANELS_PER_ROW}, got {ncols}")
    return int(ncols)


def _title_lines(titles) -> int:
    if not titles:
        return 0
    return min(2, max(str(t).count("\n") + 1 for t in titles))


def _panel_side(ncols: int, width: float, max_side: float) -> float:
    if not 0 < width <= MAX_WIDTH_IN:
        raise ValueError(f"width must be in (0, {MAX_WIDTH_IN}] inches, got {width}")
    if max_side <= 0:
        raise ValueError(f"max_side must be positive, got {max_side}")
    return min(max_side, width / ncols)


def image_grid(images, titles=None, *, ncols: int | None = None, width: float = MAX_WIDTH_IN,
               max_side: float = 1.7, cmap: str = "viridis", suptitle: str | None = None):
    """A grid of images without ticks, at most six panels to a row and no wider than the column.

    Parameters
    ----------
    images : sequence of array_like
        Each of shape (H, W, 3) (uint8 RGB) or (H, W) (a float map, drawn with ``cmap``, or a bool
        mask, drawn black and white).
    titles : sequence of str, optional
        One title per image (at most two lines).
    ncols : int, optional
        Panels per row, 1 to :data:`MAX_PANELS_PER_ROW`; default ``min(len(images), 6)``.
    width : float
        Largest width of the figure in inches (at most ``MAX_WIDTH_IN``).
    max_side : float
        Largest side of one panel in inches (small grids stay small).
    cmap : str
        Colour map of float maps.
    suptitle : str, optional
        Title of the whole figure.

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes
        Flattened, one per panel of the grid (unused trailing panels are hidden).
    """
    images = list(images)
    if not images:
        raise ValueError("images must hold at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image ({len(images)}), got {len(titles)}")
    ncols = _check_ncols(min(len(images), MAX_PANELS_PER_ROW) if ncols is None else ncols)
    side = _panel_side(ncols, width, max_side)
    nrows = -(-len(images) // ncols)
    height = nrows * (side + _TITLE_IN[_title_lines(titles)]) + 0.3 * bool(suptitle)
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, height), layout="constrained",
                             squeeze=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=TITLE_PT + 1)
    return show_images(images, titles, axes=axes.ravel(), cmap=cmap)


def panel_rows(rows: Mapping[str, Sequence], *, width: float = MAX_WIDTH_IN, max_side: float = 1.5,
               cmap: str = "viridis"):
    """Rows of panels, each row labelled on its left: one row per model, method or map.

    Parameters
    ----------
    rows : mapping of str to sequence of (str, array_like)
        Row label -> the row's panels, each a (title, image) pair; an image is (H, W, 3) uint8 RGB,
        (H, W) float (drawn with ``cmap``) or (H, W) bool (black and white). Every row has the same
        number of panels, at most :data:`MAX_PANELS_PER_ROW`.
    width : float
        Largest width of the figure in inches (at most ``MAX_WIDTH_IN``); the row labels take 0.35 in.
    max_side : float
        Largest side of one panel in inches.
    cmap : str
        Colour map of float maps.

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes, shape (len(rows), panels per row)
    """
    if not rows:
        raise ValueError("rows must hold at least one labelled row")
    lengths = {len(panels) for panels in rows.values()}
    if len(lengths) != 1:
        raise ValueError(f"every row must hold the same number of panels, got {sorted(lengths)}")
    ncols = _check_ncols(lengths.pop())
    side = _panel_side(ncols, width - 0.35, max_side)
    titles = [t for panels in rows.values() for t, _ in panels]
    height = len(rows) * (side + _TITLE_IN[_title_lines(titles)])
    _, axes = plt.subplots(len(rows), ncols, figsize=(side * ncols + 0.35, height),
                           layout="constrained", squeeze=False)
    for r, (label, panels) in enumerate(rows.items()):
        for c, (title, image) in enumerate(panels):
            show_images([image], [title], axes=[axes[r, c]], cmap=cmap)
        axes[r, 0].set_ylabel(label, fontsize=TITLE_PT)
    return axes


def located_figure(rendered, image, render_masks: Sequence, located: Sequence, labels: Sequence[str],
                   *, width: float = MAX_WIDTH_IN):
    """What ShapesWorld drew and what the model drew, each with its object masks (chapter 2).

    Parameters
    ----------
    rendered : array_like, shape (H, W, 3) uint8
        The scene as ShapesWorld renders it (``scene.render()[0]``).
    image : array_like, shape (H, W, 3) uint8
        The image the model generated for the scene's caption.
    render_masks : sequence of array_like of bool, shape (H, W)
        One mask per object, of the rendered scene.
    located : sequence of array_like of bool, shape (H, W)
        One mask per object, found in the generated image (empty where the object is missing).
    labels : sequence of str
        One name per object (the legend).
    width : float
        Width of the figure in inches (at most ``MAX_WIDTH_IN``).

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes, shape (4,)
    """
    if not (len(render_masks) == len(located) == len(labels)):
        raise ValueError("render_masks, located and labels must have one entry per object, got "
                         f"{len(render_masks)}, {len(located)} and {len(labels)}")
    side = _panel_side(4, width, 1.6)
    fig, axes = plt.subplots(1, 4, figsize=(4 * side, side + 0.65), layout="constrained")
    show_images([rendered, image], ["rendered scene", "generated image"], axes=axes[:2])
    overlay_masks(rendered, render_masks, ax=axes[2], title="render() masks")
    overlay_masks(image, located, ax=axes[3], title="locate() masks")
    handles = [Patch(color=COLORS[k % len(COLORS)], label=lab) for k, lab in enumerate(labels)]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False,
                   fontsize=TITLE_PT)
    return axes


def step_curve(values, *, ylabel: str, title: str | None = None, mark: int | None = None, ax=None):
    """A score against the denoising step (0 = the first, noisiest step).

    Parameters
    ----------
    values : sequence of float
        One value per step.
    ylabel : str
        What the value is.
    title : str, optional
    mark : int, optional
        A step to mark with a dot (e.g. the best one).
    ax : matplotlib.axes.Axes, optional
        A new 5 x 2.4 in figure when omitted.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {values.shape}")
    ax = new_axes(ax, (5.0, 2.4))
    ax.plot(np.arange(values.size), values, marker="o", ms=3, color=COLORS[0])
    if mark is not None:
        if not 0 <= mark < values.size:
            raise ValueError(f"mark must be a step in [0, {values.size}), got {mark}")
        ax.plot([mark], [values[mark]], "o", ms=7, mfc="none", color=COLORS[3])
    ax.set(xlabel="denoising step (0 = noisiest)", ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return ax


def threshold_curves(xis, curves: Mapping[str, Sequence[float]], *, marks=(), ylabel: str, ax=None):
    """Curves of a score against the threshold xi of Eq. 8, with vertical marks at chosen xi.

    Parameters
    ----------
    xis : sequence of float
        The thresholds, on the normalised map.
    curves : mapping of str to sequence of float
        Curve label -> one value per threshold.
    marks : sequence of float
        Thresholds to mark with a dashed line (Table III's).
    ylabel : str
    ax : matplotlib.axes.Axes, optional
        A new 5 x 2.8 in figure when omitted.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    xis = np.asarray(xis, dtype=float)
    if xis.ndim != 1 or xis.size == 0:
        raise ValueError(f"xis must be a non-empty 1-D sequence, got shape {xis.shape}")
    if not curves:
        raise ValueError("curves must hold at least one curve")
    ax = new_axes(ax, (5.0, 2.8))
    styles = ("-", "--", ":", "-.")
    for k, (label, ys) in enumerate(curves.items()):
        ys = np.asarray(ys, dtype=float)
        if ys.shape != xis.shape:
            raise ValueError(f"curve {label!r} has {ys.size} values, expected {xis.size}")
        ax.plot(xis, ys, marker="o", ms=3, ls=styles[k % len(styles)],
                color=COLORS[k % len(COLORS)], label=label)
    for xi in marks:
        ax.axvline(xi, color="0.6", lw=0.8, ls="--")
    ax.set(xlabel=r"threshold $\xi$ (on the normalised map)", ylabel=ylabel)
    ax.legend(frameon=False, fontsize=TITLE_PT)
    ax.grid(True, alpha=0.3)
    return ax
