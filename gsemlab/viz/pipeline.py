"""Chapter 7's figures and tables: the pipeline end to end, and the recorded benchmark results.

Every helper draws on a new figure (at most ``MAX_WIDTH_IN`` inches wide, fonts of at least
``MIN_FONT_PT`` points) and returns it without calling ``plt.show()``, or returns a Markdown table
(:func:`gsemlab.viz.markdown_table`). Only matplotlib, numpy and IPython are used: the objects
passed in (a ``Transmission``, the result dictionaries of ``benchmarks/gsemcom.py`` and
``benchmarks/rate_distortion.py``) are read by their attributes and keys.

Helpers
-------
example_figure
    Source, segments, packet and recovered image of one transmission.
image_row
    A row (or rows) of images sized to the page.
transmissions_table
    Pixels, bytes, D, Q and J of a few transmissions.
headline_table
    Fig. 9's comparison over the benchmark's captions.
budget_figure
    The Fig. 10 analogue: Q and D against the pixel budget for two partial-segment rules,
    references on the same captions.
rate_distortion_figure
    J, D and Q against the bytes on the wire (``benchmarks/rate_distortion.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .figures import COLORS
from .images import overlay_masks, show_images
from .style import MAX_WIDTH_IN
from .tables import markdown_table

__all__ = ["METHOD_LABELS", "budget_figure", "example_figure", "headline_table", "image_row",
           "rate_distortion_figure", "transmissions_table"]

#: Short names of the benchmark's methods, as tables and legends print them.
METHOD_LABELS = {
    "traditional": "traditional",
    "local AIGC": "local AIGC",
    "fully masked": "fully masked",
    "gsemcom xi=(0.9,0.8,0.5)": "G-SemCom (0.9, 0.8, 0.5)",
    "gsemcom xi=0.8": "G-SemCom, xi 0.8",
    "gsemcom xi=0.5": "G-SemCom, xi 0.5",
    "gsemcom without clustering": "G-SemCom, no DBSCAN",
}


def _check_mapping(value, name: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping (a result dictionary), got {type(value).__name__}")
    return value


def image_row(images: Sequence, titles: Sequence[str] | None = None, *, ncols: int | None = None,
              max_size: float = 2.2):
    """Images in rows of ``ncols``, each panel as large as the page's width allows.

    Parameters
    ----------
    images : sequence of array_like
        RGB images of shape (H, W, 3), uint8.
    titles : sequence of str, optional
        One title per image (9 pt).
    ncols : int, optional
        Panels per row, 1 to 6; default all in one row (at most 6 images then).
    max_size : float
        Largest side of a panel, in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        ``ncols`` is outside 1-6 (or, when omitted, there are more than 6 images).
    """
    images = list(images)
    ncols = len(images) if ncols is None else int(ncols)
    if not 1 <= ncols <= 6:
        raise ValueError(f"a row holds 1 to 6 panels, got {ncols}")
    size = min(max_size, (MAX_WIDTH_IN - 0.1) / ncols)
    axes = show_images(images, titles, ncols=ncols, size=size)
    return axes[0].figure


def example_figure(tr):
    """One transmission in four panels: source, its segments (Eq. 14), the packet, the recovered image.

    Parameters
    ----------
    tr : Transmission
        A G-SemCom transmission (``GSemCom.transmit``): its ``source``, ``recovered``,
        ``encoded.segments``, ``encoded.packet``, ``pixels_sent`` and ``bytes_sent`` are drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    enc = getattr(tr, "encoded", None)
    if enc is None:
        raise TypeError("tr must be a G-SemCom Transmission (with .encoded), got "
                        f"{type(tr).__name__}")
    size = (MAX_WIDTH_IN - 0.1) / 4
    fig, axes = plt.subplots(1, 4, figsize=(4 * size, size + 0.45), layout="constrained")
    show_images([tr.source], ["MASP: source $g_0$"], axes=axes[:1])
    overlay_masks(tr.source, enc.segments, ax=axes[1], title="segments (Eq. 14)", legend=False)
    show_images([enc.packet.image(fill=128), tr.recovered],
                [f"packet: {tr.pixels_sent} px", "user: recovered $g_1$"], axes=axes[2:])
    return fig


def transmissions_table(results: Mapping, *, pixels_full: int = 64 * 64):
    """Pixels, share of the image, bytes, D, Q and J of named transmissions (one row each).

    Parameters
    ----------
    results : mapping of str -> Transmission
        Row label -> a transmission (``pixels_sent``, ``bytes_sent``, ``distance``, ``quality``,
        ``jpsq``).
    pixels_full : int
        Pixels of the whole image (the share's denominator).

    Returns
    -------
    IPython.display.Markdown
    """
    _check_mapping(results, "results")
    rows = [[name, r.pixels_sent, f"{r.pixels_sent / pixels_full:.0%}", r.bytes_sent,
             f"{r.distance:.3f}", f"{r.quality:.2f}", f"{r.jpsq:.3f}"] for name, r in results.items()]
    return markdown_table(rows, ["method", "pixels", "of image", "bytes", "$d_{\\mathrm{DS}}$",
                                 "$Q$", "$J$"])


