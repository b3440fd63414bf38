"""Eq. 13: DBSCAN attention clustering, noise and small clusters dropped."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from gsemlab.segment import clean_mask, cluster_map

NOISE = [(0, 63), (30, 2), (50, 20), (20, 50), (63, 63), (2, 40), (33, 33), (60, 5)]


def _drawn_map():
    """64x64 map: a 40-pixel blob, a 20-pixel blob and 8 isolated pixels (no two within 1.5 px)."""
    blob40 = np.zeros((64, 64), bool)
    blob40[5:11, 5:12] = True  # 6 x 7 = 42 pixels ...
    blob40[5, 5] = blob40[10, 11] = False  # ... minus two corners = 40
    blob20 = np.zeros((64, 64), bool)
    blob20[40:44, 40:45] = True  # 4 x 5 = 20 pixels
    noise = np.zeros((64, 64), bool)
    for r, c in NOISE:
        noise[r, c] = True
    return blob40, blob20, noise


def _sklearn_reference(mask, eps, min_samples, min_cluster_size):
    """Pixel sets of sklearn DBSCAN clusters with >= min_cluster_size points, largest first."""
    coords = np.argwhere(mask)
    raw = DBSCAN(eps=eps, min_samples=min_samples).fit(coords).labels_
    sets = [frozenset(map(tuple, coords[raw == k])) for k in set(raw) - {-1}]
    return sorted((s for s in sets if len(s) >= min_cluster_size), key=len, reverse=True)


def test_blob_survives_small_blob_and_noise_dropped():
    blob40, blob20, noise = _drawn_map()
    assert blob40.sum() == 40 and blob20.sum() == 20 and noise.sum() == 8
    m = blob40 | blob20 | noise
    labels = cluster_map(m)  # Table III / Fig. 6 defaults: eps 1.5, Omega 4, 30 points
    assert labels.shape == (64, 64) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels == 0, blob40)  # exact pixel set
    np.testing.assert_array_equal(labels[~blob40], -1)  # 20-blob, noise and background dropped
    np.testing.assert_array_equal(clean_mask(m), blob40)
    # independent reference: sklearn's own DBSCAN on the same coordinates, size filter done here
    ref = _sklearn_reference(m, 1.5, 4, 30)
    assert ref == [frozenset(map(tuple, np.argwhere(blob40)))]


def test_size_order_and_sklearn_agreement_with_smaller_threshold():
    blob40, blob20, noise = _drawn_map()
    m = blob40 | blob20 | noise
    labels = cluster_map(m, min_cluster_size=15)
    # both blobs kept now; label 0 = larger (40), label 1 = the 20-blob
    np.testing.assert_array_equal(labels == 0, blob40)
    np.testing.assert_array_equal(labels == 1, blob20)
    assert labels.max() == 1 and (labels[noise] == -1).all()
    ref = _sklearn_reference(m, 1.5, 4, 15)
    got = [frozenset(map(tuple, np.argwhere(labels == k))) for k in range(labels.max() + 1)]
    assert got == ref


def test_size_beats_raster_order_and_ties_use_raster_order():
    m = np.zeros((20, 20), bool)
    m[0:3, 0:3] = True  # 9 pixels, first in raster order
    m[10:14, 10:14] = True  # 16 pixels
    m[15:18, 0:3] = True  # 9 pixels, after the first 9-blob
    labels = cluster_map(m, min_cluster_size=1)
    assert labels[11, 11] == 0 and labels[1, 1] == 1 and labels[16, 1] == 2


def test_cluster_of_exactly_min_size_is_kept():
    # Fig. 6 drops clusters with *less than* 30 points: a 5 x 6 = 30 block stays, a 29-pixel one goes
    m = np.zeros((20, 20), bool)
    m[1:6, 1:7] = True
    assert clean_mask(m).sum() == 30
    m[1, 1] = False
    assert clean_mask(m).sum() == 0


def test_every_point_core_when_min_samples_is_one():
    # Omega = 1: every pixel is a core point, so each isolated pixel is its own cluster of size 1:
    # 2 blobs + 8 singletons = 10 clusters when nothing is dropped
    blob40, blob20, noise = _drawn_map()
    labels = cluster_map(blob40 | blob20 | noise, min_samples=1, min_cluster_size=1)
    assert labels.max() + 1 == 10
    assert sorted(np.bincount(labels[labels >= 0])) == [1] * 8 + [20, 40]


def test_border_points_and_eps():
    # a 1-pixel-wide line: end pixels have 2 neighbours (with themselves) within 1.5, inner ones 3.
    # Omega = 3: inner pixels are core, the two ends are border points of the same cluster.
    m = np.zeros((5, 12), bool)
    m[2, 1:11] = True
    np.testing.assert_array_equal(cluster_map(m, min_samples=3, min_cluster_size=10)[2, 1:11], 0)
    # Omega = 4: no pixel has 4 neighbours -> all noise
    assert (cluster_map(m, min_samples=4, min_cluster_size=1) == -1).all()
    # eps = 2.5 reaches 2 pixels each way: inner pixels have 5, their neighbours at the ends 4 (core),
    # the ends 3 (border) -> one cluster of 10 again
    assert (cluster_map(m, eps=2.5, min_samples=4, min_cluster_size=10)[2, 1:11] == 0).all()


def test_random_maps_match_sklearn():
    rng = np.random.default_rng(0)
    for density in (0.15, 0.35, 0.6):
        m = rng.random((40, 40)) < density
        for eps, omega, size in ((1.5, 4, 30), (1.0, 3, 5), (2.3, 6, 12)):
            labels = cluster_map(m, eps=eps, min_samples=omega, min_cluster_size=size)
            got = [frozenset(map(tuple, np.argwhere(labels == k))) for k in range(labels.max() + 1)]
            ref = _sklearn_reference(m, eps, omega, size)
            assert sorted(map(len, got), reverse=True) == [len(s) for s in got]  # largest first
            assert set(got) == set(ref)


def test_empty_and_integer_maps():
    assert (cluster_map(np.zeros((8, 9), bool)) == -1).all()
    blob40, _, _ = _drawn_map()
    np.testing.assert_array_equal(cluster_map(blob40.astype(np.uint8)), cluster_map(blob40))
    np.testing.assert_array_equal(cluster_map(blob40.astype(float)), cluster_map(blob40))


@pytest.mark.parametrize(
    ("binary_map", "kwargs", "exc", "match"),
    [
        (np.zeros(16, bool), {}, ValueError, "2-D"),
        (np.zeros((4, 4, 3), bool), {}, ValueError, "2-D"),
        (np.full((4, 4), 0.3), {}, ValueError, "binar"),
        (np.full((4, 4), 2), {}, ValueError, "binar"),
        (np.array([["a", "b"], ["c", "d"]]), {}, TypeError, "boolean"),
        (np.zeros((4, 4), bool), {"eps": 0.0}, ValueError, "eps"),
        (np.zeros((4, 4), bool), {"eps": -1.0}, ValueError, "eps"),
        (np.zeros((4, 4), bool), {"eps": float("nan")}, ValueError, "eps"),
        (np.zeros((4, 4), bool), {"min_samples": 0}, ValueError, "min_samples"),
        (np.zeros((4, 4), bool), {"min_samples": 2.5}, TypeError, "min_samples"),
        (np.zeros((4, 4), bool), {"min_cluster_size": 0}, ValueError, "min_cluster_size"),
    ],
)
def test_bad_input(binary_map, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cluster_map(binary_map, **kwargs)
    with pytest.raises(exc, match=match):
        clean_mask(binary_map, **kwargs)
