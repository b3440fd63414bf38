"""Tests of gsemlab.viz: the figures of chapters 3, 4 and 7."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import spacy  # noqa: F401  (urllib3 probes IPv6 with a socket when imported: import before pytest-socket)

from gsemlab.viz import COLORS
from gsemlab.viz import dependency_svg, overlay_masks, plot_matrix, show_images

TOKENS = ["A", "blue", "car", "driving", "through", "the", "city", "."]
CLASSES = ["X", "ADJ", "NN", "VERB", "ADP", "X", "NN", "X"]
HEADS = [2, 2, 3, 3, 3, 6, 4, 3]  # the paper's Fig. 5: driving is the root


def test_dependency_svg_draws_one_arc_per_dependent_and_is_stable():
    svg = dependency_svg(TOKENS, CLASSES, HEADS, ["det", "amod", "nsubj", "ROOT", "prep", "det", "pobj", "punct"])
    # 8 tokens, one root: 7 arcs, each an arrow path with its own id
    assert len(set(re.findall(r'id="(arrow-[^"]+)"', svg))) == 7
    assert svg == dependency_svg(TOKENS, CLASSES, HEADS, ["det", "amod", "nsubj", "ROOT", "prep", "det", "pobj",
                                                          "punct"])  # fixed ids: same SVG every run
    assert dependency_svg(TOKENS, CLASSES, [2, 2, 2, 2, 3, 6, 4, 2]) != svg  # another parse, other ids
    for word in ("driving", "through", "NN", "nsubj"):
        assert word in svg
    with pytest.raises(ValueError, match="same length"):
        dependency_svg(TOKENS, CLASSES[:-1], HEADS)
    with pytest.raises(ValueError, match="heads"):
        dependency_svg(TOKENS, CLASSES, [9] * 8)


def test_plot_matrix_writes_every_value():
    m = np.array([[1, 0], [1, 1]], bool)
    ax = plot_matrix(m, ["car", "blue"], title="C*")
    assert [t.get_text() for t in ax.texts] == ["1", "0", "1", "1"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["car", "blue"]
    ax = plot_matrix(np.array([[0.25]]), ["x"], fmt="{:.1f}")
    assert ax.texts[0].get_text() == "0.2"  # 0.25 rounds half to even
    with pytest.raises(ValueError, match="labels"):
        plot_matrix(m, ["one"])
    plt.close("all")


def test_overlay_masks_paints_the_course_colours():
    img = np.zeros((4, 4, 3), np.uint8)
    m1 = np.zeros((4, 4), bool)
    m1[0, 0] = True
    ax = overlay_masks(img, [m1], labels=["s1"], alpha=1.0)
    shown = ax.images[0].get_array()
    # alpha 1 on a black image: pixel (0, 0) takes COLORS[0] = #1f77b4 = (31, 119, 180) / 255 exactly
    np.testing.assert_allclose(shown[0, 0], np.array([31, 119, 180]) / 255)
    np.testing.assert_array_equal(shown[1, 1], [0, 0, 0])
    assert COLORS[0] == "#1f77b4"
    with pytest.raises(ValueError, match="masks\\[0\\]"):
        overlay_masks(img, [np.zeros((3, 3), bool)])
    plt.close("all")


def test_show_images_layout():
    axes = show_images([np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), bool), np.eye(4)], ["a", "b", "c"], ncols=2)
    assert len(axes) == 4 and not axes[3].get_visible()  # 3 images on a 2 x 2 grid
    assert [a.get_title() for a in axes[:3]] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="titles"):
        show_images([np.eye(2)], ["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        show_images([np.zeros(3)])
    plt.close("all")


def _small_results(with_references=True):
    stat = {"mean": 5.0, "sem": 0.1}
    names = ["traditional", "local AIGC", "fully masked", "gsemcom xi=(0.9,0.8,0.5)"]
    res = {
        "n_captions": 2, "threads": 1,
        "headline": {n: {"pixels": p, "quality": 5.0} for n, p in zip(names, (4096, 0, 0, 1800))},
        "methods": {n: {"quality": stat} for n in names},
        "sweeps": {"n_captions": 1, "budget": {"100": {"quality": stat}, "300": {"quality": stat}},
                   "budget_random_pixels": {"100": {"quality": stat}, "300": {"quality": stat}},
                   "decode_steps": {"1": {"quality": stat}, "5": {"quality": stat}}},
        "timing_s": {f"{s}_cpu_s": {"mean": m} for s, m in
                     (("generation", 1.0), ("extraction", 0.05), ("packing", 0.001), ("decoding", 0.4))},
    }
    if with_references:
        # the means over the sweep's captions differ from the headline's (all captions)
        res["sweep_references"] = {n: {"quality": {"mean": q, "sem": 0.1}}
                                   for n, q in zip(names[:3], (7.25, 6.25, 7.5))}
    return res


def test_gsemcom_results_figure_from_a_small_results_dict():
    from gsemlab.viz import gsemcom_results_figure

    fig = gsemcom_results_figure(_small_results())
    bars = fig.axes[0].patches
    assert [b.get_width() for b in bars] == [4096, 0, 0, 1800]  # pixels sent, in method order
    assert [round(b.get_height(), 3) for b in fig.axes[3].patches] == [1.0, 0.05, 0.001, 0.4]  # CPU s per stage
    assert fig.get_size_inches()[0] <= 7.0
    plt.close("all")


def test_gsemcom_results_figure_draws_references_from_the_sweep_captions():
    from gsemlab.viz import gsemcom_results_figure

    fig = gsemcom_results_figure(_small_results())
    # horizontal reference lines of panel (b): the sweep captions' means, not the headline's 5.0
    levels = sorted(line.get_ydata()[0] for line in fig.axes[1].lines
                    if len(set(line.get_ydata())) == 1 and line.get_label() in
                    ("traditional", "local AIGC", "fully masked"))
    assert levels == [6.25, 7.25, 7.5]
    plt.close("all")
    fig = gsemcom_results_figure(_small_results(with_references=False))
    labels = [line.get_label() for line in fig.axes[1].lines]
    assert "traditional" not in labels  # no references from other captions
    plt.close("all")
    with pytest.raises(TypeError, match="results dict"):
        gsemcom_results_figure([1, 2])
