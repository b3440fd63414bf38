"""Inputs are checked at the door: a clear TypeError / ValueError naming the argument, before any model runs.

The toy backend's pipeline is wrapped so that calling it (generating, inpainting) fails the test: every
error below must come from the checks, not from deep inside torch or numpy, and without spending the
25-step generation first.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from gsemlab.channel import bsc, drop_users, rayleigh_gains
from gsemlab.gsemcom import GSemCom
from gsemlab.models import load_backend

PROMPT = "a small red circle above a large blue square"


class _NoCall:
    """Stands in for a pipeline: its attributes are the real one's, but running it fails the test."""

    def __init__(self, pipe):
        self._pipe = pipe

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, *args, **kwargs):
        raise AssertionError("a model ran before the input was checked")


@pytest.fixture(scope="module")
def toy():
    return load_backend("toy", device="cpu", metrics=False)


@pytest.fixture(scope="module")
def guarded(toy):
    backend = dataclasses.replace(toy, pipe=_NoCall(toy.pipe), inpaint=_NoCall(toy.inpaint),
                                  distance_fn=lambda a, b: 0.0, quality_fn=lambda img: 5.0)
    return GSemCom(backend, t_max=0.5)


LONG = " ".join(["red circle"] * 16)  # 32 words: fits CLIP's 77, not the toy tokenizer's 30 text positions


@pytest.mark.parametrize("call, error, match", [
    (lambda gs: gs.transmit(PROMPT, -5), ValueError, "budget"),
    (lambda gs: gs.transmit(PROMPT, 0), ValueError, "budget"),
    (lambda gs: gs.transmit(PROMPT, 0.5), ValueError, "budget must buy at least one pixel"),
    (lambda gs: gs.transmit(PROMPT, float("nan")), ValueError, "budget"),
    (lambda gs: gs.transmit(PROMPT, "100"), TypeError, "budget"),
    (lambda gs: gs.encode(PROMPT, budget=0.5), ValueError, "budget"),
    (lambda gs: gs.transmit("the a", 100), ValueError, "no word outside class X"),
    (lambda gs: gs.generate("the a"), ValueError, "no word outside class X"),
    (lambda gs: gs.transmit(LONG, 100), ValueError, "prompt has 32 tokens.*holds 30"),
    (lambda gs: gs.generate(" ".join(["red"] * 80)), ValueError, "prompt has 80 tokens"),
    (lambda gs: gs.transmit(PROMPT, 100, seed="1"), TypeError, "seed must be an integer"),
    (lambda gs: gs.transmit(PROMPT, 100, seed=-1), ValueError, "seed must be an integer >= 0"),
    (lambda gs: gs.generate(PROMPT, seed=1.5), TypeError, "seed"),
    (lambda gs: gs.transmit(123, 100), TypeError, "prompt must be a str"),
    (lambda gs: gs.transmit(PROMPT, 100, channel="bsc"), TypeError, "channel must be callable"),
    (lambda gs: gs.traditional(PROMPT, seed="0"), TypeError, "seed"),
    (lambda gs: gs.local_aigc("  "), ValueError, "prompt must contain"),
    (lambda gs: gs.fully_masked(PROMPT, seed=True), TypeError, "seed"),
    (lambda gs: gs.decode(b"not a packet"), TypeError, "packet must be a gsemlab.packing.Packet"),
    (lambda gs: gs.receive(b"x", PROMPT, seed="2"), TypeError, "seed"),
    (lambda gs: gs.with_options(fill="median"), ValueError, "fill must be"),
    (lambda gs: gs.with_options(nonsense=1), TypeError, "unknown option"),
    (lambda gs: gs.with_options(decode_steps=0), ValueError, "config.decode_steps must be an integer >= 1"),
    (lambda gs: gs.with_options(cluster="yes"), TypeError, "cluster must be a bool"),
    (lambda gs: gs.with_options(guidance_scale=-1), ValueError, "guidance_scale"),
    (lambda gs: gs.with_options(ranking_xi=1.5), ValueError, "xi"),
    (lambda gs: gs.with_options(profile_memory="no"), TypeError, "profile_memory"),
    (lambda gs: gs.with_options(t_max=float("inf")), ValueError, "t_max"),
])
def test_gsemcom_rejects_bad_input_before_any_model_runs(guarded, call, error, match):
    with pytest.raises(error, match=match):
        call(guarded)


def test_words_outside_the_toy_vocabulary_warn_and_name_the_word(toy):
    with pytest.warns(UserWarning, match=r"outside the toy backend's vocabulary.*'zebra'"):
        toy.check_prompt("a small zebra circle")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ShapesWorld caption is all in the vocabulary: no warning
        assert toy.check_prompt(PROMPT) == PROMPT


@pytest.mark.parametrize("a, b, error, match", [
    (np.zeros((64, 64, 3), np.uint8), np.zeros((32, 32, 3), np.uint8), ValueError, "same size"),
    (np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64), np.uint8), ValueError, r"shape \(H, W, 3\)"),
    (np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 3), np.uint8), TypeError, "uint8"),
    ([[0]], np.zeros((64, 64, 3), np.uint8), TypeError, "PIL image or a uint8"),
])
def test_distance_checks_its_images(guarded, a, b, error, match):
    with pytest.raises(error, match=match):
        guarded.backend.distance(a, b)


def test_quality_checks_its_image(guarded):
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        guarded.backend.quality(np.zeros((64, 64, 4), np.uint8))


@pytest.mark.parametrize("device, error, match", [
    ("cpux", ValueError, "device must name a torch device"),
    (3, TypeError, "device must be None, a str"),
    pytest.param("cuda", ValueError, "is not available", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="a CUDA GPU is present")),
    pytest.param("cuda:7", ValueError, "not available", marks=pytest.mark.skipif(
        torch.cuda.device_count() > 7, reason="this machine has 8 GPUs")),
])
def test_load_backend_checks_the_device_before_loading(device, error, match):
    with pytest.raises(error, match=match):
        load_backend("toy", device=device)


@pytest.mark.parametrize("call", [
    lambda: drop_users(3, rng="1"),
    lambda: rayleigh_gains([100.0, 200.0], rng="1"),
    lambda: rayleigh_gains([100.0], rng=1.5),
    lambda: bsc(b"abc", 0.1, rng="0"),
])
def test_channel_seeds_go_through_one_check(call):
    with pytest.raises(TypeError, match="rng must be None, an integer seed >= 0"):
        call()


def test_channel_accepts_every_documented_rng():
    for rng in (None, 0, np.int64(3), [4, 5], np.random.default_rng(1), np.random.SeedSequence(2)):
        assert rayleigh_gains([100.0], rng=rng).shape == (1,)
    # a sequence of seeds is numpy's own: the same stream as default_rng([4, 5])
    assert rayleigh_gains([100.0], rng=[4, 5]) == rayleigh_gains([100.0], rng=np.random.default_rng([4, 5]))
    with pytest.raises(ValueError, match="rng must be an integer >= 0"):
        rayleigh_gains([100.0], rng=-1)
