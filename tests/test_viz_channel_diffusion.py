"""Chapter 9's figures draw what they are given: points at the matched timesteps, one curve per method."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from gsemlab.viz import channel_diffusion as vcd


def test_snr_timestep_figure_marks_the_matched_points():
    lam = np.linspace(40, -40, 1000)
    snrs = np.array([0.0, 10.0])
    t_exact = np.interp(-snrs, -lam, np.arange(1000.0))
    fig = vcd.snr_timestep_figure(lam, snrs, t_exact, np.floor(t_exact).astype(int), np.array([0.1, 0.2]),
                                  grid_steps=20)
    left, right = fig.axes
    pts = left.collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], t_exact)
    np.testing.assert_allclose(pts[:, 1], snrs)
    assert [p.get_height() for p in right.patches] == [0.1, 0.2]
    plt.close(fig)


def test_benchmark_figure_draws_one_curve_per_method_and_rate():
    rows = []
    for m in ("diffusion", "latent", "djscc"):
        for rate in (1 / 16, 1 / 64):
            for s in (0.0, 10.0):
                rows.append({"method": m, "rate": rate, "snr_db": s, "channel": "awgn", "variant": "matched",
                             "rule": "exact", "toysim": s + rate, "toysim_se": 0.01, "psnr_db": 20.0,
                             "psnr_db_se": 0.1, "ssim": 0.5, "ssim_se": 0.01})
    rows.append({**rows[0], "rule": "grid", "toysim": 99.0})  # an ablation row: not drawn
    fig = vcd.benchmark_figure(rows, rates=(1 / 16, 1 / 64), snrs_db=(0.0, 10.0))
    axes = np.array(fig.axes).reshape(3, 2)
    for j, rate in enumerate((1 / 16, 1 / 64)):
        lines = axes[0, j].get_lines()
        assert len(lines) == 3
        np.testing.assert_allclose(lines[0].get_ydata(), [rate, 10 + rate])
    plt.close(fig)
