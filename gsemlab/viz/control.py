"""Figures of the control-map chapter: maps as images, quality against the factor, DQN learning curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..toyworld.world import COLOURS
from .figures import series_style

__all__ = ["dqn_figure", "factor_figure", "map_to_rgb"]

METRIC_LABELS = {"mse": "MSE (lower is better)", "psnr_db": "PSNR (dB)", "ssim": "SSIM",
                 "voi": "variation of information (lower is better)", "toysim": "ToySim distance (lower is better)"}
#: the palette of segmentation labels (0 background, k = the k-th ShapesWorld colour)
_SEG = np.array([(0, 0, 0), *COLOURS.values()], np.uint8)


def map_to_rgb(control_map: np.ndarray, method: str) -> np.ndarray:
    """A control map as an RGB image for display: grey for Canny and depth, palette colours for labels.

    Parameters
    ----------
    control_map : numpy.ndarray of uint8, shape (H, W)
        A map of :func:`gsemlab.control.maps.extract` (any side).
    method : str
        Its method.

    Returns
    -------
    numpy.ndarray of uint8, shape (H, W, 3)
    """
    a = np.asarray(control_map)
    if method == "segmentation":
        return _SEG[np.clip(a, 0, len(_SEG) - 1)]
    return np.repeat(a[..., None], 3, axis=-1).astype(np.uint8)


def factor_figure(rows: Sequence[Mapping], *, methods: Sequence[str], factors: Sequence[int],
                  metrics: Sequence[str], baselines: Mapping[str, Mapping] | None = None):
    """One panel per metric: each method's mean against the downscaling factor (the paper's Fig. 3-4).

    Parameters
    ----------
    rows : sequence of mapping
        Benchmark cells with ``method``, ``factor`` and each metric (and ``<metric>_se``).
    methods, factors, metrics : sequences
        The curves, the x axis and the panels.
    baselines : mapping of str -> mapping, optional
        Label -> a cell whose metrics are drawn as horizontal dashed lines (e.g. the prompt-only baseline).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(7.2, 2.6), layout="constrained")
    axes = np.atleast_1d(axes)
    for ax, metric in zip(axes, metrics):
        for k, m in enumerate(methods):
            cells = [next(r for r in rows if r["method"] == m and r["factor"] == f) for f in factors]
            y = np.array([c[metric] for c in cells])
            se = np.array([c.get(f"{metric}_se", 0.0) for c in cells])
            style = series_style(k)
            ax.plot(factors, y, label=m, **style)
            ax.fill_between(factors, y - se, y + se, color=style["color"], alpha=0.15, linewidth=0)
        for j, (label, cell) in enumerate((baselines or {}).items()):
            ax.axhline(cell[metric], color="0.4", linestyle=(0, (4, 2 + 2 * j)), linewidth=1, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(factors), [str(f) for f in factors])
        ax.set_xlabel("downscaling factor")
        ax.set_title(METRIC_LABELS.get(metric, metric), fontsize=8)
    axes[-1].legend(fontsize=7)
    return fig


def dqn_figure(curves: Mapping[str, Sequence], *, target: float = 0.95, paper_episodes: float | None = None):
    """Learning curves: the greedy policy's reward over the optimum's against the episodes, one per seed.

    Parameters
    ----------
    curves : mapping of str -> sequence of (episodes, ratio)
        Seed -> its graded points.
    target : float
        A horizontal line (the share of the optimum to reach).
    paper_episodes : float, optional
        A vertical line at the paper's convergence point.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = plt.subplots(figsize=(5.0, 2.8), layout="constrained")
    for k, (seed, pts) in enumerate(curves.items()):
        pts = np.asarray(pts, float)
        ax.plot(pts[:, 0], pts[:, 1], label=f"seed {seed}", markevery=max(1, len(pts) // 8), **series_style(k))
    ax.axhline(target, color="0.3", linestyle="--", linewidth=1, label=f"{target:.0%} of the optimum")
    if paper_episodes is not None:
        ax.axvline(paper_episodes, color="0.5", linestyle=":", linewidth=1, label="paper: converged")
    ax.set_xscale("log")
    ax.set_xlabel("episodes (one allocation each)")
    ax.set_ylabel("reward / optimum (held-out)")
    ax.legend(fontsize=7)
    return fig
