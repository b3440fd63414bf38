"""Training of the knowledge-alignment codec (DeKA-g T-KA): stages ``align-pretrain``, ``align-subject``,
``align-lora``, ``align-cala``, ``align-full-ft``; ``python -m gsemlab.training align-all`` runs them and
exports the weights to ``gsemlab/data/align`` (about 20 minutes on 2 cores).

* ``align-pretrain``: the codec on the generic latents of chapter 9's training set (16384 train-split
  renders, :func:`gsemlab.training.channel_diffusion.stage_data`) under
  :data:`gsemlab.align.system.PRETRAIN_CONDITIONS`.
* ``align-subject``: the edge model generates :data:`N_SUBJECT` latents of the target subject
  (:func:`gsemlab.align.system.subject_batch`, seed 0).
* ``align-lora`` / ``align-cala`` / ``align-full-ft``: each method adapted on those latents under
  :data:`gsemlab.align.system.DEPLOY_CONDITIONS`, the same steps and batches for all three.

The loss is the mean squared error of the reconstructed latent (DeKA-g's objective has three more terms:
the image error and a perceptual term need the VAE decoder in every step, too slow on CPU, and the
constellation regulariser is replaced by quantising with a straight-through gradient).
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
import torch

from ..align.codec import DELAY_SPREADS_S, RATES, Condition
from ..align.system import BUNDLE_DIR, DEPLOY_CONDITIONS, PRETRAIN_CONDITIONS, make_method, subject_batch
from .channel_diffusion import stage_data
from .common import finish, load_ckpt, log, resume

__all__ = ["ADAPT_STAGES", "DEFAULTS", "N_SUBJECT", "export", "stage_adapt", "stage_pretrain", "stage_subject"]

#: latents of the target subject the adaptation trains on
N_SUBJECT = 512
#: stage -> (steps, minutes, batch)
DEFAULTS = {"align-pretrain": (20000, 8.0, 32), "align-lora": (1500, 3.0, 32), "align-cala": (1500, 3.0, 32),
            "align-full-ft": (1500, 3.0, 32)}
#: adaptation stage -> method
ADAPT_STAGES = {"align-lora": "lora", "align-cala": "cala", "align-full-ft": "full-ft"}


def _condition(rng: np.random.Generator, deploy: bool) -> Condition:
    rate = RATES[rng.integers(len(RATES))]
    if deploy:
        return Condition(rate, float(rng.uniform(*DEPLOY_CONDITIONS["snr_db"])),
                         float(DELAY_SPREADS_S[rng.integers(len(DELAY_SPREADS_S))]))
    lo, hi = PRETRAIN_CONDITIONS["delay_spread_s"]
    return Condition(rate, float(rng.uniform(*PRETRAIN_CONDITIONS["snr_db"])),
                     float(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def _loss(model, z, rng):
    cond = _condition(rng, model.method != "pretrain")
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return (model(z, cond, generator=g) - z).pow(2).mean()


class _Pretrain(torch.nn.Module):
    """The codec during pretraining, shaped like an AlignedCodec (method "pretrain", no gates)."""

    def __init__(self):
        super().__init__()
        self.inner = make_method("full-ft")
        self.method = "pretrain"

    def forward(self, z, cond, *, generator=None):
        return self.inner(z, cond, generator=generator)


def stage_pretrain(cache: str, steps: int, minutes: float, batch: int, *, seed: int = 0) -> None:
    """Pretrain the codec on generic latents under the pretraining conditions (Eq. 4 of [DeKA-g]).

    Parameters
    ----------
    cache : str
        The cache folder (checkpoints, the training data).
    steps, minutes, batch : int, float, int
        Step budget, wall-time budget and batch size (:class:`~gsemlab.training.common.Budget`).
    seed : int
        Seed of the initialisation and the batches.
    """
    state = resume(cache, "align-pretrain")
    if state is None:
        return
    latents = stage_data(cache)["latents"]
    torch.manual_seed(seed)
    model = _Pretrain()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)

    def batch_loss(rng):
        idx = torch.from_numpy(rng.integers(0, latents.shape[0], batch))
        return _loss(model, latents[idx], rng), ""

    finish(cache, "align-pretrain", *state, model, opt, batch_loss, steps, minutes, seed, lr=2e-3, warmup=200)


def stage_subject(cache: str) -> torch.Tensor:
    """The target subject's latents from the edge model (``align_subject.pt``), generated once."""
    path = os.path.join(cache, "align_subject.pt")
    if not os.path.exists(path):
        chunk = min(128, N_SUBJECT)
        lat = torch.cat([subject_batch(chunk, 1000 + k)[0] for k in range(N_SUBJECT // chunk)])
        torch.save(lat, path + ".tmp")
        os.replace(path + ".tmp", path)
        log(cache, "align-subject", f"generated {lat.shape[0]} subject latents")
    return torch.load(path)


def _pretrained_state(cache: str) -> dict:
    ck = load_ckpt(os.path.join(cache, "align-pretrain.pt"))
    if ck is None or not ck.get("done"):
        raise FileNotFoundError(f"no finished align-pretrain checkpoint in {cache}: run that stage first")
    return {k[len("inner.codec."):]: v for k, v in ck["model"].items() if k.startswith("inner.codec.")}


def stage_adapt(cache: str, steps: int, minutes: float, batch: int, *, stage: str, seed: int = 0) -> None:
    """Adapt the pretrained codec to the subject and the deployment by one method (Eq. 7 of [DeKA-g]).

    Parameters
    ----------
    cache : str
        The cache folder (checkpoints, the training data).
    steps, minutes, batch : int, float, int
        Step budget, wall-time budget and batch size (:class:`~gsemlab.training.common.Budget`).
    stage : str
        One of :data:`ADAPT_STAGES` (its method: LoRA, CALA or full fine-tuning).
    seed : int
        Seed of the initialisation and the batches.
    """
    method = ADAPT_STAGES[stage]
    state = resume(cache, stage)
    if state is None:
        return
    latents = stage_subject(cache)
    torch.manual_seed(seed)
    model = make_method(method, _pretrained_state(cache))
    params = [p for p in model.parameters() if p.requires_grad]
    lr = 3e-4 if method == "full-ft" else 2e-3
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)

    def batch_loss(rng):
        idx = torch.from_numpy(rng.integers(0, latents.shape[0], batch))
        return _loss(model, latents[idx], rng), ""

    finish(cache, stage, *state, model, opt, batch_loss, steps, minutes, seed, lr=lr, warmup=50,
           trainable=model.trainable)


def export(cache: str, out: str | None = None) -> dict:
    """Write the pretrained codec and each method's trained weights (safetensors) and ``training.json``."""
    from safetensors.torch import save_file

    out = str(out or BUNDLE_DIR)
    os.makedirs(out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in _pretrained_state(cache).items()},
              os.path.join(out, "pretrained.safetensors"))
    ck = load_ckpt(os.path.join(cache, "align-pretrain.pt"))
    info = {"align-pretrain": {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2)}}
    for stage, method in ADAPT_STAGES.items():
        ck = load_ckpt(os.path.join(cache, f"{stage}.pt"))
        if ck is None:
            raise FileNotFoundError(f"no checkpoint for stage {stage} in {cache}: run it first")
        state = {k[len("codec."):]: v.contiguous() for k, v in ck["model"].items() if k.startswith("codec.")
                 and (method == "full-ft" or "lora_" in k or "gate" in k)}
        save_file(state, os.path.join(out, f"{method}.safetensors"))
        info[stage] = {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2), "trainable": ck["trainable"]}
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=2)
    return info
