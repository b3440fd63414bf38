"""gsemlab.viz.tables and gsemlab.viz.style: tables written out by hand, the book's figure settings."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from gsemlab import viz
from gsemlab.viz.style import MAX_WIDTH_IN


def test_markdown_table_matches_the_table_written_by_hand():
    text = viz.markdown_table([[1, 0.5, "a|b"], [20, 1 / 3, "c"]], ["n", "x", "s"],
                              formats={"x": ".2f"}, as_text=True)
    assert text == ("| n | x | s |\n"
                    "|---:|---:|:---|\n"
                    "| 1 | 0.50 | a\\|b |\n"
                    "| 20 | 0.33 | c |")


def test_markdown_table_reads_mappings_and_percent_formats():
    text = viz.markdown_table([{"share": 0.25, "name": "x"}], formats=["{:.0%}", None], align="c",
                              as_text=True)
    assert text == "| share | name |\n|:---:|:---:|\n| 25% | x |"


def test_markdown_table_returns_a_displayable_object():
    from IPython.display import Markdown

    assert isinstance(viz.markdown_table([[1]], ["a"]), Markdown)


@pytest.mark.parametrize("kwargs, error", [
    ({"rows": []}, ValueError),
    ({"rows": [[1, 2]], "headers": ["a"]}, ValueError),
    ({"rows": [[1]]}, TypeError),
    ({"rows": [[1]], "headers": ["a"], "align": "x"}, ValueError),
    ({"rows": [[1]], "headers": ["a"], "formats": {"b": ".1f"}}, ValueError),
])
def test_markdown_table_rejects_malformed_input(kwargs, error):
    with pytest.raises(error):
        viz.markdown_table(**kwargs)


def test_book_style_keeps_every_font_above_the_minimum():
    rc = viz.book_style()
    assert matplotlib.rcParams["figure.dpi"] == 100
    sizes = {k: v for k, v in rc.items() if k.endswith("size") and k != "figure.figsize"}
    assert sizes and min(sizes.values()) >= viz.MIN_FONT_PT
    assert rc["figure.figsize"][0] <= MAX_WIDTH_IN
