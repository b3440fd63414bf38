"""The control-map system: metrics against independent computations, the follow checks by brute force,
bad inputs before any model runs."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gsemlab.control import system as cs
from gsemlab.toyworld.world import render_batch, sample_scenes


def _brute_f1(e, r, tol):
    ey, ex = np.nonzero(e)
    ry, rx = np.nonzero(r)
    d = np.hypot(ey[:, None] - ry[None, :], ex[:, None] - rx[None, :])  # every pair of edge pixels
    precision = (d.min(1) <= tol).mean()
    recall = (d.min(0) <= tol).mean()
    return 2 * precision * recall / (precision + recall)


def test_edge_f1_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(5):
        e, r = rng.random((24, 24)) < 0.08, rng.random((24, 24)) < 0.08
        assert cs.edge_f1(e, r, tolerance=2.0) == pytest.approx(_brute_f1(e, r, 2.0))
    line = np.zeros((16, 16), bool)
    line[8] = True
    assert cs.edge_f1(np.roll(line, 2, axis=0), line) == 1.0  # two pixels off: within tolerance
    assert cs.edge_f1(np.roll(line, 3, axis=0), line) == 0.0
    assert cs.edge_f1(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
    with pytest.raises(ValueError, match="shape"):
        cs.edge_f1(np.zeros((4, 4)), np.zeros((4, 5)))


def test_object_iou_on_a_render_is_one_and_shifted_less():
    from gsemlab.control.maps import extract

    scene = next(s for s in sample_scenes(30, seed=4, split="test") if len(s.objects) == 2)
    image, masks = scene.render()
    seg = extract(image, "segmentation")
    assert cs.object_iou(image, scene.caption, seg) == pytest.approx([1.0, 1.0], abs=0.02)
    shifted = np.roll(image, 3, axis=1)
    colour = scene.objects[0].colour
    m = masks[colour]
    want = (m & np.roll(m, 3, axis=1)).sum() / (m | np.roll(m, 3, axis=1)).sum()  # IoU of a mask and its shift
    assert cs.object_iou(shifted, scene.caption, seg)[0] == pytest.approx(want, abs=0.03)
    # an object the control does not hold (the source did not draw it) is left out, or counts 0 when asked
    first = seg == seg[masks[colour]].max()
    erased = np.where(first, 0, seg).astype(np.uint8)
    assert cs.object_iou(image, scene.caption, erased) == pytest.approx([1.0], abs=0.02)
    assert cs.object_iou(image, scene.caption, erased, include_absent=True) == pytest.approx([0.0, 1.0], abs=0.02)
    with pytest.raises(TypeError, match="include_absent"):
        cs.object_iou(image, scene.caption, seg, include_absent=1)


def test_quality_metrics_against_their_definitions():
    from skimage.metrics import structural_similarity, variation_of_information

    a, b = render_batch(sample_scenes(2, seed=8, split="test"))
    got = cs.quality_metrics(a, b)
    mse = ((a.astype(float) - b.astype(float)) ** 2).mean()
    assert got["mse"] == pytest.approx(mse)
    assert got["psnr_db"] == pytest.approx(10 * np.log10(255 ** 2 / mse))
    assert got["ssim"] == pytest.approx(structural_similarity(a, b, channel_axis=2, data_range=255))
    same = cs.quality_metrics(a, a)
    assert same["mse"] == 0 and same["voi"] == pytest.approx(0.0, abs=1e-9) and same["toysim"] < 1e-3
    # VoI of two label maps, by hand: H(X|Y) + H(Y|X) from the joint histogram
    x = np.array([[0, 0, 1, 1]] * 4)
    y = np.array([[0, 1, 1, 1]] * 4)
    joint = np.histogram2d(x.ravel(), y.ravel(), bins=2)[0] / x.size
    hxy = -(joint[joint > 0] * np.log2(joint[joint > 0])).sum()  # bits
    hx = -sum(p * np.log2(p) for p in joint.sum(1) if p > 0)
    hy = -sum(p * np.log2(p) for p in joint.sum(0) if p > 0)
    assert sum(variation_of_information(x, y)) == pytest.approx(2 * hxy - hx - hy)
    with pytest.raises(ValueError, match="uint8"):
        cs.quality_metrics(a.astype(float), b)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"method": "pose", "factor": 2}, ValueError, "method"),
    ({"method": "canny", "factor": 0}, ValueError, "factor"),
    ({"method": "canny", "factor": 3}, ValueError, "factor"),
    ({"method": "canny", "factor": 2.0}, TypeError, "factor"),
])
def test_bad_transmissions_raise_before_generating(kwargs, error, match, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("generation ran before the inputs were checked")

    monkeypatch.setattr(cs, "generate", boom)
    with pytest.raises(error, match=match):
        cs.transmit("a small red circle", **kwargs)


def test_regenerate_rejects_a_map_of_the_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        cs.regenerate(["a red circle"], {"canny": np.zeros((1, 32, 32), np.uint8)})
    with pytest.raises(ValueError, match="captions"):
        cs.regenerate(["a red circle", "a blue square"], {"canny": np.zeros((1, 64, 64), np.uint8)})


def test_transmit_counts_the_bytes_and_follows_the_map():
    t = cs.transmit("a large red circle on a white background", method="segmentation", factor=2, seed=0)
    from gsemlab.control.wire import pack
    from gsemlab.control.maps import downscale

    assert t.nbytes == len(pack(t.caption, downscale(t.control, 2, "segmentation"), method="segmentation",
                                factor=2))
    assert t.source.shape == t.recovered.shape == (64, 64, 3) and t.recovered.dtype == np.uint8
    assert t.received_control.shape == (64, 64)
    assert set(t.metrics) == set(cs.METRICS)
    png = cs.transmit_traditional(t.caption, codec="png", seed=0)
    assert np.array_equal(png.recovered, t.source)  # lossless, and the same source
    buf = io.BytesIO()
    Image.fromarray(t.source).save(buf, "PNG")
    assert png.nbytes == len(buf.getvalue())
    local = cs.transmit_prompt_only(t.caption, seed=0)
    assert local.nbytes == len(t.caption.encode())


def test_the_bundled_controlnet_follows_its_segmentation_and_edges():
    from gsemlab.control.maps import extract

    captions = [s.caption for s in sample_scenes(8, seed=21, split="test")]
    sources = cs.generate(captions, 0)
    seg = np.stack([extract(s, "segmentation") for s in sources])
    edges = np.stack([extract(s, "canny") for s in sources])
    free = cs.regenerate(captions, None, 1)  # the same receiver noise, no control
    by_seg = cs.regenerate(captions, {"segmentation": seg}, 1)
    by_edge = cs.regenerate(captions, {"canny": edges}, 1)
    iou = lambda imgs: np.mean([v for im, c, m in zip(imgs, captions, seg) for v in cs.object_iou(im, c, m)])
    f1 = lambda imgs: np.mean([cs.edge_f1(extract(im, "canny"), e) for im, e in zip(imgs, edges)])
    assert iou(by_seg) > iou(free) + 0.2
    assert f1(by_edge) > f1(free) + 0.1
