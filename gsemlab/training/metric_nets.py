"""Training of the toy metric nets: the shape classifier, ToySim (Eq. 15) and ToyNIMA (Eq. 16).

The networks themselves (and their inference) are in :mod:`gsemlab.toyworld.nets`. Each is trained by
:func:`gsemlab.training.common.fit` on batches drawn on the fly, then scored on held-out data;
``export_all`` writes the trained weights beside the pipeline. Stages ``shapes``, ``toysim`` and
``toynima`` of ``python -m gsemlab.training``.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch import nn

from ..data import DATA_DIR
from ..toyworld.degrade import KINDS, N_LEVELS, degrade
from ..toyworld.nets import ShapeClassifier, ToyNIMA, ToySim, as_batch, crop_mask
from ..toyworld.world import BACKGROUNDS, SHAPES, SIZE, edit_scene, sample_scenes, shape_mask
from .common import fit, load_ckpt, log, save_ckpt

__all__ = ["export_all", "nima_samples", "shape_accuracy", "sim_pairs", "toynima_spearman", "toysim_spearman",
           "train_shapes", "train_toynima", "train_toysim"]


def _stage(cache: str, name: str, model: nn.Module, lr: float, steps: int, minutes: float, batch_fn, loss_fn,
           evaluate, seed: int = 0) -> None:
    """Train ``model`` on ``loss_fn(model, batch_fn(rng))`` with :func:`fit`, then save it with the
    metrics ``evaluate(model)`` as the finished checkpoint ``<cache>/<name>.pt``."""
    path = os.path.join(cache, f"{name}.pt")
    ck = load_ckpt(path)
    if ck is not None and ck.get("done"):
        return
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    model.train()
    step, budget = fit(cache, name, path, ck, model, opt, lambda rng: (loss_fn(model, batch_fn(rng)), ""),
                       steps, minutes, seed, lr=lr, warmup=50, floor=0.05, every_s=120.0)
    model.eval()
    metrics = evaluate(model)
    save_ckpt({"model": model.state_dict(), "config": model.config, "step": step, "elapsed": budget.elapsed,
               "done": True, "metrics": metrics}, path)
    log(cache, name, f"done: {step} steps, {budget.elapsed / 60:.1f} min, {metrics}")


# ---------------------------------------------------------------------------- shape classifier
def _noisy_shape_masks(rng: np.random.Generator, n: int, shapes: tuple = SHAPES):
    """Single shapes of random size and place, degraded like decoded generations (blurred edges,
    re-thresholded, a few flipped boundary pixels); returns (masks, labels indexing ``shapes``)."""
    from scipy import ndimage

    masks, labels = [], []
    for _ in range(n):
        k = int(rng.integers(len(shapes)))
        r = float(rng.uniform(5.0, 13.0))
        c = rng.uniform(r + 1, SIZE - r - 1, 2)
        m = shape_mask(shapes[k], c[0], c[1], r)
        if rng.random() < 0.8:
            f = ndimage.gaussian_filter(m.astype(np.float32), rng.uniform(0.3, 1.3))
            f += rng.normal(0, 0.08, f.shape)
            m = f > rng.uniform(0.3, 0.7)
            lab, nl = ndimage.label(m)
            if nl > 1:
                m = lab == (1 + np.argmax(ndimage.sum(m, lab, range(1, nl + 1))))
        masks.append(m)
        labels.append(k)
    return masks, np.array(labels)


def shape_accuracy(model: ShapeClassifier, n: int = 1000, seed: int = 12345) -> float:
    """Accuracy on n held-out noisy single-shape masks (seeded) of the model's classes."""
    masks, labels = _noisy_shape_masks(np.random.default_rng(seed), n, tuple(model.config["classes"]))
    pred = model.predict_proba(masks).argmax(1)
    return float((pred == labels).mean())


def train_shapes(cache: str, *, steps: int, minutes: float, batch: int, shapes: tuple = SHAPES,
                 name: str = "shape_classifier") -> None:
    """Train the shape classifier on noisy single-shape masks.

    Parameters
    ----------
    cache : str
        The cache folder.
    steps, minutes, batch : int, float, int
        Step and wall-time budget, masks per step.
    shapes : tuple of str
        The classes (default ShapesWorld's; the alignment chapter adds ``NEW_SHAPES``).
    name : str
        The checkpoint's name in the cache.
    """
    def batch_fn(rng):
        masks, labels = _noisy_shape_masks(rng, batch, shapes)
        return torch.from_numpy(np.stack([crop_mask(m) for m in masks]))[:, None], torch.from_numpy(labels)

    _stage(cache, name, ShapeClassifier(classes=shapes), 2e-3, steps, minutes, batch_fn,
           lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),
           lambda m: {"accuracy": shape_accuracy(m)})


