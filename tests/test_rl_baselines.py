"""gsemlab.rl.baselines: the allocation rules worked out by hand on a known state."""

from __future__ import annotations

import numpy as np
import pytest

from gsemlab.rl import BandwidthAllocationEnv
from gsemlab.rl.baselines import BASELINES, baseline_action

from test_rl_env import synthetic_curves


@pytest.fixture()
def env():
    e = BandwidthAllocationEnv(synthetic_curves(), n_users=3, shared_cap=600)
    e.reset(seed=0)
    e.state["bound"] = np.array([100, 400, 900])
    e.state["packet"] = np.array([100, 400, 900])
    return e


def test_rules_by_hand(env):
    # all that fits is 1400 pixels, scaled to the cap of 600: 3/7 of each bound
    assert np.allclose(baseline_action(env, "fixed"), np.array([100, 400, 900]) * 600 / 1400)
    assert baseline_action(env, "equal").tolist() == [100, 200, 200]  # 600 / 3, the first capped at 100
    # 600 in proportion to 100 : 400 : 900 = 600 / 1400 each pixel of packet
    assert np.allclose(baseline_action(env, "size"), [600 * 100 / 1400, 600 * 400 / 1400, 600 * 900 / 1400])
    r = baseline_action(env, "random", rng=3)
    assert np.allclose(r, np.random.default_rng(3).uniform(0, 1, 3) * [100, 400, 900])


def test_without_a_cap_the_total_is_what_fixed_would_send(env):
    env.shared_cap = None
    assert baseline_action(env, "fixed").tolist() == [100, 400, 900]
    equal = baseline_action(env, "equal")
    assert np.allclose(equal, np.minimum(1400 / 3, [100, 400, 900]))


def test_every_rule_gives_a_valid_action(env):
    for rule in BASELINES:
        a = baseline_action(env, rule, rng=0)
        assert a.shape == (3,) and np.all(a >= 0) and np.all(a <= env.state["bound"])
        env.step(a)
        env.reset(seed=1)


def test_bad_rule_and_no_state(env):
    with pytest.raises(ValueError):
        baseline_action(env, "greedy")
    env.state = None
    with pytest.raises(RuntimeError):
        baseline_action(env, "equal")
