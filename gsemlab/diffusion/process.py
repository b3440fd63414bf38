"""The diffusion process itself (Eq. 2-4 of [G-SemCom]): schedule, forward noising, DDPM loss, sampling.

See :mod:`gsemlab.diffusion` for the notation. Built on diffusers' schedulers; works with any noise
predictor ``model(x_t, t)`` (a plain module or a diffusers model whose output has ``.sample``).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
from diffusers import DDPMScheduler
from torch.nn import functional as F

from ..checks import check_positive_int

__all__ = [
    "SCHEDULES",
    "alpha_bars",
    "as_generator",
    "check_images",
    "check_scheduler",
    "ddpm_loss",
    "forward_noise",
    "make_scheduler",
    "predict_noise",
    "sample",
    "sample_with_scheduler",
]


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------


def as_generator(generator, name: str = "generator") -> torch.Generator:
    """A CPU ``torch.Generator`` from ``None`` (fresh, seed 0 is *not* implied), an int seed or a generator.

    Parameters
    ----------
    generator : None, int or torch.Generator
        The random source asked for.
    name : str
        Argument name used in the error message.
    """
    if generator is None:
        g = torch.Generator()
        g.seed()
        return g
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise TypeError(f"{name} must be None, an int seed or a torch.Generator, got {type(generator).__name__}")


def check_images(x, name: str) -> torch.Tensor:
    """Return ``x`` when it is a float tensor of images (batch, channels, height, width), batch >= 1."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (batch, channels, height, width) with batch >= 1, "
                         f"got {tuple(x.shape)}")
    return x


def check_scheduler(scheduler, name: str = "scheduler"):
    """Return ``scheduler`` when it is a diffusers scheduler that predicts the noise (Eq. 4a)."""
    if not hasattr(scheduler, "alphas_cumprod") or not hasattr(scheduler, "config"):
        raise TypeError(f"{name} must be a diffusers scheduler (with .alphas_cumprod), "
                        f"got {type(scheduler).__name__}")
    prediction = scheduler.config.get("prediction_type", "epsilon")
    if prediction != "epsilon":
        raise ValueError(f"{name} must have prediction_type='epsilon' (Eq. 4a predicts the noise), "
                         f"got {prediction!r}")
    return scheduler


def predict_noise(model, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """eps_theta(x_t, t) for a plain module or a diffusers model (whose output has ``.sample``)."""
    out = model(x_t, t)
    eps = getattr(out, "sample", out)
    if not isinstance(eps, torch.Tensor) or eps.shape != x_t.shape:
        shape = tuple(eps.shape) if isinstance(eps, torch.Tensor) else type(eps).__name__
        raise ValueError(f"model must return a noise tensor shaped like its input {tuple(x_t.shape)}, got {shape}")
    return eps


# ----------------------------------------------------------------------------------------------
# Schedule and forward process (Eq. 2-3, 4b)
# ----------------------------------------------------------------------------------------------


def alpha_bars(scheduler_or_betas) -> torch.Tensor:
    """alpha_bar_t = prod_{i<=t} (1 - beta_i) for every timestep (Eq. 4b of [G-SemCom]).

    Parameters
    ----------
    scheduler_or_betas : diffusers scheduler or array_like, shape (T,)
        A scheduler (its ``alphas_cumprod`` is returned) or the betas ``beta_1, ..., beta_T`` of
        Eq. 3, each in (0, 1).

    Returns
    -------
    torch.Tensor, shape (T,), float32
        alpha_bar at 0-based index ``t`` (the paper's step ``t + 1``); dimensionless, decreasing.
    """
    if hasattr(scheduler_or_betas, "alphas_cumprod"):
        return scheduler_or_betas.alphas_cumprod.to(torch.float32)
    if isinstance(scheduler_or_betas, (str, bytes)) or scheduler_or_betas is None:
        raise TypeError("scheduler_or_betas must be a diffusers scheduler or a 1-D sequence of betas, "
                        f"got {type(scheduler_or_betas).__name__}")
    betas = torch.as_tensor(np.asarray(scheduler_or_betas, dtype=np.float64))
    if betas.ndim != 1 or betas.numel() == 0:
        raise ValueError(f"scheduler_or_betas must be a 1-D sequence of betas, got shape {tuple(betas.shape)}")
    if not bool(((betas > 0) & (betas < 1)).all()):
        raise ValueError("scheduler_or_betas: every beta_t must lie in (0, 1) (Eq. 3)")
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)


#: beta_schedule name in diffusers and default (beta_start, beta_end) of each schedule make_scheduler knows.
SCHEDULES = {
    "linear": ("linear", 1e-4, 0.02),  # Ho et al. 2020
    "scaled_linear": ("scaled_linear", 0.00085, 0.012),  # Stable Diffusion: sqrt(beta) linear
    "cosine": ("squaredcos_cap_v2", None, None),  # Nichol and Dhariwal 2021
}


