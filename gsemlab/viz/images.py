"""Figures of images, masks, matrices and parses (chapters 3, 4 and 7), in the style of :mod:`gsemlab.viz.figures`.

Every helper draws on the axes it is given (or makes a new figure), returns what it drew on and never
calls ``plt.show()``. Only matplotlib and numpy are imported (spaCy only inside :func:`dependency_svg`).
The colours are those of :data:`gsemlab.viz.COLORS`.

Helpers
-------
show_images
    A row or grid of images, maps and masks without ticks (chapters 3, 4, 7).
plot_matrix
    A labelled matrix with its values in the cells (chapter 3: C, C*, D*).
overlay_masks
    Boolean masks painted over an image (chapter 4: clusters, segments, packets).
dependency_svg
    A dependency parse drawn by spaCy's displaCy, from any explicit parse (chapter 3).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .figures import COLORS, mask_colour, new_axes

__all__ = ["dependency_svg", "gsemcom_results_figure", "overlay_masks", "plot_matrix", "show_images"]


# ------------------------------------------------------------------ chapters 3, 4 and 7: images and masks
def show_images(images, titles=None, *, ncols: int | None = None, size: float = 2.0, cmap: str = "viridis",
                axes=None, suptitle: str | None = None):
    """A row (or grid) of images without ticks: RGB images, 2-D maps or boolean masks.

    Parameters
    ----------
    images : sequence of array_like
        Each of shape (H, W, 3) (uint8 RGB, shown as is), or (H, W) (float map or bool mask, shown with
        ``cmap``; masks in black and white).
    titles : sequence of str, optional
        One title per image.
    ncols : int, optional
        Images per row; default all in one row.
    size : float
        Side of each panel in inches.
    cmap : str
        Colour map of 2-D float maps.
    axes : sequence of matplotlib.axes.Axes, optional
        Where to draw (at least ``len(images)`` axes); a new figure when omitted.
    suptitle : str, optional
        Figure title (only for a new figure).

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes
        Flattened; unused trailing panels are hidden.
    """
    images = list(images)
    if not images:
        raise ValueError("images must hold at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image ({len(images)}), got {len(titles)}")
    n = len(images)
    ncols = n if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    if axes is None:
        nrows = -(-n // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * (titles is not None)),
                                 layout="constrained", squeeze=False)
        if suptitle:
            fig.suptitle(suptitle)
    axes = np.asarray(axes).ravel()
    if len(axes) < n:
        raise ValueError(f"axes must hold at least {n} axes, got {len(axes)}")
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.set_visible(False)
            continue
        img = np.asarray(images[k])
        if img.ndim == 3:
            ax.imshow(img)
        elif img.ndim == 2 and img.dtype == bool:
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        elif img.ndim == 2:
            ax.imshow(img, cmap=cmap)
        else:
            raise ValueError(f"images[{k}] must have shape (H, W) or (H, W, 3), got {img.shape}")
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    return axes


def plot_matrix(matrix, labels, *, col_labels=None, ax=None, title: str | None = None, fmt: str = "{:.2f}",
                cmap: str = "Blues", vmin: float = 0.0, vmax: float = 1.0):
    """A labelled matrix as a heat map with its values written in the cells (C, C*, D* of chapter 3).

    Parameters
    ----------
    matrix : array_like, shape (m, n)
        Boolean or numeric.
    labels : sequence of str, length m
        Row labels (and column labels unless ``col_labels`` is given).
    col_labels : sequence of str, length n, optional
    ax : matplotlib.axes.Axes, optional
        A new figure sized to the matrix when omitted.
    title : str, optional
    fmt : str
        Format of the cell values; booleans are written as 0/1.
    cmap : str
        Colour map.
    vmin, vmax : float
        Colour range.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    m = np.asarray(matrix)
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
    rows = list(labels)
    cols = rows if col_labels is None else list(col_labels)
    if len(rows) != m.shape[0] or len(cols) != m.shape[1]:
        raise ValueError(f"labels must match the matrix shape {m.shape}, got {len(rows)} x {len(cols)}")
    ax = new_axes(ax, (0.55 * m.shape[1] + 1.6, 0.45 * m.shape[0] + 1.0))
    values = m.astype(float)
    ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            text = str(int(m[i, j])) if m.dtype == bool else fmt.format(values[i, j])
            dark = (values[i, j] - vmin) / ((vmax - vmin) or 1.0) > 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=9)
    ax.set_yticks(range(len(rows)), rows, fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def overlay_masks(image, masks, *, labels=None, ax=None, alpha: float = 0.6, title: str | None = None,
                  legend: bool = True):
    """An image with boolean masks painted over it in the course's colours (segments, clusters).

    Parameters
    ----------
    image : array_like, shape (H, W, 3) uint8, or None
        Background image; None draws on white.
    masks : sequence of array_like of bool, shape (H, W)
        Masks, painted in order (a later mask covers an earlier one where they overlap).
    labels : sequence of str, optional
        Legend entry of each mask.
    ax : matplotlib.axes.Axes, optional
    alpha : float
        Opacity of the masks.
    title : str, optional
    legend : bool
        Draw the legend (when labels are given).

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    masks = [np.asarray(m, dtype=bool) for m in masks]
    if image is None:
        if not masks:
            raise ValueError("give an image or at least one mask")
        base = np.full((*masks[0].shape, 3), 255, np.uint8)
    else:
        base = np.asarray(image)
        if base.ndim != 3 or base.shape[2] != 3:
            raise ValueError(f"image must have shape (H, W, 3), got {base.shape}")
    if labels is not None and len(labels) != len(masks):
        raise ValueError(f"labels must have one entry per mask ({len(masks)}), got {len(labels)}")
    out = base.astype(float) / 255.0
    for k, m in enumerate(masks):
        if m.shape != base.shape[:2]:
            raise ValueError(f"masks[{k}] has shape {m.shape}, expected {base.shape[:2]}")
        out[m] = (1 - alpha) * out[m] + alpha * np.array(to_rgb(mask_colour(k)))
    ax = new_axes(ax, (3, 3))
    ax.imshow(out)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if labels is not None and legend and masks:
        handles = [Patch(color=mask_colour(k), label=lab) for k, lab in enumerate(labels)]
        ax.legend(handles=handles, fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def dependency_svg(tokens, tags, heads, deps=None, *, distance: int = 110) -> str:
    """A dependency parse drawn by spaCy's displaCy as an SVG string, from an explicit parse.

    Arcs go from head to dependent, as in Fig. 5(a) of [G-SemCom]; a root (its own head) gets no arc.
    Unlike ``displacy.render(doc)``, any parse can be drawn (e.g. the paper's, which spaCy does not
    produce), and the SVG's element id is fixed, so the output is the same on every run.

    Parameters
    ----------
    tokens : sequence of str, length M
    tags : sequence of str, length M
        Shown under each token (e.g. the Table II class).
    heads : sequence of int, length M
        Head index of each token; a root points to itself.
    deps : sequence of str, length M, optional
        Arc labels (``"amod"``, ``"nsubj"``, ...).
    distance : int
        Horizontal distance between tokens in pixels.

    Returns
    -------
    str
        The SVG markup; show it with ``IPython.display.SVG``.
    """
    import hashlib
    import json
    import re

    from spacy import displacy

    tokens, tags, heads = list(tokens), list(tags), [int(h) for h in heads]
    deps = [""] * len(tokens) if deps is None else list(deps)
    if not (len(tokens) == len(tags) == len(heads) == len(deps)):
        raise ValueError("tokens, tags, heads and deps must have the same length")
    if any(not 0 <= h < len(tokens) for h in heads):
        raise ValueError(f"heads must be token indices in [0, {len(tokens)}), got {heads}")
    arcs = []
    for j, h in enumerate(heads):
        if h != j:
            arcs.append({"start": min(h, j), "end": max(h, j), "label": deps[j], "dir": "left" if j < h else "right"})
    parse = {"words": [{"text": t, "tag": g} for t, g in zip(tokens, tags)], "arcs": arcs}
    svg = displacy.render(parse, style="dep", manual=True, jupyter=False,
                          options={"distance": int(distance), "compact": False, "offset_x": 40})
    # displaCy names the SVG and its arcs with a random uuid; a hash of the parse keeps ids stable
    # from run to run and distinct between two parses on one page
    stable = "parse" + hashlib.sha1(json.dumps(parse, sort_keys=True).encode()).hexdigest()[:12]
    prefix = re.search(r'class="displacy"', svg) and re.search(r'id="([0-9a-f]{32})-0"', svg)
    return svg.replace(prefix.group(1), stable) if prefix else svg


def gsemcom_results_figure(res: dict):
    """The results of ``benchmarks/gsemcom.py`` in four panels (chapter 7), 7 inches wide.

    Panels: (a) Fig. 9 analogue: mean pixels sent by every method, its mean quality written beside the bar;
    (b) Fig. 10 and 12(b) analogue: quality against the pixel budget, for G-SemCom's packets and for
    as many random pixels, with the references (traditional, local AIGC, fully masked) averaged over
    the same captions as the curves (``res["sweep_references"]``); (c) Fig. 11 analogue: quality
    against the user's decode steps, traditional on the same captions; (d) Table IV analogue: CPU
    time per stage.

    Parameters
    ----------
    res : dict
        The bundled summary ``gsemlab.data.load_result("gsemcom")`` (``benchmarks/summaries.py``
        adds ``sweep_references`` to the benchmark's aggregates); without ``sweep_references`` the
        reference lines of (b) and (c) are left out rather than taken from other captions.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(res, dict):
        raise TypeError(f"res must be the results dict, got {type(res).__name__}")
    h = res["headline"]
    m = res["methods"]
    refs = res.get("sweep_references", {})
    names = [n for n in ("traditional", "local AIGC", "fully masked") if n in h]
    names += [n for n in h if n.startswith("gsemcom xi")] + [n for n in h if n == "gsemcom without clustering"]
    fig, axes = plt.subplots(2, 2, figsize=(7.0, 6.6), layout="constrained")
    ax = axes[0, 0]
    y = np.arange(len(names))[::-1]
    pix = [h[n]["pixels"] for n in names]
    ax.barh(y, pix, 0.7, color=COLORS[0])
    for yy, n, p in zip(y, names, pix):
        q = m[n]["quality"]
        ax.text(p + 60, yy, f"Q {q['mean']:.2f}", va="center", fontsize=9)
    labels = [n.replace("gsemcom xi=", "G-SemCom ").replace("gsemcom without clustering", "no DBSCAN")
              for n in names]
    ax.set_yticks(y, labels, fontsize=9)
    ax.set_xlim(0, 4096 * 1.45)
    ax.set_xlabel("pixels sent (mean)")
    ax.set_title(f"(a) Fig. 9: {res['n_captions']} captions")

    n_sweep = res["sweeps"]["n_captions"]
    ax = axes[0, 1]
    bud = res["sweeps"]["budget"]
    if bud:
        b = [float(k) for k in bud]
        ax.errorbar(b, [bud[k]["quality"]["mean"] for k in bud], yerr=[bud[k]["quality"]["sem"] for k in bud],
                    fmt="-o", ms=4, capsize=2, color=COLORS[0], label="G-SemCom packet")
        rnd = res["sweeps"]["budget_random_pixels"]
        ax.errorbar([v * 1.04 for v in b], [rnd[k]["quality"]["mean"] for k in rnd],
                    yerr=[rnd[k]["quality"]["sem"] for k in rnd], fmt="--s", ms=4, capsize=2,
                    color=COLORS[5], label="random pixels")
        for n, c, ls in (("traditional", COLORS[2], "--"), ("local AIGC", COLORS[3], ":"),
                         ("fully masked", COLORS[4], "-.")):
            if n in refs:
                ax.axhline(refs[n]["quality"]["mean"], color=c, ls=ls, label=n)
        ax.set_xscale("log")
        ax.set_xlabel("budget (pixels, O = 1)")
        ax.set_ylabel("Q (mean ± s.e.)")
        ax.set_title(f"(b) Fig. 10: budget, {n_sweep} captions")
        ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2,
                  frameon=False)
        ax.grid(alpha=0.3)

    ax = axes[1, 0]
    st = res["sweeps"]["decode_steps"]
    if st:
        s = [int(k) for k in st]
        ax.errorbar(s, [st[k]["quality"]["mean"] for k in st], yerr=[st[k]["quality"]["sem"] for k in st],
                    fmt="-o", ms=4, capsize=2, color=COLORS[0], label="G-SemCom")
        if "traditional" in refs:
            ax.axhline(refs["traditional"]["quality"]["mean"], color=COLORS[2], ls="--", label="traditional")
        ax.set_xlabel("decode steps at the user")
        ax.set_ylabel("Q (mean ± s.e.)")
        ax.set_title(f"(c) Fig. 11: steps, {n_sweep} captions")
        ax.legend(fontsize=9, loc="lower right")
        ax.grid(alpha=0.3)

    ax = axes[1, 1]
    t = res["timing_s"]
    stages = ["generation", "extraction", "packing", "decoding"]
    ax.bar(range(4), [t[f"{s}_cpu_s"]["mean"] for s in stages], color=COLORS[:4])
    ax.set_xticks(range(4), ["generate", "extract", "pack", "decode"], fontsize=9, rotation=20)
    ax.set_ylim(0, 1.15 * max(t[f"{s}_cpu_s"]["mean"] for s in stages))
    for i, s in enumerate(stages):
        ax.text(i, t[f"{s}_cpu_s"]["mean"], f"{t[f'{s}_cpu_s']['mean'] * 1e3:.0f} ms", ha="center", va="bottom",
                fontsize=9)
    ax.set_ylabel(f"CPU s per image ({res['threads']} thread)")
    ax.set_title("(d) Table IV: time per stage")
    return fig
