"""The bandwidth-allocation environment of Sec. V of [G-SemCom] (Eq. 19, 19a), as a gymnasium Env.

Each episode is one step. :meth:`BandwidthAllocationEnv.reset` draws N users: each a prompt of the
curve set (its 16 x 16 semantic map is the paper's state), a distance and a Rayleigh fading gain
(Eq. 1), and the latency bound ``L_i``. The action is each user's bandwidth in pixels; the reward is
Eq. 19 with Table III's weights, minus a penalty for every pixel outside Eq. 19a's bound (the action
is clipped to the bound, and the clipping counted in ``info``). The next users do not depend on the
action, so the discount factor of ADD only scales a bootstrap term that one-step episodes never use:
with ``terminated=True`` at every step the Q-target is the reward itself.

Units. ``L_i c_i`` is a payload in bits (Eq. 1 times the latency); Table III's ``O = 1`` counts pixels.
The course reads ``O`` as the bits one sent pixel costs in the packet, measured on the packet format
(:func:`gsemlab.packing.rate.pixel_budget`), so the bound is ``min(pixel_budget(L_i c_i), |S_i|)``.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..channel import drop_users, max_payload_bits, ofdma_capacity, rayleigh_gains
from ..config import ADDConfig, ChannelConfig, JPSQConfig
from ..jpsq import jpsq as jpsq_of
from ..packing.rate import packet_rate
from .curves import MAP_SIDE, MAX_STEPS, CurveSet
from .optimum import optimal_allocation, utility_term

__all__ = ["MAX_USERS", "BandwidthAllocationEnv", "FIG16A_CAP", "FIG16A_LATENCY_S", "IMAGE_PIXELS", "PAPER_WEIGHTS",
           "FIG16B_WEIGHTS"]

MAX_USERS = 12
IMAGE_PIXELS = 64 * 64  # the toy backend's images: no packet carries more pixels
FEATURES = MAP_SIDE * MAP_SIDE + 3 + MAX_STEPS  # map, bound, whole packet, log SNR, prefix sizes
PAPER_WEIGHTS = (1.25, 500.0, 0.05)  # omega_0, omega_1, omega_2 (Table III)
FIG16B_WEIGHTS = (1.0, 200.0, 0.2)  # Sec. VI-B-3: saving bandwidth weighs more
FIG16A_LATENCY_S = 2.0  # Fig. 16a: the users tolerate 2 s
FIG16A_CAP = 2 * IMAGE_PIXELS  # Fig. 16a's MASP capacity per step: two whole 64 x 64 images (the course's choice)


def _check_weights(weights) -> tuple[float, float, float]:
    try:
        w = tuple(float(x) for x in weights)
    except TypeError as exc:
        raise TypeError(f"weights must be a sequence (omega0, omega1, omega2), got {weights!r}") from exc
    if len(w) != 3 or not all(math.isfinite(x) and x > 0 for x in w):
        raise ValueError(f"weights must be three finite numbers > 0 (omega0, omega1, omega2), got {weights!r}")
    return w


class BandwidthAllocationEnv(gym.Env):
    """Share bandwidth among N users so as to maximise Eq. 19 of [G-SemCom] (bounds: Eq. 19a).

    Parameters
    ----------
    curves : CurveSet
        Utility curves of the prompts users are drawn from.
    n_users : int
        N, users per step (1 to 12; the paper's default is 3).
    split : {"train", "heldout"} or None
        Which prompts of ``curves`` users are drawn from.
    shared_cap : float, optional
        Total pixels the MASP can send in one step, shared by the users (Fig. 16a); ``None``: no cap.
    weights : tuple of float
        ``(omega_0, omega_1, omega_2)`` of Eq. 17 and 19 (Table III: ``PAPER_WEIGHTS``; Fig. 16b:
        ``FIG16B_WEIGHTS``).
    latency_s : float, optional
        ``L_i`` for every user (s); default ``ChannelConfig().latency_s`` (Table III: 5 s).
    penalty_per_pixel : float
        Reward taken per pixel of an action outside Eq. 19a's bounds (or above the shared cap).
    live : bool
        Run the pipeline (``system.transmit``) for the reward instead of reading the curves.
    system : GSemCom, optional
        The pipeline for ``live=True`` (toy backend: the one that made the curves).
    channel : ChannelConfig, optional
        Eq. 1's parameters.
    """

    metadata = {"render_modes": []}

    def __init__(self, curves: CurveSet, *, n_users: int = 3, split: str | None = "train", shared_cap=None,
                 weights=PAPER_WEIGHTS, latency_s: float | None = None, penalty_per_pixel: float = 0.1,
                 live: bool = False, system=None, channel: ChannelConfig | None = None):
        super().__init__()
        if not isinstance(curves, CurveSet):
            raise TypeError(f"curves must be a CurveSet, got {type(curves).__name__}")
        if isinstance(n_users, bool) or not isinstance(n_users, (int, np.integer)) \
                or not 1 <= n_users <= MAX_USERS:
            raise ValueError(f"n_users must be an integer from 1 to {MAX_USERS}, got {n_users!r}")
        if shared_cap is not None and (isinstance(shared_cap, bool) or not isinstance(shared_cap, (int, float))
                                       or not math.isfinite(shared_cap) or shared_cap <= 0):
            raise ValueError(f"shared_cap must be a number of pixels > 0 or None, got {shared_cap!r}")
        if not (isinstance(penalty_per_pixel, (int, float)) and math.isfinite(penalty_per_pixel)
                and penalty_per_pixel >= 0):
            raise ValueError(f"penalty_per_pixel must be a finite number >= 0, got {penalty_per_pixel!r}")
        if live and system is None:
            raise ValueError("live=True needs system=GSemCom(...) to run the pipeline")
        self.curves = curves
        self.n_users = int(n_users)
        self.pool = curves.indices(split)
        if self.pool.size == 0:
            raise ValueError(f"the curve set has no {split!r} prompts")
        self.shared_cap = None if shared_cap is None else float(shared_cap)
        self.weights = _check_weights(weights)
        self.channel = channel or ChannelConfig()
        self.latency_s = float(self.channel.latency_s if latency_s is None else latency_s)
        if not (math.isfinite(self.latency_s) and self.latency_s > 0):
            raise ValueError(f"latency_s must be > 0, got {latency_s!r}")
        self.penalty_per_pixel = float(penalty_per_pixel)
        self.live, self.system = bool(live), system
        omega0 = self.weights[0]
        self._q_th = JPSQConfig().q_th
        self._user_curves = {int(i): curves.curve(int(i), omega0=omega0) for i in self.pool}
        self._sizes, self._jpsq, self._quality = curves.step_table(omega0=omega0, q_th=self._q_th)
        self._prefix = curves.prefix_features(MAX_STEPS).astype(np.float32) / IMAGE_PIXELS
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.n_users * FEATURES,), dtype=np.float32)
        self.action_space = spaces.Box(0.0, float(IMAGE_PIXELS), shape=(self.n_users,), dtype=np.float32)
        self.state = None
        self._rate = packet_rate()  # bits per sent pixel of the default packet (Eq. 19a's O)
        self._buffer, self._next = None, 0

    # ------------------------------------------------------------------ state
    _BATCH = 1024  # users and channels are drawn this many steps at a time (the same draws, faster)

    def _refill(self):
        rng, c, n = self.np_random, self.channel, (self._BATCH, self.n_users)
        users = rng.choice(self.pool, size=n, replace=True)
        distance = drop_users(n, rng, min_distance_m=c.min_distance_m, max_distance_m=c.max_distance_m)
        gain = rayleigh_gains(distance, rng)
        capacity = ofdma_capacity(c.bandwidth_hz, c.power_w, gain, c.interference_w, c.noise_psd_w_per_hz)
        payload = max_payload_bits(capacity, self.latency_s)
        packet = self.curves.packet_pixels[users]
        bound = np.minimum(np.asarray(self._rate.pixel_budget(payload), dtype=np.int64), packet)
        snr = c.power_w * gain / (c.interference_w + c.bandwidth_hz * c.noise_psd_w_per_hz)
        maps = self.curves.maps[users].reshape(self._BATCH, self.n_users, -1).astype(np.float32)
        extra = np.stack([bound / IMAGE_PIXELS, packet / IMAGE_PIXELS,
                          np.clip(np.log10(np.maximum(snr, 1e-12)) / 10.0, 0.0, 1.0)], axis=2)
        obs = np.concatenate([maps, extra.astype(np.float32), self._prefix[users]], axis=2).reshape(self._BATCH, -1)
        self._buffer = {"users": users, "distance": distance, "gain": gain, "capacity_bps": capacity,
                        "bound": bound, "packet": packet, "snr": snr, "obs": obs}
        self._next = 0

    def _draw(self):
        if self._buffer is None or self._next >= self._BATCH:
            self._refill()
        k, self._next = self._next, self._next + 1
        return {name: value[k] for name, value in self._buffer.items()}

    def _observation(self) -> np.ndarray:
        # per user: the 16 x 16 map, then bound / 4096, |S_i| / 4096, log10(SNR) / 10 in [0, 1] and the
        # first MAX_STEPS prefix sizes / 4096 (where the packet grows: CurveSet.prefix_features)
        return self.state["obs"].copy()

    def reset(self, *, seed=None, options=None):
        """Draw the next N users; return the observation and ``info`` (users, bounds, channel)."""
        super().reset(seed=seed)
        if seed is not None:
            self._buffer = None  # a new seed starts a new sequence of draws
        self.state = self._draw()
        return self._observation(), self._info()

    def _info(self):
        s = self.state
        return {"prompts": s["users"].copy(), "bound": s["bound"].copy(), "packet_pixels": s["packet"].copy(),
                "capacity_bps": s["capacity_bps"].copy(), "distance_m": s["distance"].copy()}

    # ------------------------------------------------------------------ reward
    def check_action(self, action) -> np.ndarray:
        """``action`` as a float array of shape (N,), or a clear error (NaN, wrong shape, not numbers)."""
        try:
            a = np.asarray(action, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"action must be {self.n_users} numbers (pixels per user), got {action!r}") from exc
        if a.shape != (self.n_users,):
            raise ValueError(f"action must have shape ({self.n_users},), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action must be finite pixel counts, got {a.tolist()}")
        return a

    def allocate(self, action) -> tuple[np.ndarray, dict]:
        """Clip an action to Eq. 19a's bounds (and the shared cap); return pixels and what was clipped."""
        a = self.check_action(action)
        bound = self.state["bound"].astype(float)
        low, high = a < 0, a > bound
        excess = float(np.sum(np.maximum(a - bound, 0.0)) + np.sum(np.maximum(-a, 0.0)))
        b = np.clip(a, 0.0, bound)
        over_cap = 0.0
        if self.shared_cap is not None and b.sum() > self.shared_cap:
            over_cap = float(b.sum() - self.shared_cap)
            b = b * (self.shared_cap / b.sum())
        b = np.floor(b + 1e-9).astype(np.int64)
        return b, {"clipped": int(low.sum() + high.sum()), "excess_pixels": excess, "over_cap_pixels": over_cap}

    def user_outcomes(self, allocation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """JPSQ, quality and Eq. 19's term of each user at ``allocation`` pixels."""
        omega0, omega1, omega2 = self.weights
        users = self.state["users"]
        if self.live:
            j, q = [], []
            for u, b in zip(users, allocation):
                t = self.system.transmit(self.curves.captions[u], budget=int(b) if b > 0 else 0,
                                         seed=int(self.curves.seeds[u]))
                q.append(t.quality)
                j.append(float(jpsq_of(t.distance, t.quality, self.curves.t_max, omega0=omega0, q_th=self._q_th)))
            j, q = np.asarray(j), np.asarray(q)
        else:  # the last step at or below each allocation (CurveSet.step_table)
            col = (self._sizes[users] <= np.asarray(allocation)[:, None]).sum(axis=1) - 1
            j, q = self._jpsq[users, col], self._quality[users, col]
        utility = utility_term(j, q, allocation, omega1=omega1, omega2=omega2, q_th=self._q_th)
        return j, q, utility

    def step(self, action):
        """Apply one allocation; the episode ends (``terminated=True``) after this one step."""
        if self.state is None:
            raise RuntimeError("call reset() before step(): each episode is one step")
        b, clip = self.allocate(action)
        j, q, utility = self.user_outcomes(b)
        penalty = self.penalty_per_pixel * (clip["excess_pixels"] + clip["over_cap_pixels"])
        reward = float(utility.sum() - penalty)
        info = {**self._info(), "allocation": b, "jpsq": j, "quality": q, "utility": utility,
                "penalty": penalty, **clip}
        self.state = None
        return np.zeros(self.observation_space.shape, np.float32), reward, True, False, info

    # ------------------------------------------------------------------ references
    def optimal_action(self) -> np.ndarray:
        """The exact optimum of Eq. 19 for the current users (curves; :func:`optimal_allocation`)."""
        if self.state is None:
            raise RuntimeError("call reset() first: the optimum is of the current users")
        curves = [self._user_curves[int(u)] for u in self.state["users"]]
        _, omega1, omega2 = self.weights
        alloc, _ = optimal_allocation(curves, self.state["bound"], cap=self.shared_cap,
                                      add_config=ADDConfig(omega1=omega1, omega2=omega2))
        return alloc.astype(np.float32)
