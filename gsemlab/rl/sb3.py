"""The stable-baselines3 baselines (PPO, SAC, TD3) on the bandwidth-allocation environment.

They act through :class:`FractionOfBound`, the same action parametrisation as ADD
(:func:`gsemlab.rl.add.action_to_pixels`): an action in ``[-1, 1]^N`` asks for a share of each user's
Eq. 19a bound, rounded up to a whole segment, so that every method learns the same problem (SB3 also
recommends a symmetric, normalised action space).

One-step episodes: every step ends its episode (``terminated=True``), so the value targets are the
rewards themselves; the discount factor multiplies a bootstrap that is always masked. PPO collects
``n_steps`` one-step episodes per update and its advantage is the reward minus the value estimate.
SAC and TD3 learn from a replay buffer after ``learning_starts`` steps. Rewards are large (hundreds),
so they are divided by ``reward_scale`` (as ADD does) through gymnasium's ``TransformReward``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

__all__ = ["SB3_ALGORITHMS", "FractionOfBound", "make_sb3"]

SB3_ALGORITHMS = ("ppo", "sac", "td3")


class FractionOfBound(gym.ActionWrapper):
    """Actions in ``[-1, 1]^N`` turned into pixels by ADD's own mapping, :func:`gsemlab.rl.add.action_to_pixels`.

    User ``i`` asks for the share ``f(a_i)`` of its Eq. 19a bound (4.5 % of the interval at each end
    sends nothing or the whole bound), rounded up to the next prefix size of its packet.

    Parameters
    ----------
    env : BandwidthAllocationEnv
        The environment (its current users' bounds are read at every step).
    """

    def __init__(self, env):
        super().__init__(env)
        n = env.unwrapped.n_users
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(n,), dtype=np.float32)

    def action(self, action):
        from .add import action_to_pixels

        base = self.env.unwrapped
        return action_to_pixels(action, base.state["obs"], base.n_users)  # ADD's mapping


def make_sb3(name: str, env, *, seed: int = 0, reward_scale: float = 100.0, **kwargs):
    """A stable-baselines3 agent for ``env``, configured for one-step episodes.

    Parameters
    ----------
    name : {"ppo", "sac", "td3"}
        The algorithm.
    env : BandwidthAllocationEnv
        The environment (wrapped here in :class:`FractionOfBound` and a reward scaling).
    seed : int
        Seed of the agent and of its environment.
    reward_scale : float
        Rewards are divided by this before the agent sees them (> 0).
    **kwargs
        Passed to the algorithm's constructor (they override the defaults: hidden layers of 64 as
        ADD's; for SAC and TD3 one gradient step per two environment steps after 2000, as ADD).

    Returns
    -------
    stable_baselines3.common.base_class.BaseAlgorithm
        Call ``.learn(total_timesteps)``; ``.predict(obs, deterministic=True)[0]`` is an action in
        ``[-1, 1]^N`` (:meth:`FractionOfBound.action` turns it into pixels).
    """
    from stable_baselines3 import PPO, SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    if name not in SB3_ALGORITHMS:
        raise ValueError(f"name must be one of {SB3_ALGORITHMS}, got {name!r}")
    if not (isinstance(reward_scale, (int, float)) and reward_scale > 0):
        raise ValueError(f"reward_scale must be a number > 0, got {reward_scale!r}")
    wrapped = gym.wrappers.TransformReward(FractionOfBound(env), lambda r: r / reward_scale)
    n = env.unwrapped.n_users
    # networks as wide as ADD's (64), so that the comparison is of the methods, not of their sizes
    common = {"seed": int(seed), "verbose": 0, "device": "cpu", "gamma": 0.95,
              "policy_kwargs": {"net_arch": [64, 64]}}
    if name == "ppo":
        defaults = {"n_steps": 512, "batch_size": 128, "learning_rate": 3e-4}
        return PPO("MlpPolicy", wrapped, **{**common, **defaults, **kwargs})
    # one gradient step per two environment steps, as ADD's default (updates_per_step = 0.5)
    defaults = {"learning_starts": 2000, "batch_size": 256, "learning_rate": 3e-4, "buffer_size": 100_000,
                "train_freq": 2, "gradient_steps": 1}
    if name == "sac":
        return SAC("MlpPolicy", wrapped, **{**common, **defaults, **kwargs})
    noise = NormalActionNoise(np.zeros(n), 0.1 * np.ones(n))
    return TD3("MlpPolicy", wrapped, action_noise=noise, **{**common, **defaults, **kwargs})
