"""The allocation on the measured curves and the bundled DQN, graded against the exact optimum."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from gsemlab.control import allocation as ca
from gsemlab.data import load_result


def test_service_table_is_the_recorded_benchmark():
    services, curves, costs = ca.service_table()
    res = load_result("control")
    assert [s["method"] for s in services] == [s["method"] for s in res["services"]]
    assert curves.shape == costs.shape == (4, 4)
    assert np.allclose(curves[:, 0], 1.0)  # normalised to 1 at factor 1
    assert (np.diff(costs, axis=1) < 0).all()  # a larger factor sends fewer bytes
    assert {s["method"] for s in services} == set(res["methods"])  # every method serves


def test_greedy_ratio_of_the_optimum_is_one_and_of_a_fixed_policy_by_hand():
    env = ca.allocation_env()
    assert ca.greedy_ratio(lambda o: env.optimal_action(), env, n_states=50) == pytest.approx(1.0)
    env.reset(seed=3)
    got = best = 0.0
    for _ in range(30):  # the same states, a policy that always sends everything at factor 8
        act = np.ravel_multi_index((3, 3, 3, 3), (4,) * 4)
        rows = env.decode_action(act)
        s = env.state
        q = sum(env.curves[i, k] for i, k in enumerate(rows) if s["active"][i])
        c = sum(env.costs[i, k] for i, k in enumerate(rows) if s["active"][i])
        got += q - env.penalty * max(0.0, c - s["budget"]) / s["budget"]
        best += max(sum(env.curves[i, k] for i, k in enumerate(ks) if s["active"][i])
                    - env.penalty * max(0.0, sum(env.costs[i, k] for i, k in enumerate(ks) if s["active"][i])
                                        - s["budget"]) / s["budget"]
                    for ks in itertools.product(range(4), repeat=4))
        _, _, terminated, truncated, _ = env.step(act)
        if terminated or truncated:  # as greedy_ratio does: the next state comes from reset
            env.reset()
    assert ca.greedy_ratio(lambda o: np.ravel_multi_index((3, 3, 3, 3), (4,) * 4), env, n_states=30,
                           seed=3) == pytest.approx(got / best)


def test_the_bundled_dqn_reaches_95_percent_of_the_optimum_on_held_out_states():
    agent = ca.pretrained("dqn")
    env = ca.allocation_env()
    ratio = ca.greedy_ratio(lambda o: agent.predict(o, deterministic=True)[0], env, n_states=300,
                            seed=ca.EVAL_SEED + 1)
    assert ratio >= 0.95
    with pytest.raises(ValueError, match="name"):
        ca.pretrained("ppo")
