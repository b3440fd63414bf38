"""The torch channels (gsemlab.channel.fading) against closed forms: noise power, gains, equalisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gsemlab.channel.fading import awgn, equalise, measured_snr_db, power_normalise, rayleigh_block


def _symbols(b=4, k=50_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.complex(torch.randn(b, k, generator=g), torch.randn(b, k, generator=g)) * 3.0
    return power_normalise(x)


def test_power_normalise_gives_unit_power_per_row():
    x = _symbols()
    np.testing.assert_allclose(x.abs().pow(2).mean(dim=1).numpy(), 1.0, rtol=1e-5)


@pytest.mark.parametrize("snr_db", [0.0, 7.5, 20.0])
def test_awgn_snr_is_nominal_within_0_1_db(snr_db):
    x = _symbols()
    y = awgn(x, snr_db, rng=1)
    assert abs(measured_snr_db(x, y) - snr_db) < 0.1
    # the noise is circular: 1 / (2 SNR) in each real dimension (closed form)
    n = y - x
    per_dim = 1.0 / (2 * 10 ** (snr_db / 10))
    assert n.real.var().item() == pytest.approx(per_dim, rel=0.02)
    assert n.imag.var().item() == pytest.approx(per_dim, rel=0.02)
    assert abs(torch.mean(n.real * n.imag).item()) < 0.02 * per_dim


def test_awgn_one_snr_per_row():
    x = _symbols(b=3)
    snr = torch.tensor([0.0, 10.0, 20.0])
    y = awgn(x, snr, rng=2)
    for row, s in enumerate(snr.tolist()):
        assert abs(measured_snr_db(x[row], y[row]) - s) < 0.1


def test_awgn_is_seeded_and_differentiable():
    x = _symbols(b=2, k=100).requires_grad_(True)
    assert torch.equal(awgn(x, 5.0, rng=3), awgn(x, 5.0, rng=3))
    awgn(x, 5.0, rng=3).abs().pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_rayleigh_block_gains_are_unit_power_and_constant_in_blocks():
    x = _symbols(b=8, k=4000)
    y, h = rayleigh_block(x, 10.0, block=16, rng=4)
    assert h.shape == x.shape
    assert h.abs().pow(2).mean().item() == pytest.approx(1.0, rel=0.05)
    blocks = h.reshape(8, -1, 16)
    assert torch.all(blocks == blocks[:, :, :1])
    assert blocks[:, 1:, 0].ne(blocks[:, :-1, 0]).all()
    # the noise after removing the gain is the AWGN of the nominal SNR
    assert abs(measured_snr_db(h * x, y) - 10.0) < 0.1
    # a last, shorter block keeps its own gain
    _, h2 = rayleigh_block(_symbols(b=1, k=20), 10.0, block=16, rng=5)
    assert torch.all(h2[0, 16:] == h2[0, 16]) and h2[0, 16] != h2[0, 15]


def test_equalisers_match_their_closed_forms():
    h = torch.tensor([[0.5 + 0.5j, -1.0 + 0.2j]], dtype=torch.complex64)
    y = torch.tensor([[1.0 + 0.0j, 0.3 - 0.7j]], dtype=torch.complex64)
    zf = equalise(y, h, 10.0, method="zf")
    mmse = equalise(y, h, 10.0, method="mmse")
    for k in range(2):
        hk, yk = complex(h[0, k]), complex(y[0, k])
        assert complex(zf[0, k]) == pytest.approx(yk / hk, rel=1e-6)
        assert complex(mmse[0, k]) == pytest.approx(hk.conjugate() * yk / (abs(hk) ** 2 + 0.1), rel=1e-6)
    # without noise, zero forcing recovers the symbols exactly
    x = _symbols(b=1, k=64)
    _, g = rayleigh_block(x, 10.0, block=8, rng=6)
    torch.testing.assert_close(equalise(g * x, g, 10.0, method="zf"), x, rtol=1e-4, atol=1e-5)


def test_mmse_beats_zero_forcing_in_mean_squared_error():
    x = _symbols(b=4, k=4096)
    y, h = rayleigh_block(x, 5.0, block=16, rng=7)
    err = {m: (equalise(y, h, 5.0, method=m) - x).abs().pow(2).mean().item() for m in ("zf", "mmse")}
    assert err["mmse"] < err["zf"]


@pytest.mark.parametrize("call, exc, match", [
    (lambda: awgn(torch.ones(3), 10.0), TypeError, "complex"),
    (lambda: awgn(np.ones(3, complex), 10.0), TypeError, "torch.Tensor"),
    (lambda: awgn(_symbols(1, 4), float("nan")), ValueError, "finite"),
    (lambda: awgn(_symbols(1, 4), float("inf")), ValueError, "finite"),
    (lambda: awgn(_symbols(2, 4), torch.zeros(3)), ValueError, "one per batch row"),
    (lambda: rayleigh_block(_symbols(1, 4), 10.0, block=0), ValueError, "block"),
    (lambda: equalise(_symbols(1, 4), _symbols(1, 4), 10.0, method="lmmse"), ValueError, "method"),
    (lambda: equalise(_symbols(1, 4), _symbols(1, 5), 10.0), ValueError, "same shape"),
    (lambda: awgn(_symbols(1, 4), 1.0, rng=-1), TypeError, "rng"),
])
def test_bad_inputs_raise_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_measured_snr_closed_form():
    x = torch.ones(10)
    y = x + 0.1
    assert measured_snr_db(x, y) == pytest.approx(20.0)
    assert math.isfinite(measured_snr_db(x, x))
