"""The grounding loss used to train the toy UNet (gsemlab.training.attnloss), against hand values."""
import numpy as np
import torch

from gsemlab.guidance import install_grounding
from gsemlab.toyworld.world import Scene, SceneObject, object_mask
from gsemlab.training import attnloss, sd


def _scene():
    objs = (SceneObject("circle", "red", "large", 20.0, 20.0),
            SceneObject("square", "blue", "small", 44.0, 44.0))
    caption = "a large red circle floating slowly above a small blue square on a white background"
    words = {"large": (0,), "red": (0,), "circle": (0,), "above": (0, 1), "small": (1,), "blue": (1,),
             "square": (1,), "white": "background", "background": "background"}
    return Scene(objs, "white", "above", caption, words)


def test_token_regions_by_hand():
    s = _scene()
    tokens = s.caption.split()
    code = attnloss.token_regions(s, tokens, 32)
    expect = {"a": 0, "large": 1, "red": 1, "circle": 1, "floating": 1, "slowly": 1, "above": 3,
              "small": 2, "blue": 2, "square": 2, "on": 0, "white": 8, "background": 8}
    assert code[0] == 0 and code.shape == (32,)  # [CLS]
    assert [int(c) for c in code[1:len(tokens) + 1]] == [expect[t] for t in tokens]
    assert not code[len(tokens) + 1:].any()


def test_region_masks_are_area_fractions_and_background_complement():
    s = _scene()
    objs = torch.from_numpy(attnloss.object_fractions(s))[None]
    frac = object_mask(s.objects[0]).reshape(16, 4, 16, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(objs[0, 0].numpy() / 255, frac, atol=1 / 510)
    codes = torch.tensor([[0, 1, 2, 3, 8]], dtype=torch.uint8)
    m = attnloss.region_masks(codes, objs)[0].numpy()
    f0, f1 = objs[0, 0].numpy() / 255, objs[0, 1].numpy() / 255
    np.testing.assert_allclose(m[0], 0)
    np.testing.assert_allclose(m[1], f0, atol=1e-6)
    np.testing.assert_allclose(m[3], np.minimum(f0 + f1, 1), atol=1e-6)
    np.testing.assert_allclose(m[4], 1 - np.minimum(f0 + f1, 1), atol=1e-6)


def test_grounding_loss_closed_form():
    # one layer at 16x16, one supervised token whose region is the left half
    mask = torch.zeros(1, 2, 16, 16)
    mask[0, 1, :, :8] = 1
    keep = torch.tensor([[False, True]])
    inside = torch.zeros(1, 256, 2)
    inside[0, :, 1] = mask[0, 1].flatten() * 0.5
    assert attnloss.grounding_loss([inside], mask, keep, pixel_weight=0).item() == 0.0
    uniform = torch.full((1, 256, 2), 0.5)  # half of the mass inside: token term (1 - 1/2)**2
    assert abs(attnloss.grounding_loss([uniform], mask, keep, pixel_weight=0).item() - 0.25) < 1e-6
    # pixel term: BCE of p = 0.5 against any mask is log 2
    both = attnloss.grounding_loss([uniform], mask, keep, pixel_weight=1.0).item()
    assert abs(both - (0.25 + np.log(2))) < 1e-5


def test_grounding_processor_leaves_the_unet_output_unchanged():
    torch.manual_seed(0)
    unet = sd.build_unet().eval()
    z, t, ctx = torch.randn(2, 4, 16, 16), torch.tensor([10, 700]), torch.randn(2, 32, 128)
    with torch.no_grad():
        ref = unet(z, t, ctx).sample
        procs = install_grounding(unet)
        sink = []
        for p in procs:
            p.sink = sink
        out = unet(z, t, ctx).sample
    assert torch.allclose(out, ref, atol=1e-5)
    assert len(sink) == len(procs) == 7
    assert {p.shape[1] for p in sink} == {256, 64, 16}
    for p in sink:
        torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[:2]))


def test_bad_inputs_raise_clear_errors():
    import pytest

    with pytest.raises(ValueError, match="cells"):
        attnloss.object_fractions(_scene(), cells=5)
    with pytest.raises(ValueError, match="codes must be"):
        attnloss.region_masks(torch.zeros(2, 4, dtype=torch.uint8),
                              torch.zeros(3, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="at least one layer"):
        attnloss.grounding_loss([], torch.zeros(1, 2, 16, 16), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="pixel_weight"):
        attnloss.grounding_loss([torch.full((1, 256, 2), 0.5)], torch.zeros(1, 2, 16, 16),
                                torch.ones(1, 2, dtype=torch.bool), pixel_weight=-1)
