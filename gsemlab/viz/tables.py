"""Markdown tables from rows of values: what a chapter prints as a table, built in one call.

A chapter cell ends with ``markdown_table(rows, headers)``; Jupyter shows the returned
:class:`IPython.display.Markdown` object as a table (MyST-NB renders it in the built book).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

__all__ = ["format_cell", "markdown_table"]


def format_cell(value, fmt: str | Callable | None = None) -> str:
    """One table cell as text.

    Parameters
    ----------
    value : object
        The cell's value: a number, a string or anything with ``str``.
    fmt : str or callable, optional
        A format specification for numbers (``".3f"``, ``"{:.1%}"``) or a function of the value
        that returns the text. Without it floats get 4 significant digits and the rest ``str``.

    Returns
    -------
    str
        The cell's text, with ``|`` escaped so that it cannot break the table.
    """
    if callable(fmt):
        text = fmt(value)
    elif fmt is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        text = fmt.format(value) if "{" in fmt else format(value, fmt)
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Sequence] | Sequence[Mapping], headers: Sequence[str] | None = None, *,
                   formats: Mapping[str, str | Callable] | Sequence | None = None,
                   align: str | Sequence[str] | None = None, as_text: bool = False):
    """A Markdown table of ``rows``.

    Parameters
    ----------
    rows : sequence of sequences or of mappings
        One entry per table row. Mappings are read by ``headers`` (their keys in order when
        ``headers`` is omitted).
    headers : sequence of str, optional
        The column titles; required when the rows are sequences.
    formats : mapping or sequence, optional
        Per column (by header, or by position), a format for :func:`format_cell`.
    align : str or sequence of str, optional
        ``"l"``, ``"c"`` or ``"r"`` for all columns or per column; numbers default to right, text to left.
    as_text : bool
        Return the Markdown source instead of a displayable object.

    Returns
    -------
    IPython.display.Markdown or str
        The table (a display object unless ``as_text``).

    Raises
    ------
    ValueError
        If ``rows`` is empty, a row's length differs from the headers', or ``align`` is not l/c/r.
    TypeError
        If sequence rows come without ``headers``.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one row")
    if isinstance(rows[0], Mapping):
        headers = list(headers) if headers is not None else list(rows[0])
        table = [[row.get(h, "") for h in headers] for row in rows]
    else:
        if headers is None:
            raise TypeError("headers are required when the rows are sequences")
        headers = list(headers)
        table = [list(row) for row in rows]
    for i, row in enumerate(table):
        if len(row) != len(headers):
            raise ValueError(f"row {i} has {len(row)} cells but there are {len(headers)} headers")
    if formats is None:
        fmts = [None] * len(headers)
    elif isinstance(formats, Mapping):
        unknown = set(formats) - set(headers)
        if unknown:
            raise ValueError(f"formats names columns that are not headers: {sorted(unknown)}")
        fmts = [formats.get(h) for h in headers]
    else:
        fmts = list(formats)
        if len(fmts) != len(headers):
            raise ValueError(f"formats has {len(fmts)} entries but there are {len(headers)} headers")
    if align is None:
        aligns = ["r" if all(isinstance(r[j], (int, float)) and not isinstance(r[j], bool) for r in table) else "l"
                  for j in range(len(headers))]
    else:
        aligns = [align] * len(headers) if isinstance(align, str) else list(align)
        if len(aligns) != len(headers) or any(a not in ("l", "c", "r") for a in aligns):
            raise ValueError(f"align must be 'l', 'c' or 'r' for each of the {len(headers)} columns, got {align!r}")
    rule = {"l": ":---", "c": ":---:", "r": "---:"}
    lines = ["| " + " | ".join(format_cell(h) for h in headers) + " |",
             "|" + "|".join(rule[a] for a in aligns) + "|"]
    lines += ["| " + " | ".join(format_cell(v, f) for v, f in zip(row, fmts)) + " |" for row in table]
    text = "\n".join(lines)
    if as_text:
        return text
    from IPython.display import Markdown

    return Markdown(text)