def make_scheduler(*, num_train_timesteps: int = 1000, schedule: str = "linear",
                   beta_start: float | None = None, beta_end: float | None = None,
                   variance_type: str = "fixed_small") -> DDPMScheduler:
    """A diffusers ``DDPMScheduler`` whose reverse step is exactly Eq. 4a plus sigma_t z.

    Parameters
    ----------
    num_train_timesteps : int
        T, the number of forward steps of Eq. 2.
    schedule : {"linear", "scaled_linear", "cosine"}
        beta_t rising linearly from ``beta_start`` to ``beta_end`` (Ho et al. 2020; defaults 1e-4 and
        0.02); sqrt(beta_t) rising linearly, Stable Diffusion's schedule (defaults 0.00085 and 0.012);
        or the cosine schedule of Nichol and Dhariwal (2021), diffusers' ``"squaredcos_cap_v2"``
        (alpha_bar_t = f(t) / f(0) with f(t) = cos^2((t/T + 0.008) / 1.008 * pi / 2), betas capped at
        0.999; ``beta_start`` and ``beta_end`` do not apply).
    beta_start, beta_end : float, optional
        End points of the (scaled) linear schedule, dimensionless, 0 < start < end < 1.
    variance_type : {"fixed_small", "fixed_large"}
        sigma_t^2 of the reverse step: the true posterior variance
        ``(1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t`` or ``beta_t`` as Eq. 4 writes it.

    Returns
    -------
    DDPMScheduler
        With ``clip_sample=False`` (Eq. 4a has no clipping) and epsilon prediction.
    """
    check_positive_int(num_train_timesteps, "num_train_timesteps", minimum=2)
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {tuple(SCHEDULES)}, got {schedule!r}")
    if variance_type not in ("fixed_small", "fixed_large"):
        raise ValueError(f"variance_type must be 'fixed_small' or 'fixed_large', got {variance_type!r}")
    name, default_start, default_end = SCHEDULES[schedule]
    if default_start is None:
        if beta_start is not None or beta_end is not None:
            raise ValueError(f"beta_start and beta_end do not apply to the {schedule!r} schedule")
        beta_start, beta_end = 1e-4, 0.02  # unused by diffusers for this schedule; its defaults
    else:
        beta_start = default_start if beta_start is None else beta_start
        beta_end = default_end if beta_end is None else beta_end
        if not 0 < beta_start < beta_end < 1:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {beta_start}, {beta_end}")
    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=name,
                         beta_start=beta_start, beta_end=beta_end, variance_type=variance_type,
                         clip_sample=False, prediction_type="epsilon")


def forward_noise(x0: torch.Tensor, t, scheduler_or_betas, noise: torch.Tensor | None = None,
                  generator=None) -> torch.Tensor:
    """Draw x_t ~ q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) in one step.

    This is Eq. 2-3 of [G-SemCom] in closed form: chaining the t transitions of Eq. 3 under the
    Markov product of Eq. 2 gives it, with alpha_bar_t of Eq. 4b:
    ``x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise``.

    Parameters
    ----------
    x0 : torch.Tensor, shape (B, C, H, W), float
        Clean images in model space ([-1, 1]).
    t : int or torch.Tensor of int, shape () or (B,)
        0-based timestep(s) in ``[0, T)``; a single value applies to the whole batch.
    scheduler_or_betas : diffusers scheduler or array_like, shape (T,)
        The schedule (see :func:`alpha_bars`).
    noise : torch.Tensor, shape (B, C, H, W), optional
        epsilon ~ N(0, I); drawn from ``generator`` when omitted.
    generator : None, int or torch.Generator
        Seed or generator for ``noise`` (ignored when ``noise`` is given).

    Returns
    -------
    torch.Tensor, shape (B, C, H, W)
        x_t, same dtype as ``x0``.
    """
    x0 = check_images(x0, "x0")
    abar = alpha_bars(scheduler_or_betas).to(x0.device)
    n_steps = abar.shape[0]
    t = torch.as_tensor(t)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise TypeError(f"t must be an integer or an integer tensor, got dtype {t.dtype}")
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] != x0.shape[0]):
        raise ValueError(f"t must be a scalar or have shape ({x0.shape[0]},) like x0's batch, got {tuple(t.shape)}")
    if bool((t < 0).any()) or bool((t >= n_steps).any()):
        raise ValueError(f"t must lie in [0, {n_steps}) (0-based timesteps of a T={n_steps} schedule), "
                         f"got {t.min().item()}..{t.max().item()}")
    if noise is None:
        noise = torch.randn(x0.shape, generator=as_generator(generator), dtype=x0.dtype)  # (B, C, H, W)
    elif not isinstance(noise, torch.Tensor) or noise.shape != x0.shape:
        got = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        raise ValueError(f"noise must be a tensor of x0's shape {tuple(x0.shape)}, got {got}")
    a = abar[t.to(x0.device).long()].to(x0.dtype).reshape(-1, 1, 1, 1)  # (B or 1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise.to(x0)  # (B, C, H, W)


