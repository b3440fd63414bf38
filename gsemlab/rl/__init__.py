"""Bandwidth allocation among users (Sec. V of [G-SemCom], Eq. 19-23): the exact optimum first.

``optimum`` holds the utility of Eq. 19 on a user's JPSQ and quality curves and its exact maximum
with or without a shared cap (a multiple-choice knapsack solved by dynamic programming).
"""

from .optimum import UtilityCurve, breakpoints, optimal_allocation, user_utility

__all__ = ["UtilityCurve", "breakpoints", "optimal_allocation", "user_utility"]