# -------------------------------------------------------------- ToySim: pairs differing in k attributes
def sim_pairs(scenes, rng: np.random.Generator, n: int, kmax: int = 4):
    """n image pairs with k ~ U{0..kmax} changed attributes (``toyworld.edit_scene``).

    Returns
    -------
    a, b : ndarray of uint8, shape (n, 64, 64, 3)
        The two renders of each pair (both with jittered centres).
    k : ndarray of int, shape (n,)
        Changed attributes per pair.
    """
    a, b, ks = [], [], []
    for _ in range(n):
        s = scenes[int(rng.integers(len(scenes)))]
        k = int(rng.integers(0, kmax + 1))
        k = min(k, 3 * len(s.objects) + 1)
        a.append(edit_scene(s, 0, rng).render()[0])
        b.append(edit_scene(s, k, rng).render()[0])
        ks.append(k)
    return np.stack(a), np.stack(b), np.array(ks)


def toysim_spearman(model: ToySim, n: int = 600, seed: int = 777) -> float:
    """Spearman correlation of distance and number of changed attributes on test-split pairs."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    a, b, k = sim_pairs(sample_scenes(300, seed=seed, split="test"), rng, n)
    return float(spearmanr(model.distance(a, b), k).statistic)


def train_toysim(cache: str, *, steps: int, minutes: float, batch: int) -> None:
    """Train ToySim: regress ``1 - cos`` to 0.15 k for pairs with k changed attributes."""
    pool = sample_scenes(3000, seed=5, split="train")

    def batch_fn(rng):
        a, b, k = sim_pairs(pool, rng, batch)
        return as_batch(a), as_batch(b), torch.from_numpy(k).float()

    def loss_fn(m, bt):
        d = 1.0 - (m.embed(bt[0]) * m.embed(bt[1])).sum(-1)
        return (d - 0.15 * bt[2]).pow(2).mean()

    _stage(cache, "toysim", ToySim(), 1e-3, steps, minutes, batch_fn, loss_fn,
           lambda m: {"spearman": toysim_spearman(m)})


# -------------------------------------------------------------------- ToyNIMA: graded degradations
def nima_samples(scenes, rng: np.random.Generator, n: int):
    """n degraded renders (``toyworld.degrade``, a random level and kind each).

    Returns
    -------
    images : ndarray of uint8, shape (n, 64, 64, 3)
    levels : ndarray of int, shape (n,)
        Degradation levels, 0 (clean) to 9.
    kinds : list of str
        Degradation kinds (``toyworld.degrade.KINDS``).
    """
    imgs, levels, kinds = [], [], []
    for _ in range(n):
        s = scenes[int(rng.integers(len(scenes)))]
        img, masks = s.render()
        obj = np.zeros(img.shape[:2], bool)
        for o in s.objects:
            obj |= masks.get(o.shape, np.zeros_like(obj))
        lev, kind = int(rng.integers(N_LEVELS)), str(rng.choice(KINDS))
        imgs.append(degrade(img, lev, kind, objects_mask=obj, background=BACKGROUNDS[s.background], rng=rng))
        levels.append(lev)
        kinds.append(kind)
    return np.stack(imgs), np.array(levels), kinds


def toynima_spearman(model: ToyNIMA, n: int = 600, seed: int = 778) -> float:
    """Spearman correlation of degradation level and ``-quality`` on test-split images."""
    from scipy.stats import spearmanr

    imgs, lev, _ = nima_samples(sample_scenes(300, seed=seed, split="test"), np.random.default_rng(seed), n)
    return float(spearmanr(-model.quality(imgs), lev).statistic)


def train_toynima(cache: str, *, steps: int, minutes: float, batch: int) -> None:
    """Train ToyNIMA with NIMA's squared EMD loss to a target distribution centred on 10 - level."""
    pool = sample_scenes(3000, seed=6, split="train")
    bins = torch.arange(1, N_LEVELS + 1, dtype=torch.float32)

    def batch_fn(rng):
        imgs, lev, _ = nima_samples(pool, rng, batch)
        centre = 10.0 - torch.from_numpy(lev).float()[:, None]
        target = torch.softmax(-((bins[None] - centre) ** 2) / (2 * 0.7 ** 2), -1)
        return as_batch(imgs), target

    def loss_fn(m, bt):
        p = torch.softmax(m.logits(bt[0]), -1)
        return (torch.cumsum(p, -1) - torch.cumsum(bt[1], -1)).pow(2).mean(-1).sqrt().mean()

    _stage(cache, "toynima", ToyNIMA(), 1e-3, steps, minutes, batch_fn, loss_fn,
           lambda m: {"spearman": toynima_spearman(m)})


# ------------------------------------------------------------------------------------- export
def export_all(cache: str, out: str | os.PathLike = DATA_DIR) -> dict:
    """Write the trained ToySim, ToyNIMA and shape classifier to ``out`` (safetensors + json).

    Returns
    -------
    dict
        Per exported net: steps, minutes and its held-out metrics; also written to
        ``<out>/toy_training.json``.
    """
    info = {}
    for cls in (ShapeClassifier, ToySim, ToyNIMA):
        ck = load_ckpt(os.path.join(cache, f"{cls.name}.pt"))
        if ck is None or not ck.get("done"):
            continue
        m = cls(**ck["config"])
        m.load_state_dict(ck["model"])
        m.save_pretrained(os.path.join(out, cls.name))
        info[cls.name] = {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2),
                          **ck.get("metrics", {})}
    with open(os.path.join(out, "toy_training.json"), "w") as f:
        json.dump(info, f, indent=2)
    return info
