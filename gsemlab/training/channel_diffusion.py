"""Training of the channel-as-diffusion modules (chapter 10): stages ``cdiff``, ``cdiff-random``, ``djscc``.

``python -m gsemlab.training cdiff-all`` runs them all and exports the weights to
``gsemlab/data/channel_diffusion`` (about 30 minutes on 2 cores). Each stage resumes from its checkpoint
in the cache folder.

The loss of the latent path (the chapter derives it). For a latent ``z`` the downsampler's Gaussian code
``q(c | z) = N(m, v)`` is sampled, power-normalised and sent; the upsampler returns
``q(z_hat | y) = N(mu, sigma^2)``. The target of ``z_hat`` is the forward marginal of the diffusion in
unscaled units, ``N(z, s^2)`` with ``s^2 = 1 / SNR`` (variant ``matched``: the channel's SNR of the
sample) or ``s^2 = (1 - abar_t) / abar_t`` at a timestep ``t`` drawn uniformly over the range the SNRs
0-20 dB span (variant ``random``: the variance is learned without reference to the channel). Then

    KL(N(mu, sigma^2) || N(z, s^2)) = (mu - z)^2 / (2 s^2) + [log(s / sigma) + sigma^2 / (2 s^2) - 1/2]

whose first term is the reconstruction; we weight it as a plain mean squared error (so that the high-SNR
samples do not swamp the rest) and keep the bracket as the variance term, and add
``CODE_KL`` x KL(N(m, v) || N(0, 1)), which keeps the code Gaussian.

Deep JSCC trains on pixels over the same channels with the mean squared error. Both draw the rate from
``RATES``, the SNR uniformly in 0-20 dB per image and the channel (AWGN or Rayleigh block fading) per
batch.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import torch

from ..channel_diffusion.modules import RATES, DeepJSCC, Downsampler, Upsampler
from ..channel_diffusion.schedule import alpha_bar_at, matched_timestep
from ..channel_diffusion.system import BUNDLE_DIR, CHANNELS, send
from ..toyworld.world import render_batch, sample_scenes
from .common import finish, load_ckpt, log, resume

__all__ = ["CODE_KL", "DEFAULTS", "N_IMAGES", "export", "stage_data", "stage_djscc", "stage_latent"]

#: training renders (train split, seed 11)
N_IMAGES = 16384
#: weight of the code's KL term in the loss
CODE_KL = 1e-3
#: training SNRs (dB, uniform)
SNR_DB = (0.0, 20.0)
#: stage -> (steps, minutes, batch)
DEFAULTS = {"cdiff": (20000, 8.0, 64), "cdiff-random": (20000, 8.0, 64), "djscc": (20000, 20.0, 32)}


def _add_data_seconds(cache: str, key: str, seconds: float) -> None:
    path = os.path.join(cache, "cdiff_data.json")
    times = {}
    if os.path.exists(path):
        with open(path) as f:
            times = json.load(f)
    times[key] = round(seconds, 1)
    with open(path, "w") as f:
        json.dump(times, f)


def stage_data(cache: str) -> dict:
    """Render the training images and VAE-encode them once (``cdiff_images.npy``, ``cdiff_latents.pt``)."""
    img_path, lat_path = os.path.join(cache, "cdiff_images.npy"), os.path.join(cache, "cdiff_latents.pt")
    if not os.path.exists(img_path):
        t = time.time()
        images = render_batch(sample_scenes(N_IMAGES, seed=11, split="train"))
        np.save(img_path + ".tmp.npy", images)
        os.replace(img_path + ".tmp.npy", img_path)
        log(cache, "cdiff", f"rendered {N_IMAGES} images in {time.time() - t:.0f} s")
        _add_data_seconds(cache, "render_s", time.time() - t)
    images = np.load(img_path, mmap_mode="r")
    if not os.path.exists(lat_path):
        from ..models import load_backend

        t = time.time()
        vae = load_backend("toy", metrics=False, device="cpu").pipe.vae
        out = []
        with torch.no_grad():
            for i in range(0, len(images), 256):
                x = torch.from_numpy(np.array(images[i:i + 256])).permute(0, 3, 1, 2).float().div(127.5).sub(1)
                out.append(vae.encode(x).latent_dist.mean * vae.config.scaling_factor)
        torch.save(torch.cat(out), lat_path + ".tmp")
        os.replace(lat_path + ".tmp", lat_path)
        log(cache, "cdiff", f"encoded {N_IMAGES} latents in {time.time() - t:.0f} s")
        _add_data_seconds(cache, "encode_s", time.time() - t)
    return {"images": images, "latents": torch.load(lat_path)}


def _draws(rng: np.random.Generator, batch: int):
    rate = RATES[rng.integers(len(RATES))]
    snr = torch.from_numpy(rng.uniform(*SNR_DB, batch).astype(np.float32))
    channel = CHANNELS[rng.integers(len(CHANNELS))]
    return rate, snr, channel, torch.Generator().manual_seed(int(rng.integers(2**31)))


class _Pair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.down, self.up = Downsampler(), Upsampler()


def latent_loss(pair, z, rate, snr, channel, generator, s2):
    """The latent path's loss of one batch (module docstring); returns (loss, rec, var, code) tensors."""
    sym, mean, logvar_c = pair.down.sample(z, rate, generator=generator)
    mu, logvar = pair.up(send(sym, snr, channel=channel, generator=generator), snr)
    s2 = s2.reshape(-1, 1, 1, 1)
    rec = (mu - z).pow(2).mean()
    var = (0.5 * (s2.log() - logvar) + logvar.exp() / (2 * s2) - 0.5).mean()
    code_kl = (0.5 * (mean.pow(2) + logvar_c.exp() - 1 - logvar_c)).mean()
    return rec + var + CODE_KL * code_kl, rec, var, code_kl


