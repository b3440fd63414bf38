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

One module per chapter topic holds that chapter's composite figures (``diffusion``, ``attention``,
``prompt``, ``segments``, ``channel``, ``jpsq``, ``pipeline``), so that a chapter's visible code is the
code of its idea.
"""

from .figures import COLORS, image_rows, new_axes, plot_curves, plot_distribution, system_diagram
from .images import dependency_svg, gsemcom_results_figure, overlay_masks, plot_matrix, show_images
from .style import BOOK_RC, MIN_FONT_PT, book_style
from .tables import markdown_table

__all__ = [
    "BOOK_RC", "COLORS", "MIN_FONT_PT", "book_style", "dependency_svg", "gsemcom_results_figure",
    "image_rows", "markdown_table", "new_axes", "overlay_masks", "plot_curves", "plot_distribution",
    "plot_matrix", "show_images", "system_diagram",
]
