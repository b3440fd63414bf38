"""gsemlab.rl.add: Eq. 21's reverse step by hand, actions, files, errors, and a small problem learnt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gsemlab.rl import BandwidthAllocationEnv, CurveSet
from gsemlab.rl.add import ADD, FEATURES, ADDSettings, _betas, action_to_pixels, fraction_of_bound
from gsemlab.rl.evaluation import evaluate, gain_share

from test_rl_env import synthetic_curves

TINY = dict(hidden=32, embed=8, batch_size=64, warmup_steps=200, collect=32, best_of=4)


def test_action_to_pixels_by_hand():
    obs = np.zeros((2, FEATURES), np.float32)
    obs[0, 256], obs[1, 256] = 1000 / 4096, 3 / 4096  # the bounds
    obs[0, 259:] = np.r_[100, 400, 1500, np.full(9, 2000)] / 4096  # prefix sizes; whole packet 2000
    obs[1, 259:] = 3 / 4096
    o = obs.reshape(1, -1)
    # fraction_of_bound: -1 -> 0; -0.5 -> 1.1 x 0.25 - 0.05 = 0.225; 0.9 -> 0.995; 0.91 and above -> 1
    assert np.allclose(fraction_of_bound([-1.0, -0.5, 0.9, 0.91, 1.0]), [0.0, 0.225, 0.995, 1.0, 1.0])
    # 0.225 x 1000 = 225 -> rounded up to the prefix 400; 0.225 x 3 = 0.675 -> 3 (its only step)
    assert action_to_pixels(np.array([[-0.5, -0.5]]), o, 2).tolist() == [[400.0, 3.0]]
    # 0.9 x 1000 -> 1000: the next prefix (1500) is above the bound, so the bound
    assert action_to_pixels(np.array([[0.9, -1.0]]), o, 2).tolist() == [[1000.0, 0.0]]
    assert action_to_pixels(np.array([[-0.95, 5.0]]), o, 2).tolist() == [[0.0, 3.0]]  # 5 is clipped


def test_schedule_is_the_variance_preserving_closed_form():
    t = np.arange(1, 6)
    alpha = np.exp(-0.1 / 5 - 0.5 * (10 - 0.1) * (2 * t - 1) / 25)
    np.testing.assert_allclose(_betas(5).numpy(), 1 - alpha, rtol=1e-6)


def test_one_reverse_step_is_eq_21():
    """When the clean action is inside [-1, 1] (no clipping), a reverse step is Eq. 21 plus sigma_t z."""
    agent = ADD(ADDSettings(n_users=2, diffusion_steps=3, **TINY), seed=0)
    pol = agent.policy
    seen = []

    class RecordingEps(torch.nn.Module):
        """A noise prediction whose implied clean action is 0.2 for every user, at every step."""

        def forward(self, b_t, t, emb, bound):
            seen.append(b_t.clone())
            abar = pol.abar[int(t[0])]
            return (b_t - torch.sqrt(abar) * 0.2) / torch.sqrt(1 - abar)

    pol.eps = RecordingEps()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        out = pol(torch.zeros(1, 2 * FEATURES), g)
    np.testing.assert_allclose(out.numpy(), 0.2, atol=1e-6)
    g.manual_seed(5)
    b = torch.randn(1, 2, generator=g)  # b_T, drawn first
    np.testing.assert_allclose(seen[0].numpy(), b.numpy())
    for k, i in enumerate((2, 1)):  # t = i, the step to t = i - 1
        z = torch.randn(1, 2, generator=g)
        eps = (b - torch.sqrt(pol.abar[i]) * 0.2) / torch.sqrt(1 - pol.abar[i])
        b = (b - pol.betas[i] / torch.sqrt(1 - pol.abar[i]) * eps) / torch.sqrt(pol.alphas[i]) + pol.sigma[i] * z
        np.testing.assert_allclose(seen[k + 1].numpy(), b.numpy(), atol=1e-5)


def test_save_and_load_give_the_same_actions(tmp_path):
    env = BandwidthAllocationEnv(synthetic_curves(), n_users=3)
    agent = ADD(ADDSettings(n_users=3, **TINY), seed=1).fit(env, 300, seed=0, log_every=100)
    agent.save(tmp_path / "agent")
    back = ADD.load(tmp_path / "agent.safetensors", seed=7)
    agent.generator.manual_seed(7)
    obs, _ = env.reset(seed=2)
    assert np.array_equal(agent.act(obs), back.act(obs))
    assert back.settings == agent.settings and back.steps_done == 300 and len(back.history) == 3
    with pytest.raises(FileNotFoundError):
        ADD.load(tmp_path / "missing")


@pytest.mark.parametrize("kwargs", [{"n_users": 0}, {"n_users": 13}, {"diffusion_steps": 0},
                                    {"learning_rate": -1.0}, {"ema": 1.0}, {"gamma": 1.5}, {"best_of": 0}])
def test_bad_settings_are_named(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ADDSettings(**kwargs)


def test_bad_observations_and_environments_are_refused():
    agent = ADD(ADDSettings(n_users=2, **TINY))
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros(FEATURES))
    bad = np.zeros(2 * FEATURES)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        agent.act(bad)
    with pytest.raises(ValueError, match="users"):
        agent.fit(BandwidthAllocationEnv(synthetic_curves(), n_users=3), 10)
    with pytest.raises(ValueError, match="steps"):
        agent.fit(BandwidthAllocationEnv(synthetic_curves(), n_users=2), 0)


def two_kinds_of_prompt(n=40):
    """Prompts whose best budget the state tells: half gain a lot from their one segment, half lose.

    Each prompt has one segment of 1000-2000 pixels. "Good" prompts (a map with cells set on the
    left) reach J = 0.9 with it, so sending it is worth 500 x 0.9 - 0.05 x size > 350 against 50 for
    nothing; "bad" ones (cells on the right) fall below the quality threshold, so any pixel costs.
    """
    rng = np.random.default_rng(0)
    maps = np.zeros((n, 16, 16), bool)
    steps, dist, qual = [], [], []
    for i in range(n):
        good = i % 2 == 0
        maps[i, :, :8] = good
        maps[i, :, 8:] = not good
        size = int(rng.integers(1000, 2000))
        steps.append([0, size])
        dist.append([0.5, 0.0 if good else 0.3])
        qual.append([6.0, 7.0 if good else 4.0])
    return CurveSet(captions=tuple(f"p{i}" for i in range(n)), seeds=np.arange(n), maps=maps,
                    packet_pixels=np.array([s[-1] for s in steps]), steps=tuple(steps), distance=tuple(dist),
                    quality=tuple(qual), t_max=0.6, split=np.where(np.arange(n) < n // 2, "train", "heldout"))


def test_add_learns_which_users_to_serve():
    torch.set_num_threads(1)
    curves = two_kinds_of_prompt()
    env = BandwidthAllocationEnv(curves, n_users=2, split="train", latency_s=100.0)
    test = BandwidthAllocationEnv(curves, n_users=2, split="heldout", latency_s=100.0)
    agent = ADD(ADDSettings(n_users=2, learning_rate=1e-3, critic_learning_rate=1e-3, updates_per_step=1.0,
                            **TINY), seed=0).fit(env, 2500, seed=0)
    r = {m: evaluate(test, m, n_states=200)["reward"] for m in ("random", "optimum")}
    share = gain_share(evaluate(test, agent.act, n_states=200)["reward"], r["random"], r["optimum"])
    assert share > 0.8, share


def test_bundled_policies_load_and_act_within_the_bounds():
    from gsemlab.rl import FIG16A_LATENCY_S, pretrained
    from gsemlab.rl.curves import bundled

    curves = bundled()
    for name, n, kw in (("add", 3, {}), ("add-cap12", 12, {"latency_s": FIG16A_LATENCY_S})):
        agent = pretrained(name)
        assert agent.settings.n_users == n and agent.steps_done > 0
        env = BandwidthAllocationEnv(curves, n_users=n, split="heldout", **kw)
        obs, info = env.reset(seed=0)
        px = agent.act(obs)
        assert px.shape == (n,) and np.all((0 <= px) & (px <= info["bound"]))
    with pytest.raises(ValueError, match="name"):
        pretrained("ppo")
