"""A tiny noise predictor, its data and its training loop: what chapter 1 trains live on the CPU.

:class:`TinyUNet` is a three-level U-Net for 16 x 16 to 32 x 32 images; :func:`shapes_icons` crops
one-object ShapesWorld scenes into an icon data set; :func:`train_ddpm` minimises the DDPM loss with
Adam. Images are uint8 arrays outside and model-space tensors in [-1, 1] inside
(:func:`images_to_tensor`, :func:`tensor_to_images`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..checks import check_positive_int
from ..toyworld import BACKGROUNDS, sample_scenes
from .process import check_images, check_scheduler, ddpm_loss, make_scheduler

__all__ = ["TinyUNet", "images_to_tensor", "shapes_icons", "tensor_to_images", "tiny_unet", "train_ddpm"]


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
        check_positive_int(in_channels, "in_channels")
        if not isinstance(widths, Sequence) or len(widths) != 3:
            raise ValueError(f"widths must be three channel counts (full, half, quarter resolution), got {widths!r}")
        for w in widths:
            if check_positive_int(w, "widths entries") % 8:
                raise ValueError(f"widths must be multiples of 8 (GroupNorm with 8 groups), got {tuple(widths)}")
        if check_positive_int(t_dim, "t_dim", minimum=2) % 2:
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
    check_positive_int(seed, "seed", minimum=0)
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

    n = check_positive_int(n, "n")
    if check_positive_int(crop, "crop") < 24 or crop > 64:
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
        check_positive_int(size, "size")
        if arr.shape[1] % size or arr.shape[2] % size:
            raise ValueError(f"size must divide the image sides {arr.shape[1:3]}, got {size}")
        x = F.interpolate(x, size=(size, size), mode="area")  # (N, C, size, size)
    return x.contiguous()


def tensor_to_images(x: torch.Tensor) -> np.ndarray:
    """Model-space tensor (N, C, H, W), values in [-1, 1] -> uint8 images (N, H, W, C), clipped."""
    check_images(x, "x")
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
    data = check_images(data, "data")
    steps, batch_size = check_positive_int(steps, "steps"), check_positive_int(batch_size, "batch_size")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < 1:
        raise ValueError(f"lr must be a number in (0, 1), got {lr!r}")
    scheduler = make_scheduler() if scheduler is None else check_scheduler(scheduler)
    g = torch.Generator().manual_seed(check_positive_int(seed, "seed", minimum=0))
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


