"""Training of generation knowledge alignment (DeKA-g G-KA, MAKD): stages ``makd-data``, ``makd-cloud``,
``makd-distil``, ``makd-ti``, ``makd-lora``, ``makd-makd``, ``makd-shapes``; ``python -m gsemlab.training
makd-all`` runs them and exports the weights to ``gsemlab/data/align/makd`` (about 20 minutes on 2 cores).

* ``makd-data``: :data:`N_DATA` train-split scenes, half of them with their first object turned into a
  cross (:func:`gsemlab.align.makd.subject_scenes`), rendered and VAE-encoded.
* ``makd-cloud``: the cloud: the bundled UNet fully fine-tuned on them, with "cross" added to the tokenizer
  and its embedding trained (the other scenes keep the cloud from forgetting the rest of ShapesWorld).
* ``makd-distil``: the cloud generates :data:`N_DISTIL` latents of train-split subject prompts: what the
  cloud distils from (the edge never sees a render of a cross).
* ``makd-ti``: the metaword's embedding alone (Eq. 8); ``makd-lora``: the UNet's LoRA alone on the
  plain prompt (Eq. 6); ``makd-makd``: the LoRA with the trained metaword prepended (Eq. 9). All three minimise
  the DDPM loss on the distilled latents, with the same batches and steps for the two LoRAs.
* ``makd-shapes``: the shape classifier with the cross as a fifth class (for `locate`).
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch

from ..align.makd import MAKD_DIR, SUBJECT, g_trainable, generate_latents, make_cloud, make_edge, metaword_prompt
from ..align.makd import subject_prompts, subject_scenes
from ..toyworld.world import NEW_SHAPES, SHAPES, render_batch, sample_scenes
from . import sd
from .common import finish, load_ckpt, log, min_snr_loss, resume, save_ckpt
from .metric_nets import train_shapes

__all__ = ["DEFAULTS", "EDGE_STAGES", "N_DATA", "N_DISTIL", "P_UNCOND", "export", "only_rows_learn", "stage_cloud", "stage_data", "stage_distil",
           "stage_edge"]

#: scenes the cloud is fine-tuned on (half with a cross)
N_DATA = 2048
#: cloud latents the edge learns from
N_DISTIL = 512
#: stage -> (steps, minutes, batch)
DEFAULTS = {"makd-cloud": (1500, 10.0, 16), "makd-ti": (600, 3.0, 16), "makd-lora": (1000, 6.0, 16),
            "makd-makd": (1000, 6.0, 16), "makd-shapes": (1000, 3.0, 64)}
#: edge stage -> method of :func:`gsemlab.align.makd.make_edge`
EDGE_STAGES = {"makd-ti": "ti", "makd-lora": "lora", "makd-makd": "makd"}
_LR = {"makd-cloud": 2e-4, "makd-ti": 5e-3, "makd-lora": 5e-4, "makd-makd": 5e-4}
#: caption dropout of the LoRA stages: the unconditional branch that guidance subtracts also changes
P_UNCOND = 0.1


class _Pair(torch.nn.Module):
    """The UNet and the text encoder of a pipeline as one module (one ``state_dict`` to checkpoint)."""

    def __init__(self, pipe):
        super().__init__()
        self.unet, self.text = pipe.unet, pipe.text_encoder


def _ddpm_loss(pair: _Pair, z0: torch.Tensor, ids: torch.Tensor, rng: np.random.Generator, sched) -> torch.Tensor:
    """Eq. 4's epsilon loss with min-SNR-5 weights, as the bundled UNet was trained."""
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    t = torch.randint(0, sched.config.num_train_timesteps, (z0.shape[0],), generator=g)
    noise = torch.randn(z0.shape, generator=g)
    pred = pair.unet(sched.add_noise(z0, noise, t), t, pair.text(ids)[0]).sample
    return min_snr_loss(pred, noise, t, sched.alphas_cumprod)


def _ids(tokenizer, prompts: list[str]) -> torch.Tensor:
    return tokenizer(prompts, padding="max_length", max_length=sd.MAX_LENGTH, truncation=True,
                     return_tensors="pt").input_ids


def only_rows_learn(weight: torch.Tensor, rows: list[int]) -> None:
    """Let only ``rows`` of an embedding matrix learn: the gradient of the others is zeroed by a hook.

    diffusers' textual inversion restores the other rows after every step; with a zero gradient and no
    weight decay, Adam leaves them exactly where they were, which is the same.

    Parameters
    ----------
    weight : torch.Tensor, shape (vocabulary, hidden)
        The embedding matrix (``requires_grad`` set).
    rows : list of int
        The token ids that learn.
    """
    mask = torch.zeros(weight.shape[0], 1)
    mask[rows] = 1.0
    weight.register_hook(lambda grad: grad * mask)


