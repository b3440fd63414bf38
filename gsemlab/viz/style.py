"""The book's figure style: figures that stay legible at the width of a page.

The built book's text column is about 720 CSS pixels wide at a 1280-pixel window. A figure saved at
100 dots per inch and at most 7 inches wide is shown at its own size there, so a font of
``MIN_FONT_PT`` points (12.5 pixels at 100 dpi) stays above 9 pixels on screen even when the page
scales the figure down to 72 %. ``tests/browser_check.py`` measures the scale of every figure.
"""

from __future__ import annotations

__all__ = ["BOOK_RC", "MAX_WIDTH_IN", "MIN_FONT_PT", "book_style"]

MIN_FONT_PT = 9.0
MAX_WIDTH_IN = 7.0
BOOK_RC = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.4, 3.6),
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 11,
}


def book_style() -> dict:
    """Apply the book's matplotlib settings (``BOOK_RC``) and return them.

    Returns
    -------
    dict
        The settings applied: dots per inch, default size (inches) and font sizes (points, none
        below ``MIN_FONT_PT``).
    """
    import matplotlib as mpl

    mpl.rcParams.update(BOOK_RC)
    return dict(BOOK_RC)
