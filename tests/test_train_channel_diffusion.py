"""Chapter 9's training stages on a tiny cache: they run, checkpoint, export loadable weights; the loss's
variance term is the KL divergence's (checked against torch.distributions)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch.distributions import Normal, kl_divergence

import gsemlab.channel_diffusion as cd
from gsemlab.training import channel_diffusion as tcd
from gsemlab.training.common import load_ckpt


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("cdiff-cache"))
    out = tmp_path_factory.mktemp("cdiff-out")
    mp = pytest.MonkeyPatch()
    mp.setattr(tcd, "N_IMAGES", 16)
    try:
        tcd.stage_latent(cache, steps=3, minutes=5, batch=4)
        tcd.stage_latent(cache, steps=2, minutes=5, batch=4, variant="random")
        tcd.stage_djscc(cache, steps=2, minutes=5, batch=4)
        info = tcd.export(cache, str(out))
    finally:
        mp.undo()
    return cache, out, info


def test_stages_finish_and_record_their_steps(tiny):
    cache, _, info = tiny
    for name, steps in (("cdiff", 3), ("cdiff-random", 2), ("djscc", 2)):
        ck = load_ckpt(f"{cache}/{name}.pt")
        assert ck["done"] and ck["step"] == steps and ck["elapsed"] > 0
        assert info[name]["steps"] == steps
    # a finished stage is skipped when run again
    tcd.stage_latent(cache, steps=10, minutes=5, batch=4)
    assert load_ckpt(f"{cache}/cdiff.pt")["step"] == 3


def test_exported_files_load_into_the_modules(tiny):
    _, out, info = tiny
    for variant in ("matched", "random"):
        cd.Downsampler().load_state_dict(load_file(str(out / f"down_{variant}.safetensors")))
        cd.Upsampler().load_state_dict(load_file(str(out / f"up_{variant}.safetensors")))
    cd.DeepJSCC().load_state_dict(load_file(str(out / "djscc.safetensors")))
    assert json.loads((out / "training.json").read_text())["djscc"]["steps"] == info["djscc"]["steps"] == 2


def test_variance_term_is_the_kl_without_its_mean_part():
    torch.manual_seed(0)
    mu, z = torch.randn(5), torch.randn(5)
    logvar, s2 = torch.randn(5), torch.rand(5) + 0.1
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(z, s2.sqrt()))
    mean_part = (mu - z) ** 2 / (2 * s2)
    var_term = 0.5 * (s2.log() - logvar) + logvar.exp() / (2 * s2) - 0.5  # as in latent_loss
    torch.testing.assert_close(var_term, kl - mean_part)
    # and its minimum over sigma is at sigma^2 = s^2, where it is 0
    assert torch.allclose(0.5 * (s2.log() - s2.log()) + s2 / (2 * s2) - 0.5, torch.zeros(5))
