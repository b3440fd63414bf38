"""Training of the tiny ControlNet of [Control] on ShapesWorld: stages ``control-data`` and ``control``;
``python -m gsemlab.training control-all`` runs them and exports the weights to ``gsemlab/data/control``.

* ``control-data``: :data:`N_IMAGES` train-split renders, VAE-encoded, with the three control maps of
  :data:`gsemlab.control.maps.METHODS` extracted from each render by the same code the sender runs on a
  generated image (:func:`gsemlab.control.maps.extract`).
* ``control``: one ControlNet reading every method's map as channels (:func:`gsemlab.control.net.control_input`),
  each method dropped per sample with probability :data:`P_DROP` so that it learns to follow any
  subset, also one method alone; the UNet and the text encoder stay locked. The loss is the noise
  prediction's mean squared error with the min-SNR-5 weights the UNet was trained with.

Maps are extracted at full size: at training time the ControlNet also sees them downscaled by a random
factor of :data:`gsemlab.control.maps.FACTORS` and upscaled again (half of the samples), as the receiver
will.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch

from ..control.maps import FACTORS, METHODS, downscale, extract, upscale
from ..control.net import build_controlnet, control_input, drop_methods, unet_with_control
from ..toyworld.world import render_batch, sample_scenes
from . import sd
from ..progress import progress_bar
from .common import finish, load_ckpt, log, min_snr_loss, resume

__all__ = ["DEFAULTS", "DQN_KWARGS", "EVAL_EVERY", "N_IMAGES", "P_DROP", "export", "stage_control", "stage_data",
           "stage_dqn"]

#: training renders
N_IMAGES = 8192
#: probability of dropping each method's map from a training sample
P_DROP = 0.5
#: stage -> (steps, minutes, batch)
DEFAULTS = {"control": (40000, 78.0, 16), "control-dqn": (20000, 10.0, 64)}
#: the DQN's settings (stable-baselines3): a contextual bandit, so gamma = 0
DQN_KWARGS = {"learning_rate": 5e-4, "buffer_size": 20000, "learning_starts": 500, "batch_size": 64, "gamma": 0.0,
              "train_freq": 1, "target_update_interval": 250, "exploration_fraction": 0.2,
              "exploration_final_eps": 0.02, "policy_kwargs": {"net_arch": [128, 128]}}
#: episodes between two gradings of a DQN on the held-out states
EVAL_EVERY = 500
_LR = 2e-4


def stage_data(cache: str) -> dict:
    """Render, encode and extract the maps once (``control_data.pt``: latents, captions, maps)."""
    path = os.path.join(cache, "control_data.pt")
    if not os.path.exists(path):
        from ..models import load_backend

        scenes = sample_scenes(N_IMAGES, seed=41, split="train")
        images = render_batch(scenes)
        vae = load_backend("toy", metrics=False, device="cpu").pipe.vae
        with torch.no_grad():
            lat = torch.cat([vae.encode(torch.from_numpy(images[i:i + 256]).permute(0, 3, 1, 2).float() / 127.5 - 1)
                             .latent_dist.mean * vae.config.scaling_factor for i in range(0, len(images), 256)])
        maps = {m: np.stack([extract(im, m) for im in images]) for m in METHODS}
        torch.save({"latents": lat, "captions": [s.caption for s in scenes], "maps": maps}, path + ".tmp")
        os.replace(path + ".tmp", path)
        log(cache, "control-data", f"rendered, encoded and extracted {len(scenes)} scenes")
    return torch.load(path, weights_only=False)


def _degrade(maps: dict, rng: np.random.Generator) -> dict:
    """Each method's maps downscaled by a random factor and upscaled back, for half of the samples."""
    out = {}
    for m, a in maps.items():
        a = a.copy()
        for i in range(len(a)):
            if rng.random() < 0.5:
                f = int(rng.choice(FACTORS[1:]))
                a[i] = upscale(downscale(a[i], f, m), f, m)
        out[m] = a
    return out


class _Trainable(torch.nn.Module):
    def __init__(self, controlnet):
        super().__init__()
        self.controlnet = controlnet


