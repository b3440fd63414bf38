"""Bandwidth allocation among users (Sec. V of [G-SemCom], Eq. 19-23).

``curves`` holds what the pipeline delivers at each budget, per prompt (``make_curves`` measures it:
``python -m gsemlab.rl.make_curves``); ``env`` the gymnasium environment of Eq. 19 and 19a;
``optimum`` the utility of Eq. 19 on a user's JPSQ and quality curves and its exact maximum with or
without a shared cap (a multiple-choice knapsack solved by dynamic programming); ``baselines`` the
allocations without learning (fixed, equal, by size, random); ``sb3`` PPO, SAC and TD3 from
stable-baselines3 on the same actions; ``add`` the diffusion policy ADD (Eq. 20-23, Algorithm 2);
``evaluation`` scores any method on the same held-out states.
"""

from .optimum import UtilityCurve, breakpoints, optimal_allocation, user_utility, utility_term
from .curves import CurveSet
from .env import FIG16A_CAP, FIG16A_LATENCY_S, FIG16B_WEIGHTS, MAX_USERS, PAPER_WEIGHTS, BandwidthAllocationEnv
from .add import ADD, ADDSettings, pretrained
from .evaluation import evaluate, gain_share

__all__ = ["ADD", "ADDSettings", "FIG16A_CAP", "FIG16A_LATENCY_S", "FIG16B_WEIGHTS", "MAX_USERS", "PAPER_WEIGHTS",
           "BandwidthAllocationEnv", "CurveSet", "UtilityCurve", "breakpoints", "evaluate", "gain_share",
           "optimal_allocation", "pretrained", "user_utility", "utility_term"]
