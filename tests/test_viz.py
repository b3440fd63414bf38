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
    heights = np.array([p.get_height() for p in hist_ax.patches])
    widths = np.array([p.get_width() for p in hist_ax.patches])
    # bins [0,1), [1,2), [2,3] of width 1 hold 1, 2 and 2 of the 5 values: densities 0.2, 0.4, 0.4
    np.testing.assert_allclose(heights, [0.2, 0.4, 0.4])
    assert np.sum(heights * widths) == pytest.approx(1.0)
    step = cdf_ax.get_lines()[0]
    np.testing.assert_allclose(step.get_ydata(), [0.2, 0.4, 0.6, 0.8, 1.0])
    assert any(ln.get_label() == "mean" for ln in hist_ax.get_lines())


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
    for eq in ("Eq. 1", "Eq. 2-4", "Eq. 5-8", "Eq. 9-12", "Eq. 13-14", "Eq. 15-18", "Eq. 19-23"):
        assert eq in text


def test_system_diagram_rejects_bad_user_count():
    with pytest.raises(ValueError, match="n_users"):
        viz.system_diagram(n_users=0)
