"""Small networks of the toy backend: ToySim (Eq. 15), ToyNIMA (Eq. 16) and the shape classifier.

* ``ToySim`` embeds a 64x64 image into a unit vector; the perceptual distance of two images is
  ``1 - cos(f(a), f(b))`` (a DreamSim analogue, Eq. 15 of the G-SemCom paper).
* ``ToyNIMA`` predicts a 10-bin distribution ``p`` over the scores 1..10; the quality is its mean
  ``sum_i i p_i`` (a NIMA analogue, Eq. 16).
* ``ShapeClassifier`` names the shape (``world.SHAPES``) of a binary object mask; `locate` uses it.

Weights ship as ``<name>.safetensors`` plus ``<name>.json`` (the constructor's keywords) in
``gsemlab/data/``; ``from_pretrained(path=None)`` loads them.  Training functions (``train_*``)
are called by ``python -m gsemlab.toyworld.train``.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch import nn

from .degrade import KINDS, N_LEVELS, degrade
from .world import BACKGROUNDS, COLOURS, SHAPES, SIZE, SIZES, Scene, SceneObject, sample_scenes, shape_mask

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
CROP = 24


# ------------------------------------------------------------------------------------- inputs
def as_batch(images, size: int = SIZE) -> torch.Tensor:
    """Images -> float tensor (N, 3, size, size) in [-1, 1].

    Accepts a uint8 array (H, W, 3) or (N, H, W, 3), a PIL image, or a list of either; float
    arrays are taken to be in [0, 1].  Other sizes are resized (bilinear) to ``size``.
    """
    from PIL import Image

    if isinstance(images, Image.Image):
        images = [images]
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("images must not be empty")
        arrs = [np.asarray(im.convert("RGB")) if isinstance(im, Image.Image) else np.asarray(im) for im in images]
        if any(a.ndim != 3 for a in arrs):
            raise ValueError("each image must have shape (H, W, 3)")
        arrs = [_resize(a, size) for a in arrs]
        arr = np.stack(arrs)
    elif isinstance(images, np.ndarray):
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must have shape (H, W, 3) or (N, H, W, 3), got {images.shape}")
        arr = np.stack([_resize(a, size) for a in images]) if images.shape[1:3] != (size, size) else images
    else:
        raise TypeError(f"images must be a uint8 array, a PIL image or a list of them, got {type(images).__name__}")
    arr = np.asarray(arr)
    x = torch.from_numpy(np.ascontiguousarray(arr)).float()
    if arr.dtype == np.uint8:
        x = x / 255.0
    return x.permute(0, 3, 1, 2) * 2.0 - 1.0


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if a.shape[:2] == (size, size):
        return a
    if a.dtype != np.uint8:
        a = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))


class _Pretrained(nn.Module):
    name = ""

    def __init__(self, **config):
        super().__init__()
        self.config = dict(config)

    @classmethod
    def from_pretrained(cls, path: str | None = None):
        """Load ``<path>.safetensors`` and ``<path>.json`` (default: the bundled weights)."""
        from safetensors.torch import load_file

        path = path or os.path.join(DATA_DIR, cls.name)
        path = path.removesuffix(".safetensors")
        if not os.path.exists(path + ".safetensors"):
            raise FileNotFoundError(f"no weights at {path}.safetensors; train them with "
                                    f"`python -m gsemlab.toyworld.train {cls.name.replace('_classifier', 's')}`")
        with open(path + ".json") as f:
            config = json.load(f)
        model = cls(**config)
        model.load_state_dict(load_file(path + ".safetensors"))
        return model.eval()

    def save_pretrained(self, path: str) -> None:
        """Write ``<path>.safetensors`` and ``<path>.json``."""
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, path + ".safetensors")
        with open(path + ".json", "w") as f:
            json.dump(self.config, f, indent=2)


def _cnn(channels, in_ch=3, first_stride=1):
    layers, c = [], in_ch
    for i, ch in enumerate(channels):
        layers += [nn.Conv2d(c, ch, 3, stride=first_stride if i == 0 else 2, padding=1), nn.GroupNorm(8, ch), nn.SiLU()]
        c = ch
    return nn.Sequential(*layers)


# -------------------------------------------------------------------------------------- ToySim
class ToySim(_Pretrained):
    """Perceptual distance of Eq. 15: ``d(a, b) = 1 - cos(f(a), f(b))`` with a small CNN ``f``."""

    name = "toysim"

    def __init__(self, *, channels=(32, 64, 96, 128), dim: int = 128):
        super().__init__(channels=list(channels), dim=dim)
        self.body = _cnn(channels, first_stride=2)  # 64 -> 32 -> 16 -> 8 -> 4
        self.head = nn.Linear(channels[-1] * 16, dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 64, 64) in [-1, 1] -> unit vectors (N, dim)."""
        return nn.functional.normalize(self.head(self.body(x).flatten(1)), dim=-1)

    @torch.no_grad()
    def distance(self, a, b):
        """Perceptual distance ``1 - cos`` (Eq. 15) between images or batches of images.

        Parameters
        ----------
        a, b : uint8 arrays (H, W, 3) or (N, H, W, 3), PIL images, or lists of them
            Equal counts, or one side a single image (broadcast).

        Returns
        -------
        float for two single images, else ndarray (N,); values in [0, 2], 0 for identical images.
        """
        xa, xb = as_batch(a), as_batch(b)
        if len(xa) != len(xb) and 1 not in (len(xa), len(xb)):
            raise ValueError(f"a and b must hold equal numbers of images (or one), got {len(xa)} and {len(xb)}")
        d = (1.0 - (self.embed(xa) * self.embed(xb)).sum(-1)).clamp_min(0.0).numpy()
        single = _is_single(a) and _is_single(b)
        return float(d[0]) if single else d


