"""Torch channels for learned codecs: power normalisation, AWGN, Rayleigh block fading, equalisation.

Complex baseband symbols are ``torch.complex64`` tensors; a batch is ``(B, K)`` (or any shape whose
first axis is the batch). Every function is differentiable in its symbol input, so a codec can train
through it. The noise convention is the one of the course (and of DeKA-g and the channel-as-diffusion
chapter): symbols of unit average power, complex noise of variance ``1 / SNR`` per symbol, which is
``1 / (2 SNR)`` per real dimension.

This module imports torch; the numpy channels of Eq. 1 live in :mod:`gsemlab.channel.ofdma`.
"""

from __future__ import annotations

import math

import torch

__all__ = ["EQUALISERS", "awgn", "equalise", "measured_snr_db", "power_normalise", "rayleigh_block"]

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
    ratio of signal to noise power per symbol (DeKA-g Eq. 2 without fading; the variance is
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