def stage_control(cache: str, steps: int, minutes: float, batch: int, *, seed: int = 0) -> None:
    """Train the ControlNet, the bundled UNet and text encoder locked.

    Parameters
    ----------
    cache : str
        The cache folder.
    steps, minutes, batch : int, float, int
        Step and wall-time budget, samples per step.
    seed : int
        Seed of the initialisation, the batches, the dropout and the noise.
    """
    state = resume(cache, "control")
    if state is None:
        return
    data = stage_data(cache)
    from ..models import load_backend

    pipe = load_backend("toy", metrics=False, device="cpu").pipe
    unet, text, tok = pipe.unet, pipe.text_encoder, pipe.tokenizer
    unet.requires_grad_(False)
    text.requires_grad_(False)
    model = _Trainable(build_controlnet(pipe, seed=seed))
    ids = tok(data["captions"], padding="max_length", max_length=sd.MAX_LENGTH, truncation=True,
              return_tensors="pt").input_ids
    sched = sd.build_train_scheduler()
    opt = torch.optim.AdamW(model.parameters(), lr=_LR, weight_decay=0.0)
    model.train()

    def batch_loss(rng):
        idx = rng.integers(0, len(ids), batch)
        maps = _degrade({m: data["maps"][m][idx] for m in METHODS}, rng)
        g = torch.Generator().manual_seed(int(rng.integers(2**31)))
        control = drop_methods(control_input(maps), METHODS, P_DROP, generator=g)
        z0 = data["latents"][torch.from_numpy(idx)]
        t = torch.randint(0, sched.config.num_train_timesteps, (batch,), generator=g)
        noise = torch.randn(z0.shape, generator=g)
        with torch.no_grad():
            emb = text(ids[torch.from_numpy(idx)])[0]
        pred = unet_with_control(unet, model.controlnet, sched.add_noise(z0, noise, t), t, emb, control)
        return min_snr_loss(pred, noise, t, sched.alphas_cumprod), ""

    finish(cache, "control", *state, model, opt, batch_loss, steps, minutes, seed, lr=_LR, warmup=100)


def stage_dqn(cache: str, steps: int, minutes: float, batch: int) -> None:
    """Train a DQN (stable-baselines3) on the measured four-service environment for each seed.

    After 25, 50, 100, 200, 300 and 400 episodes, then every :data:`EVAL_EVERY` episodes (one decision
    each), the greedy policy is graded on held-out
    states (:func:`gsemlab.control.allocation.greedy_ratio`, 500 states); the learning curves go to
    ``control_dqn.json`` and each seed's agent to ``control_dqn_<seed>.zip``. A finished seed is skipped.

    Parameters
    ----------
    cache : str
        The cache folder.
    steps, minutes, batch : int, float, int
        Decisions per seed, wall-time budget of all seeds together, DQN minibatch size.
    """
    import time

    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    from ..control.allocation import DQN_SEEDS, allocation_env, greedy_ratio

    path = os.path.join(cache, "control_dqn.json")
    hist = json.load(open(path)) if os.path.exists(path) else {}
    t_start = time.time()
    for seed in progress_bar(DQN_SEEDS, desc="control-dqn", unit="seed"):
        if str(seed) in hist:
            continue
        env, grader = allocation_env(), allocation_env()
        curve: list = []

        class _Grade(BaseCallback):
            def _on_step(self) -> bool:
                t = self.num_timesteps
                if t % EVAL_EVERY == 0 or t in (25, 50, 100, 200, 300, 400):
                    policy = lambda o: self.model.predict(o, deterministic=True)[0]  # noqa: E731
                    curve.append([self.num_timesteps, greedy_ratio(policy, grader)])
                return True

        t0 = time.time()
        agent = DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **{**DQN_KWARGS, "batch_size": batch})
        agent.learn(total_timesteps=steps, callback=_Grade())
        agent.save(os.path.join(cache, f"control_dqn_{seed}.zip"))
        hist[str(seed)] = {"curve": curve, "seconds": time.time() - t0}
        with open(path, "w") as f:
            json.dump(hist, f)
        log(cache, "control-dqn", f"seed {seed}: final ratio {curve[-1][1]:.3f}, {time.time() - t0:.0f} s")
        if time.time() - t_start > minutes * 60:
            log(cache, "control-dqn", "time budget spent; rerun to train the remaining seeds")
            break


def export(cache: str, out: str | None = None) -> dict:
    """Write the ControlNet's weights (``controlnet.safetensors``, float16), the agent of the DQN seed with the
    best final grade (``dqn.zip``, when trained) and ``training.json`` (with every DQN seed's learning curve)."""
    from safetensors.torch import save_file

    from ..control.system import BUNDLE_DIR

    out = str(out or BUNDLE_DIR)
    os.makedirs(out, exist_ok=True)
    ck = load_ckpt(os.path.join(cache, "control.pt"))
    if ck is None or not ck.get("done"):
        raise FileNotFoundError(f"no finished control checkpoint in {cache}: run that stage first")
    state = {k[len("controlnet."):]: v.half().contiguous() for k, v in ck["model"].items()}
    save_file(state, os.path.join(out, "controlnet.safetensors"))
    info = {"control": {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2), "images": N_IMAGES,
                        "p_drop": P_DROP}}
    dqn = os.path.join(cache, "control_dqn.json")
    if os.path.exists(dqn):
        import shutil

        with open(dqn) as f:
            hist = json.load(f)
        best = max(hist, key=lambda k: hist[k]["curve"][-1][1])  # the best final grade (the tests grade on other states)
        shutil.copyfile(os.path.join(cache, f"control_dqn_{best}.zip"), os.path.join(out, "dqn.zip"))
        info["control-dqn"] = {"minutes": round(sum(h["seconds"] for h in hist.values()) / 60, 2),
                               "eval_every": EVAL_EVERY, "kwargs": DQN_KWARGS, "bundled_seed": int(best),
                               "seeds": hist}
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=2)
    return info
