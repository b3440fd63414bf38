"""Diffusion basics (Eq. 2-4 of [G-SemCom]): forward noising, the DDPM loss, a tiny noise predictor,
its training loop and the reverse (sampling) loop, on top of diffusers' schedulers.

Notation follows Sec. IV.A of the paper: ``beta_t`` is the noise schedule of Eq. 3,
``alpha_t = 1 - beta_t`` and ``alpha_bar_t = prod_{i<=t} alpha_i`` (Eq. 4b), ``eps_theta(x_t, t)`` the
noise predicted by the network, and Eq. 4a the mean of the reverse step.

Timesteps are diffusers' **0-based** indices ``t = 0, ..., T-1`` into ``scheduler.alphas_cumprod``;
index ``t`` is step ``t + 1`` of the paper's ``1, ..., T``. Images live in "model space": float32
tensors of shape ``(batch, channels, height, width)`` with pixel values scaled to [-1, 1]
(:func:`images_to_tensor` and :func:`tensor_to_images` convert from and to uint8 images).

Functions
---------
alpha_bars                 alpha_bar_t for every t (Eq. 4b).
forward_noise              x_t ~ q(x_t | x_0) in closed form (Eq. 2-3).
ddpm_loss                  the noise-prediction loss that trains eps_theta of Eq. 4a.
TinyUNet, tiny_unet        a small three-level U-Net noise predictor for 16 x 16 images.
shapes_icons               one-object ShapesWorld scenes cropped around the object: the training data.
train_ddpm                 Adam on ddpm_loss; returns the loss history.
sample                     the reverse process written out by hand (Eq. 4, 4a plus sigma_t z).
sample_with_scheduler      the same loop through a diffusers scheduler's ``step`` (DDPM, DDIM, ...).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from diffusers import DDPMScheduler
from torch import nn
from torch.nn import functional as F

__all__ = [
    "SCHEDULES",
    "TinyUNet",
    "alpha_bars",
    "ddpm_loss",
    "forward_noise",
    "images_to_tensor",
    "make_scheduler",
    "sample",
    "sample_with_scheduler",
    "shapes_icons",
    "tensor_to_images",
    "tiny_unet",
    "train_ddpm",
]


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------


def _as_generator(generator, name: str = "generator") -> torch.Generator:
    """A CPU ``torch.Generator`` from ``None`` (fresh, seed 0 is *not* implied), an int seed or a generator."""
    if generator is None:
        g = torch.Generator()
        g.seed()
        return g
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise TypeError(f"{name} must be None, an int seed or a torch.Generator, got {type(generator).__name__}")


def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_images(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (batch, channels, height, width) with batch >= 1, "
                         f"got {tuple(x.shape)}")
    return x


def _check_scheduler(scheduler, name: str = "scheduler"):
    if not hasattr(scheduler, "alphas_cumprod") or not hasattr(scheduler, "config"):
        raise TypeError(f"{name} must be a diffusers scheduler (with .alphas_cumprod), "
                        f"got {type(scheduler).__name__}")
    prediction = scheduler.config.get("prediction_type", "epsilon")
    if prediction != "epsilon":
        raise ValueError(f"{name} must have prediction_type='epsilon' (Eq. 4a predicts the noise), "
                         f"got {prediction!r}")
    return scheduler


def _predict_noise(model, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
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
    """alpha_bar_t = prod_{i<=t} (1 - beta_i) for every timestep (Eq. 4b).

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
    _check_int(num_train_timesteps, "num_train_timesteps", minimum=2)
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

    Chaining the t transitions of Eq. 3 under the Markov product of Eq. 2 gives this closed form,
    with alpha_bar_t of Eq. 4b: ``x_t = sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise``.

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
    x0 = _check_images(x0, "x0")
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
        noise = torch.randn(x0.shape, generator=_as_generator(generator), dtype=x0.dtype)  # (B, C, H, W)
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
    x0 = _check_images(x0, "x0")
    scheduler = _check_scheduler(scheduler)
    g = _as_generator(generator)
    n_steps = scheduler.alphas_cumprod.shape[0]
    t = torch.randint(0, n_steps, (x0.shape[0],), generator=g)  # (B,)
    eps = torch.randn(x0.shape, generator=g, dtype=x0.dtype)  # (B, C, H, W)
    x_t = forward_noise(x0, t, scheduler, noise=eps)  # (B, C, H, W)
    return F.mse_loss(_predict_noise(model, x_t, t.to(x0.device)), eps.to(x0))