def _is_single(x) -> bool:
    from PIL import Image

    return isinstance(x, Image.Image) or (isinstance(x, np.ndarray) and x.ndim == 3)


# ------------------------------------------------------------------------------------- ToyNIMA
class ToyNIMA(_Pretrained):
    """Quality of Eq. 16: a 10-bin score distribution ``p`` over 1..10 and its mean ``sum_i i p_i``."""

    name = "toynima"

    def __init__(self, *, channels=(32, 48, 64, 96, 128)):
        super().__init__(channels=list(channels))
        self.body = _cnn(channels, first_stride=1)  # 64 -> 64 -> 32 -> 16 -> 8 -> 4
        self.head = nn.Linear(2 * channels[-1], N_LEVELS)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.head(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))

    @torch.no_grad()
    def distribution(self, img) -> np.ndarray:
        """Score distribution over the bins 1..10, shape (10,) or (N, 10); rows sum to 1."""
        p = torch.softmax(self.logits(as_batch(img)), -1).numpy()
        return p[0] if _is_single(img) else p

    @torch.no_grad()
    def quality(self, img):
        """Mean score ``sum_{i=1}^{10} i p_i`` (Eq. 16), in [1, 10]: float, or ndarray (N,) for a batch."""
        p = self.distribution(img)
        q = p @ np.arange(1, N_LEVELS + 1, dtype=np.float64)
        return float(q) if np.ndim(q) == 0 else q


# ---------------------------------------------------------------------------- shape classifier
def crop_mask(mask: np.ndarray, size: int = CROP) -> np.ndarray:
    """Crop a binary object mask to its bounding box, pad it to a square (centred) with a one-pixel
    margin, and resample it (nearest) to ``size x size`` float32 in {0, 1}."""
    mask = np.asarray(mask, bool)
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return np.zeros((size, size), np.float32)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = max(y1 - y0, x1 - x0) + 2
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    grid = (np.arange(size) + 0.5) / size * side - side / 2.0
    yy = np.floor(cy + grid).astype(int)
    xx = np.floor(cx + grid).astype(int)
    valid_y = (yy >= 0) & (yy < mask.shape[0])
    valid_x = (xx >= 0) & (xx < mask.shape[1])
    out = mask[np.clip(yy, 0, mask.shape[0] - 1)][:, np.clip(xx, 0, mask.shape[1] - 1)]
    out &= valid_y[:, None] & valid_x[None, :]
    return out.astype(np.float32)


