"""Scoring allocation methods on the same states: mean reward, utility and bandwidth, share of the optimum.

:func:`evaluate` draws ``n_states`` states from an environment with a fixed seed (so every method
meets the same users and channels), asks a method for each state's allocation and steps the
environment with it. A method is a name (``"optimum"``, the environment's exact optimum,
:meth:`~gsemlab.rl.env.BandwidthAllocationEnv.optimal_action`; one of
:data:`gsemlab.rl.baselines.BASELINES`) or a callable from a batch of observations to pixels (e.g. :meth:`gsemlab.rl.add.ADD.act`, or an SB3 model through
:func:`sb3_method`). :func:`gain_share` is the issue's measure, ``(R - R_random) / (R_opt - R_random)``.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_positive_int, check_seed
from .baselines import BASELINES, baseline_action

__all__ = ["draw_states", "evaluate", "gain_share", "sb3_method"]


def draw_states(env, n_states: int, seed: int) -> tuple[np.ndarray, list]:
    """``n_states`` observations and states of ``env`` from ``reset(seed=seed)`` on.

    Returns
    -------
    obs : numpy.ndarray of float32, shape (n_states, obs_dim)
    states : list of dict
        ``env.unwrapped.state`` of each; put one back with ``env.unwrapped.state = states[k]``.
    """
    n_states = check_positive_int(n_states, "n_states")
    seed = check_seed(seed)
    base = env.unwrapped
    obs = [env.reset(seed=seed)[0]]
    states = [base.state]
    for _ in range(n_states - 1):
        obs.append(env.reset()[0])
        states.append(base.state)
    return np.stack(obs).astype(np.float32), states


def evaluate(env, method, *, n_states: int = 1000, seed: int = 10_000) -> dict:
    """Mean reward and per-user utility and bandwidth of ``method`` on ``n_states`` states of ``env``.

    Parameters
    ----------
    env : BandwidthAllocationEnv
        The environment (its split, cap and weights define the problem).
    method : str or callable
        ``"optimum"``, a rule of :data:`~gsemlab.rl.baselines.BASELINES`, or ``f(obs) -> pixels`` taking
        a (n_states, obs_dim) batch and returning (n_states, N) pixels.
    n_states : int
        States drawn (the same ones for every method with the same ``seed``).
    seed : int
        Seed of the draws (and of the ``"random"`` rule).

    Returns
    -------
    dict
        ``reward`` (mean of Eq. 19's sum minus penalties), ``reward_se``, ``utility_per_user``,
        ``pixels_per_user``, ``clipped`` (actions clipped in all), ``rewards`` (per state).
    """
    if not (callable(method) or method == "optimum" or method in BASELINES):
        raise ValueError(f"method must be 'optimum', one of {BASELINES} or a callable, got {method!r}")
    obs, states = draw_states(env, n_states, seed)
    base = env.unwrapped
    rng = np.random.default_rng(seed)
    if callable(method):
        actions = np.asarray(method(obs), dtype=float)
        if actions.shape != (len(states), base.n_users):
            raise ValueError(f"method returned shape {actions.shape}, expected {(len(states), base.n_users)}")
    rewards, utility, pixels, clipped = [], [], [], 0
    for k, state in enumerate(states):
        base.state = state
        if callable(method):
            a = actions[k]
        elif method == "optimum":
            a = base.optimal_action()
        else:
            a = baseline_action(env, method, rng)
        _, r, *_, info = env.step(a)
        rewards.append(r)
        utility.append(float(np.mean(info["utility"])))
        pixels.append(float(np.mean(info["allocation"])))
        clipped += int(info["clipped"])
    rewards = np.asarray(rewards)
    return {"reward": float(rewards.mean()), "reward_se": float(rewards.std(ddof=1) / np.sqrt(rewards.size))
            if rewards.size > 1 else 0.0, "utility_per_user": float(np.mean(utility)),
            "pixels_per_user": float(np.mean(pixels)), "clipped": clipped, "rewards": rewards.tolist()}


def gain_share(reward: float, random_reward: float, optimum_reward: float) -> float:
    """``(R - R_random) / (R_opt - R_random)``: the share of the optimum's gain over random achieved.

    Parameters
    ----------
    reward, random_reward, optimum_reward : float
        Mean rewards of the method, of random allocation and of the exact optimum on the same states.

    Returns
    -------
    float
        1 for the optimum, 0 for random; NaN when the optimum does not beat random.
    """
    span = float(optimum_reward) - float(random_reward)
    return float((float(reward) - float(random_reward)) / span) if span > 0 else float("nan")


def sb3_method(model, env):
    """An SB3 model as a method of :func:`evaluate`: deterministic actions through FractionOfBound.

    Parameters
    ----------
    model : stable_baselines3 BaseAlgorithm
        Trained on ``FractionOfBound(env)`` (:func:`gsemlab.rl.sb3.make_sb3`).
    env : BandwidthAllocationEnv
        The environment whose observations the model sees.

    Returns
    -------
    callable
        ``f(obs) -> pixels``, shape (n_states, N).
    """
    from .add import action_to_pixels

    n = env.unwrapped.n_users

    def method(obs):
        a, _ = model.predict(obs, deterministic=True)
        return action_to_pixels(a, obs, n)

    return method
