"""Small networks of the toy backend: ToySim (Eq. 15), ToyNIMA (Eq. 16) and the shape classifier.

* ``ToySim`` embeds a 64x64 image into a unit vector; the perceptual distance of two images is
  ``1 - cos(f(a), f(b))`` (a DreamSim analogue, Eq. 15 of the G-SemCom paper).
* ``ToyNIMA`` predicts a 10-bin distribution ``p`` over the scores 1..10; the quality is its mean
  ``sum_i i p_i`` (a NIMA analogue, Eq. 16).
* ``ShapeClassifier`` names the shape (``world.SHAPES``) of a binary object mask; `locate` uses it.

Weights ship as ``<name>.safetensors`` plus ``<name>.json`` (the constructor's keywords) in
``gsemlab/data/`` (:data:`gsemlab.data.DATA_DIR`); ``from_pretrained(path=None)`` loads them.  They are
trained by ``python -m gsemlab.training shapes|toysim|toynima`` (:mod:`gsemlab.training.metric_nets`).
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch import nn

from ..data import DATA_DIR
from .degrade import N_LEVELS
from .world import SHAPES, SIZE

__all__ = ["CROP", "ShapeClassifier", "ToyNIMA", "ToySim", "as_batch", "crop_mask", "image_scores", "mean_and_se"]

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
        arrs = [np.asarray(im.convert("RGB")) if isinstance(im, Image.Image) else np.asarray(im)
                for im in images]
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
        raise TypeError(f"images must be a uint8 array, a PIL image or a list of them, "
                        f"got {type(images).__name__}")
    arr = np.asarray(arr)
    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:  # e.g. np.asarray of a PIL image: torch warns about read-only memory
        arr = arr.copy()
    x = torch.from_numpy(arr).float()
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

        path = os.fspath(path) if path else os.path.join(DATA_DIR, cls.name)
        path = path.removesuffix(".safetensors")
        if not os.path.exists(path + ".safetensors"):
            raise FileNotFoundError(f"no weights at {path}.safetensors; train them with "
                                    f"`python -m gsemlab.training {cls.name.replace('_classifier', 's')}`")
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
        layers += [nn.Conv2d(c, ch, 3, stride=first_stride if i == 0 else 2, padding=1), nn.GroupNorm(8, ch),
                   nn.SiLU()]
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
        """Perceptual distance ``1 - cos`` (Eq. 15 of [G-SemCom]) between images or batches of images.

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
            raise ValueError(f"a and b must hold equal numbers of images (or one), "
                             f"got {len(xa)} and {len(xb)}")
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
        """Mean score ``sum_{i=1}^{10} i p_i`` (Eq. 16 of [G-SemCom]), in [1, 10].

        A float, or an ndarray (N,) for a batch.
        """
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


def mean_and_se(values) -> tuple[float, float]:
    """Mean and standard error (``std(ddof=1) / sqrt(n)``) of per-image scores, as floats.

    Parameters
    ----------
    values : array-like of float, shape (n,), n >= 2
        One score per image.

    Returns
    -------
    (float, float)
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    if v.size < 2:
        raise ValueError(f"need at least 2 scores for a standard error, got {v.size}")
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


def image_scores(reference, received, *, toysim: ToySim | None = None) -> dict:
    """PSNR, SSIM and ToySim distance of received images against their references, mean and SE.

    Parameters
    ----------
    reference, received : numpy.ndarray of uint8, shape (n, H, W, 3)
        The sent images and what the receiver made of them, pair by pair (n >= 2).
    toysim : ToySim, optional
        The distance net (default the bundled one, ``ToySim.from_pretrained()``).

    Returns
    -------
    dict
        ``psnr_db`` (dB, data range 255), ``ssim`` (scikit-image, colour channels) and ``toysim``
        (Eq. 15's distance with ToySim), each the mean over images, with ``*_se`` their standard errors.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    reference, received = np.asarray(reference), np.asarray(received)
    if reference.shape != received.shape or reference.ndim != 4 or reference.dtype != np.uint8 \
            or received.dtype != np.uint8:
        raise ValueError(f"reference and received must be uint8 batches of one shape (n, H, W, 3), got "
                         f"{reference.dtype} {reference.shape} and {received.dtype} {received.shape}")
    psnr = [peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(reference, received)]
    ssim = [structural_similarity(a, b, channel_axis=2, data_range=255) for a, b in zip(reference, received)]
    dist = (toysim or ToySim.from_pretrained()).distance(list(reference), list(received))
    out = {}
    for name, values in (("psnr_db", psnr), ("ssim", ssim), ("toysim", dist)):
        out[name], out[f"{name}_se"] = mean_and_se(values)
    return out