class ShapeClassifier(_Pretrained):
    """Names the shape of a binary object mask (classes ``world.SHAPES``)."""

    name = "shape_classifier"

    def __init__(self, *, channels=(16, 32, 64), classes=SHAPES):
        super().__init__(channels=list(channels), classes=list(classes))
        self.body = _cnn(channels, in_ch=1, first_stride=1)  # 24 -> 24 -> 12 -> 6
        self.head = nn.Linear(channels[-1] * 36, len(classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))

    @torch.no_grad()
    def predict_proba(self, masks) -> np.ndarray:
        """Class probabilities (N, n_classes) for a list of boolean masks (any size, one object each)."""
        x = torch.from_numpy(np.stack([crop_mask(m) for m in masks]))[:, None]
        return torch.softmax(self(x), -1).numpy()

    def predict(self, masks) -> list[str]:
        """Shape names for a list of boolean masks."""
        return [self.config["classes"][i] for i in self.predict_proba(masks).argmax(1)]


def _noisy_shape_masks(rng: np.random.Generator, n: int):
    """Single shapes of random size and place, degraded like decoded generations (blurred edges,
    re-thresholded, a few flipped boundary pixels); returns (masks, labels)."""
    from scipy import ndimage

    masks, labels = [], []
    for _ in range(n):
        k = int(rng.integers(len(SHAPES)))
        r = float(rng.uniform(5.0, 13.0))
        c = rng.uniform(r + 1, SIZE - r - 1, 2)
        m = shape_mask(SHAPES[k], c[0], c[1], r)
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


# ----------------------------------------------------------------------------------- training
def _stage(cache: str, name: str, model: nn.Module, lr: float, steps: int, minutes: float, batch_fn, loss_fn,
           evaluate, seed: int = 0) -> None:
    from .train import _fit, load_ckpt, log, save_ckpt

    path = os.path.join(cache, f"{name}.pt")
    ck = load_ckpt(path)
    if ck is not None and ck.get("done"):
        return
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    model.train()
    step, budget = _fit(cache, name, path, ck, model, opt, lambda rng: (loss_fn(model, batch_fn(rng)), ""),
                        steps, minutes, seed, lr=lr, warmup=50, floor=0.05, every_s=120.0)
    model.eval()
    metrics = evaluate(model)
    save_ckpt({"model": model.state_dict(), "config": model.config, "step": step, "elapsed": budget.elapsed,
               "done": True, "metrics": metrics}, path)
    log(cache, name, f"done: {step} steps, {budget.elapsed / 60:.1f} min, {metrics}")


def shape_accuracy(model: ShapeClassifier, n: int = 1000, seed: int = 12345) -> float:
    """Accuracy on n held-out noisy single-shape masks (seeded)."""
    masks, labels = _noisy_shape_masks(np.random.default_rng(seed), n)
    pred = model.predict_proba(masks).argmax(1)
    return float((pred == labels).mean())


def train_shapes(cache: str, *, steps: int, minutes: float, batch: int) -> None:
    """Train the shape classifier on noisy single-shape masks."""
    def batch_fn(rng):
        masks, labels = _noisy_shape_masks(rng, batch)
        return torch.from_numpy(np.stack([crop_mask(m) for m in masks]))[:, None], torch.from_numpy(labels)

    _stage(cache, "shape_classifier", ShapeClassifier(), 2e-3, steps, minutes, batch_fn,
           lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]),
           lambda m: {"accuracy": shape_accuracy(m)})


