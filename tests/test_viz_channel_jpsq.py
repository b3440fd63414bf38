"""gsemlab.viz.channel and gsemlab.viz.jpsq (chapters 5 and 6) draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from gsemlab.viz import channel as vch
from gsemlab.viz import jpsq as vjq


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _line(ax, label):
    return next(ln for ln in ax.get_lines() if ln.get_label() == label)


def test_capacity_vs_distance_draws_mbit_and_the_quantile_band():
    d = np.array([100.0, 200.0])
    # 11 draws per distance: 0..10 Mbit/s at 100 m, 0..20 at 200 m; quantiles 10 % and 90 %
    # of 0, 1, ..., 10 are 1 and 9 (numpy's linear rule: position 0.1 * 10 = 1 exactly)
    draws = np.arange(11.0)[:, None] * np.array([1e6, 2e6])
    ax = vch.capacity_vs_distance(d, [3e6, 4e6], [2e6, 3e6], draws)
    np.testing.assert_allclose(_line(ax, r"no fading ($\gamma = 1$)").get_ydata(), [3, 4])
    np.testing.assert_allclose(_line(ax, "Monte Carlo mean (11 draws)").get_ydata(), [5, 10])
    band = ax.collections[0].get_paths()[0].vertices
    assert {round(y, 9) for y in band[:, 1]} >= {1.0, 9.0, 2.0, 18.0}
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="draws_bps"):
        vch.capacity_vs_distance(d, [1, 2], [1, 2], np.ones((3, 3)))
    with pytest.raises(ValueError, match="quantiles"):
        vch.capacity_vs_distance(d, [1, 2], [1, 2], draws, quantiles=(0.9, 0.1))


def test_capacity_vs_bandwidth_spectral_efficiency_is_capacity_over_bandwidth():
    w = np.array([1e4, 1e5, 1e6])
    ax_c, ax_se = vch.capacity_vs_bandwidth(w, {"flat": 3.0 * w, "linear": 1e5 + 0 * w}, knee_hz=1e5)
    np.testing.assert_allclose(_line(ax_se, "flat").get_ydata(), [3, 3, 3])
    np.testing.assert_allclose(_line(ax_se, "linear").get_ydata(), [10, 1, 0.1])
    np.testing.assert_allclose(_line(ax_c, "flat").get_xdata(), [10, 100, 1000])  # kHz
    np.testing.assert_allclose(_line(ax_c, "flat").get_ydata(), [0.03, 0.3, 3])  # Mbit/s
    knees = [ln for ln in ax_c.get_lines() if ln.get_linestyle() == "--" and ln.get_label().startswith("_")]
    assert knees and knees[0].get_xdata()[0] == pytest.approx(100.0)
    assert ax_c.figure.get_size_inches()[0] <= 7
    with pytest.raises(ValueError, match="bandwidths_hz"):
        vch.capacity_vs_bandwidth([0.0, 1.0], {"a": [1, 2]})


def test_pixel_budget_vs_latency_clips_zeros_and_marks_the_image():
    lat = np.array([1e-3, 1e-2, 1e-1])
    ax = vch.pixel_budget_vs_latency(lat, {"user": [0, 50, 5000]}, image_pixels=4096, latency_mark_s=0.05)
    np.testing.assert_allclose(_line(ax, "user").get_ydata(), [1, 50, 5000])  # 0 drawn at the floor
    image = _line(ax, "a whole image, 4096 pixels")
    assert image.get_ydata()[0] == 4096
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="image_pixels"):
        vch.pixel_budget_vs_latency(lat, {"user": [1, 2, 3]}, image_pixels=0)
    with pytest.raises(ValueError, match="budget 'user'"):
        vch.pixel_budget_vs_latency(lat, {"user": [1, -2, 3]}, image_pixels=10)


def test_distance_ladder_titles_carry_the_distances_and_fit_the_page():
    img = np.zeros((8, 8, 3), np.uint8)
    images = {f"edit {k}": img for k in range(7)}
    axes = vjq.distance_ladder(img, images, {f"edit {k}": 0.125 * k for k in range(7)})
    titles = [ax.get_title() for ax in axes]
    assert titles[0] == "$g_0$ (source)"
    assert titles[3] == "edit 2\n$d_{\\mathrm{DS}}$ = 0.250"
    assert axes[0].figure.get_size_inches()[0] <= 7.0 + 1e-9
    assert min(ax.title.get_fontsize() for ax in axes) >= 9
    with pytest.raises(ValueError, match="same names"):
        vjq.distance_ladder(img, images, {"edit 0": 0.1})
    with pytest.raises(ValueError, match="ncols"):
        vjq.distance_ladder(img, images, {f"edit {k}": 0.1 for k in range(7)}, ncols=8)


def test_score_distributions_draws_the_probabilities():
    p = np.zeros(10)
    p[[2, 7]] = 0.5  # scores 3 and 8 with probability 1/2: mean 5.5
    axes = vjq.score_distributions({"two peaks": p}, {"two peaks": "Q = 5.5"})
    heights = [bar.get_height() for bar in axes[0].patches]
    np.testing.assert_allclose(heights, p)
    assert axes[0].get_title() == "Q = 5.5"
    with pytest.raises(ValueError, match="summing to 1"):
        vjq.score_distributions({"bad": np.ones(10)})
    with pytest.raises(ValueError, match="1 to 6"):
        vjq.score_distributions({str(k): p for k in range(7)})


def test_quality_vs_degradation_draws_one_curve_per_kind_and_the_thresholds():
    ax = vjq.quality_vs_degradation([0, 1, 2], {"noise": [9, 5, 1], "blur": [9, 8, 7]}, q_th=4.9827,
                                    q_zero=3.98616)
    np.testing.assert_allclose(_line(ax, "noise").get_ydata(), [9, 5, 1])
    assert _line(ax, r"$Q_{\mathrm{th}}$ (Table III)").get_ydata()[0] == pytest.approx(4.9827)
    assert _line(ax, r"$Q_{\mathrm{th}}/\omega_0$ ($J = 0$)").get_ydata()[0] == pytest.approx(3.98616)
    looks = {(_line(ax, k).get_color(), _line(ax, k).get_linestyle()) for k in ("noise", "blur")}
    assert len(looks) == 2


def test_budget_curves_one_panel_per_measurement_with_references():
    x = np.array([50.0, 100.0, 400.0])
    means = {"d": [0.5, 0.4, 0.1], "Q": [7.0, 6.5, 7.2]}
    errors = {"d": [0.05, 0.04, 0.01], "Q": [0.3, 0.3, 0.2]}
    axes = vjq.budget_curves(x, means, errors, ylabels={"d": "distance", "Q": "quality"},
                             references={"source": {"Q": 7.4}, "masked": {"d": 0.6, "Q": 7.1}})
    assert len(axes) == 2 and axes[0].get_ylabel() == "distance"
    np.testing.assert_allclose(axes[1].get_lines()[0].get_ydata(), [7.0, 6.5, 7.2])
    refs = {ln.get_label(): ln.get_ydata()[0] for ln in axes[1].get_lines() if ln.get_label() in ("source", "masked")}
    assert refs == {"source": 7.4, "masked": 7.1}
    assert [ln.get_label() for ln in axes[0].get_lines() if ln.get_label() == "source"] == []  # no d for it
    with pytest.raises(ValueError, match="same 1 to 6"):
        vjq.budget_curves(x, means, {"d": errors["d"]}, ylabels={"d": "", "Q": ""})
    with pytest.raises(ValueError, match="pixel counts"):
        vjq.budget_curves([0.0, 1.0, 2.0], means, errors, ylabels={"d": "", "Q": ""})


def test_jpsq_landscape_draws_curves_map_and_points():
    q = np.linspace(1, 10, 5)
    dd, qq = np.meshgrid(np.linspace(0, 1, 4), q)
    jj = (1 - dd) * np.log(1.25 * qq / 4.9827)  # Eq. 18 with t_max = 1
    ax_l, ax_r = vjq.jpsq_landscape(q, {"a": np.log(q)}, dd, qq, jj, points=([0.1, 0.2], [8.0, 9.0]))
    np.testing.assert_allclose(_line(ax_l, "a").get_ydata(), np.log(q))
    offsets = ax_r.collections[-1].get_offsets()
    np.testing.assert_allclose(offsets, [[0.1, 8.0], [0.2, 9.0]])
    with pytest.raises(ValueError, match="one shape"):
        vjq.jpsq_landscape(q, {"a": q}, dd, qq, jj[:2])
