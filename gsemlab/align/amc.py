"""Adaptive modulation and coding over the OFDM channel: QAM, 5G LDPC and a BLER constraint (DeKA-g Sec. VI-B1).

The link of the classical references of :mod:`gsemlab.align.classical`: a *bit* payload sent at a
given number of complex channel uses over the same OFDM channel as the learned codec
(:func:`gsemlab.channel.fading.ofdm_fading`, one gain vector per block, known at the receiver):

* **adaptive modulation and coding** (:func:`amc_table`, :func:`choose_mcs`): for QPSK, 16-QAM and
  64-QAM (:data:`MODULATIONS`) and the 5G LDPC code rates of :data:`CODE_RATES`, the block error rate
  (BLER) is estimated by Monte Carlo over the channel of the condition, and the pair with the largest
  payload ``floor(n_symbols m R)`` bits whose BLER is at most ``bler_max`` is chosen ("the maximum
  achievable bit budget under a block error rate constraint" of the paper). A *block* is one image's
  payload: the LDPC codeword(s) filling its ``n_symbols m`` coded bits; it fails if any bit of the
  payload is wrong after decoding.
* :func:`send_bits` sends payloads with the chosen :class:`MCS`.

Choices (the paper leaves them open or its text lost them):

* **BLER threshold** :data:`BLER_MAX` = 0.1. The value in the paper's text is garbled; 0.1 is the
  target of 5G link adaptation (the CQI of TS 38.214 Sec. 5.2.2.1 is the highest one whose transport
  block error probability does not exceed 0.1, for the 64-QAM and 256-QAM CQI tables), which is the
  "adaptive modulation and coding scheme used in practical systems" the paper emulates.
* **Monte Carlo**: blocks are drawn in batches of 20 up to ``max_blocks`` (100) per candidate; a
  candidate stops early once the 95 % Clopper-Pearson interval of its BLER lies entirely above or below
  the threshold (a clearly failing candidate costs 20 blocks, a clearly passing one 40-60). The
  estimate is ``errors / blocks``; the decision is ``estimate <= bler_max``. The draws are seeded by
  the condition and the candidate (independent of the transmissions that are later evaluated).
* **Search**: :func:`choose_mcs` evaluates the candidates in decreasing payload, down to the first
  payload with a passing candidate (ties: the lower BLER); the rest are not needed for the choice
  (``amc_table(..., complete=True)`` evaluates them all).
* **Soft demapping**: after equalisation (MMSE by default, as the codec) the estimate is made unbiased,
  ``x~ = x^ (|h|^2 + N0) / |h|^2`` (MMSE) or ``y / h`` (ZF), with the post-equalisation noise variance
  ``N0 / |h_k|^2`` of each symbol; for a per-symbol scalar channel with known gain both give the same
  exact (``"app"``) LLRs of sionna's demapper. The LDPC decoder is sionna's 5G belief propagation
  (20 iterations) with the 38.212 rate matching and bit interleaver for the modulation.
* **Error detection**: a block "fails" when its decoded payload differs from the sent one (a genie
  standing for the transport block CRC of 5G, whose 24 bits are not charged to the payload).

Imports sionna (``sionna-no-rt``, on torch) lazily, restoring torch's global random state after the
import (sionna's configuration reseeds it).
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..channel.fading import equalise, ofdm_fading
from .codec import N_SUBCARRIERS, SUBCARRIER_SPACING_HZ

__all__ = ["BLER_MAX", "CODE_RATES", "MAX_BLOCKS", "MCS", "MODULATIONS", "amc_table", "choose_mcs", "send_bits",
           "stream_seed"]

#: bits per QAM symbol of the candidates: QPSK, 16-QAM, 64-QAM (TS 38.211 Gray mapping)
MODULATIONS = (2, 4, 6)
#: 5G LDPC code rates of the candidates (after rate matching)
CODE_RATES = (1 / 3, 1 / 2, 2 / 3, 3 / 4, 5 / 6)
#: block error rate constraint of the AMC (module docstring)
BLER_MAX = 0.1
#: most Monte Carlo blocks per candidate
MAX_BLOCKS = 100

_BATCH = 20  # Monte Carlo blocks per step
_LDPC_ITER = 20
_K_MAX = 8448  # largest 5G LDPC information block (base graph 1)


# -- helpers -------------------------------------------------------------------------------------------


@functools.cache
def _sionna():
    """sionna's mapping and 5G LDPC modules, torch's global random state untouched."""
    state = torch.random.get_rng_state()
    try:
        from sionna.phy import mapping
        from sionna.phy.fec import ldpc
    finally:
        torch.random.set_rng_state(state)
    return mapping, ldpc


@functools.lru_cache(maxsize=64)
def _codec(k: int, n: int, m: int):
    _, ldpc = _sionna()
    enc = ldpc.LDPC5GEncoder(k, n, num_bits_per_symbol=m, device="cpu")
    dec = ldpc.LDPC5GDecoder(enc, hard_out=True, num_iter=_LDPC_ITER, device="cpu")
    return enc, dec


@functools.lru_cache(maxsize=8)
def _demapper(m: int):
    mapping, _ = _sionna()
    return mapping.Mapper("qam", m, device="cpu"), mapping.Demapper("app", "qam", m, device="cpu")


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_link(snr_db, delay_spread_s, n_symbols, bler_max, max_blocks, equaliser):
    snr = _number(snr_db, "snr_db")
    tau = _number(delay_spread_s, "delay_spread_s")
    if tau < 0:
        raise ValueError(f"delay_spread_s must be >= 0 seconds, got {delay_spread_s!r}")
    n = _int(n_symbols, "n_symbols", 1)
    b = _number(bler_max, "bler_max")
    if not 0 < b < 1:
        raise ValueError(f"bler_max must lie in (0, 1), got {bler_max!r}")
    blocks = _int(max_blocks, "max_blocks", 1)
    if equaliser not in ("zf", "mmse"):
        raise ValueError(f"equaliser must be 'zf' or 'mmse', got {equaliser!r}")
    return snr, tau, n, b, blocks


def _layout(n_symbols: int, m: int, rate: float) -> tuple[tuple[int, int], ...]:
    """Codewords of one block: ``(symbols, information bits)`` each, the symbols of ``n_symbols`` split
    into as few near-equal codewords as keep ``k <= 8448``; ``()`` when a codeword would carry < 12 bits."""
    total_k = math.floor(n_symbols * m * rate + 1e-9)
    n_cw = max(1, math.ceil(total_k / _K_MAX))
    sizes = [n_symbols // n_cw + (i < n_symbols % n_cw) for i in range(n_cw)]
    words = tuple((s, math.floor(s * m * rate + 1e-9)) for s in sizes)
    return words if all(k >= 12 for _, k in words) else ()


@dataclass(frozen=True)
class MCS:
    """A modulation and coding scheme chosen by :func:`choose_mcs`.

    Attributes
    ----------
    bits_per_symbol : int or None
        2, 4 or 6 (QPSK, 16-QAM, 64-QAM); ``None`` when no candidate meets the constraint.
    code_rate : float or None
        LDPC code rate ``R``.
    payload_bits : int
        Information bits per image, ``floor(n_symbols m R)`` (0: nothing is sent).
    bler : float or None
        Monte Carlo block error rate of the scheme.
    blocks : int
        Monte Carlo blocks behind ``bler``.
    n_symbols : int
        Complex channel uses per image.
    """

    bits_per_symbol: int | None
    code_rate: float | None
    payload_bits: int
    bler: float | None
    blocks: int
    n_symbols: int

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


# -- the link ------------------------------------------------------------------------------------------


def _send(info: torch.Tensor, n_symbols: int, m: int, rate: float, snr_db: float, tau: float,
          g: torch.Generator, equaliser: str) -> torch.Tensor:
    """Payload bits ``(B, payload)`` (float 0/1) through LDPC, QAM, the channel and back: ``(B, payload)``."""
    words = _layout(n_symbols, m, rate)
    mapper, demapper = _demapper(m)
    codes, start = [], 0
    for s, k in words:
        enc, _ = _codec(k, s * m, m)
        codes.append(enc(info[:, start:start + k]))
        start += k
    x = mapper(torch.cat(codes, dim=1))  # (B, n_symbols), unit average power
    y, h = ofdm_fading(x, snr_db, n_subcarriers=N_SUBCARRIERS, delay_spread_s=tau,
                       subcarrier_spacing_hz=SUBCARRIER_SPACING_HZ, coherence="image", rng=g)
    n0 = 10.0 ** (-snr_db / 10.0)
    gain = h.abs().pow(2).clamp_min(1e-12)
    x_eq = equalise(y, h, snr_db, method=equaliser)
    if equaliser == "mmse":
        x_eq = x_eq * (gain + n0) / gain  # unbiased: the same estimate as zero forcing
    llr = demapper(x_eq, n0 / gain)
    out, start = [], 0
    for s, k in words:
        _, dec = _codec(k, s * m, m)
        out.append(dec(llr[:, start * m:(start + s) * m]))
        start += s
    return torch.cat(out, dim=1)


def _clopper_pearson(errors: int, blocks: int, alpha: float = 0.05) -> tuple[float, float]:
    from scipy.stats import beta

    lo = 0.0 if errors == 0 else float(beta.ppf(alpha / 2, errors, blocks - errors + 1))
    hi = 1.0 if errors == blocks else float(beta.ppf(1 - alpha / 2, errors + 1, blocks - errors))
    return lo, hi


def stream_seed(*parts) -> int:
    """Seed of an independent random stream named by ``parts`` (the CRC-32 of their ``repr``, 31 bits).

    Parameters
    ----------
    *parts
        Anything with a stable ``repr``: the condition, the candidate, the purpose.

    Returns
    -------
    int
        In ``[0, 2**31)``.
    """
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def _bler(snr, tau, n_symbols, m, rate, bler_max, max_blocks, equaliser, seed) -> tuple[int, int]:
    """Sequential Monte Carlo of one candidate: ``(errors, blocks)``."""
    g = torch.Generator().manual_seed(stream_seed(seed, snr, tau, n_symbols, m, round(rate, 6)))
    payload = sum(k for _, k in _layout(n_symbols, m, rate))
    errors = blocks = 0
    while blocks < max_blocks:
        b = min(_BATCH, max_blocks - blocks)
        info = torch.randint(0, 2, (b, payload), generator=g).float()
        with torch.no_grad():
            got = _send(info, n_symbols, m, rate, snr, tau, g, equaliser)
        errors += int((got != info).any(dim=1).sum())
        blocks += b
        lo, hi = _clopper_pearson(errors, blocks)
        if lo > bler_max or hi < bler_max:
            break
    return errors, blocks


def _candidates(n_symbols: int):
    out = []
    for m in MODULATIONS:
        for r in CODE_RATES:
            words = _layout(n_symbols, m, r)
            if words:
                out.append((sum(k for _, k in words), m, r))
    return sorted(out, key=lambda c: (-c[0], c[1]))


@functools.lru_cache(maxsize=512)
def _amc(snr, tau, n_symbols, bler_max, max_blocks, equaliser, seed, complete) -> tuple:
    rows, found = [], None
    for payload, m, r in _candidates(n_symbols):
        if found is not None and payload < found and not complete:
            rows.append({"bits_per_symbol": m, "code_rate": r, "payload_bits": payload, "bler": None,
                         "errors": None, "blocks": 0, "meets": None})
            continue
        errors, blocks = _bler(snr, tau, n_symbols, m, r, bler_max, max_blocks, equaliser, seed)
        meets = errors / blocks <= bler_max
        rows.append({"bits_per_symbol": m, "code_rate": r, "payload_bits": payload, "bler": errors / blocks,
                     "errors": errors, "blocks": blocks, "meets": meets})
        if meets and found is None:
            found = payload
    return tuple(rows)


def amc_table(snr_db: float, delay_spread_s: float, n_symbols: int, *, bler_max: float = BLER_MAX,
              max_blocks: int = MAX_BLOCKS, equaliser: str = "mmse", seed: int = 0,
              complete: bool = False) -> list[dict]:
    """Monte Carlo BLER of every (modulation, LDPC code rate) candidate at one channel condition.

    Parameters
    ----------
    snr_db : float
        Average SNR (dB) of the OFDM channel (unit-power symbols, noise ``1 / SNR`` per symbol).
    delay_spread_s : float
        Delay spread ``tau`` of the exponential power delay profile (s, >= 0).
    n_symbols : int
        Complex channel uses per block (image), e.g. ``4096 r`` = 512, 256 or 128.
    bler_max : float
        The BLER constraint in (0, 1); it steers the early stop of the Monte Carlo.
    max_blocks : int
        Most Monte Carlo blocks per candidate (drawn 20 at a time, module docstring).
    equaliser : {"mmse", "zf"}
        Equaliser before soft demapping (the LLRs are the same for both, module docstring).
    seed : int
        Seed of the Monte Carlo (combined with the condition and the candidate).
    complete : bool
        Evaluate every candidate; otherwise those of a smaller payload than the first passing one are
        listed with ``bler = None`` and ``blocks = 0``.

    Returns
    -------
    list of dict
        One row per candidate in decreasing payload (ties: lower order first): ``bits_per_symbol``,
        ``code_rate``, ``payload_bits`` = ``floor(n_symbols m R)``, ``bler`` (errors / blocks),
        ``errors``, ``blocks``, ``meets`` (``bler <= bler_max``). Cached in-process per argument set.
    """
    snr, tau, n, b, blocks = _check_link(snr_db, delay_spread_s, n_symbols, bler_max, max_blocks, equaliser)
    seed = _int(seed, "seed", 0)
    return [dict(r) for r in _amc(snr, tau, n, b, blocks, equaliser, seed, bool(complete))]


def choose_mcs(snr_db: float, delay_spread_s: float, n_symbols: int, *, bler_max: float = BLER_MAX,
               max_blocks: int = MAX_BLOCKS, equaliser: str = "mmse", seed: int = 0) -> MCS:
    """Adaptive modulation and coding: the largest payload whose Monte Carlo BLER is at most ``bler_max``.

    Parameters
    ----------
    snr_db, delay_spread_s, n_symbols, bler_max, max_blocks, equaliser, seed
        As in :func:`amc_table`.

    Returns
    -------
    MCS
        The candidate of the largest ``payload_bits`` meeting the constraint (among equal payloads the
        lower BLER), or ``MCS(None, None, 0, None, 0, n_symbols)`` when none does.
    """
    rows = amc_table(snr_db, delay_spread_s, n_symbols, bler_max=bler_max, max_blocks=max_blocks,
                     equaliser=equaliser, seed=seed)
    ok = [r for r in rows if r["meets"]]
    if not ok:
        return MCS(None, None, 0, None, 0, int(n_symbols))
    best = max(r["payload_bits"] for r in ok)
    r = min((r for r in ok if r["payload_bits"] == best), key=lambda r: (r["bler"], r["bits_per_symbol"]))
    return MCS(r["bits_per_symbol"], r["code_rate"], r["payload_bits"], r["bler"], r["blocks"], int(n_symbols))


def send_bits(bits: np.ndarray, mcs: MCS, *, snr_db: float, delay_spread_s: float, rng=None,
              equaliser: str = "mmse") -> tuple[np.ndarray, np.ndarray]:
    """One block per row through 5G LDPC, QAM, the OFDM channel, equalisation, soft demapping and decoding.

    Parameters
    ----------
    bits : numpy.ndarray
        Payload bits, shape ``(B, mcs.payload_bits)``, 0s and 1s (any integer or bool dtype).
    mcs : MCS
        The scheme (:func:`choose_mcs`), ``payload_bits > 0``.
    snr_db : float
        Average SNR (dB).
    delay_spread_s : float
        Delay spread (s, >= 0).
    rng : torch.Generator or int, optional
        Channel draws (one gain vector per block, then the noise).
    equaliser : {"mmse", "zf"}

    Returns
    -------
    received : numpy.ndarray of uint8, shape ``(B, payload_bits)``
        The decoder's hard decisions (with its residual errors when a block fails).
    ok : numpy.ndarray of bool, shape ``(B,)``
        Whether each block came through without error (the CRC's verdict).
    """
    if not isinstance(mcs, MCS):
        raise TypeError(f"mcs must be an MCS (choose_mcs), got {type(mcs).__name__}")
    if mcs.payload_bits <= 0:
        raise ValueError("mcs carries no payload (payload_bits = 0): nothing can be sent")
    if mcs.bits_per_symbol not in (2, 4, 6, 8) or not isinstance(mcs.code_rate, float) \
            or not 0.2 <= mcs.code_rate <= 0.95:
        raise ValueError(f"mcs needs bits_per_symbol in (2, 4, 6, 8) and a code rate in [1/5, 0.95], got {mcs}")
    n_symbols = _int(mcs.n_symbols, "mcs.n_symbols", 1)
    if sum(k for _, k in _layout(n_symbols, mcs.bits_per_symbol, mcs.code_rate)) != mcs.payload_bits:
        raise ValueError(f"mcs.payload_bits must be floor(n_symbols m R) = "
                         f"{math.floor(n_symbols * mcs.bits_per_symbol * mcs.code_rate)}, got {mcs.payload_bits}")
    bits = np.asarray(bits)
    if bits.ndim != 2 or bits.shape[1] != mcs.payload_bits or bits.shape[0] < 1:
        raise ValueError(f"bits must have shape (B, {mcs.payload_bits}), got {bits.shape}")
    if not np.isin(bits, (0, 1)).all():
        raise ValueError("bits must hold only 0s and 1s")
    snr, tau, _, _, _ = _check_link(snr_db, delay_spread_s, mcs.n_symbols, BLER_MAX, 1, equaliser)
    g = rng if isinstance(rng, torch.Generator) else torch.Generator().manual_seed(0 if rng is None else int(rng))
    info = torch.from_numpy(bits.astype(np.float32))
    with torch.no_grad():
        got = _send(info, mcs.n_symbols, mcs.bits_per_symbol, mcs.code_rate, snr, tau, g, equaliser)
    got = got.numpy().round().astype(np.uint8)
    return got, (got == bits).all(axis=1)


# -- JPEG ----------------------------------------------------------------------------------------------
