"""The diffusion-driven receiver and its baselines, end to end, with the bundled weights.

``diffusion``
    The sender VAE-encodes the image (the toy VAE, 4 x 16 x 16), downsamples the latent to channel
    symbols (:class:`~gsemlab.channel_diffusion.modules.Downsampler`) and sends them with the prompt.
    The receiver equalises, upsamples with reparameterisation
    (:class:`~gsemlab.channel_diffusion.modules.Upsampler`) to ``z_hat``, scales it onto the forward
    marginal at the SNR-matched timestep ``t*`` (:func:`~gsemlab.channel_diffusion.schedule.to_diffusion_input`)
    and lets the bundled UNet denoise from ``t*`` to 0 with the prompt (deterministic DDIM steps on the
    interpolated schedule); the VAE decodes.
``latent``
    The same modules without the denoiser: the upsampler's mean ``mu`` decoded directly.
``djscc``
    Deep JSCC on pixels (:class:`~gsemlab.channel_diffusion.modules.DeepJSCC`) at the same number of
    channel uses.

The channel is AWGN or Rayleigh block fading (16 symbols per block) with MMSE equalisation
(:mod:`gsemlab.channel.fading`). Every function checks its inputs before any model runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..channel.fading import awgn, equalise, rayleigh_block
from ..data import DATA_DIR
from ..diffusion.tiny import tensor_to_images
from .modules import DeepJSCC, Downsampler, Upsampler, check_rate
from .schedule import alpha_bar_at, grid_timestep, matched_timestep

__all__ = ["BUNDLE_DIR", "CHANNELS", "FADING_BLOCK", "METHODS", "VARIANTS", "ChannelDiffusion", "evaluate",
           "heldout_images", "lpips_metric", "pretrained", "send"]

#: the bundled weights of the modules (``python -m gsemlab.training cdiff-all``)
BUNDLE_DIR = DATA_DIR / "channel_diffusion"
#: the three receivers (module docstring)
METHODS = ("diffusion", "latent", "djscc")
#: the channels of :func:`send`
CHANNELS = ("awgn", "rayleigh")
#: how the upsampler's variance target was set in training
VARIANTS = ("matched", "random")
#: symbols per Rayleigh block (the coherence time)
FADING_BLOCK = 16
#: the SNRs the modules were trained at (dB)
SNR_RANGE_DB = (0.0, 20.0)


def _check_snr(snr_db) -> float:
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, np.integer, np.floating)):
        raise TypeError(f"snr_db must be a number of dB, got {snr_db!r}")
    if not math.isfinite(float(snr_db)):
        raise ValueError(f"snr_db must be finite (dB), got {snr_db!r}")
    return float(snr_db)


def _check_choice(value, options, name):
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def send(symbols: torch.Tensor, snr_db, *, channel: str = "awgn", generator=None) -> torch.Tensor:
    """Symbols through the channel, then equalised: what the receiver's module sees.

    Parameters
    ----------
    symbols : torch.Tensor
        Complex symbols of unit average power, shape (B, k).
    snr_db : float or torch.Tensor
        (Average) SNR in dB, one number or one per row.
    channel : {"awgn", "rayleigh"}
        AWGN, or Rayleigh block fading (:data:`FADING_BLOCK` symbols per block) with known gains and
        MMSE equalisation.
    generator : torch.Generator, optional
        Noise and fading draws.

    Returns
    -------
    torch.Tensor
        Shape (B, k), complex.
    """
    _check_choice(channel, CHANNELS, "channel")
    if channel == "awgn":
        return awgn(symbols, snr_db, rng=generator)
    y, h = rayleigh_block(symbols, snr_db, block=FADING_BLOCK, rng=generator)
    return equalise(y, h, snr_db, method="mmse")


def _check_images(images) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
            or images.shape[1:] != (64, 64, 3):
        raise ValueError(f"images must be uint8 of shape (N, 64, 64, 3), got "
                         f"{getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', '')}")
    return images


def _images_to_tensor(images) -> torch.Tensor:
    # diffusion.tiny.images_to_tensor gives the same values but a contiguous tensor, and the VAE's
    # convolutions then sum in another order (latents differ by ~1e-3): the recorded benchmark and the
    # trained modules used this channels-last view, so it stays
    return torch.from_numpy(np.array(_check_images(images), copy=True)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


@dataclass
class ChannelDiffusion:
    """The bundled modules with the toy pipeline's VAE, UNet and text encoder (build with :func:`pretrained`).

    Attributes
    ----------
    pipe : diffusers.StableDiffusionPipeline
        The toy pipeline (its VAE, UNet, text encoder and scheduler's ``alphas_cumprod``).
    down, up : dict
        ``{variant: Downsampler}`` and ``{variant: Upsampler}`` for each trained variant.
    djscc : DeepJSCC
        The deep-JSCC baseline.
    info : dict
        The training record of the bundle (steps, minutes, losses).
    """

    pipe: object
    down: dict
    up: dict
    djscc: DeepJSCC
    info: dict

    @property
    def alphas_cumprod(self) -> np.ndarray:
        """The scheduler's ``abar_t`` on its grid, shape (T,)."""
        return self.pipe.scheduler.alphas_cumprod.double().numpy()

    @torch.no_grad()
    def latents(self, images: np.ndarray) -> torch.Tensor:
        """The VAE's scaled posterior means of uint8 images (N, 64, 64, 3): (N, 4, 16, 16), unit variance."""
        vae = self.pipe.vae
        return vae.encode(_images_to_tensor(images)).latent_dist.mean * vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> np.ndarray:
        """uint8 images (N, 64, 64, 3) from scaled latents (N, 4, 16, 16)."""
        vae = self.pipe.vae
        return tensor_to_images(vae.decode(z / vae.config.scaling_factor).sample)

    def inference_grid(self, steps: int) -> np.ndarray:
        """The DDIM sampler's integer timesteps for ``steps`` steps (the grid the official rule picks from)."""
        from diffusers import DDIMScheduler

        sched = DDIMScheduler.from_config(self.pipe.scheduler.config)
        sched.set_timesteps(int(steps))
        return np.sort(sched.timesteps.numpy())

    def schedule(self, snr_db: float, *, rule: str = "exact", steps: int = 20) -> np.ndarray:
        """The denoiser's timesteps from the SNR-matched start down to 0, decreasing.

        Parameters
        ----------
        snr_db : float
            SNR of the received latent in dB.
        rule : {"exact", "grid"}
            ``"exact"``: start at the interpolated ``t*`` and take ``ceil(steps t* / T)`` equal steps to 0;
            ``"grid"``: the official rule, start at the largest step of the ``steps``-step DDIM grid at or
            below ``t*`` and walk that grid down (then to 0).
        steps : int
            DDIM steps over the whole schedule ``T``.

        Returns
        -------
        numpy.ndarray of float
            Timesteps, first the start, last 0 (a single 0 when there is nothing to denoise).
        """
        _check_choice(rule, ("exact", "grid"), "rule")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        abars = self.alphas_cumprod
        t_star = matched_timestep(_check_snr(snr_db), abars)
        if rule == "exact":
            n = max(1, math.ceil(steps * t_star / abars.size)) if t_star > 0 else 0
            return np.linspace(t_star, 0.0, n + 1)
        grid = self.inference_grid(steps)
        start = grid_timestep(snr_db, abars, grid)
        ts = grid[grid <= start][::-1].astype(float)
        return ts if ts[-1] == 0 else np.append(ts, 0.0)

    @torch.no_grad()
    def denoise(self, x_t: torch.Tensor, timesteps, captions, *, guidance_scale: float = 1.0) -> torch.Tensor:
        """Deterministic DDIM along ``timesteps`` (decreasing, ending at 0), conditioned on the prompts.

        ``abar`` at each (possibly fractional) timestep comes from :func:`alpha_bar_at`.

        Parameters
        ----------
        x_t : torch.Tensor
            Latents on the forward marginal at ``timesteps[0]``, shape (B, 4, 16, 16).
        timesteps : array-like of float
            From the start down to 0 (:meth:`schedule`).
        captions : list of str
            One prompt per latent (sent with the symbols).
        guidance_scale : float
            Classifier-free guidance (1: the conditional prediction alone).

        Returns
        -------
        torch.Tensor
            The clean-latent estimate, shape (B, 4, 16, 16).
        """
        if len(captions) != x_t.shape[0]:
            raise ValueError(f"need one caption per latent: {len(captions)} captions, {x_t.shape[0]} latents")
        abars = self.alphas_cumprod
        ts = np.asarray(timesteps, dtype=float)
        if len(ts) < 2:
            return x_t / math.sqrt(alpha_bar_at(0.0, abars))
        pipe = self.pipe
        guided = guidance_scale > 1
        cond = pipe.encode_prompt(list(captions), x_t.device, 1, guided)
        emb = torch.cat([cond[1], cond[0]]) if guided else cond[0]
        x = x0 = x_t
        for i in range(len(ts) - 1):
            a, a_next = alpha_bar_at(ts[i], abars), alpha_bar_at(ts[i + 1], abars)
            inp = torch.cat([x, x]) if guided else x
            t = torch.full((inp.shape[0],), float(ts[i]), device=x.device)
            eps = pipe.unet(inp, t, encoder_hidden_states=emb).sample
            if guided:
                e_u, e_c = eps.chunk(2)
                eps = e_u + guidance_scale * (e_c - e_u)
            x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
            x = math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * eps
        return x0

    @torch.no_grad()
    def transmit(self, images: np.ndarray, captions, *, method: str, snr_db: float, rate: float,
                 channel: str = "awgn", variant: str = "matched", rule: str = "exact", seed: int = 0,
                 steps: int = 20, guidance_scale: float = 1.0) -> np.ndarray:
        """Send a batch of images over the channel by one method; return the recovered images.

        Parameters
        ----------
        images : numpy.ndarray of uint8, shape (N, 64, 64, 3)
            The sender's images.
        captions : list of str
            Their prompts (the diffusion receiver's conditioning; sent with the symbols).
        method : {"diffusion", "latent", "djscc"}
            The system (module docstring).
        snr_db : float
            The channel's (average) SNR in dB.
        rate : float
            Channel uses per pixel, one of :data:`~gsemlab.channel_diffusion.modules.RATES`.
        channel : {"awgn", "rayleigh"}
            The channel (:func:`send`).
        variant : {"matched", "random"}
            Which trained up/downsampler pair (the variance target at the channel's SNR or at random).
        rule : {"exact", "grid"}
            The start of the denoiser: the interpolated ``t*``, or the official rule on the DDIM grid (:meth:`schedule`).
        seed : int
            Seed of the noise, the fading and the reparameterisation.
        steps : int
            DDIM steps per full schedule (:meth:`denoise`).
        guidance_scale : float
            Classifier-free guidance of the denoiser.

        Returns
        -------
        numpy.ndarray of uint8, shape (N, 64, 64, 3)
        """
        _check_choice(method, METHODS, "method")
        _check_choice(channel, CHANNELS, "channel")
        _check_choice(variant, VARIANTS, "variant")
        _check_choice(rule, ("exact", "grid"), "rule")
        snr_db, rate = _check_snr(snr_db), check_rate(rate)
        x = _images_to_tensor(images)
        captions = list(captions)
        if len(captions) != x.shape[0] or not all(isinstance(c, str) for c in captions):
            raise ValueError(f"captions must be {x.shape[0]} strings, one per image")
        g = torch.Generator().manual_seed(int(seed))
        snr = torch.full((x.shape[0],), snr_db)
        if method == "djscc":
            return tensor_to_images(self.djscc.decode(send(self.djscc.encode(x, rate), snr_db, channel=channel,
                                                          generator=g), snr))
        z = self.latents(images)
        mu, logvar = self.up[variant](send(self.down[variant](z, rate), snr_db, channel=channel, generator=g), snr)
        if method == "latent":
            return self.decode(mu)
        z_hat = mu + torch.randn(mu.shape, generator=g) * (0.5 * logvar).exp()
        ts = self.schedule(snr_db, rule=rule, steps=steps)
        x_t = z_hat * math.sqrt(alpha_bar_at(ts[0], self.alphas_cumprod))
        return self.decode(self.denoise(x_t, ts, captions, guidance_scale=guidance_scale))


def _load_module(cls, name: str):
    from safetensors.torch import load_file

    path = BUNDLE_DIR / f"{name}.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: retrain with `python -m gsemlab.training cdiff` "
                                f"(or reinstall gsemlab)")
    m = cls()
    m.load_state_dict(load_file(str(path)))
    return m.eval()


