"""Graded degradations of ShapesWorld renders, the training and test data of ToyNIMA.

``degrade(image, level, kind, masks, rng)`` returns a copy of a clean render degraded with a
severity ``level / 9`` (level 0 = clean, 9 = worst).  Kinds: Gaussian noise, Gaussian blur,
missing object parts (erased to the background), wrong object colours, and inpainting seams (a
region re-drawn shifted and with a brightness offset, leaving a visible seam).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

KINDS = ("noise", "blur", "missing", "wrong", "seam")
N_LEVELS = 10


def _check(image: np.ndarray, level: int) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3):
        raise TypeError("image must be a uint8 array of shape (H, W, 3)")
    if not (0 <= int(level) < N_LEVELS):
        raise ValueError(f"level must be an int in [0, {N_LEVELS - 1}], got {level!r}")


def degrade(image: np.ndarray, level: int, kind: str, *, objects_mask: np.ndarray | None = None,
            background: tuple | None = None, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Degrade a uint8 (H, W, 3) image with severity ``s = level / 9``.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
    level : int in [0, 9]
        0 returns the image unchanged.
    kind : {"noise", "blur", "missing", "wrong", "seam"}
        noise: additive Gaussian noise with std 70 s (grey levels); blur: Gaussian blur with std
        2.5 s pixels; missing: a fraction s of each object's pixels (smooth random blobs) set to
        the background colour; wrong: object pixels blended with a random wrong colour by s;
        seam: a random rectangle re-drawn shifted by up to 4 s pixels with a brightness offset
        of 90 s and a seam line at its border.
    objects_mask : ndarray of bool (H, W), optional
        Object pixels (needed by "missing" and "wrong"; default: pixels differing from the corner).
    background : tuple of 3 ints, optional
        Background colour (default: the top-left pixel).
    rng : numpy Generator or int seed, optional

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
    """
    _check(image, level)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(rng)
    s = int(level) / (N_LEVELS - 1)
    img = image.astype(np.float32)
    if level == 0:
        return image.copy()
    bg = np.asarray(background if background is not None else image[0, 0], np.float32)
    if objects_mask is None:
        objects_mask = np.abs(img - bg).sum(-1) > 30
    h, w = image.shape[:2]
    if kind == "noise":
        img = img + rng.normal(0.0, 70.0 * s, img.shape)
    elif kind == "blur":
        img = ndimage.gaussian_filter(img, sigma=(2.5 * s, 2.5 * s, 0))
    elif kind == "missing":
        field = ndimage.gaussian_filter(rng.random((h, w)), 3.0)
        field = (field - field.min()) / max(field.max() - field.min(), 1e-9)
        vals = field[objects_mask]
        if vals.size:
            thr = np.quantile(vals, s)
            erase = objects_mask & (field <= thr) if s < 1 else objects_mask
            img[erase] = bg
    elif kind == "wrong":
        wrong = rng.uniform(0, 255, 3).astype(np.float32)
        img[objects_mask] = (1 - s) * img[objects_mask] + s * wrong
    elif kind == "seam":
        y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
        y1, x1 = y0 + rng.integers(h // 4, h // 2 + 1), x0 + rng.integers(w // 4, w // 2 + 1)
        shift = int(round(4 * s)) * rng.choice([-1, 1], 2)
        patch = np.roll(img, tuple(shift), axis=(0, 1))[y0:y1, x0:x1] + 90.0 * s * rng.choice([-1, 1])
        img[y0:y1, x0:x1] = patch
        edge = np.zeros((h, w), bool)
        edge[y0:y1, x0:x1] = True
        edge &= ~ndimage.binary_erosion(edge)
        img[edge] = (1 - s) * img[edge] + s * rng.uniform(0, 255, 3)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
