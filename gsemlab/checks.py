"""Input checks and small conversions shared by every module (numpy only; imports nothing of gsemlab).

Each check raises a `TypeError` (wrong kind of value) or a `ValueError` (right kind, bad value) whose
message names the argument and says what was expected, before any model runs.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_float_array", "as_rng", "check_positive_float", "check_positive_int", "check_prompt", "check_seed",
    "readonly", "scalar_or_array", "to_uint8",
]


def as_float_array(value, name: str, *, low: float | None = None, strict: bool = False) -> np.ndarray:
    """Return ``value`` as a float64 array; raise if it is not real, finite and above ``low``.

    Parameters
    ----------
    value : array_like
        Number or array of numbers.
    name : str
        Argument name used in the error message.
    low : float, optional
        Lower bound; values below it (or equal to it when ``strict``) raise ``ValueError``.
    strict : bool
        Whether ``low`` itself is excluded.
    """
    raw = np.asarray(value)
    if raw.dtype.kind not in "biufO":
        raise TypeError(f"{name} must be a real number or an array of real numbers, got dtype {raw.dtype}")
    try:
        arr = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number or an array of real numbers") from None
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    if np.isinf(arr).any():
        raise ValueError(f"{name} must be finite, got an infinite value")
    if low is not None and arr.size:
        bad = (arr <= low) if strict else (arr < low)
        if bad.any():
            relation = ">" if strict else ">="
            raise ValueError(f"{name} must be {relation} {low}, got {arr[bad].flat[0]!r}")
    return arr


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive_float(value, name: str) -> float:
    """Return ``value`` as a float, raising unless it is a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def scalar_or_array(arr: np.ndarray):
    """Return a numpy scalar (a ``float`` subclass) for 0-d arrays, the array otherwise."""
    return arr[()]


def check_seed(seed, name: str = "seed") -> int:
    """Return ``seed`` as an int, raising unless it is an integer >= 0 (bools and strings rejected).

    Parameters
    ----------
    seed : int
        A random seed.
    name : str
        Argument name used in the error message.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {seed!r}")
    return int(seed)


def as_rng(rng, name: str = "rng") -> np.random.Generator:
    """``numpy.random.default_rng(rng)`` for the values it is meant for, a clear error for the rest.

    Parameters
    ----------
    rng : None, int >= 0, sequence of int >= 0, numpy.random.SeedSequence or numpy.random.Generator
        A generator (returned as it is), a seed (one integer, or several mixed into one stream, as
        ``default_rng([seed, k])``), or None for fresh entropy.
    name : str
        Argument name used in the error message.
    """
    if rng is None or isinstance(rng, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(rng)
    if isinstance(rng, (list, tuple, np.ndarray)) and len(rng) > 0:
        return np.random.default_rng([check_seed(v, f"{name} entries") for v in np.asarray(rng).tolist()])
    if isinstance(rng, bool) or not isinstance(rng, numbers.Integral):
        raise TypeError(f"{name} must be None, an integer seed >= 0 (or a sequence of them) or a "
                        f"numpy.random.Generator, got {type(rng).__name__} {rng!r}")
    return np.random.default_rng(check_seed(rng, name))


def check_prompt(prompt, name: str = "prompt") -> str:
    """Return ``prompt``, raising unless it is a str with at least one non-space character.

    Parameters
    ----------
    prompt : str
        A text prompt.
    name : str
        Argument name used in the error message.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"{name} must be a str, got {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError(f"{name} must contain at least one word, got an empty or whitespace-only string")
    return prompt


def to_uint8(images) -> np.ndarray:
    """First image of a diffusers ``output_type="np"`` batch (floats in [0, 1]) as uint8 (H, W, 3).

    Parameters
    ----------
    images : array_like of float, shape (B, H, W, C)
        Pipeline output images in [0, 1] (values outside are clipped).

    Returns
    -------
    ndarray of uint8, shape (H, W, C)
        ``round(clip(x, 0, 1) * 255)``, as diffusers' ``numpy_to_pil`` does.
    """
    arr = np.asarray(images[0], dtype=np.float32)
    return (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)


def readonly(a: np.ndarray) -> np.ndarray:
    """Mark ``a`` read-only in place and return it (for arrays held by frozen dataclasses).

    Parameters
    ----------
    a : ndarray
        An array the caller owns (a copy, not a view of someone else's data).
    """
    a.setflags(write=False)
    return a
