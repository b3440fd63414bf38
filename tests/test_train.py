"""The retraining recipe (python -m gsemlab.training) end to end on a tiny cache: every stage the
book's toy pipeline comes from runs, checkpoints, resumes, and assembles a working pipeline."""
import json

import numpy as np
import pytest
import torch

from gsemlab.guidance import GroundingProcessor
from gsemlab.toyworld.world import sample_scenes
from gsemlab.training import attnloss, sd
from gsemlab.training.autoencoder import stage_decoder, stage_vae
from gsemlab.training.common import load_ckpt, stage_data
from gsemlab.training.unet import build_pipeline, stage_unet, unet_history


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("toy-cache"))
    stage_data(cache, n=24)
    stage_vae(cache, steps=3, minutes=5, batch=4)
    stage_decoder(cache, steps=2, minutes=5, batch=4)
    stage_unet(cache, steps=3, minutes=5, batch=4)
    return cache


def test_stages_finish_and_record_their_budget(tiny_cache):
    for name, steps in (("vae", 3), ("decoder", 2), ("unet", 3)):
        ck = load_ckpt(f"{tiny_cache}/{name}.pt")
        assert ck["done"] and ck["step"] == steps and ck["elapsed"] > 0
    assert np.isfinite(load_ckpt(f"{tiny_cache}/vae.pt")["scaling_factor"])


def test_token_regions_file_matches_the_scenes(tiny_cache):
    reg = np.load(f"{tiny_cache}/train_regions.npz")
    with open(f"{tiny_cache}/train_captions.json") as f:
        captions = json.load(f)
    scenes = sample_scenes(len(captions), seed=0, split="train")
    assert reg["codes"].shape == (24, sd.MAX_LENGTH) and reg["objects"].shape == (24, 3, 16, 16)
    tok = sd.build_tokenizer()
    for i in (0, 7, 23):
        np.testing.assert_array_equal(reg["codes"][i],
                                      attnloss.token_regions(scenes[i], tok.tokenize(captions[i]), 32))
        # every shape word of the caption is supervised on exactly its own object's bit
        for j, t in enumerate(tok.tokenize(captions[i])):
            for k, o in enumerate(scenes[i].objects):
                if t == o.shape:
                    assert reg["codes"][i][j + 1] == 1 << k


def test_unet_stage_resumes_only_for_a_larger_budget(tiny_cache):
    stage_unet(tiny_cache, steps=3, minutes=5, batch=4)  # finished: nothing to do
    assert load_ckpt(f"{tiny_cache}/unet.pt")["step"] == 3
    stage_unet(tiny_cache, steps=5, minutes=5, batch=4)
    assert load_ckpt(f"{tiny_cache}/unet.pt")["step"] == 5
    with open(f"{tiny_cache}/unet.log") as f:
        log = f.read()
    assert "start at step 3" in log and "grounding weight 0.02 (pixel term 0.5)" in log
    # the resume with the same settings is the same run in the exported history
    assert unet_history(tiny_cache) == [
        {"from_step": 0, "from_minute": 0.0, "settings": "grounding weight 0.02 (pixel term 0.5)"}]


def test_recipe_assembles_a_pipeline(tiny_cache):
    pipe = build_pipeline(tiny_cache)
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(0),
               output_type="np").images
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()
    # the grounding processors are a training device only: the pipeline has diffusers' own
    assert not any(isinstance(p, GroundingProcessor) for p in pipe.unet.attn_processors.values())


def test_command_line_names_every_stage(capsys):
    from gsemlab.training.cli import DEFAULTS, STAGES, main

    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m gsemlab.training")
    for stage in STAGES + ("all",):
        assert stage in text
    assert set(DEFAULTS) == set(STAGES) - {"data", "export"}


def test_run_time_code_does_not_import_training():
    """gsemlab.models, toyworld and guidance load without gsemlab.training (in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys, gsemlab.models, gsemlab.guidance, gsemlab.toyworld.nets, gsemlab.toyworld.scoring; "
            "print(sorted(m for m in sys.modules if m.startswith('gsemlab.training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
