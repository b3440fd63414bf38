"""gsemlab.align (DeKA-g T-KA): CALA against peft's LoRA and per-group LoRAs, the codec, the conditions,
the parameter counts, and the training stages on a tiny cache."""

from __future__ import annotations

import math

import pytest
import torch
from peft import LoraConfig, inject_adapter_in_model
from torch import nn

import gsemlab.align as al
from gsemlab.align.codec import CONV_NAMES
from gsemlab.channel.fading import QAM64_POINTS


class _Const(nn.Module):
    def __init__(self, weights):
        super().__init__()
        self.w = weights

    def forward(self, c):
        return self.w(c) if callable(self.w) else self.w.expand(c.shape[0], -1)


def _conv_pair(rank, seed=0):
    torch.manual_seed(seed)
    base = nn.Conv2d(5, 7, 3, 2, 1)
    peft_model = inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=["0"]),
                                         nn.Sequential(nn.Conv2d(5, 7, 3, 2, 1)))
    peft_model[0].base_layer.load_state_dict(base.state_dict())
    return base, peft_model


def test_cala_with_a_constant_gate_is_plain_lora():
    base, peft_model = _conv_pair(rank=3)
    ctx = al.ConditionContext()
    cala = al.CALAConv2d(base, 3, ctx, gate=_Const(torch.ones(1, 3)))
    with torch.no_grad():
        cala.lora_A.weight.normal_()
        cala.lora_B.weight.normal_()
        peft_model[0].lora_A["default"].weight.copy_(cala.lora_A.weight)
        peft_model[0].lora_B["default"].weight.copy_(cala.lora_B.weight)
    x = torch.randn(4, 5, 9, 9)
    with al.conditions(ctx, torch.zeros(4, 3)):
        torch.testing.assert_close(cala(x), peft_model(x))


def test_cala_with_a_one_hot_gate_is_one_lora_per_group():
    torch.manual_seed(1)
    base = nn.Conv2d(4, 6, 3, 1, 1)
    ctx = al.ConditionContext()
    # rank 4 = two groups of two components; the gate switches on the group named by c[:, 0]
    cala = al.CALAConv2d(base, 4, ctx, gate=_Const(lambda c: torch.cat([1 - c[:, :1], 1 - c[:, :1],
                                                                        c[:, :1], c[:, :1]], dim=1)))
    with torch.no_grad():
        cala.lora_A.weight.normal_()
        cala.lora_B.weight.normal_()
    x = torch.randn(6, 4, 8, 8)
    group = torch.tensor([0, 1, 0, 1, 1, 0])
    with al.conditions(ctx, torch.stack([group.float(), torch.zeros(6), torch.zeros(6)], dim=1)):
        out = cala(x)
    a, b = cala.lora_A.weight, cala.lora_B.weight
    for j in range(2):  # the LoRA of group j by hand: components 2j and 2j + 1
        sl = slice(2 * j, 2 * j + 2)
        ref = base(x) + nn.functional.conv2d(nn.functional.conv2d(x, a[sl], padding=1), b[:, sl])
        torch.testing.assert_close(out[group == j], ref[group == j], rtol=1e-4, atol=1e-5)


def test_cala_starts_as_the_frozen_layer_and_needs_conditions():
    base = nn.Conv2d(3, 3, 3, 1, 1)
    ctx = al.ConditionContext()
    cala = al.CALAConv2d(base, 2, ctx)
    x = torch.randn(2, 3, 5, 5)
    with al.conditions(ctx, torch.rand(2, 3)):
        torch.testing.assert_close(cala(x), base(x))
        assert torch.allclose(cala.gate(torch.rand(2, 3)), torch.ones(2, 2))
    with pytest.raises(RuntimeError, match="conditions"):
        cala(x)
    assert not any(p.requires_grad for p in cala.base.parameters())


