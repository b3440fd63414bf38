"""Control maps and their down/upscaling ([Control], Fig. 3) against scikit-image, PIL, renders and hand values."""

from __future__ import annotations


import numpy as np
import PIL.Image
import pytest
from skimage.color import rgb2gray
from skimage.feature import canny
from skimage.measure import block_reduce
from skimage.transform import resize

from gsemlab.control.maps import FACTORS, METHODS, downscale, extract, upscale
from gsemlab.toyworld import COLOURS, sample_scenes
from gsemlab.toyworld.world import object_mask

# the module itself: ``gsemlab.control.maps`` as an attribute is the re-exported function
import gsemlab.control.maps as ex
WHITE = (245, 245, 245)


def square_image(colour="red", top=20, left=30, side=21, background=WHITE):
    img = np.empty((64, 64, 3), np.uint8)
    img[:] = background
    img[top:top + side, left:left + side] = COLOURS[colour]
    return img


@pytest.fixture(scope="module")
def scenes():
    return [s for s in sample_scenes(12, seed=5, split="test")]


# ------------------------------------------------------------------------------------------ canny
def test_canny_is_scikit_images_on_the_grey_image(scenes):
    for s in scenes:
        img, _ = s.render()
        want = np.where(canny(rgb2gray(img), sigma=1.0), 255, 0)
        got = extract(img, "canny")
        assert got.dtype == np.uint8 and got.shape == (64, 64)
        np.testing.assert_array_equal(got, want)


def test_canny_by_hand():
    assert not extract(np.full((64, 64, 3), 200, np.uint8), "canny").any()  # a flat image has no edge
    img = square_image("blue", top=20, left=20, side=20)
    e = extract(img, "canny") > 0
    ys, xs = np.nonzero(e)
    # every edge pixel lies within one pixel of the square's outline (rows/cols 19.5 and 39.5)
    near_outline = (np.minimum(np.abs(ys - 19.5), np.abs(ys - 39.5)) <= 1) | (
        np.minimum(np.abs(xs - 19.5), np.abs(xs - 39.5)) <= 1)
    assert near_outline.all()
    inside = (ys >= 18) & (ys <= 41) & (xs >= 18) & (xs <= 41)
    assert inside.all()
    for side in (e[18:22, 25:35], e[38:42, 25:35], e[25:35, 18:22], e[25:35, 38:42]):  # all four sides found
        assert side.any(axis=0).all() or side.any(axis=1).all()
    assert set(np.unique(extract(img, "canny"))) == {0, 255}


# ------------------------------------------------------------------------------------------ segmentation
def test_segmentation_matches_the_renders_ground_truth(scenes):
    for s in scenes:
        img, _ = s.render()
        seg = extract(img, "segmentation")
        assert seg.dtype == np.uint8 and seg.shape == (64, 64)
        drawn = np.zeros((64, 64), bool)
        for o in s.objects:
            m = object_mask(o)
            label = list(COLOURS).index(o.colour) + 1
            region = seg == label
            iou = (region & m).sum() / (region | m).sum()
            assert iou > 0.95, (s.caption, o, iou)
            drawn |= m
        assert (seg[~drawn] == 0).mean() > 0.99  # the background is 0


def test_segmentation_by_hand():
    img = square_image("yellow", top=10, left=12, side=15)
    img[40:50, 40:60] = COLOURS["purple"]
    seg = extract(img, "segmentation")
    want = np.zeros((64, 64), np.uint8)
    want[10:25, 12:27] = 4  # yellow is the 4th palette colour
    want[40:50, 40:60] = 5  # purple the 5th
    np.testing.assert_array_equal(seg, want)


# ------------------------------------------------------------------------------------------ depth
def test_depth_of_one_square_in_closed_form():
    side = 21  # odd: the deepest pixel is the centre, 11 pixels from the outside
    img = square_image("red", top=20, left=30, side=side)
    d = extract(img, "depth")
    n = min(1.0, side / np.sqrt(np.pi) / 12.0)  # equivalent radius of 441 pixels / DEPTH_RADIUS
    assert d[30, 40] == round(255 * n)  # centre: 252
    assert d[20, 40] == round(255 * n * (0.6 + 0.4 * 1 / 11))  # rim pixel: distance 1 of 11
    assert d[25, 40] == round(255 * n * (0.6 + 0.4 * 6 / 11))  # six pixels in
    assert (d[:20] == 0).all() and (d[:, :30] == 0).all()  # background: far
    assert (d[20:41, 30:51] > 0).all()


def test_depth_larger_objects_are_nearer(scenes):
    seen = 0
    for s in scenes:
        sizes = {o.size for o in s.objects}
        if sizes != {"small", "large"}:
            continue
        img, _ = s.render()
        d = extract(img, "depth")
        peak = {size: max(int(d[object_mask(o)].max()) for o in s.objects if o.size == size) for size in sizes}
        assert peak["large"] > peak["small"], s.caption
        seen += 1
    assert seen >= 2


# ------------------------------------------------------------------------------------------ scaling
@pytest.mark.parametrize("factor", FACTORS)
def test_downscale_against_scikit_image_and_pil(scenes, factor):
    for s in scenes[:4]:
        img, _ = s.render()
        e, seg, dep = (extract(img, m) for m in METHODS)
        np.testing.assert_array_equal(downscale(e, factor, "canny"), block_reduce(e, (factor, factor), np.max))
        side = 64 // factor
        pil = np.asarray(PIL.Image.fromarray(seg).resize((side, side), PIL.Image.NEAREST))
        np.testing.assert_array_equal(downscale(seg, factor, "segmentation"), pil)
        mean = block_reduce(dep.astype(float), (factor, factor), np.mean)
        np.testing.assert_array_equal(downscale(dep, factor, "depth"), np.rint(mean).astype(np.uint8))
        for m, x in zip(METHODS, (e, seg, dep)):
            assert downscale(x, factor, m).shape == (side, side) and downscale(x, factor, m).dtype == np.uint8


