"""gsemlab.viz.image_rows (chapter 1): lays out labelled rows and rejects malformed input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gsemlab import viz


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_image_rows_layout_labels_and_pixels():
    red = np.zeros((3, 4, 4, 3), np.uint8)
    red[..., 0] = 255
    axes = viz.image_rows({"first": red, "second": 255 - red}, col_titles=["a", "b", "c"])
    assert axes.shape == (2, 3)
    assert [axes[r, 0].get_ylabel() for r in range(2)] == ["first", "second"]
    assert [axes[0, c].get_title() for c in range(3)] == ["a", "b", "c"]
    # the second row shows 255 - red = cyan (0, 255, 255)
    np.testing.assert_array_equal(axes[1, 2].get_images()[0].get_array()[0, 0], [0, 255, 255])


def test_image_rows_errors():
    img = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="at least one labelled row"):
        viz.image_rows({})
    with pytest.raises(ValueError, match="same number of images"):
        viz.image_rows({"a": img, "b": img[:1]})
    with pytest.raises(ValueError, match=r"row 'a' must have shape \(n, H, W, 3\)"):
        viz.image_rows({"a": img[..., 0]})
    with pytest.raises(ValueError, match="col_titles must have one entry per column"):
        viz.image_rows({"a": img}, col_titles=["x"])


def test_image_rows_fits_the_page_and_stays_legible():
    # 6 panels of 1 in asked: 1.25 in of labels + 6 x 1 in = 7.25 in > 7, so the panels shrink
    # to (7 - 1.25) / 6 = 0.958 in and the figure is exactly 7 in wide
    img = np.zeros((6, 4, 4, 3), np.uint8)
    axes = viz.image_rows({"a": img}, col_titles=list("uvwxyz"), size=1.0)
    fig = axes[0, 0].figure
    assert fig.get_figwidth() == pytest.approx(7.0)
    assert min(ax.title.get_fontsize() for ax in axes[0]) >= viz.MIN_FONT_PT
    assert axes[0, 0].yaxis.label.get_fontsize() >= viz.MIN_FONT_PT
    # 3 panels of 1 in fit: 1.25 + 3 = 4.25 in
    assert viz.image_rows({"a": img[:3]})[0, 0].figure.get_figwidth() == pytest.approx(4.25)


def test_image_rows_refuses_more_than_six_a_row():
    with pytest.raises(ValueError, match="at most 6 images a row"):
        viz.image_rows({"a": np.zeros((7, 4, 4, 3), np.uint8)})
    with pytest.raises(ValueError, match="size"):
        viz.image_rows({"a": np.zeros((2, 4, 4, 3), np.uint8)}, size=0)
