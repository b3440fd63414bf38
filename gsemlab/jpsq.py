"""Joint Perceptual Similarity and Quality (JPSQ), Eq. 15-18 of [G-SemCom].

    D(g0, g1) = 1 - cosine(f(g0), f(g1))                        (Eq. 15, DreamSim-style distance)
    mu = sum_i i c_i,  sigma = sqrt(sum_i (i - mu)**2 c_i)      (Eq. 16, NIMA over scores 1..10)
    J(g0, g1) = T(D(g0, g1)) * ln(omega0 * Q(g1) / Q_th)        (Eq. 17)
    T(t) = (t_max - t) / (t_max - t_min)                        (Eq. 18)

Pure numpy: the networks ``f`` (DreamSim, ToySim) and NIMA (ToyNIMA) live in :mod:`gsemlab.models`;
this module takes their outputs. Defaults from :class:`gsemlab.config.JPSQConfig`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .checks import as_float_array, as_rng, check_positive_float, scalar_or_array
from .config import JPSQConfig

__all__ = [
    "NOISE_MEAN",
    "NOISE_STD",
    "calibrate_t_max",
    "cosine_distance",
    "gaussian_noise_image",
    "jpsq",
    "nima_mean",
    "nima_std",
    "normalised_similarity",
]

_DEFAULTS = JPSQConfig()

#: Pixel mean and standard deviation of the "pure Gaussian noise" image of the t_max calibration:
#: centred in [0, 255] with 2 sigma reaching both ends (about 4.6 % of pixels are clipped).
NOISE_MEAN = 127.5
NOISE_STD = 127.5 / 2


def _bounds(t_max, t_min) -> tuple[float, float]:
    hi = float(as_float_array(t_max, "t_max"))
    lo = float(as_float_array(t_min, "t_min"))
    if hi <= lo:
        raise ValueError(f"t_max must be > t_min, got t_max={hi}, t_min={lo}")
    return hi, lo


def normalised_similarity(distance, t_max, t_min=_DEFAULTS.t_min):
    """Normalised similarity ``T(t) = (t_max - t) / (t_max - t_min)``, Eq. 18 of [G-SemCom].

    Turns a perceptual distance into a similarity: 1 at ``t = t_min``, 0 at ``t = t_max``. Values are
    not clipped: a distance above ``t_max`` (further than the average noise image) gives ``T < 0``.

    Parameters
    ----------
    distance : array_like, shape (...)
        Perceptual distance ``t`` (e.g. DreamSim, dimensionless).
    t_max : float
        Upper bound of the distance, see :func:`calibrate_t_max`; must exceed ``t_min``.
    t_min : float
        Lower bound of the distance (Table III: 0).

    Returns
    -------
    similarity : float or ndarray, shape (...)
    """
    t = as_float_array(distance, "distance")
    hi, lo = _bounds(t_max, t_min)
    return scalar_or_array((hi - t) / (hi - lo))


def jpsq(
    distance,
    quality,
    t_max,
    *,
    omega0: float = _DEFAULTS.omega0,
    q_th: float = _DEFAULTS.q_th,
    t_min: float = _DEFAULTS.t_min,
):
    """JPSQ, Eq. 17 of [G-SemCom]: ``J = T(D) * ln(omega0 * Q / Q_th)``.

    The Weber-Fechner fusion of similarity and quality: ``J = 0`` when ``Q = Q_th / omega0`` and
    ``J = T(D)`` when ``Q = e * Q_th / omega0``. Arguments broadcast.

    Parameters
    ----------
    distance : array_like, shape (...)
        Perceptual distance ``D(g0, g1)`` between source and recovered image (Eq. 15).
    quality : array_like, shape (...)
        Aesthetic quality ``Q(g1)`` of the recovered image, > 0 (NIMA mean, Eq. 16, in [1, 10]).
    t_max : float
        Upper bound of the distance for Eq. 18.
    omega0 : float
        Weighting factor (Table III: 1.25), > 0.
    q_th : float
        Users' quality threshold ``Q_th`` (Table III: 4.9827), > 0.
    t_min : float
        Lower bound of the distance for Eq. 18 (0).

    Returns
    -------
    jpsq : float or ndarray
        Broadcast shape of ``distance`` and ``quality``.
    """
    q = as_float_array(quality, "quality", low=0.0, strict=True)
    omega0 = check_positive_float(omega0, "omega0")
    q_th = check_positive_float(q_th, "q_th")
    t = np.asarray(normalised_similarity(distance, t_max, t_min))
    return scalar_or_array(t * np.log(omega0 * q / q_th))


def _check_probs(probs, atol: float) -> np.ndarray:
    c = as_float_array(probs, "probs")
    if c.ndim == 0 or c.shape[-1] != 10:
        raise ValueError(f"probs must have a last axis of length 10 (scores 1..10), got shape {c.shape}")
    if (c < 0).any():
        raise ValueError("probs must be non-negative")
    sums = c.sum(axis=-1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=atol):
        worst = sums.flat[np.argmax(np.abs(sums - 1.0))]
        raise ValueError(f"probs must sum to 1 over the last axis (atol {atol}), got a sum of {worst}")
    return c


_SCORES = np.arange(1, 11, dtype=np.float64)


def nima_mean(probs, *, atol: float = 1e-4):
    """NIMA quality ``mu = sum_{i=1}^{10} i c_i``, Eq. 16 of [G-SemCom]; the paper's ``Q(g)``.

    Parameters
    ----------
    probs : array_like, shape (..., 10)
        Score distribution ``c(g) = [c_1, ..., c_10]``: non-negative, summing to 1 over the last axis.
    atol : float
        Tolerance on the sum (float32 softmax outputs are accepted).

    Returns
    -------
    mean : float or ndarray, shape (...)
        Mean score in [1, 10].
    """
    c = _check_probs(probs, atol)
    return scalar_or_array(c @ _SCORES)


def nima_std(probs, *, atol: float = 1e-4):
    """NIMA spread ``sigma = sqrt(sum_{i=1}^{10} (i - mu)**2 c_i)``, Eq. 16 of [G-SemCom].

    Parameters
    ----------
    probs : array_like, shape (..., 10)
        Score distribution, as in :func:`nima_mean`.
    atol : float
        Tolerance on the sum.

    Returns
    -------
    std : float or ndarray, shape (...)
    """
    c = _check_probs(probs, atol)
    mu = c @ _SCORES
    var = ((_SCORES - mu[..., None]) ** 2 * c).sum(axis=-1)
    return scalar_or_array(np.sqrt(np.maximum(var, 0.0)))


def cosine_distance(a, b):
    """Cosine distance ``1 - a.b / (|a| |b|)`` of feature vectors, Eq. 15 of [G-SemCom].

    Parameters
    ----------
    a, b : array_like, shape (..., k)
        Feature vectors ``f(g0)``, ``f(g1)``; leading axes broadcast, last axes must match. No vector
        may be all zeros.

    Returns
    -------
    distance : float or ndarray, shape (...)
        In [0, 2] (clipped there against rounding); 0 for parallel vectors.
    """
    x = as_float_array(a, "a")
    y = as_float_array(b, "b")
    if x.ndim == 0 or y.ndim == 0 or x.shape[-1] != y.shape[-1]:
        raise ValueError(f"a and b must be vectors with equal last axes, got shapes {x.shape} and {y.shape}")
    nx = np.linalg.norm(x, axis=-1)
    ny = np.linalg.norm(y, axis=-1)
    if (nx == 0).any() or (ny == 0).any():
        raise ValueError("a and b must not contain all-zero vectors (cosine undefined)")
    cos = (x * y).sum(axis=-1) / (nx * ny)
    return scalar_or_array(np.clip(1.0 - cos, 0.0, 2.0))


def gaussian_noise_image(shape, rng=None, *, mean: float = NOISE_MEAN, std: float = NOISE_STD) -> np.ndarray:
    """A "pure Gaussian noise" image: pixels ``N(mean, std**2)``, rounded and clipped to uint8.

    Parameters
    ----------
    shape : tuple of int
        Image shape, e.g. ``(H, W, 3)``.
    rng : None, int or numpy.random.Generator
        Seed or generator.
    mean, std : float
        Pixel mean and standard deviation (default 127.5 and 63.75, in pixel units 0..255).

    Returns
    -------
    image : ndarray of uint8, shape ``shape``
    """
    std = check_positive_float(std, "std")
    mean = float(as_float_array(mean, "mean"))
    x = as_rng(rng).normal(mean, std, size=tuple(shape))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _as_image(img, k: int) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"images[{k}] must be a uint8 array of shape (H, W, 3), got {arr.dtype} {arr.shape}")
    return arr


def calibrate_t_max(
    distance_fn: Callable[[np.ndarray, np.ndarray], float],
    images: Iterable[np.ndarray],
    rng=None,
) -> float:
    """Upper bound ``t_max`` of Eq. 18 of [G-SemCom]: mean distance of each image to a Gaussian-noise image.

    As in the paper ("generating 1000 AIGC images, measuring their DreamSim scores with a pure Gaussian
    noise, and calculating the average"), each image is compared with its own fresh noise image of the
    same shape (:func:`gaussian_noise_image`: N(127.5, 63.75**2) per pixel, rounded, clipped to uint8),
    and the distances are averaged.

    Parameters
    ----------
    distance_fn : callable
        ``distance_fn(image, noise) -> float``, e.g. a backend's ``distance``; both arguments are
        uint8 arrays of shape (H, W, 3).
    images : iterable of ndarray, or ndarray of shape (N, H, W, 3)
        Source images, uint8 (H, W, 3).
    rng : None, int or numpy.random.Generator
        Seed or generator of the noise images.

    Returns
    -------
    t_max : float
    """
    if not callable(distance_fn):
        raise TypeError(f"distance_fn must be callable, got {type(distance_fn).__name__}")
    gen = as_rng(rng)
    distances = []
    for k, img in enumerate(images):
        arr = _as_image(img, k)
        value = float(distance_fn(arr, gaussian_noise_image(arr.shape, gen)))
        if not np.isfinite(value):
            raise ValueError(f"distance_fn returned a non-finite distance ({value}) for images[{k}]")
        distances.append(value)
    if not distances:
        raise ValueError("images must contain at least one image")
    return float(np.mean(distances))
