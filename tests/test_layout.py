"""Tests of gsemlab.guidance (training-free layout guidance for relations)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gsemlab.guidance import RelationGuidance, excite_loss, object_token_positions, relation_loss
from gsemlab.toyworld.world import COLOURS, SHAPES, SIZES, sample_scenes
from gsemlab.training import attnloss, sd


def test_object_token_positions_match_the_scenes_ground_truth():
    """Against attnloss.token_regions, which codes every token from the scene's own word -> object
    table: the colour/size/shape tokens coded for object 0 only (bit 1) and object 1 only (bit 2)."""
    tok = sd.build_tokenizer()
    checked = 0
    for scene in sample_scenes(300, seed=4, split="val"):
        if len(scene.objects) < 2:
            continue
        tokens = tok.tokenize(scene.caption)
        codes = attnloss.token_regions(scene, tokens, tok.model_max_length)
        attr = np.array([False] + [t in COLOURS or t in SIZES or t in SHAPES for t in tokens]
                        + [False] * (tok.model_max_length - len(tokens) - 1))
        want0, want1 = np.flatnonzero((codes == 1) & attr), np.flatnonzero((codes == 2) & attr)
        shared = [w for w in scene.words if isinstance(scene.words[w], tuple) and len(scene.words[w]) > 1
                  and w in set(COLOURS) | set(SIZES) | set(SHAPES)]
        if shared:  # a word both objects share is coded for both: no single-object ground truth
            continue
        got = object_token_positions(scene.caption, tok)
        assert got[0] == want0.tolist() and got[1] == want1.tolist(), scene.caption
        checked += 1
    assert checked > 50


def _one_hot_probs(side, pixels):
    """(side*side, len(pixels)+1) probabilities: token k+1 puts all its mass on pixel (row, col) k."""
    p = torch.zeros(side * side, len(pixels) + 1)
    for k, (r, c) in enumerate(pixels):
        p[r * side + c, k + 1] = 1.0
    return p


def test_relation_loss_closed_forms():
    # 4x4 grid, coordinates 0, 1/3, 2/3, 1: token 1 at (row 0, col 1) -> (x, y) = (1/3, 0),
    # token 2 at (row 3, col 1) -> (1/3, 1)
    p = _one_hot_probs(4, [(0, 1), (3, 1)])
    assert relation_loss([p], [1], [2], "above").item() == pytest.approx(0.0)  # s = 1 >= 0.25, p = 0
    # below: s = -1 -> (0.25 + 1)^2 + 0.5 * (0 + 1)^2
    assert relation_loss([p], [1], [2], "below").item() == pytest.approx(1.25 ** 2 + 0.5)
    # left: s = x2 - x1 = 0, perpendicular 1 -> 0.25^2 + 0.5 * 1^2
    assert relation_loss([p], [1], [2], "left").item() == pytest.approx(0.0625 + 0.5)
    # averaged over layers (a (1, L, T) layer works too): a 2x2 layer where "below" holds adds 0
    q = _one_hot_probs(2, [(1, 0), (0, 0)])  # y: 1 and 0
    assert relation_loss([p, q[None]], [1], [2], "below").item() == pytest.approx((1.25 ** 2 + 0.5) / 2)
    r = _one_hot_probs(4, [(1, 1), (2, 1)])  # y: 1/3 and 2/3 -> s = 1/3
    assert relation_loss([r], [1], [2], "above", margin=0.5).item() == pytest.approx((0.5 - 1 / 3) ** 2)
    # an object's tokens are summed before the centroid: (0, 0) and (0, 2) -> (1/3, 0); the other at
    # (1, 1): "left" has s = 2/3 >= 0.25 but the perpendicular offset 1 exceeds it: 0.5 * (1/3)^2
    two = _one_hot_probs(4, [(0, 0), (0, 2), (3, 3)])
    assert relation_loss([two], [1, 2], [3], "left").item() == pytest.approx(0.5 * (1 / 3) ** 2)


def test_relation_loss_bad_input():
    p = _one_hot_probs(4, [(0, 1), (3, 1)])
    with pytest.raises(ValueError, match="relation must be one of"):
        relation_loss([p], [1], [2], "near")
    with pytest.raises(ValueError, match="first and second"):
        relation_loss([p], [], [2], "above")
    with pytest.raises(ValueError, match="probs must hold"):
        relation_loss([], [1], [2], "above")
    with pytest.raises(ValueError, match="margin must be a number > 0"):
        relation_loss([p], [1], [2], "above", margin=0)
    with pytest.raises(ValueError, match="square number of pixels"):
        relation_loss([torch.ones(6, 3) / 6], [1], [2], "above")


def test_excite_loss_closed_forms():
    """Peaks worked by hand: shares renormalised without [CLS], 3x3 zero-padded mean, 8x8 and up only."""
    # 8x8 layer, 4 positions: [CLS] holds half of every pixel, tokens 1-3 a sixth each -> shares 1/3
    p = torch.cat([torch.full((64, 1), 0.5), torch.full((64, 3), 1 / 6)], 1)
    assert excite_loss([p], [[1]]).item() == pytest.approx((0.5 - 1 / 3) ** 2)  # interior peak 1/3
    assert excite_loss([p], [[1, 2]]).item() == pytest.approx(0.0)  # 2/3 >= 0.5
    assert excite_loss([p], [[1], [1, 2]], tau=0.9).item() == pytest.approx(
        (0.9 - 1 / 3) ** 2 + (0.9 - 2 / 3) ** 2)
    # token 1 owns a k x k block in the middle, token 2 every other pixel: the smoothed peak is
    # min(k, 3)^2 / 9
    for k, peak in ((1, 1 / 9), (2, 4 / 9), (3, 1.0)):
        img = torch.zeros(8, 8)
        img[3:3 + k, 3:3 + k] = 1.0
        q = torch.stack([torch.zeros(64), img.reshape(-1), 1 - img.reshape(-1)], 1)
        assert excite_loss([q[None]], [[1]]).item() == pytest.approx(max(0.0, 0.5 - peak) ** 2)
    # a 4x4 layer is ignored; the 8x8 layers are averaged
    small = torch.rand(16, 4)
    assert excite_loss([p, small], [[1]]).item() == pytest.approx((0.5 - 1 / 3) ** 2)
    assert excite_loss([small], [[1]]).item() == 0.0
    # second layer: token 1 holds 0.5 of 0.75 outside [CLS] -> share 2/3 >= 0.5, loss 0
    strong = torch.tensor([0.25, 0.5, 0.25, 0.0]).expand(64, 4)
    assert excite_loss([p, strong], [[1]]).item() == pytest.approx((0.5 - 1 / 3) ** 2 / 2)


def test_excite_loss_bad_input():
    p = torch.ones(64, 3) / 3
    for objects in ([], [[]], [[0]]):
        with pytest.raises(ValueError, match="objects must be non-empty"):
            excite_loss([p], objects)
    with pytest.raises(ValueError, match="tau must be a number in"):
        excite_loss([p], [[1]], tau=0)
    with pytest.raises(ValueError, match="probs must hold"):
        excite_loss([], [[1]])
    with pytest.raises(ValueError, match="square number"):
        excite_loss([torch.ones(6, 3) / 3], [[1]])


@pytest.fixture(scope="module")
def pipe():
    from gsemlab.models import load_backend

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_backend("toy", metrics=False).pipe
    torch.set_num_threads(threads)


def _guide_twice(pipe, cb, seed: int) -> None:
    """Two guidance steps at the second of 25 timesteps; the first must move the latents."""
    pipe.scheduler.set_timesteps(25)
    t = pipe.scheduler.timesteps[1]
    z = torch.randn((1, 4, 16, 16), generator=torch.Generator().manual_seed(seed))
    z1 = cb.guide(z, t)
    assert not torch.equal(z1, z)
    cb.guide(z1, t)


def test_guidance_step_lowers_the_loss(pipe):
    """One guidance step moves the latents downhill: the loss at the same timestep falls."""
    caption = "a red circle below a blue square"
    cb = RelationGuidance(pipe, caption, eta=0.5)
    assert cb.active and cb.relation == "below"
    _guide_twice(pipe, cb, seed=0)
    assert cb.losses[1] < cb.losses[0]
    # the recording processors of the pipeline are back in place
    assert not any(type(p).__name__ == "GroundingProcessor" for p in pipe.unet.attn_processors.values())


def test_callback_leaves_unrelated_captions_alone(pipe):
    z = torch.randn((1, 4, 16, 16))
    for caption, kw in (("a red circle", {"excite": 0}), ("a red circle above a blue square", {"eta": 0.0}),
                        ("a red circle above a blue square", {"steps": 0}), ("a red circle", {"steps": 0})):
        cb = RelationGuidance(pipe, caption, **kw)
        assert not cb.active
        assert cb(pipe, 0, 999, {"latents": z})["latents"] is z
    with pytest.raises(TypeError, match="pipe must be a diffusers"):
        RelationGuidance(object(), "a red circle")
    with pytest.raises(ValueError, match="eta must be a number >= 0"):
        RelationGuidance(pipe, "a red circle", eta=-1)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        RelationGuidance(pipe, "a red circle", steps=1.5)
    with pytest.raises(ValueError, match="caption names no shape"):
        RelationGuidance(pipe, "a red thing")


def test_guided_pipeline_changes_only_relation_images(pipe):
    """Through diffusers' callback: a caption without a relation gives the bare image exactly."""
    kw = {"num_inference_steps": 4, "guidance_scale": 5.0, "output_type": "np"}
    for caption, same in (("a small red circle", True), ("a red circle above a blue square", False)):
        bare = pipe(caption, generator=torch.Generator().manual_seed(0), **kw).images[0]
        cb = RelationGuidance(pipe, caption, steps=2, excite=0)
        guided = pipe(caption, generator=torch.Generator().manual_seed(0), callback_on_step_end=cb,
                      callback_on_step_end_tensor_inputs=["latents"], **kw).images[0]
        assert np.array_equal(bare, guided) == same
        assert len(cb.losses) == (0 if same else 2)


def test_excite_guides_one_object_captions(pipe):
    """With ``excite > 0`` a one-object caption is guided too, and one step lowers its excite loss."""
    cb = RelationGuidance(pipe, "a small red circle", excite=1.0, tau=0.99)
    assert cb.active and not cb.relate and cb.objects == [[2, 3, 4]]
    _guide_twice(pipe, cb, seed=1)
    assert 0 < cb.losses[1] < cb.losses[0]
    # the default: excite 0.3 on one-object captions only
    assert RelationGuidance(pipe, "a red circle").excite == 0.3
    assert RelationGuidance(pipe, "a red circle above a blue square").excite == 0.0
    with pytest.raises(ValueError, match="excite must be None or a number >= 0"):
        RelationGuidance(pipe, "a red circle", excite=-0.1)
    with pytest.raises(ValueError, match="tau must be a number in"):
        RelationGuidance(pipe, "a red circle", tau=1.5)
