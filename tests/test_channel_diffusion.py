"""Chapter 10's system: the SNR-to-timestep match, the modules' shapes and rates, clear errors, the bundle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

import gsemlab.channel_diffusion as cd
from gsemlab.data import TOY_SD_PATH
from gsemlab.diffusion.process import forward_noise


@pytest.fixture(scope="module")
def scheduler():
    return DDIMScheduler.from_pretrained(TOY_SD_PATH / "scheduler")


@pytest.mark.parametrize("snr_db", [0.0, 3.3, 10.0, 17.0, 20.0])
def test_matched_timestep_hits_the_snr_exactly(scheduler, snr_db):
    t = cd.matched_timestep(snr_db, scheduler)
    abar = cd.alpha_bar_at(t, scheduler)
    # closed form: abar / (1 - abar) = SNR, i.e. abar = SNR / (1 + SNR)
    snr = 10 ** (snr_db / 10)
    assert abar == pytest.approx(snr / (1 + snr), rel=1e-9)
    assert cd.alpha_bar_for_snr(snr_db) == pytest.approx(snr / (1 + snr), rel=1e-12)
    # t* lies between the two grid steps that bracket the SNR
    a = scheduler.alphas_cumprod.double().numpy()
    lo = math.floor(t)
    assert a[lo] >= abar >= a[min(lo + 1, a.size - 1)]


def test_alpha_bar_at_integer_steps_is_the_scheduler_grid(scheduler):
    a = scheduler.alphas_cumprod.double().numpy()
    for t in (0, 1, 17, 500, 998, 999):
        assert cd.alpha_bar_at(float(t), scheduler) == pytest.approx(a[t], rel=1e-9)


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 10.0, 20.0])
def test_rescaled_received_latent_has_the_target_snr_within_0_1_db(scheduler, snr_db):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(256, 4, 16, 16, generator=g)
    snr = 10 ** (snr_db / 10)
    z_hat = z + torch.randn(z.shape, generator=g) / math.sqrt(snr)  # the received latent, noise 1/SNR
    x_t, t = cd.to_diffusion_input(z_hat, snr_db, scheduler)
    abar = cd.alpha_bar_at(t, scheduler)
    signal = math.sqrt(abar) * z
    measured = 10 * math.log10(signal.pow(2).mean().item() / (x_t - signal).pow(2).mean().item())
    assert abs(measured - snr_db) < 0.1
    # the variance is preserved: x_t has unit variance like the diffusion's x_t
    assert x_t.var().item() == pytest.approx(1.0, abs=0.02)
    # and its noise is the forward process's at t*: same as forward_noise at the nearest grid step, up to
    # the tiny difference between t* and that step
    t_grid = round(t)
    ref = forward_noise(z, torch.full((z.shape[0],), t_grid), scheduler, noise=torch.randn(z.shape, generator=g))
    assert x_t.var().item() == pytest.approx(ref.var().item(), abs=0.03)


def test_grid_rule_leaves_a_mismatch_that_the_exact_rule_does_not(scheduler):
    sched = DDIMScheduler.from_config(scheduler.config)
    sched.set_timesteps(20)
    grid = sched.timesteps.numpy()
    snrs = np.array([0.0, 5.0, 10.0, 15.0, 20.0])
    t_exact = cd.matched_timestep(snrs, scheduler)
    t_grid = cd.grid_timestep(snrs, scheduler, grid)
    assert np.all(np.isin(t_grid, grid)) and np.all(t_grid <= t_exact)
    # brute force: the largest grid step at or below t*
    for te, tg in zip(t_exact, t_grid):
        assert tg == max(s for s in grid if s <= te)
    mismatch = cd.timestep_mismatch_db(snrs, scheduler, grid)
    a = scheduler.alphas_cumprod.double().numpy()
    np.testing.assert_allclose(mismatch, 10 * np.log10(a[t_grid] / (1 - a[t_grid])) - snrs, rtol=1e-9)
    assert np.all(mismatch >= 0) and mismatch.max() > 0.5
    assert np.all(cd.timestep_mismatch_db(snrs, scheduler) < 0.1)  # on the full 1000-step grid it is small


def test_timestep_is_clipped_beyond_the_schedule(scheduler):
    assert cd.matched_timestep(80.0, scheduler) == 0.0
    assert cd.matched_timestep(-200.0, scheduler) == pytest.approx(999.0)


@pytest.mark.parametrize("rate, k", [(1 / 16, 256), (1 / 32, 128), (1 / 64, 64)])
def test_modules_send_the_rate_in_unit_power_symbols(rate, k):
    torch.manual_seed(0)
    z = torch.randn(3, 4, 16, 16)
    sym = cd.Downsampler()(z, rate)
    assert sym.shape == (3, k) and sym.is_complex()
    np.testing.assert_allclose(sym.abs().pow(2).mean(dim=1).detach().numpy(), 1.0, rtol=1e-5)
    mu, logvar = cd.Upsampler()(sym, torch.full((3,), 10.0))
    assert mu.shape == logvar.shape == (3, 4, 16, 16)
    j = cd.DeepJSCC()
    s2 = j.encode(torch.rand(3, 3, 64, 64) * 2 - 1, rate)
    assert s2.shape == (3, k)
    assert j.decode(s2, torch.full((3,), 10.0)).shape == (3, 3, 64, 64)
    assert cd.n_symbols(rate) == k == round(rate * 64 * 64)


def test_a_lower_rate_sends_a_prefix_of_the_higher_rates_code():
    torch.manual_seed(1)
    d = cd.Downsampler()
    z = torch.randn(2, 4, 16, 16)
    full, half = d(z, 1 / 16), d(z, 1 / 32)
    # same code, truncated, then each normalised to unit power: proportional
    ratio = half / full[:, :128]
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: cd.check_rate(0.1), ValueError, "rate must be one of"),
    (lambda: cd.check_rate(True), ValueError, "rate must be one of"),
    (lambda: cd.Downsampler()(torch.zeros(2, 4, 8, 8), 1 / 16), ValueError, r"\(B, 4, 16, 16\)"),
    (lambda: cd.Downsampler()(np.zeros((2, 4, 16, 16)), 1 / 16), TypeError, "torch.Tensor"),
    (lambda: cd.matched_timestep(float("nan"), np.linspace(0.99, 0.01, 10)), ValueError, "finite"),
    (lambda: cd.matched_timestep(float("inf"), np.linspace(0.99, 0.01, 10)), ValueError, "finite"),
    (lambda: cd.matched_timestep(10.0, np.linspace(0.01, 0.99, 10)), ValueError, "decreasing"),
    (lambda: cd.alpha_bar_at(2000.0, np.linspace(0.99, 0.01, 10)), ValueError, "t must lie"),
    (lambda: cd.to_diffusion_input(torch.zeros(4, 16, 16), 10.0, np.linspace(0.99, 0.01, 10)), ValueError,
     "z_hat"),
    (lambda: cd.evaluate("jscc", snr_db=10.0, rate=1 / 16), ValueError, "method"),
    (lambda: cd.evaluate("latent", snr_db=float("nan"), rate=1 / 16), ValueError, "finite"),
    (lambda: cd.evaluate("latent", snr_db=float("inf"), rate=1 / 16), ValueError, "finite"),
    (lambda: cd.evaluate("latent", snr_db=10.0, rate=1 / 8), ValueError, "rate"),
    (lambda: cd.evaluate("latent", snr_db="10", rate=1 / 16), TypeError, "snr_db"),
    (lambda: cd.send(torch.ones(2, 4, dtype=torch.complex64), 10.0, channel="rician"), ValueError, "channel"),
])
def test_bad_inputs_raise_clear_errors_before_any_model_runs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.fixture(scope="module")
def bundle():
    return cd.pretrained()


def test_transmit_checks_images_and_captions(bundle):
    with pytest.raises(ValueError, match="uint8 of shape"):
        bundle.transmit(np.zeros((2, 32, 32, 3), np.uint8), ["a", "b"], method="latent", snr_db=10.0, rate=1 / 16)
    with pytest.raises(ValueError, match="captions"):
        bundle.transmit(np.zeros((2, 64, 64, 3), np.uint8), ["a"], method="latent", snr_db=10.0, rate=1 / 16)


def test_schedules_start_where_the_rules_say(bundle):
    ts = bundle.schedule(10.0, rule="exact", steps=20)
    assert ts[0] == pytest.approx(cd.matched_timestep(10.0, bundle.alphas_cumprod)) and ts[-1] == 0
    assert np.all(np.diff(ts) < 0)
    tg = bundle.schedule(10.0, rule="grid", steps=20)
    assert tg[0] in set(bundle.inference_grid(20).tolist()) and tg[0] <= ts[0] and tg[-1] == 0


def test_bundled_systems_improve_with_snr_and_the_receiver_is_seeded():
    lo = cd.evaluate("djscc", snr_db=0.0, rate=1 / 16, n_images=16)
    hi = cd.evaluate("djscc", snr_db=20.0, rate=1 / 16, n_images=16)
    assert hi["psnr_db"] > lo["psnr_db"]
    a = cd.evaluate("latent", snr_db=5.0, rate=1 / 64, n_images=8, seed=3)
    b = cd.evaluate("latent", snr_db=5.0, rate=1 / 64, n_images=8, seed=3)
    assert a == b
    for key in ("psnr_db", "ssim", "toysim", "psnr_db_se", "ssim_se", "toysim_se"):
        assert math.isfinite(a[key])


def test_lpips_is_optional_and_asked_for_clearly():
    with pytest.raises(TypeError, match="lpips"):
        cd.evaluate("latent", snr_db=10.0, rate=1 / 16, lpips="yes")
    if cd.system.lpips_metric() is None:  # no pyiqa or no weights (always so offline without [hub])
        with pytest.raises(RuntimeError, match="LPIPS is not available"):
            cd.evaluate("latent", snr_db=10.0, rate=1 / 16, n_images=2, lpips=True)
        assert "lpips" not in cd.evaluate("latent", snr_db=10.0, rate=1 / 16, n_images=2)
