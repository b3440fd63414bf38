"""Progress bars for the long loops (training, calibration, curve measurement), off when nobody watches.

One function, :func:`progress_bar`, a :class:`tqdm.tqdm` that shows only when standard error is a
terminal: in a notebook, a CI log or a pipe it draws nothing, so chapters' outputs stay the same from
build to build. ``GSEMLAB_PROGRESS=1`` forces the bars on, ``GSEMLAB_PROGRESS=0`` off. Imports nothing
of gsemlab.
"""

from __future__ import annotations

import os

__all__ = ["PROGRESS_ENV", "progress_bar", "progress_enabled"]

#: The environment variable that forces the bars on ("1") or off ("0"); unset: on only at a terminal.
PROGRESS_ENV = "GSEMLAB_PROGRESS"


def progress_enabled() -> bool | None:
    """Whether the bars show: True or False when :data:`PROGRESS_ENV` says so, else None (at a terminal).

    Returns
    -------
    bool or None
        tqdm's ``disable`` is the negation; None lets tqdm decide by whether standard error is a terminal.

    Raises
    ------
    ValueError
        When :data:`PROGRESS_ENV` is set to anything but "0" or "1".
    """
    value = os.environ.get(PROGRESS_ENV, "").strip()
    if value == "":
        return None
    if value not in ("0", "1"):
        raise ValueError(f"{PROGRESS_ENV} must be '0' or '1' (or unset), got {value!r}")
    return value == "1"


def progress_bar(iterable=None, *, total: int | None = None, desc: str | None = None, initial: int = 0,
                 unit: str = "it"):
    """A tqdm progress bar on standard error, shown only at a terminal (see :func:`progress_enabled`).

    Parameters
    ----------
    iterable : iterable, optional
        What to loop over; None for a bar advanced by hand with ``.update(n)``.
    total : int, optional
        The number of items (default ``len(iterable)`` when it has one).
    desc : str, optional
        The label in front of the bar.
    initial : int
        Items already done (a resumed training run starts at its checkpoint's step).
    unit : str
        What one item is called ("step", "image", "prompt").

    Returns
    -------
    tqdm.tqdm
        Iterate over it, or call ``.update(n)`` and ``.close()`` (it is also a context manager).
    """
    from tqdm import tqdm

    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
        raise ValueError(f"total must be an int >= 0 or None, got {total!r}")
    enabled = progress_enabled()
    return tqdm(iterable, total=total, desc=desc, initial=initial, unit=unit, dynamic_ncols=True,
                disable=None if enabled is None else not enabled, leave=False)