def headline_table(res: Mapping, order: Sequence[str] | None = None):
    """Fig. 9's comparison over the benchmark's captions: one row per method.

    Parameters
    ----------
    res : mapping
        ``load_result("gsemcom")``: its ``headline`` (per method: mean pixels, bandwidth saving,
        bytes, quality, quality drop against traditional and its standard error, distance, JPSQ).
    order : sequence of str, optional
        Methods (keys of ``headline``) in row order; default those of :data:`METHOD_LABELS`.

    Returns
    -------
    IPython.display.Markdown
    """
    h = _check_mapping(res, "res")["headline"]
    order = [n for n in (order or METHOD_LABELS) if n in h]
    rows = []
    for n in order:
        r = h[n]
        drop = f"{r['quality_drop_vs_traditional']:+.3f} ± {r['quality_drop_sem']:.3f}"
        rows.append([METHOD_LABELS.get(n, n), f"{r['pixels']:.0f}", f"{r['bandwidth_saving']:.1%}",
                     f"{r['bytes']:.0f}", f"{r['quality']:.3f}", drop, f"{r['distance']:.3f}",
                     f"{r['jpsq']:.3f}"])
    return markdown_table(rows, ["method", "pixels", "saving", "bytes", "$Q$", "drop", "$d_{\\mathrm{DS}}$",
                                 "$J$"])


def _errorbar(ax, x, stats, key, **kw):
    m = [s[key]["mean"] for s in stats]
    e = [s[key]["sem"] for s in stats]
    return ax.errorbar(x, m, yerr=e, capsize=2, ms=4, **kw)


#: The partial-segment rules of :func:`budget_figure`: key in the study -> (label, colour, style).
BUDGET_RULES = {
    "stop": ("whole segments (stop, default)", COLORS[0], "-o"),
    "raster": ("a cut segment too (raster)", COLORS[5], "--s"),
}


def budget_figure(study: Mapping):
    """The Fig. 10 analogue: quality and distance against the pixel budget, one curve per rule.

    Two panels: (a) mean Q (ToyNIMA) and (b) mean distance against the budget, for each
    partial-segment rule of the study (``"stop"``: the longest prefix of whole segments that fits;
    ``"raster"``: the same, then the first pixels in raster order of the next segment); horizontal
    lines are the references computed on the same captions.

    Parameters
    ----------
    study : mapping
        ``load_result("gsemcom_budget")``: ``rules`` (the rules, in the order drawn), ``budgets``
        (budget -> rule -> summaries of ``quality`` and ``distance``, each with ``mean`` and
        ``sem``), ``references`` (method -> summaries of ``quality`` and ``distance``) and
        ``n_captions``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    bud = _check_mapping(study, "study")["budgets"]
    refs = study["references"]
    rules = list(study["rules"])
    unknown = [r for r in rules if r not in BUDGET_RULES]
    if unknown:
        raise ValueError(f"no style for the rule(s) {unknown}; known: {sorted(BUDGET_RULES)}")
    x = np.array([float(b) for b in bud])
    fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH_IN, 3.9), layout="constrained")
    for ax, metric, label in ((axes[0], "quality", "$Q$ (ToyNIMA), mean ± s.e."),
                              (axes[1], "distance", "$d_{\\mathrm{DS}}$ (ToySim), mean ± s.e.")):
        for k, rule in enumerate(rules):
            name, color, fmt = BUDGET_RULES[rule]
            _errorbar(ax, x * 1.04 ** k, [v[rule] for v in bud.values()], metric, fmt=fmt,
                      color=color, label=name)
        for (ref, label_ref), color, ls in zip(
                (("traditional", "traditional"), ("local AIGC", "local AIGC"),
                 ("fully masked", "fully masked"), ("gsemcom xi=(0.9,0.8,0.5)", "G-SemCom, all segments")),
                (COLORS[2], COLORS[3], COLORS[4], COLORS[1]), ("--", ":", "-.", (0, (5, 1)))):
            ax.axhline(refs[ref][metric]["mean"], color=color, ls=ls, lw=1.2, label=label_ref)
        ax.set(xscale="log", xlabel="budget (pixels, O = 1)", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"(a) quality, {study['n_captions']} captions")
    axes[1].set_title("(b) distance to the source")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3,
               frameon=False)
    return fig


#: The curves of :func:`rate_distortion_figure`: key in the results -> (label, colour, style).
RD_CURVES = {
    "gsemcom lossy xi=(0.9,0.8,0.5)": ("G-SemCom, lossy, budgets", COLORS[0], "o-"),
    "gsemcom lossless xi=(0.9,0.8,0.5)": ("G-SemCom, lossless", COLORS[0], "o--"),
    "gsemcom lossy, quality sweep": ("G-SemCom, all pixels, q sweep", COLORS[2], "^:"),
    "webp": ("whole image, WebP", COLORS[1], "s-"),
    "vp8_444": ("whole image, packet's codec", COLORS[5], "v-"),
    "jpeg": ("whole image, JPEG", COLORS[3], "d-"),
    "png": ("whole image, PNG", "k", "*"),
    "prompt only": ("prompt only", COLORS[4], "P"),
}


def rate_distortion_figure(rd: Mapping):
    """J, distance and quality against the bytes on the wire, one panel each, a shared legend below.

    Parameters
    ----------
    rd : mapping
        ``load_result("rate_distortion")``: its ``curves`` (name -> lists ``bytes``, ``jpsq``,
        ``distance``, ``quality``, one entry per setting).

    Returns
    -------
    matplotlib.figure.Figure
    """
    cv = _check_mapping(rd, "rd")["curves"]
    panels = (("jpsq", "$J$ (Eq. 18)"), ("distance", "$d_{\\mathrm{DS}}$ (Eq. 15)"),
              ("quality", "$Q$ (Eq. 16)"))
    fig, axes = plt.subplots(1, 3, figsize=(MAX_WIDTH_IN, 3.6), layout="constrained")
    for ax, (metric, label) in zip(axes, panels):
        for name, (lab, color, style) in RD_CURVES.items():
            if name in cv:
                ax.plot(cv[name]["bytes"], cv[name][metric], style, color=color, ms=4, label=lab)
        ax.set(xscale="log", xlabel="bytes (mean)", title=label)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3,
               frameon=False)
    return fig
