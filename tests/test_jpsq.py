"""Eq. 15-18: cosine distance, NIMA mean and spread, T(t), JPSQ, and the t_max calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cosine as scipy_cosine
from scipy.stats import norm

from gsemlab.jpsq import (
    NOISE_MEAN,
    NOISE_STD,
    calibrate_t_max,
    cosine_distance,
    gaussian_noise_image,
    jpsq,
    nima_mean,
    nima_std,
    normalised_similarity,
)

Q_TH = 4.9827
OMEGA0 = 1.25


def test_normalised_similarity_by_hand():
    # T(0.1) with t_max 0.5, t_min 0: (0.5 - 0.1) / 0.5 = 0.8
    assert normalised_similarity(0.1, 0.5) == pytest.approx(0.8)
    # with t_min 0.1: T(0.3) = (0.5 - 0.3) / (0.5 - 0.1) = 0.5; T(t_min) = 1; T(t_max) = 0
    assert normalised_similarity(0.3, 0.5, 0.1) == pytest.approx(0.5)
    np.testing.assert_allclose(normalised_similarity([0.1, 0.5], 0.5, 0.1), [1.0, 0.0])
    # not clipped: beyond t_max, (0.5 - 0.6) / 0.5 = -0.2
    assert normalised_similarity(0.6, 0.5) == pytest.approx(-0.2)


def test_jpsq_by_hand():
    # Q = Q_th / omega0: ln(1) = 0 -> J = 0 whatever the distance
    assert jpsq(0.1, Q_TH / OMEGA0, 0.5) == pytest.approx(0.0, abs=1e-15)
    # Q = e Q_th / omega0: ln(e) = 1 -> J = T = 0.8
    assert jpsq(0.1, math.e * Q_TH / OMEGA0, 0.5) == pytest.approx(0.8, rel=1e-12)
    # Q = Q_th: J = 0.8 ln(1.25) = 0.8 * 0.2231435513 = 0.1785148411
    assert jpsq(0.1, Q_TH, 0.5) == pytest.approx(0.1785148411, rel=1e-9)
    # omega0 = 1, Q = 2 Q_th, t_max 0.4, D = 0.1: T = 0.75, J = 0.75 ln 2 = 0.75 * 0.6931471806 = 0.5198603854
    assert jpsq(0.1, 2 * Q_TH, 0.4, omega0=1.0) == pytest.approx(0.5198603854, rel=1e-9)
    # q_th = 5, Q = 5 e^2 / 1.25 (ln = 2), D = 0 -> T = 1 -> J = 2
    assert jpsq(0.0, 5 * math.e**2 / OMEGA0, 0.3, q_th=5.0) == pytest.approx(2.0, rel=1e-12)


def test_jpsq_broadcasts():
    d = np.array([0.0, 0.25, 0.5])  # T = 1, 0.5, 0 with t_max 0.5
    q = np.array([[Q_TH / OMEGA0], [math.e * Q_TH / OMEGA0]])  # ln = 0, 1
    np.testing.assert_allclose(jpsq(d, q, 0.5), [[0.0, 0.0, 0.0], [1.0, 0.5, 0.0]], atol=1e-15)


def test_nima_by_hand():
    # c_3..c_7 = 0.1, 0.2, 0.4, 0.2, 0.1: mu = 0.3 + 0.8 + 2.0 + 1.2 + 0.7 = 5.0
    # sigma^2 = 0.1*4 + 0.2*1 + 0 + 0.2*1 + 0.1*4 = 1.2, sigma = 1.0954451150
    c = np.array([0, 0, 0.1, 0.2, 0.4, 0.2, 0.1, 0, 0, 0])
    assert nima_mean(c) == pytest.approx(5.0)
    assert nima_std(c) == pytest.approx(1.0954451150, rel=1e-9)
    # half at 4, half at 8: mu = 6, sigma = 2; all at 7: mu = 7, sigma = 0
    # uniform: mu = 5.5, sigma^2 = (10^2 - 1) / 12 = 8.25
    batch = np.zeros((3, 10))
    batch[0, [3, 7]] = 0.5
    batch[1, 6] = 1.0
    batch[2] = 0.1
    np.testing.assert_allclose(nima_mean(batch), [6.0, 7.0, 5.5])
    np.testing.assert_allclose(nima_std(batch), [2.0, 0.0, math.sqrt(8.25)], atol=1e-12)
    assert nima_mean(np.tile(batch, (2, 1, 1))).shape == (2, 3)
    # a float32 softmax output is accepted
    logits = np.linspace(-1, 1, 10, dtype=np.float32)
    soft = np.exp(logits) / np.exp(logits).sum()
    assert 1.0 <= nima_mean(soft) <= 10.0


def test_cosine_distance_by_hand_and_against_scipy():
    assert cosine_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    assert cosine_distance([1.0, 0.0], [-3.0, 0.0]) == pytest.approx(2.0)
    assert cosine_distance([2.0, 2.0], [5.0, 5.0]) == pytest.approx(0.0, abs=1e-15)
    # (1, 0) vs (1, 1): cos = 1 / sqrt(2), D = 1 - 0.7071067812 = 0.2928932188
    assert cosine_distance([1.0, 0.0], [1.0, 1.0]) == pytest.approx(0.2928932188, rel=1e-9)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3, 16))
    b = rng.normal(size=(3, 16))
    out = cosine_distance(a, b)
    assert out.shape == (4, 3)
    ref = np.array([[scipy_cosine(a[i, j], b[j]) for j in range(3)] for i in range(4)])
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_noise_image():
    img = gaussian_noise_image((64, 48, 3), rng=0)
    assert img.dtype == np.uint8 and img.shape == (64, 48, 3)
    assert img.mean() == pytest.approx(127.5, abs=1.0)
    # clipping at 0 and 255 (2 sigma) trims the spread a little below 63.75
    assert 58.0 < img.std() < 63.75
    np.testing.assert_array_equal(img, gaussian_noise_image((64, 48, 3), rng=0))


def _noise_pmf() -> np.ndarray:
    """P(noise pixel = k), k = 0..255, for N(127.5, 63.75^2) rounded to the nearest integer, clipped."""
    edges = norm.cdf((np.arange(-0.5, 256.0, 1.0) - NOISE_MEAN) / NOISE_STD)  # 257 bin edges
    pmf = np.diff(edges)
    pmf[0] += edges[0]  # everything below -0.5 clips to 0
    pmf[-1] += 1.0 - edges[-1]  # everything above 255.5 clips to 255
    return pmf


def test_calibrate_t_max_against_exact_expectation():
    # distance = mean absolute pixel difference; its expectation against the noise is exact:
    # E|x - Z| = sum_k |x - k| P(Z = k), averaged over the image's pixels x (no sampling involved).
    def mad(a, b):
        return float(np.abs(a.astype(float) - b.astype(float)).mean())

    rng = np.random.default_rng(1)
    images = [np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)]
    images += [rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8) for _ in range(18)]
    f = np.abs(np.arange(256)[:, None] - np.arange(256)[None, :]) @ _noise_pmf()  # f(x) = E|x - Z|
    expected = np.mean([f[img].mean() for img in images])
    # f(0) = E[Z] = 127.5 by symmetry of the clipped noise
    assert f[0] == pytest.approx(127.5, rel=1e-9)
    t_max = calibrate_t_max(mad, images, rng=7)
    assert isinstance(t_max, float)
    assert t_max == pytest.approx(expected, rel=1e-2)  # 61440 pixels: standard error ~0.15 %
    assert calibrate_t_max(mad, np.stack(images), rng=7) == t_max  # a 4-D array works too


def test_calibrate_t_max_one_noise_per_image():
    seen = []

    def record(img, noise):
        assert noise.shape == img.shape and noise.dtype == np.uint8
        seen.append(noise.copy())
        return 0.25

    assert calibrate_t_max(record, [np.zeros((4, 4, 3), np.uint8)] * 3, rng=0) == 0.25
    assert len(seen) == 3 and not np.array_equal(seen[0], seen[1])


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: normalised_similarity(0.1, 0.5, 0.5), ValueError, "t_max"),
        (lambda: normalised_similarity(0.1, 0.2, 0.4), ValueError, "t_max"),
        (lambda: normalised_similarity(np.nan, 0.5), ValueError, "distance"),
        (lambda: jpsq(0.1, 0.0, 0.5), ValueError, "quality"),
        (lambda: jpsq(0.1, -2.0, 0.5), ValueError, "quality"),
        (lambda: jpsq(0.1, np.nan, 0.5), ValueError, "quality"),
        (lambda: jpsq([0.1, np.nan], 5.0, 0.5), ValueError, "distance"),
        (lambda: jpsq(0.1, 5.0, 0.0), ValueError, "t_max"),
        (lambda: jpsq(0.1, 5.0, 0.5, omega0=0.0), ValueError, "omega0"),
        (lambda: jpsq(0.1, 5.0, 0.5, q_th=-1.0), ValueError, "q_th"),
        (lambda: nima_mean(np.full(9, 1 / 9)), ValueError, "length 10"),
        (lambda: nima_std(np.full((2, 5), 0.2)), ValueError, "length 10"),
        (lambda: nima_mean(np.full(10, 0.2)), ValueError, "sum to 1"),
        (lambda: nima_mean([-0.1, 1.1] + [0] * 8), ValueError, "non-negative"),
        (lambda: nima_mean([np.nan] + [0.1] * 9), ValueError, "NaN"),
        (lambda: cosine_distance([1.0, 2.0], [1.0, 2.0, 3.0]), ValueError, "last axes"),
        (lambda: cosine_distance([0.0, 0.0], [1.0, 2.0]), ValueError, "all-zero"),
        (lambda: calibrate_t_max("dreamsim", [np.zeros((4, 4, 3), np.uint8)]), TypeError, "distance_fn"),
        (lambda: calibrate_t_max(lambda a, b: 0.1, []), ValueError, "at least one"),
        (lambda: calibrate_t_max(lambda a, b: 0.1, [np.zeros((4, 4, 3))]), ValueError, "uint8"),
        (lambda: calibrate_t_max(lambda a, b: 0.1, [np.zeros((4, 4), np.uint8)]), ValueError, "images"),
        (lambda: calibrate_t_max(lambda a, b: np.nan, [np.zeros((4, 4, 3), np.uint8)]), ValueError, "finite"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
