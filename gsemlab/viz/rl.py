"""Figures of chapter 8: utility curves, learning curves, allocations and scalability (Figs. 13-16 of [G-SemCom]).

Every helper draws on the axes it is given, or on a new figure at most
``gsemlab.viz.style.MAX_WIDTH_IN`` wide, and returns the axes; none calls ``plt.show()``.

Helpers
-------
utility_steps
    One user's Eq. 19 term against the budget: a step per segment, minus the bandwidth's cost.
learning_curves
    Mean held-out reward against environment steps, with the spread over seeds (Fig. 13).
allocations
    Pixels each method gives each user of a few states, against the bounds (Fig. 14).
utility_vs_users
    Utility against the number of users (Figs. 15 and 16a).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .figures import new_axes, plot_curves, series_style

__all__ = ["allocations", "learning_curves", "utility_steps", "utility_vs_users"]


def utility_steps(curves, indices: Sequence[int], *, omega0: float | None = None, ax=None):
    """Eq. 19's term ``500 J(b) H(Q(b) >= Q_th) - 0.05 b`` against the budget ``b`` for some prompts.

    Parameters
    ----------
    curves : gsemlab.rl.CurveSet
        The utility curves.
    indices : sequence of int
        Prompts to draw (at most 8).
    omega0 : float, optional
        Eq. 17's ``omega_0`` (default Table III).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    from ..rl import user_utility

    indices = [int(i) for i in indices]
    if not 1 <= len(indices) <= 8:
        raise ValueError(f"indices must name 1 to 8 prompts, got {len(indices)}")
    ax = new_axes(ax, (6.5, 3.4))
    for k, i in enumerate(indices):
        curve = curves.curve(i, omega0=omega0)
        b = np.arange(int(curves.packet_pixels[i]) + 1)
        style = series_style(k)
        ax.plot(b, user_utility(curve, b), label=f"prompt {i} ({len(curves.steps[i]) - 1} segments)", **style)
        best = int(np.argmax(user_utility(curve, b)))
        ax.plot([best], [float(user_utility(curve, best))], marker="o", color=style["color"], ms=5)
    ax.set_xlabel("budget b (pixels)")
    ax.set_ylabel("user's utility (Eq. 19 term)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def learning_curves(methods: Mapping[str, Mapping], *, references: Mapping[str, float] | None = None, ax=None):
    """Mean held-out reward against environment steps, a band from the worst to the best seed (Fig. 13).

    Parameters
    ----------
    methods : mapping of str to mapping
        Label -> ``{"curve_steps", "curve_mean", "curve_min", "curve_max"}`` (a method's entry of
        ``load_result("rl")``).
    references : mapping of str to float, optional
        Label -> a reward drawn as a horizontal line (the optimum, random, fixed).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = new_axes(ax, (6.5, 3.6))
    if not methods:
        raise ValueError("methods must hold at least one learning curve")
    steps = None
    for k, (label, m) in enumerate(methods.items()):
        x = np.asarray(m["curve_steps"], float)
        style = series_style(k)
        ax.plot(x, m["curve_mean"], label=label, **style)
        ax.fill_between(x, m["curve_min"], m["curve_max"], color=style["color"], alpha=0.15, lw=0)
        steps = x if steps is None else steps
    for k, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color="0.3", lw=1, ls=(":", "--", "-.")[k % 3], label=label)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean reward, held-out states")
    ax.legend(fontsize="small", ncol=2)
    ax.grid(alpha=0.3)
    return ax


def allocations(allocs: Mapping[str, Sequence[Sequence[float]]], bounds: Sequence[Sequence[float]], *, ax=None):
    """Pixels each method gives each user of a few states, as grouped bars, the bounds as ticks (Fig. 14).

    Parameters
    ----------
    allocs : mapping of str to array_like, shape (n_states, N)
        Method -> pixels per state and user.
    bounds : array_like, shape (n_states, N)
        Each user's Eq. 19a bound (pixels).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    bounds = np.asarray(bounds, float)
    if bounds.ndim != 2:
        raise ValueError(f"bounds must be (n_states, N), got shape {bounds.shape}")
    n_states, n = bounds.shape
    ax = new_axes(ax, (6.8, 3.4))
    names = list(allocs)
    width = 0.8 / len(names)
    x = np.arange(n_states * n, dtype=float)
    for k, name in enumerate(names):
        a = np.asarray(allocs[name], float).reshape(-1)
        if a.size != x.size:
            raise ValueError(f"allocs[{name!r}] must have shape {bounds.shape}")
        ax.bar(x - 0.4 + (k + 0.5) * width, a, width, label=name, color=series_style(k)["color"])
    ax.scatter(x, bounds.reshape(-1), marker="_", s=300, color="k", label="bound (Eq. 19a)", zorder=3)
    ax.set_xticks(x, [f"state {s + 1}\nuser {u + 1}" for s in range(n_states) for u in range(n)], fontsize="small")
    ax.set_ylabel("pixels allocated")
    ax.legend(fontsize="small", ncol=3)
    ax.grid(alpha=0.3, axis="y")
    return ax


def utility_vs_users(n_users: Sequence[int], series: Mapping[str, Sequence[float]], *, ylabel: str,
                     points: Mapping[str, tuple[int, float]] | None = None, ax=None):
    """Utility against the number of users (Figs. 15 and 16a).

    Parameters
    ----------
    n_users : sequence of int
        The x values.
    series : mapping of str to sequence of float
        Method -> utility at each user count.
    ylabel : str
        What the utility is (total, or per user).
    points : mapping of str to (int, float), optional
        Method -> a single (users, utility) point, e.g. a policy trained for one user count.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = plot_curves(np.asarray(n_users), {k: np.asarray(v, float) for k, v in series.items()},
                     xlabel="users N", ylabel=ylabel, markers=True, ax=ax)
    for k, (label, (n, value)) in enumerate((points or {}).items()):
        ax.plot([n], [value], marker="*", ms=12, ls="none", color=series_style(len(series) + k)["color"],
                label=label)
    ax.legend(fontsize="small")
    return ax
