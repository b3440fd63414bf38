"""Scores of a word's attention map against the object `locate` found for it (chapter 2).

A map is useful to G-SemCom when it covers the object its word names. Against the object's region
``R`` (boolean, found by :func:`gsemlab.toyworld.locate` in the generated image) and the regions of
the caption's other found objects, :func:`map_scores` computes

* **pointing**: the map's peak lies inside ``R`` (pointing game);
* **mass**: the map, normalised to [0, 1] by min-max as :func:`gsemlab.attention.binarize` does,
  holds more total mass on ``R`` than on every other object (None without another object);
* **density**: the same with the mean over each region instead of the sum, which does not favour the
  larger object (None without another object);
* **iou**: intersection over union of the binary map (Eq. 8 at ``xi``) with ``R``.

:func:`centred_prior` is the prompt-blind baseline map and :func:`summarise_scores` averages a list of
scores. ``book/02_cross_attention.md`` and ``benchmarks/attention_quality.py`` both use these.
"""
from __future__ import annotations

import numpy as np

from ..attention import binarize

__all__ = ["centred_prior", "map_scores", "summarise_scores"]

SCORES = ("pointing", "mass", "iou", "density")


def centred_prior(size: int) -> np.ndarray:
    """The prompt-blind baseline map: an isotropic Gaussian centred on the image.

    Parameters
    ----------
    size : int
        Side of the square image in pixels.

    Returns
    -------
    ndarray of float, shape (size, size)
        ``exp(-((x - c)**2 + (y - c)**2) / (2 sigma**2))`` with ``c = (size - 1) / 2`` and
        ``sigma = size / 4``; the same map for every word.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    c = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size]
    return np.exp(-((x - c) ** 2 + (y - c) ** 2) / (2 * (size / 4.0) ** 2))


def map_scores(attn, region, others=(), xi: float = 0.5) -> dict:
    """Pointing, mass, density and IoU of one attention map against one object region.

    Parameters
    ----------
    attn : array_like of float, shape (H, W)
        A word's attention map (Eq. 7) or a baseline map.
    region : array_like of bool, shape (H, W)
        The region of the word's object.
    others : sequence of array_like of bool, each (H, W)
        Regions of the other found objects of the caption (may be empty).
    xi : float
        Threshold of the binary map (Eq. 8 on the normalised map), in (0, 1].

    Returns
    -------
    dict
        ``pointing`` (bool), ``mass`` (bool or None), ``density`` (bool or None) and ``iou`` (float
        in [0, 1]; 0 when both the binary map and the region are empty).
    """
    a = np.asarray(attn)
    region = np.asarray(region, bool)
    others = [np.asarray(o, bool) for o in others]
    if a.ndim != 2 or region.shape != a.shape or any(o.shape != a.shape for o in others):
        raise ValueError(f"attn must be 2-D and region and others of its shape, got {a.shape}, "
                         f"{region.shape} and {[o.shape for o in others]}")
    peak = np.unravel_index(int(np.argmax(a)), a.shape)
    b = binarize(a, xi)
    iou = float((b & region).sum() / max((b | region).sum(), 1))
    mass = density = None
    if others:
        lo, hi = float(a.min()), float(a.max())
        m = np.zeros_like(a, dtype=np.float64) if hi == lo else (a - lo) / (hi - lo)
        mass = bool(all(float(m[region].sum()) > float(m[o].sum()) for o in others))
        density = bool(all(float(m[region].mean()) > float(m[o].mean()) for o in others))
    return {"pointing": bool(region[peak]), "mass": mass, "iou": iou, "density": density}


def summarise_scores(rows) -> dict:
    """Mean of each score over a list of :func:`map_scores` results, skipping None.

    Parameters
    ----------
    rows : sequence of dict
        Results of :func:`map_scores` (extra keys are ignored).

    Returns
    -------
    dict
        For each of ``pointing``, ``mass``, ``iou``, ``density``: the mean (float, None when no row has a
        value) and ``n_<score>``, the number of rows that had one.
    """
    out = {}
    for key in SCORES:
        vals = [r[key] for r in rows if r[key] is not None]
        out[key] = float(np.mean(vals)) if vals else None
        out[f"n_{key}"] = len(vals)
    return out