def ddpm_loss(model, x0: torch.Tensor, scheduler, generator=None) -> torch.Tensor:
    """The simplified DDPM loss that trains eps_theta of Eq. 4a: ``E ||eps - eps_theta(x_t, t)||^2``.

    The paper's Eq. 3-4 define the forward and reverse processes; this is the training objective of
    its reference [16] (Ho et al. 2020, "L_simple"): for each image draw ``t ~ U{0, ..., T-1}`` and
    ``eps ~ N(0, I)``, noise the image with :func:`forward_noise` and regress the noise.

    Parameters
    ----------
    model : callable
        ``model(x_t, t)`` -> predicted noise of shape (B, C, H, W) (a tensor, or an object with
        ``.sample`` like diffusers' ``UNet2DModel``); ``t`` is an int64 tensor of shape (B,).
    x0 : torch.Tensor, shape (B, C, H, W), float
        Clean images in model space.
    scheduler : diffusers scheduler
        Supplies alpha_bar_t and T (epsilon prediction).
    generator : None, int or torch.Generator
        Source of ``t`` and ``eps``.

    Returns
    -------
    torch.Tensor, shape ()
        Mean squared error over every pixel, channel and image (units of noise variance; a model
        that always predicts 0 scores about 1).
    """
    x0 = check_images(x0, "x0")
    scheduler = check_scheduler(scheduler)
    g = as_generator(generator)
    n_steps = scheduler.alphas_cumprod.shape[0]
    t = torch.randint(0, n_steps, (x0.shape[0],), generator=g)  # (B,)
    eps = torch.randn(x0.shape, generator=g, dtype=x0.dtype)  # (B, C, H, W)
    x_t = forward_noise(x0, t, scheduler, noise=eps)  # (B, C, H, W)
    return F.mse_loss(predict_noise(model, x_t, t.to(x0.device)), eps.to(x0))


# ----------------------------------------------------------------------------------------------
# Sampling: the reverse process of Eq. 4
# ----------------------------------------------------------------------------------------------


def _check_sampling(model, n, shape, num_inference_steps, scheduler) -> tuple[int, tuple[int, ...], int]:
    if not callable(model):
        raise TypeError(f"model must be callable as model(x_t, t), got {type(model).__name__}")
    n = check_positive_int(n, "n")
    if not isinstance(shape, Sequence) or len(shape) != 3:
        raise ValueError(f"shape must be (channels, height, width), got {shape!r}")
    shape = tuple(check_positive_int(s, "shape entries") for s in shape)
    num_inference_steps = check_positive_int(num_inference_steps, "num_inference_steps")
    n_train = scheduler.config.num_train_timesteps
    if num_inference_steps > n_train:
        raise ValueError(f"num_inference_steps must be <= num_train_timesteps = {n_train}, "
                         f"got {num_inference_steps}")
    return n, shape, num_inference_steps


