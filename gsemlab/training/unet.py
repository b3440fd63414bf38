"""Training of the toy UNet and text encoder (stage ``unet``), and the exported pipeline (stage ``export``).

The UNet and the text encoder are trained jointly with the DDPM loss (Eq. 4) on the posterior means of
the training renders (:func:`gsemlab.training.autoencoder.stage_latents`), with caption dropout for
classifier-free guidance, EMA weights, and the grounding loss of :mod:`gsemlab.training.attnloss` on the
cross-attention maps. :func:`build_pipeline` assembles a diffusers ``StableDiffusionPipeline`` from the
cached checkpoints; :func:`export_pipeline` saves it.
"""
from __future__ import annotations

import copy
import os
import re
import time

import numpy as np
import torch

from ..guidance import install_grounding
from ..progress import progress_bar
from ..toyworld.world import sample_scenes
from . import attnloss, sd
from .autoencoder import load_vae, stage_latents
from .common import Budget, load_ckpt, log, min_snr_loss, save_ckpt, stage_data

__all__ = ["build_pipeline", "export_pipeline", "stage_regions", "stage_unet", "unet_history"]


def stage_regions(cache: str) -> str:
    """Where each caption token of the training scenes lies, once, to ``train_regions.npz``.

    Returns
    -------
    str
        The file's path: ``codes`` uint8 (N, 32) from :func:`attnloss.token_regions`, ``objects`` uint8
        (N, 3, 16, 16) from :func:`attnloss.object_fractions`.
    """
    path = os.path.join(cache, "train_regions.npz")
    if os.path.exists(path):
        return path
    captions = stage_data(cache)["captions"]
    t = time.time()
    scenes = sample_scenes(len(captions), seed=0, split="train")
    if [s.caption for s in scenes] != captions:
        raise RuntimeError(f"{cache}: train_captions.json does not match sample_scenes(seed=0); "
                           "delete the cache")
    tok = sd.build_tokenizer()
    codes = np.stack([attnloss.token_regions(s, tok.tokenize(s.caption), sd.MAX_LENGTH) for s in scenes])
    objects = np.stack([attnloss.object_fractions(s) for s in scenes])
    np.savez(path[:-4] + ".tmp.npz", codes=codes, objects=objects)
    os.replace(path[:-4] + ".tmp.npz", path)
    log(cache, "unet", f"token regions of {len(scenes)} scenes in {time.time() - t:.1f} s")
    return path


def stage_unet(cache: str, steps: int, minutes: float, batch: int, seed: int = 0, p_uncond: float = 0.1,
               attn_weight: float = 0.02, pixel_weight: float = 0.5) -> None:
    """Train the UNet and the text encoder jointly.

    The loss is the DDPM loss (Eq. 4, epsilon prediction, min-SNR-5 weighting) plus ``attn_weight`` x
    the grounding loss of :mod:`attnloss` on the cross-attention maps; EMA weights are kept beside the
    trained ones. A finished stage continues only when asked for a larger budget; touching
    ``<cache>/unet.stop`` ends it early, cleanly.

    Parameters
    ----------
    cache : str
        The cache folder (needs the ``vae`` stage done).
    steps, minutes : int, float
        Step and wall-time budget.
    batch : int
        Latents per step.
    seed : int
        Seed of the initial weights and of the batches.
    p_uncond : float
        Probability of replacing a caption by the empty one (caption dropout, for classifier-free
        guidance).
    attn_weight : float
        Weight of the grounding loss; 0 turns it off (and leaves the UNet's processors alone).
    pixel_weight : float
        Weight of the grounding loss's pixel term against its token term.
    """
    path = os.path.join(cache, "unet.pt")
    ck = load_ckpt(path)
    if ck is not None and ck.get("done") and (ck["step"] >= steps or ck["elapsed"] >= minutes * 60.0):
        return  # a finished stage continues only when asked for a larger budget (--minutes/--steps)
    lmean = torch.from_numpy(np.load(stage_latents(cache))["mean"])  # stage_latents checks the VAE is trained
    sf = load_ckpt(os.path.join(cache, "vae.pt"))["scaling_factor"]
    captions = stage_data(cache)["captions"]
    tok = sd.build_tokenizer()
    ids = tok(captions, padding="max_length", max_length=sd.MAX_LENGTH, truncation=True,
              return_tensors="pt").input_ids
    empty = tok([""], padding="max_length", max_length=sd.MAX_LENGTH, return_tensors="pt").input_ids[0]
    if attn_weight > 0:
        reg = np.load(stage_regions(cache))
        codes, objects = torch.from_numpy(reg["codes"]), torch.from_numpy(reg["objects"])
    torch.manual_seed(seed)
    text = sd.build_text_encoder(len(tok))
    unet = sd.build_unet()
    procs = install_grounding(unet) if attn_weight > 0 else []
    params = list(unet.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=6e-4, weight_decay=1e-2)
    ema_u, ema_t = copy.deepcopy(unet).requires_grad_(False), copy.deepcopy(text).requires_grad_(False)
    sched = sd.build_train_scheduler()
    acp = sched.alphas_cumprod
    step, elapsed = 0, 0.0
    if ck is not None:
        for module, key in ((unet, "unet"), (text, "text"), (opt, "opt"), (ema_u, "ema_unet"),
                            (ema_t, "ema_text")):
            module.load_state_dict(ck[key])
        step, elapsed = ck["step"], ck["elapsed"]
    budget = Budget(steps, minutes, elapsed)
    budget.stop_file = os.path.join(cache, "unet.stop")  # touch it to end the stage early, cleanly
    gen = torch.Generator().manual_seed(seed * 1000003 + step)

    def state() -> dict:
        return {"unet": unet.state_dict(), "text": text.state_dict(), "opt": opt.state_dict(),
                "ema_unet": ema_u.state_dict(), "ema_text": ema_t.state_dict(), "step": step,
                "elapsed": budget.elapsed}

    log(cache, "unet", f"start at step {step}: unet {sum(p.numel() for p in unet.parameters())} "
        f"text {sum(p.numel() for p in text.parameters())} parameters, grounding weight {attn_weight} "
        f"(pixel term {pixel_weight})")
    unet.train()
    text.train()
    avg = avg_g = None
    sink: list = []
    for pr in procs:
        pr.sink = sink
    bar = progress_bar(total=max(steps, step), initial=step, desc="unet", unit="step")
    while not budget.done(step):
        lr = budget.cosine(6e-4, step, warmup=300)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(lmean), (batch,), generator=gen)
        z0 = lmean[idx].float() * sf
        tid = ids[idx].clone()
        drop = torch.rand(batch, generator=gen) < p_uncond
        tid[drop] = empty
        t = torch.randint(0, sched.config.num_train_timesteps, (batch,), generator=gen)
        noise = torch.randn(z0.shape, generator=gen)
        zt = sched.add_noise(z0, noise, t)
        sink.clear()
        pred = unet(zt, t, text(tid)[0]).sample
        loss = min_snr_loss(pred, noise, t, acp)  # min-SNR-5 weights for epsilon prediction
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()  # the denoising loss
        if procs:
            keep = (codes[idx] > 0) & ~drop[:, None]
            g = attnloss.grounding_loss(sink, attnloss.region_masks(codes[idx], objects[idx]), keep,
                                        pixel_weight=pixel_weight)
            avg_g = g.item() if avg_g is None else 0.98 * avg_g + 0.02 * g.item()
            loss = loss + attn_weight * g
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        d = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for m_ema, m in ((ema_u, unet), (ema_t, text)):
                for pe, p in zip(m_ema.parameters(), m.parameters()):
                    pe.lerp_(p, 1 - d)
        bar.update(1)
        if step % 50 == 0:
            log(cache, "unet", f"step {step} loss {avg:.4f} grounding {avg_g or 0:.4f} "
                f"{budget.elapsed / 60:.1f} min ({step / max(budget.elapsed, 1e-9):.2f} steps/s overall)")
        if budget.checkpoint_due():
            save_ckpt(state(), path)
    bar.close()
    save_ckpt({**state(), "done": True}, path)
    log(cache, "unet", f"done: {step} steps, {budget.elapsed / 60:.1f} min")


