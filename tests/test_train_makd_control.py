"""The MAKD and ControlNet recipes (python -m gsemlab.training makd-* / control-*) on a tiny cache: every stage
runs, records its budget, and exports weights that the run-time modules load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gsemlab.training import control as tc
from gsemlab.training import makd as tm
from gsemlab.training.common import load_ckpt


@pytest.fixture(scope="module")
def makd_cache(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("makd-cache"))
    mp = pytest.MonkeyPatch()
    mp.setattr(tm, "N_DATA", 8)
    mp.setattr(tm, "N_DISTIL", 4)
    tm.stage_cloud(cache, steps=2, minutes=5, batch=2)
    for stage in tm.EDGE_STAGES:
        tm.stage_edge(cache, steps=2, minutes=5, batch=2, stage=stage)
    tm.stage_shapes(cache, steps=2, minutes=5, batch=8)
    yield cache
    mp.undo()


def test_makd_stages_finish_and_export(makd_cache, tmp_path):
    from safetensors.torch import load_file

    from gsemlab.align import makd

    for name in ("makd-cloud", *tm.EDGE_STAGES, "shape_classifier_cross"):
        ck = load_ckpt(f"{makd_cache}/{name}.pt")
        assert ck["done"] and ck["step"] == 2
    meta = load_ckpt(f"{makd_cache}/makd-ti.pt")["metaword"]
    base = makd.make_edge("ti").text_encoder.get_input_embeddings().weight[-1]
    assert meta.shape == (128,) and not torch.equal(meta, base)  # the metaword moved from its start
    info = tm.export(makd_cache, str(tmp_path))
    assert info["makd-makd"]["trainable"] == makd.g_trainable("makd")
    lora = load_file(str(tmp_path / "makd.safetensors"))
    pipe = makd.make_edge("makd", load_file(str(tmp_path / "metaword.safetensors"))["metaword"], lora)
    assert len(pipe.trainable) == len(lora)
    cloud = load_file(str(tmp_path / "cloud.safetensors"))
    assert cloud["subject_embedding"].shape == (128,) and all(
        v.dtype == torch.float16 for k, v in cloud.items() if k != "subject_embedding")


def test_control_stage_finishes_and_exports(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from gsemlab.control.net import build_controlnet
    from gsemlab.models import load_backend

    monkeypatch.setattr(tc, "N_IMAGES", 6)
    (tmp_path / "cache").mkdir()
    cache = str(tmp_path / "cache")
    tc.stage_control(cache, steps=2, minutes=5, batch=2)
    ck = load_ckpt(f"{cache}/control.pt")
    assert ck["done"] and ck["step"] == 2
    data = tc.stage_data(cache)
    assert set(data["maps"]) == {"canny", "segmentation", "depth"} and data["maps"]["depth"].shape == (6, 64, 64)
    info = tc.export(cache, str(tmp_path / "out"))
    assert info["control"]["steps"] == 2 and "control-dqn" not in info
    net = build_controlnet(load_backend("toy", metrics=False, device="cpu").pipe)
    state = load_file(str(tmp_path / "out" / "controlnet.safetensors"))
    net.load_state_dict({k: v.float() for k, v in state.items()})  # every weight, no extra


def test_command_line_knows_the_new_families(capsys):
    from gsemlab.training.cli import CONTROL_STAGES, MAKD_STAGES, main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for stage in MAKD_STAGES + CONTROL_STAGES + ("makd-all", "control-all"):
        assert stage in text
    assert np.isclose(tm.P_UNCOND, 0.1)
