"""ServiceAllocationEnv ([Control], Fig. 4-5): the exact optimum against a brute force written here, check_env,
rewards by hand, seeding and bad inputs."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from gsemlab.control.env import ServiceAllocationEnv, default_costs


def synthetic_curves(seed=0, n=4, k=4):
    """Decreasing normalised quality curves, one row per service."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.random((n, k)), axis=1)[:, ::-1].copy()


def brute_force(curves, costs, budget, active, penalty):
    """Best (reward, flattened action) by looping over every joint choice, first service most significant."""
    n, k = curves.shape
    best, best_a = -np.inf, None
    for a, choice in enumerate(itertools.product(range(k), repeat=n)):
        q = sum(curves[i, c] for i, c in enumerate(choice) if active[i])
        cost = sum(costs[i, c] for i, c in enumerate(choice) if active[i])
        r = q - penalty * max(cost - budget, 0.0) / budget
        if r > best + 1e-12:
            best, best_a = r, a
    return best, best_a


def test_passes_gymnasium_check_env():
    check_env(ServiceAllocationEnv(synthetic_curves()), skip_render_check=True)
    check_env(ServiceAllocationEnv(synthetic_curves(1, n=3, k=4), horizon=5), skip_render_check=True)


def test_passes_stable_baselines3_check_env():
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either (box bounds, dtypes, spaces)
        sb3_check_env(ServiceAllocationEnv(synthetic_curves()), warn=True, skip_render_check=True)


def test_spaces():
    env = ServiceAllocationEnv(synthetic_curves())
    assert env.action_space.n == 4 ** 4 == 256
    assert env.observation_space.shape == (5,)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert obs[0] == pytest.approx(info["budget"] / env.budget_range[1])
    np.testing.assert_array_equal(obs[1:], info["active"].astype(np.float32))


@pytest.mark.parametrize("seed", range(5))
def test_optimal_action_is_the_brute_force_optimum(seed):
    rng = np.random.default_rng(100 + seed)
    curves = synthetic_curves(seed)
    costs = rng.uniform(10, 2000, (4, 4))  # bytes, any order: the optimum must not assume monotone costs
    env = ServiceAllocationEnv(curves, costs=costs, budget_range=(200.0, 5000.0), p_active=0.6,
                               penalty=float(rng.uniform(0.5, 8)))
    env.reset(seed=seed)
    for _ in range(25):
        s = env.state
        want_r, want_a = brute_force(curves, costs, s["budget"], s["active"], env.penalty)
        assert env.optimal_action() == want_a
        assert env.optimal_reward() == pytest.approx(want_r, abs=1e-12)
        assert env.reward_of(want_a) == pytest.approx(want_r, abs=1e-12)
        _, r, *_ = env.step(want_a)
        assert r == pytest.approx(want_r, abs=1e-12)


def test_reward_by_hand():
    curves = np.array([[1.0, 0.5], [0.8, 0.2]])
    costs = np.array([[1.0, 0.25], [1.0, 0.25]])
    env = ServiceAllocationEnv(curves, costs=costs, factors=(1, 2), penalty=4.0)
    env.reset(seed=0, options={"budget": 1.25, "active": np.array([True, True])})
    # (k1, k2) -> flattened 2 k1 + k2: cost, quality, reward = quality - 4 * max(0, cost - 1.25) / 1.25
    assert env.reward_of(0) == pytest.approx(1.8 - 4 * 0.75 / 1.25)  # both full size: -0.6
    assert env.reward_of(1) == pytest.approx(1.2)  # (1, 2): cost 1.25, on budget
    assert env.reward_of(2) == pytest.approx(1.3)  # (2, 1)
    assert env.reward_of(3) == pytest.approx(0.7)
    assert env.optimal_action() == 2 and env.optimal_reward() == pytest.approx(1.3)
    np.testing.assert_array_equal(env.decode_action(2), [1, 0])
    _, r, terminated, truncated, info = env.step(2)
    assert r == pytest.approx(1.3) and terminated and not truncated
    np.testing.assert_array_equal(info["factors"], [2, 1])
    np.testing.assert_allclose(info["quality"], [0.5, 0.8])
    assert info["cost"] == pytest.approx(1.25) and info["penalty"] == 0.0

    env.reset(seed=0, options={"budget": 0.5, "active": np.array([False, True])})
    # only the second service counts: (., 1) costs 1.0, over by 0.5 -> 0.8 - 4 = -3.2; (., 2) -> 0.2
    assert env.reward_of(0) == pytest.approx(0.8 - 4 * 0.5 / 0.5)
    assert env.reward_of(1) == pytest.approx(0.2)
    assert env.reward_of(3) == env.reward_of(1)  # the inactive service's factor changes nothing
    assert env.optimal_action() == 1  # ties go to the smallest flattened action


