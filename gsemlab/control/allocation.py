"""The joint allocation of [Control] (Sec. IV-C, Fig. 5) with the measured curves and the bundled DQN.

:func:`allocation_env` builds :class:`~gsemlab.control.env.ServiceAllocationEnv` from the recorded
control-map benchmark (``benchmarks/control.py``): four services, each a (method, metric) pair chosen
by the paper's rule (the pairs whose response to the factor is closest to linear), with its normalised
quality against the factor and its message's mean size in bytes at each factor as the link cost.
:func:`pretrained` loads the bundled agents, :func:`greedy_ratio` grades a policy against the exact
optimum on held-out states.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ..checks import check_positive_int, check_seed
from ..data import DATA_DIR, load_result
from .env import ServiceAllocationEnv

__all__ = ["AGENTS", "DQN_SEEDS", "EVAL_SEED", "allocation_env", "greedy_ratio", "pretrained", "pretrained_training",
           "service_table"]

#: the bundled agents :func:`pretrained` loads
AGENTS = ("dqn", "controlnet")
#: seeds of the DQN runs (``python -m gsemlab.training control-dqn``); the best final one is bundled
DQN_SEEDS = (0, 1, 2, 3, 4)
#: seed of the held-out states the agents are graded on (training draws its own)
EVAL_SEED = 12345


def service_table(result: dict | None = None) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """The services, their normalised quality curves and their costs, from the recorded benchmark.

    Parameters
    ----------
    result : dict, optional
        ``load_result("control")`` (the default) or a fresh run of ``benchmarks/control.py``.

    Returns
    -------
    services : list of dict
        ``method``, ``metric``, ``r2`` per service.
    curves : numpy.ndarray, shape (4, 4)
        Normalised quality in [0, 1] per service and factor (1 at factor 1, 0 at the prompt-only baseline).
    costs : numpy.ndarray, shape (4, 4)
        Mean message bytes per service and factor.
    """
    res = load_result("control") if result is None else result
    services = res["services"]
    curves = np.array([res["curves"][f"{s['method']}/{s['metric']}"] for s in services], float)
    return services, curves, np.array(res["costs"], float)


def allocation_env(*, horizon: int = 1, result: dict | None = None) -> ServiceAllocationEnv:
    """The four-service environment on the measured curves and message sizes (bytes).

    Parameters
    ----------
    horizon : int
        Decisions per episode (>= 1).
    result : dict, optional
        As in :func:`service_table`.

    Returns
    -------
    ServiceAllocationEnv
    """
    _, curves, costs = service_table(result)
    return ServiceAllocationEnv(curves, costs=costs, horizon=check_positive_int(horizon, "horizon"))


def greedy_ratio(policy, env: ServiceAllocationEnv, *, n_states: int = 500, seed: int = EVAL_SEED) -> float:
    """Mean reward of ``policy`` over the exact optimum's, on ``n_states`` held-out states.

    Parameters
    ----------
    policy : callable
        ``policy(observation) -> action`` (an int of the env's action space).
    env : ServiceAllocationEnv
        The environment (its state is overwritten).
    n_states : int
        Held-out states (>= 1), drawn by ``env.reset(seed=seed)`` and its steps.
    seed : int
        Seed of the states.

    Returns
    -------
    float
        ``sum of rewards / sum of optimal rewards`` (1 = optimal).
    """
    n_states, seed = check_positive_int(n_states, "n_states"), check_seed(seed)
    obs, _ = env.reset(seed=seed)
    got = best = 0.0
    for _ in range(n_states):
        action = int(policy(obs))
        got += env.reward_of(action)
        best += env.optimal_reward()
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    return float(got / best)


@cache
def pretrained(name: str):
    """A bundled agent: ``"dqn"`` (stable-baselines3 DQN, the seed of :data:`DQN_SEEDS` with the best final
    grade) or ``"controlnet"``.

    Parameters
    ----------
    name : {"dqn", "controlnet"}

    Returns
    -------
    stable_baselines3.DQN or diffusers.ControlNetModel
    """
    if name not in AGENTS:
        raise ValueError(f"name must be one of {AGENTS}, got {name!r}")
    if name == "controlnet":
        from .system import load_controlnet

        return load_controlnet()
    from stable_baselines3 import DQN

    path = DATA_DIR / "control" / "dqn.zip"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: retrain with `python -m gsemlab.training control-dqn`")
    return DQN.load(str(path), device="cpu")


def pretrained_training() -> dict:
    """The training record of the bundled ControlNet and DQN (``gsemlab/data/control/training.json``):
    steps and minutes, and every DQN seed's learning curve (episodes, greedy reward over the optimum's)."""
    import json

    path = DATA_DIR / "control" / "training.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: retrain with `make train-control`")
    return json.loads(path.read_text())
