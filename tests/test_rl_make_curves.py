"""gsemlab.rl.make_curves on a tiny random pipeline: the curves are what the pipeline delivers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gsemlab.config import GSemComConfig
from gsemlab.gsemcom import GSemCom
from gsemlab.rl.make_curves import block_map, interpolation_error, measure_curves, prefix_sizes, toy_prompts

PROMPTS = ["a small red circle above a large blue square", "a green triangle"]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    from gsemlab.models import load_backend
    from gsemlab.testing import tiny_random_pipeline

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny-sd")
    tiny_random_pipeline(seed=0).save_pretrained(folder)
    backend = load_backend("toy", device="cpu", path=folder, metrics=False)
    backend = dataclasses.replace(
        backend, name="tiny",
        distance_fn=lambda a, b: float(np.abs(a.astype(float) - b.astype(float)).mean() / 255),
        quality_fn=lambda a: 1.0 + 9.0 * float(a.astype(float).std() / 127.5))
    return GSemCom(backend, GSemComConfig(generation_steps=2, decode_steps=2), t_max=0.5)


def test_block_map_by_hand():
    m = np.zeros((32, 32), bool)
    m[0, 0] = m[31, 17] = True
    out = block_map(m)
    expected = np.zeros((16, 16), bool)
    expected[0, 0] = expected[15, 8] = True
    assert np.array_equal(out, expected)
    with pytest.raises(ValueError):
        block_map(np.zeros((30, 30), bool))


def test_curves_hold_what_the_pipeline_delivers(system):
    curves = measure_curves(system, PROMPTS, [0, 1], ["train", "heldout"])
    for i, (caption, seed) in enumerate(zip(PROMPTS, (0, 1))):
        whole = system.transmit(caption, seed=seed)
        assert curves.packet_pixels[i] == whole.encoded.semantic_pixels
        assert curves.quality[i][-1] == pytest.approx(whole.quality)
        masked = system.fully_masked(caption, seed)
        assert curves.distance[i][0] == pytest.approx(masked.distance)  # step 0: the prompt alone
        union = np.zeros(whole.source.shape[:2], bool)
        for seg in whole.encoded.segments:
            union |= seg
        h = union.shape[0] // 16
        assert np.array_equal(curves.maps[i], union.reshape(16, h, 16, h).any(axis=(1, 3)))
        # the steps are the prefix sums of the segment sizes, and each step is what transmit gives
        sizes = np.cumsum([int(s.sum()) for s in whole.encoded.segments])
        assert set(curves.steps[i][1:]) == set(sizes[sizes > 0].tolist())
        for k, b in enumerate(curves.steps[i][1:-1], start=1):
            t = system.transmit(caption, int(b), seed=seed)
            assert t.pixels_sent == b and curves.quality[i][k] == pytest.approx(t.quality)
            t = system.transmit(caption, int(b) - 1, seed=seed)  # one pixel short: the step before
            assert curves.quality[i][k - 1] == pytest.approx(t.quality)
    report = interpolation_error(system, curves, n_prompts=2, n_budgets=2)
    assert report["max_abs"] < 1e-6 and 0 < len(report["rows"]) <= 4  # the pipeline is deterministic


def test_prefix_sizes_by_hand():
    a, b, c = (np.zeros((4, 4), bool) for _ in range(3))
    a[0, :2] = True
    b[0, :] = True  # overlaps a: 2 new pixels
    c[3, 3] = True
    assert prefix_sizes([a, b, c]).tolist() == [0, 2, 4, 5]
    assert prefix_sizes([a, a, c]).tolist() == [0, 2, 3]  # an empty segment adds no step


def test_bad_inputs_are_named(system):
    with pytest.raises(TypeError):
        measure_curves(object(), PROMPTS, [0, 1], ["train", "train"])
    with pytest.raises(ValueError):
        measure_curves(system, PROMPTS, [0], ["train", "train"])
    with pytest.raises(ValueError, match="stop"):
        measure_curves(system.with_options(partial="raster"), PROMPTS, [0, 1], ["train", "train"])


def test_toy_prompts_split_train_and_heldout():
    captions, seeds, split = toy_prompts(3, 2, seed=4)
    assert len(captions) == 5 and split == ["train"] * 3 + ["heldout"] * 2 and seeds == [4, 5, 6, 7, 8]
    with pytest.raises(TypeError):
        toy_prompts(1.5, 2)
