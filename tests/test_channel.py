"""Eq. 1: OFDMA capacity, Rayleigh gains, latency-bounded payload, ergodic capacity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from gsemlab.channel import (
    drop_users,
    expected_capacity,
    max_payload_bits,
    ofdma_capacity,
    rayleigh_gains,
)
from gsemlab.config import ChannelConfig


def test_capacity_at_a_point_worked_on_paper():
    # W = 1 MHz, P = 1 W, phi = 1e-6, I = 1e-9 W, N0 = 1e-15 W/Hz
    # W N0 = 1e6 * 1e-15 = 1e-9 W; I + W N0 = 2e-9 W; P phi = 1e-6 W
    # SNR = 1e-6 / 2e-9 = 500;  c = 1e6 * log2(501) = 1e6 * 8.968666793... = 8.968666793e6 bit/s
    c = ofdma_capacity(1e6, 1.0, 1e-6, 1e-9, 1e-15)
    assert c == pytest.approx(8.968666793195e6, rel=1e-11)
    # SNR = 1 (P phi = 1e-9 = W N0, no interference): c = W log2(2) = W = 1e6 bit/s
    assert ofdma_capacity(1e6, 1.0, 1e-9, 0.0, 1e-15) == pytest.approx(1e6, rel=1e-12)
    # SNR = 3: c = W log2(4) = 2 W = 360 kbit/s for one 180 kHz RB
    # (I + W N0 = 1e-9 + 180e3 * 1e-30 = 1e-9 W to 16 digits; P phi = 3 * 1e-9 W)
    assert ofdma_capacity(180e3, 3.0, 1e-9, 1e-9, 1e-30) == pytest.approx(360e3, rel=1e-12)


def test_payload_is_latency_times_capacity():
    # c = 8.968666793e6 bit/s for L = 5 s: 5 * 8.968666793e6 = 4.4843333966e7 bit
    c = ofdma_capacity(1e6, 1.0, 1e-6, 1e-9, 1e-15)
    assert max_payload_bits(c, 5.0) == pytest.approx(4.4843333966e7, rel=1e-10)
    # vectorised per-user latency: [1 s, 2 s] x [100, 10] bit/s = [100, 20] bit
    np.testing.assert_allclose(max_payload_bits([100.0, 10.0], [1.0, 2.0]), [100.0, 20.0])


def test_zero_bandwidth_gives_zero_capacity():
    assert ofdma_capacity(0.0, 1.0, 1e-6, 0.0, 1e-15) == 0.0
    assert expected_capacity(0.0, 1.0, 1e-6, 0.0, 1e-15) == 0.0


def test_capacity_broadcasts_and_matches_direct_formula():
    bandwidths = np.array([[180e3], [360e3], [1e6]])  # (3, 1)
    gains = np.array([1e-6, 4e-6, 1e-5, 2e-7])  # (4,)
    c = ofdma_capacity(bandwidths, 0.2, gains, 1e-12, 4e-21)
    assert c.shape == (3, 4)
    for r, w in enumerate(bandwidths[:, 0]):
        for k, g in enumerate(gains):
            assert c[r, k] == pytest.approx(w * math.log2(1 + 0.2 * g / (1e-12 + w * 4e-21)), rel=1e-12)


def test_gain_shapes_and_seeding():
    d = np.array([50.0, 100.0, 500.0])
    assert rayleigh_gains(d, rng=0).shape == (3,)
    assert rayleigh_gains(d, rng=0, n_draws=7).shape == (7, 3)
    assert rayleigh_gains(np.full((2, 5), 10.0), rng=0, n_draws=4).shape == (4, 2, 5)
    assert np.ndim(rayleigh_gains(100.0, rng=0)) == 0
    np.testing.assert_array_equal(rayleigh_gains(d, rng=3, n_draws=5), rayleigh_gains(d, rng=3, n_draws=5))
    assert not np.array_equal(rayleigh_gains(d, rng=3, n_draws=5), rayleigh_gains(d, rng=4, n_draws=5))


def test_fading_is_unit_exponential():
    # phi d^2 = gamma ~ Exp(1): mean 1, variance 1, P(gamma > 1) = e^-1 = 0.36788
    d = np.array([20.0, 300.0])
    gamma = rayleigh_gains(d, rng=1, n_draws=200_000) * d**2
    assert gamma.mean(axis=0) == pytest.approx([1.0, 1.0], abs=0.01)  # standard error 0.0022
    assert gamma.var(axis=0) == pytest.approx([1.0, 1.0], abs=0.03)
    assert (gamma > 1).mean() == pytest.approx(math.exp(-1), abs=0.005)
    # path loss exponent 3: the mean gain is d^-3
    assert rayleigh_gains(10.0, rng=2, n_draws=200_000, path_loss_exponent=3.0).mean() == pytest.approx(
        1e-3, rel=0.01
    )


@pytest.mark.parametrize("a", [1e-6, 0.02, 0.5, 1.0, 7.0, 1e3, 8e5])
def test_expected_capacity_closed_form_matches_quadrature(a):
    # independent check of W exp(1/a) E1(1/a) / ln 2: integrate W log2(1 + a g) e^-g over g in (0, inf)
    # with W = 1 Hz, I = 0, N0 = 1 W/Hz, P = 1 W, mean gain = a  ->  mean SNR = a
    ref, _ = integrate.quad(
        lambda g: math.log2(1 + a * g) * math.exp(-g), 0, math.inf, epsabs=0, epsrel=1e-12
    )
    assert expected_capacity(1.0, 1.0, a, 0.0, 1.0) == pytest.approx(ref, rel=1e-8)


def test_expected_capacity_at_snr_one_by_hand():
    # a = 1: E[log2(1 + gamma)] = e E1(1) / ln 2, and e E1(1) = 0.596347362323194 is the Gompertz
    # constant, so the mean is 0.596347362323194 / 0.693147180559945 = 0.860347382 bit/s per Hz
    assert expected_capacity(1.0, 1.0, 1.0, 0.0, 1.0) == pytest.approx(0.860347382, rel=1e-8)


@pytest.mark.parametrize("distance_m", [50.0, 500.0, 2e5])
def test_monte_carlo_capacity_matches_closed_form(distance_m):
    cfg = ChannelConfig()
    gains = rayleigh_gains(np.array([distance_m]), rng=12, n_draws=200_000)
    c = ofdma_capacity(cfg.bandwidth_hz, cfg.power_w, gains, cfg.interference_w, cfg.noise_psd_w_per_hz)
    exact = expected_capacity(
        cfg.bandwidth_hz, cfg.power_w, distance_m**-2, cfg.interference_w, cfg.noise_psd_w_per_hz
    )
    assert c.mean() == pytest.approx(exact, rel=1e-2)


def test_expected_capacity_broadcasts():
    d = np.array([50.0, 100.0, 400.0])
    out = expected_capacity(np.array([[1e5], [2e5]]), 0.2, d**-2, 1e-12, 4e-21)
    assert out.shape == (2, 3)
    assert np.all(np.diff(out, axis=1) < 0)  # further users, lower capacity


def test_drop_users_area_uniform():
    r, big_r = 50.0, 500.0
    d = drop_users(100_000, rng=5, min_distance_m=r, max_distance_m=big_r)
    assert d.shape == (100_000,)
    assert d.min() >= r and d.max() <= big_r
    # density 2d / (R^2 - r^2): E[d] = 2/3 (R^3 - r^3) / (R^2 - r^2) = 2/3 * 124.875e6 / 247500 = 336.3636
    assert d.mean() == pytest.approx(336.3636, abs=1.0)  # standard error ~0.4 m
    # CDF (d^2 - r^2) / (R^2 - r^2) = 1/2 at the median sqrt((r^2 + R^2) / 2) = sqrt(126250) = 355.3168
    assert np.median(d) == pytest.approx(355.3168, abs=2.0)
    assert drop_users((3, 4), rng=0).shape == (3, 4)
    np.testing.assert_array_equal(drop_users(5, rng=9), drop_users(5, rng=9))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"bandwidth_hz": -1.0}, "bandwidth_hz"),
        ({"power_w": -0.1}, "power_w"),
        ({"gain": -1e-6}, "gain"),  # negative linear SNR
        ({"gain": np.array([1e-6, np.nan])}, "gain"),
        ({"interference_w": -1e-9}, "interference_w"),
        ({"noise_psd_w_per_hz": 0.0}, "noise_psd_w_per_hz"),
        ({"power_w": float("nan")}, "power_w"),
        ({"bandwidth_hz": math.inf}, "bandwidth_hz"),
    ],
)
def test_capacity_rejects_bad_input(kwargs, name):
    args = {
        "bandwidth_hz": 1e6,
        "power_w": 1.0,
        "gain": 1e-6,
        "interference_w": 1e-9,
        "noise_psd_w_per_hz": 1e-15,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        ofdma_capacity(**args)
    args["mean_gain"] = args.pop("gain")
    with pytest.raises(ValueError, match="mean_gain" if name == "gain" else name):
        expected_capacity(**args)


def test_other_errors():
    with pytest.raises(ValueError, match="distances_m"):
        rayleigh_gains([10.0, 0.0])
    with pytest.raises(ValueError, match="distances_m"):
        rayleigh_gains([-5.0])
    with pytest.raises(ValueError, match="distances_m"):
        rayleigh_gains([np.nan])
    with pytest.raises(ValueError, match="n_draws"):
        rayleigh_gains([10.0], n_draws=0)
    with pytest.raises(TypeError, match="distances_m"):
        rayleigh_gains("far")
    with pytest.raises(ValueError, match="latency_s"):
        max_payload_bits(1e6, 0.0)
    with pytest.raises(ValueError, match="latency_s"):
        max_payload_bits(1e6, -1.0)
    with pytest.raises(ValueError, match="capacity_bps"):
        max_payload_bits(-1.0, 5.0)
    with pytest.raises(ValueError, match="max_distance_m"):
        drop_users(3, min_distance_m=100.0, max_distance_m=50.0)
    with pytest.raises(ValueError, match="min_distance_m"):
        drop_users(3, min_distance_m=0.0)
    with pytest.raises(ValueError, match="n"):
        drop_users(0)
    with pytest.raises(TypeError, match="n"):
        drop_users(2.5)