def test_downscale_by_hand():
    e = np.zeros((64, 64), np.uint8)
    e[5, 9] = 255  # one edge pixel
    small = downscale(e, 4, "canny")
    want = np.zeros((16, 16), np.uint8)
    want[1, 2] = 255  # its block survives max-pooling
    np.testing.assert_array_equal(small, want)
    seg = np.zeros((64, 64), np.uint8)
    seg[4, 4] = 3  # pixel (f // 2, f // 2) of block (0, 0) at f = 8
    seg[1, 1] = 2  # not sampled
    got = downscale(seg, 8, "segmentation")
    assert got[0, 0] == 3 and got.sum() == 3
    dep = np.zeros((64, 64), np.uint8)
    dep[0:2, 0:2] = [[10, 20], [30, 41]]
    assert downscale(dep, 2, "depth")[0, 0] == 25  # (10 + 20 + 30 + 41) / 4 = 25.25


@pytest.mark.parametrize("factor", FACTORS)
def test_upscale_against_numpy_and_scikit_image(factor):
    rng = np.random.default_rng(factor)
    side = 64 // factor
    e = (rng.random((side, side)) < 0.2).astype(np.uint8) * 255
    seg = rng.integers(0, 7, (side, side)).astype(np.uint8)
    dep = rng.integers(0, 256, (side, side)).astype(np.uint8)
    block = np.ones((factor, factor), np.uint8)
    np.testing.assert_array_equal(upscale(e, factor, "canny"), np.kron(e, block))
    np.testing.assert_array_equal(upscale(seg, factor, "segmentation"), np.kron(seg, block))
    want = resize(dep.astype(float), (64, 64), order=1, mode="edge", anti_aliasing=False, preserve_range=True)
    got = upscale(dep, factor, "depth").astype(int)
    assert got.shape == (64, 64)
    assert np.abs(got - want).max() <= 0.5 + 1e-9  # rounded to the nearest integer


def test_upscale_depth_by_hand():
    m = np.kron(np.array([[0, 100], [100, 200]], np.uint8), np.ones((4, 4), np.uint8))  # an 8 x 8 map
    up = upscale(m, 8, "depth")
    assert up[0, 0] == 0 and up[63, 63] == 200  # clamped edges
    # output pixel x samples the small map at (x + 0.5) / 8 - 0.5; row 0 samples the small map's row 0
    assert up[0, 27] == 0  # at 2.9375: inside the 0 half
    assert up[0, 31] == 44  # at 3.4375: 0.4375 of the way from 0 to 100 = 43.75
    assert up[0, 36] == 100  # at 4.0625: inside the 100 half
    assert up[31, 31] == round(100 * 0.4375 * 2 * 0.5625 + 200 * 0.4375 ** 2)  # bilinear in both axes


def test_round_trip_at_factor_1_is_the_identity(scenes):
    img, _ = scenes[0].render()
    for m in METHODS:
        x = extract(img, m)
        np.testing.assert_array_equal(upscale(downscale(x, 1, m), 1, m), x)


# ------------------------------------------------------------------------------------------ errors
def test_bad_inputs_raise_before_any_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("detect_objects ran before the input checks")

    monkeypatch.setattr(ex, "detect_objects", boom)
    img = square_image()
    with pytest.raises(ValueError, match="unknown control method 'hed'"):
        extract(img, "hed")
    with pytest.raises(TypeError, match="method must be a str"):
        extract(img, 3)
    with pytest.raises(TypeError, match="uint8"):
        extract(img.astype(np.float32), "segmentation")
    with pytest.raises(ValueError, match=r"\(64, 64, 3\)"):
        extract(img[:32], "depth")
    with pytest.raises(ValueError, match=r"\(64, 64, 3\)"):
        extract(img[..., 0].copy(), "segmentation")
    with pytest.raises(TypeError, match="numpy array"):
        extract(img.tolist(), "canny")


def test_bad_factors_and_maps_raise():
    e = np.zeros((64, 64), np.uint8)
    for bad in (0, 3, 16, -2):
        with pytest.raises(ValueError, match=r"factor must be one of \(1, 2, 4, 8\)"):
            downscale(e, bad, "canny")
        with pytest.raises(ValueError, match="factor must be one of"):
            upscale(e, bad, "canny")
    for bad in (2.0, True, "2"):
        with pytest.raises(TypeError, match="factor must be an integer"):
            downscale(e, bad, "canny")
    with pytest.raises(ValueError, match=r"shape \(64, 64\)"):
        downscale(np.zeros((32, 32), np.uint8), 2, "depth")
    with pytest.raises(ValueError, match=r"shape \(16, 16\)"):
        upscale(np.zeros((32, 32), np.uint8), 4, "depth")  # a factor-2 map called factor 4
    with pytest.raises(TypeError, match="uint8"):
        downscale(np.zeros((64, 64)), 2, "depth")
    with pytest.raises(ValueError, match="only 0 and 255"):
        downscale(np.ones((64, 64), np.uint8), 2, "canny")
    with pytest.raises(ValueError, match="labels 0 to 6"):
        upscale(np.full((8, 8), 7, np.uint8), 8, "segmentation")
    with pytest.raises(ValueError, match="unknown control method"):
        upscale(np.zeros((8, 8), np.uint8), 8, "pose")