def stage_data(cache: str) -> dict:
    """Render and VAE-encode the cloud's fine-tuning scenes once (``makd_data.pt``: latents, captions)."""
    path = os.path.join(cache, "makd_data.pt")
    if not os.path.exists(path):
        from ..models import load_backend

        half = N_DATA // 2
        scenes = subject_scenes(half, 31, split="train") + sample_scenes(half, seed=32, split="train")
        images = render_batch(scenes)
        vae = load_backend("toy", metrics=False, device="cpu").pipe.vae
        with torch.no_grad():
            lat = torch.cat([vae.encode(torch.from_numpy(images[i:i + 256]).permute(0, 3, 1, 2).float() / 127.5 - 1)
                             .latent_dist.mean * vae.config.scaling_factor for i in range(0, len(images), 256)])
        torch.save({"latents": lat, "captions": [s.caption for s in scenes]}, path + ".tmp")
        os.replace(path + ".tmp", path)
        log(cache, "makd-data", f"rendered and encoded {len(scenes)} scenes ({half} with a {SUBJECT})")
    return torch.load(path)


def stage_cloud(cache: str, steps: int, minutes: float, batch: int, *, seed: int = 0) -> None:
    """Fine-tune the cloud: every UNet weight and the subject token's embedding, on :func:`stage_data`.

    The loss is the noise predictor's mean squared error, Eq. 1 of [DeKA-g] (with min-SNR-5 weights and
    10 % caption dropout, as the bundled UNet was trained).

    Parameters
    ----------
    cache : str
        The cache folder.
    steps, minutes, batch : int, float, int
        Step and wall-time budget, latents per step.
    seed : int
        Seed of the batches and the noise.
    """
    state = resume(cache, "makd-cloud")
    if state is None:
        return
    data = stage_data(cache)
    pipe = make_cloud()
    pair = _Pair(pipe)
    pair.text.requires_grad_(False)
    emb = pair.text.get_input_embeddings().weight
    emb.requires_grad_(True)
    only_rows_learn(emb, [pipe.tokenizer.convert_tokens_to_ids(SUBJECT)])
    ids = _ids(pipe.tokenizer, data["captions"])
    empty = _ids(pipe.tokenizer, [""])[0]
    sched = sd.build_train_scheduler()
    params = list(pair.unet.parameters()) + [emb]
    opt = torch.optim.AdamW(params, lr=_LR["makd-cloud"], weight_decay=0.0)
    pair.train()

    def batch_loss(rng):
        idx = torch.from_numpy(rng.integers(0, len(ids), batch))
        tid = ids[idx].clone()
        tid[torch.from_numpy(rng.random(batch) < 0.1)] = empty  # caption dropout, for guidance
        return _ddpm_loss(pair, data["latents"][idx], tid, rng, sched), ""

    finish(cache, "makd-cloud", *state, pair, opt, batch_loss, steps, minutes, seed, lr=_LR["makd-cloud"],
           warmup=50)


def _cloud_pipe(cache: str):
    ck = load_ckpt(os.path.join(cache, "makd-cloud.pt"))
    if ck is None or not ck.get("done"):
        raise FileNotFoundError(f"no finished makd-cloud checkpoint in {cache}: run that stage first")
    pipe = make_cloud()
    _Pair(pipe).load_state_dict(ck["model"])
    return pipe


def stage_distil(cache: str) -> dict:
    """The cloud's latents of :data:`N_DISTIL` train-split subject prompts (``makd_distil.pt``), once."""
    path = os.path.join(cache, "makd_distil.pt")
    if not os.path.exists(path):
        pipe = _cloud_pipe(cache)
        prompts = subject_prompts(N_DISTIL, 7, split="train")
        lat = torch.cat([generate_latents(pipe, prompts[i:i + 128], 100 + i) for i in range(0, N_DISTIL, 128)])
        torch.save({"latents": lat, "prompts": prompts}, path + ".tmp")
        os.replace(path + ".tmp", path)
        log(cache, "makd-distil", f"the cloud generated {len(prompts)} subject latents")
    return torch.load(path)


def _metaword_row(cache: str) -> torch.Tensor:
    ck = load_ckpt(os.path.join(cache, "makd-ti.pt"))
    if ck is None or not ck.get("done"):
        raise FileNotFoundError(f"no finished makd-ti checkpoint in {cache}: run that stage first")
    return ck["metaword"]


