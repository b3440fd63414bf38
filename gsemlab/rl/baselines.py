"""Allocations without learning, for the bandwidth-allocation environment: what ADD must beat.

Each rule reads the current users of a :class:`~gsemlab.rl.env.BandwidthAllocationEnv` (their Eq. 19a
bounds ``B_i`` and whole packets ``|S_i|``) and returns pixels per user. ``C`` is the shared cap, or,
without one, the total the fixed allocation would send (``sum_i B_i``), so that the rules spend the
same total and differ only in how they share it.

* ``fixed``: the paper's *fixed allocation* (Fig. 15): every user gets all that fits, ``B_i``,
  scaled down in proportion when the total exceeds the shared cap (so it pays no penalty).
* ``equal``: ``C / N`` each, capped at ``B_i``.
* ``size``: ``C`` in proportion to the semantic sizes ``|S_i|``, capped at ``B_i``.
* ``random``: uniform in ``[0, B_i]`` for each user.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BASELINES", "baseline_action"]

BASELINES = ("fixed", "equal", "size", "random")


def baseline_action(env, rule: str, rng=None) -> np.ndarray:
    """Pixels per user for the environment's current users by one of ``BASELINES``.

    Parameters
    ----------
    env : gymnasium.Env
        A :class:`~gsemlab.rl.env.BandwidthAllocationEnv` (or a wrapper of one) after ``reset``.
    rule : {"fixed", "equal", "size", "random"}
        The allocation rule.
    rng : numpy.random.Generator or int, optional
        Draws of the ``"random"`` rule.

    Returns
    -------
    numpy.ndarray of float, shape (N,)
        Pixels for each user (within each bound; the environment applies the cap).
    """
    if rule not in BASELINES:
        raise ValueError(f"rule must be one of {BASELINES}, got {rule!r}")
    base = env.unwrapped
    if getattr(base, "state", None) is None:
        raise RuntimeError("call env.reset() first: the rules allocate among the current users")
    bound = base.state["bound"].astype(float)
    size = base.state["packet"].astype(float)
    total = float(bound.sum()) if base.shared_cap is None else min(base.shared_cap, float(bound.sum()))
    n = bound.size
    if rule == "fixed":
        return bound * min(1.0, total / bound.sum()) if bound.sum() > 0 else bound.copy()
    if rule == "random":
        return np.random.default_rng(rng).uniform(0.0, 1.0, n) * bound
    if rule == "equal":
        return np.minimum(np.full(n, total / n), bound)
    share = size / size.sum() if size.sum() > 0 else np.full(n, 1.0 / n)
    return np.minimum(total * share, bound)