@lru_cache(maxsize=1)
def pretrained() -> ChannelDiffusion:
    """The bundled modules (``gsemlab/data/channel_diffusion``) with the toy pipeline, on the CPU."""
    from ..models import load_backend

    info_path = BUNDLE_DIR / "training.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    down = {v: _load_module(Downsampler, f"down_{v}") for v in VARIANTS}
    up = {v: _load_module(Upsampler, f"up_{v}") for v in VARIANTS}
    pipe = load_backend("toy", metrics=False, device="cpu").pipe
    return ChannelDiffusion(pipe, down, up, _load_module(DeepJSCC, "djscc"), info)


def heldout_images(n_images: int, seed: int = 0):
    """ShapesWorld test-split renders and their captions (never seen in training).

    Parameters
    ----------
    n_images : int
        How many scenes.
    seed : int
        Scene seed (:func:`gsemlab.toyworld.sample_scenes`).

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n_images, 64, 64, 3)
    captions : list of str
    """
    from ..toyworld.world import render_batch, sample_scenes

    scenes = sample_scenes(n_images, seed=seed, split="test")
    return render_batch(scenes), [s.caption for s in scenes]


def lpips_metric():
    """pyiqa's LPIPS (the paper's perceptual metric) when pyiqa and its weights are present, else None.

    LPIPS needs backbone weights that the course cannot download offline; with the ``[hub]`` extra and
    the weights in pyiqa's cache it is computed beside ToySim. Any failure to load means "absent".
    """
    import importlib.util

    if importlib.util.find_spec("pyiqa") is None:
        return None
    try:
        import pyiqa

        return pyiqa.create_metric("lpips", device="cpu", as_loss=False)
    except Exception:  # noqa: BLE001 - no weights, no network, an incompatible torchvision: not available
        return None