@torch.no_grad()
def sample(model, scheduler: DDPMScheduler, n: int, shape: Sequence[int], num_inference_steps: int,
           generator=None) -> torch.Tensor:
    """Generate images with the DDPM reverse process written out by hand (Eq. 4, 4a, 4b of [G-SemCom]).

    Starting from x_T ~ N(0, I), each step computes the mean of Eq. 4a and adds sigma_t z::

        mu = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps_theta(x_t, t)) / sqrt(alpha_t)
        x_{t-1} = mu + sigma_t z

    with z ~ N(0, I) (no noise on the last step). With fewer steps than T the loop visits the
    scheduler's timesteps ``t > t'`` only and uses the per-jump ``alpha_t = alpha_bar_t / alpha_bar_t'``,
    ``beta_t = 1 - alpha_t``. ``sigma_t^2`` is ``(1 - alpha_bar_t') / (1 - alpha_bar_t) * beta_t``
    (``variance_type="fixed_small"``) or ``beta_t`` (``"fixed_large"``, as Eq. 4 writes it). Same noise,
    same result as diffusers' ``DDPMScheduler.step`` (see :func:`sample_with_scheduler`).

    Parameters
    ----------
    model : callable
        eps_theta: ``model(x_t, t)`` -> noise (n, C, H, W); ``t`` is an int64 tensor of shape (n,).
    scheduler : DDPMScheduler
        Gives alpha_bar_t and the timesteps; ``clip_sample=False``, epsilon prediction,
        ``variance_type`` "fixed_small" or "fixed_large" (:func:`make_scheduler`). Not modified.
    n : int
        Number of images.
    shape : (int, int, int)
        (C, H, W) of one image.
    num_inference_steps : int
        Reverse steps, at most T.
    generator : None, int or torch.Generator
        Source of x_T and of every z, drawn in that order.

    Returns
    -------
    torch.Tensor, shape (n, C, H, W)
        x_0 in model space (roughly [-1, 1]; use :func:`tensor_to_images`).
    """
    if not isinstance(scheduler, DDPMScheduler):
        raise TypeError(f"scheduler must be a diffusers DDPMScheduler, got {type(scheduler).__name__}")
    check_scheduler(scheduler)
    if scheduler.config.clip_sample or scheduler.config.thresholding:
        raise ValueError("scheduler must have clip_sample=False and thresholding=False: Eq. 4a has no clipping "
                         "(make_scheduler() builds such a scheduler)")
    variance_type = scheduler.config.variance_type
    if variance_type not in ("fixed_small", "fixed_large"):
        raise ValueError(f"scheduler.config.variance_type must be 'fixed_small' or 'fixed_large', got {variance_type!r}")
    n, shape, num_inference_steps = _check_sampling(model, n, shape, num_inference_steps, scheduler)
    g = as_generator(generator)
    scheduler = DDPMScheduler.from_config(scheduler.config)  # a copy: set_timesteps mutates
    scheduler.set_timesteps(num_inference_steps)
    abar, ts = scheduler.alphas_cumprod, scheduler.timesteps.tolist()

    x = torch.randn((n, *shape), generator=g)  # x_T ~ N(0, I): (n, C, H, W)
    for i, t in enumerate(ts):
        abar_t = abar[t]
        abar_prev = abar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
        alpha_t = abar_t / abar_prev  # Eq. 4b, for the jump t -> t'
        beta_t = 1 - alpha_t
        eps = predict_noise(model, x, torch.full((n,), t, dtype=torch.long))  # eps_theta(x_t, t): (n, C, H, W)
        x = (x - beta_t / (1 - abar_t).sqrt() * eps) / alpha_t.sqrt()  # Eq. 4a, the mean mu_theta: (n, C, H, W)
        if t > 0:
            small = (1 - abar_prev) / (1 - abar_t) * beta_t
            var = beta_t if variance_type == "fixed_large" else small
            x = x + var.sqrt() * torch.randn(x.shape, generator=g)  # + sigma_t z: (n, C, H, W)
    return x


@torch.no_grad()
def sample_with_scheduler(model, scheduler, n: int, shape: Sequence[int], num_inference_steps: int,
                          generator=None) -> torch.Tensor:
    """Generate images with a diffusers scheduler's ``step`` (DDPM, DDIM, ...): the library's Eq. 4.

    The standard diffusers loop: ``x_T ~ N(0, I)`` (scaled by ``init_noise_sigma``), then for each of
    the scheduler's timesteps ``x = scheduler.step(eps_theta(x, t), t, x, generator=...).prev_sample``.

    Parameters
    ----------
    model : callable
        eps_theta, as in :func:`sample`.
    scheduler : diffusers scheduler
        E.g. ``DDPMScheduler`` or ``DDIMScheduler.from_config(ddpm.config)``, epsilon prediction.
        Not modified (a copy is made).
    n, shape, num_inference_steps, generator
        As in :func:`sample`; x_T and any step noise come from ``generator`` in that order.

    Returns
    -------
    torch.Tensor, shape (n, C, H, W)
        x_0 in model space.
    """
    if not hasattr(scheduler, "step") or not hasattr(scheduler, "set_timesteps"):
        raise TypeError(f"scheduler must be a diffusers scheduler, got {type(scheduler).__name__}")
    check_scheduler(scheduler)
    n, shape, num_inference_steps = _check_sampling(model, n, shape, num_inference_steps, scheduler)
    g = as_generator(generator)
    scheduler = type(scheduler).from_config(scheduler.config)
    scheduler.set_timesteps(num_inference_steps)
    x = torch.randn((n, *shape), generator=g) * scheduler.init_noise_sigma  # x_T: (n, C, H, W)
    for t in scheduler.timesteps:
        eps = predict_noise(model, scheduler.scale_model_input(x, t), torch.full((n,), int(t)))  # (n, C, H, W)
        x = scheduler.step(eps, t, x, generator=g).prev_sample  # (n, C, H, W)
    return x
