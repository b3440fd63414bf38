"""Tests of gsemlab.diffusion (Eq. 2-4): closed forms, hand arithmetic and diffusers as the oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from gsemlab import diffusion as D


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread is as fast, and on a shared, loaded 2-core machine torch's default of two
    threads was measured 50 times slower (188 s instead of 3.5 s for the training test)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class GaussianOracle(torch.nn.Module):
    """The exact noise predictor when the data are x0 ~ N(0, s^2 I).

    Then x_t ~ N(0, (a s^2 + 1 - a) I) with a = alpha_bar_t, and E[eps | x_t] = sqrt(1 - a) x_t / (a s^2 + 1 - a).
    Bounded and smooth, so sampling with it stays finite at every step count.
    """

    def __init__(self, abar: torch.Tensor, s: float = 0.5):
        super().__init__()
        self.abar, self.s2 = abar, s * s

    def forward(self, x_t, t):
        a = self.abar[t].reshape(-1, 1, 1, 1)
        return (1 - a).sqrt() * x_t / (a * self.s2 + 1 - a)


# ---------------------------------------------------------------------------- schedule, Eq. 4b


def test_alpha_bar_three_step_linear_schedule_by_hand():
    # betas 0.1, 0.2, 0.3 -> alphas 0.9, 0.8, 0.7 -> alpha_bar 0.9, 0.9*0.8 = 0.72, 0.72*0.7 = 0.504
    expected = torch.tensor([0.9, 0.72, 0.504])
    torch.testing.assert_close(D.alpha_bars([0.1, 0.2, 0.3]), expected)
    # diffusers' linear schedule with 3 steps from 0.1 to 0.3 is the same betas
    sched = DDPMScheduler(num_train_timesteps=3, beta_start=0.1, beta_end=0.3, beta_schedule="linear")
    torch.testing.assert_close(D.alpha_bars(sched), expected)


def test_make_scheduler_schedules():
    lin = D.make_scheduler(num_train_timesteps=1000)
    # linear: beta_1 = 1e-4, so alpha_bar_1 = 0.9999; prod over 1000 linearly spaced betas in [1e-4, 0.02]
    betas = np.linspace(1e-4, 0.02, 1000)
    assert D.alpha_bars(lin)[0].item() == pytest.approx(0.9999)
    assert D.alpha_bars(lin)[-1].item() == pytest.approx(np.prod(1 - betas), rel=1e-3)
    cos = D.make_scheduler(num_train_timesteps=1000, schedule="cosine")
    # cosine: alpha_bar(t) = f(t)/f(0), f(t) = cos^2((t/T + 0.008)/1.008 * pi/2); at t = T/2 (index 499):
    def f(u):
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    assert D.alpha_bars(cos)[499].item() == pytest.approx(f(0.5) / f(0.0), rel=1e-3)
    assert lin.config.clip_sample is False
    # scaled linear (Stable Diffusion): sqrt(beta) linear from sqrt(0.01) = 0.1 to sqrt(0.09) = 0.3 over 3 steps
    # -> betas 0.01, 0.04, 0.09 -> alpha_bar 0.99, 0.99 * 0.96 = 0.9504, 0.9504 * 0.91 = 0.864864
    sl = D.make_scheduler(num_train_timesteps=3, schedule="scaled_linear", beta_start=0.01, beta_end=0.09)
    torch.testing.assert_close(D.alpha_bars(sl), torch.tensor([0.99, 0.9504, 0.864864]))
    # its defaults are Stable Diffusion's: beta_1 = 0.00085, beta_T = 0.012
    sd = D.make_scheduler(schedule="scaled_linear")
    assert sd.betas[0].item() == pytest.approx(0.00085) and sd.betas[-1].item() == pytest.approx(0.012)


# ---------------------------------------------------------------------------- forward process, Eq. 2-3


def test_forward_noise_exact_for_given_noise():
    x0 = torch.full((2, 1, 2, 2), 0.5)
    eps = torch.ones_like(x0)
    # t = 2 (0-based) of betas (0.1, 0.2, 0.3): alpha_bar = 0.504;
    # x_t = sqrt(0.504) * 0.5 + sqrt(0.496) * 1 = 0.354965 + 0.704273 = 1.059238
    x_t = D.forward_noise(x0, 2, [0.1, 0.2, 0.3], noise=eps)
    torch.testing.assert_close(x_t, torch.full_like(x0, 1.059238), atol=1e-6, rtol=0)
    # per-sample timesteps: t = (0, 1) -> alpha_bar = (0.9, 0.72)
    x_t = D.forward_noise(x0, torch.tensor([0, 1]), [0.1, 0.2, 0.3], noise=eps)
    assert x_t[0, 0, 0, 0].item() == pytest.approx(math.sqrt(0.9) * 0.5 + math.sqrt(0.1))
    assert x_t[1, 0, 0, 0].item() == pytest.approx(math.sqrt(0.72) * 0.5 + math.sqrt(0.28))


def test_forward_noise_mean_and_variance_match_closed_form():
    sched = D.make_scheduler(num_train_timesteps=1000)
    x0 = torch.tensor([-1.0, -0.2, 0.4, 1.0]).reshape(1, 4, 1, 1).expand(50_000, 4, 1, 1).contiguous()
    for t in (0, 250, 999):
        a = D.alpha_bars(sched)[t].item()
        x_t = D.forward_noise(x0, t, sched, generator=123)
        mean, var = x_t.mean(0).flatten(), x_t.var(0).flatten()
        # q(x_t | x_0) = N(sqrt(a) x0, (1 - a) I); with 50k draws the standard error of the mean is
        # sqrt((1 - a) / 5e4) <= 0.0045, of the variance (1 - a) * sqrt(2 / 5e4) <= 0.0064 (5 sigma below)
        torch.testing.assert_close(mean, math.sqrt(a) * x0[0].flatten(), atol=0.023, rtol=0)
        torch.testing.assert_close(var, torch.full((4,), 1 - a), atol=max(0.032 * (1 - a), 1e-7), rtol=0)


def test_forward_noise_matches_diffusers_add_noise():
    sched = D.make_scheduler(num_train_timesteps=100)
    x0 = torch.randn(3, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    eps = torch.randn(3, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 37, 99])
    torch.testing.assert_close(D.forward_noise(x0, t, sched, noise=eps), sched.add_noise(x0, eps, t))


def test_forward_noise_seeded():
    x0 = torch.zeros(2, 3, 4, 4)
    a = D.forward_noise(x0, 5, [0.01] * 10, generator=7)
    b = D.forward_noise(x0, 5, [0.01] * 10, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, D.forward_noise(x0, 5, [0.01] * 10, generator=8))


# ---------------------------------------------------------------------------- loss


def test_ddpm_loss_zero_for_oracle_and_one_for_zero_model():
    sched = D.make_scheduler(num_train_timesteps=50)
    abar = D.alpha_bars(sched)
    x0 = torch.rand(8, 3, 6, 6, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def oracle(x_t, t):
        # knows x0, so inverts Eq. 2-3's closed form: eps = (x_t - sqrt(a) x0) / sqrt(1 - a)
        a = abar[t].reshape(-1, 1, 1, 1)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    assert D.ddpm_loss(oracle, x0, sched, generator=0).item() < 1e-10
    # a model that predicts 0 pays E[eps^2] = 1; 4096 * 3 * 16 * 16 / ... draws: std of the mean ~ 0.003
    big = torch.zeros(512, 3, 8, 8)
    zero = D.ddpm_loss(lambda x, t: torch.zeros_like(x), big, sched, generator=0).item()
    assert zero == pytest.approx(1.0, abs=0.02)


def test_ddpm_loss_accepts_diffusers_style_output_and_backpropagates():
    class Out:
        def __init__(self, sample):
            self.sample = sample

    model = D.tiny_unet(widths=(8, 8, 8), seed=0)
    x0 = torch.zeros(2, 3, 4, 4)
    loss = D.ddpm_loss(lambda x, t: Out(model(x, t)), x0, D.make_scheduler(num_train_timesteps=10), generator=0)
    loss.backward()
    assert model.conv_out.weight.grad is not None and loss.ndim == 0


# ---------------------------------------------------------------------------- model, training


def test_tiny_unet_shapes_and_seed():
    a, b = D.tiny_unet(seed=3), D.tiny_unet(seed=3)
    # default widths (24, 48, 48), t_dim 64; by hand (conv k*k*cin*cout + cout, GroupNorm 2c, time Linear 64c + c):
    #   time MLP 64*64+64 = 4160; conv_in 3*24*9+24 = 672
    #   down1 (24->24): 2*(24*24*9+24) + 2*48 + (64*24+24) = 12072;  downsample1 24*48*9+48 = 10416
    #   down2 (48->48): 2*(48*48*9+48) + 2*96 + (64*48+48) = 44880;  downsample2 48*48*9+48 = 20784
    #   mid (48->48): 44880;  upsample2 48*48*16+48 = 36912
    #   up2 (96->48): (96*48*9+48) + (48*48*9+48) + 2*96 + 3120 + (96*48+48) = 70272;  upsample1 48*24*16+24 = 18456
    #   up1 (48->24): (48*24*9+24) + (24*24*9+24) + 2*48 + 1560 + (48*24+24) = 18432;  conv_out 24*3*9+3 = 651
    #   total 282,587
    assert sum(p.numel() for p in a.parameters()) == 282_587
    x = torch.randn(5, 3, 16, 16)
    t = torch.arange(5)
    assert a(x, t).shape == (5, 3, 16, 16)
    assert a(torch.randn(2, 3, 8, 12), torch.tensor([1, 2])).shape == (2, 3, 8, 12)
    torch.testing.assert_close(a(x, t), b(x, t))
    assert not torch.equal(a(x, t), D.tiny_unet(seed=4)(x, t))
    # the timestep matters: same x, different t -> different prediction
    assert not torch.allclose(a(x, torch.zeros(5, dtype=torch.long)), a(x, torch.full((5,), 900)))


def test_shapes_icons_are_centred_single_objects():
    from gsemlab.toyworld import BACKGROUNDS, COLOURS, sample_scenes

    icons, captions = D.shapes_icons(6, seed=5, crop=32)
    assert icons.shape == (6, 32, 32, 3) and icons.dtype == np.uint8 and len(captions) == 6
    singles = [s for s in sample_scenes(60, seed=5) if len(s.objects) == 1][:6]
    assert captions == [s.caption for s in singles]
    for icon, scene in zip(icons, singles):
        # the object's colour is at the centre pixel; the corners show the background colour
        np.testing.assert_array_equal(icon[16, 16], COLOURS[scene.objects[0].colour])
        for corner in (icon[0, 0], icon[0, -1], icon[-1, 0], icon[-1, -1]):
            np.testing.assert_array_equal(corner, BACKGROUNDS[scene.background])
    # a background filter keeps, in order, only the one-object scenes on that background
    black, black_captions = D.shapes_icons(3, seed=5, background="black")
    singles_black = [s for s in sample_scenes(200, seed=5) if len(s.objects) == 1 and s.background == "black"][:3]
    assert black_captions == [s.caption for s in singles_black]
    assert (black[:, 0, 0] == BACKGROUNDS["black"]).all()


def test_train_ddpm_reduces_loss_and_is_seeded():
    data = torch.zeros(16, 3, 8, 8)
    data[:, 0] = 1.0  # every image is pure "red" in model space: easy to learn
    h1 = D.train_ddpm(D.tiny_unet(widths=(8, 8, 8), seed=0), data, steps=40, batch_size=8, lr=3e-3, seed=0,
                      scheduler=D.make_scheduler(num_train_timesteps=100))
    h2 = D.train_ddpm(D.tiny_unet(widths=(8, 8, 8), seed=0), data, steps=40, batch_size=8, lr=3e-3, seed=0,
                      scheduler=D.make_scheduler(num_train_timesteps=100))
    assert h1.shape == (40,)
    np.testing.assert_allclose(h1, h2, rtol=1e-5)
    assert h1[-15:].mean() < 0.7 * h1[:5].mean()


def test_image_conversions():
    img = np.zeros((2, 4, 4, 3), np.uint8)
    img[:, :2, :2] = 255  # top-left 2x2 block white
    x = D.images_to_tensor(img, size=2)
    assert x.shape == (2, 3, 2, 2)
    # area downsampling: the top-left output pixel averages four 255s -> 1.0, the others four 0s -> -1.0
    torch.testing.assert_close(x[0, 0], torch.tensor([[1.0, -1.0], [-1.0, -1.0]]))
    np.testing.assert_array_equal(D.tensor_to_images(D.images_to_tensor(img)), img)


# ---------------------------------------------------------------------------- sampling, Eq. 4


@pytest.mark.parametrize("variance_type", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("steps", [100, 20, 7])
def test_hand_loop_equals_diffusers_ddpm_step(variance_type, steps):
    sched = D.make_scheduler(num_train_timesteps=100, variance_type=variance_type)
    model = GaussianOracle(D.alpha_bars(sched))
    ours = D.sample(model, sched, 4, (3, 8, 8), steps, generator=11)
    ref = D.sample_with_scheduler(model, sched, 4, (3, 8, 8), steps, generator=11)
    assert ours.abs().max() < 10  # a bounded run: agreement is meaningful
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)
    # and a different seed gives a different result
    assert not torch.allclose(ours, D.sample(model, sched, 4, (3, 8, 8), steps, generator=12))


def test_hand_loop_equals_diffusers_on_tiny_unet():
    sched = D.make_scheduler(num_train_timesteps=50)
    model = D.tiny_unet(widths=(8, 8, 8), seed=0).eval()
    ours = D.sample(model, sched, 2, (3, 4, 4), 10, generator=0)
    ref = D.sample_with_scheduler(model, sched, 2, (3, 4, 4), 10, generator=0)
    scale = ref.abs().max().item()
    torch.testing.assert_close(ours, ref, atol=1e-5 * scale, rtol=1e-4)


def test_gaussian_oracle_samples_have_data_variance():
    # With the exact eps of x0 ~ N(0, 0.25 I), the full DDPM chain must produce std ~ 0.5: an independent check
    # that Eq. 4a + sigma_t z is the right reverse process, not just the same as diffusers. T = 1000 so that
    # x_T is pure noise (alpha_bar_T = 4e-5); 256 * 64 values give a standard error of 0.5 / sqrt(2 * 16384) = 0.003.
    sched = D.make_scheduler(num_train_timesteps=1000, variance_type="fixed_large")
    x = D.sample(GaussianOracle(D.alpha_bars(sched)), sched, 256, (1, 8, 8), 1000, generator=0)
    assert x.std().item() == pytest.approx(0.5, abs=0.015)
    assert x.mean().item() == pytest.approx(0.0, abs=0.015)


def test_ddim_runs_through_sample_with_scheduler():
    sched = D.make_scheduler(num_train_timesteps=1000)
    ddim = DDIMScheduler.from_config(sched.config)
    model = GaussianOracle(D.alpha_bars(sched))
    x10, x50 = (D.sample_with_scheduler(model, ddim, 256, (1, 8, 8), k, generator=0) for k in (10, 50))
    assert x50.shape == (256, 1, 8, 8)
    # deterministic DDIM (eta = 0) of the exact Gaussian denoiser approaches the data std 0.5 as steps grow
    assert abs(x50.std().item() - 0.5) < 0.05
    assert abs(x50.std().item() - 0.5) < abs(x10.std().item() - 0.5)
    assert ddim.num_inference_steps is None  # the caller's scheduler was not modified


# ---------------------------------------------------------------------------- errors


def test_errors():
    sched = D.make_scheduler(num_train_timesteps=10)
    x0 = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 10\)"):
        D.forward_noise(x0, 10, sched)
    with pytest.raises(ValueError, match="t must lie"):
        D.forward_noise(x0, -1, sched)
    with pytest.raises(TypeError, match="t must be an integer"):
        D.forward_noise(x0, 1.5, sched)
    with pytest.raises(ValueError, match=r"t must be a scalar or have shape \(2,\)"):
        D.forward_noise(x0, torch.tensor([1, 2, 3]), sched)
    with pytest.raises(ValueError, match="x0 must have shape"):
        D.forward_noise(torch.zeros(3, 4, 4), 1, sched)
    with pytest.raises(TypeError, match="x0 must be a torch.Tensor"):
        D.forward_noise(np.zeros((2, 3, 4, 4)), 1, sched)
    with pytest.raises(ValueError, match="noise must be a tensor of x0's shape"):
        D.forward_noise(x0, 1, sched, noise=torch.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"beta_t must lie in \(0, 1\)"):
        D.alpha_bars([0.1, 1.2])
    with pytest.raises(TypeError, match="generator must be"):
        D.forward_noise(x0, 1, sched, generator="seed")
    with pytest.raises(ValueError, match="model must return a noise tensor"):
        D.ddpm_loss(lambda x, t: x[:, :1], x0, sched)
    with pytest.raises(ValueError, match="prediction_type='epsilon'"):
        D.ddpm_loss(lambda x, t: x, x0, DDPMScheduler(num_train_timesteps=10, prediction_type="v_prediction"))
    with pytest.raises(ValueError, match="clip_sample=False"):
        D.sample(lambda x, t: x, DDPMScheduler(num_train_timesteps=10), 1, (3, 4, 4), 5)
    with pytest.raises(TypeError, match="DDPMScheduler"):
        D.sample(lambda x, t: x, DDIMScheduler(num_train_timesteps=10), 1, (3, 4, 4), 5)
    with pytest.raises(ValueError, match="num_inference_steps must be <= num_train_timesteps = 10"):
        D.sample(lambda x, t: x, sched, 1, (3, 4, 4), 11)
    with pytest.raises(ValueError, match="shape must be"):
        D.sample(lambda x, t: x, sched, 1, (4, 4), 5)
    with pytest.raises(ValueError, match="schedule must be one of"):
        D.make_scheduler(schedule="quadratic")
    with pytest.raises(ValueError, match="do not apply to the 'cosine' schedule"):
        D.make_scheduler(schedule="cosine", beta_end=0.02)
    with pytest.raises(ValueError, match="need 0 < beta_start < beta_end < 1"):
        D.make_scheduler(beta_start=0.02, beta_end=0.01)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        D.train_ddpm(D.tiny_unet(widths=(8, 8, 8)), x0, steps=0, batch_size=2, lr=1e-3, seed=0)
    with pytest.raises(TypeError, match="images must be uint8"):
        D.images_to_tensor(np.zeros((1, 4, 4, 3)))
    with pytest.raises(ValueError, match="size must divide"):
        D.images_to_tensor(np.zeros((1, 4, 4, 3), np.uint8), size=3)
    with pytest.raises(ValueError, match="x_t must have shape"):
        D.tiny_unet()(torch.zeros(1, 3, 6, 6), torch.tensor([0]))
    with pytest.raises(ValueError, match="widths must be multiples of 8"):
        D.tiny_unet(widths=(12, 24, 24))
    with pytest.raises(ValueError, match="crop must be from 24 to 64"):
        D.shapes_icons(2, seed=0, crop=16)
    with pytest.raises(ValueError, match="background must be None or one of"):
        D.shapes_icons(2, seed=0, background="blue")
