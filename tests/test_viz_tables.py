"""gsemlab.viz.tables and gsemlab.viz.style: tables written out by hand, the book's figure settings."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
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


def test_twelve_masks_get_twelve_colours_in_the_legend():
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    masks = [np.eye(12, dtype=bool)[k][None].repeat(12, 0) for k in range(12)]  # column k
    ax = viz.overlay_masks(None, masks, labels=[f"w{k}" for k in range(12)])
    colours = [to_hex(h.get_facecolor()) for h in ax.get_legend().legend_handles]
    assert len(set(colours)) == 12
    # the painted column k has the k-th legend colour (alpha 0.6 over white), worked out by hand
    rgb = np.array(matplotlib.colors.to_rgb(colours[11]))
    painted = ax.get_images()[0].get_array()[0, 11]
    assert np.allclose(painted, 0.4 * 1.0 + 0.6 * rgb)
    assert len(set(viz.MASK_COLORS)) == 20 and viz.mask_colour(20) == viz.mask_colour(0)
    with pytest.raises(ValueError):
        viz.mask_colour(-1)
    plt.close("all")