def test_parameter_counts_by_hand():
    full = al.make_method("full-ft").trainable
    codec = al.LatentJSCC()
    convs = [codec.get_submodule(n) for n in CONV_NAMES]
    lora = sum(al.RANK * (c.in_channels * c.kernel_size[0] * c.kernel_size[1] + c.out_channels) for c in convs)
    assert al.make_method("lora").trainable == lora
    gate = al.Gate(3, al.RANK)
    assert al.make_method("cala").trainable == lora + len(convs) * sum(p.numel() for p in gate.parameters())
    assert al.make_method("no-ka").trainable == 0
    assert full == sum(p.numel() for p in codec.parameters())
    assert al.make_method("cala").trainable <= 0.05 * full  # the budget


@pytest.mark.parametrize("rate, k", [(1 / 8, 512), (1 / 16, 256), (1 / 32, 128)])
def test_codec_sends_the_rate_on_the_64qam_grid(rate, k):
    torch.manual_seed(2)
    codec = al.LatentJSCC()
    sym = codec.encode(torch.randn(3, 4, 16, 16), rate)
    assert sym.shape == (3, k)
    d = (sym[..., None] - QAM64_POINTS.to(sym.dtype)).abs().min(dim=-1).values
    assert d.max().item() < 1e-5
    out = codec(torch.randn(3, 4, 16, 16), al.Condition(rate, 10.0, 100e-9), generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 4, 16, 16)


def test_condition_vector_normalises_each_part():
    v = al.Condition(1 / 8, 20.0, 1e-6).vector()
    assert v[0] == pytest.approx(1.0) and v[1] == pytest.approx(1.0) and v[2] == pytest.approx(1.0)
    assert al.Condition(1 / 32, 0.0, 1e-8).vector() == pytest.approx([math.log2(2) / 3, 0.0, 0.0])


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"rate": 1 / 64, "snr_db": 10.0, "delay_spread_s": 1e-7}, ValueError, "rate"),
    ({"rate": 1 / 8, "snr_db": float("nan"), "delay_spread_s": 1e-7}, ValueError, "snr_db"),
    ({"rate": 1 / 8, "snr_db": float("inf"), "delay_spread_s": 1e-7}, ValueError, "snr_db"),
    ({"rate": 1 / 8, "snr_db": 10.0, "delay_spread_s": -1e-9}, ValueError, "delay_spread_s"),
    ({"rate": 1 / 8, "snr_db": "10", "delay_spread_s": 1e-7}, TypeError, "snr_db"),
])
def test_bad_conditions_raise_before_any_model_runs(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        al.check_condition(**kwargs)
    with pytest.raises(exc, match=match):
        al.evaluate("cala", **kwargs)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        al.make_method("dora")
    with pytest.raises(ValueError, match="method"):
        al.evaluate("dora", snr_db=10.0, rate=1 / 8, delay_spread_s=1e-7)


def test_training_stages_run_on_a_tiny_cache(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from gsemlab.training import align as ta
    from gsemlab.training import channel_diffusion as tcd

    monkeypatch.setattr(tcd, "N_IMAGES", 8)
    monkeypatch.setattr(ta, "N_SUBJECT", 8)
    monkeypatch.setattr(ta, "subject_batch", lambda n, seed: (torch.randn(n, 4, 16, 16), None, ()))
    cache = str(tmp_path)
    ta.stage_pretrain(cache, 2, 5, 4)
    for stage in ta.ADAPT_STAGES:
        ta.stage_adapt(cache, 2, 5, 4, stage=stage)
    info = ta.export(cache, str(tmp_path / "out"))
    assert info["align-cala"]["trainable"] == al.make_method("cala").trainable
    for method in ("lora", "cala"):
        keys = load_file(str(tmp_path / "out" / f"{method}.safetensors")).keys()
        assert keys and all("lora_" in k or "gate" in k for k in keys)
    model = al.make_method("cala", load_file(str(tmp_path / "out" / "pretrained.safetensors")))
    assert not model.codec.load_state_dict(load_file(str(tmp_path / "out" / "cala.safetensors")),
                                           strict=False).unexpected_keys
