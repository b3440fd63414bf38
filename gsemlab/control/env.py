"""Joint choice of the downscaling factors of several AIGC services on one link ([Control], Sec. IV-C).

The case study of [Control] (Sec. IV-C, Fig. 4-5) shares a link among four services, each a pair of an
extraction method and an evaluation metric whose quality, normalised to [0, 1] (1: the regenerated image
matches the original), falls as its control map is downscaled; a DQN picks every service's factor at once.
:class:`ServiceAllocationEnv` is that decision as a gymnasium environment.

State (the course's design; it changes at every step, so between episodes). Each step draws

* the link budget ``B`` uniformly from ``budget_range`` (in the units of ``costs``: bytes when the costs
  are message sizes, or shares of a full-size map with the default costs ``1 / f**2``), and
* which services are active: each independently with probability ``p_active``, at least one (when
  none is drawn, one service chosen uniformly is made active).

Observation: ``[B / budget_range[1], active_1, ..., active_n]`` (float32 in [0, 1]).

Action: the joint choice of factors, one index into ``factors`` per service, flattened into one
``Discrete(n_factors ** n_services)`` integer with the first service most significant
(``numpy.ravel_multi_index`` order: ``a = sum_i k_i n_factors**(n - 1 - i)``).

Reward: ``sum over active i of curves[i, k_i] - penalty * max(0, C - B) / B`` with the link cost
``C = sum over active i of costs[i, k_i]``: an inactive service sends nothing and scores nothing. An
episode is ``horizon`` steps (default 1: each episode is one decision, a contextual bandit, as the
allocations of :mod:`gsemlab.rl`); the next state never depends on the action.

:meth:`ServiceAllocationEnv.optimal_action` enumerates every joint action (256 for four services and
four factors): the exact optimum that a learned allocator is graded against.
"""

from __future__ import annotations

import math
import numbers

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..checks import check_positive_int
from .maps import FACTORS

__all__ = ["MAX_ACTIONS", "N_SERVICES", "ServiceAllocationEnv", "default_costs"]

#: services of the paper's case study (Fig. 4)
N_SERVICES = 4
#: the largest joint action space the environment enumerates
MAX_ACTIONS = 4096


def default_costs(n_services: int = N_SERVICES, factors=FACTORS) -> np.ndarray:
    """Link cost of each service at each factor in shares of a full-size map: ``1 / f**2``.

    Parameters
    ----------
    n_services : int
        Rows.
    factors : sequence of int
        The downscaling factors (columns).

    Returns
    -------
    ndarray of float, shape (n_services, len(factors))
    """
    n_services = check_positive_int(n_services, "n_services")
    f = np.asarray(factors, dtype=float)
    return np.tile(1.0 / f ** 2, (n_services, 1))


def _table(value, name: str, shape=None, *, low=None, high=None, strict=False) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf" or arr.dtype == bool:
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim != 2 or (shape is not None and arr.shape != shape):
        want = shape if shape is not None else "(n_services, n_factors)"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {arr[~np.isfinite(arr)][0]!r}")
    if low is not None and ((arr <= low) if strict else (arr < low)).any():
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {arr.min()!r}")
    if high is not None and (arr > high).any():
        raise ValueError(f"{name} must be <= {high}, got {arr.max()!r}")
    return arr


