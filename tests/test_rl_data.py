"""The bundled utility curves (gsemlab/data/rl/curves.json): what the package ships for chapter 8."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gsemlab.rl.curves import MAX_STEPS, bundled
from gsemlab.rl.make_curves import toy_prompts

CHECK = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "rl_curves_check.json"


def test_bundled_curves_are_the_documented_prompts():
    curves = bundled()
    train, held = curves.indices("train"), curves.indices("heldout")
    assert train.size == 300 and held.size == 300
    captions, seeds, split = toy_prompts(300, 300, seed=0)  # the command's prompts, drawn again
    assert list(curves.captions) == captions and curves.seeds.tolist() == seeds
    assert curves.split.tolist() == split
    assert not set(curves.captions[i] for i in train) & set(curves.captions[i] for i in held)


def test_bundled_curves_are_well_formed():
    curves = bundled()
    for s, d, q, whole in zip(curves.steps, curves.distance, curves.quality, curves.packet_pixels):
        assert s[0] == 0 and s[-1] == whole and np.all(np.diff(s) > 0) and d.size == q.size == s.size
        assert np.all((0 <= d) & (d <= 2)) and np.all((1 <= q) & (q <= 10))
    # a map cell is set only where the packet has pixels: an empty packet has an empty map
    empty = curves.packet_pixels == 0
    assert not curves.maps[empty].any() and curves.maps[~empty].any(axis=(1, 2)).all()
    # the observation's prefix features hold the whole packet last
    feats = curves.prefix_features(MAX_STEPS)
    assert np.array_equal(feats[:, -1], curves.packet_pixels)


def test_recorded_interpolation_check_is_within_one_percent():
    report = json.loads(CHECK.read_text())
    assert len(report["rows"]) >= 100 and report["utility_range"] > 0
    live = np.array([r["live"] for r in report["rows"]])
    interp = np.array([r["interpolated"] for r in report["rows"]])
    assert np.abs(live - interp).max() <= 0.01 * (live.max() - live.min())
