"""gsemlab.viz.attention (chapter 2): figures that fit the column, stay legible, draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gsemlab.viz import attention as av
from gsemlab.viz.style import MAX_WIDTH_IN, MIN_FONT_PT, book_style


@pytest.fixture(autouse=True)
def _style_and_close():
    book_style()
    yield
    plt.close("all")


def _smallest_font(fig) -> float:
    """The smallest font size (points) of every visible text of a drawn figure."""
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text()]
    return min(sizes)


def _maps(n, side=8):
    rng = np.random.default_rng(0)
    return [rng.random((side, side)) for _ in range(n)]


def test_image_grid_wraps_at_six_and_fits_the_column():
    # 12 panels, asked for no ncols: two rows of six, 7 in wide (the old 12-panel strip)
    axes = av.image_grid(_maps(12), [f"word {k}" for k in range(12)])
    fig = axes[0].figure
    assert len(axes) == 12
    width, _ = fig.get_size_inches()
    assert width == pytest.approx(MAX_WIDTH_IN)  # 6 panels x (7 / 6) in
    assert len({round(ax.get_position().y0, 3) for ax in axes}) == 2  # two rows
    assert _smallest_font(fig) >= MIN_FONT_PT
    # 13 panels in rows of 4: 4 rows, the 3 trailing axes hidden
    axes = av.image_grid(_maps(13), ncols=4)
    assert len(axes) == 16 and sum(ax.get_visible() for ax in axes) == 13
    # a small grid keeps its panels at max_side: 2 x 1.5 in
    axes = av.image_grid(_maps(2), max_side=1.5)
    assert axes[0].figure.get_size_inches()[0] == pytest.approx(3.0)


def test_image_grid_draws_the_given_pixels():
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 200
    axes = av.image_grid([mask, rgb], ["mask", "green"])
    np.testing.assert_array_equal(axes[0].get_images()[0].get_array(), mask)
    np.testing.assert_array_equal(axes[1].get_images()[0].get_array()[2, 3], [0, 200, 0])
    assert [ax.get_title() for ax in axes] == ["mask", "green"]


def test_image_grid_errors():
    with pytest.raises(ValueError, match="at least one image"):
        av.image_grid([])
    with pytest.raises(ValueError, match="between 1 and 6"):
        av.image_grid(_maps(8), ncols=8)
    with pytest.raises(TypeError, match="ncols must be an int"):
        av.image_grid(_maps(2), ncols=2.0)
    with pytest.raises(ValueError, match="one entry per image"):
        av.image_grid(_maps(2), ["only one"])
    with pytest.raises(ValueError, match="width must be in"):
        av.image_grid(_maps(2), width=9.0)


def test_panel_rows_labels_rows_and_fits():
    a, b = _maps(2)
    rows = {"toy": [("map", a), ("mask", a > 0.5)], "random": [("map", b), ("mask", b > 0.5)]}
    axes = av.panel_rows(rows)
    assert axes.shape == (2, 2)
    assert [axes[r, 0].get_ylabel() for r in range(2)] == ["toy", "random"]
    assert axes[1, 1].get_title() == "mask"
    np.testing.assert_array_equal(axes[1, 1].get_images()[0].get_array(), b > 0.5)
    fig = axes[0, 0].figure
    assert fig.get_size_inches()[0] <= MAX_WIDTH_IN + 1e-9
    assert _smallest_font(fig) >= MIN_FONT_PT
    with pytest.raises(ValueError, match="same number of panels"):
        av.panel_rows({"a": [("x", a)], "b": [("x", a), ("y", b)]})
    with pytest.raises(ValueError, match="between 1 and 6"):
        av.panel_rows({"a": [(str(k), a) for k in range(7)]})
    with pytest.raises(ValueError, match="at least one labelled row"):
        av.panel_rows({})


def test_located_figure_legend_and_masks():
    img = np.full((8, 8, 3), 255, np.uint8)
    m1 = np.zeros((8, 8), bool)
    m1[:4] = True
    axes = av.located_figure(img, img, [m1, ~m1], [m1, np.zeros_like(m1)], ["circle", "square"])
    fig = axes[0].figure
    assert len(axes) == 4
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["circle", "square"]
    # the first mask is painted at alpha 0.6 in the course's first colour #1f77b4 over white
    painted = axes[3].get_images()[0].get_array()[0, 0]
    expected = 0.4 * 1.0 + 0.6 * np.array([0x1F, 0x77, 0xB4]) / 255
    np.testing.assert_allclose(painted, expected)
    assert fig.get_size_inches()[0] <= MAX_WIDTH_IN + 1e-9
    assert _smallest_font(fig) >= MIN_FONT_PT
    with pytest.raises(ValueError, match="one entry per object"):
        av.located_figure(img, img, [m1], [m1, m1], ["circle"])


def test_step_curve_and_threshold_curves_plot_the_values():
    ax = av.step_curve([0.1, 0.5, 0.3], ylabel="IoU", mark=1)
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, [0, 1, 2])
    np.testing.assert_array_equal(y, [0.1, 0.5, 0.3])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [0.5])  # the marked step
    with pytest.raises(ValueError, match="mark must be a step"):
        av.step_curve([0.1, 0.2], ylabel="IoU", mark=2)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        av.step_curve([], ylabel="IoU")

    ax = av.threshold_curves([0.1, 0.5], {"attention": [0.2, 0.6], "prior": [0.1, 0.1]},
                             marks=(0.5,), ylabel="IoU")
    assert [line.get_label() for line in ax.lines[:2]] == ["attention", "prior"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [0.2, 0.6])
    assert ax.lines[0].get_linestyle() != ax.lines[1].get_linestyle()
    np.testing.assert_array_equal(ax.lines[2].get_xdata(), [0.5, 0.5])  # the marked xi
    assert _smallest_font(ax.figure) >= MIN_FONT_PT
    with pytest.raises(ValueError, match="has 1 values, expected 2"):
        av.threshold_curves([0.1, 0.5], {"a": [0.2]}, ylabel="IoU")
    with pytest.raises(ValueError, match="at least one curve"):
        av.threshold_curves([0.1], {}, ylabel="IoU")
