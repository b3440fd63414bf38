"""Attention point clustering, Eq. 13 of [G-SemCom]: DBSCAN on a binary attention map.

A pixel ``p`` of the map is a core point when ``N_eps(p) >= Omega``, where ``N_eps(p)`` counts the map's
pixels within Euclidean distance ``eps`` of ``p`` (``p`` itself included, as in scikit-learn's
``min_samples``). Core points within ``eps`` of each other form a cluster together with their border
points; the rest is noise. As in Fig. 6 of the paper, noise and clusters with fewer than
``min_cluster_size`` (30) pixels are dropped. With the default ``eps = 1.5`` a pixel's neighbourhood is
its 8-connected 3x3 window.

Defaults from :class:`gsemlab.config.GSemComConfig`.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import DBSCAN

from .checks import check_positive_float, check_positive_int
from .config import GSemComConfig

__all__ = ["clean_mask", "cluster_map"]

_DEFAULTS = GSemComConfig()


def _check_binary_map(binary_map) -> np.ndarray:
    arr = np.asarray(binary_map)
    if arr.ndim != 2:
        raise ValueError(f"binary_map must be a 2-D (H, W) map, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind in "iuf":
        if np.isin(arr, (0, 1)).all():
            return arr.astype(bool)
        raise ValueError(
            "binary_map must hold only True/False (or 0/1); binarise the attention map first (Eq. 8)"
        )
    raise TypeError(f"binary_map must be a boolean array, got dtype {arr.dtype}")


def cluster_map(
    binary_map,
    *,
    eps: float = _DEFAULTS.dbscan_eps,
    min_samples: int = _DEFAULTS.dbscan_min_samples,
    min_cluster_size: int = _DEFAULTS.min_cluster_size,
) -> np.ndarray:
    """Cluster the True pixels of a binary map with DBSCAN (Eq. 13 of [G-SemCom]) and label the kept clusters.

    The (row, col) coordinates of the True pixels, in raster order, go to
    ``sklearn.cluster.DBSCAN(eps, min_samples)``. Noise points and clusters with fewer than
    ``min_cluster_size`` pixels get -1. Kept clusters are renumbered ``0..K-1`` by size, largest first;
    clusters of equal size are ordered by their first pixel in raster order. So label 0 is always the
    largest cluster, and the result does not depend on scikit-learn's internal numbering.

    Parameters
    ----------
    binary_map : array_like of bool, shape (H, W)
        Binary attention map ``A^{0,1}`` (Eq. 8); 0/1 integers or floats are accepted.
    eps : float
        Neighbourhood radius ``epsilon`` in pixels, > 0.
    min_samples : int
        ``Omega``: pixels (the point included) needed within ``eps`` for a core point, >= 1.
    min_cluster_size : int
        Clusters with fewer pixels than this are dropped (Fig. 6: 30), >= 1.

    Returns
    -------
    labels : ndarray of int64, shape (H, W)
        Cluster index per pixel; -1 for background, noise and dropped clusters.
    """
    mask = _check_binary_map(binary_map)
    eps = check_positive_float(eps, "eps")
    min_samples = check_positive_int(min_samples, "min_samples")
    min_cluster_size = check_positive_int(min_cluster_size, "min_cluster_size")

    labels = np.full(mask.shape, -1, dtype=np.int64)
    coords = np.argwhere(mask)  # (n, 2) rows and columns, raster order
    if len(coords) == 0:
        return labels
    raw = DBSCAN(eps=eps, min_samples=min_samples).fit(coords).labels_

    clustered = raw >= 0
    ids, first, sizes = np.unique(raw[clustered], return_index=True, return_counts=True)
    keep = sizes >= min_cluster_size
    ids, first, sizes = ids[keep], first[keep], sizes[keep]
    order = np.lexsort((first, -sizes))  # size descending, then first pixel in raster order
    new_id = np.full(raw.max() + 2, -1, dtype=np.int64)  # index -1 (noise) maps to -1 too
    new_id[ids[order]] = np.arange(len(ids))
    labels[coords[:, 0], coords[:, 1]] = new_id[raw]
    return labels


def clean_mask(
    binary_map,
    *,
    eps: float = _DEFAULTS.dbscan_eps,
    min_samples: int = _DEFAULTS.dbscan_min_samples,
    min_cluster_size: int = _DEFAULTS.min_cluster_size,
) -> np.ndarray:
    """The pixels of a binary map that survive :func:`cluster_map` (Eq. 13): the clean segment.

    Parameters
    ----------
    binary_map, eps, min_samples, min_cluster_size
        As in :func:`cluster_map`.

    Returns
    -------
    mask : ndarray of bool, shape (H, W)
        True where the pixel belongs to a kept cluster.
    """
    return cluster_map(binary_map, eps=eps, min_samples=min_samples, min_cluster_size=min_cluster_size) >= 0