def stage_latent(cache: str, steps: int, minutes: float, batch: int, *, variant: str = "matched",
                 seed: int = 0) -> None:
    """Train the downsampler and upsampler of one variant (``matched`` or ``random``).

    Parameters
    ----------
    cache : str
        The cache folder (checkpoints, the training data).
    steps, minutes, batch : int, float, int
        Step budget, wall-time budget and batch size (:class:`~gsemlab.training.common.Budget`).
    variant : {"matched", "random"}
        The variance target (module docstring).
    seed : int
        Seed of the initialisation and the batches.
    """
    name = "cdiff" if variant == "matched" else "cdiff-random"
    state = resume(cache, name)
    if state is None:
        return
    data = stage_data(cache)
    latents = data["latents"]
    from ..models import load_backend

    abars = load_backend("toy", metrics=False, device="cpu").pipe.scheduler.alphas_cumprod.double().numpy()
    t_lo, t_hi = matched_timestep(SNR_DB[1], abars), matched_timestep(SNR_DB[0], abars)
    torch.manual_seed(seed)
    pair = _Pair()
    opt = torch.optim.AdamW(pair.parameters(), lr=2e-3, weight_decay=1e-4)

    def batch_loss(rng):
        idx = torch.from_numpy(rng.integers(0, latents.shape[0], batch))
        rate, snr, channel, g = _draws(rng, batch)
        if variant == "matched":
            s2 = torch.pow(10.0, -snr / 10.0)
        else:
            a = torch.from_numpy(np.asarray(alpha_bar_at(rng.uniform(t_lo, t_hi, batch), abars), np.float32))
            s2 = (1 - a) / a
        loss, rec, var, code = latent_loss(pair, latents[idx], rate, snr, channel, g, s2)
        return loss, f"rec {rec.item():.4f} var {var.item():.4f} code {code.item():.3f}"

    finish(cache, name, *state, pair, opt, batch_loss, steps, minutes, seed, lr=2e-3, warmup=200)


def stage_djscc(cache: str, steps: int, minutes: float, batch: int, *, seed: int = 0) -> None:
    """Train the deep-JSCC baseline on the training renders.

    Parameters
    ----------
    cache : str
        The cache folder (checkpoints, the training data).
    steps, minutes, batch : int, float, int
        Step budget, wall-time budget and batch size (:class:`~gsemlab.training.common.Budget`).
    seed : int
        Seed of the initialisation and the batches.
    """
    state = resume(cache, "djscc")
    if state is None:
        return
    images = stage_data(cache)["images"]
    torch.manual_seed(seed)
    model = DeepJSCC()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def batch_loss(rng):
        idx = np.sort(rng.integers(0, images.shape[0], batch))
        x = torch.from_numpy(np.array(images[idx])).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        rate, snr, channel, g = _draws(rng, batch)
        out = model.decode(send(model.encode(x, rate), snr, channel=channel, generator=g), snr)
        loss = (out - x).pow(2).mean()
        return loss, ""

    finish(cache, "djscc", *state, model, opt, batch_loss, steps, minutes, seed, lr=1e-3, warmup=200)


def export(cache: str, out: str | None = None) -> dict:
    """Write the trained modules as safetensors and ``training.json`` into ``out`` (the bundle folder)."""
    from safetensors.torch import save_file

    out = str(out or BUNDLE_DIR)
    os.makedirs(out, exist_ok=True)
    info = {}
    for name, variant in (("cdiff", "matched"), ("cdiff-random", "random")):
        ck = load_ckpt(os.path.join(cache, f"{name}.pt"))
        if ck is None:
            raise FileNotFoundError(f"no checkpoint for stage {name} in {cache}: run it first")
        sd = ck["model"]
        save_file({k[5:]: v.contiguous() for k, v in sd.items() if k.startswith("down.")},
                  os.path.join(out, f"down_{variant}.safetensors"))
        save_file({k[3:]: v.contiguous() for k, v in sd.items() if k.startswith("up.")},
                  os.path.join(out, f"up_{variant}.safetensors"))
        info[name] = {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2)}
    ck = load_ckpt(os.path.join(cache, "djscc.pt"))
    if ck is None:
        raise FileNotFoundError(f"no checkpoint for stage djscc in {cache}: run it first")
    save_file({k: v.contiguous() for k, v in ck["model"].items()}, os.path.join(out, "djscc.safetensors"))
    info["djscc"] = {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2)}
    info["n_images"] = N_IMAGES
    data_path = os.path.join(cache, "cdiff_data.json")
    if os.path.exists(data_path):  # rendering and encoding the training set, once
        with open(data_path) as f:
            info["data"] = {"minutes": round(sum(json.load(f).values()) / 60, 2)}
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=2)
    return info