def evaluate(method: str, *, snr_db: float, rate: float, n_images: int = 64, seed: int = 0,
             channel: str = "awgn", variant: str = "matched", rule: str = "exact", steps: int = 20,
             guidance_scale: float = 1.0, lpips: bool | None = None) -> dict:
    """PSNR, SSIM and ToySim distance of one method on held-out ShapesWorld images.

    Parameters
    ----------
    method : {"diffusion", "latent", "djscc"}
        The system (:meth:`ChannelDiffusion.transmit`).
    snr_db : float
        Channel SNR in dB.
    rate : float
        Channel uses per pixel, one of :data:`~gsemlab.channel_diffusion.modules.RATES`.
    n_images : int
        Held-out test-split renders (scene seed ``seed``).
    seed : int
        Seed of the scenes and of the channel noise.
    channel, variant, rule, steps, guidance_scale
        As in :meth:`ChannelDiffusion.transmit`.
    lpips : bool, optional
        Also score real LPIPS (:func:`lpips_metric`): ``None`` when its weights are present, ``True``
        always (an error when they are not), ``False`` never.

    Returns
    -------
    dict
        ``psnr_db``, ``ssim``, ``toysim`` (means over images) and their standard errors ``*_se``, with
        ``n_images`` and the settings; ``lpips`` and ``lpips_se`` too when LPIPS was scored.
    """
    from ..toyworld.nets import image_scores, mean_and_se

    _check_choice(method, METHODS, "method")
    snr_db, rate = _check_snr(snr_db), check_rate(rate)
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 2:
        raise ValueError(f"n_images must be an int >= 2, got {n_images!r}")
    if lpips not in (None, True, False):
        raise TypeError(f"lpips must be None, True or False, got {lpips!r}")
    metric = lpips_metric() if lpips is not False else None
    if lpips is True and metric is None:
        raise RuntimeError("LPIPS is not available: install the [hub] extra and put pyiqa's LPIPS weights "
                           "in its cache (they cannot be downloaded offline)")
    images, captions = heldout_images(n_images, seed)
    out = pretrained().transmit(images, captions, method=method, snr_db=snr_db, rate=rate, channel=channel,
                                variant=variant, rule=rule, seed=seed, steps=steps, guidance_scale=guidance_scale)
    extra = {}
    if metric is not None:
        with torch.no_grad():
            to01 = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255.0
            lp = metric(to01(out), to01(images)).reshape(-1).numpy()
        extra["lpips"], extra["lpips_se"] = mean_and_se(lp)
    return {**extra, "method": method, "snr_db": snr_db, "rate": rate, "channel": channel, "variant": variant,
            "rule": rule, "n_images": n_images, **image_scores(images, out)}
