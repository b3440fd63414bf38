"""The tiny ControlNet on the bundled UNet ([Control], Fig. 3): downsampling by the VAE's factor, zero
convolutions that leave the UNet and the pipeline unchanged before training, the control input, and a
two-step training smoke test."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionControlNetPipeline
from skimage.color import rgb2gray
from skimage.feature import canny

from gsemlab.control.maps import METHODS, extract
from gsemlab.control.net import (
    CONTROL_CHANNELS,
    build_controlnet,
    control_input,
    controlnet_pipeline,
    count_parameters,
    drop_methods,
    training_step,
    unet_with_control,
)
from gsemlab.data import TOY_SD_PATH
from gsemlab.models import load_backend
from gsemlab.toyworld import COLOURS, sample_scenes

UNET_CONFIG = json.loads((TOY_SD_PATH / "unet" / "config.json").read_text())
VAE_CONFIG = json.loads((TOY_SD_PATH / "vae" / "config.json").read_text())


@pytest.fixture(scope="module")
def pipe():
    return load_backend("toy", metrics=False, device="cpu").pipe


@pytest.fixture(scope="module")
def controlnet(pipe):
    return build_controlnet(pipe)


@pytest.fixture(scope="module")
def maps():
    out = []
    for s in sample_scenes(2, seed=4, split="test"):
        img, _ = s.render()
        out.append((s.caption, {m: extract(img, m) for m in METHODS}))
    return out


def text_embeddings(pipe, captions):
    ids = pipe.tokenizer(captions, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        return pipe.text_encoder(ids)[0]  # (B, L, D)


# ------------------------------------------------------------------------------------------ structure
def test_conditioning_embedding_downsamples_by_the_vaes_factor(controlnet):
    factor = 2 ** (len(VAE_CONFIG["block_out_channels"]) - 1)  # the toy VAE: 4 (64 px -> 16 x 16 latents)
    assert factor == 4
    emb = controlnet.controlnet_cond_embedding
    strides = [m.stride[0] for m in emb.modules() if isinstance(m, torch.nn.Conv2d)]
    assert strides.count(2) == 2 and 2 ** strides.count(2) == factor
    assert emb.conv_in.in_channels == 1 + 3 + 1 == sum(CONTROL_CHANNELS.values())
    with torch.no_grad():
        out = emb(torch.rand(2, 5, 64, 64))
    assert out.shape == (2, UNET_CONFIG["block_out_channels"][0], UNET_CONFIG["sample_size"], UNET_CONFIG["sample_size"])


def test_a_one_method_controlnet_reads_its_channels(pipe):
    assert build_controlnet(pipe, methods="depth").controlnet_cond_embedding.conv_in.in_channels == 1
    assert build_controlnet(pipe, methods=("segmentation",)).controlnet_cond_embedding.conv_in.in_channels == 3


def test_encoder_is_a_copy_and_the_outputs_are_zero_convolutions(pipe, controlnet):
    for name, value in pipe.unet.down_blocks.state_dict().items():
        torch.testing.assert_close(controlnet.down_blocks.state_dict()[name], value, rtol=0, atol=0)
    for conv in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                 controlnet.controlnet_cond_embedding.conv_out]:
        assert not conv.weight.any() and not conv.bias.any()


def test_the_same_seed_builds_the_same_controlnet(pipe, controlnet):
    again = build_controlnet(pipe, seed=0)
    for (n, a), (_, b) in zip(controlnet.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=n)
    other = build_controlnet(pipe, seed=1)
    assert not torch.equal(other.controlnet_cond_embedding.conv_in.weight,
                           controlnet.controlnet_cond_embedding.conv_in.weight)


def test_parameter_count(pipe, controlnet):
    n_unet = count_parameters(pipe.unet)
    n = count_parameters(controlnet)
    assert n == sum(t.numel() for t in controlnet.state_dict().values())
    assert 0 < n < n_unet  # the encoder half plus the zero convolutions
    encoder = sum(t.numel() for part in (pipe.unet.conv_in, pipe.unet.time_embedding, pipe.unet.down_blocks,
                                         pipe.unet.mid_block) for t in part.state_dict().values())
    extra = sum(t.numel() for part in (controlnet.controlnet_cond_embedding, controlnet.controlnet_down_blocks,
                                       controlnet.controlnet_mid_block) for t in part.state_dict().values())
    assert n == encoder + extra

    # the new parts in closed form: the embedding's 3 x 3 convolutions 5 -> 8, 8 -> 8, 8 -> 16 (stride 2),
    # 16 -> 16, 16 -> 32 (stride 2), 32 -> 32 (zero), and a 1 x 1 zero convolution per skip of the UNet
    # (widths 32, 32, 32, 96, 96, 128: conv_in, then each down block's resnet and downsampler) and the middle
    conv = lambda cin, cout, k: cin * cout * k * k + cout
    embedding = sum(conv(a, b, 3) for a, b in ((5, 8), (8, 8), (8, 16), (16, 16), (16, 32), (32, 32)))
    widths = [32, 32, 32, 96, 96, 128, 128]
    assert widths[:3] == [UNET_CONFIG["block_out_channels"][0]] * 3
    assert extra == embedding + sum(conv(c, c, 1) for c in widths) == 18_328 + 54_816
    assert n == 1_852_152  # pinned: the encoder copy (1,779,008) plus the new parts


# ------------------------------------------------------------------------------------------ untrained = no change
def test_untrained_controlnet_leaves_the_unet_output_unchanged(pipe, controlnet, maps):
    g = torch.Generator().manual_seed(0)
    captions = [c for c, _ in maps]
    z = torch.randn(2, 4, 16, 16, generator=g)
    t = torch.tensor([900, 20])
    emb = text_embeddings(pipe, captions)
    control = control_input({m: np.stack([mp[m] for _, mp in maps]) for m in METHODS})
    with torch.no_grad():
        down, mid = controlnet(z, t, encoder_hidden_states=emb, controlnet_cond=control, return_dict=False)
        plain = pipe.unet(z, t, emb).sample
        with_residuals = pipe.unet(z, t, emb, down_block_additional_residuals=down,
                                   mid_block_additional_residual=mid).sample
        through_helper = unet_with_control(pipe.unet, controlnet, z, t, emb, control)
    assert all(not r.any() for r in [*down, mid])
    torch.testing.assert_close(with_residuals, plain, rtol=0, atol=1e-6)
    torch.testing.assert_close(through_helper, plain, rtol=0, atol=1e-6)


def test_controlnet_pipeline_gives_the_plain_pipelines_image(pipe, controlnet, maps):
    caption, mp = maps[0]
    kwargs = {"height": 64, "width": 64, "num_inference_steps": 4, "guidance_scale": 5.0, "output_type": "np"}
    plain = pipe(caption, generator=torch.Generator().manual_seed(3), **kwargs).images
    cpipe = controlnet_pipeline(pipe, controlnet)
    assert isinstance(cpipe, StableDiffusionControlNetPipeline) and cpipe.unet is pipe.unet
    controlled = cpipe(caption, image=control_input(mp), generator=torch.Generator().manual_seed(3), **kwargs).images
    np.testing.assert_array_equal(controlled, plain)

    # the test can fail: a ControlNet whose zero convolution is no longer zero changes the image
    nudged = build_controlnet(pipe)
    with torch.no_grad():
        nudged.controlnet_mid_block.weight.fill_(0.05)
    other = controlnet_pipeline(pipe, nudged)(caption, image=control_input(mp),
                                              generator=torch.Generator().manual_seed(3), **kwargs).images
    assert np.abs(other - plain).max() > 1e-3


def test_extract_works_on_a_generated_image(pipe):
    img = (pipe("a large red circle above a small blue square", height=64, width=64, num_inference_steps=4,
                guidance_scale=5.0, generator=torch.Generator().manual_seed(0), output_type="np").images[0]
           * 255).round().astype(np.uint8)
    for m in METHODS:
        x = extract(img, m)
        assert x.shape == (64, 64) and x.dtype == np.uint8
    np.testing.assert_array_equal(extract(img, "canny"), np.where(canny(rgb2gray(img), sigma=1.0), 255, 0))


# ------------------------------------------------------------------------------------------ control input
def test_control_input_by_hand():
    e = np.zeros((64, 64), np.uint8)
    e[3, 4] = 255
    seg = np.zeros((64, 64), np.uint8)
    seg[10, 11] = 1  # red
    seg[12, 13] = 6  # orange
    dep = np.full((64, 64), 51, np.uint8)
    x = control_input({"canny": e, "segmentation": seg, "depth": dep})
    assert x.shape == (1, 5, 64, 64) and x.dtype == torch.float32
    assert x[0, 0, 3, 4] == 1 and x[0, 0].sum() == 1
    torch.testing.assert_close(x[0, 1:4, 10, 11], torch.tensor(COLOURS["red"], dtype=torch.float32) / 255)
    torch.testing.assert_close(x[0, 1:4, 12, 13], torch.tensor(COLOURS["orange"], dtype=torch.float32) / 255)
    assert x[0, 1:4].abs().sum() == pytest.approx(sum(COLOURS["red"] + COLOURS["orange"]) / 255, rel=1e-6)
    torch.testing.assert_close(x[0, 4], torch.full((64, 64), 0.2))
    only_depth = control_input({"depth": dep})  # methods not sent are zeros
    assert not only_depth[0, :4].any() and torch.equal(only_depth[0, 4], x[0, 4])
    assert control_input({"depth": dep}, methods="depth").shape == (1, 1, 64, 64)
    assert control_input({"depth": np.stack([dep, dep, dep])}).shape == (3, 5, 64, 64)


def test_drop_methods():
    x = torch.rand(64, 5, 8, 8) + 0.1
    assert torch.equal(drop_methods(x, METHODS, 0.0, generator=0), x)
    assert not drop_methods(x, METHODS, 1.0, generator=0).any()
    y = drop_methods(x, METHODS, 0.5, generator=0)
    for chans in ([0], [1, 2, 3], [4]):  # each method's channels are dropped together, or kept
        kept = (y[:, chans] == x[:, chans]).flatten(1).all(1)
        gone = (y[:, chans] == 0).flatten(1).all(1)
        assert bool((kept ^ gone).all()) and 10 < int(gone.sum()) < 54


# ------------------------------------------------------------------------------------------ training step
def test_two_training_steps(pipe, maps):
    net = build_controlnet(pipe)
    unet_before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    zero_conv = net.controlnet_mid_block.weight.detach().clone()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 4, 16, 16, generator=g)
    emb = text_embeddings(pipe, [c for c, _ in maps])
    control = drop_methods(control_input({m: np.stack([mp[m] for _, mp in maps]) for m in METHODS}), METHODS, 0.3,
                           generator=1)
    losses = [training_step(net, pipe.unet, pipe.scheduler, opt, latents, emb, control, generator=g)
              for _ in range(2)]
    assert all(np.isfinite(losses)) and all(0 < v < 10 for v in losses)
    assert not torch.equal(net.controlnet_mid_block.weight, zero_conv)  # the zero convolution learned
    for k, v in pipe.unet.state_dict().items():  # the locked UNet did not move
        assert torch.equal(v, unet_before[k]), k
    assert count_parameters(pipe.unet, trainable_only=True) == 0
    with pytest.raises(ValueError, match="ControlNet's parameters only"):
        training_step(net, pipe.unet, pipe.scheduler, torch.optim.SGD(pipe.unet.parameters(), lr=0.1), latents,
                      emb, control)
    net.eval()
    pipe.unet.requires_grad_(True)  # leave the shared fixture as it was


# ------------------------------------------------------------------------------------------ errors
def test_bad_inputs_raise(pipe, controlnet):
    with pytest.raises(ValueError, match="downsample by 2\\*\\*1 = 2, the VAE by 4"):
        build_controlnet(pipe, embedding_channels=(8, 16))
    with pytest.raises(ValueError, match="positive integers"):
        build_controlnet(pipe, embedding_channels=(8, 0, 16))
    with pytest.raises(TypeError, match="UNet2DConditionModel"):
        build_controlnet(object())
    with pytest.raises(ValueError, match="unknown control method 'hed'"):
        build_controlnet(pipe, methods=("canny", "hed"))
    with pytest.raises(ValueError, match="distinct"):
        build_controlnet(pipe, methods=("canny", "canny"))
    with pytest.raises(ValueError, match="at least one"):
        build_controlnet(pipe, methods=())
    e = np.zeros((64, 64), np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        control_input({"canny": e.astype(float)})
    with pytest.raises(ValueError, match=r"shape \(64, 64\)"):
        control_input({"depth": np.zeros((32, 32), np.uint8)})
    with pytest.raises(ValueError, match="does not read"):
        control_input({"canny": e}, methods="depth")
    with pytest.raises(ValueError, match="one B for all"):
        control_input({"canny": e, "depth": np.stack([e, e])})
    with pytest.raises(TypeError, match="non-empty dict"):
        control_input({})
    with pytest.raises(ValueError, match="probability"):
        drop_methods(torch.zeros(1, 5, 4, 4), METHODS, 1.5)
    with pytest.raises(ValueError, match=r"\(B, 5, H, W\)"):
        drop_methods(torch.zeros(1, 3, 4, 4), METHODS, 0.5)
    with pytest.raises(TypeError, match="ControlNetModel"):
        controlnet_pipeline(pipe, pipe.unet)