# ----------------------------------------------------------------------------------------------
# A tiny noise predictor eps_theta(x_t, t)
# ----------------------------------------------------------------------------------------------


class _ResBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm and SiLU; the time embedding is added in between."""

    def __init__(self, c_in: int, c_out: int, t_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm1 = nn.GroupNorm(8, c_out)
        self.time = nn.Linear(t_dim, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x)))  # (B, c_out, H, W)
        h = h + self.time(t_emb)[:, :, None, None]  # (B, c_out, H, W): time tells the block the noise level
        h = F.silu(self.norm2(self.conv2(h)))  # (B, c_out, H, W)
        return h + self.skip(x)  # (B, c_out, H, W)


class TinyUNet(nn.Module):
    """A three-level U-Net noise predictor eps_theta(x_t, t) (the role of Stable Diffusion's UNet in Eq. 4a).

    ``forward(x_t, t)`` maps noisy images (B, C, H, W) and 0-based timesteps (B,) to predicted noise
    (B, C, H, W); H and W must be multiples of 4. The image is processed at full, half and quarter
    resolution (16, 8 and 4 pixels for 16 x 16 inputs), with skip connections between the matching
    down and up levels and a sinusoidal timestep embedding added in every block, as in diffusers'
    ``UNet2DModel``; no attention and no text conditioning (chapter 2 adds those).

    Parameters
    ----------
    in_channels : int
        Image channels C (3 for RGB).
    widths : (int, int, int)
        Feature channels at full, half and quarter resolution; multiples of 8.
    t_dim : int
        Size of the timestep embedding (even).
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (24, 48, 48), t_dim: int = 64):
        super().__init__()
        _check_int(in_channels, "in_channels")
        if not isinstance(widths, Sequence) or len(widths) != 3:
            raise ValueError(f"widths must be three channel counts (full, half, quarter resolution), got {widths!r}")
        for w in widths:
            if _check_int(w, "widths entries") % 8:
                raise ValueError(f"widths must be multiples of 8 (GroupNorm with 8 groups), got {tuple(widths)}")
        if _check_int(t_dim, "t_dim", minimum=2) % 2:
            raise ValueError(f"t_dim must be even, got {t_dim}")
        c1, c2, c3 = (int(w) for w in widths)
        self.in_channels, self.widths, self.t_dim = in_channels, (c1, c2, c3), t_dim
        self.time_mlp = nn.Sequential(nn.Linear(t_dim, t_dim), nn.SiLU())
        self.conv_in = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.down1 = _ResBlock(c1, c1, t_dim)
        self.downsample1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.down2 = _ResBlock(c2, c2, t_dim)
        self.downsample2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.mid = _ResBlock(c3, c3, t_dim)
        self.upsample2 = nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1)
        self.up2 = _ResBlock(2 * c2, c2, t_dim)
        self.upsample1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.up1 = _ResBlock(2 * c1, c1, t_dim)
        self.conv_out = nn.Conv2d(c1, in_channels, 3, padding=1)

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """Sinusoidal embedding of timesteps (B,) -> (B, t_dim), frequencies 1 ... 1/10000."""
        half = self.t_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)  # (half,)
        angles = t.float()[:, None] * freqs[None, :]  # (B, half)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, t_dim)

    def forward(self, x_t: torch.Tensor, t) -> torch.Tensor:
        if x_t.ndim != 4 or x_t.shape[1] != self.in_channels or x_t.shape[2] % 4 or x_t.shape[3] % 4:
            raise ValueError(f"x_t must have shape (B, {self.in_channels}, H, W) with H and W multiples of 4, "
                             f"got {tuple(x_t.shape)}")
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(x_t.shape[0])  # (B,)
        t_emb = self.time_mlp(self.time_embedding(t))  # (B, t_dim)
        h1 = self.down1(self.conv_in(x_t), t_emb)  # (B, c1, H, W)
        h2 = self.down2(self.downsample1(h1), t_emb)  # (B, c2, H/2, W/2)
        h = self.mid(self.downsample2(h2), t_emb)  # (B, c3, H/4, W/4): sees the whole 16 x 16 image
        h = self.up2(torch.cat([self.upsample2(h), h2], dim=1), t_emb)  # (B, 2 c2, H/2, W/2) -> (B, c2, ...)
        h = self.up1(torch.cat([self.upsample1(h), h1], dim=1), t_emb)  # (B, 2 c1, H, W) -> (B, c1, H, W)
        return self.conv_out(h)  # (B, C, H, W)