def build_pipeline(cache: str, ema: bool = True):
    """Assemble a StableDiffusionPipeline from the cached VAE and UNet checkpoints.

    Parameters
    ----------
    cache : str
        The cache folder (needs the ``vae`` and ``unet`` stages).
    ema : bool
        Use the EMA weights of the UNet and text encoder (True) or the trained ones.

    Returns
    -------
    diffusers.StableDiffusionPipeline
        With diffusers' own attention processors, the VAE's posterior collapsed to its mean
        (:func:`sd.collapse_posterior`) and the 25-step DDIM sampler.
    """
    from diffusers import StableDiffusionPipeline

    vae, _ = load_vae(cache)
    ck = load_ckpt(os.path.join(cache, "unet.pt"))
    if ck is None:
        raise RuntimeError("train the UNet first: python -m gsemlab.training unet")
    tok = sd.build_tokenizer()
    text, unet = sd.build_text_encoder(len(tok)), sd.build_unet()
    text.load_state_dict(ck["ema_text" if ema else "text"])
    unet.load_state_dict(ck["ema_unet" if ema else "unet"])
    sd.collapse_posterior(vae)  # the inpainting pipeline samples the posterior: make it the mean
    return StableDiffusionPipeline(vae=vae, text_encoder=text.eval(), tokenizer=tok, unet=unet.eval(),
                                   scheduler=sd.build_sample_scheduler(), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


def unet_history(cache: str) -> list[dict]:
    """The UNet stage's runs, read from ``unet.log``: for each (re)start, its first step, the minutes
    trained before it (from the last logged step) and the settings its start line printed."""
    runs, minutes = [], 0.0
    path = os.path.join(cache, "unet.log")
    lines = []
    if os.path.exists(path):
        with open(path) as f:
            lines = f.readlines()
    for line in lines:
        m = re.search(r"start at step (\d+): .*?parameters,? ?(.*)$", line.strip())
        if m:
            runs.append({"from_step": int(m.group(1)), "from_minute": round(minutes, 1),
                         "settings": m.group(2) or "no grounding loss"})
            continue
        m = re.search(r"(?:step \d+ loss .* |done: \d+ steps, )([\d.]+) min", line)
        if m:
            minutes = float(m.group(1))
    merged = []
    for r in runs:  # a resume with the same settings continues the same run
        if not (merged and merged[-1]["settings"] == r["settings"]):
            merged.append(r)
    return merged


def export_pipeline(cache: str, out: str) -> str:
    """Save the pipeline (safetensors) to ``<out>/toy-sd``."""
    pipe = build_pipeline(cache)
    target = os.path.join(out, "toy-sd")
    pipe.save_pretrained(target, safe_serialization=True)
    return target
