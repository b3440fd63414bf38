"""gsemlab.rl.optimum: the exact optimum of Eq. 19 against brute force and scipy's MILP solver."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from gsemlab.config import ADDConfig, JPSQConfig
from gsemlab.rl import UtilityCurve, breakpoints, optimal_allocation, user_utility

Q_TH = JPSQConfig().q_th
W1, W2 = ADDConfig().omega1, ADDConfig().omega2


def random_curve(rng, top):
    """A curve on a coarse grid with a quality dip across the threshold (non-concave utility)."""
    grid = np.unique(np.r_[0, np.sort(rng.choice(np.arange(1, top), size=3, replace=False)), top])
    jpsq = np.sort(rng.uniform(0.1, 0.6, grid.size))
    quality = rng.uniform(Q_TH - 1.0, Q_TH + 1.0, grid.size)
    return UtilityCurve(grid, jpsq, quality)


def brute_force(curves, bounds, cap):
    """Every whole-pixel allocation, scored by the utility written out from Eq. 19."""
    best, arg = -np.inf, None
    for alloc in itertools.product(*[range(int(b) + 1) for b in bounds]):
        if cap is not None and sum(alloc) > cap:
            continue
        total = 0.0
        for c, b in zip(curves, alloc):
            j = np.interp(b, c.grid, c.jpsq)
            q = np.interp(b, c.grid, c.quality)
            total += W1 * j * (1.0 if q >= Q_TH else 0.0) - W2 * b
        if total > best:
            best, arg = total, alloc
    return np.asarray(arg), best


def test_utility_is_eq_19_by_hand():
    curve = UtilityCurve([0, 10], [0.2, 0.4], [Q_TH - 1, Q_TH + 1])
    # at b = 5: J = 0.3, Q = Q_TH (>= holds), utility = 500 * 0.3 - 0.05 * 5
    assert user_utility(curve, 5.0) == pytest.approx(W1 * 0.3 - W2 * 5)
    # at b = 4: Q below the threshold, only the cost remains
    assert user_utility(curve, 4.0) == pytest.approx(-W2 * 4)


def test_breakpoints_hold_grid_bound_and_both_sides_of_a_crossing():
    curve = UtilityCurve([0, 10, 20], [0.1, 0.2, 0.3], [Q_TH - 1, Q_TH + 0.5, Q_TH + 1])
    # the crossing is at b = 10 * 1 / 1.5 = 6.67: pixels 6 and 7
    assert breakpoints(curve, 15).tolist() == [0, 6, 7, 10, 15]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("capped", [False, True])
def test_optimum_equals_brute_force(seed, capped):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4))
    curves = [random_curve(rng, 12) for _ in range(n)]
    bounds = rng.integers(0, 13, size=n)
    cap = int(rng.integers(0, bounds.sum() + 1)) if capped else None
    alloc, total = optimal_allocation(curves, bounds, cap=cap)
    ref_alloc, ref_total = brute_force(curves, bounds, cap)
    assert total == pytest.approx(ref_total, abs=1e-9)
    assert np.all(alloc <= bounds) and (cap is None or alloc.sum() <= cap)
    # the allocation returned scores what is claimed
    assert sum(user_utility(c, b) for c, b in zip(curves, alloc)) == pytest.approx(total, abs=1e-9)


def milp_optimum(curves, bounds, cap):
    """Independent formulation: per user pick one linear piece (binary z) and a whole budget y in it.

    Pieces are the whole-pixel intervals between consecutive breakpoints on which the utility is
    affine (the step H constant), so the problem is a mixed-integer linear programme.
    """
    pieces = []  # (user, lo, hi, slope, intercept)
    for i, (c, bd) in enumerate(zip(curves, bounds)):
        pts = list(range(0, int(bd) + 1))
        # split at every pixel where the affine form changes: use unit pieces [p, p+1] and points
        for p in pts:
            u = float(user_utility(c, p))
            pieces.append((i, p, p, 0.0, u))
    n = len(pieces)
    # variables: z (n binaries), y (n integers)
    cost = np.zeros(2 * n)
    for k, (_, lo, _, slope, icpt) in enumerate(pieces):
        cost[k] = -icpt  # maximise
    a_rows, lb, ub = [], [], []
    for i in range(len(curves)):
        row = np.zeros(2 * n)
        for k, p in enumerate(pieces):
            if p[0] == i:
                row[k] = 1
        a_rows.append(row); lb.append(1); ub.append(1)
    for k, (_, lo, hi, _, _) in enumerate(pieces):  # y_k = lo * z_k (points)
        row = np.zeros(2 * n); row[n + k] = 1; row[k] = -lo
        a_rows.append(row); lb.append(0); ub.append(0)
    if cap is not None:
        row = np.zeros(2 * n); row[n:] = 1
        a_rows.append(row); lb.append(-np.inf); ub.append(cap)
    res = milp(cost, constraints=LinearConstraint(np.array(a_rows), lb, ub), integrality=np.ones(2 * n),
               bounds=Bounds(np.zeros(2 * n), np.r_[np.ones(n), np.full(n, np.inf)]))
    assert res.success
    return -res.fun


@pytest.mark.parametrize("seed", range(6))
def test_optimum_equals_milp_with_a_cap(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(3, 6))
    curves = [random_curve(rng, 30) for _ in range(n)]
    bounds = rng.integers(10, 31, size=n)
    cap = int(bounds.sum() // 2)
    _, total = optimal_allocation(curves, bounds, cap=cap)
    assert total == pytest.approx(milp_optimum(curves, bounds, cap), abs=1e-6)


def test_greedy_marginal_allocation_can_miss_the_optimum():
    """The step H makes the utility non-concave: pixel-by-pixel greedy stops short of the threshold."""
    a = UtilityCurve([0, 10], [0.0, 0.5], [Q_TH - 5, Q_TH])  # pays only at the full 10 pixels
    b = UtilityCurve([0, 10], [0.0, 0.05], [Q_TH + 1, Q_TH + 1])  # a little at once
    cap = 10
    alloc, total = optimal_allocation([a, b], [10, 10], cap=cap)
    assert alloc.tolist() == [10, 0]
    greedy = [0, 0]
    for _ in range(cap):
        gains = [user_utility(c, g + 1) - user_utility(c, g) for c, g in zip((a, b), greedy)]
        greedy[int(np.argmax(gains))] += 1
    greedy_total = sum(float(user_utility(c, g)) for c, g in zip((a, b), greedy))
    assert greedy_total < total - 1


@pytest.mark.parametrize("kwargs, error", [
    ({"curves": [], "bounds": []}, ValueError),
    ({"curves": ["x"], "bounds": [1]}, TypeError),
    ({"curves": "ok", "bounds": [1, 2]}, ValueError),
    ({"curves": "ok", "bounds": [-1]}, ValueError),
    ({"curves": "ok", "bounds": [1], "cap": -3}, ValueError),
    ({"curves": "ok", "bounds": [1], "cap": "5"}, TypeError),
])
def test_bad_input_is_named(kwargs, error):
    if kwargs["curves"] == "ok":
        kwargs["curves"] = [UtilityCurve([0, 4], [0.1, 0.2], [5.0, 6.0])]
    with pytest.raises(error):
        optimal_allocation(**kwargs)


@pytest.mark.parametrize("grid, error", [([1, 2], ValueError), ([0, 0], ValueError), ([0, 1.5], ValueError)])
def test_curve_rejects_a_bad_grid(grid, error):
    with pytest.raises(error):
        UtilityCurve(grid, [0.1, 0.2], [5, 6])
