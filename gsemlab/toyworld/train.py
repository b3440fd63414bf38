"""Train the bundled ShapesWorld model family from scratch, resumably, on CPU.

Usage::

    python -m gsemlab.toyworld.train all   # shapes, vae, unet, decoder, toysim, toynima, export
    python -m gsemlab.toyworld.train unet --minutes 60 --steps 6000
    GSEMLAB_TOY_CACHE=/tmp/toy python -m gsemlab.toyworld.train vae

Every stage checkpoints to the cache folder (``--cache-dir``, else ``$GSEMLAB_TOY_CACHE``, else
``~/.cache/gsemlab/toy``) every few minutes and resumes from there when re-run; a stage whose
checkpoint says "done" is skipped.  Each stage stops at its step budget or its time budget
(whichever comes first; the time already spent is stored in the checkpoint).  ``export`` writes
the final weights into ``gsemlab/data/`` (or ``--out``).  The UNet stage adds a grounding loss on
the cross-attention maps (`gsemlab.toyworld.attnloss`, ``--attn-weight``, 0 turns it off).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
DEFAULTS = {  # stage -> (steps, minutes, batch)
    "shapes": (1500, 4.0, 64),
    "vae": (6000, 12.0, 8),
    "unet": (20000, 70.0, 16),
    "decoder": (6000, 25.0, 8),
    "toysim": (3000, 10.0, 32),
    "toynima": (3000, 10.0, 64),
}
N_TRAIN = 60000


def cache_dir(path: str | None = None) -> str:
    """The training cache folder (created if missing)."""
    path = path or os.environ.get("GSEMLAB_TOY_CACHE") or os.path.expanduser("~/.cache/gsemlab/toy")
    os.makedirs(path, exist_ok=True)
    return path


def log(cache: str, stage: str, msg: str) -> None:
    """Print and append a line to ``<cache>/<stage>.log``."""
    line = f"{time.strftime('%H:%M:%S')} {stage}: {msg}"
    print(line, flush=True)
    with open(os.path.join(cache, f"{stage}.log"), "a") as f:
        f.write(line + "\n")


def save_ckpt(state: dict, path: str) -> None:
    """Atomic torch.save."""
    import torch

    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_ckpt(path: str):
    import torch

    if os.path.exists(path):
        return torch.load(path, map_location="cpu", weights_only=False)
    return None


class Budget:
    """Step and wall-time budget with periodic checkpoints, carried across resumes."""

    def __init__(self, steps: int, minutes: float, elapsed: float = 0.0, every_s: float = 180.0):
        self.steps, self.seconds, self.elapsed0, self.every = steps, minutes * 60.0, elapsed, every_s
        self.t0 = self.last = time.time()

    @property
    def elapsed(self) -> float:
        return self.elapsed0 + time.time() - self.t0

    def done(self, step: int) -> bool:
        return step >= self.steps or self.elapsed >= self.seconds or os.path.exists(self.stop_file or "")

    stop_file: str | None = None

    def cosine(self, base: float, step: int, warmup: int = 100, floor: float = 0.05) -> float:
        """Learning rate: linear warm-up, then cosine decay to ``floor * base`` over the time budget."""
        frac = min(1.0, self.elapsed / self.seconds)
        return base * min(1.0, (step + 1) / warmup) * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))

    def checkpoint_due(self) -> bool:
        if time.time() - self.last >= self.every:
            self.last = time.time()
            return True
        return False


# ----------------------------------------------------------------------------------------- data
def stage_data(cache: str, n: int | None = None) -> dict:
    """Sample and render the training scenes once: ``train_images.npy`` and ``train_captions.json``."""
    from .world import render_batch, sample_scenes

    img_path, cap_path = os.path.join(cache, "train_images.npy"), os.path.join(cache, "train_captions.json")
    if not (os.path.exists(img_path) and os.path.exists(cap_path)):
        t = time.time()
        n = n or N_TRAIN
        scenes = sample_scenes(n, seed=0, split="train")
        images = render_batch(scenes)
        np.save(img_path + ".tmp.npy", images)
        os.replace(img_path + ".tmp.npy", img_path)
        with open(cap_path, "w") as f:
            json.dump([s.caption for s in scenes], f)
        log(cache, "data", f"rendered {n} training scenes in {time.time() - t:.1f} s")
    return {"images": np.load(img_path, mmap_mode="r"), "captions": json.load(open(cap_path))}


def _to_tensor(images: np.ndarray):
    import torch

    return torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _psnr_db(y, x) -> float:
    """PSNR in dB of reconstructions ``y`` against images ``x``, both in [-1, 1] (``y`` is clamped)."""
    mse = (y.clamp(-1, 1) - x).pow(2).mean().item() / 4.0  # on the [0, 1] scale
    return 10 * math.log10(1 / max(mse, 1e-12))


def _validate_vae(vae):
    """Posterior means of 256 validation renders and the PSNR of their reconstructions (dB)."""
    import torch

    from .world import render_batch, sample_scenes

    val = _to_tensor(render_batch(sample_scenes(256, seed=1, split="val")))
    with torch.no_grad():
        z = vae.encode(val).latent_dist.mean
        return z, _psnr_db(vae.decode(z).sample, val)


def _fit(cache: str, stage: str, path: str, ck, model, opt, batch_loss, steps: int, minutes: float, seed: int,
         *, lr: float, warmup: int, floor: float = 0.1, every_s: float = 180.0):
    """The training loop of every stage but the UNet's: resume from ``ck``, step ``opt`` on ``batch_loss(rng)`` ->
    (loss, log text) under the budget with a cosine learning rate, log every 50 steps and checkpoint
    every few minutes. Returns the final step and the Budget."""
    step, elapsed = 0, 0.0
    if ck is not None:
        model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); step, elapsed = ck["step"], ck["elapsed"]
    rng = np.random.default_rng([seed, step])
    budget = Budget(steps, minutes, elapsed, every_s=every_s)
    log(cache, stage, f"start at step {step}, {sum(p.numel() for p in model.parameters())} parameters")
    while not budget.done(step):
        for g in opt.param_groups:
            g["lr"] = budget.cosine(lr, step, warmup=warmup, floor=floor)
        loss, text = batch_loss(rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log(cache, stage, " ".join(x for x in (f"step {step} loss {loss.item():.4f}", text,
                                                     f"{budget.elapsed / 60:.1f} min") if x))
        if budget.checkpoint_due():
            save_ckpt({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": budget.elapsed}, path)
    return step, budget


# ------------------------------------------------------------------------------------------ vae
def stage_vae(cache: str, steps: int, minutes: float, batch: int, seed: int = 0) -> None:
    """Train the AutoencoderKL on training renders: L1 + MSE reconstruction of the decoded posterior
    mean, plus 1e-5 x the KL divergence per latent element (a weak pull that keeps the latents
    bounded; a weight of 1e-3 washed the colours out of the latents)."""
    import torch

    from . import sd

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
        loss = (y - x).abs().mean() + (y - x).pow(2).mean() + 1e-5 * kl
        return loss, f"psnr {_psnr_db(y, x):.2f} dB kl {kl.item():.3f}"

    vae.train()
    step, budget = _fit(cache, "vae", path, ck, vae, opt, batch_loss, steps, minutes, seed, lr=1e-3, warmup=100)
    vae.eval()
    z, psnr = _validate_vae(vae)  # latent statistics and validation PSNR
    scale = float(1.0 / z.std())
    save_ckpt({"model": vae.state_dict(), "step": step, "elapsed": budget.elapsed, "done": True,
               "scaling_factor": scale, "val_psnr": psnr}, path)
    log(cache, "vae", f"done: {step} steps, {budget.elapsed / 60:.1f} min, val PSNR {psnr:.2f} dB, scaling factor {scale:.4f}")


def load_vae(cache: str, decoder: bool = True):
    """The trained VAE; with ``decoder``, its decoder replaced by the fine-tuned one when present."""
    from . import sd

    ck = load_ckpt(os.path.join(cache, "vae.pt"))
    if ck is None or not ck.get("done"):
        raise RuntimeError("train the VAE first: python -m gsemlab.toyworld.train vae")
    vae = sd.build_vae(scaling_factor=ck["scaling_factor"])
    vae.load_state_dict(ck["model"])
    dk = load_ckpt(os.path.join(cache, "decoder.pt")) if decoder else None
    if dk is not None and dk.get("done"):
        vae.load_state_dict(dk["model"])
    return vae.eval(), ck


def stage_decoder(cache: str, steps: int, minutes: float, batch: int, seed: int = 1) -> None:
    """Fine-tune the VAE's decoder only (L1 + MSE), the encoder frozen: the latents the UNet is
    trained on do not change, so this can run beside the UNet stage."""
    import torch

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
    step, budget = _fit(cache, "decoder", path, ck, vae, opt, batch_loss, steps, minutes, seed, lr=5e-4, warmup=50)
    vae.eval()
    _, psnr = _validate_vae(vae)
    save_ckpt({"model": vae.state_dict(), "step": step, "elapsed": budget.elapsed, "done": True, "val_psnr": psnr}, path)
    log(cache, "decoder", f"done: {step} steps, {budget.elapsed / 60:.1f} min, val PSNR {psnr:.2f} dB")


def stage_latents(cache: str) -> str:
    """Encode the training renders once (posterior mean and std, float16) to ``train_latents.npz``."""
    import torch

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
            means.append(post.mean.half().numpy()); stds.append(post.std.half().numpy())
    np.savez(path[:-4] + ".tmp.npz", mean=np.concatenate(means), std=np.concatenate(stds))
    os.replace(path[:-4] + ".tmp.npz", path)
    log(cache, "unet", f"encoded {len(images)} latents in {time.time() - t:.1f} s")
    return path


def stage_regions(cache: str) -> str:
    """Where each caption token of the training scenes lies (``train_regions.npz``, see `attnloss`):
    ``codes`` uint8 (N, 32), ``objects`` uint8 (N, 3, 16, 16)."""
    from . import attnloss, sd
    from .world import sample_scenes

    path = os.path.join(cache, "train_regions.npz")
    if os.path.exists(path):
        return path
    captions = stage_data(cache)["captions"]
    t = time.time()
    scenes = sample_scenes(len(captions), seed=0, split="train")
    if [s.caption for s in scenes] != captions:
        raise RuntimeError(f"{cache}: train_captions.json does not match sample_scenes(seed=0); delete the cache")
    tok = sd.build_tokenizer()
    codes = np.stack([attnloss.token_regions(s, tok.tokenize(s.caption), sd.MAX_LENGTH) for s in scenes])
    objects = np.stack([attnloss.object_fractions(s) for s in scenes])
    np.savez(path[:-4] + ".tmp.npz", codes=codes, objects=objects)
    os.replace(path[:-4] + ".tmp.npz", path)
    log(cache, "unet", f"token regions of {len(scenes)} scenes in {time.time() - t:.1f} s")
    return path


# ----------------------------------------------------------------------------------------- unet
def stage_unet(cache: str, steps: int, minutes: float, batch: int, seed: int = 0, p_uncond: float = 0.1,
               attn_weight: float = 0.02, pixel_weight: float = 0.5) -> None:
    """Train the UNet and the text encoder jointly with the DDPM loss (Eq. 4, epsilon prediction,
    min-SNR-5 weighting), caption dropout ``p_uncond`` for classifier-free guidance, EMA weights,
    plus ``attn_weight`` x the grounding loss of `attnloss` on the cross-attention maps (0 turns it off;
    ``pixel_weight`` weighs its pixel term against its token term)."""
    import copy

    import torch

    from . import attnloss, sd

    path = os.path.join(cache, "unet.pt")
    ck = load_ckpt(path)
    if ck is not None and ck.get("done") and (ck["step"] >= steps or ck["elapsed"] >= minutes * 60.0):
        return  # a finished stage continues only when asked for a larger budget (--minutes/--steps)
    lmean = torch.from_numpy(np.load(stage_latents(cache))["mean"])  # stage_latents checks the VAE is trained
    sf = load_ckpt(os.path.join(cache, "vae.pt"))["scaling_factor"]
    captions = stage_data(cache)["captions"]
    tok = sd.build_tokenizer()
    ids = tok(captions, padding="max_length", max_length=sd.MAX_LENGTH, truncation=True, return_tensors="pt").input_ids
    empty = tok([""], padding="max_length", max_length=sd.MAX_LENGTH, return_tensors="pt").input_ids[0]
    if attn_weight > 0:
        reg = np.load(stage_regions(cache))
        codes, objects = torch.from_numpy(reg["codes"]), torch.from_numpy(reg["objects"])
    torch.manual_seed(seed)
    text = sd.build_text_encoder(len(tok))
    unet = sd.build_unet()
    procs = attnloss.install(unet) if attn_weight > 0 else []
    params = list(unet.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=6e-4, weight_decay=1e-2)
    ema_u, ema_t = copy.deepcopy(unet).requires_grad_(False), copy.deepcopy(text).requires_grad_(False)
    sched = sd.build_train_scheduler()
    acp = sched.alphas_cumprod
    step, elapsed = 0, 0.0
    if ck is not None:
        unet.load_state_dict(ck["unet"]); text.load_state_dict(ck["text"]); opt.load_state_dict(ck["opt"])
        ema_u.load_state_dict(ck["ema_unet"]); ema_t.load_state_dict(ck["ema_text"])
        step, elapsed = ck["step"], ck["elapsed"]
    budget = Budget(steps, minutes, elapsed)
    budget.stop_file = os.path.join(cache, "unet.stop")  # touch it to end the stage early, cleanly
    gen = torch.Generator().manual_seed(seed * 1000003 + step)
    log(cache, "unet", f"start at step {step}: unet {sum(p.numel() for p in unet.parameters())} "
        f"text {sum(p.numel() for p in text.parameters())} parameters, grounding weight {attn_weight} "
        f"(pixel term {pixel_weight})")
    unet.train(); text.train()
    avg = avg_g = None
    sink: list = []
    for pr in procs:
        pr.sink = sink
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
        snr = acp[t] / (1 - acp[t])
        w = torch.clamp(snr, max=5.0) / snr  # min-SNR-5 weights for epsilon prediction
        loss = (w * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()
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
        if step % 50 == 0:
            log(cache, "unet", f"step {step} loss {avg:.4f} grounding {avg_g or 0:.4f} {budget.elapsed / 60:.1f} min "
                f"({step / max(budget.elapsed, 1e-9):.2f} steps/s overall)")
        if budget.checkpoint_due():
            save_ckpt({"unet": unet.state_dict(), "text": text.state_dict(), "opt": opt.state_dict(),
                       "ema_unet": ema_u.state_dict(), "ema_text": ema_t.state_dict(), "step": step,
                       "elapsed": budget.elapsed}, path)
    save_ckpt({"unet": unet.state_dict(), "text": text.state_dict(), "opt": opt.state_dict(),
               "ema_unet": ema_u.state_dict(), "ema_text": ema_t.state_dict(), "step": step,
               "elapsed": budget.elapsed, "done": True}, path)
    log(cache, "unet", f"done: {step} steps, {budget.elapsed / 60:.1f} min")


def build_pipeline(cache: str, ema: bool = True):
    """Assemble a StableDiffusionPipeline from the cached VAE and UNet checkpoints."""
    from diffusers import StableDiffusionPipeline

    from . import sd

    vae, _ = load_vae(cache)
    ck = load_ckpt(os.path.join(cache, "unet.pt"))
    if ck is None:
        raise RuntimeError("train the UNet first: python -m gsemlab.toyworld.train unet")
    tok = sd.build_tokenizer()
    text, unet = sd.build_text_encoder(len(tok)), sd.build_unet()
    text.load_state_dict(ck["ema_text" if ema else "text"]); unet.load_state_dict(ck["ema_unet" if ema else "unet"])
    sd.collapse_posterior(vae)  # the inpainting pipeline samples the posterior: make it the mean
    return StableDiffusionPipeline(vae=vae, text_encoder=text.eval(), tokenizer=tok, unet=unet.eval(),
                                   scheduler=sd.build_sample_scheduler(), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


def unet_history(cache: str) -> list[dict]:
    """The UNet stage's runs, read from ``unet.log``: for each (re)start, its first step, the minutes
    trained before it (from the last logged step) and the settings its start line printed."""
    import re

    runs, minutes = [], 0.0
    path = os.path.join(cache, "unet.log")
    for line in open(path) if os.path.exists(path) else ():
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


STAGES = ("data", "shapes", "vae", "unet", "decoder", "toysim", "toynima", "export")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gsemlab.toyworld.train", description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=STAGES + ("all",))
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--out", default=DATA_DIR, help="where export writes the final weights")
    p.add_argument("--steps", type=int, default=None, help="step budget of the stage")
    p.add_argument("--minutes", type=float, default=None, help="wall-time budget of the stage")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--attn-weight", type=float, default=0.02,
                   help="weight of the UNet stage's grounding loss on cross-attention (0: off)")
    p.add_argument("--pixel-weight", type=float, default=0.5,
                   help="weight of the grounding loss's pixel term against its token term")
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    cache = cache_dir(a.cache_dir)
    stages = [s for s in STAGES if s != "data"] if a.stage == "all" else [a.stage]
    for st in stages:
        if st == "data":
            stage_data(cache)
            continue
        if st == "export":
            from . import nets

            export_pipeline(cache, a.out)
            info = nets.export_all(cache, a.out)
            for name in ("vae", "unet", "decoder"):
                ck = load_ckpt(os.path.join(cache, f"{name}.pt"))
                if ck is not None:
                    info[name] = {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2),
                                  **({"val_psnr_db": round(ck["val_psnr"], 2)} if "val_psnr" in ck else {})}
            info["unet"]["runs"] = unet_history(cache)
            with open(os.path.join(a.out, "toy_training.json"), "w") as f:
                json.dump(info, f, indent=2)
            continue
        steps, minutes, batch = DEFAULTS[st]
        if a.stage != "all":
            steps, minutes, batch = a.steps or steps, a.minutes or minutes, a.batch or batch
        fn = {"vae": stage_vae, "unet": stage_unet, "decoder": stage_decoder}.get(st)
        if fn is None:
            from . import nets

            fn = getattr(nets, f"train_{st}")
        extra = {"attn_weight": a.attn_weight, "pixel_weight": a.pixel_weight} if st == "unet" else {}
        fn(cache, steps=steps, minutes=minutes, batch=batch, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
