"""Generation knowledge alignment (MAKD): the new subject, the metaword, the LoRA, the bundled weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gsemlab.align import makd
from gsemlab.models import load_backend
from gsemlab.toyworld.locate import AREA_FACTOR, parse_caption
from gsemlab.toyworld.world import NEW_SHAPES, SHAPES, sample_scenes, shape_mask, shape_polygon, with_new_shape


def _shoelace(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def test_the_cross_is_a_plus_sign_of_the_stated_area():
    r = 11.0
    poly = shape_polygon("cross", 32.0, 32.0, r)
    R, w = 1.1 * r, 0.42 * r
    assert _shoelace(poly) == pytest.approx((2 * R) * (2 * w) * 2 - (2 * w) ** 2)  # two bars less the overlap
    assert AREA_FACTOR["cross"] * r * r == pytest.approx(_shoelace(poly))
    m = shape_mask("cross", 32.0, 32.0, r)
    assert abs(int(m.sum()) - _shoelace(poly)) < 0.1 * _shoelace(poly)
    assert m[32, 32] and m[32, 32 + 11] and m[32 + 11, 32]  # the centre and the arms' ends
    assert not m[32 - 8, 32 - 8] and not m[32 + 8, 32 + 8]  # the corners between the arms are empty
    assert "cross" in NEW_SHAPES and "cross" not in SHAPES


def test_with_new_shape_moves_the_caption_and_the_masks():
    scene = next(s for s in sample_scenes(20, seed=3, split="test") if len(s.objects) == 2)
    new = with_new_shape(scene)
    old_shape = scene.objects[0].shape
    assert new.caption.split() == ["cross" if w == old_shape else w for w in scene.caption.split()]
    assert new.objects[1:] == scene.objects[1:] and new.objects[0].colour == scene.objects[0].colour
    image, masks = new.render()
    want = shape_mask("cross", scene.objects[0].cx, scene.objects[0].cy, scene.objects[0].radius)
    assert (masks["cross"] == want).all() and old_shape not in masks
    objs, _, _ = parse_caption(new.caption)
    assert objs[0].shape == "cross"
    with pytest.raises(ValueError, match="shape"):
        with_new_shape(scene, "hexagon")


def test_subject_prompts_fit_the_metaword_and_put_the_cross_first():
    prompts = makd.subject_prompts(40, 0)
    assert prompts == makd.subject_prompts(40, 0) and prompts != makd.subject_prompts(40, 1)
    tok = load_backend("toy", metrics=False, device="cpu").pipe.tokenizer
    for p in prompts:
        assert parse_caption(p)[0][0].shape == "cross"
        assert len(p.split()) <= makd.MAX_WORDS
        assert "[UNK]" in tok.tokenize(p)  # the edge has no word for the cross
    assert all(len(s.caption.split()) <= makd.MAX_WORDS for s in makd.subject_scenes(40, 0, split="train"))


def test_add_token_makes_one_new_token_and_leaves_the_rest_alone():
    base = load_backend("toy", metrics=False, device="cpu").pipe
    pipe = makd.make_edge("ti")
    tok = pipe.tokenizer
    assert tok.tokenize(makd.metaword_prompt("a red cross"))[0] == makd.METAWORD
    emb = pipe.text_encoder.get_input_embeddings().weight
    meta, init = tok.convert_tokens_to_ids(makd.METAWORD), tok.convert_tokens_to_ids(makd.INIT_WORD)
    assert meta == len(base.tokenizer)  # appended after the bundled vocabulary
    assert torch.equal(emb[meta], emb[init])
    ids = base.tokenizer(["a small red circle above a blue square"], padding="max_length", max_length=32,
                         return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(pipe.text_encoder(ids)[0], base.text_encoder(ids)[0], atol=1e-6)
    with pytest.raises(ValueError, match="already"):
        makd.add_token(pipe, makd.METAWORD, "shape")
    with pytest.raises(ValueError, match="vocabulary"):
        makd.add_token(pipe, "<other>", "hexagon")


def test_fresh_lora_leaves_the_unet_unchanged_and_counts_by_hand():
    base = load_backend("toy", metrics=False, device="cpu").pipe.unet
    pipe = makd.make_edge("lora")
    g = torch.Generator().manual_seed(0)
    z, emb = torch.randn(2, 4, 16, 16, generator=g), torch.randn(2, 32, 128, generator=g)
    t = torch.tensor([10, 500])
    with torch.no_grad():
        assert torch.allclose(pipe.unet(z, t, emb).sample, base(z, t, emb).sample, atol=1e-5)
    by_hand = sum(makd.G_RANK * (m.in_features + m.out_features) for n, m in base.named_modules()
                  if isinstance(m, torch.nn.Linear) and any(n.endswith("." + s) for s in makd.LORA_TARGETS))
    assert makd.g_trainable("lora") == by_hand == sum(p.numel() for p in pipe.trainable)
    assert makd.g_trainable("makd") == by_hand + 128 and makd.g_trainable("ti") == 128
    assert makd.g_trainable("none") == 0


def test_textual_inversion_step_moves_only_the_metaword():
    from gsemlab.training.makd import only_rows_learn

    pipe = makd.make_edge("ti")
    emb = pipe.trainable[0]
    before = emb.detach().clone()
    meta = pipe.tokenizer.convert_tokens_to_ids(makd.METAWORD)
    only_rows_learn(emb, [meta])
    opt = torch.optim.AdamW([emb], lr=1e-2, weight_decay=0.0)
    ids = pipe.tokenizer([makd.metaword_prompt("a red cross")], padding="max_length", max_length=32,
                         return_tensors="pt").input_ids
    z = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    loss = pipe.unet(z, torch.tensor([300]), pipe.text_encoder(ids)[0]).sample.pow(2).mean()
    loss.backward()
    opt.step()
    changed = (emb.detach() != before).any(1)
    assert changed[meta] and int(changed.sum()) == 1


def test_edge_none_is_the_bundled_model():
    prompts = makd.subject_prompts(2, 5)
    base = load_backend("toy", metrics=False, device="cpu").pipe
    assert np.array_equal(makd.generate(makd.load_edge("none"), prompts, 3), makd.generate(base, prompts, 3))


def test_bundled_weights_load_and_the_cloud_draws_crosses():
    prompts = makd.subject_prompts(8, 9)
    images = makd.generate(makd.load_cloud(), prompts, 4)
    assert images.shape == (8, 64, 64, 3) and images.dtype == np.uint8
    assert makd.subject_found(images, prompts).mean() >= 0.5  # the cloud knows the subject
    for method in ("ti", "lora", "makd"):
        pipe = makd.load_edge(method)
        assert not any(p.requires_grad for p in pipe.unet.parameters())
    clf = makd.subject_classifier()
    assert clf.config["classes"] == list(SHAPES + NEW_SHAPES)
    masks = [shape_mask(s, 30.0, 32.0, 10.0) for s in SHAPES + NEW_SHAPES]
    assert clf.predict(masks) == list(SHAPES + NEW_SHAPES)


def test_subject_found_on_renders():
    scenes = makd.subject_scenes(12, 2)
    from gsemlab.toyworld.world import render_batch

    renders = render_batch(scenes)
    prompts = [s.caption for s in scenes]
    assert makd.subject_found(renders, prompts).mean() >= 0.9
    plain = render_batch(sample_scenes(12, seed=2, split="test"))  # no cross in them
    assert makd.subject_found(plain, prompts).mean() <= 0.1
    with pytest.raises(ValueError, match="as many"):
        makd.subject_found(renders[:3], prompts)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "dreambooth"}, "method"),
    ({"method": "makd", "n_images": 1}, "n_images"),
    ({"method": "makd", "n_images": True}, "n_images"),
])
def test_bad_inputs_raise(kwargs, match):
    method = kwargs.pop("method")
    with pytest.raises(ValueError, match=match):
        makd.evaluate_makd(method, **kwargs)
    with pytest.raises(ValueError, match="method"):
        makd.make_edge("cloud")
    with pytest.raises(ValueError, match="prompts"):
        makd.generate_latents(makd.load_edge("none"), "a red cross", 0)
