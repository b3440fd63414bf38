"""The alignment chapter's figures draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from gsemlab.viz import align as va


def test_correlation_figure_draws_each_curve():
    lags = np.arange(8)
    corr = {"30 ns": np.linspace(1, 0.5, 8), "300 ns": np.linspace(1, 0.1, 8)}
    gains = {"30 ns": np.ones(16), "300 ns": np.arange(16.0)}
    fig = va.correlation_figure(lags, corr, gains)
    left, right = fig.axes
    np.testing.assert_allclose(left.get_lines()[1].get_ydata(), corr["300 ns"])
    np.testing.assert_allclose(right.get_lines()[1].get_ydata(), gains["300 ns"])
    plt.close(fig)


def test_tka_figure_averages_over_delay_spreads():
    rows = [{"method": m, "rate": r, "snr_db": s, "delay_spread_s": tau, "psnr_db": 20 + s + 1000 * tau}
            for m in ("no-ka", "cala") for r in (1 / 8, 1 / 32) for s in (0.0, 10.0) for tau in (0.0, 1e-3)]
    classical = [{"method": "jpeg-ldpc", "rate": r, "snr_db": s, "psnr_db": 11.0} for r in (1 / 8, 1 / 32)
                 for s in (0.0, 10.0)]
    fig = va.tka_figure(rows, classical, rates=(1 / 8, 1 / 32), snrs_db=(0.0, 10.0), methods=("no-ka", "cala"),
                        classical_methods=("jpeg-ldpc",))
    assert len(fig.axes) == 2
    lines = fig.axes[1].get_lines()
    assert len(lines) == 3
    np.testing.assert_allclose(lines[0].get_ydata(), [20.5, 30.5])  # the mean of 20 + s and 21 + s
    assert lines[2].get_linestyle() == "--"
    plt.close(fig)


def test_makd_figure_bars_are_the_means():
    means = {"none": {"toysim": 0.4, "toysim_se": 0.02, "found": 0.1},
             "makd": {"toysim": 0.2, "toysim_se": 0.01, "found": 0.7}}
    fig = va.makd_figure(means, ("none", "makd"))
    left, right = fig.axes
    assert [p.get_height() for p in left.patches] == [0.4, 0.2]
    np.testing.assert_allclose([p.get_height() for p in right.patches], [10.0, 70.0])
    plt.close(fig)
