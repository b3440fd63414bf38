"""Bandwidth allocation among users (Sec. V of [G-SemCom], Eq. 19-23): the exact optimum first.

``curves`` holds what the pipeline delivers at each budget, per prompt (``make_curves`` measures it:
``python -m gsemlab.rl.make_curves``); ``env`` the gymnasium
environment of Eq. 19 and 19a; ``optimum`` holds the utility of Eq. 19 on a user's JPSQ and quality curves and its exact maximum
with or without a shared cap (a multiple-choice knapsack solved by dynamic programming).
"""

from .optimum import UtilityCurve, breakpoints, optimal_allocation, user_utility
from .curves import CurveSet
from .env import FIG16B_WEIGHTS, MAX_USERS, PAPER_WEIGHTS, BandwidthAllocationEnv

__all__ = ["FIG16B_WEIGHTS", "MAX_USERS", "PAPER_WEIGHTS", "BandwidthAllocationEnv", "CurveSet", "UtilityCurve",
           "breakpoints", "optimal_allocation", "user_utility"]
