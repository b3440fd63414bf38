"""The exact optimum of Eq. 19: the best bandwidth for each user, with or without a shared cap.

Each user's utility (Eq. 19, one term of the sum) is

    u_i(b) = omega_1 J_i(b) H(Q_i(b) >= Q_th) - omega_2 b,        0 <= b <= B_i   (Eq. 19a)

where ``J_i`` and ``Q_i`` are the user's JPSQ and quality as functions of the pixels ``b`` sent,
known on a budget grid and interpolated linearly between its points (:class:`UtilityCurve`), and
``B_i`` is the bound of Eq. 19a in pixels. Budgets are whole pixels (the packet carries whole pixels).

Without a cap each user's maximum is found by evaluating ``u_i`` at every whole pixel count up to
``B_i``. With a shared cap ``sum_i b_i <= C`` the problem is a multiple-choice knapsack, and the step
``H`` makes ``u_i`` non-concave, so allocating pixel by pixel to the largest marginal gain can fail.
Between two consecutive *breakpoints* (grid points, the points where ``Q_i`` crosses ``Q_th``, the
bound) ``u_i`` is linear in ``b``; if two users sat strictly inside such pieces, moving pixels from one
to the other changes the total linearly, so one direction does not lower it until one of them reaches
a breakpoint. Hence an optimum exists in which every user but at most one sits on a breakpoint, and
that one takes what the others leave (or sits on a breakpoint too). :func:`optimal_allocation` runs a
dynamic programme over users and whole-pixel budgets for the breakpoint users, once for each choice
of the free user, and returns the best; ``tests/test_rl_optimum.py`` checks it against brute force and
against :func:`scipy.optimize.milp`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..checks import as_float_array
from ..config import ADDConfig, JPSQConfig

__all__ = ["UtilityCurve", "breakpoints", "optimal_allocation", "user_utility", "utility_term"]

_NEG = -np.inf


@dataclass(frozen=True)
class UtilityCurve:
    """One user's JPSQ and quality against the pixels sent, on a budget grid.

    Attributes
    ----------
    grid : numpy.ndarray, shape (K,)
        Budgets in pixels, whole numbers, strictly increasing, starting at 0.
    jpsq : numpy.ndarray, shape (K,)
        JPSQ ``J`` (Eq. 17) of the recovered image at each budget of the grid.
    quality : numpy.ndarray, shape (K,)
        Quality ``Q`` (Eq. 16, NIMA's mean score; ToyNIMA's on the toy backend) at each budget.

    Beyond the grid's last point (the whole packet) ``J`` and ``Q`` stay at their last values.
    """

    grid: np.ndarray
    jpsq: np.ndarray
    quality: np.ndarray

    def __post_init__(self) -> None:
        grid = as_float_array(self.grid, "grid")
        jpsq = as_float_array(self.jpsq, "jpsq")
        quality = as_float_array(self.quality, "quality")
        if grid.ndim != 1 or grid.size < 1:
            raise ValueError(f"grid must be a non-empty 1-D array of budgets, got shape {grid.shape}")
        if jpsq.shape != grid.shape or quality.shape != grid.shape:
            raise ValueError(f"jpsq {jpsq.shape} and quality {quality.shape} must have the grid's shape "
                             f"{grid.shape}")
        if grid[0] != 0 or np.any(np.diff(grid) <= 0) or np.any(grid != np.round(grid)):
            raise ValueError("grid must hold whole pixel counts, strictly increasing from 0")
        for name, arr in (("grid", grid), ("jpsq", jpsq), ("quality", quality)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} must be finite")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def at(self, budget) -> tuple[np.ndarray, np.ndarray]:
        """``J`` and ``Q`` at ``budget`` pixels (array-like), by linear interpolation on the grid."""
        b = np.asarray(budget, dtype=float)
        return np.interp(b, self.grid, self.jpsq), np.interp(b, self.grid, self.quality)


def utility_term(jpsq, quality, pixels, *, omega1: float, omega2: float, q_th: float):
    """One user's term of Eq. 19 of [G-SemCom] from its outcome: ``omega1 J H(Q >= q_th) - omega2 b``.

    Parameters
    ----------
    jpsq, quality : array-like of float
        JPSQ ``J`` (Eq. 17) and quality ``Q`` (Eq. 16) of the recovered image.
    pixels : array-like of float
        Bandwidth ``b`` spent, in pixels.
    omega1, omega2 : float
        The weights of Eq. 19 (Table III: 500 and 0.05 per pixel).
    q_th : float
        The quality threshold of the step ``H`` (Table III: 4.9827).

    Returns
    -------
    numpy.ndarray or float
        The broadcast shape of the inputs.
    """
    return omega1 * np.asarray(jpsq) * (np.asarray(quality) >= q_th) - omega2 * np.asarray(pixels, dtype=float)


def user_utility(curve: UtilityCurve, budget, *, jpsq_config: JPSQConfig | None = None,
                 add_config: ADDConfig | None = None) -> np.ndarray:
    """One user's term of Eq. 19 of [G-SemCom], ``omega_1 J(b) H(Q(b) >= Q_th) - omega_2 b``.

    Parameters
    ----------
    curve : UtilityCurve
        The user's JPSQ and quality against the pixels sent.
    budget : array-like of float
        Pixels sent, ``b`` (any shape).
    jpsq_config : JPSQConfig, optional
        Where ``Q_th`` comes from (Table III: 4.9827).
    add_config : ADDConfig, optional
        Where ``omega_1`` and ``omega_2`` come from (Table III: 500 and 0.05 per pixel).

    Returns
    -------
    numpy.ndarray
        The utility at each budget, the shape of ``budget``.
    """
    if not isinstance(curve, UtilityCurve):
        raise TypeError(f"curve must be a UtilityCurve, got {type(curve).__name__}")
    jc = jpsq_config or JPSQConfig()
    ac = add_config or ADDConfig()
    b = as_float_array(budget, "budget")
    j, q = curve.at(b)
    return utility_term(j, q, b, omega1=ac.omega1, omega2=ac.omega2, q_th=jc.q_th)


def breakpoints(curve: UtilityCurve, bound: int, *, q_th: float | None = None) -> np.ndarray:
    """Whole-pixel budgets between which one user's utility is linear, up to ``bound``.

    Parameters
    ----------
    curve : UtilityCurve
        The user's curves.
    bound : int
        The user's bound of Eq. 19a in pixels (>= 0).
    q_th : float, optional
        The quality threshold (default: ``JPSQConfig().q_th``).

    Returns
    -------
    numpy.ndarray of int, shape (M,)
        Sorted, unique budgets: 0, the grid points below ``bound``, ``bound``, and on each side of
        every point where the interpolated ``Q`` crosses ``q_th`` the nearest whole pixel counts.
    """
    q_th = JPSQConfig().q_th if q_th is None else float(q_th)
    points = [0, int(bound)]
    points += [int(g) for g in curve.grid if g < bound]
    g, q = curve.grid, curve.quality
    for k in range(len(g) - 1):
        lo, hi = q[k] - q_th, q[k + 1] - q_th
        if (lo < 0) != (hi < 0):  # the threshold is crossed inside this segment
            x = g[k] + (g[k + 1] - g[k]) * (-lo) / (hi - lo)
            points += [math.floor(x), math.ceil(x)]
    pts = np.unique(np.clip(np.asarray(points, dtype=np.int64), 0, int(bound)))
    return pts


def _check_inputs(curves, bounds, cap):
    curves = list(curves)
    if not curves:
        raise ValueError("curves must hold at least one user's UtilityCurve")
    for i, c in enumerate(curves):
        if not isinstance(c, UtilityCurve):
            raise TypeError(f"curves[{i}] must be a UtilityCurve, got {type(c).__name__}")
    bounds = np.asarray(bounds)
    if bounds.shape != (len(curves),):
        raise ValueError(f"bounds must hold one bound per user ({len(curves)}), got shape {bounds.shape}")
    if not np.all(np.isfinite(bounds.astype(float))) or np.any(bounds < 0):
        raise ValueError("bounds must be finite and >= 0 (pixels)")
    bounds = np.floor(bounds.astype(float)).astype(np.int64)
    if cap is not None:
        if isinstance(cap, bool) or not isinstance(cap, (int, float, np.integer, np.floating)):
            raise TypeError(f"cap must be a number of pixels or None, got {type(cap).__name__}")
        if not math.isfinite(cap) or cap < 0:
            raise ValueError(f"cap must be a finite number of pixels >= 0, got {cap!r}")
        cap = int(math.floor(cap))
    return curves, bounds, cap


def _knapsack(options: Sequence[tuple[np.ndarray, np.ndarray]], cap: int, *, exact: bool):
    """Max-plus DP: best total value of one option per user with total cost <= cap (or == for exact).

    Returns the table (cap + 1,) and, per user, the chosen option index at each capacity.
    """
    best = np.full(cap + 1, _NEG)
    if exact:
        best[0] = 0.0
    else:
        best[:] = 0.0
    choices = []
    for cost, value in options:
        new = np.full(cap + 1, _NEG)
        arg = np.full(cap + 1, -1, dtype=np.int64)
        for j, (c, v) in enumerate(zip(cost, value)):
            if c > cap:
                continue
            cand = np.full(cap + 1, _NEG)
            cand[c:] = best[: cap + 1 - c] + v
            better = cand > new
            new[better] = cand[better]
            arg[better] = j
        best = new
        choices.append(arg)
    return best, choices


def _trace(options, choices, capacity: int) -> list[int]:
    picks = []
    for (cost, _), arg in zip(reversed(options), reversed(choices)):
        j = int(arg[capacity])
        picks.append(int(cost[j]))
        capacity -= int(cost[j])
    return picks[::-1]


def optimal_allocation(curves: Sequence[UtilityCurve], bounds, *, cap=None,
                       jpsq_config: JPSQConfig | None = None,
                       add_config: ADDConfig | None = None) -> tuple[np.ndarray, float]:
    """The allocation that maximises Eq. 19 of [G-SemCom] subject to Eq. 19a and an optional shared cap.

    Parameters
    ----------
    curves : sequence of UtilityCurve, length N
        Each user's JPSQ and quality against the pixels sent.
    bounds : array-like of float, shape (N,)
        Each user's bound of Eq. 19a, ``min(L_i c_i / O, |S_i|)`` in pixels (rounded down).
    cap : float, optional
        Total pixels the users share, ``sum_i b_i <= cap`` (rounded down); ``None``: no cap.
    jpsq_config, add_config : optional
        ``Q_th``, ``omega_1`` and ``omega_2`` (Table III by default).

    Returns
    -------
    allocation : numpy.ndarray of int, shape (N,)
        Pixels for each user.
    total : float
        Eq. 19's sum at that allocation.

    Raises
    ------
    ValueError, TypeError
        For malformed curves, bounds or cap.
    """
    curves, bounds, cap = _check_inputs(curves, bounds, cap)
    kw = dict(jpsq_config=jpsq_config, add_config=add_config)
    q_th = (jpsq_config or JPSQConfig()).q_th
    # every user on its own: the best whole pixel count up to its bound
    solo = []
    for c, bd in zip(curves, bounds):
        u = user_utility(c, np.arange(bd + 1), **kw)
        solo.append(int(np.argmax(u)))
    solo = np.asarray(solo, dtype=np.int64)
    if cap is None or solo.sum() <= cap:
        total = float(sum(user_utility(c, b, **kw) for c, b in zip(curves, solo)))
        return solo, total
    options = []
    for c, bd in zip(curves, bounds):
        pts = breakpoints(c, int(bd), q_th=q_th)
        options.append((pts, user_utility(c, pts, **kw)))
    table, choices = _knapsack(options, cap, exact=False)
    best_alloc = np.asarray(_trace(options, choices, cap), dtype=np.int64)
    best_total = float(table[cap])
    # one free user takes exactly what the others leave
    for f, (c, bd) in enumerate(zip(curves, bounds)):
        others = options[:f] + options[f + 1:]
        if others:
            exact, ch = _knapsack(others, cap, exact=True)
        else:
            exact, ch = np.concatenate([[0.0], np.full(cap, _NEG)]), []
        spent = np.arange(cap + 1)
        free = np.minimum(cap - spent, bd)
        total = exact + user_utility(c, free, **kw)
        s = int(np.argmax(total))
        if total[s] > best_total + 1e-9:
            best_total = float(total[s])
            rest = _trace(others, ch, s) if others else []
            best_alloc = np.asarray(rest[:f] + [int(free[s])] + rest[f:], dtype=np.int64)
    return best_alloc, best_total
