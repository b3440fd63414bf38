"""Input checks shared by the pure-math modules (no third-party imports beyond numpy)."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_float_array", "check_positive_float", "check_positive_int", "scalar_or_array"]


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
