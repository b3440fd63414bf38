"""64-QAM of gsemlab.channel.fading against 3GPP TS 38.211, the closed-form BER and sionna.

* the constellation: 64 distinct points on the odd-integer grid over sqrt(42), unit average power,
  Gray (nearest neighbours differ in one bit), the 64QAM formula of TS 38.211 Sec. 5.1.5 written out here,
  and sionna's ``Constellation("qam", 6)`` point for point (same bit order);
* the straight-through quantiser: forward the nearest point (brute force), backward the identity;
* uncoded BER over AWGN against the exact closed form for Gray square QAM (Cho and Yoon, IEEE Trans.
  Commun. 50(7), 2002), itself checked against a direct sum over the decision regions;
* the same link through sionna's Mapper and Demapper, and a 5G LDPC coded link (sionna's
  LDPC5GEncoder / LDPC5GDecoder) against the uncoded one.

sionna (sionna-no-rt 2.x, on torch) is only a test-side reference: ``gsemlab.channel`` does not import
it. Importing sionna reseeds torch's global generator, so the state is restored after the import.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import erfc
from scipy.stats import norm

from gsemlab.channel.fading import (
    QAM64_POINTS,
    awgn,
    qam_constellation,
    qam_demodulate_hard,
    qam_modulate,
    qam_quantise,
)

torch.set_num_threads(1)


def _import_sionna():
    state = torch.random.get_rng_state()
    try:
        from sionna.phy import mapping
        from sionna.phy.fec import ldpc
    except Exception as exc:  # noqa: BLE001 - any failure to load sionna beside this torch skips
        return None, None, f"sionna does not import beside torch {torch.__version__}: {exc!r}"
    finally:
        torch.random.set_rng_state(state)  # sionna's config reseeds torch.default_generator at import
    return mapping, ldpc, ""


SN_MAPPING, SN_LDPC, SN_REASON = _import_sionna()
needs_sionna = pytest.mark.skipif(SN_MAPPING is None, reason=SN_REASON)

BITS = [(i >> (5 - j)) & 1 for i in range(64) for j in range(6)]  # point i carries its bits, MSB first
LABELS = np.array(BITS, dtype=np.uint8).reshape(64, 6)


def _ts38211_64qam(b):
    """TS 38.211 Sec. 5.1.5 (64QAM): d(i) from b(6i) ... b(6i+5)."""
    re = (1 - 2 * b[0]) * (4 - (1 - 2 * b[2]) * (2 - (1 - 2 * b[4])))
    im = (1 - 2 * b[1]) * (4 - (1 - 2 * b[3]) * (2 - (1 - 2 * b[5])))
    return complex(re, im) / math.sqrt(42)


def ber_gray_qam(m_order, ebn0):
    """Exact BER of Gray square M-QAM over AWGN with nearest-point decisions (Cho and Yoon 2002)."""
    side = math.isqrt(m_order)
    total = 0.0
    for k in range(1, int(math.log2(side)) + 1):
        s = 0.0
        for i in range(int((1 - 2.0**-k) * side)):
            f = math.floor(i * 2 ** (k - 1) / side)
            s += (-1) ** f * (2 ** (k - 1) - math.floor(i * 2 ** (k - 1) / side + 0.5)) * erfc(
                (2 * i + 1) * math.sqrt(3 * math.log2(m_order) * ebn0 / (2 * (m_order - 1))))
        total += s / side
    return total / math.log2(side)


def ber_by_regions(ebn0):
    """The same BER summed over the decision regions of the 8-PAM of each axis, labels from TS 38.211."""
    es = 6 * ebn0
    sigma = math.sqrt(1 / (2 * es)) * math.sqrt(42)  # noise std per axis, in units of the odd-integer grid
    levels = {}
    for b in ((a, c, d) for a in (0, 1) for c in (0, 1) for d in (0, 1)):
        levels[round(_ts38211_64qam((b[0], 0, b[1], 0, b[2], 0)).real * math.sqrt(42))] = b
    grid = sorted(levels)
    edges = [-math.inf, *[v + 1 for v in grid[:-1]], math.inf]
    wrong = 0.0
    for a in grid:
        for lo, hi, v in zip(edges[:-1], edges[1:], grid, strict=True):
            p = norm.cdf((hi - a) / sigma) - norm.cdf((lo - a) / sigma)
            wrong += p * sum(x != y for x, y in zip(levels[a], levels[v], strict=True))
    return wrong / (8 * 3)


# -- the constellation ---------------------------------------------------------------------------------


def test_64qam_points_distinct_unit_power_on_the_grid():
    p = QAM64_POINTS
    assert p.shape == (64,) and p.dtype == torch.complex64
    assert torch.unique(torch.view_as_real(p), dim=0).shape[0] == 64
    assert p.abs().pow(2).mean().item() == pytest.approx(1.0, abs=1e-6)
    grid = torch.view_as_real(p).numpy() * math.sqrt(42)
    np.testing.assert_allclose(grid, np.round(grid), atol=1e-5)
    assert set(np.round(grid).astype(int).ravel()) == {-7, -5, -3, -1, 1, 3, 5, 7}


def test_64qam_is_ts_38_211_in_order():
    expected = np.array([_ts38211_64qam(LABELS[i].astype(int)) for i in range(64)])
    np.testing.assert_allclose(QAM64_POINTS.numpy(), expected, atol=1e-6)
    assert QAM64_POINTS[0].item() == pytest.approx((3 + 3j) / math.sqrt(42), abs=1e-6)


def test_64qam_is_gray():
    p = QAM64_POINTS.numpy().astype(np.complex128)
    d = np.abs(p[:, None] - p[None, :])
    step = 2 / math.sqrt(42)
    for i in range(64):
        neighbours = np.flatnonzero(np.isclose(d[i], step, atol=1e-6))
        assert 2 <= len(neighbours) <= 4
        for j in neighbours:
            assert int((LABELS[i] != LABELS[j]).sum()) == 1


@pytest.mark.parametrize("m", [2, 4, 6, 8])
def test_square_qam_unit_power_and_sizes(m):
    p = qam_constellation(m)
    assert p.shape == (2**m,)
    assert p.abs().pow(2).mean().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(qam_constellation(6), QAM64_POINTS)


@needs_sionna
@pytest.mark.parametrize("m", [2, 4, 6, 8])
def test_constellation_is_sionnas_point_for_point(m):
    theirs = SN_MAPPING.Constellation("qam", m, device="cpu").points
    torch.testing.assert_close(qam_constellation(m), theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("m", [0, 3, 5, 14, True, 6.0])
def test_bad_bits_per_symbol_raise(m):
    with pytest.raises(ValueError, match="bits_per_symbol"):
        qam_constellation(m)


# -- quantiser, modulator, demodulator -----------------------------------------------------------------


def _gaussian(shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g)) * scale


def test_quantise_is_the_nearest_point():
    x = _gaussian((4, 2000), 0, scale=0.8)  # includes symbols outside the grid
    q = qam_quantise(x)
    assert q.shape == x.shape and q.dtype == x.dtype
    nearest = QAM64_POINTS[(x[..., None] - QAM64_POINTS).abs().argmin(dim=-1)]
    torch.testing.assert_close(q, nearest, atol=1e-6, rtol=0)
    torch.testing.assert_close(qam_quantise(QAM64_POINTS), QAM64_POINTS, atol=1e-6, rtol=0)  # idempotent


def test_quantise_straight_through_gradient_is_identity():
    x = _gaussian((3, 50), 1).requires_grad_(True)
    upstream = _gaussian((3, 50), 2)
    (qam_quantise(x) * upstream.conj()).real.sum().backward()
    torch.testing.assert_close(x.grad, upstream, atol=1e-6, rtol=0)


def test_modulate_demodulate_round_trip_and_hard_decisions():
    g = torch.Generator().manual_seed(3)
    bits = torch.randint(0, 2, (5, 6 * 300), generator=g, dtype=torch.uint8)
    x = qam_modulate(bits)
    assert x.shape == (5, 300) and x.dtype == torch.complex64
    assert torch.equal(qam_demodulate_hard(x), bits)
    assert torch.equal(qam_modulate(bits.bool()), x) and torch.equal(qam_modulate(bits.float()), x)
    y = awgn(x, 15.0, rng=4)
    nearest = (y[..., None] - QAM64_POINTS).abs().argmin(dim=-1)
    assert torch.equal(qam_demodulate_hard(y), torch.from_numpy(LABELS)[nearest].reshape(5, -1))


@pytest.mark.parametrize(("bits", "exc", "match"), [
    ([0, 1, 0, 1, 0, 1], TypeError, "torch.Tensor"),
    (torch.zeros(7, dtype=torch.uint8), ValueError, "multiple"),
    (torch.zeros(0, dtype=torch.uint8), ValueError, "non-empty"),
    (torch.full((6,), 2), ValueError, "0s and 1s"),
    (torch.zeros(6, dtype=torch.complex64), TypeError, "dtype"),
])
def test_modulate_rejects_bad_bits(bits, exc, match):
    with pytest.raises(exc, match=match):
        qam_modulate(bits)


def test_demodulate_and_quantise_reject_real_input():
    with pytest.raises(TypeError, match="complex"):
        qam_demodulate_hard(torch.ones(6))
    with pytest.raises(TypeError, match="complex"):
        qam_quantise(torch.ones(6))


# -- BER over AWGN ---------------------------------------------------------------------------------------

EBN0_DB = [10.0, 12.0, 14.0]  # closed-form BER 2.7e-2, 9.7e-3, 2.2e-3


def _ber_tolerance(p, n_bits):
    """Five standard errors, the binomial variance doubled for the bits of one symbol erring together."""
    return 5 * math.sqrt(2 * p * (1 - p) / n_bits)


@pytest.mark.parametrize("ebn0_db", EBN0_DB)
def test_closed_forms_agree(ebn0_db):
    g = 10 ** (ebn0_db / 10)
    assert ber_gray_qam(64, g) == pytest.approx(ber_by_regions(g), rel=1e-9)


@pytest.mark.parametrize("ebn0_db", EBN0_DB)
def test_uncoded_64qam_ber_over_awgn_is_the_closed_form(ebn0_db):
    n_sym = 200_000
    g = torch.Generator().manual_seed(int(ebn0_db))
    bits = torch.randint(0, 2, (1, 6 * n_sym), generator=g, dtype=torch.uint8)
    es_n0_db = ebn0_db + 10 * math.log10(6)  # awgn's SNR is Es/N0 (unit-power symbols, noise 1 / SNR)
    y = awgn(qam_modulate(bits), es_n0_db, rng=int(ebn0_db) + 100)
    ber = (qam_demodulate_hard(y) != bits).double().mean().item()
    p = ber_gray_qam(64, 10 ** (ebn0_db / 10))
    assert abs(ber - p) < _ber_tolerance(p, bits.numel()), (ber, p)


@needs_sionna
def test_sionna_mapper_and_demapper_agree_and_give_the_closed_form_ber():
    ebn0_db, n_sym = 12.0, 60_000
    g = torch.Generator().manual_seed(5)
    bits = torch.randint(0, 2, (1, 6 * n_sym), generator=g, dtype=torch.uint8)
    x = SN_MAPPING.Mapper("qam", 6, device="cpu")(bits.float())
    torch.testing.assert_close(x, qam_modulate(bits), atol=1e-6, rtol=0)
    es_n0_db = ebn0_db + 10 * math.log10(6)
    y = awgn(x, es_n0_db, rng=6)
    no = torch.tensor(10 ** (-es_n0_db / 10))
    hard_maxlog = SN_MAPPING.Demapper("maxlog", "qam", 6, hard_out=True, device="cpu")(y, no).to(torch.uint8)
    assert torch.equal(hard_maxlog, qam_demodulate_hard(y))  # max-log hard bits = nearest point's bits
    hard_app = SN_MAPPING.Demapper("app", "qam", 6, hard_out=True, device="cpu")(y, no).to(torch.uint8)
    p = ber_gray_qam(64, 10 ** (ebn0_db / 10))
    for decided in (hard_maxlog, hard_app):
        ber = (decided != bits).double().mean().item()
        assert abs(ber - p) < _ber_tolerance(p, bits.numel()), (ber, p)


@needs_sionna
def test_5g_ldpc_coded_link_beats_uncoded():
    """Rate-1/2 5G LDPC (base graph 2 at k = 600) with 64-QAM at Es/N0 = 13 dB: uncoded BER ~ 0.1."""
    k, n, n_words, es_n0_db = 600, 1200, 10, 13.0
    enc = SN_LDPC.LDPC5GEncoder(k, n, num_bits_per_symbol=6, device="cpu")
    dec = SN_LDPC.LDPC5GDecoder(enc, hard_out=True, num_iter=20, device="cpu")
    demapper = SN_MAPPING.Demapper("app", "qam", 6, device="cpu")
    g = torch.Generator().manual_seed(7)
    info = torch.randint(0, 2, (n_words, k), generator=g).float()
    code = enc(info)
    assert code.shape == (n_words, n)
    y = awgn(qam_modulate(code), es_n0_db, rng=8)
    uncoded = (qam_demodulate_hard(y) != code).double().mean().item()
    decoded = dec(demapper(y, torch.tensor(10 ** (-es_n0_db / 10))))
    coded = (decoded != info).double().mean().item()
    p = ber_gray_qam(64, 10 ** ((es_n0_db - 10 * math.log10(6)) / 10))
    assert abs(uncoded - p) < _ber_tolerance(p, code.numel())
    assert coded < uncoded / 50, (coded, uncoded)
