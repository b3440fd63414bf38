"""Drawing for the chapters: nothing in the package imports this subpackage.

Every helper draws on the axes it is given (or makes a new figure), returns what it drew on and never
calls ``plt.show()``, so chapters, tests and assignments can compose them. Only matplotlib, numpy and
IPython's display objects are used.

Modules
-------
figures
    Curves, distributions, rows of images, the system diagram; the course's palette ``COLORS``.
images
    Images, masks, matrices and dependency parses.
tables
    Markdown tables from rows of numbers (what the chapters print as tables).
style
    The book's figure style: sizes and fonts that stay legible at the page's width.
notebook
    ``glue``: a computed value into the page's prose, with or without MyST-NB installed.

One module per chapter topic holds that chapter's composite figures (``diffusion``, ``attention``, ``rl``,
``prompt``, ``segments``, ``channel``, ``jpsq``, ``pipeline``), so that a chapter's visible code is the
code of its idea.
"""

from .figures import (COLORS, LINE_STYLES, MARKERS, MASK_COLORS, image_rows, mask_colour, new_axes, plot_curves, plot_distribution,
                      series_style, system_diagram)
from .images import dependency_svg, gsemcom_results_figure, overlay_masks, plot_matrix, show_images
from .notebook import glue
from .style import BOOK_RC, MIN_FONT_PT, book_style
from .tables import markdown_table
from . import attention, channel, diffusion, jpsq, pipeline, prompt, rl, segments  # noqa: E402  (topic modules)

__all__ = [
    "BOOK_RC", "COLORS", "LINE_STYLES", "MARKERS", "MASK_COLORS", "MIN_FONT_PT", "mask_colour", "attention", "book_style", "channel",
    "dependency_svg", "diffusion", "glue", "gsemcom_results_figure", "image_rows", "jpsq", "markdown_table",
    "new_axes", "overlay_masks", "pipeline", "plot_curves", "plot_distribution", "plot_matrix", "prompt",
    "rl", "segments", "series_style", "show_images", "system_diagram",
]