def stage_edge(cache: str, steps: int, minutes: float, batch: int, *, stage: str, seed: int = 0) -> None:
    """Align the edge by one method on the cloud's latents (:data:`EDGE_STAGES`).

    ``makd-ti`` optimises the metaword's embedding alone, Eq. 8 of [DeKA-g]; ``makd-lora`` the LoRA
    matrices alone, Eq. 6 of [DeKA-g]; ``makd-makd`` the LoRA matrices with the optimised metaword in
    the prompt, Eq. 9 of [DeKA-g].

    Parameters
    ----------
    cache : str
        The cache folder.
    steps, minutes, batch : int, float, int
        Step and wall-time budget, latents per step.
    stage : str
        One of :data:`EDGE_STAGES`: ``makd-makd`` needs ``makd-ti`` done (its metaword).
    seed : int
        Seed of the batches and the noise (the same for every stage: the same batches).
    """
    method = EDGE_STAGES[stage]
    state = resume(cache, stage)
    if state is None:
        return
    data = stage_distil(cache)
    torch.manual_seed(seed)
    pipe = make_edge(method, _metaword_row(cache) if method == "makd" else None)
    pair = _Pair(pipe)
    prompts = [metaword_prompt(p) for p in data["prompts"]] if method in ("ti", "makd") else data["prompts"]
    ids = _ids(pipe.tokenizer, prompts)
    empty = _ids(pipe.tokenizer, [""])[0]
    if method == "ti":
        meta = pipe.tokenizer.convert_tokens_to_ids(prompts[0].split()[0])
        only_rows_learn(pipe.trainable[0], [meta])
    sched = sd.build_train_scheduler()
    opt = torch.optim.AdamW(pipe.trainable, lr=_LR[stage], weight_decay=0.0)
    pair.train()

    def batch_loss(rng):
        idx = torch.from_numpy(rng.integers(0, len(ids), batch))
        tid = ids[idx].clone()
        if method != "ti":  # the LoRA also moves the unconditional prediction: keep it trained
            tid[torch.from_numpy(rng.random(batch) < P_UNCOND)] = empty
        return _ddpm_loss(pair, data["latents"][idx], tid, rng, sched), ""

    finish(cache, stage, *state, pair, opt, batch_loss, steps, minutes, seed, lr=_LR[stage], warmup=30)
    if method == "ti":  # keep the trained row beside the checkpoint's full state
        ck = load_ckpt(state[0])
        ck["metaword"] = ck["model"]["text.embeddings.word_embeddings.weight"][meta].clone()
        save_ckpt(ck, state[0])


def stage_shapes(cache: str, steps: int, minutes: float, batch: int) -> None:
    """The shape classifier over ``SHAPES + NEW_SHAPES`` (checkpoint ``shape_classifier_cross``)."""
    train_shapes(cache, steps=steps, minutes=minutes, batch=batch, shapes=SHAPES + NEW_SHAPES,
                 name="shape_classifier_cross")


def export(cache: str, out: str | None = None) -> dict:
    """Write the cloud (UNet in float16 and the subject token), the metaword, both LoRAs and the classifier."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    from ..toyworld.nets import ShapeClassifier

    out = str(out or MAKD_DIR)
    os.makedirs(out, exist_ok=True)
    cloud = _cloud_pipe(cache)
    state = {k: v.half().contiguous() for k, v in cloud.unet.state_dict().items()}
    state["subject_embedding"] = cloud.text_encoder.get_input_embeddings().weight[
        cloud.tokenizer.convert_tokens_to_ids(SUBJECT)].detach().clone().contiguous()
    save_file(state, os.path.join(out, "cloud.safetensors"))
    ck = load_ckpt(os.path.join(cache, "makd-cloud.pt"))
    info = {"makd-cloud": {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2)}}
    save_file({"metaword": _metaword_row(cache).contiguous()}, os.path.join(out, "metaword.safetensors"))
    for stage, method in EDGE_STAGES.items():
        ck = load_ckpt(os.path.join(cache, f"{stage}.pt"))
        if ck is None or not ck.get("done"):
            raise FileNotFoundError(f"no finished checkpoint for stage {stage} in {cache}: run it first")
        info[stage] = {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2), "trainable": g_trainable(method)}
        if method == "ti":
            continue
        pipe = make_edge(method, _metaword_row(cache) if method == "makd" else None)
        _Pair(pipe).load_state_dict(ck["model"])
        lora = get_peft_model_state_dict(pipe.unet)
        save_file({k: v.contiguous() for k, v in lora.items()}, os.path.join(out, f"{method}.safetensors"))
    ck = load_ckpt(os.path.join(cache, "shape_classifier_cross.pt"))
    clf = ShapeClassifier(**ck["config"])
    clf.load_state_dict(ck["model"])
    clf.save_pretrained(os.path.join(out, "shape_classifier"))
    info["makd-shapes"] = {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2), **ck["metrics"]}
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=2)
    return info
