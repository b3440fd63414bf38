"""gsemlab.rl.sb3: the action wrapper by hand, and each SB3 agent runs on the environment."""

from __future__ import annotations

import numpy as np
import pytest

from gsemlab.rl import BandwidthAllocationEnv
from gsemlab.rl.sb3 import FractionOfBound, make_sb3

from test_rl_env import synthetic_curves


def test_fraction_of_bound_by_hand():
    env = FractionOfBound(BandwidthAllocationEnv(synthetic_curves(), n_users=3))
    env.reset(seed=0)
    state = env.unwrapped.state
    state["bound"] = np.array([100, 400, 900])
    obs = state["obs"].reshape(3, -1)
    obs[:, 256] = state["bound"] / 4096
    obs[:, 259:] = np.array([[50, 100, *[100] * 10], [150, 300, 500, *[500] * 9], [900] * 12]) / 4096
    # a = -1: nothing; a = 0: 1.1 x 0.5 - 0.05 = 0.5 of the bound (200 -> next prefix 300); a = 1: the bound
    assert np.allclose(env.action(np.array([-1.0, 0.0, 1.0])), [0, 300, 900])
    # clipped to [-1, 1]; 0.5 -> 0.775 x 400 = 310 -> 500 is above the bound 400 -> 400
    assert np.allclose(env.action(np.array([-3.0, 0.5, 7.0])), [0, 400, 900])
    assert env.action_space.shape == (3,) and env.action_space.low.min() == -1


@pytest.mark.parametrize("name", ["ppo", "sac", "td3"])
def test_agents_learn_a_little_and_act_within_the_bounds(name):
    env = BandwidthAllocationEnv(synthetic_curves(), n_users=2)
    agent = make_sb3(name, env, seed=0, **({"n_steps": 64, "batch_size": 32} if name == "ppo"
                                           else {"learning_starts": 32, "batch_size": 32}))
    agent.learn(96)
    obs, _ = env.reset(seed=5)
    a, _ = agent.predict(obs, deterministic=True)
    assert a.shape == (2,) and np.all(np.abs(a) <= 1)


def test_unknown_algorithm():
    with pytest.raises(ValueError):
        make_sb3("dqn", BandwidthAllocationEnv(synthetic_curves()))
