"""Figures and listings of chapter 1 (diffusion basics, Eq. 2-4 of [G-SemCom]).

Drawing only (matplotlib, numpy, IPython): the chapter computes with :mod:`gsemlab.diffusion` and
hands the numbers here, so that its visible code is the code of the equations.

Functions
---------
schedule_panels
    The signal kept, alpha_bar_t, and the signal-to-noise ratio of several noise schedules.
moving_average
    Mean of every run of ``window`` consecutive values (a training loss, smoothed).
loss_curve
    A training loss history, smoothed by ``moving_average``, on a log axis.
code_listing
    A function's source, dedented and folded to the book's 88-character lines.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping

import numpy as np

from .figures import new_axes, plot_curves
from .style import MAX_WIDTH_IN

__all__ = ["code_listing", "loss_curve", "moving_average", "schedule_panels"]

#: Longest line (characters) of code the book shows without a horizontal scroll bar.
CODE_WIDTH = 88


def schedule_panels(steps, alpha_bars: Mapping[str, np.ndarray], *, axes=None):
    """Plot alpha_bar_t and the signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t) per schedule.

    Parameters
    ----------
    steps : array_like, shape (T,)
        The timesteps t (diffusers' 0-based indices, dimensionless).
    alpha_bars : mapping of str to array_like, each shape (T,)
        Schedule name -> alpha_bar_t (Eq. 4b), the fraction of the signal's power kept at step t;
        every value in (0, 1).
    axes : sequence of two matplotlib.axes.Axes, optional
        Where to draw alpha_bar_t and the SNR; a new 7 x 3 inch figure when omitted.

    Returns
    -------
    axes : tuple of two matplotlib.axes.Axes
        (alpha_bar axes, SNR axes, log scale).

    Raises
    ------
    ValueError
        If no schedule is given or a value of alpha_bar_t is outside (0, 1).
    """
    if not alpha_bars:
        raise ValueError("alpha_bars must hold at least one named schedule")
    curves = {}
    for name, values in alpha_bars.items():
        a = np.asarray(values, dtype=float)
        if not ((a > 0) & (a < 1)).all():
            raise ValueError(f"alpha_bar_t of {name!r} must lie in (0, 1)")
        curves[name] = a
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH_IN, 3.0), layout="constrained")
    left, right = axes
    plot_curves(steps, curves, xlabel="timestep t", ylabel=r"$\bar\alpha_t$ (signal kept)",
                title="signal power kept", ax=left)
    plot_curves(steps, {k: a / (1 - a) for k, a in curves.items()}, xlabel="timestep t",
                ylabel=r"$\bar\alpha_t / (1-\bar\alpha_t)$", logy=True,
                title="signal-to-noise ratio", ax=right)
    for ax in axes:
        ax.legend(fontsize=9)
    return left, right


def moving_average(values, window: int) -> np.ndarray:
    """Mean of every run of ``window`` consecutive values.

    Parameters
    ----------
    values : array_like, shape (n,)
        The sequence, e.g. a loss per training step.
    window : int
        Length of each run, 1 <= window <= n.

    Returns
    -------
    numpy.ndarray, shape (n - window + 1,)
        Entry ``k`` is the mean of ``values[k : k + window]``.

    Raises
    ------
    ValueError
        If ``values`` is not one-dimensional or ``window`` is not an int in [1, n].
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {v.shape}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or not 1 <= window <= v.size:
        raise ValueError(f"window must be an int from 1 to {v.size}, got {window!r}")
    return np.convolve(v, np.ones(window) / window, mode="valid")


def loss_curve(history, *, window: int = 25, ax=None):
    """Plot a training loss, smoothed by a moving average, on a logarithmic axis.

    Parameters
    ----------
    history : array_like, shape (n,)
        The loss of each training step (positive, e.g. squared error per pixel).
    window : int
        Length of the moving average (:func:`moving_average`).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new 6 x 3 inch figure when omitted.

    Returns
    -------
    ax : matplotlib.axes.Axes
        One curve: the moving average against the step that ends each window (window to n).
    """
    smooth = moving_average(history, window)
    ax = new_axes(ax, (6.0, 3.0))
    plot_curves(np.arange(window, window + smooth.size), {f"moving average of {window} steps": smooth},
                xlabel="training step", ylabel="loss per pixel", logy=True, ax=ax)
    ax.legend(fontsize=9)
    return ax


_COMMENT = re.compile(r"^(?P<code>.*?\S)\s+#\s(?P<comment>.*)$")


def code_listing(source: str, *, start: str | None = None, width: int = CODE_WIDTH):
    """A piece of source code as a displayable listing that fits the book's code width.

    The text from the first line that contains ``start`` on is dedented; a line longer than
    ``width`` that ends in a comment gets the comment on a line of its own above it. Lines that
    are still too long are shown as they are (the listing never changes the code itself).

    Parameters
    ----------
    source : str
        Python source, e.g. ``inspect.getsource(f)``.
    start : str, optional
        Text of the first line to show; the whole source when omitted.
    width : int
        Longest line wanted, in characters (> 20).

    Returns
    -------
    IPython.display.Code
        The listing, highlighted as Python; its text is ``.data``.

    Raises
    ------
    ValueError
        If ``start`` does not occur in ``source`` or ``width`` is not an int above 20.
    """
    from IPython.display import Code

    if isinstance(width, bool) or not isinstance(width, int) or width <= 20:
        raise ValueError(f"width must be an int above 20, got {width!r}")
    if start is not None:
        at = source.find(start)
        if at < 0:
            raise ValueError(f"start {start!r} does not occur in the source")
        source = source[source.rfind("\n", 0, at) + 1:]
    lines = []
    for line in textwrap.dedent(source).rstrip().splitlines():
        match = _COMMENT.match(line) if len(line) > width else None
        if match and "'" not in match["code"] and '"' not in match["code"]:
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(f"{indent}# {match['comment']}")
            lines.append(match["code"])
        else:
            lines.append(line)
    return Code("\n".join(lines) + "\n", language="python")
