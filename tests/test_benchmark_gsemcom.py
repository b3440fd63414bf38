"""benchmarks/gsemcom.py's budget study and summaries.py's derived aggregates, against values by hand."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.pop(0)
    return mod


summaries = _load("summaries")


def _segments(*sizes):
    out = []
    for s in sizes:
        m = np.zeros(100, bool)
        m[:s] = True
        out.append(m.reshape(10, 10))
    return out


@pytest.mark.parametrize(("budget", "expected"), [(0, 0), (9, 0), (10, 10), (39, 30), (59, 30),
                                                  (60, 60), (1000, 60)])
def test_whole_segment_pixels_by_hand(budget, expected):
    gsemcom = _load("gsemcom")
    # segments of 10, 20 and 30 pixels, packed in that order: cumulative 10, 30, 60
    assert gsemcom.whole_segment_pixels(_segments(10, 20, 30), budget) == expected


def test_mean_sem_by_hand():
    r = summaries._mean_sem([1, 2, 3, 6])
    # mean 3; sample variance (4 + 1 + 0 + 9) / 3 = 14/3; sem sqrt(14/3 / 4)
    assert r["mean"] == 3 and r["n"] == 4
    assert r["sem"] == pytest.approx((14 / 3 / 4) ** 0.5)


def test_sweep_references_use_only_the_sweep_captions():
    names = summaries.REFERENCES
    per = {"source_background": ["white", "gray", "white"]}
    for k, name in enumerate(names):
        per[f"{name}/quality"] = [1.0 + k, 3.0 + k, 100.0]  # the third caption is not swept
        per[f"{name}/distance"] = [0.0, 0.5, 9.0]
    full = {key: {} for key in ("config", "paper", "headline", "checks", "methods", "by_source_background",
                                "bytes", "semantic_pixels", "timing_s", "peak_memory_mb", "weights_mb")}
    full["sweeps"] = {"n_captions": 2}
    full["per_caption"] = per
    out = summaries.gsemcom(full)
    assert "per_caption" not in out
    assert out["sweep_references"]["traditional"]["quality"]["mean"] == 2.0  # (1 + 3) / 2
    assert out["sweep_references"]["local AIGC"]["quality"]["mean"] == 3.0
    assert out["sweep_references"]["fully masked"]["distance"]["mean"] == 0.25
    # the source's quality by background over every caption: white (1 + 100) / 2, gray 3
    qb = out["quality_by_source_background"]
    assert qb["white"]["mean"] == 50.5 and qb["gray"] == {"mean": 3.0, "sem": 0.0, "n": 1}
