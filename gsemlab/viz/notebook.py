"""Glue a computed value into the page, with or without MyST-NB installed.

``glue(name, value)`` stores ``value``'s display in the cell's output so that the book's prose can
show it with ``{glue:text}`name``` (MyST-NB's glue). Where ``myst_nb`` is installed (the book's build)
its own ``glue`` is used; elsewhere (Colab, a plain Jupyter, the wheel's notebooks) the same output is
written by hand in MyST-NB's format, so a chapter runs everywhere without the book's tools.
"""

from __future__ import annotations

__all__ = ["GLUE_PREFIX", "glue"]

GLUE_PREFIX = "application/papermill.record/"  # the mime-type prefix MyST-NB reads glued values from


def glue(name: str, value, display: bool = True) -> None:
    """Record ``value`` under ``name`` for the page's prose (MyST-NB's ``glue``).

    Parameters
    ----------
    name : str
        The key the prose refers to (``{glue:text}`name```); unique in the page.
    value : object
        What to show; its display (``repr``, or a figure's image) is stored, not the object.
    display : bool
        Also show the value in the cell's output.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        myst_glue = None
    if myst_glue is not None:
        myst_glue(name, value, display=display)
        return
    import IPython
    from IPython.display import display as ipy_display

    mimebundle, metadata = IPython.core.formatters.format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)
