"""ADD, the attention-aware deep diffusion policy of Sec. V-D of [G-SemCom] (Eq. 20-23, Algorithm 2).

The policy draws its action the way chapter 1's DDPM draws an image: from noise ``b_T ~ N(0, I)`` it
takes ``T`` denoising steps (Eq. 21), each predicting the noise with a network ``eps_theta(b_t, t, s)``
that also sees the state ``s`` (every user's 16 x 16 semantic map, prefix sizes and channel). The
last sample ``b_0`` in ``[-1, 1]^N`` is the action: user ``i`` gets a fraction of its Eq. 19a bound
(read from the state; :func:`fraction_of_bound`, which keeps 4.5 % of the interval at each end for
"nothing" and "the whole bound"), rounded up to a whole pixel, so the policy never has to learn the
bound from the penalty. Two Q-networks with target copies (double Q, Eq. 23) learn the reward;
the policy is trained to maximise ``min(Q_1, Q_2)`` of its own denoised action (Eq. 22), the gradient
flowing back through the ``T`` steps. Gaussian exploration noise is added to the action only while
collecting data. Episodes are one step long, so the Q-target is the reward itself
(``r + gamma (1 - done) min Q' = r``): ``gamma`` and the target copies are kept as Algorithm 2 has
them but never change a target here.

The course's choices where the paper is silent (chapter 8 discusses them):

* **Networks shared by the users.** One small network embeds each user's features; the noise network
  and the critics see a user's embedding, its own (noisy) action and the mean over all users of an
  embedding of (features, action), so the same weights serve 1 to 12 users and the users' order does
  not matter. Each critic is a sum of per-user terms (Eq. 19 is a sum over users), the pooled
  context carrying what couples them (the shared cap).
* **Clean-action clipping.** Each reverse step goes through the clean action it implies,
  ``b_0 = (b_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``, clipped to ``[-1, 1]`` (Diffusion-QL, Wang et
  al. 2023), then takes the DDPM posterior mean; ``sigma_t`` is the posterior standard deviation
  (chapter 1), close to the paper's ``sigma_t = beta_t`` for small ``beta_t``.
* **Acting.** ``act`` draws ``best_of`` actions per state and keeps the one the critics rate highest
  (Diffusion-QL's trick), from an exponential moving average of the policy (``ema``).
* **Collection in rounds.** Data are collected ``collect`` states at a time with one batched policy
  call, then ``collect x updates_per_step`` gradient steps follow: the same ratio of updates to
  environment steps as Algorithm 2's loop, with fewer small tensor calls.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import ADDConfig
from .curves import MAP_SIDE
from .env import FEATURES, IMAGE_PIXELS  # the observation the agent reads: one definition

__all__ = ["ADD", "ADDSettings", "FEATURES", "MARGIN", "action_to_pixels", "fraction_of_bound", "pretrained"]

_BOUND = MAP_SIDE * MAP_SIDE  # index of a user's bound / 4096 among its features
PRETRAINED = {"add": "add_n3", "add-cap12": "add_n12_cap"}  # bundled policies (gsemlab/data/rl)


@dataclass(frozen=True)
class ADDSettings:
    """Hyperparameters of :class:`ADD` (Table III where the paper gives them).

    Attributes
    ----------
    n_users : int
        N, users per state (the action's length), 1 to 12.
    diffusion_steps : int
        T, denoising steps of the policy (Table III: 5 and 6).
    learning_rate : float
        eta, Adam's step for the policy and the critics (Table III: 1e-4).
    critic_learning_rate : float
        Adam's step for the critics.
    gamma : float
        Discount factor of Eq. 23 (Table III: 0.95; one-step episodes never bootstrap).
    hidden : int
        Width of the hidden layers.
    embed : int
        Width of each user's feature embedding.
    batch_size : int
        N_b, transitions per gradient step (Algorithm 2).
    buffer_size : int
        Capacity of the replay buffer (transitions).
    tau : float
        Soft-update rate of the target critics.
    exploration_std : float
        Standard deviation of the Gaussian noise added to actions while collecting (Algorithm 2, line 5).
    warmup_steps : int
        Environment steps with uniformly random actions before learning starts.
    collect : int
        States collected per round (one batched policy call).
    updates_per_step : int
        Gradient steps per environment step.
    ema : float
        Rate of the policy's moving average used when acting (0: none).
    best_of : int
        Actions drawn per state when acting, the critics' favourite kept (1: plain sampling).
    act_uniform : int
        When acting with ``best_of > 1``, this many uniform draws join the policy's as candidates.
    overshoot_weight : float
        Weight of the squared overshoot of the last clean action beyond ``[-1, 1]`` in the policy's
        loss (0: Eq. 22 alone).
    bc_weight : float
        Diffusion-QL's behaviour-cloning term: with ``bc_weight > 0`` the policy's loss is
        ``bc_weight x`` the denoising loss on replayed actions plus Eq. 22's term divided by the mean
        ``|Q|`` (0: Eq. 22 alone, which a deterministic ascent leaves stuck in a local optimum).
    q_weight : float
        Weight of Eq. 22's term beside the behaviour-cloning term (with ``bc_weight > 0``).
    target_samples : int
        With ``target_samples = k > 0`` the behaviour-cloning term imitates, for each replayed state,
        the best of ``k`` draws of the policy and ``k`` uniform draws as rated by the target critics
        (a step of policy improvement that can jump out of a local optimum, which Eq. 22's gradient
        cannot); 0 imitates the replayed actions (Diffusion-QL).
    explore_uniform : float
        While collecting, each user's action is replaced by a uniform draw in ``[-1, 1]`` with this
        probability (besides the Gaussian noise), so that the replay buffer keeps every part of
        the action interval.
    reward_scale : float
        Rewards are divided by this before the critics see them.
    """

    n_users: int = 3
    diffusion_steps: int = ADDConfig().diffusion_steps
    learning_rate: float = ADDConfig().learning_rate
    critic_learning_rate: float = 3e-4
    gamma: float = ADDConfig().gamma
    hidden: int = 64
    embed: int = 32
    batch_size: int = 256
    buffer_size: int = 200_000
    tau: float = 0.005
    exploration_std: float = 0.1
    warmup_steps: int = 2000
    collect: int = 64
    updates_per_step: float = 0.5
    ema: float = 0.995
    best_of: int = 8
    act_uniform: int = 0
    overshoot_weight: float = 1.0
    bc_weight: float = 0.0
    q_weight: float = 0.1
    target_samples: int = 0
    explore_uniform: float = 0.2
    reward_scale: float = 100.0

    def __post_init__(self) -> None:
        ints = {"n_users": 1, "diffusion_steps": 1, "hidden": 1, "embed": 1, "batch_size": 1,
                "buffer_size": 1, "warmup_steps": 0, "collect": 1, "best_of": 1, "target_samples": 0,
                "act_uniform": 0}
        for name, low in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        if self.n_users > 12:
            raise ValueError(f"n_users must be 1 to 12, got {self.n_users}")
        for name, lo, hi in (("learning_rate", 0, None), ("critic_learning_rate", 0, None), ("gamma", 0, 1),
                             ("tau", 0, 1), ("reward_scale", 0, None), ("updates_per_step", 0, None)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= lo \
                    or (hi is not None and v > hi):
                raise ValueError(f"{name} must be a number in ({lo}, {hi if hi is not None else 'inf'}], got {v!r}")
        for name in ("exploration_std", "ema", "overshoot_weight", "bc_weight", "q_weight", "explore_uniform"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        if self.ema >= 1:
            raise ValueError(f"ema must be < 1, got {self.ema!r}")


MARGIN = 0.05  # fraction_of_bound's margin: m / (1 + 2m) = 4.5 % of the interval at each end is saturated


def fraction_of_bound(action) -> np.ndarray:
    """The share of its bound a user gets for an action in ``[-1, 1]``: ``clip((1 + 2m)(a + 1) / 2 - m, 0, 1)``.

    With ``m = MARGIN`` the top ``m / (1 + 2m)`` (4.5 %) of the action interval sends the whole
    bound and the bottom 4.5 % nothing. Both are what the optimum often asks for (the last segment of
    a packet is sent only
    when the budget reaches the bound), and without a margin they are single points that neither
    uniform exploration nor a gradient ever reaches.

    Parameters
    ----------
    action : array-like
        Actions (any shape), clipped to ``[-1, 1]`` first.

    Returns
    -------
    numpy.ndarray of float, the shape of ``action``, in [0, 1]
    """
    a = np.clip(np.asarray(action, dtype=float), -1.0, 1.0)
    return np.clip((1 + 2 * MARGIN) * (a + 1.0) / 2.0 - MARGIN, 0.0, 1.0)


def action_to_pixels(action, obs, n_users: int) -> np.ndarray:
    """Pixels per user from a policy action in ``[-1, 1]^N``: the request rounded up to a segment.

    The request is ``fraction_of_bound(a) x bound``. The packet holds whole segments (the rule
    ``"stop"``), so pixels between two prefix sizes would be reserved and never sent: the request is
    rounded up to the next prefix size the observation lists, and kept within the bound.

    Parameters
    ----------
    action : array-like, shape (..., N)
        Policy outputs (clipped to ``[-1, 1]`` here).
    obs : array-like, shape (..., N * FEATURES)
        The environment's observations (a user's bound is its feature 256 and its prefix sizes
        features 259-270, in units of 4096 pixels).
    n_users : int
        N.

    Returns
    -------
    numpy.ndarray of float, shape (..., N)
        Whole pixels for each user: 0, a prefix size, or the bound.
    """
    f = fraction_of_bound(action)
    o = np.asarray(obs, dtype=float).reshape(*f.shape[:-1], n_users, FEATURES)
    bound = np.rint(o[..., _BOUND] * IMAGE_PIXELS)
    prefix = np.rint(o[..., _BOUND + 3:] * IMAGE_PIXELS)  # (..., N, MAX_STEPS), increasing
    want = np.ceil(f * bound - 1e-6)
    above = np.where(prefix >= want[..., None], prefix, np.inf).min(axis=-1)
    return np.where(want <= 0, 0.0, np.minimum(above, bound))


def _betas(steps: int) -> torch.Tensor:
    """The variance-preserving schedule Diffusion-QL uses for few-step policies (beta_min 0.1, max 10)."""
    t = torch.arange(1, steps + 1, dtype=torch.float64)
    b_min, b_max = 0.1, 10.0
    alpha = torch.exp(-b_min / steps - 0.5 * (b_max - b_min) * (2 * t - 1) / steps ** 2)
    return (1 - alpha).float()


def _mlp(*sizes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class _UserEncoder(nn.Module):
    """The same network for every user: map, bound, packet, SNR and prefix sizes to an embedding."""

    def __init__(self, embed: int, hidden: int):
        super().__init__()
        self.net = _mlp(FEATURES, hidden // 2, embed)

    def forward(self, obs: torch.Tensor, n_users: int) -> torch.Tensor:
        return self.net(obs.reshape(obs.shape[0], n_users, FEATURES))  # (B, N, embed)


def _pixels(action: torch.Tensor, obs: torch.Tensor, n_users: int) -> torch.Tensor:
    """Pixels / 4096 that an action in [-1, 1] asks for (differentiable, before rounding)."""
    bound = obs.reshape(obs.shape[0], n_users, FEATURES)[..., _BOUND]
    return ((1 + 2 * MARGIN) * (action.clamp(-1, 1) + 1) / 2 - MARGIN).clamp(0, 1) * bound


class _NoiseNet(nn.Module):
    """eps_theta(b_t, t, s) of Eq. 21, per user, with a pooled context of all users."""

    def __init__(self, embed: int, hidden: int):
        super().__init__()
        self.time = _mlp(16, 32, 16)
        self.pool = _mlp(embed + 2, hidden, embed)
        self.net = _mlp(2 * embed + 2 + 16, hidden, hidden, 1)

    @staticmethod
    def sinusoid(t: torch.Tensor) -> torch.Tensor:
        freqs = torch.exp(-math.log(10000.0) * torch.arange(8, dtype=torch.float32) / 8)
        args = t.float()[:, None] * freqs[None]
        return torch.cat([args.sin(), args.cos()], dim=1)

    def forward(self, b_t, t, emb, bound):
        n = emb.shape[1]
        x = torch.cat([emb, b_t[..., None], bound[..., None]], dim=2)  # (B, N, embed + 2)
        ctx = self.pool(x).mean(dim=1, keepdim=True).expand(-1, n, -1)
        te = self.time(self.sinusoid(t))[:, None].expand(-1, n, -1)
        return self.net(torch.cat([x, ctx, te], dim=2)).squeeze(2)  # (B, N)


class _Policy(nn.Module):
    """The diffusion policy of Eq. 20: T reverse steps of Eq. 21 from b_T ~ N(0, I)."""

    def __init__(self, n_users: int, steps: int, embed: int, hidden: int):
        super().__init__()
        self.n_users, self.steps = n_users, steps
        self.encoder = _UserEncoder(embed, hidden)
        self.eps = _NoiseNet(embed, hidden)
        betas = _betas(steps)
        alphas = 1 - betas
        abar = torch.cumprod(alphas, 0)
        abar_prev = torch.cat([torch.ones(1), abar[:-1]])
        self.register_buffer("betas", betas)
        self.register_buffer("alphas", alphas)
        self.register_buffer("abar", abar)
        self.register_buffer("abar_prev", abar_prev)
        # the DDPM posterior's standard deviation (chapter 1); the paper's sigma_t = beta_t is close
        self.register_buffer("sigma", torch.sqrt(betas * (1 - abar_prev) / (1 - abar)))

    def forward(self, obs: torch.Tensor, generator: torch.Generator | None = None, *,
                overshoot: bool = False):
        """The action b_0, shape (B, N); with ``overshoot``, also how far the last clean action lay
        outside [-1, 1] (per user), which the training loss keeps small."""
        emb = self.encoder(obs, self.n_users)
        bound = obs.reshape(obs.shape[0], self.n_users, FEATURES)[..., _BOUND]
        b = torch.randn(obs.shape[0], self.n_users, generator=generator)
        for i in reversed(range(self.steps)):
            t = torch.full((obs.shape[0],), i)
            eps = self.eps(b, t, emb, bound)
            raw = (b - torch.sqrt(1 - self.abar[i]) * eps) / torch.sqrt(self.abar[i])
            b0 = raw.clamp(-1.0, 1.0)
            if i == 0:
                return (b0, torch.relu(raw.abs() - 1.0)) if overshoot else b0
            mean = (torch.sqrt(self.abar_prev[i]) * self.betas[i] * b0
                    + torch.sqrt(self.alphas[i]) * (1 - self.abar_prev[i]) * b) / (1 - self.abar[i])
            b = mean + self.sigma[i] * torch.randn(b.shape, generator=generator)
        return b  # not reached

    def bc_loss(self, obs: torch.Tensor, action: torch.Tensor, generator=None) -> torch.Tensor:
        """The denoising loss of chapter 1 on replayed actions: ``||eps - eps_theta(b_t, t, s)||^2``."""
        emb = self.encoder(obs, self.n_users)
        bound = obs.reshape(obs.shape[0], self.n_users, FEATURES)[..., _BOUND]
        t = torch.randint(0, self.steps, (obs.shape[0],), generator=generator)
        noise = torch.randn(action.shape, generator=generator)
        abar = self.abar[t][:, None]
        b_t = torch.sqrt(abar) * action + torch.sqrt(1 - abar) * noise
        return ((self.eps(b_t, t, emb, bound) - noise) ** 2).mean()


class _Critic(nn.Module):
    """Q(s, b): a sum over users of q(user features, its action, pooled context of all users)."""

    def __init__(self, n_users: int, embed: int, hidden: int):
        super().__init__()
        self.n_users = n_users
        self.encoder = _UserEncoder(embed, hidden)
        self.pool = _mlp(embed + 2, hidden, embed)
        self.head = _mlp(2 * embed + 2, hidden, hidden, 1)

    def forward(self, obs, action, emb=None):
        emb = self.encoder(obs, self.n_users) if emb is None else emb
        x = torch.cat([emb, action[..., None], _pixels(action, obs, self.n_users)[..., None]], dim=2)
        ctx = self.pool(x).mean(dim=1, keepdim=True).expand(-1, self.n_users, -1)
        return self.head(torch.cat([x, ctx], dim=2)).squeeze(2).sum(dim=1)  # (B,)


class ADD:
    """The ADD agent: a diffusion policy trained with double Q-networks (Algorithm 2 of [G-SemCom]).

    Parameters
    ----------
    settings : ADDSettings, optional
        Hyperparameters (Table III defaults); ``n_users`` must match the environment's.
    seed : int
        Seeds the networks' initial weights and every draw of the agent.
    """

    def __init__(self, settings: ADDSettings | None = None, *, seed: int = 0):
        self.settings = ADDSettings() if settings is None else settings
        if not isinstance(self.settings, ADDSettings):
            raise TypeError(f"settings must be an ADDSettings, got {type(self.settings).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        s = self.settings
        torch.manual_seed(int(seed))
        self.policy = _Policy(s.n_users, s.diffusion_steps, s.embed, s.hidden)
        self.policy_ema = copy.deepcopy(self.policy).requires_grad_(False)
        self.critics = nn.ModuleList([_Critic(s.n_users, s.embed, s.hidden) for _ in range(2)])
        self.targets = copy.deepcopy(self.critics).requires_grad_(False)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=s.learning_rate)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=s.critic_learning_rate)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.rng = np.random.default_rng(int(seed))
        self.history: list[dict] = []
        self.steps_done = 0

    def __repr__(self) -> str:
        s = self.settings
        return f"ADD(n_users={s.n_users}, T={s.diffusion_steps}, steps_done={self.steps_done})"

    # ------------------------------------------------------------------ acting
    def _check_obs(self, obs) -> tuple[torch.Tensor, bool]:
        try:
            o = np.asarray(obs, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"obs must be an array of numbers, got {type(obs).__name__}") from exc
        width = self.settings.n_users * FEATURES
        if o.ndim not in (1, 2) or o.shape[-1] != width:
            raise ValueError(f"obs must have shape ({width},) or (batch, {width}) for {self.settings.n_users} "
                             f"users, got {o.shape}")
        if not np.all(np.isfinite(o)):
            raise ValueError("obs must be finite")
        return torch.from_numpy(o.reshape(-1, width)), o.ndim == 1

    @torch.no_grad()
    def policy_action(self, obs, *, ema: bool = True, best_of: int | None = None) -> np.ndarray:
        """The denoised action in ``[-1, 1]^N`` for each state (best of ``best_of`` draws by min Q).

        Each draw is the diffusion policy of Eq. 20 of [G-SemCom]: ``b_T ~ N(0, I)``, then ``T``
        reverse steps, each Eq. 21 of [G-SemCom] (through the clipped clean action, see the module).

        Parameters
        ----------
        obs : array-like, shape (N * FEATURES,) or (batch, N * FEATURES)
            Observations of :class:`~gsemlab.rl.env.BandwidthAllocationEnv`.
        ema : bool
            Use the policy's moving average (when ``settings.ema > 0``).
        best_of : int, optional
            Draws per state; default ``settings.best_of``.

        Returns
        -------
        numpy.ndarray of float32, shape (N,) or (batch, N)
        """
        o, single = self._check_obs(obs)
        net = self.policy_ema if ema and self.settings.ema > 0 else self.policy
        k = self.settings.best_of if best_of is None else int(best_of)
        if k < 1:
            raise ValueError(f"best_of must be >= 1, got {best_of!r}")
        u = self.settings.act_uniform if k > 1 else 0
        if k == 1:
            a = net(o, self.generator)
        else:
            n = self.settings.n_users
            cand = net(o.repeat_interleave(k, dim=0), self.generator).reshape(-1, k, n)
            if u:  # uniform draws beside the policy's: the critics may prefer a part the policy left
                cand = torch.cat([cand, torch.rand(o.shape[0], u, n, generator=self.generator) * 2 - 1], dim=1)
            rep = o.repeat_interleave(k + u, dim=0)
            flat = cand.reshape(-1, n)
            q = torch.min(self.critics[0](rep, flat), self.critics[1](rep, flat)).reshape(-1, k + u)
            a = cand[torch.arange(o.shape[0]), q.argmax(dim=1)]
        out = a.numpy()
        return out[0] if single else out

    def act(self, obs, *, best_of: int | None = None) -> np.ndarray:
        """Pixels for each user in the state ``obs`` (Algorithm 2, inference).

        Parameters
        ----------
        obs : array-like, shape (N * FEATURES,) or (batch, N * FEATURES)
            Observations of the environment.
        best_of : int, optional
            Draws per state; default ``settings.best_of``.

        Returns
        -------
        numpy.ndarray, shape (N,) or (batch, N)
            Whole pixels per user within each bound (:func:`action_to_pixels`).
        """
        a = self.policy_action(obs, best_of=best_of)
        return action_to_pixels(a, obs, self.settings.n_users)

    # ------------------------------------------------------------------ learning
    def _update(self, obs: torch.Tensor, act: torch.Tensor, rew: torch.Tensor) -> dict:
        s = self.settings
        target = rew / s.reward_scale  # done = 1 at every step: Eq. 23's target is the reward itself
        embs = [c.encoder(obs, s.n_users) for c in self.critics]
        q1, q2 = (c(obs, act, e) for c, e in zip(self.critics, embs))
        critic_loss = ((q1 - target) ** 2).mean() + ((q2 - target) ** 2).mean()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        if s.target_samples > 0:
            # the best of the policy's own draws and of uniform draws, by the critics: what the
            # denoising (behaviour-cloning) term imitates instead of the replayed action
            with torch.no_grad():
                k = s.target_samples
                rep = obs.repeat_interleave(2 * k, dim=0)
                own = self.policy(obs.repeat_interleave(k, dim=0), self.generator).reshape(-1, k, s.n_users)
                uni = torch.rand(obs.shape[0], k, s.n_users, generator=self.generator) * 2 - 1
                cand = torch.cat([own, uni], dim=1).reshape(-1, s.n_users)
                qc = torch.min(self.targets[0](rep, cand), self.targets[1](rep, cand)).reshape(-1, 2 * k)
                act = cand.reshape(-1, 2 * k, s.n_users)[torch.arange(obs.shape[0]), qc.argmax(dim=1)]
        new, over = self.policy(obs, self.generator, overshoot=True)
        # the critics' state embeddings do not depend on the action: reused, without their gradient
        q = torch.min(*(c(obs, new, e.detach()) for c, e in zip(self.critics, embs)))
        # Eq. 22, plus a pull back to the box: where the clean action overshoots [-1, 1] the clip has
        # no gradient, so without it a user pushed to "send all" (or "nothing") by mistake stays there
        policy_loss = -q.mean() + s.overshoot_weight * (over ** 2).sum(dim=1).mean()
        if s.bc_weight > 0:  # Diffusion-QL: stay close to the replayed actions, Q steering (scale-free)
            policy_loss = s.bc_weight * self.policy.bc_loss(obs, act, self.generator) \
                + s.q_weight * policy_loss / q.abs().mean().detach().clamp_min(1e-6)
        self.policy_opt.zero_grad()
        policy_loss.backward()
        self.policy_opt.step()
        with torch.no_grad():
            for p, tp in zip(self.critics.parameters(), self.targets.parameters()):
                tp.mul_(1 - s.tau).add_(s.tau * p)
            if s.ema > 0:
                for p, ep in zip(self.policy.parameters(), self.policy_ema.parameters()):
                    ep.mul_(s.ema).add_((1 - s.ema) * p)
        return {"critic_loss": float(critic_loss.detach()), "policy_loss": float(policy_loss.detach())}

    def fit(self, env, steps: int, *, seed: int = 0, log_every: int = 1000, callback=None) -> "ADD":
        """Train on ``env`` for ``steps`` environment steps (Algorithm 2).

        Each gradient step fits both critics to the replayed rewards, Eq. 23 of [G-SemCom] (with
        ``done = 1`` the target is the reward), softly updates their target copies, then moves the
        policy to maximise ``min(Q_1, Q_2)`` of its own action, Eq. 22 of [G-SemCom] (plus the terms
        the settings add).

        Parameters
        ----------
        env : gymnasium.Env
            A :class:`~gsemlab.rl.env.BandwidthAllocationEnv` (one-step episodes) with ``n_users`` users.
        steps : int
            Environment steps (one transition each).
        seed : int
            Seeds the environment's draws.
        log_every : int
            Steps between entries of ``self.history`` (mean reward of the steps since the last entry).
        callback : callable, optional
            Called as ``callback(steps_done, agent)`` after each entry.

        Returns
        -------
        ADD
            ``self``, trained; calling ``fit`` again goes on from where it stopped (the buffer is new).
        """
        s = self.settings
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        n = getattr(env.unwrapped, "n_users", None)
        if n != s.n_users:
            raise ValueError(f"the environment has {n} users but the agent was built for {s.n_users}")
        width = s.n_users * FEATURES
        cap = min(s.buffer_size, int(steps))
        obs_buf = np.zeros((cap, width), np.float32)
        act_buf = np.zeros((cap, s.n_users), np.float32)
        rew_buf = np.zeros(cap, np.float32)
        env.reset(seed=int(seed))
        done, filled, debt, recent, losses = 0, 0, 0.0, [], {}
        self._slot = 0
        while done < steps:
            m = min(s.collect, steps - done)
            base = env.unwrapped
            obs, states = np.zeros((m, width), np.float32), []
            for k in range(m):  # one-step episodes: draw m states, act on them at once, then step each
                obs[k] = env.reset()[0]
                states.append(base.state)
            if self.steps_done + done < s.warmup_steps:
                a = self.rng.uniform(-1, 1, (m, s.n_users)).astype(np.float32)
            else:
                a = self.policy_action(obs, ema=False, best_of=1)
                a = np.clip(a + self.rng.normal(0, s.exploration_std, a.shape), -1, 1)
                uniform = self.rng.random(a.shape) < s.explore_uniform
                a = np.where(uniform, self.rng.uniform(-1, 1, a.shape), a).astype(np.float32)
            pixels = action_to_pixels(a, obs, s.n_users)
            for k in range(m):
                base.state = states[k]
                _, reward, *_ = env.step(pixels[k])
                slot = (self._slot + k) % cap
                obs_buf[slot], act_buf[slot], rew_buf[slot] = obs[k], a[k], reward
                recent.append(reward)
            self._slot = (self._slot + m) % cap
            filled = min(filled + m, cap)
            done += m
            if self.steps_done + done >= s.warmup_steps and filled >= s.batch_size:
                debt += m * s.updates_per_step
                while debt >= 1:
                    idx = self.rng.integers(0, filled, s.batch_size)
                    losses = self._update(torch.from_numpy(obs_buf[idx]), torch.from_numpy(act_buf[idx]),
                                          torch.from_numpy(rew_buf[idx]))
                    debt -= 1
            if done // log_every != (done - m) // log_every or done == steps:
                self.history.append({"step": self.steps_done + done, "mean_reward": float(np.mean(recent)),
                                     **losses})
                recent = []
                if callback is not None:
                    callback(self.steps_done + done, self)
        self.steps_done += int(steps)
        return self

    # ------------------------------------------------------------------ files
    def save(self, path) -> Path:
        """Write ``path``.safetensors (policy, its average, critics) and ``path``.json (settings, history).

        Returns
        -------
        pathlib.Path
            The ``.safetensors`` file.
        """
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {f"policy.{k}": v for k, v in self.policy.state_dict().items()}
        tensors |= {f"policy_ema.{k}": v for k, v in self.policy_ema.state_dict().items()}
        tensors |= {f"critics.{k}": v for k, v in self.critics.state_dict().items()}
        out = path.with_suffix(".safetensors")
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(out))
        path.with_suffix(".json").write_text(json.dumps(
            {"format": "gsemlab.rl.ADD/1", "settings": asdict(self.settings), "steps_done": self.steps_done,
             "history": self.history}, indent=1))
        return out

    @classmethod
    def load(cls, path, *, seed: int = 0) -> "ADD":
        """Read an agent written by :meth:`save` (``path`` with or without a suffix)."""
        from safetensors.torch import load_file

        path = Path(path)
        meta_file = path.with_suffix(".json")
        if not meta_file.exists() or not path.with_suffix(".safetensors").exists():
            raise FileNotFoundError(f"no saved ADD agent at {path.with_suffix('')} (.json and .safetensors)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != "gsemlab.rl.ADD/1":
            raise ValueError(f"{meta_file} is not a saved ADD agent (format {meta.get('format')!r})")
        known = {f.name for f in fields(ADDSettings)}
        agent = cls(ADDSettings(**{k: v for k, v in meta["settings"].items() if k in known}), seed=seed)
        tensors = load_file(str(path.with_suffix(".safetensors")))
        for prefix, module in (("policy.", agent.policy), ("policy_ema.", agent.policy_ema),
                               ("critics.", agent.critics)):
            module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        agent.targets = copy.deepcopy(agent.critics).requires_grad_(False)
        agent.history = meta.get("history", [])
        agent.steps_done = int(meta.get("steps_done", 0))
        return agent


def pretrained(name: str = "add") -> ADD:
    """A bundled ADD policy trained on the bundled curves (``benchmarks/rl.py`` records how).

    Parameters
    ----------
    name : {"add", "add-cap12"}
        ``"add"``: 3 users, no shared cap (Table III's setting); ``"add-cap12"``: 12 users at 2 s
        latency sharing the cap of Fig. 16a (:data:`gsemlab.rl.env.FIG16A_CAP`).

    Returns
    -------
    ADD
    """
    from importlib import resources

    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {tuple(PRETRAINED)}, got {name!r}")
    folder = resources.files("gsemlab") / "data" / "rl"
    with resources.as_file(folder / f"{PRETRAINED[name]}.json") as meta:
        return ADD.load(Path(meta).with_suffix(""))