# ToySim: pairs of scenes that differ in k attributes
def edit_scene(scene: Scene, k: int, rng: np.random.Generator) -> Scene:
    """Change k distinct attributes of a scene: an object's colour, shape or size, or the
    background (at most one change per (object, attribute)); centres are jittered by up to 1 px."""
    objs = [dict(shape=o.shape, colour=o.colour, size=o.size, cx=o.cx, cy=o.cy) for o in scene.objects]
    slots = [(i, a) for i in range(len(objs)) for a in ("colour", "shape", "size")] + [(-1, "background")]
    picks = rng.choice(len(slots), size=min(k, len(slots)), replace=False)
    bg = scene.background
    for j in picks:
        i, a = slots[j]
        if a == "background":
            bg = str(rng.choice([b for b in BACKGROUNDS if b != bg]))
            continue
        pool = {"colour": list(COLOURS), "shape": list(SHAPES), "size": list(SIZES)}[a]
        objs[i][a] = str(rng.choice([v for v in pool if v != objs[i][a]]))
    for o in objs:
        o["cx"] += float(rng.uniform(-1, 1)); o["cy"] += float(rng.uniform(-1, 1))
    return Scene(tuple(SceneObject(**o) for o in objs), bg, scene.relation, scene.caption, scene.words)


def sim_pairs(scenes, rng: np.random.Generator, n: int, kmax: int = 4):
    """n image pairs with k ~ U{0..kmax} changed attributes; returns (a, b, k) uint8 arrays and ints."""
    a, b, ks = [], [], []
    for _ in range(n):
        s = scenes[int(rng.integers(len(scenes)))]
        k = int(rng.integers(0, kmax + 1))
        k = min(k, 3 * len(s.objects) + 1)
        a.append(edit_scene(s, 0, rng).render()[0]); b.append(edit_scene(s, k, rng).render()[0]); ks.append(k)
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


# ToyNIMA: graded degradations
def nima_samples(scenes, rng: np.random.Generator, n: int):
    """n degraded renders: (images uint8 (n, 64, 64, 3), levels (n,), kinds list)."""
    imgs, levels, kinds = [], [], []
    for _ in range(n):
        s = scenes[int(rng.integers(len(scenes)))]
        img, masks = s.render()
        obj = np.zeros(img.shape[:2], bool)
        for o in s.objects:
            obj |= masks.get(o.shape, np.zeros_like(obj))
        lev, kind = int(rng.integers(N_LEVELS)), str(rng.choice(KINDS))
        imgs.append(degrade(img, lev, kind, objects_mask=obj, background=BACKGROUNDS[s.background], rng=rng))
        levels.append(lev); kinds.append(kind)
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
        target = torch.softmax(-((bins[None] - (10.0 - torch.from_numpy(lev).float()[:, None])) ** 2) / (2 * 0.7 ** 2), -1)
        return as_batch(imgs), target

    def loss_fn(m, bt):
        p = torch.softmax(m.logits(bt[0]), -1)
        return (torch.cumsum(p, -1) - torch.cumsum(bt[1], -1)).pow(2).mean(-1).sqrt().mean()

    _stage(cache, "toynima", ToyNIMA(), 1e-3, steps, minutes, batch_fn, loss_fn,
           lambda m: {"spearman": toynima_spearman(m)})


def export_all(cache: str, out: str = DATA_DIR) -> dict:
    """Write the trained ToySim, ToyNIMA and shape classifier to ``out`` (safetensors + json)."""
    from .train import load_ckpt

    info = {}
    for cls in (ShapeClassifier, ToySim, ToyNIMA):
        ck = load_ckpt(os.path.join(cache, f"{cls.name}.pt"))
        if ck is None or not ck.get("done"):
            continue
        m = cls(**ck["config"])
        m.load_state_dict(ck["model"])
        m.save_pretrained(os.path.join(out, cls.name))
        info[cls.name] = {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2), **ck.get("metrics", {})}
    with open(os.path.join(out, "toy_training.json"), "w") as f:
        json.dump(info, f, indent=2)
    return info
