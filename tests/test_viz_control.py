"""The control-map chapter's figures draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from gsemlab.toyworld.world import COLOURS
from gsemlab.viz import control as vc


def test_map_to_rgb_paints_labels_in_their_colours():
    seg = np.array([[0, 1], [2, 6]], np.uint8)
    rgb = vc.map_to_rgb(seg, "segmentation")
    assert tuple(rgb[0, 0]) == (0, 0, 0) and tuple(rgb[0, 1]) == COLOURS["red"]
    assert tuple(rgb[1, 1]) == COLOURS["orange"]
    grey = vc.map_to_rgb(np.array([[7, 200]], np.uint8), "canny")
    assert grey.shape == (1, 2, 3) and (grey[0, 1] == 200).all()


def test_factor_figure_one_curve_per_method_and_the_baseline():
    rows = [{"method": m, "factor": f, "ssim": 1.0 / f + k, "ssim_se": 0.01} for k, m in enumerate(("canny", "depth"))
            for f in (1, 2, 4, 8)]
    fig = vc.factor_figure(rows, methods=("canny", "depth"), factors=(1, 2, 4, 8), metrics=("ssim",),
                           baselines={"prompt only": {"ssim": 0.3}})
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[1].get_ydata(), [2.0, 1.5, 1.25, 1.125])
    assert lines[2].get_ydata()[0] == 0.3
    plt.close(fig)


def test_dqn_figure_draws_each_seed():
    fig = vc.dqn_figure({"0": [(10, 0.5), (100, 0.9)], "1": [(10, 0.6), (100, 0.97)]}, paper_episodes=50)
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[1].get_ydata(), [0.6, 0.97])
    plt.close(fig)
