"""The channel's SNR as a diffusion timestep: the exact (interpolated) match and the grid rule.

A variance-preserving diffusion (chapter 1, Eq. 3 in [G-SemCom]) noises a latent ``z`` of unit
variance to ``x_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps``: its signal-to-noise ratio is
``abar_t / (1 - abar_t)``. A receiver holding ``z_hat = z + n`` with noise of variance ``1 / SNR``
per element (the channel's, carried into the latent by the upsampler) scales it by ``sqrt(abar)``
with ``abar = SNR / (1 + SNR)``: then ``sqrt(abar) z_hat = sqrt(abar) z + sqrt(abar / SNR) eps`` and
``abar / SNR = 1 - abar``, exactly the forward marginal at the timestep whose ``abar`` that is.

The scheduler knows ``abar`` only on its grid of training steps ``t = 0 .. T-1``. The official code of
the channel-as-diffusion paper starts the denoiser from the nearest grid step below the target;
:func:`matched_timestep` instead interpolates the log-SNR ``log(abar_t / (1 - abar_t))`` linearly in
``t`` between grid steps and solves for a fractional ``t*`` (the UNet's sinusoidal timestep embedding
takes any real ``t``); :func:`alpha_bar_at` reads ``abar`` at such a ``t`` on the same interpolation,
so that ``abar(t*) / (1 - abar(t*))`` equals the SNR to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["alpha_bar_at", "alpha_bar_for_snr", "grid_timestep", "log_snr", "matched_timestep",
           "timestep_mismatch_db", "to_diffusion_input"]


def _check_snr_db(snr_db, name: str = "snr_db") -> np.ndarray:
    if isinstance(snr_db, bool):
        raise TypeError(f"{name} must be a number of dB, got {snr_db!r}")
    try:
        s = np.asarray(snr_db, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number of dB (or an array of them), got {snr_db!r}") from exc
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} must be finite dB, got {snr_db!r}")
    return s


def _check_alpha_bars(alphas_cumprod) -> np.ndarray:
    a = alphas_cumprod
    if hasattr(a, "alphas_cumprod"):  # a diffusers scheduler
        a = a.alphas_cumprod
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().double().numpy()
    a = np.asarray(a, dtype=float)
    if a.ndim != 1 or a.size < 2 or not np.all((a > 0) & (a < 1)) or not np.all(np.diff(a) < 0):
        raise ValueError("alphas_cumprod must be a scheduler or a 1-D decreasing array of values in (0, 1)")
    return a


def log_snr(alphas_cumprod) -> np.ndarray:
    """``log(abar_t / (1 - abar_t))`` at every grid step (natural log), shape (T,), decreasing.

    Parameters
    ----------
    alphas_cumprod : diffusers scheduler or array-like of float
        ``abar_t`` for ``t = 0 .. T-1`` (Eq. 3 in [G-SemCom]; a scheduler's ``alphas_cumprod``).
    """
    a = _check_alpha_bars(alphas_cumprod)
    return np.log(a) - np.log1p(-a)


def alpha_bar_for_snr(snr_db):
    """``abar = SNR / (1 + SNR)``: the ``abar`` whose forward marginal has the channel's SNR.

    Parameters
    ----------
    snr_db : float or array-like of float
        SNR in dB.

    Returns
    -------
    float or numpy.ndarray
        In (0, 1), the shape of ``snr_db``.
    """
    s = 10.0 ** (_check_snr_db(snr_db) / 10.0)
    out = s / (1.0 + s)
    return float(out) if out.ndim == 0 else out


def matched_timestep(snr_db, alphas_cumprod):
    """The fractional timestep ``t*`` whose interpolated ``abar`` has ``abar / (1 - abar) = SNR``.

    Parameters
    ----------
    snr_db : float or array-like of float
        The SNR in dB of the received latent (the channel's, after the variance-preserving scaling).
    alphas_cumprod : diffusers scheduler or array-like of float
        The diffusion's ``abar_t`` on its grid, shape (T,).

    Returns
    -------
    float or numpy.ndarray
        ``t*`` in ``[0, T - 1]``: clipped to 0 when the SNR exceeds that of step 0 (nothing to denoise)
        and to ``T - 1`` below that of the last step.
    """
    target = np.log(10.0) * _check_snr_db(snr_db) / 10.0
    g = log_snr(alphas_cumprod)
    t = np.interp(-target, -g, np.arange(g.size, dtype=float))  # np.interp needs increasing knots
    return float(t) if t.ndim == 0 else t


def alpha_bar_at(t, alphas_cumprod):
    """``abar`` at a fractional timestep, on the log-SNR interpolation of :func:`matched_timestep`.

    Parameters
    ----------
    t : float or array-like of float
        Timesteps in ``[0, T - 1]``.
    alphas_cumprod : diffusers scheduler or array-like of float
        The grid's ``abar_t``, shape (T,).

    Returns
    -------
    float or numpy.ndarray
    """
    g = log_snr(alphas_cumprod)
    t = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t > g.size - 1):
        raise ValueError(f"t must lie in [0, {g.size - 1}], got {t!r}")
    lam = np.interp(t, np.arange(g.size, dtype=float), g)
    out = 1.0 / (1.0 + np.exp(-lam))
    return float(out) if out.ndim == 0 else out


def _grid(grid, size: int) -> np.ndarray:
    if grid is None:
        return np.arange(size)
    g = np.unique(np.asarray(grid))
    if g.ndim != 1 or g.size == 0 or not np.issubdtype(g.dtype, np.integer) or g[0] < 0 or g[-1] > size - 1:
        raise ValueError(f"grid must be integer timesteps in [0, {size - 1}], got {grid!r}")
    return g


def grid_timestep(snr_db, alphas_cumprod, grid=None):
    """The official rule: the nearest grid step below the target, the largest grid ``t <= t*`` (int).

    Its ``abar`` is at least the target's, so the denoiser assumes less noise than the latent carries.

    Parameters
    ----------
    snr_db : float or array-like of float
        SNR in dB.
    alphas_cumprod : diffusers scheduler or array-like of float
        The grid's ``abar_t``, shape (T,).
    grid : array-like of int, optional
        The timesteps the rule may pick (e.g. a sampler's inference steps); default every step 0..T-1.

    Returns
    -------
    int or numpy.ndarray of int
    """
    t = np.asarray(matched_timestep(snr_db, alphas_cumprod))
    g = _grid(grid, log_snr(alphas_cumprod).size)
    idx = np.searchsorted(g, t + 1e-9, side="right") - 1
    out = g[np.maximum(idx, 0)]
    return int(out) if out.ndim == 0 else out


def timestep_mismatch_db(snr_db, alphas_cumprod, grid=None):
    """How far the grid rule's SNR ``abar / (1 - abar)`` lies from the target, in dB (>= 0).

    Parameters
    ----------
    snr_db : float or array-like of float
        The target SNR in dB.
    alphas_cumprod : diffusers scheduler or array-like of float
        The grid's ``abar_t``, shape (T,).
    grid : array-like of int, optional
        The timesteps the rule may pick (:func:`grid_timestep`).

    Returns
    -------
    float or numpy.ndarray
        ``10 log10(SNR_grid / SNR_target)``; 0 where the target falls on a grid step or beyond step 0.
    """
    s = _check_snr_db(snr_db)
    g = log_snr(alphas_cumprod)
    t = np.asarray(grid_timestep(s, alphas_cumprod, grid))
    out = 10.0 * g[t] / math.log(10.0) - np.minimum(s, 10.0 * g[0] / math.log(10.0))
    return float(out) if out.ndim == 0 else out


def to_diffusion_input(z_hat: torch.Tensor, snr_db, alphas_cumprod, *, rule: str = "exact"):
    """Scale a received latent ``z_hat = z + n`` (noise variance ``1/SNR``) onto the forward marginal.

    Parameters
    ----------
    z_hat : torch.Tensor
        Received latents of unit-variance ``z`` plus noise, shape (B, C, H, W).
    snr_db : float
        Their SNR in dB.
    alphas_cumprod : diffusers scheduler or array-like of float
        The grid's ``abar_t``, shape (T,).
    rule : {"exact", "grid"}
        ``"exact"``: the interpolated ``t*`` (:func:`matched_timestep`); ``"grid"``: ``floor(t*)``.

    Returns
    -------
    x_t : torch.Tensor
        ``sqrt(abar) z_hat`` (with the exact rule ``abar = SNR / (1 + SNR)``), shape of ``z_hat``.
    t : float
        The timestep to start the denoiser from.
    """
    if not isinstance(z_hat, torch.Tensor) or z_hat.ndim != 4:
        raise ValueError(f"z_hat must be a latent batch of shape (B, C, H, W), got {getattr(z_hat, 'shape', z_hat)!r}")
    if rule not in ("exact", "grid"):
        raise ValueError(f"rule must be 'exact' or 'grid', got {rule!r}")
    t = matched_timestep(float(_check_snr_db(snr_db)), alphas_cumprod)
    if rule == "grid":
        t = float(math.floor(t))
    abar = alpha_bar_at(t, alphas_cumprod)
    return z_hat * math.sqrt(abar), t
