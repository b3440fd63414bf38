"""gsemlab.viz draws what it is given and rejects malformed input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import FancyBboxPatch

from gsemlab import viz


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_curves_draws_the_data_and_bands():
    x = np.array([1.0, 2.0, 4.0])
    ax = viz.plot_curves(
        x,
        {"a": [1, 2, 3], "b": [3, 2, 1]},
        xlabel="d (m)",
        ylabel="c (bit/s)",
        bands={"a": ([0, 1, 2], [2, 3, 4])},
        logx=True,
    )
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["a", "b"]
    np.testing.assert_array_equal(lines[1].get_ydata(), [3, 2, 1])
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "d (m)"
    assert len(ax.collections) == 1  # one shaded band
    # the band takes the colour of the curve with the same label
    assert np.allclose(
        ax.collections[0].get_facecolor()[0][:3], matplotlib.colors.to_rgb(lines[0].get_color())
    )


def test_plot_curves_rejects_bad_shapes():
    with pytest.raises(ValueError, match="curve 'a'"):
        viz.plot_curves([1, 2, 3], {"a": [1, 2]}, xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="at least one"):
        viz.plot_curves([1, 2, 3], {}, xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="band 'a'"):
        viz.plot_curves([1, 2], {"a": [1, 2]}, xlabel="x", ylabel="y", bands={"a": ([1], [2])})


def test_plot_distribution_histogram_is_a_density_and_cdf_ends_at_one():
    sample = np.array([0.0, 1.0, 1.0, 2.0, 3.0])
    hist_ax, cdf_ax = viz.plot_distribution({"s": sample}, xlabel="bits", bins=3, markers={"mean": 1.4})
    # the filled histogram: bins [0,1), [1,2), [2,3] of width 1 hold 1, 2 and 2 of the 5 values,
    # densities 0.2, 0.4, 0.4; its polygon's top edge has exactly those heights
    filled = hist_ax.patches[0].get_xy()
    tops = sorted({(round(x, 9), round(y, 9)) for x, y in filled if y > 0})
    heights = sorted({y for _, y in tops})
    np.testing.assert_allclose(heights, [0.2, 0.4])
    xs_at_02 = [x for x, y in tops if y == pytest.approx(0.2)]
    assert min(xs_at_02) == pytest.approx(0.0) and max(xs_at_02) == pytest.approx(1.0)
    step = cdf_ax.get_lines()[0]
    np.testing.assert_allclose(step.get_ydata(), [0.2, 0.4, 0.6, 0.8, 1.0])
    labels = [t.get_text() for t in cdf_ax.get_legend().get_texts()]
    assert labels == ["s", "mean"]


def _legend_looks(ax):
    """(colour, line style) of every line entry of the axes' legend."""
    handles, _ = ax.get_legend_handles_labels()
    return [(matplotlib.colors.to_hex(h.get_color()), h.get_linestyle()) for h in handles]


def test_series_style_never_repeats_a_look_in_32_entries():
    looks = {(viz.figures.series_style(k)["color"], viz.figures.series_style(k)["linestyle"])
             for k in range(32)}
    assert len(looks) == 32
    # entry 8 comes back to the first colour, with the second line style
    assert viz.figures.series_style(8) == {"color": "#1f77b4", "linestyle": "--", "marker": "<"}
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="k must be"):
            viz.figures.series_style(bad)


def test_a_twelve_entry_legend_repeats_no_colour_and_style():
    x = np.arange(5.0)
    ax = viz.plot_curves(x, {f"c{k}": x + k for k in range(12)}, xlabel="x", ylabel="y")
    looks = _legend_looks(ax)
    assert len(looks) == 12 and len(set(looks)) == 12
    _, cdf_ax = viz.plot_distribution({f"s{k}": [k, k + 1.0] for k in range(9)}, xlabel="x",
                                      markers={f"m{k}": k for k in range(3)})
    looks = _legend_looks(cdf_ax)
    assert len(looks) == 12 and len(set(looks)) == 12


def test_legends_use_the_book_font():
    viz.book_style()
    ax = viz.plot_curves([1, 2], {"a": [1, 2]}, xlabel="x", ylabel="y")
    assert min(t.get_fontsize() for t in ax.get_legend().get_texts()) >= viz.MIN_FONT_PT
    _, cdf_ax = viz.plot_distribution({"s": [1.0, 2.0]}, xlabel="x")
    assert min(t.get_fontsize() for t in cdf_ax.get_legend().get_texts()) >= viz.MIN_FONT_PT
    assert cdf_ax.figure.get_size_inches()[0] <= 7


def test_plot_distribution_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty and finite"):
        viz.plot_distribution({"s": [1.0, np.nan]}, xlabel="x")
    with pytest.raises(ValueError, match="bins"):
        viz.plot_distribution({"s": [1.0]}, xlabel="x", bins=0)


@pytest.mark.parametrize("n_users", [1, 3, 5])
def test_system_diagram_boxes(n_users):
    ax = viz.system_diagram(n_users=n_users)
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    # MASP frame + 6 pipeline boxes + downlink + one box per user
    assert len(boxes) == 1 + 6 + 1 + n_users
    text = " ".join(t.get_text() for t in ax.texts)
    for eq in ("Eq. 1)", "Eq. 2-4", "Eq. 5-8", "Eq. 9-12", "Eq. 13)", "Eq. 14)", "Eq. 15-18", "Eq. 19-23"):
        assert eq in text


@pytest.mark.parametrize("n_users", [1, 3, 5])
def test_system_diagram_is_legible_at_display_size(n_users):
    """7 inches wide at 100 dpi (shown unscaled in the 720 px column), every text >= 9 pt and
    inside its box: the old 11-inch diagram was shown at 65 %, its 7.5 pt text about 6 px."""
    ax = viz.system_diagram(n_users=n_users)
    fig = ax.figure
    assert fig.get_figwidth() <= viz.style.MAX_WIDTH_IN
    assert min(t.get_fontsize() for t in ax.texts) >= viz.MIN_FONT_PT
    renderer = fig.canvas.get_renderer()
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)][1:]  # not the MASP frame
    inside = 0
    for text in ax.texts:
        extent = text.get_window_extent(renderer)
        assert 0 <= extent.x0 and extent.x1 <= fig.bbox.width, text.get_text()
        for box in boxes:
            frame = box.get_window_extent(renderer)
            if frame.contains(*ax.transData.transform(text.get_position())):
                assert frame.x0 < extent.x0 and extent.x1 < frame.x1, text.get_text()
                assert frame.y0 < extent.y0 and extent.y1 < frame.y1, text.get_text()
                inside += 1
    assert inside == len(boxes)  # one text in every box


def test_system_diagram_rejects_bad_user_count():
    with pytest.raises(ValueError, match="n_users"):
        viz.system_diagram(n_users=0)
