"""Torch channels for learned codecs: power normalisation, AWGN, fading, equalisation, 64-QAM.

Complex baseband symbols are ``torch.complex64`` tensors; a batch is ``(B, K)`` (or any shape whose
first axis is the batch). Every function is differentiable in its symbol input, so a codec can train
through it. The noise convention is the one of the course (and of DeKA-g and the channel-as-diffusion
chapter): symbols of unit average power, complex noise of variance ``1 / SNR`` per symbol, which is
``1 / (2 SNR)`` per real dimension.

The OFDM channel of the knowledge-alignment chapter (Eq. 2-3 in [DeKA-g]):

* :func:`frequency_correlation`, :func:`correlated_rayleigh`: sub-carrier gains whose correlation
  follows the exponential power delay profile;
* :func:`map_to_subcarriers`, :func:`ofdm_fading`: symbols placed on the sub-carriers in sequence,
  ``y = h x + n``, to be undone by :func:`equalise` with the known gains;
* :data:`QAM64_POINTS`, :func:`qam_constellation`, :func:`qam_quantise`, :func:`qam_modulate`,
  :func:`qam_demodulate_hard`: the Gray-mapped QAM of 3GPP TS 38.211 (Sec. 5.1), the codec's symbols
  quantised to it with a straight-through gradient.

This module imports torch (and nothing of sionna: the tests check the QAM and the BER against
sionna's mapper, demapper and 5G LDPC code); the numpy channels of Eq. 1 live in
:mod:`gsemlab.channel.ofdma`.
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = [
    "COHERENCE",
    "EQUALISERS",
    "QAM64_POINTS",
    "awgn",
    "correlated_rayleigh",
    "equalise",
    "frequency_correlation",
    "map_to_subcarriers",
    "measured_snr_db",
    "ofdm_fading",
    "power_normalise",
    "qam_constellation",
    "qam_demodulate_hard",
    "qam_modulate",
    "qam_quantise",
    "rayleigh_block",
]

#: the equalisers of :func:`equalise`
EQUALISERS = ("zf", "mmse")


def _check_symbols(x, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of complex symbols, got {type(x).__name__}")
    if not x.is_complex():
        raise TypeError(f"{name} must be complex (torch.complex64), got dtype {x.dtype}")
    if x.ndim < 1 or x.numel() == 0:
        raise ValueError(f"{name} must be a non-empty tensor of symbols, got shape {tuple(x.shape)}")
    return x


def _snr_linear(snr_db, x: torch.Tensor, name: str = "snr_db") -> torch.Tensor:
    """SNR in dB (a number, or one per batch row) as a linear tensor broadcastable against ``x``."""
    if isinstance(snr_db, bool):
        raise TypeError(f"{name} must be a number of dB or a tensor of them, got {snr_db!r}")
    try:
        s = torch.as_tensor(snr_db, dtype=torch.float32, device=x.device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be a number of dB or a tensor of them, got {snr_db!r}") from exc
    if not torch.isfinite(s).all():
        raise ValueError(f"{name} must be finite (dB), got {snr_db!r}")
    if s.ndim > 1 or (s.ndim == 1 and s.numel() not in (1, x.shape[0])):
        raise ValueError(f"{name} must be one number or one per batch row ({x.shape[0]}), got shape {tuple(s.shape)}")
    s = s.reshape(-1, *([1] * (x.ndim - 1))) if s.ndim == 1 else s
    return torch.pow(10.0, s / 10.0)


def _generator(rng, device) -> torch.Generator | None:
    if rng is None or isinstance(rng, torch.Generator):
        return rng
    if isinstance(rng, bool) or not isinstance(rng, int) or rng < 0:
        raise TypeError(f"rng must be a torch.Generator, a seed >= 0 or None, got {rng!r}")
    return torch.Generator(device=device).manual_seed(rng)


def _complex_normal(shape, generator, device) -> torch.Tensor:
    """CN(0, 1): real and imaginary parts N(0, 1/2)."""
    re = torch.randn(shape, generator=generator, device=device)
    im = torch.randn(shape, generator=generator, device=device)
    return torch.complex(re, im) / math.sqrt(2.0)


def power_normalise(x: torch.Tensor) -> torch.Tensor:
    """Scale each batch row to unit average power per complex symbol, ``mean |x_k|^2 = 1``.

    Parameters
    ----------
    x : torch.Tensor
        Complex symbols, shape ``(B, ...)``.

    Returns
    -------
    torch.Tensor
        Same shape; each row ``x_b * sqrt(K / ||x_b||^2)`` with ``K`` symbols per row.
    """
    x = _check_symbols(x)
    flat = x.reshape(x.shape[0], -1)
    power = flat.abs().pow(2).mean(dim=1).clamp_min(1e-12)
    return (flat / power.sqrt()[:, None]).reshape(x.shape)


def awgn(x: torch.Tensor, snr_db, *, rng=None) -> torch.Tensor:
    """Additive white Gaussian noise: ``y = x + n``, ``n ~ CN(0, 1 / SNR)`` per complex symbol.

    The symbols are taken to have unit average power (:func:`power_normalise`), so ``snr_db`` is the
    ratio of signal to noise power per symbol (Eq. 2 in [DeKA-g] without fading; the variance is
    ``1 / (2 SNR)`` per real dimension).

    Parameters
    ----------
    x : torch.Tensor
        Complex symbols, shape ``(B, ...)``.
    snr_db : float or torch.Tensor
        SNR in dB: one number, or one per batch row (shape ``(B,)``).
    rng : torch.Generator or int, optional
        Noise draws (a seed gives a fresh generator).

    Returns
    -------
    torch.Tensor
        ``x`` plus noise, same shape and dtype.
    """
    x = _check_symbols(x)
    snr = _snr_linear(snr_db, x)
    n = _complex_normal(x.shape, _generator(rng, x.device), x.device)
    return x + n.to(x.dtype) / snr.sqrt()


def rayleigh_block(x: torch.Tensor, snr_db, *, block: int, rng=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rayleigh block fading: ``y_k = h_b x_k + n_k``, one gain ``h_b ~ CN(0, 1)`` per block of symbols.

    Each row's symbols (flattened in order) are cut into blocks of ``block`` consecutive symbols (the
    coherence time in symbols; a last, shorter block keeps its own gain); ``E|h|^2 = 1``, so the
    average SNR is ``snr_db``.

    Parameters
    ----------
    x : torch.Tensor
        Complex symbols of unit average power, shape ``(B, ...)``.
    snr_db : float or torch.Tensor
        Average SNR in dB: one number or one per batch row.
    block : int
        Symbols per fading block (>= 1).
    rng : torch.Generator or int, optional
        Draws of the gains and the noise.

    Returns
    -------
    y : torch.Tensor
        Received symbols, same shape as ``x``.
    h : torch.Tensor
        The gain of every symbol (constant within a block), same shape, for the equaliser.
    """
    x = _check_symbols(x)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block must be an int >= 1 (symbols per fading block), got {block!r}")
    g = _generator(rng, x.device)
    flat = x.reshape(x.shape[0], -1)
    n_blocks = -(-flat.shape[1] // block)
    h = _complex_normal((flat.shape[0], n_blocks), g, x.device).to(x.dtype)
    h = h.repeat_interleave(block, dim=1)[:, : flat.shape[1]].reshape(x.shape)
    return awgn(h * x, snr_db, rng=g), h


def equalise(y: torch.Tensor, h: torch.Tensor, snr_db, *, method: str = "mmse") -> torch.Tensor:
    """Undo known gains: zero forcing ``y / h`` or MMSE ``conj(h) y / (|h|^2 + 1 / SNR)``.

    Parameters
    ----------
    y, h : torch.Tensor
        Received symbols and their gains (:func:`rayleigh_block`), the same shape.
    snr_db : float or torch.Tensor
        The average SNR in dB the MMSE weights use (one number or one per batch row).
    method : {"zf", "mmse"}
        Zero forcing amplifies the noise of deep fades; MMSE shrinks them towards 0 instead.

    Returns
    -------
    torch.Tensor
        Estimates of the sent symbols, same shape.
    """
    y, h = _check_symbols(y, "y"), _check_symbols(h, "h")
    if y.shape != h.shape:
        raise ValueError(f"y and h must have the same shape, got {tuple(y.shape)} and {tuple(h.shape)}")
    if method not in EQUALISERS:
        raise ValueError(f"method must be one of {EQUALISERS}, got {method!r}")
    if method == "zf":
        return y / h
    snr = _snr_linear(snr_db, y)
    return h.conj() * y / (h.abs().pow(2) + 1.0 / snr)


def measured_snr_db(x: torch.Tensor, y: torch.Tensor) -> float:
    """Empirical SNR of ``y`` as a noisy copy of ``x``: ``10 log10(mean |x|^2 / mean |y - x|^2)`` in dB.

    Parameters
    ----------
    x, y : torch.Tensor
        Sent and received values (real or complex), the same shape.

    Returns
    -------
    float
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.shape != y.shape:
        raise ValueError("x and y must be tensors of the same shape")
    signal = x.abs().pow(2).mean().item()
    noise = (y - x).abs().pow(2).mean().item()
    return 10.0 * math.log10(signal / max(noise, 1e-30))


# -- correlated OFDM fading (DeKA-g) -------------------------------------------------------------------

#: how long a gain vector of :func:`ofdm_fading` holds: one image or one OFDM symbol
COHERENCE = ("image", "slot")


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _real(value, name: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value!r}")
    return value


def _size(size) -> tuple[int, ...]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size,)
    if not isinstance(size, (tuple, list, torch.Size)) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in size
    ):
        raise ValueError(f"size must be an int >= 0 or a tuple of them (e.g. (batch, n_slots)), got {size!r}")
    return tuple(size)


def frequency_correlation(n_subcarriers: int, delay_spread_s: float, subcarrier_spacing_hz: float) -> torch.Tensor:
    """Correlation of the sub-carrier gains, ``R_kl = E[h_k h_l*] = 1 / (1 + j 2 pi tau (k - l) df)``.

    Eq. 3 of [DeKA-g], read with average power ``Omega = 1`` and the frequency spacing of sub-carriers
    ``k`` and ``l`` taken as ``(k - l) df``, signed, so that ``R`` is Hermitian (``R_lk = conj(R_kl)``)
    with unit diagonal. It is the Fourier transform of the exponential power delay profile
    ``p(t) = exp(-t / tau) / tau`` (``t >= 0``), ``R_kl = int p(t) exp(-j 2 pi (k - l) df t) dt``, hence
    positive semi-definite; ``tau = 0`` (flat fading) gives the all-ones matrix, of rank 1. A larger
    delay spread decorrelates neighbouring sub-carriers: ``|R_kl| = 1 / sqrt(1 + (2 pi tau (k - l) df)^2)``.

    Parameters
    ----------
    n_subcarriers : int
        Number of sub-carriers ``N`` (>= 1).
    delay_spread_s : float
        RMS delay spread ``tau`` of the exponential profile, in seconds (>= 0; e.g. 100e-9).
    subcarrier_spacing_hz : float
        Spacing ``df`` of neighbouring sub-carriers, in Hz (> 0; e.g. 30e3).

    Returns
    -------
    torch.Tensor
        ``R``, ``torch.complex128`` of shape ``(N, N)``.
    """
    n = _positive_int(n_subcarriers, "n_subcarriers")
    tau = _real(delay_spread_s, "delay_spread_s", positive=False)
    df = _real(subcarrier_spacing_hz, "subcarrier_spacing_hz", positive=True)
    k = torch.arange(n, dtype=torch.float64)
    lag = k[:, None] - k[None, :]
    return 1.0 / torch.complex(torch.ones_like(lag), 2.0 * math.pi * tau * df * lag)


def _colouring(r: torch.Tensor) -> torch.Tensor:
    """``A`` with ``A A^H = R`` for a PSD ``R`` (eigen-decomposition: ``R`` may be near-singular), rows
    scaled to unit norm so that ``E|h_k|^2 = 1`` exactly after clipping round-off negative eigenvalues."""
    lam, v = torch.linalg.eigh(r)
    a = v * lam.clamp_min(0.0).sqrt().to(v.dtype)[None, :]
    return a / torch.linalg.vector_norm(a, dim=1, keepdim=True)


def correlated_rayleigh(n_subcarriers: int, delay_spread_s: float, subcarrier_spacing_hz: float, size=(), *,
                        rng=None, device=None) -> torch.Tensor:
    """Rayleigh gains of ``N`` sub-carriers correlated in frequency: ``h ~ CN(0, R)``, ``R`` of Eq. 3 of [DeKA-g].

    Each draw is a vector ``h = A z`` with ``z ~ CN(0, I_N)`` white and ``A A^H = R`` from the
    eigen-decomposition of :func:`frequency_correlation` (Cholesky fails once ``R`` is near-singular,
    at small ``tau df`` or many sub-carriers), so ``E|h_k|^2 = 1`` and
    ``E[h_k h_l*] = 1 / (1 + j 2 pi tau (k - l) df)``. With ``tau = 0`` all sub-carriers share one gain.
    Draws are independent of each other: ``size = (batch, n_slots)`` gives one gain vector per time slot
    (block fading, constant within a slot and independent across slots).

    Parameters
    ----------
    n_subcarriers : int
        Number of sub-carriers ``N`` (>= 1).
    delay_spread_s : float
        RMS delay spread ``tau`` in seconds (>= 0).
    subcarrier_spacing_hz : float
        Sub-carrier spacing ``df`` in Hz (> 0).
    size : int or tuple of int
        Shape of the independent draws, e.g. ``(batch,)`` or ``(batch, n_slots)``; ``()`` for one.
    rng : torch.Generator or int, optional
        The draws (a seed gives a fresh generator).
    device : torch.device or str, optional
        Where the gains are made (the generator's device when one is given, else CPU).

    Returns
    -------
    torch.Tensor
        ``torch.complex64`` of shape ``(*size, N)``: the last axis is the sub-carrier.
    """
    r = frequency_correlation(n_subcarriers, delay_spread_s, subcarrier_spacing_hz)
    shape = _size(size)
    if device is None:
        device = rng.device if isinstance(rng, torch.Generator) else torch.device("cpu")
    z = _complex_normal((*shape, n_subcarriers), _generator(rng, device), device)
    if float(delay_spread_s) == 0.0:  # flat fading: R is all ones, one gain for every sub-carrier
        return z[..., :1].expand(z.shape).contiguous()
    a = _colouring(r).to(device=device, dtype=torch.complex64)
    return z @ a.transpose(0, 1)


def map_to_subcarriers(x: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """The gain of every symbol when the symbols go onto the sub-carriers in sequence (Eq. 2 of [DeKA-g]).

    Symbol ``k`` of a row (its symbols flattened in order) goes on sub-carrier ``k mod N`` of OFDM
    symbol (time slot) ``k // N``; a row of ``K`` symbols fills ``ceil(K / N)`` OFDM symbols, the last one
    partly. Its gain is ``gains[b, k mod N]`` when each image has one gain vector (the sub-carrier gains
    constant over the image's slots, the paper's block fading), or ``gains[b, k // N, k mod N]`` with one
    vector per OFDM symbol.

    Parameters
    ----------
    x : torch.Tensor
        Complex symbols, shape ``(B, ...)`` (``K`` symbols per row).
    gains : torch.Tensor
        Complex sub-carrier gains, ``(B, N)`` (one vector per image) or ``(B, S, N)`` with
        ``S = ceil(K / N)`` (one per OFDM symbol), e.g. from :func:`correlated_rayleigh`.

    Returns
    -------
    torch.Tensor
        The gain ``h`` of each symbol, the shape of ``x``, so that ``y = h * x + n``.
    """
    x = _check_symbols(x)
    gains = _check_symbols(gains, "gains")
    b, k = x.shape[0], x[0].numel()
    if gains.ndim not in (2, 3) or gains.shape[0] != b:
        raise ValueError(f"gains must be (B, N) or (B, S, N) with B = {b} rows, got shape {tuple(gains.shape)}")
    n = gains.shape[-1]
    slots = -(-k // n)
    if gains.ndim == 3 and gains.shape[1] != slots:
        raise ValueError(f"gains of shape (B, S, N) need S = ceil(K / N) = {slots} OFDM symbols for K = {k} "
                         f"symbols on N = {n} sub-carriers, got S = {gains.shape[1]}")
    h = gains[:, None, :].expand(b, slots, n) if gains.ndim == 2 else gains
    return h.reshape(b, slots * n)[:, :k].reshape(x.shape).to(x.dtype)


def ofdm_fading(x: torch.Tensor, snr_db, *, n_subcarriers: int, delay_spread_s: float,
                subcarrier_spacing_hz: float, coherence: str = "image", rng=None) -> tuple[torch.Tensor, torch.Tensor]:
    """OFDM over correlated Rayleigh sub-carriers: ``y_k = h_(k mod N) x_k + n_k`` (Eq. 2 of [DeKA-g]).

    The symbols of each row go onto the ``N`` sub-carriers in sequence (:func:`map_to_subcarriers`),
    the gains are drawn by :func:`correlated_rayleigh` (Eq. 3 in [DeKA-g]) and the noise by :func:`awgn`
    at ``snr_db`` (``E|h|^2 = 1``, so this is the average SNR). With ``coherence="image"`` (the paper's
    block fading: symbols sharing a sub-carrier go in sequential slots with a constant gain) each image
    has one gain vector; with ``"slot"`` every OFDM symbol draws its own, independent one. Undo with
    :func:`equalise` and the returned gains (perfect channel knowledge, as in the paper).

    Parameters
    ----------
    x : torch.Tensor
        Complex symbols of unit average power, shape ``(B, ...)``.
    snr_db : float or torch.Tensor
        Average SNR in dB: one number or one per batch row.
    n_subcarriers : int
        Number of sub-carriers ``N``.
    delay_spread_s : float
        Delay spread ``tau`` in seconds (>= 0).
    subcarrier_spacing_hz : float
        Sub-carrier spacing ``df`` in Hz (> 0).
    coherence : {"image", "slot"}
        One gain vector per image (row) or per OFDM symbol.
    rng : torch.Generator or int, optional
        Gains are drawn first, then the noise, from the same generator.

    Returns
    -------
    y : torch.Tensor
        Received symbols, the shape of ``x``.
    h : torch.Tensor
        The gain of every symbol, the shape of ``x``.
    """
    x = _check_symbols(x)
    if coherence not in COHERENCE:
        raise ValueError(f"coherence must be one of {COHERENCE}, got {coherence!r}")
    _snr_linear(snr_db, x)  # checked before any draw
    n = _positive_int(n_subcarriers, "n_subcarriers")
    g = _generator(rng, x.device)
    size = (x.shape[0],) if coherence == "image" else (x.shape[0], -(-x[0].numel() // n))
    gains = correlated_rayleigh(n, delay_spread_s, subcarrier_spacing_hz, size, rng=g, device=x.device)
    h = map_to_subcarriers(x, gains)
    return awgn(h * x, snr_db, rng=g), h


# -- QAM (3GPP TS 38.211, Sec. 5.1) ---------------------------------------------------------------------


def _bits_per_symbol(m) -> int:
    if isinstance(m, bool) or not isinstance(m, int) or m < 2 or m > 12 or m % 2:
        raise ValueError(f"bits_per_symbol must be an even int in 2..12 (square QAM), got {m!r}")
    return m


@functools.cache
def _qam_tables(m: int):
    """Points (complex128, index ``i`` labelled by its bits MSB first), the scale ``sqrt(2 (M - 1) / 3)``
    and the index of the point on PAM levels ``(il, ql)``, ``level = 2 il - (L - 1)``."""
    half, n_levels = m // 2, 2 ** (m // 2)

    def amplitude(c):  # 38.211: (1-2c0)(2^(h-1) - (1-2c1)(2^(h-2) - ... (1-2c_(h-1))))
        t = 1 - 2 * c[half - 1]
        for j in range(half - 2, -1, -1):
            t = (1 - 2 * c[j]) * (2 ** (half - 1 - j) - t)
        return t

    scale = math.sqrt(2 * (2**m - 1) / 3)
    points, index_of = [], [[0] * n_levels for _ in range(n_levels)]
    for i in range(2**m):
        b = [(i >> (m - 1 - j)) & 1 for j in range(m)]
        re, im = amplitude(b[0::2]), amplitude(b[1::2])
        points.append(complex(re, im) / scale)
        index_of[(re + n_levels - 1) // 2][(im + n_levels - 1) // 2] = i
    return tuple(points), scale, tuple(map(tuple, index_of))


def qam_constellation(bits_per_symbol: int = 6, *, device=None) -> torch.Tensor:
    """The Gray-mapped square QAM of 3GPP TS 38.211 (Sec. 5.1.3-5.1.7), unit average power.

    Point ``i`` carries the bits ``b_0 ... b_(m-1)`` of ``i``, most significant first; the in-phase
    level comes from ``b_0, b_2, ...`` and the quadrature level from ``b_1, b_3, ...``. For 64-QAM
    (``m = 6``, Sec. 5.1.5): ``((1-2b0)(4-(1-2b2)(2-(1-2b4))) + j (1-2b1)(4-(1-2b3)(2-(1-2b5)))) / sqrt(42)``.
    Neighbouring points differ in one bit (Gray); the order is sionna's ``Constellation("qam", m)``.

    Parameters
    ----------
    bits_per_symbol : int
        ``m`` = log2 of the order: 2 (QPSK), 4 (16-QAM), 6 (64-QAM), ... up to 12.
    device : torch.device or str, optional

    Returns
    -------
    torch.Tensor
        ``torch.complex64`` of shape ``(2**m,)``.
    """
    points, _, _ = _qam_tables(_bits_per_symbol(bits_per_symbol))
    return torch.tensor(points, dtype=torch.complex64, device=device)


#: The 64-QAM points of 3GPP TS 38.211 (Gray-mapped, unit average power), ``(64,)`` complex64.
QAM64_POINTS = qam_constellation(6)


def _pam_indices(x: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest PAM level index of the real and imaginary parts (nearest square-QAM point, per axis)."""
    _, scale, _ = _qam_tables(m)
    n_levels = 2 ** (m // 2)
    u = x.detach() * scale

    def idx(v):
        return torch.round((v + (n_levels - 1)) / 2).clamp(0, n_levels - 1).to(torch.long)

    return idx(u.real), idx(u.imag)


def qam_quantise(x: torch.Tensor, bits_per_symbol: int = 6) -> torch.Tensor:
    """The nearest QAM point of each symbol, with a straight-through gradient.

    The codec's symbols (unit average power, :func:`power_normalise`) are quantised to the
    constellation before transmission, as in DeKA-g's system model (Sec. III). Forward: the nearest
    point of :func:`qam_constellation` (per axis, as the grid is square; symbols outside the grid go to
    its edge). Backward: the identity, ``x + (q - x).detach()``, so the codec trains through it.

    Parameters
    ----------
    x : torch.Tensor
        Complex symbols, any non-empty shape.
    bits_per_symbol : int
        6 for 64-QAM.

    Returns
    -------
    torch.Tensor
        Constellation points, the shape and dtype of ``x``.
    """
    x = _check_symbols(x)
    m = _bits_per_symbol(bits_per_symbol)
    il, ql = _pam_indices(x, m)
    _, scale, _ = _qam_tables(m)
    offset = 2 ** (m // 2) - 1
    q = torch.complex((2 * il - offset).to(x.real.dtype), (2 * ql - offset).to(x.real.dtype)) / scale
    return x + (q.to(x.dtype) - x).detach()


def qam_modulate(bits: torch.Tensor, bits_per_symbol: int = 6) -> torch.Tensor:
    """Bits to QAM points: each group of ``m`` bits (first bit most significant) selects a point.

    Parameters
    ----------
    bits : torch.Tensor
        Bool, integer or float tensor of 0s and 1s, shape ``(..., m k)``.
    bits_per_symbol : int
        ``m``; 6 for 64-QAM.

    Returns
    -------
    torch.Tensor
        ``torch.complex64`` points of :func:`qam_constellation`, shape ``(..., k)``.
    """
    m = _bits_per_symbol(bits_per_symbol)
    if not isinstance(bits, torch.Tensor):
        raise TypeError(f"bits must be a torch.Tensor of 0s and 1s, got {type(bits).__name__}")
    if bits.is_complex():
        raise TypeError(f"bits must be bool, integer or float 0s and 1s, got dtype {bits.dtype}")
    if bits.ndim < 1 or bits.numel() == 0 or bits.shape[-1] % m:
        raise ValueError(f"bits must be non-empty with a last axis a multiple of bits_per_symbol = {m}, "
                         f"got shape {tuple(bits.shape)}")
    if not ((bits == 0) | (bits == 1)).all():
        raise ValueError("bits must hold only 0s and 1s")
    groups = bits.reshape(*bits.shape[:-1], -1, m).to(torch.long)
    weights = 2 ** torch.arange(m - 1, -1, -1, device=bits.device)
    return qam_constellation(m, device=bits.device)[(groups * weights).sum(dim=-1)]


def qam_demodulate_hard(y: torch.Tensor, bits_per_symbol: int = 6) -> torch.Tensor:
    """Hard decisions: the bits of the nearest QAM point of each received (equalised) symbol.

    Parameters
    ----------
    y : torch.Tensor
        Complex symbols, shape ``(..., k)``.
    bits_per_symbol : int
        ``m``; 6 for 64-QAM.

    Returns
    -------
    torch.Tensor
        ``torch.uint8`` bits, shape ``(..., m k)``, the inverse of :func:`qam_modulate` on the points.
    """
    y = _check_symbols(y, "y")
    m = _bits_per_symbol(bits_per_symbol)
    il, ql = _pam_indices(y, m)
    _, _, index_of = _qam_tables(m)
    index = torch.tensor(index_of, dtype=torch.long, device=y.device)[il, ql]
    shifts = torch.arange(m - 1, -1, -1, device=y.device)
    bits = (index[..., None] >> shifts) & 1
    return bits.reshape(*y.shape[:-1], -1).to(torch.uint8)