def tiny_unet(*, in_channels: int = 3, widths: Sequence[int] = (24, 48, 48), seed: int = 0) -> TinyUNet:
    """A freshly initialised :class:`TinyUNet` whose weights depend only on ``seed``.

    Parameters
    ----------
    in_channels : int
        Image channels.
    widths : (int, int, int)
        Feature channels per resolution, see :class:`TinyUNet`.
    seed : int
        Seed of the weight initialisation (torch's global generator is left untouched).
    """
    _check_int(seed, "seed", minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyUNet(in_channels=in_channels, widths=widths)


# ----------------------------------------------------------------------------------------------
# Data, training
# ----------------------------------------------------------------------------------------------


def shapes_icons(n: int, *, seed: int, crop: int = 32, split: str = "train",
                 background: str | None = None) -> tuple[np.ndarray, list[str]]:
    """ShapesWorld scenes with one object, cropped to a square centred on the object: a tiny icon data set.

    Scenes come from :func:`gsemlab.toyworld.sample_scenes`; only those with exactly one object (and
    the requested background) are kept, in order, until there are ``n``. Each 64 x 64 render is padded
    with its background colour and cut to ``crop`` x ``crop`` pixels around the object's centre, so
    every icon shows one centred shape.

    Parameters
    ----------
    n : int
        Number of icons.
    seed : int
        Seed of the scene sampler (the same ``seed`` gives the same icons).
    crop : int
        Side of the crop in pixels (24 to 64; large objects are 22 pixels wide).
    split : {"train", "val", "test"}
        ShapesWorld split.
    background : str, optional
        Keep only scenes with this background (a key of ``gsemlab.toyworld.BACKGROUNDS``, e.g.
        ``"white"``); default: any background.

    Returns
    -------
    icons : numpy.ndarray of uint8, shape (n, crop, crop, 3)
    captions : list of str
        The scenes' captions, e.g. "a large red circle".
    """
    from gsemlab.toyworld import BACKGROUNDS, sample_scenes  # numpy-only; imported here to keep layers apart

    n = _check_int(n, "n")
    if _check_int(crop, "crop") < 24 or crop > 64:
        raise ValueError(f"crop must be from 24 to 64 pixels, got {crop}")
    if background is not None and background not in BACKGROUNDS:
        raise ValueError(f"background must be None or one of {tuple(BACKGROUNDS)}, got {background!r}")
    icons, captions, drawn = [], [], 0
    while len(icons) < n:
        if drawn == 0:  # about a quarter of the scenes have one object, most of them on white
            drawn = int((4.5 if background is None else 7.5) * n) + 16
        else:  # too few: draw again, as many as the kept fraction says (plus 20 %)
            drawn = max(drawn + 16, int(1.2 * drawn * n / max(len(icons), 1)))
        icons, captions = [], []
        for scene in sample_scenes(drawn, seed=seed, split=split):  # a longer draw starts with the same scenes
            if len(scene.objects) != 1 or background not in (None, scene.background):
                continue
            image, _ = scene.render()  # (64, 64, 3) uint8
            padded = np.empty((128, 128, 3), np.uint8)
            padded[:] = BACKGROUNDS[scene.background]
            padded[32:96, 32:96] = image  # (128, 128, 3): background all around
            obj = scene.objects[0]
            x0, y0 = round(obj.cx) + 32 - crop // 2, round(obj.cy) + 32 - crop // 2
            icons.append(padded[y0:y0 + crop, x0:x0 + crop])  # (crop, crop, 3)
            captions.append(scene.caption)
            if len(icons) == n:
                break
    return np.stack(icons), captions


def images_to_tensor(images, size: int | None = None) -> torch.Tensor:
    """uint8 images (N, H, W, C) -> model-space float32 tensor (N, C, size, size) in [-1, 1].

    Parameters
    ----------
    images : array_like of uint8, shape (N, H, W, C) or (H, W, C)
        Pixel values 0-255.
    size : int, optional
        Output side in pixels; downsampling averages ``H // size`` x ``W // size`` pixel blocks
        (area interpolation), so ``H`` and ``W`` must be multiples of it. Default: keep H x W.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise TypeError(f"images must be uint8 (0-255), got dtype {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise ValueError(f"images must have shape (N, H, W, C) or (H, W, C), got {np.asarray(images).shape}")
    x = torch.from_numpy(arr.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)  # (N, C, H, W)
    if size is not None:
        _check_int(size, "size")
        if arr.shape[1] % size or arr.shape[2] % size:
            raise ValueError(f"size must divide the image sides {arr.shape[1:3]}, got {size}")
        x = F.interpolate(x, size=(size, size), mode="area")  # (N, C, size, size)
    return x.contiguous()


def tensor_to_images(x: torch.Tensor) -> np.ndarray:
    """Model-space tensor (N, C, H, W), values in [-1, 1] -> uint8 images (N, H, W, C), clipped."""
    _check_images(x, "x")
    x = ((x.detach().cpu().clamp(-1, 1) + 1) * 127.5).round()  # (N, C, H, W), 0..255
    return x.permute(0, 2, 3, 1).to(torch.uint8).numpy()  # (N, H, W, C)


def train_ddpm(model: nn.Module, data: torch.Tensor, *, steps: int, batch_size: int, lr: float, seed: int,
               scheduler=None) -> np.ndarray:
    """Train a noise predictor with Adam on :func:`ddpm_loss`, in place.

    Parameters
    ----------
    model : torch.nn.Module
        eps_theta, e.g. :func:`tiny_unet`; left in eval mode afterwards.
    data : torch.Tensor, shape (N, C, H, W), float
        Training images in model space ([-1, 1]).
    steps : int
        Optimiser steps; each draws ``batch_size`` images with replacement.
    batch_size : int
        Images per step.
    lr : float
        Adam learning rate.
    seed : int
        Seeds the batches, timesteps and noise (not the model's initialisation: see :func:`tiny_unet`).
    scheduler : diffusers scheduler, optional
        The forward process; default :func:`make_scheduler` (linear, T = 1000).

    Returns
    -------
    numpy.ndarray, shape (steps,)
        The loss of every step (mean squared error in units of noise variance).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    data = _check_images(data, "data")
    steps, batch_size = _check_int(steps, "steps"), _check_int(batch_size, "batch_size")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < 1:
        raise ValueError(f"lr must be a number in (0, 1), got {lr!r}")
    scheduler = make_scheduler() if scheduler is None else _check_scheduler(scheduler)
    g = torch.Generator().manual_seed(_check_int(seed, "seed", minimum=0))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = np.empty(steps)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=g)  # (batch,)
        loss = ddpm_loss(model, data[idx], scheduler, generator=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history[step] = loss.item()
    model.eval()
    return history


# ----------------------------------------------------------------------------------------------
# Sampling: the reverse process of Eq. 4
# ----------------------------------------------------------------------------------------------


def _check_sampling(model, n, shape, num_inference_steps, scheduler) -> tuple[int, tuple[int, ...], int]:
    if not callable(model):
        raise TypeError(f"model must be callable as model(x_t, t), got {type(model).__name__}")
    n = _check_int(n, "n")
    if not isinstance(shape, Sequence) or len(shape) != 3:
        raise ValueError(f"shape must be (channels, height, width), got {shape!r}")
    shape = tuple(_check_int(s, "shape entries") for s in shape)
    num_inference_steps = _check_int(num_inference_steps, "num_inference_steps")
    n_train = scheduler.config.num_train_timesteps
    if num_inference_steps > n_train:
        raise ValueError(f"num_inference_steps must be <= num_train_timesteps = {n_train}, "
                         f"got {num_inference_steps}")
    return n, shape, num_inference_steps


@torch.no_grad()
def sample(model, scheduler: DDPMScheduler, n: int, shape: Sequence[int], num_inference_steps: int,
           generator=None) -> torch.Tensor:
    """Generate images with the DDPM reverse process written out by hand (Eq. 4, 4a, 4b).

    Starting from x_T ~ N(0, I), each step computes the mean of Eq. 4a and adds sigma_t z::

        x_{t-1} = 1/sqrt(alpha_t) * (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps_theta(x_t, t)) + sigma_t z

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
    _check_scheduler(scheduler)
    if scheduler.config.clip_sample or scheduler.config.thresholding:
        raise ValueError("scheduler must have clip_sample=False and thresholding=False: Eq. 4a has no clipping "
                         "(make_scheduler() builds such a scheduler)")
    variance_type = scheduler.config.variance_type
    if variance_type not in ("fixed_small", "fixed_large"):
        raise ValueError(f"scheduler.config.variance_type must be 'fixed_small' or 'fixed_large', got {variance_type!r}")
    n, shape, num_inference_steps = _check_sampling(model, n, shape, num_inference_steps, scheduler)
    g = _as_generator(generator)
    scheduler = DDPMScheduler.from_config(scheduler.config)  # a copy: set_timesteps mutates
    scheduler.set_timesteps(num_inference_steps)
    abar, ts = scheduler.alphas_cumprod, scheduler.timesteps.tolist()

    x = torch.randn((n, *shape), generator=g)  # x_T ~ N(0, I): (n, C, H, W)
    for i, t in enumerate(ts):
        abar_t, abar_prev = abar[t], abar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
        alpha_t = abar_t / abar_prev  # Eq. 4b, for the jump t -> t'
        beta_t = 1 - alpha_t
        eps = _predict_noise(model, x, torch.full((n,), t, dtype=torch.long))  # eps_theta(x_t, t): (n, C, H, W)
        x = (x - beta_t / (1 - abar_t).sqrt() * eps) / alpha_t.sqrt()  # Eq. 4a, the mean mu_theta: (n, C, H, W)
        if t > 0:
            var = beta_t if variance_type == "fixed_large" else (1 - abar_prev) / (1 - abar_t) * beta_t
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
    _check_scheduler(scheduler)
    n, shape, num_inference_steps = _check_sampling(model, n, shape, num_inference_steps, scheduler)
    g = _as_generator(generator)
    scheduler = type(scheduler).from_config(scheduler.config)
    scheduler.set_timesteps(num_inference_steps)
    x = torch.randn((n, *shape), generator=g) * scheduler.init_noise_sigma  # x_T: (n, C, H, W)
    for t in scheduler.timesteps:
        eps = _predict_noise(model, scheduler.scale_model_input(x, t), torch.full((n,), int(t)))  # (n, C, H, W)
        x = scheduler.step(eps, t, x, generator=g).prev_sample  # (n, C, H, W)
    return x
