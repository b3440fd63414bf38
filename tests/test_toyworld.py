"""Tests of ShapesWorld (gsemlab.toyworld): sampling, rendering geometry, locate, splits, POS coverage,
degradations, and the bundled weights (skipped while they are absent)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gsemlab.toyworld import HELD_OUT, sample_scenes
from gsemlab.toyworld.degrade import degrade
from gsemlab.toyworld.world import BACKGROUNDS, COLOURS, shape_mask

DATA = Path(__file__).resolve().parents[1] / "gsemlab" / "data"


def test_sample_scenes_is_deterministic_by_seed_and_split():
    a, b = sample_scenes(20, seed=7), sample_scenes(20, seed=7)
    assert [s.caption for s in a] == [s.caption for s in b]
    assert [s.objects for s in a] == [s.objects for s in b]
    assert np.array_equal(a[3].render()[0], b[3].render()[0])
    # a shorter draw is a prefix of a longer one
    assert [s.caption for s in sample_scenes(5, seed=7)] == [s.caption for s in a[:5]]
    # other seeds and other splits give other scenes
    assert [s.caption for s in sample_scenes(20, seed=8)] != [s.caption for s in a]
    assert [s.caption for s in sample_scenes(20, seed=7, split="test")] != [s.caption for s in a]


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="n must be"):
        sample_scenes(-1)
    with pytest.raises(ValueError, match="split"):
        sample_scenes(2, split="holdout")
    with pytest.raises(ValueError, match="shape"):
        shape_mask("hexagon", 32, 32, 5)
    with pytest.raises(ValueError, match="level"):
        degrade(np.zeros((64, 64, 3), np.uint8), 10, "noise")


def test_sample_scenes_rejects_a_non_integer_seed():
    for seed in ("3", 1.5, True, None):
        with pytest.raises(TypeError, match="seed"):
            sample_scenes(2, seed=seed)
    with pytest.raises(ValueError, match="seed"):
        sample_scenes(2, seed=-1)
    same = sample_scenes(3, seed=np.int64(4))
    assert [s.caption for s in same] == [s.caption for s in sample_scenes(3, seed=4)]


def test_edit_scene_changes_exactly_k_attributes():
    from gsemlab.toyworld import edit_scene

    rng = np.random.default_rng(0)
    for scene in sample_scenes(20, seed=12):
        slots = 3 * len(scene.objects) + 1
        for k in (0, 1, 3, slots + 2):
            e = edit_scene(scene, k, rng)
            changed = int(e.background != scene.background) + sum(
                getattr(a, f) != getattr(b, f) for a, b in zip(scene.objects, e.objects)
                for f in ("shape", "colour", "size"))
            assert changed == min(k, slots)
            assert all(abs(a.cx - b.cx) <= 1 and abs(a.cy - b.cy) <= 1
                       for a, b in zip(scene.objects, e.objects))
            assert (e.caption, e.relation) == (scene.caption, scene.relation)


def test_map_scores_by_hand():
    pytest.importorskip("torch")
    from gsemlab.toyworld.scoring import centred_prior, map_scores, summarise_scores

    # prior: exp(-r^2 / (2 (size/4)^2)); size 4: centre 1.5, sigma 1; pixel (0, 0) at r^2 = 4.5
    prior = centred_prior(4)
    assert prior.shape == (4, 4) and prior[0, 0] == pytest.approx(np.exp(-2.25))
    assert prior[1, 1] == pytest.approx(np.exp(-0.25)) and np.allclose(prior, prior.T)
    # 4x4 map: 4 on (0, 0), 2 on (0, 1), 1 on the rest of row 0, 0 elsewhere; normalised: 1, .5, .25, .25
    attn = np.zeros((4, 4))
    attn[0] = [4, 2, 1, 1]
    own = np.zeros((4, 4), bool)
    own[0, :2] = True  # mass 1.5 over 2 px
    other = np.zeros((4, 4), bool)
    other[0, 2:] = True
    other[1:, 0] = True  # mass 0.5 over 5 px
    sc = map_scores(attn, own, [other])
    # binary map at xi 0.5: normalised >= 0.5 -> (0, 0), (0, 1) = own: IoU 1
    assert sc == {"pointing": True, "mass": True, "iou": 1.0, "density": True}
    # xi 0.25 keeps row 0 (4 px): IoU 2 / 4
    assert map_scores(attn, own, [], xi=0.25) == {"pointing": True, "mass": None, "iou": 0.5, "density": None}
    # a larger other object with more total mass but less per pixel: mass False, density True
    big = ~own
    big[0, 2:] = True
    attn2 = attn.copy()
    attn2[1:] = 0.5
    attn2[3, 3] = 0.0  # normalised: 0.125 on 11 px of big + 0.25 * 2 = 1.875 > 1.5 over 14 px
    sc2 = map_scores(attn2, own, [big])
    assert sc2["mass"] is False and sc2["density"] is True and sc2["pointing"] is True
    s = summarise_scores([sc, sc2, map_scores(attn, other, [])])
    assert s["pointing"] == pytest.approx(2 / 3) and s["n_pointing"] == 3
    assert s["mass"] == pytest.approx(0.5) and s["n_mass"] == 2 and s["iou"] == pytest.approx((1 + 1 + 0) / 3)
    assert summarise_scores([])["iou"] is None
    with pytest.raises(ValueError, match="region"):
        map_scores(attn, own[:2], [])


def test_shape_areas_match_hand_geometry():
    # circle r = 11: pi * 121 = 380.13 px; pixel-centre sampling is off by a few boundary pixels
    assert abs(shape_mask("circle", 32, 32, 11).sum() - np.pi * 121) < 0.03 * np.pi * 121
    # square: half-side 0.85 * 11 = 9.35 around 32 -> pixel centres x + 0.5 in [22.65, 41.35]
    # -> x = 23..40, 18 columns and 18 rows = 324 px, exactly
    assert shape_mask("square", 32, 32, 11).sum() == 18 * 18
    # triangle: circumradius R = 1.15 * 11 = 12.65, area 3 sqrt(3) / 4 R^2 = 69.3 px... times R^2 / R^2:
    # (3 * 1.7320508 / 4) * 12.65 ** 2 = 1.2990381 * 160.0225 = 207.88 px
    assert abs(shape_mask("triangle", 32, 32, 11).sum() - 207.88) < 0.06 * 207.88
    # star: 10 triangles centre-outer-inner, each 1/2 R r sin(36 deg) with R = 13.2, r = 6.6:
    # 10 * 0.5 * 13.2 * 6.6 * 0.5877853 = 256.04 px
    assert abs(shape_mask("star", 32, 32, 11).sum() - 256.04) < 0.06 * 256.04


def test_render_masks_are_the_painted_pixels():
    for scene in sample_scenes(30, seed=11):
        img, masks = scene.render()
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        union = np.zeros((64, 64), bool)
        for o in scene.objects:
            m = masks[o.colour]
            assert m.dtype == bool and m.shape == (64, 64)
            assert np.array_equal(masks[o.shape], m)
            assert (img[m] == COLOURS[o.colour]).all()
            union |= m
        assert (img[~union] == BACKGROUNDS[scene.background]).all()
        if scene.relation is not None:
            a, b = scene.objects[0], scene.objects[1]
            assert np.array_equal(masks[scene.relation], masks[a.colour] | masks[b.colour])


def test_relation_in_caption_holds_in_geometry():
    from gsemlab.toyworld import relation_holds

    n = 0
    for scene in sample_scenes(60, seed=2):
        if scene.relation is None:
            continue
        a, b = scene.objects[:2]
        word = {"left": "left", "right": "right"}.get(scene.relation, scene.relation)
        assert word in scene.caption.split()
        dx, dy = a.cx - b.cx, a.cy - b.cy  # image y points down
        expected = {"above": dy < -abs(dx), "below": dy > abs(dx), "left": dx < -abs(dy),
                    "right": dx > abs(dy)}
        assert expected[scene.relation] and relation_holds(scene.relation, (a.cx, a.cy), (b.cx, b.cy))
        n += 1
    assert n > 20


def test_held_out_combinations_absent_from_train_split_only():
    held = set(HELD_OUT)
    train = sample_scenes(800, seed=0, split="train")
    assert not any((o.colour, o.shape) in held for s in train for o in s.objects)
    test = sample_scenes(300, seed=0, split="test")
    assert sum((o.colour, o.shape) in held for s in test for o in s.objects) > 10


def test_captions_cover_every_pos_class():
    from gsemlab.prompt import POS_CLASSES, load_nlp, pos_class

    nlp = load_nlp()
    caps = [s.caption for s in sample_scenes(150, seed=4)]
    seen = {pos_class(t.pos_) for doc in nlp.pipe(caps) for t in doc}
    assert seen == set(POS_CLASSES)


def test_locate_recovers_rendered_masks():
    pytest.importorskip("torch")
    if not (DATA / "shape_classifier.safetensors").exists():
        pytest.skip("shape classifier weights not trained yet")
    from gsemlab.toyworld.locate import locate, score_caption

    for scene in sample_scenes(20, seed=9, split="test"):
        img, masks = scene.render()
        found = locate(img, scene.caption)
        assert set(found) == set(masks)
        for word, m in masks.items():
            iou = (found[word] & m).sum() / max((found[word] | m).sum(), 1)
            assert iou > 0.9, (scene.caption, word, iou)
        sc = score_caption(img, scene.caption)
        assert sc["count_ok"] and all(sc["attributes_ok"]) and sc["relation_ok"] in (None, True)
    # a wrong colour is caught: recolour the first object; its attributes are then wrong
    scene = sample_scenes(1, seed=9, split="test")[0]
    img, masks = scene.render()
    o = scene.objects[0]
    other = next(c for c in COLOURS if c not in {p.colour for p in scene.objects})
    img[masks[o.colour]] = COLOURS[other]
    sc = score_caption(img, scene.caption)
    assert sc["colour_ok"][0] is False and sc["attributes_ok"][0] is False and sc["count_ok"]


def test_degrade_noise_level_and_identity():
    img = np.full((64, 64, 3), 128, np.uint8)
    assert np.array_equal(degrade(img, 0, "blur"), img)
    # level 3 of 9: std 70 * 3 / 9 = 23.3 grey levels, far from the clip limits at 128
    d = degrade(img, 3, "noise", rng=0).astype(float) - 128
    assert abs(d.std() - 70 * 3 / 9) < 1.0


@pytest.mark.skipif(not (DATA / "toysim.safetensors").exists(), reason="ToySim not trained yet")
def test_toysim_distance_properties():
    from gsemlab.toyworld.nets import ToySim

    sim = ToySim.from_pretrained()
    imgs = [s.render()[0] for s in sample_scenes(3, seed=21, split="test")]
    assert sim.distance(imgs[0], imgs[0]) < 1e-5  # 1 - cos(f, f) = 0
    assert sim.distance(imgs[0], imgs[1]) == pytest.approx(sim.distance(imgs[1], imgs[0]), abs=1e-6)
    batch = sim.distance(np.stack(imgs), imgs[0])
    assert batch.shape == (3,) and batch[0] < batch[1:].min()


@pytest.mark.skipif(not (DATA / "toynima.safetensors").exists(), reason="ToyNIMA not trained yet")
def test_toynima_scores_clean_above_degraded():
    from gsemlab.toyworld.nets import ToyNIMA

    nima = ToyNIMA.from_pretrained()
    img = sample_scenes(1, seed=22, split="test")[0].render()[0]
    p = nima.distribution(img)
    assert p.shape == (10,) and p.sum() == pytest.approx(1.0, abs=1e-5)
    # Eq. 16: the quality is the mean of the distribution over 1..10
    assert nima.quality(img) == pytest.approx(float(p @ np.arange(1, 11)), abs=1e-5)
    assert nima.quality(img) > nima.quality(degrade(img, 9, "noise", rng=0)) + 3


@pytest.mark.skipif(not (DATA / "toy-sd" / "model_index.json").exists(),
                    reason="toy pipeline not trained yet")
def test_bundled_pipeline_loads_offline_and_is_deterministic():
    import torch
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(DATA / "toy-sd", local_files_only=True)
    pipe.set_progress_bar_config(disable=True)

    def run():
        return pipe("a small red circle above a large blue square", num_inference_steps=4,
                    generator=torch.Generator().manual_seed(0), output_type="np").images[0]

    a, b = run(), run()
    assert a.shape == (64, 64, 3) and np.array_equal(a, b)
    inpaint = StableDiffusionInpaintPipeline(**pipe.components)
    inpaint.set_progress_bar_config(disable=True)
    img = (a * 255).round().astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[:, :32] = 255
    from PIL import Image

    out = inpaint("a green star", image=Image.fromarray(img), mask_image=Image.fromarray(mask),
                  num_inference_steps=4, generator=torch.Generator().manual_seed(0),
                  output_type="np").images[0]
    assert out.shape == (64, 64, 3)


def test_collapse_posterior_keeps_the_mean_and_removes_the_noise():
    """After ``collapse_posterior`` the encoder's mean is the one computed before the change, and its
    std is exp(-30 / 2) = 3.06e-7 everywhere (diffusers: std = exp(0.5 * logvar))."""
    torch = pytest.importorskip("torch")
    from gsemlab.training import sd

    torch.manual_seed(0)
    vae = sd.build_vae()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        before = vae.encode(x).latent_dist
        assert before.std.min() > 1e-2  # a random encoder's posterior is wide
        sd.collapse_posterior(vae)
        after = vae.encode(x).latent_dist
    assert torch.equal(after.mean, before.mean)
    assert torch.allclose(after.std, torch.full_like(after.std, 3.0590e-7), rtol=1e-4)
    with pytest.raises(TypeError, match="vae must be a diffusers AutoencoderKL"):
        sd.collapse_posterior(object())
    with pytest.raises(ValueError, match="logvar must be a finite number"):
        sd.collapse_posterior(vae, logvar=float("nan"))


def test_image_scores_match_closed_forms():
    from gsemlab.toyworld.nets import image_scores, mean_and_se

    g = np.random.default_rng(0)
    ref = g.integers(20, 200, size=(3, 64, 64, 3), dtype=np.uint8)
    same = image_scores(ref, ref.copy())
    assert same["ssim"] == pytest.approx(1.0) and same["toysim"] == pytest.approx(0.0, abs=1e-6)
    shifted = image_scores(ref, ref + 10)  # every pixel 10 off: MSE 100
    assert shifted["psnr_db"] == pytest.approx(20 * np.log10(255 / 10))
    assert shifted["psnr_db_se"] == pytest.approx(0.0, abs=1e-9)
    m, se = mean_and_se([1.0, 2.0, 3.0, 6.0])
    assert m == 3.0 and se == pytest.approx(np.std([1, 2, 3, 6], ddof=1) / 2)
    with pytest.raises(ValueError, match="one shape"):
        image_scores(ref, ref[:2])
    with pytest.raises(ValueError, match="at least 2"):
        mean_and_se([1.0])
