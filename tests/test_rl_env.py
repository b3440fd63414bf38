"""gsemlab.rl.env: the one-step environment of Eq. 19, its bounds, errors and exact optimum."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from gsemlab.config import JPSQConfig
from gsemlab.rl import BandwidthAllocationEnv, CurveSet, FIG16B_WEIGHTS

Q_TH = JPSQConfig().q_th


def synthetic_curves(n=20, seed=0):
    """Curves of made-up prompts: 1-14 segments each; D falls and Q wanders around the threshold."""
    rng = np.random.default_rng(seed)
    steps, dist, qual = [], [], []
    for _ in range(n):
        k = int(rng.integers(1, 15))
        steps.append(np.r_[0, np.cumsum(rng.integers(1, 400, k))])
        dist.append(np.sort(rng.uniform(0.05, 0.5, k + 1))[::-1])
        qual.append(rng.uniform(Q_TH - 0.5, Q_TH + 2.5, k + 1))
    maps = rng.random((n, 16, 16)) < 0.3
    split = np.where(np.arange(n) < n // 2, "train", "heldout")
    return CurveSet(captions=tuple(f"prompt {i}" for i in range(n)), seeds=np.arange(n), maps=maps,
                    packet_pixels=np.array([s[-1] for s in steps]), steps=tuple(steps), distance=tuple(dist),
                    quality=tuple(qual), t_max=0.6, split=split)


def by_hand(curves, p, b, omega0=1.25):
    """J and Q of prompt p at b pixels: the last step at or below b (a loop, not the step table)."""
    k = max(i for i, c in enumerate(curves.steps[p]) if c <= b)
    d, q = curves.distance[p][k], curves.quality[p][k]
    return (0.6 - d) / 0.6 * np.log(omega0 * q / Q_TH), q  # Eq. 17-18 with t_min = 0, t_max = 0.6


@pytest.fixture(scope="module")
def curves():
    return synthetic_curves()


def test_passes_gymnasium_check_env(curves):
    check_env(BandwidthAllocationEnv(curves, n_users=3), skip_render_check=True)


def test_reward_is_eq_19_by_hand(curves):
    env = BandwidthAllocationEnv(curves, n_users=2)
    obs, info = env.reset(seed=1)
    assert obs.shape == (2 * (256 + 3 + 12),) and obs.dtype == np.float32
    action = np.minimum(info["bound"], 120).astype(float)
    _, reward, terminated, truncated, out = env.step(action)
    assert terminated and not truncated
    expected = 0.0
    for p, b in zip(info["prompts"], action):
        jj, qq = by_hand(curves, p, b)
        expected += 500 * jj * (qq >= Q_TH) - 0.05 * b
    assert reward == pytest.approx(expected)
    assert out["clipped"] == 0 and out["penalty"] == 0


def test_actions_outside_the_bounds_are_clipped_counted_and_penalised(curves):
    env = BandwidthAllocationEnv(curves, n_users=3, penalty_per_pixel=0.1)
    _, info = env.reset(seed=2)
    action = info["bound"] + np.array([100.0, 0.0, 0.0])
    action[2] = -5.0
    _, reward, *_, out = env.step(action)
    assert out["clipped"] == 2
    assert out["penalty"] == pytest.approx(0.1 * 105)
    assert out["allocation"].tolist() == [info["bound"][0], info["bound"][1], 0]


def test_the_shared_cap_scales_allocations_down(curves):
    env = BandwidthAllocationEnv(curves, n_users=3, shared_cap=300)
    _, info = env.reset(seed=3)
    _, _, *_, out = env.step(info["bound"].astype(float))
    assert out["allocation"].sum() <= 300 and out["over_cap_pixels"] > 0


@pytest.mark.parametrize("cap", [None, 400])
def test_the_optimum_beats_every_random_action(curves, cap):
    env = BandwidthAllocationEnv(curves, n_users=3, shared_cap=cap, penalty_per_pixel=0.0)
    rng = np.random.default_rng(0)
    for seed in range(5):
        _, info = env.reset(seed=seed)
        opt = env.optimal_action()
        state = env.state
        _, best, *_ = env.step(opt)
        for _ in range(300):
            env.state = state
            a = rng.uniform(0, 1, 3) * info["bound"]
            if cap is not None and a.sum() > cap:
                a *= cap / a.sum()
            env.state = state
            _, r, *_ = env.step(a)
            assert r <= best + 1e-6


def test_fig16b_weights_change_jpsq_through_omega0(curves):
    env = BandwidthAllocationEnv(curves, n_users=1, weights=FIG16B_WEIGHTS)
    _, info = env.reset(seed=4)
    p = info["prompts"][0]
    b = float(min(info["bound"][0], 50))
    _, _, *_, out = env.step([b])
    assert out["jpsq"][0] == pytest.approx(float(by_hand(curves, p, b, omega0=1.0)[0]))


@pytest.mark.parametrize("kwargs", [{"n_users": 0}, {"n_users": 13}, {"n_users": 2.5}, {"weights": (1, 2)},
                                    {"weights": (1, -2, 3)}, {"shared_cap": -1}, {"live": True},
                                    {"split": "test"}])
def test_bad_settings_raise_clear_errors(curves, kwargs):
    with pytest.raises(ValueError):
        BandwidthAllocationEnv(curves, **kwargs)


@pytest.mark.parametrize("action, error", [([np.nan, 1, 1], ValueError), ([1, 2], ValueError),
                                           (["a", 1, 1], TypeError)])
def test_bad_actions_raise_clear_errors(curves, action, error):
    env = BandwidthAllocationEnv(curves, n_users=3)
    env.reset(seed=0)
    with pytest.raises(error):
        env.step(action)


def test_step_before_reset_is_refused(curves):
    with pytest.raises(RuntimeError):
        BandwidthAllocationEnv(curves).step([1, 1, 1])


def test_curve_set_round_trips_through_json(curves, tmp_path):
    curves.to_json(tmp_path / "c.json")
    back = CurveSet.from_json(tmp_path / "c.json")
    assert np.array_equal(back.maps, curves.maps)
    for a, b in zip(back.quality, curves.quality):
        assert np.allclose(a, b, atol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(back.steps, curves.steps))
    assert back.captions == curves.captions and np.array_equal(back.split, curves.split)


def test_the_observation_carries_the_prefix_sizes(curves):
    env = BandwidthAllocationEnv(curves, n_users=1)
    obs, info = env.reset(seed=5)
    p = info["prompts"][0]
    c = curves.steps[p][1:]
    want = np.r_[c[:11], c[-1]] if c.size > 12 else np.r_[c, np.full(12 - c.size, c[-1])]
    np.testing.assert_allclose(obs[259:] * 4096, want, rtol=1e-6)
    assert np.allclose(obs[256] * 4096, info["bound"][0]) and np.allclose(obs[257] * 4096, c[-1])


def test_the_curve_is_the_step_function_at_every_whole_pixel(curves):
    for p in range(4):
        curve = curves.curve(p)
        for b in range(int(curves.packet_pixels[p]) + 3):
            j, q = curve.at(b)
            jj, qq = by_hand(curves, p, b)
            assert j == pytest.approx(jj) and q == pytest.approx(qq)


@pytest.mark.parametrize("bad", [{"steps": ([1, 2],)}, {"steps": ([0, 5, 5],)}, {"quality": ([0.0, 1.0],)}])
def test_malformed_curve_sets_are_refused(bad):
    kw = dict(captions=("a",), seeds=[0], maps=np.zeros((1, 16, 16), bool), packet_pixels=[5],
              steps=([0, 5],), distance=([0.5, 0.1],), quality=([6.0, 7.0],), t_max=0.6, split=["train"])
    CurveSet(**kw)
    kw.update(bad)
    with pytest.raises(ValueError):
        CurveSet(**kw)
