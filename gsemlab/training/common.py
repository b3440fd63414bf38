"""What every training stage shares: the cache folder, logs, checkpoints, budgets, the loop, the data.

Every stage checkpoints to the cache folder (``--cache-dir``, else ``$GSEMLAB_TOY_CACHE``, else
``~/.cache/gsemlab/toy``) every few minutes and resumes from there when re-run; a stage whose
checkpoint says "done" is skipped.  Each stage stops at its step budget or its time budget
(whichever comes first; the time already spent is stored in the checkpoint, :class:`Budget`).
"""
from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from ..progress import progress_bar
from ..toyworld.world import render_batch, sample_scenes

__all__ = ["N_TRAIN", "Budget", "cache_dir", "finish", "fit", "load_ckpt", "log", "min_snr_loss", "resume", "save_ckpt",
           "stage_data"]

#: training scenes rendered by the ``data`` stage
N_TRAIN = 60000


def cache_dir(path: str | None = None) -> str:
    """The training cache folder (created if missing).

    Parameters
    ----------
    path : str, optional
        The folder; default ``$GSEMLAB_TOY_CACHE``, else ``~/.cache/gsemlab/toy``.
    """
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
    """Atomic ``torch.save`` of ``state`` to ``path`` (written to ``path.tmp``, then renamed)."""
    import torch

    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_ckpt(path: str):
    """The checkpoint dict saved at ``path`` (on the CPU), or None when there is none."""
    import torch

    if os.path.exists(path):
        return torch.load(path, map_location="cpu", weights_only=False)
    return None


class Budget:
    """Step and wall-time budget with periodic checkpoints, carried across resumes.

    Parameters
    ----------
    steps : int
        Step budget.
    minutes : float
        Wall-time budget, including the ``elapsed`` seconds of earlier runs.
    elapsed : float
        Seconds already spent (from the checkpoint).
    every_s : float
        Seconds between checkpoints (:meth:`checkpoint_due`).

    Attributes
    ----------
    stop_file : str or None
        A path whose existence ends the stage early, cleanly (None: no such file).
    """

    stop_file: str | None = None

    def __init__(self, steps: int, minutes: float, elapsed: float = 0.0, every_s: float = 180.0):
        self.steps, self.seconds, self.elapsed0, self.every = steps, minutes * 60.0, elapsed, every_s
        self.t0 = self.last = time.time()

    @property
    def elapsed(self) -> float:
        """Seconds spent, this run and the earlier ones."""
        return self.elapsed0 + time.time() - self.t0

    def done(self, step: int) -> bool:
        """Whether ``step`` reached the step budget, the time is up, or the stop file exists."""
        return step >= self.steps or self.elapsed >= self.seconds or os.path.exists(self.stop_file or "")

    def cosine(self, base: float, step: int, warmup: int = 100, floor: float = 0.05) -> float:
        """Learning rate: linear warm-up, then cosine decay to ``floor * base`` over the time budget."""
        frac = min(1.0, self.elapsed / self.seconds)
        decay = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac))
        return base * min(1.0, (step + 1) / warmup) * decay

    def checkpoint_due(self) -> bool:
        """True once every ``every_s`` seconds (and then restarts the count)."""
        if time.time() - self.last >= self.every:
            self.last = time.time()
            return True
        return False


