"""gsemlab.viz.diffusion (chapter 1): values drawn are the values given, checked by hand."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gsemlab.viz import diffusion as vd


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_schedule_panels_draws_alpha_bar_and_snr():
    # alpha_bar = 0.5, 0.2, 0.1: SNR = 0.5/0.5, 0.2/0.8, 0.1/0.9 = 1, 1/4, 1/9
    left, right = vd.schedule_panels([0, 1, 2], {"toy": [0.5, 0.2, 0.1]})
    np.testing.assert_allclose(left.get_lines()[0].get_ydata(), [0.5, 0.2, 0.1])
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), [1.0, 0.25, 1 / 9])
    assert right.get_yscale() == "log" and left.get_yscale() == "linear"
    assert left.figure.get_figwidth() <= 7.0


def test_schedule_panels_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        vd.schedule_panels([0], {})
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        vd.schedule_panels([0, 1], {"bad": [1.0, 0.5]})


def test_moving_average_by_hand():
    # windows of 2 over 1, 3, 5, 9: (1+3)/2, (3+5)/2, (5+9)/2
    np.testing.assert_allclose(vd.moving_average([1, 3, 5, 9], 2), [2.0, 4.0, 7.0])
    np.testing.assert_allclose(vd.moving_average([1, 3, 5, 9], 4), [4.5])
    with pytest.raises(ValueError, match="window"):
        vd.moving_average([1, 2], 3)
    with pytest.raises(ValueError, match="one-dimensional"):
        vd.moving_average([[1, 2]], 1)


def test_loss_curve_plots_the_smoothed_history_at_the_window_ends():
    ax = vd.loss_curve([4.0, 2.0, 1.0, 1.0], window=2)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [2, 3, 4])
    np.testing.assert_allclose(line.get_ydata(), [3.0, 1.5, 1.0])
    assert ax.get_yscale() == "log"


def test_code_listing_dedents_and_moves_long_comments():
    source = (
        "def f(x):\n"
        "    y = x + 1\n"
        "    z = y * 2  # a comment long enough to push this line past the width\n"
        "    return z\n"
    )
    listing = vd.code_listing(source, start="y = x", width=40)
    assert listing.data.splitlines() == [
        "y = x + 1",
        "# a comment long enough to push this line past the width",
        "z = y * 2",
        "return z",
    ]
    with pytest.raises(ValueError, match="does not occur"):
        vd.code_listing(source, start="nowhere")
    with pytest.raises(ValueError, match="width"):
        vd.code_listing(source, width=10)
