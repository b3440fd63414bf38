"""Training of the toy VAE (stage ``vae``), its decoder (stage ``decoder``), and the encoded training set.

The VAE (:func:`gsemlab.training.sd.build_vae`) maps 64x64 renders to 16x16x4 latents. It is trained
first, on reconstruction of the decoded posterior mean; the UNet is then trained on the posterior means
of the training renders (:func:`stage_latents`), and the decoder alone is fine-tuned (the encoder frozen,
so those latents do not change and the ``decoder`` stage can run beside the ``unet`` stage).
"""
from __future__ import annotations

import math
import os
import time

import numpy as np
import torch

from ..toyworld.world import render_batch, sample_scenes
from . import sd
from .common import fit, load_ckpt, log, save_ckpt, stage_data

__all__ = ["load_vae", "stage_decoder", "stage_latents", "stage_vae"]

#: weight of the KL divergence (per latent element) in the VAE's loss
KL_WEIGHT = 1e-5


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _psnr_db(y, x) -> float:
    """PSNR in dB of reconstructions ``y`` against images ``x``, both in [-1, 1] (``y`` is clamped)."""
    mse = (y.clamp(-1, 1) - x).pow(2).mean().item() / 4.0  # on the [0, 1] scale
    return 10 * math.log10(1 / max(mse, 1e-12))


def _validate_vae(vae):
    """Posterior means of 256 validation renders and the PSNR of their reconstructions (dB)."""
    val = _to_tensor(render_batch(sample_scenes(256, seed=1, split="val")))
    with torch.no_grad():
        z = vae.encode(val).latent_dist.mean
        return z, _psnr_db(vae.decode(z).sample, val)


def stage_vae(cache: str, steps: int, minutes: float, batch: int, seed: int = 0) -> None:
    """Train the AutoencoderKL on training renders.

    The loss is the L1 plus the squared error of the decoded posterior mean against the render, plus
    ``KL_WEIGHT`` x the KL divergence per latent element (a weak pull that keeps the latents bounded).
    The finished checkpoint ``vae.pt`` stores the latents' scaling factor (1 / std of the validation
    renders' posterior means) and the validation PSNR.

    Parameters
    ----------
    cache : str
        The cache folder.
    steps, minutes : int, float
        Step and wall-time budget.
    batch : int
        Renders per step.
    seed : int
        Seed of the initial weights and of the batches.
    """
    path = os.path.join(cache, "vae.pt")
    ck = load_ckpt(path)
    if ck is not None and ck.get("done"):
        return
    images = stage_data(cache)["images"]
    torch.manual_seed(seed)
    vae = sd.build_vae()
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)

    def batch_loss(rng):
        x = _to_tensor(images[np.sort(rng.choice(len(images), batch, replace=False))])
        post = vae.encode(x).latent_dist
        y = vae.decode(post.mean).sample  # the posterior mean: the UNet is trained on means too
        kl = post.kl().mean() / (16 * 16 * 4)  # per latent element
        loss = (y - x).abs().mean() + (y - x).pow(2).mean() + KL_WEIGHT * kl
        return loss, f"psnr {_psnr_db(y, x):.2f} dB kl {kl.item():.3f}"

    vae.train()
    step, budget = fit(cache, "vae", path, ck, vae, opt, batch_loss, steps, minutes, seed,
                       lr=1e-3, warmup=100)
    vae.eval()
    z, psnr = _validate_vae(vae)  # latent statistics and validation PSNR
    scale = float(1.0 / z.std())
    save_ckpt({"model": vae.state_dict(), "step": step, "elapsed": budget.elapsed, "done": True,
               "scaling_factor": scale, "val_psnr": psnr}, path)
    log(cache, "vae", f"done: {step} steps, {budget.elapsed / 60:.1f} min, val PSNR {psnr:.2f} dB, "
        f"scaling factor {scale:.4f}")


def load_vae(cache: str, decoder: bool = True):
    """The trained VAE; with ``decoder``, its decoder replaced by the fine-tuned one when present.

    Returns
    -------
    vae : diffusers.AutoencoderKL
        In eval mode, with the trained scaling factor.
    ck : dict
        The VAE stage's checkpoint.
    """
    ck = load_ckpt(os.path.join(cache, "vae.pt"))
    if ck is None or not ck.get("done"):
        raise RuntimeError("train the VAE first: python -m gsemlab.training vae")
    vae = sd.build_vae(scaling_factor=ck["scaling_factor"])
    vae.load_state_dict(ck["model"])
    dk = load_ckpt(os.path.join(cache, "decoder.pt")) if decoder else None
    if dk is not None and dk.get("done"):
        vae.load_state_dict(dk["model"])
    return vae.eval(), ck


def stage_decoder(cache: str, steps: int, minutes: float, batch: int, seed: int = 1) -> None:
    """Fine-tune the VAE's decoder only (L1 + squared error), the encoder frozen.

    The latents the UNet is trained on do not change, so this can run beside the UNet stage.
    Parameters as :func:`stage_vae`; writes ``decoder.pt``.
    """
    path = os.path.join(cache, "decoder.pt")
    ck = load_ckpt(path)
    if ck is not None and ck.get("done"):
        return
    vae, _ = load_vae(cache, decoder=False)
    images = stage_data(cache)["images"]
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    vae.requires_grad_(False)
    for q in params:
        q.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.0)

    def batch_loss(rng):
        x = _to_tensor(images[np.sort(rng.choice(len(images), batch, replace=False))])
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mean
        y = vae.decode(z).sample
        return (y - x).abs().mean() + (y - x).pow(2).mean(), f"psnr {_psnr_db(y, x):.2f} dB"

    vae.decoder.train()
    step, budget = fit(cache, "decoder", path, ck, vae, opt, batch_loss, steps, minutes, seed,
                       lr=5e-4, warmup=50)
    vae.eval()
    _, psnr = _validate_vae(vae)
    save_ckpt({"model": vae.state_dict(), "step": step, "elapsed": budget.elapsed, "done": True,
               "val_psnr": psnr}, path)
    log(cache, "decoder", f"done: {step} steps, {budget.elapsed / 60:.1f} min, val PSNR {psnr:.2f} dB")


def stage_latents(cache: str) -> str:
    """Encode the training renders once (posterior mean and std, float16) to ``train_latents.npz``.

    Returns
    -------
    str
        The file's path (arrays ``mean`` and ``std``, each (N, 4, 16, 16)).
    """
    path = os.path.join(cache, "train_latents.npz")
    if os.path.exists(path):
        return path
    vae, _ = load_vae(cache)
    images = stage_data(cache)["images"]
    means, stds = [], []
    t = time.time()
    with torch.no_grad():
        for i in range(0, len(images), 256):
            post = vae.encode(_to_tensor(images[i:i + 256])).latent_dist
            means.append(post.mean.half().numpy())
            stds.append(post.std.half().numpy())
    np.savez(path[:-4] + ".tmp.npz", mean=np.concatenate(means), std=np.concatenate(stds))
    os.replace(path[:-4] + ".tmp.npz", path)
    log(cache, "unet", f"encoded {len(images)} latents in {time.time() - t:.1f} s")
    return path
