"""The retraining recipe (python -m gsemlab.toyworld.train) end to end on a tiny cache: every stage the
book's toy pipeline comes from runs, checkpoints, resumes, and assembles a working pipeline."""
import json

import numpy as np
import pytest
import torch

from gsemlab.toyworld import attnloss, sd, train
from gsemlab.toyworld.world import sample_scenes


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("toy-cache"))
    train.stage_data(cache, n=24)
    train.stage_vae(cache, steps=3, minutes=5, batch=4)
    train.stage_decoder(cache, steps=2, minutes=5, batch=4)
    train.stage_unet(cache, steps=3, minutes=5, batch=4)
    return cache


def test_stages_finish_and_record_their_budget(tiny_cache):
    for name, steps in (("vae", 3), ("decoder", 2), ("unet", 3)):
        ck = train.load_ckpt(f"{tiny_cache}/{name}.pt")
        assert ck["done"] and ck["step"] == steps and ck["elapsed"] > 0
    assert np.isfinite(train.load_ckpt(f"{tiny_cache}/vae.pt")["scaling_factor"])


def test_token_regions_file_matches_the_scenes(tiny_cache):
    reg = np.load(f"{tiny_cache}/train_regions.npz")
    captions = json.load(open(f"{tiny_cache}/train_captions.json"))
    scenes = sample_scenes(len(captions), seed=0, split="train")
    assert reg["codes"].shape == (24, sd.MAX_LENGTH) and reg["objects"].shape == (24, 3, 16, 16)
    tok = sd.build_tokenizer()
    for i in (0, 7, 23):
        np.testing.assert_array_equal(reg["codes"][i], attnloss.token_regions(scenes[i], tok.tokenize(captions[i]), 32))
        # every shape word of the caption is supervised on exactly its own object's bit
        for j, t in enumerate(tok.tokenize(captions[i])):
            for k, o in enumerate(scenes[i].objects):
                if t == o.shape:
                    assert reg["codes"][i][j + 1] == 1 << k


def test_unet_stage_resumes_only_for_a_larger_budget(tiny_cache):
    train.stage_unet(tiny_cache, steps=3, minutes=5, batch=4)  # finished: nothing to do
    assert train.load_ckpt(f"{tiny_cache}/unet.pt")["step"] == 3
    train.stage_unet(tiny_cache, steps=5, minutes=5, batch=4)
    assert train.load_ckpt(f"{tiny_cache}/unet.pt")["step"] == 5
    log = open(f"{tiny_cache}/unet.log").read()
    assert "start at step 3" in log and "grounding weight 0.02 (pixel term 0.5)" in log
    # the resume with the same settings is the same run in the exported history
    assert train.unet_history(tiny_cache) == [
        {"from_step": 0, "from_minute": 0.0, "settings": "grounding weight 0.02 (pixel term 0.5)"}]


def test_recipe_assembles_a_pipeline(tiny_cache):
    pipe = train.build_pipeline(tiny_cache)
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(0),
               output_type="np").images
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()
    # the grounding processors are a training device only: the pipeline has diffusers' own
    assert not any(isinstance(p, attnloss.GroundingProcessor) for p in pipe.unet.attn_processors.values())
