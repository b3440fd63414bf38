"""The correlated OFDM channel of DeKA-g (gsemlab.channel.fading) against closed forms.

* the gains' empirical correlation against ``E[h_k h_l*] = 1 / (1 + j 2 pi tau (k - l) df)`` (Eq. 3 in
  [DeKA-g] with unit average power), unit power, circularity, independence across slots;
* ``tau = 0`` gives one gain for every sub-carrier;
* the sequential mapping of Eq. 2 in [DeKA-g]: symbol ``k`` on sub-carrier ``k mod N`` of OFDM
  symbol ``k // N``, checked with hand-made gains and noise-free;
* bad inputs raise before any draw.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gsemlab.channel.fading import (
    correlated_rayleigh,
    equalise,
    frequency_correlation,
    map_to_subcarriers,
    measured_snr_db,
    ofdm_fading,
    power_normalise,
)

torch.set_num_threads(1)

N_DRAWS = 40_000


def _closed_form(n, tau, df):
    lag = np.arange(n)[:, None] - np.arange(n)[None, :]
    return 1.0 / (1.0 + 2j * np.pi * tau * lag * df)


def _symbols(b, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return power_normalise(torch.complex(torch.randn(b, k, generator=g), torch.randn(b, k, generator=g)))


def test_frequency_correlation_is_the_closed_form_hermitian_and_psd():
    r = frequency_correlation(12, 300e-9, 30e3)
    assert r.dtype == torch.complex128 and r.shape == (12, 12)
    np.testing.assert_allclose(r.numpy(), _closed_form(12, 300e-9, 30e3), rtol=1e-12)
    np.testing.assert_allclose(r.numpy(), r.numpy().conj().T, atol=1e-15)
    np.testing.assert_allclose(np.diag(r.numpy()), 1.0)
    assert torch.linalg.eigvalsh(r).min().item() > -1e-12
    # the exponential profile: |R| falls with the sub-carrier distance
    mags = r[0].abs().numpy()
    assert np.all(np.diff(mags) < 0)
    np.testing.assert_allclose(mags, 1 / np.sqrt(1 + (2 * np.pi * 300e-9 * 30e3 * np.arange(12)) ** 2))


@pytest.mark.parametrize(("n", "tau", "df"), [(16, 300e-9, 30e3), (8, 1e-6, 60e3)])
def test_empirical_correlation_matches_eq_3(n, tau, df):
    h = correlated_rayleigh(n, tau, df, (N_DRAWS,), rng=1).to(torch.complex128)
    assert h.shape == (N_DRAWS, n)
    emp = (h[:, :, None] * h[:, None, :].conj()).mean(dim=0).numpy()
    # each entry's standard error is about 1 / sqrt(N_DRAWS) = 0.005; 5 of them over all entries
    tol = 5 / math.sqrt(N_DRAWS)
    assert np.abs(emp - _closed_form(n, tau, df)).max() < tol
    np.testing.assert_allclose(np.diag(emp).real, 1.0, atol=tol)  # E|h_k|^2 = 1
    assert h.mean(dim=0).abs().max().item() < tol  # zero mean
    pseudo = (h[:, :, None] * h[:, None, :]).mean(dim=0).abs().max().item()
    assert pseudo < tol  # circular: E[h_k h_l] = 0
    # complex Gaussian: |h_k|^2 ~ Exp(1), so P(|h|^2 < 0.1) = 1 - exp(-0.1)
    frac = (h.abs() ** 2 < 0.1).double().mean().item()
    assert frac == pytest.approx(1 - math.exp(-0.1), abs=0.005)


def test_gains_are_independent_across_slots():
    h = correlated_rayleigh(8, 300e-9, 30e3, (N_DRAWS // 4, 3), rng=2).to(torch.complex128)
    assert h.shape == (N_DRAWS // 4, 3, 8)
    tol = 5 / math.sqrt(N_DRAWS // 4)
    for s, t in [(0, 1), (1, 2), (0, 2)]:
        cross = (h[:, s, :, None] * h[:, t, None, :].conj()).mean(dim=0)
        assert cross.abs().max().item() < tol
    # within a slot the correlation is Eq. 3's
    within = (h[:, 1, :, None] * h[:, 1, None, :].conj()).mean(dim=0).numpy()
    assert np.abs(within - _closed_form(8, 300e-9, 30e3)).max() < tol


def test_zero_delay_spread_gives_one_gain_for_all_subcarriers():
    r = frequency_correlation(6, 0.0, 30e3)
    np.testing.assert_array_equal(r.numpy(), np.ones((6, 6)))
    h = correlated_rayleigh(6, 0.0, 30e3, (5000, 2), rng=3)
    assert torch.equal(h, h[..., :1].expand_as(h))
    assert not torch.equal(h[:, 0, 0], h[:, 1, 0])  # still independent across slots
    assert h[..., 0].abs().pow(2).mean().item() == pytest.approx(1.0, abs=0.05)


def test_near_singular_correlation_many_subcarriers():
    """Small tau df over many sub-carriers: R is numerically singular (Cholesky would fail)."""
    r = frequency_correlation(512, 30e-9, 15e3)
    with pytest.raises(RuntimeError):
        torch.linalg.cholesky(r)
    h = correlated_rayleigh(512, 30e-9, 15e3, (2000,), rng=4)
    assert torch.isfinite(torch.view_as_real(h)).all()
    assert h.abs().pow(2).mean().item() == pytest.approx(1.0, abs=0.08)
    # neighbours almost equal, as |R_01| = 0.99992
    assert (h[:, 1] - h[:, 0]).abs().pow(2).mean().item() < 1e-3


def test_shapes_seeds_and_generators():
    assert correlated_rayleigh(4, 1e-7, 30e3, rng=0).shape == (4,)
    assert correlated_rayleigh(4, 1e-7, 30e3, 3, rng=0).shape == (3, 4)
    assert correlated_rayleigh(4, 1e-7, 30e3, (2, 0), rng=0).shape == (2, 0, 4)
    a = correlated_rayleigh(4, 1e-7, 30e3, (3, 2), rng=7)
    assert a.dtype == torch.complex64
    assert torch.equal(a, correlated_rayleigh(4, 1e-7, 30e3, (3, 2), rng=7))
    assert torch.equal(a, correlated_rayleigh(4, 1e-7, 30e3, (3, 2), rng=torch.Generator().manual_seed(7)))
    assert not torch.equal(a, correlated_rayleigh(4, 1e-7, 30e3, (3, 2), rng=8))


@pytest.mark.parametrize(("args", "exc", "match"), [
    ((0, 1e-7, 30e3), ValueError, "n_subcarriers"),
    ((2.5, 1e-7, 30e3), ValueError, "n_subcarriers"),
    ((True, 1e-7, 30e3), ValueError, "n_subcarriers"),
    ((4, -1e-7, 30e3), ValueError, "delay_spread_s"),
    ((4, float("nan"), 30e3), ValueError, "delay_spread_s"),
    ((4, "1e-7", 30e3), TypeError, "delay_spread_s"),
    ((4, 1e-7, 0.0), ValueError, "subcarrier_spacing_hz"),
    ((4, 1e-7, -30e3), ValueError, "subcarrier_spacing_hz"),
    ((4, 1e-7, float("inf")), ValueError, "subcarrier_spacing_hz"),
    ((4, 1e-7, 30e3, -1), ValueError, "size"),
    ((4, 1e-7, 30e3, (2, -1)), ValueError, "size"),
    ((4, 1e-7, 30e3, 2.0), ValueError, "size"),
])
def test_correlated_rayleigh_rejects_bad_inputs(args, exc, match):
    with pytest.raises(exc, match=match):
        correlated_rayleigh(*args, rng=0)


def test_correlated_rayleigh_rejects_a_bad_rng():
    with pytest.raises(TypeError, match="rng"):
        correlated_rayleigh(4, 1e-7, 30e3, 2, rng=-1)


# -- the sequential mapping of Eq. 2 -------------------------------------------------------------------


def test_symbol_k_goes_on_subcarrier_k_mod_n_of_ofdm_symbol_k_div_n():
    b, n, k = 2, 4, 10  # three OFDM symbols, the last one half full
    x = _symbols(b, k)
    idx = torch.arange(b * 3 * n, dtype=torch.float32).reshape(b, 3, n)
    gains = torch.complex(idx, -idx)  # gain [b, s, c] encodes its position
    h = map_to_subcarriers(x, gains)
    assert h.shape == x.shape and h.dtype == x.dtype
    for row in range(b):
        for j in range(k):
            assert h[row, j] == gains[row, j // n, j % n]
    # one gain vector per image: the same sub-carrier gain in every OFDM symbol
    per_image = map_to_subcarriers(x, gains[:, 0])
    for row in range(b):
        for j in range(k):
            assert per_image[row, j] == gains[row, 0, j % n]
    # noise-free with unit gains the symbols come through unchanged
    assert torch.equal(map_to_subcarriers(x, torch.ones(b, n, dtype=torch.complex64)) * x, x)


def test_mapping_keeps_the_shape_of_a_latent():
    x = _symbols(3, 2 * 4 * 5).reshape(3, 2, 4, 5)
    gains = correlated_rayleigh(16, 1e-7, 30e3, (3,), rng=0)
    h = map_to_subcarriers(x, gains)
    assert h.shape == x.shape
    flat = h.reshape(3, -1)
    assert torch.equal(flat[:, 16:32], gains) and torch.equal(flat[:, 32:], gains[:, :8])


@pytest.mark.parametrize(("gains", "match"), [
    (torch.ones(3, 4, dtype=torch.complex64), "B = 2"),
    (torch.ones(2, 2, 4, dtype=torch.complex64), "S = ceil"),
    (torch.ones(2, 4), "complex"),
    (torch.ones(2, 1, 1, 4, dtype=torch.complex64), r"\(B, N\)"),
])
def test_mapping_rejects_bad_gains(gains, match):
    with pytest.raises((ValueError, TypeError), match=match):
        map_to_subcarriers(_symbols(2, 10), gains)


@pytest.mark.parametrize("coherence", ["image", "slot"])
def test_ofdm_fading_is_the_mapped_gains_times_x_plus_noise(coherence):
    b, n, k = 4, 8, 20
    x = _symbols(b, k)
    kw = {"n_subcarriers": n, "delay_spread_s": 300e-9, "subcarrier_spacing_hz": 30e3}
    y, h = ofdm_fading(x, 300.0, coherence=coherence, rng=5, **kw)  # noise-free
    size = (b,) if coherence == "image" else (b, 3)
    gains = correlated_rayleigh(n, 300e-9, 30e3, size, rng=5)  # the same seed draws the same gains
    assert torch.equal(h, map_to_subcarriers(x, gains))
    torch.testing.assert_close(y, h * x, atol=1e-12, rtol=0)
    torch.testing.assert_close(equalise(y, h, 300.0, method="zf"), x, atol=1e-5, rtol=0)
    if coherence == "image":
        assert torch.equal(h[:, :n], h[:, n:2 * n])  # constant over the image's OFDM symbols
    else:
        assert not torch.equal(h[:, :n], h[:, n:2 * n])


def test_ofdm_fading_average_snr_and_equalisation():
    x = _symbols(256, 512, seed=1)
    y, h = ofdm_fading(x, 10.0, n_subcarriers=64, delay_spread_s=300e-9, subcarrier_spacing_hz=30e3, rng=6)
    assert abs(measured_snr_db(x, x + (y - h * x)) - 10.0) < 0.1  # noise 1 / SNR per (unit-power) symbol
    assert h.abs().pow(2).mean().item() == pytest.approx(1.0, abs=0.1)
    # MMSE beats zero forcing in mean-squared error on deep fades (closed form per symbol)
    mse = {m: (equalise(y, h, 10.0, method=m) - x).abs().pow(2).mean().item() for m in ("zf", "mmse")}
    assert mse["mmse"] < mse["zf"]
    snr = 10.0
    expected_mmse = (1 / (h.abs().pow(2) * snr + 1)).mean().item()  # E|x_hat - x|^2 given h
    assert mse["mmse"] == pytest.approx(expected_mmse, rel=0.03)


def test_ofdm_fading_is_differentiable():
    x = _symbols(2, 30).requires_grad_(True)
    y, h = ofdm_fading(x, 5.0, n_subcarriers=8, delay_spread_s=1e-7, subcarrier_spacing_hz=30e3, rng=0)
    equalise(y, h, 5.0).abs().pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"coherence": "frame"}, ValueError, "coherence"),
    ({"n_subcarriers": 0}, ValueError, "n_subcarriers"),
    ({"delay_spread_s": -1.0}, ValueError, "delay_spread_s"),
    ({"subcarrier_spacing_hz": 0.0}, ValueError, "subcarrier_spacing_hz"),
    ({"snr_db": float("nan")}, ValueError, "snr_db"),
])
def test_ofdm_fading_rejects_bad_inputs(kwargs, exc, match):
    args = {"snr_db": 10.0, "n_subcarriers": 8, "delay_spread_s": 1e-7, "subcarrier_spacing_hz": 30e3} | kwargs
    with pytest.raises(exc, match=match):
        ofdm_fading(_symbols(2, 10), args.pop("snr_db"), rng=0, **args)
    with pytest.raises(TypeError, match="complex"):
        ofdm_fading(torch.ones(2, 10), 10.0, n_subcarriers=8, delay_spread_s=1e-7, subcarrier_spacing_hz=30e3)
