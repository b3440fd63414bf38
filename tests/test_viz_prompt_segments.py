"""gsemlab.viz.prompt and gsemlab.viz.segments: what the figures of chapters 3 and 4 draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from gsemlab.viz import prompt as vprompt
from gsemlab.viz import segments as vseg
from gsemlab.viz.style import MAX_WIDTH_IN, MIN_FONT_PT, book_style

WORDS = ("red", "circle", "above", "square")


@pytest.fixture(autouse=True)
def _style():
    book_style()
    yield
    plt.close("all")


def texts(fig):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]


def check_legible(fig):
    width, _ = fig.get_size_inches()
    assert width <= MAX_WIDTH_IN + 1e-9
    small = [(t.get_text(), t.get_fontsize()) for t in texts(fig) if t.get_fontsize() < MIN_FONT_PT]
    assert not small, small
    for ax in fig.axes:
        if ax.get_visible():
            for lab in ax.get_xticklabels() + ax.get_yticklabels():
                assert lab.get_fontsize() >= MIN_FONT_PT


def test_matrix_writes_the_values():
    C = np.array([[1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]], bool)
    D = np.array([[1, 0.8, 0, 0], [0.8, 1, 0.3, 0], [0, 0.3, 1, 0.2], [0, 0, 0.2, 1]])
    _, (a, b) = plt.subplots(1, 2)
    vprompt.matrix(C, WORDS, ax=a)
    vprompt.matrix(D, WORDS, ax=b, fmt="{:.1f}")
    cells_c = [t.get_text() for t in a.texts]
    cells_d = [t.get_text() for t in b.texts]
    # row by row, as written by hand
    assert cells_c == ["1", "0", "0", "0", "1", "1", "1", "0", "0", "0", "1", "1", "0", "0", "0", "1"]
    assert cells_d[:4] == ["1.0", "0.8", "0.0", "0.0"] and cells_d[6] == "0.3"
    assert [t.get_text() for t in a.get_yticklabels()] == list(WORDS)
    with pytest.raises(ValueError, match="labels"):
        vprompt.matrix(C, WORDS[:3], ax=a)
    with pytest.raises(ValueError, match="square"):
        vprompt.matrix(np.ones((2, 3)), ("a", "b"), ax=a)


def test_matrices_and_importance_figure_are_legible():
    C = np.eye(4, dtype=bool)
    D = np.eye(4)
    check_legible(vprompt.matrices([(C, WORDS, "C"), (C, WORDS, "C*")]))
    s = np.array([0.161, 0.483, 0.196, 0.161])
    fig = vprompt.importance_figure(C, D, s, WORDS)
    check_legible(fig)
    bars = [p for ax in fig.axes for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    assert sorted(round(p.get_width(), 3) for p in bars if p.get_width() > 0) == sorted(s)
    with pytest.raises(ValueError, match="s must have shape"):
        vprompt.importance_figure(C, D, s[:3], WORDS)
    with pytest.raises(ValueError):
        vprompt.matrices([])


def test_word_maps_at_most_six_a_row():
    src = np.zeros((8, 8, 3), np.uint8)
    maps = [np.random.default_rng(k).random((8, 8)) for k in range(10)]
    fig = vprompt.word_maps(src, maps, [f"w{k}" for k in range(10)])
    check_legible(fig)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 11  # the source and ten maps
    assert len(fig.axes) == 12  # two rows of six
    assert [ax.get_title() for ax in visible][:2] == ["source image", "w0"]
    with pytest.raises(ValueError, match="ncols"):
        vprompt.word_maps(src, maps, [f"w{k}" for k in range(10)], ncols=7)
    with pytest.raises(ValueError, match="titles"):
        vprompt.word_maps(src, maps, ["a"])


def test_importance_curves_styles_differ():
    xis = np.linspace(0.1, 0.9, 5)
    words = [f"w{k}" for k in range(10)]
    S = np.tile(np.arange(10) / 45, (5, 1))
    ax = vprompt.importance_curves(xis, S, words)
    check_legible(ax.figure)
    styles = {(line.get_color(), line.get_linestyle()) for line in ax.get_lines()}
    assert len(styles) == 10
    np.testing.assert_allclose(ax.get_lines()[3].get_ydata(), S[:, 3])
    with pytest.raises(ValueError):
        vprompt.importance_curves(xis, S[:, :3], words)


def test_cluster_panel_colours_and_counts():
    b = np.zeros((6, 6), bool)
    b[0:2, 0:2] = True  # cluster 0
    b[4, 4] = True  # dropped
    labels = np.full((6, 6), -1)
    labels[0:2, 0:2] = 0
    _, ax = plt.subplots()
    n, dropped = vseg.cluster_panel(b, labels, ax=ax)
    assert (n, dropped) == (1, 1)  # by hand: one kept cluster, one dropped pixel
    img = ax.get_images()[0].get_array()
    np.testing.assert_allclose(img[4, 4], to_rgb(vseg.DROPPED))
    np.testing.assert_allclose(img[3, 3], (1, 1, 1))  # background white
    assert not np.allclose(img[0, 0], to_rgb(vseg.DROPPED))
    with pytest.raises(ValueError):
        vseg.cluster_panel(b, labels[:5], ax=ax)


def test_dbscan_segments_and_grid_figures():
    src = np.full((8, 8, 3), 200, np.uint8)
    b = np.zeros((8, 8), bool)
    b[1:4, 1:4] = True
    labels = np.where(b, 0, -1)
    fig = vseg.dbscan_figure(src, b, labels, "circle")
    check_legible(fig)
    assert "1 cluster(s) kept, 0 px dropped" in [ax.get_xlabel() for ax in fig.axes]
    s1, s2 = b.copy(), np.zeros_like(b)
    s2[6, 6] = True
    fig = vseg.segments_figure(src, [s1, s2, np.zeros_like(b)], ["S1: circle", "S2: red", "S3: of"])
    check_legible(fig)
    legend = fig.axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["S1: circle (9 px)", "S2: red (1 px)"]
    fig = vseg.image_grid([src] * 7, [f"p{k}" for k in range(7)])
    check_legible(fig)
    assert sum(ax.get_visible() for ax in fig.axes) == 7 and len(fig.axes) == 12
    with pytest.raises(ValueError):
        vseg.image_grid([src], ["a", "b"])


def test_sweep_figure():
    kept_m = {"circle": [40, 30, 20], "of": [3000, 2900, 2800]}
    kept_e = {"circle": [35, 40], "of": [2900, 3000]}
    fig = vseg.sweep_figure([1, 2, 3], kept_m, [1.0, 1.5], kept_e, eps=1.5, omega=4)
    check_legible(fig)
    np.testing.assert_array_equal(fig.axes[0].get_lines()[1].get_ydata(), [3000, 2900, 2800])
    with pytest.raises(ValueError):
        vseg.sweep_figure([1], {"a": [1]}, [1.0], {"b": [1]}, eps=1.5, omega=4)