def test_default_costs_and_budget_in_closed_form():
    np.testing.assert_allclose(default_costs(2, (1, 2, 4, 8)), [[1, 1 / 4, 1 / 16, 1 / 64]] * 2)
    env = ServiceAllocationEnv(synthetic_curves())
    assert env.budget_range == pytest.approx((4 / 64, 4.0))


def test_state_varies_and_is_seeded():
    def run(seed):
        env = ServiceAllocationEnv(synthetic_curves(), p_active=0.5)
        obs = [env.reset(seed=seed)[0]]
        for _ in range(30):
            env.step(5)
            obs.append(env.reset()[0])
        return np.array(obs)

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(np.unique(a[:, 0])) == len(a)  # a new budget every episode
    assert len({tuple(row) for row in a[:, 1:]}) > 3  # several sets of active services
    assert (a[:, 1:].sum(axis=1) >= 1).all()  # never none


def test_at_least_one_service_is_active():
    env = ServiceAllocationEnv(synthetic_curves(), p_active=0.01)
    env.reset(seed=3)
    for _ in range(200):
        assert env.state["active"].sum() >= 1
        env.step(0)


def test_horizon():
    env = ServiceAllocationEnv(synthetic_curves(), horizon=3)
    env.reset(seed=0)
    done = [env.step(0)[2] for _ in range(3)]
    assert done == [False, False, True]


def test_bad_inputs_raise():
    good = synthetic_curves()
    with pytest.raises(ValueError, match="<= 1"):
        ServiceAllocationEnv(good * 2)
    with pytest.raises(ValueError, match=">= 0"):
        ServiceAllocationEnv(good - 2)
    with pytest.raises(ValueError, match="finite"):
        ServiceAllocationEnv(np.where(good > 0.5, np.nan, good))
    with pytest.raises(ValueError, match="shape"):
        ServiceAllocationEnv(good[0])
    with pytest.raises(TypeError, match="real numbers"):
        ServiceAllocationEnv(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match=r"shape \(4, 4\)"):
        ServiceAllocationEnv(good, costs=np.ones((4, 3)))
    with pytest.raises(ValueError, match="> 0"):
        ServiceAllocationEnv(good, costs=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="factors must be 4 integers"):
        ServiceAllocationEnv(good, factors=(1, 2, 4))
    with pytest.raises(ValueError, match="joint actions"):
        ServiceAllocationEnv(np.ones((7, 4)) * 0.5)
    for bad in ((0.0, 1.0), (2.0, 1.0), (1.0, np.inf)):
        with pytest.raises(ValueError, match="budget_range"):
            ServiceAllocationEnv(good, budget_range=bad)
    with pytest.raises(TypeError, match="budget_range"):
        ServiceAllocationEnv(good, budget_range=5)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="p_active"):
            ServiceAllocationEnv(good, p_active=bad)
    with pytest.raises(ValueError, match="penalty"):
        ServiceAllocationEnv(good, penalty=-1)
    with pytest.raises(ValueError, match="horizon"):
        ServiceAllocationEnv(good, horizon=0)

    env = ServiceAllocationEnv(good)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    with pytest.raises(RuntimeError, match="reset"):
        env.optimal_action()
    env.reset(seed=0)
    for bad in (256, -1):
        with pytest.raises(ValueError, match=r"0\.\.255"):
            env.step(bad)
    for bad in (1.5, "3", True, np.array([1, 2])):
        with pytest.raises(TypeError, match="integer"):
            env.step(bad)
    assert env.step(np.int64(5))[2] and env.reset()[0] is not None and env.step(np.array(5))[2]
    env.reset(seed=0)
    with pytest.raises(ValueError, match="budget"):
        env.set_state(budget=0)
    with pytest.raises(ValueError, match="at least one True"):
        env.set_state(active=np.zeros(4, bool))
    with pytest.raises(ValueError, match="4 bools"):
        env.set_state(active=[1, 0, 1, 1])
