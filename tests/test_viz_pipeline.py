"""gsemlab.viz.pipeline: chapter 7's figures and tables, checked against values written by hand."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gsemlab.viz import pipeline as vp
from gsemlab.viz.style import MAX_WIDTH_IN


def _tr(pixels, nbytes, d=0.1, q=7.0, j=0.5):
    return SimpleNamespace(pixels_sent=pixels, bytes_sent=nbytes, distance=d, quality=q, jpsq=j)


def test_transmissions_table_shares_by_hand():
    text = vp.transmissions_table({"a": _tr(1024, 300), "b": _tr(4096, 3000, 0.0, 8.0, 0.6)}).data
    lines = text.splitlines()
    assert len(lines) == 4  # header, rule, two rows
    assert "| a | 1024 | 25% | 300 | 0.100 | 7.00 | 0.500 |" in lines[2].replace("  ", " ")
    assert "100%" in lines[3]
    with pytest.raises(TypeError, match="mapping"):
        vp.transmissions_table([_tr(1, 1)])


def test_headline_table_rows_in_order_with_the_drop_and_its_error():
    row = {"pixels": 2048.0, "bandwidth_saving": 0.5, "bytes": 400.0, "quality": 7.5,
           "quality_drop_vs_traditional": -0.25, "quality_drop_sem": 0.05, "distance": 0.08,
           "jpsq": 0.56}
    res = {"headline": {"gsemcom xi=(0.9,0.8,0.5)": row, "traditional": dict(row, pixels=4096.0)}}
    lines = vp.headline_table(res).data.splitlines()
    assert lines[2].startswith("| traditional")  # METHOD_LABELS order, not the dict's
    assert "50.0%" in lines[3] and "-0.250 ± 0.050" in lines[3] and "2048" in lines[3]
    assert len(lines[0].split("|")) - 2 == 8  # eight columns fit the page


def test_image_row_fits_the_page_and_refuses_seven_panels():
    imgs = [np.zeros((8, 8, 3), np.uint8)] * 4
    fig = vp.image_row(imgs, ["a", "b", "c", "d"])
    assert fig.get_size_inches()[0] <= MAX_WIDTH_IN
    assert sum(ax.get_visible() for ax in fig.axes) == 4
    fig = vp.image_row(imgs * 2, None, ncols=4)
    assert len(fig.axes) == 8 and fig.get_size_inches()[0] <= MAX_WIDTH_IN
    with pytest.raises(ValueError, match="1 to 6"):
        vp.image_row(imgs * 2)
    plt.close("all")


def test_example_figure_four_panels_and_needs_a_gsemcom_transmission():
    img = np.zeros((8, 8, 3), np.uint8)
    seg = np.zeros((8, 8), bool)
    seg[:2] = True
    packet = SimpleNamespace(image=lambda fill=128: img)
    tr = SimpleNamespace(source=img, recovered=img, pixels_sent=16, bytes_sent=50,
                         encoded=SimpleNamespace(segments=[seg], packet=packet))
    fig = vp.example_figure(tr)
    assert len(fig.axes) == 4 and fig.get_size_inches()[0] <= MAX_WIDTH_IN
    assert fig.axes[2].get_title() == "packet: 16 px"
    with pytest.raises(TypeError, match="Transmission"):
        vp.example_figure(_tr(1, 1))
    plt.close("all")


def _stat(m, s=0.1):
    return {"mean": m, "sem": s}


def test_budget_figure_references_are_the_study_s_own():
    budgets = {str(b): {"stop": {"quality": _stat(8.0), "distance": _stat(0.5)},
                        "raster": {"quality": _stat(7.0 - b / 1000), "distance": _stat(0.4)}}
               for b in (100, 1000)}
    refs = {n: {"quality": _stat(q), "distance": _stat(d)} for n, q, d in
            (("traditional", 7.25, 0.0), ("local AIGC", 6.25, 0.66), ("fully masked", 7.5, 0.65),
             ("gsemcom xi=(0.9,0.8,0.5)", 7.0, 0.1))}
    study = {"rules": ["stop", "raster"], "budgets": budgets, "references": refs, "n_captions": 30}
    fig = vp.budget_figure(study)
    ax_q, ax_d = fig.axes[:2]
    flat = sorted(line.get_ydata()[0] for line in ax_q.lines if len(set(line.get_ydata())) == 1
                  and len(line.get_xdata()) == 2 and line.get_label() in
                  ("traditional", "local AIGC", "fully masked", "G-SemCom, all segments"))
    assert flat == [6.25, 7.0, 7.25, 7.5]
    curves = {c.get_label(): c for c in ax_q.containers}
    assert np.allclose(curves["a cut segment too (raster)"].lines[0].get_ydata(), [6.9, 6.0])
    assert np.allclose(curves["whole segments (stop, default)"].lines[0].get_ydata(), [8.0, 8.0])
    dist = {c.get_label(): c for c in ax_d.containers}
    assert np.allclose(dist["a cut segment too (raster)"].lines[0].get_ydata(), [0.4, 0.4])
    assert fig.get_size_inches()[0] <= MAX_WIDTH_IN
    with pytest.raises(ValueError, match="no style for the rule"):
        vp.budget_figure({**study, "rules": ["stop", "nope"]})
    plt.close("all")


def test_rate_distortion_figure_draws_the_curves_it_is_given():
    cv = {"webp": {"bytes": [100, 200], "jpsq": [0.3, 0.4], "distance": [0.2, 0.1],
                   "quality": [6.0, 6.5]},
          "png": {"bytes": [3000], "jpsq": [0.6], "distance": [0.0], "quality": [8.0]}}
    fig = vp.rate_distortion_figure({"curves": cv})
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 2]
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.3, 0.4]
    assert fig.get_size_inches()[0] <= MAX_WIDTH_IN
    with pytest.raises(TypeError):
        vp.rate_distortion_figure(None)
    plt.close("all")