class ServiceAllocationEnv(gym.Env):
    """Pick the downscaling factor of every active service under a link budget ([Control], Sec. IV-C).

    Parameters
    ----------
    curves : array_like of float, shape (n_services, n_factors)
        ``curves[i, k]``: service ``i``'s normalised quality in [0, 1] when its map is downscaled by
        ``factors[k]`` (the paper's Fig. 3-4 measurements; synthetic curves in tests).
    costs : array_like of float, shape (n_services, n_factors), optional
        ``costs[i, k] > 0``: what service ``i``'s message costs the link at ``factors[k]`` (bytes, or any
        unit the budget shares). Default :func:`default_costs`: ``1 / f**2`` of a full-size map.
    factors : sequence of int
        The factors the columns stand for (default :data:`gsemlab.control.maps.FACTORS`); they label
        ``info["factors"]`` only.
    budget_range : (float, float), optional
        ``(low, high)``, ``0 < low <= high``: the budget ``B`` is uniform on it. Default: from the cost of
        every service at its cheapest factor to the cost of every service at its dearest.
    p_active : float
        Probability that a service is active at a step, in (0, 1].
    penalty : float
        Reward taken per unit of relative overrun ``(C - B) / B`` (>= 0).
    horizon : int
        Steps per episode (>= 1).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium's convention)

    def __init__(self, curves, *, costs=None, factors=FACTORS, budget_range=None, p_active: float = 0.75,
                 penalty: float = 4.0, horizon: int = 1):
        super().__init__()
        self.curves = _table(curves, "curves", low=0.0, high=1.0)
        n, k = self.curves.shape
        if isinstance(factors, (str, bytes)) or len(factors) != k or not all(
                isinstance(f, numbers.Integral) and not isinstance(f, bool) and f >= 1 for f in factors):
            raise ValueError(f"factors must be {k} integers >= 1 (one per column of curves), got {factors!r}")
        if k < 2 or k ** n > MAX_ACTIONS:
            raise ValueError(f"curves of shape {self.curves.shape} give {k}**{n} = {k ** n} joint actions; "
                             f"need 2 to {MAX_ACTIONS} (at least two factors)")
        self.factors = tuple(int(f) for f in factors)
        self.costs = (default_costs(n, self.factors) if costs is None
                      else _table(costs, "costs", (n, k), low=0.0, strict=True))
        if budget_range is None:
            budget_range = (float(self.costs.min(axis=1).sum()), float(self.costs.max(axis=1).sum()))
        try:
            low, high = (float(b) for b in budget_range)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"budget_range must be two numbers (low, high), got {budget_range!r}") from exc
        if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
            raise ValueError(f"budget_range must satisfy 0 < low <= high (finite), got {budget_range!r}")
        if isinstance(p_active, bool) or not isinstance(p_active, numbers.Real) or not 0 < p_active <= 1:
            raise ValueError(f"p_active must be a probability in (0, 1], got {p_active!r}")
        if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not (
                math.isfinite(penalty) and penalty >= 0):
            raise ValueError(f"penalty must be a finite number >= 0, got {penalty!r}")
        self.n_services, self.n_factors = n, k
        self.budget_range = (low, high)
        self.p_active, self.penalty = float(p_active), float(penalty)
        self.horizon = check_positive_int(horizon, "horizon")
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1 + n,), dtype=np.float32)
        self.action_space = spaces.Discrete(k ** n)
        # every joint action's factor indices, row a = np.unravel_index(a, (k,) * n)
        self._joint = np.stack(np.unravel_index(np.arange(k ** n), (k,) * n), axis=1)  # (k**n, n)
        self.state, self._t = None, 0

    # ------------------------------------------------------------------ state
    def _draw(self) -> dict:
        rng, n = self.np_random, self.n_services
        budget = float(rng.uniform(*self.budget_range))
        active = rng.random(n) < self.p_active
        if not active.any():
            active[rng.integers(n)] = True
        return {"budget": budget, "active": active}

    def _observation(self) -> np.ndarray:
        s = self.state
        return np.concatenate([[s["budget"] / self.budget_range[1]], s["active"]]).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        """Start an episode: draw a budget and the active services; return the observation and ``info``.

        Parameters
        ----------
        seed : int, optional
            Seeds the environment's generator (the same seed gives the same states).
        options : dict, optional
            ``{"budget": B, "active": [bool] * n_services}`` sets the first state instead of drawing it
            (either key alone overrides that part only).
        """
        super().reset(seed=seed)
        self.state, self._t = self._draw(), 0
        if options:
            self.set_state(**{key: options[key] for key in ("budget", "active") if key in options})
        return self._observation(), self._info()

    def set_state(self, budget=None, active=None) -> None:
        """Set the current state (for evaluation on fixed states).

        Parameters
        ----------
        budget : float, optional
            The link budget ``B > 0`` (units of ``costs``).
        active : sequence of bool, shape (n_services,), optional
            Which services transmit; at least one.
        """
        if self.state is None:
            raise RuntimeError("call reset() before set_state()")
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not (
                    math.isfinite(budget) and budget > 0):
                raise ValueError(f"budget must be a finite number > 0, got {budget!r}")
            self.state["budget"] = float(budget)
        if active is not None:
            a = np.asarray(active)
            if a.dtype != bool or a.shape != (self.n_services,) or not a.any():
                raise ValueError(f"active must be {self.n_services} bools, at least one True, got {active!r}")
            self.state["active"] = a.copy()

    def _info(self) -> dict:
        return {"budget": self.state["budget"], "active": self.state["active"].copy()}

    # ------------------------------------------------------------------ reward
    def decode_action(self, action) -> np.ndarray:
        """The factor index of every service for a flattened action.

        Parameters
        ----------
        action : int
            In ``0 .. n_factors**n_services - 1``.

        Returns
        -------
        ndarray of int, shape (n_services,)
            ``k_i``: service ``i`` is downscaled by ``factors[k_i]``.
        """
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (numbers.Integral, np.ndarray)) or (
                isinstance(action, np.ndarray) and (action.shape != () or action.dtype.kind not in "iu")):
            raise TypeError(f"action must be an integer in 0..{self.action_space.n - 1}, got {action!r}")
        a = int(action)
        if not 0 <= a < self.action_space.n:
            raise ValueError(f"action must be in 0..{self.action_space.n - 1} "
                             f"({self.n_factors}**{self.n_services} joint factors), got {a}")
        return self._joint[a].copy()

    def _rewards(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reward, quality sum, cost) of the joint actions ``rows`` (m, n_services) in the current state."""
        s, idx = self.state, np.arange(self.n_services)
        on = s["active"].astype(float)
        quality = (self.curves[idx, rows] * on).sum(axis=1)  # (m,)
        cost = (self.costs[idx, rows] * on).sum(axis=1)  # (m,)
        reward = quality - self.penalty * np.maximum(cost - s["budget"], 0.0) / s["budget"]
        return reward, quality, cost

    def reward_of(self, action) -> float:
        """The reward an action would earn in the current state (the state is kept).

        Parameters
        ----------
        action : int
            A flattened joint action (:meth:`decode_action`).
        """
        if self.state is None:
            raise RuntimeError("call reset() first: the reward is of the current state")
        return float(self._rewards(self.decode_action(action)[None])[0][0])

    def step(self, action):
        """Send every active service at its chosen factor; the next state is a fresh draw.

        Returns
        -------
        observation, reward, terminated, truncated, info
            ``terminated`` after ``horizon`` steps; ``info`` holds the state acted on (``budget``,
            ``active``), ``factors`` (each service's factor), ``quality`` (per service, 0 when
            inactive), ``cost`` (the link cost ``C``) and ``penalty``.
        """
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        k = self.decode_action(action)
        reward, _, cost = self._rewards(k[None])
        on = self.state["active"]
        budget = self.state["budget"]
        info = {**self._info(), "factors": np.array([self.factors[j] for j in k]),
                "quality": np.where(on, self.curves[np.arange(self.n_services), k], 0.0),
                "cost": float(cost[0]), "penalty": float(self.penalty * max(cost[0] - budget, 0.0) / budget)}
        self._t += 1
        terminated = self._t >= self.horizon
        self.state = self._draw()
        return self._observation(), float(reward[0]), terminated, False, info

    # ------------------------------------------------------------------ the exact optimum
    def optimal_action(self) -> int:
        """The best joint action in the current state, by enumerating all ``n_factors**n_services``.

        Ties (for instance the factors of inactive services, which change nothing) go to the smallest
        flattened action, i.e. the smallest factor index of the first service that differs.

        Returns
        -------
        int
            The flattened action (:meth:`decode_action` gives the factors).
        """
        if self.state is None:
            raise RuntimeError("call reset() first: the optimum is of the current state")
        return int(np.argmax(self._rewards(self._joint)[0]))

    def optimal_reward(self) -> float:
        """The reward of :meth:`optimal_action` in the current state.

        Returns
        -------
        float
            The largest reward any joint action earns in the current state.
        """
        if self.state is None:
            raise RuntimeError("call reset() first: the optimum is of the current state")
        return float(self._rewards(self._joint)[0].max())