def fit(cache: str, stage: str, path: str, ck, model, opt, batch_loss, steps: int, minutes: float, seed: int,
        *, lr: float, warmup: int, floor: float = 0.1, every_s: float = 180.0):
    """The training loop of every stage but the UNet's.

    Resumes from the checkpoint ``ck`` (model, optimiser, step, elapsed seconds), then steps ``opt`` on
    ``batch_loss(rng)`` under the budget with a cosine learning rate (:meth:`Budget.cosine`), logs every
    50 steps and checkpoints to ``path`` every ``every_s`` seconds.

    Parameters
    ----------
    cache, stage : str
        The cache folder and the stage's name (its log file).
    path : str
        The stage's checkpoint file.
    ck : dict or None
        The checkpoint to resume from.
    model : torch.nn.Module
        The model being trained (its ``state_dict`` is checkpointed).
    opt : torch.optim.Optimizer
        Its optimiser.
    batch_loss : callable
        ``batch_loss(rng) -> (loss, text)``: the loss Tensor of one batch drawn with the numpy Generator
        ``rng``, and extra text for the log line.
    steps, minutes : int, float
        Step and wall-time budget (:class:`Budget`).
    seed : int
        Seed of the batch generator (with the start step: a resumed run draws new batches).
    lr, warmup, floor : float, int, float
        Peak learning rate, warm-up steps, final learning rate as a fraction of ``lr``.
    every_s : float
        Seconds between checkpoints.

    Returns
    -------
    step : int
        The final step.
    budget : Budget
        The budget (``budget.elapsed`` is the time spent).
    """
    step, elapsed = 0, 0.0
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
    rng = np.random.default_rng([seed, step])
    budget = Budget(steps, minutes, elapsed, every_s=every_s)
    log(cache, stage, f"start at step {step}, {sum(p.numel() for p in model.parameters())} parameters")
    bar = progress_bar(total=max(steps, step), initial=step, desc=stage, unit="step")
    while not budget.done(step):
        for g in opt.param_groups:
            g["lr"] = budget.cosine(lr, step, warmup=warmup, floor=floor)
        loss, text = batch_loss(rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        if step % 50 == 0:
            log(cache, stage, " ".join(x for x in (f"step {step} loss {loss.item():.4f}", text,
                                                     f"{budget.elapsed / 60:.1f} min") if x))
        if budget.checkpoint_due():
            save_ckpt({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                       "elapsed": budget.elapsed}, path)
    bar.close()
    return step, budget


def min_snr_loss(pred: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor,
                 gamma: float = 5.0) -> torch.Tensor:
    """The epsilon-prediction loss (Eq. 4 in [G-SemCom]) with min-SNR-gamma weights, as every diffusion stage trains.

    Each sample's mean squared error is weighted by ``min(SNR_t, gamma) / SNR_t`` with
    ``SNR_t = abar_t / (1 - abar_t)``, then the weighted errors are averaged.

    Parameters
    ----------
    pred, noise : torch.Tensor, shape (B, C, H, W)
        The predicted and the true noise.
    t : torch.Tensor of int, shape (B,)
        The timesteps.
    alphas_cumprod : torch.Tensor, shape (T,)
        The schedule's ``abar``.
    gamma : float
        The clamp of the SNR.

    Returns
    -------
    torch.Tensor
        The scalar loss.
    """
    import torch

    acp = alphas_cumprod[t]
    snr = acp / (1 - acp)
    w = torch.clamp(snr, max=gamma) / snr
    return (w * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()


def resume(cache: str, stage: str):
    """Where a stage checkpoints and what it resumes from, or None when it has finished already.

    Parameters
    ----------
    cache, stage : str
        The cache folder and the stage's name (its checkpoint is ``<cache>/<stage>.pt``).

    Returns
    -------
    (str, dict or None) or None
        The checkpoint's path and its contents (None for a fresh start); None (logged) when done.
    """
    path = os.path.join(cache, f"{stage}.pt")
    ck = load_ckpt(path)
    if ck is not None and ck.get("done"):
        log(cache, stage, "done already")
        return None
    return path, ck


def finish(cache: str, stage: str, path: str, ck, model, opt, batch_loss, steps: int, minutes: float, seed: int,
           *, lr: float, warmup: int, **extra):
    """:func:`fit`, then the final checkpoint marked done (with ``extra`` fields) and a log line.

    Parameters
    ----------
    cache, stage, path, ck, model, opt, batch_loss, steps, minutes, seed, lr, warmup
        As in :func:`fit` (``path`` and ``ck`` from :func:`resume`).
    **extra
        More fields of the final checkpoint (e.g. the count of trainable parameters).

    Returns
    -------
    step : int
    budget : Budget
    """
    step, budget = fit(cache, stage, path, ck, model, opt, batch_loss, steps, minutes, seed, lr=lr, warmup=warmup)
    save_ckpt({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": budget.elapsed,
               "done": True, **extra}, path)
    log(cache, stage, f"finished at step {step}, {budget.elapsed / 60:.1f} min")
    return step, budget


def stage_data(cache: str, n: int | None = None) -> dict:
    """Sample and render the training scenes once: ``train_images.npy`` and ``train_captions.json``.

    Parameters
    ----------
    cache : str
        The cache folder.
    n : int, optional
        Scenes to render when the files are missing (default :data:`N_TRAIN`).

    Returns
    -------
    dict
        ``images``: uint8 (N, 64, 64, 3), memory-mapped; ``captions``: list of N str.
    """
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
    with open(cap_path) as f:
        captions = json.load(f)
    return {"images": np.load(img_path, mmap_mode="r"), "captions": captions}
