"""gsemlab.align.classical: the AMC (monotone in SNR, the chosen MCS at the BLER threshold), error-free
transmissions at 40 dB (latents exactly quantised, JPEG bytes as PIL's), payload 0, residual errors,
and the input checks."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gsemlab.align import amc
from gsemlab.align import classical as cl

torch.set_num_threads(1)

try:
    amc._sionna()  # restores torch's global random state after importing sionna
    _REASON = ""
except Exception as exc:  # noqa: BLE001 - no sionna beside this torch: skip the module
    _REASON = f"sionna does not import: {exc!r}"
pytestmark = pytest.mark.skipif(bool(_REASON), reason=_REASON or "-")

TAU = 300e-9


def _images(n=3):
    """Smooth synthetic 64 x 64 images (a gradient and a disc): JPEG-friendly like the toy world's."""
    yy, xx = np.mgrid[:64, :64]
    out = []
    for i in range(n):
        img = np.stack([xx * 3 + 20 * i, yy * 3, np.full_like(xx, 90 + 40 * i)], axis=-1).astype(float)
        disc = (xx - 20 - 8 * i) ** 2 + (yy - 32) ** 2 < 100
        img[disc] = (200, 40 + 50 * i, 160)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def _scan_bytes(img, quality):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return len(cl._split_jpeg(buf.getvalue())[1])


def test_amc_payload_grows_with_snr():
    payloads = [amc.choose_mcs(s, TAU, 128).payload_bits for s in (0.0, 10.0, 20.0, 40.0)]
    assert payloads == sorted(payloads) and payloads[0] < payloads[-1], payloads
    assert payloads[-1] == math.floor(128 * 6 * 5 / 6)  # 64-QAM, rate 5/6 at 40 dB


def test_chosen_mcs_meets_the_threshold_and_the_next_larger_does_not():
    rows = amc.amc_table(10.0, TAU, 128)
    mcs = amc.choose_mcs(10.0, TAU, 128)
    assert mcs.payload_bits > 0 and mcs.bler <= amc.BLER_MAX
    assert mcs.payload_bits == math.floor(128 * mcs.bits_per_symbol * mcs.code_rate)
    larger = [r for r in rows if r["payload_bits"] > mcs.payload_bits]
    assert larger, "at 10 dB the largest candidate should not be chosen"
    assert all(r["bler"] > amc.BLER_MAX and not r["meets"] for r in larger)
    for r in rows:  # every evaluated candidate: between 20 and MAX_BLOCKS blocks
        assert r["blocks"] == 0 or 20 <= r["blocks"] <= amc.MAX_BLOCKS
    assert rows == sorted(rows, key=lambda r: -r["payload_bits"])


def test_amc_leaves_the_global_rng_alone_and_is_cached():
    state = torch.random.get_rng_state()
    a = amc.choose_mcs(20.0, TAU, 128)
    assert torch.equal(state, torch.random.get_rng_state())
    assert amc.choose_mcs(20.0, TAU, 128) == a


def test_latents_come_back_exactly_quantised_at_40_db():
    z = torch.randn(4, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    mcs = amc.choose_mcs(40.0, TAU, 512)
    b = mcs.payload_bits // 1024
    assert b == 2
    got = cl.send_latents(z, snr_db=40.0, rate=1 / 8, delay_spread_s=TAU, seed=3)
    want = cl.dequantise_latents(cl.quantise_latents(z, b), b)
    assert torch.equal(got, want)
    assert (got - z.clamp(-cl.LATENT_CLIP, cl.LATENT_CLIP)).abs().max() <= cl.LATENT_CLIP / 2**b + 1e-6


def test_jpeg_bytes_decode_to_pils_image_at_40_db():
    images = _images()
    mcs = amc.choose_mcs(40.0, TAU, 512)
    got = cl.send_jpeg(images, snr_db=40.0, rate=1 / 8, delay_spread_s=TAU, seed=1)
    for img, out in zip(images, got):
        q, bits = cl.jpeg_fit(img, mcs.payload_bits)
        assert 1 <= q <= 95 and bits.size <= mcs.payload_bits
        nb = max(1, (mcs.payload_bits // 8).bit_length())  # width of the byte count
        for better in range(q + 1, 96):  # no higher quality fits
            assert 7 + nb + 8 * _scan_bytes(img, better) > mcs.payload_bits
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=q)
        np.testing.assert_array_equal(out, np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))


def test_jpeg_fit_is_the_largest_quality_and_round_trips():
    img = _images(1)[0]
    small, large = cl.jpeg_fit(img, 700), cl.jpeg_fit(img, 3000)
    assert small is not None and large is not None and small[0] < large[0]
    assert cl.jpeg_fit(img, 100) is None
    q, bits = large
    padded = np.concatenate([bits, np.ones(3000 - bits.size, np.uint8)])
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=q)
    np.testing.assert_array_equal(cl.jpeg_image(padded, 3000), np.asarray(Image.open(buf).convert("RGB")))
    assert bits.size == 7 + max(1, (3000 // 8).bit_length()) + 8 * _scan_bytes(img, q)
    tighter = cl.jpeg_fit(img, bits.size - 1)
    assert tighter is None or tighter[0] < q


def test_payload_zero_gives_the_fallbacks():
    assert amc.choose_mcs(0.0, 30e-9, 128).payload_bits == 0
    out = cl.send_jpeg(_images(2), snr_db=0.0, rate=1 / 32, delay_spread_s=30e-9)
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.uint8 and (out == cl.FALLBACK_GREY).all()
    z = cl.send_latents(torch.randn(2, 4, 16, 16), snr_db=0.0, rate=1 / 32, delay_spread_s=30e-9)
    assert z.shape == (2, 4, 16, 16) and (z == 0).all()


def test_failed_blocks_keep_their_bit_errors():
    mcs = amc.MCS(6, 5 / 6, 640, None, 0, 128)  # far too ambitious at 0 dB
    bits = np.random.default_rng(0).integers(0, 2, (3, 640), dtype=np.uint8)
    got, ok = amc.send_bits(bits, mcs, snr_db=0.0, delay_spread_s=TAU, rng=0)
    assert got.shape == bits.shape and got.dtype == np.uint8 and not ok.any()
    assert 0 < (got != bits).mean() < 0.5


def test_quantiser_levels_and_range():
    z = torch.linspace(-5, 5, 1024 * 2).reshape(2, 4, 16, 16)
    for b in (1, 2, 3):
        idx = cl.quantise_latents(z, b)
        assert idx.min() == 0 and idx.max() == 2**b - 1
        back = cl.dequantise_latents(idx, b)
        inside = z.abs() <= cl.LATENT_CLIP
        assert (back - z)[inside].abs().max() <= cl.LATENT_CLIP / 2**b + 1e-6
    assert (cl.dequantise_latents(cl.quantise_latents(z, 0), 0) == 0).all()


@pytest.mark.parametrize(("kwargs", "exc"), [
    ({"rate": 1 / 4}, ValueError),
    ({"snr_db": float("nan")}, ValueError),
    ({"snr_db": "10"}, TypeError),
    ({"delay_spread_s": -1e-9}, ValueError),
])
def test_bad_conditions_raise(kwargs, exc):
    cond = {"snr_db": 10.0, "rate": 1 / 8, "delay_spread_s": TAU, **kwargs}
    with pytest.raises(exc):
        cl.send_jpeg(_images(1), **cond)
    with pytest.raises(exc):
        cl.send_latents(torch.zeros(1, 4, 16, 16), **cond)
    with pytest.raises(exc):
        cl.evaluate_classical("jpeg-ldpc", **cond)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="method"):
        cl.evaluate_classical("jpeg", snr_db=10.0, rate=1 / 8, delay_spread_s=TAU)
    with pytest.raises(ValueError, match="n_images"):
        cl.evaluate_classical("latent-ldpc", snr_db=10.0, rate=1 / 8, delay_spread_s=TAU, n_images=1)
    with pytest.raises(ValueError, match="uint8"):
        cl.send_jpeg(_images(1).astype(float), snr_db=10.0, rate=1 / 8, delay_spread_s=TAU)
    with pytest.raises(ValueError, match="shape"):
        cl.send_latents(torch.zeros(1, 4, 8, 8), snr_db=10.0, rate=1 / 8, delay_spread_s=TAU)
    with pytest.raises(ValueError, match="n_symbols"):
        amc.choose_mcs(10.0, TAU, 0)
    with pytest.raises(ValueError, match="bler_max"):
        amc.choose_mcs(10.0, TAU, 128, bler_max=1.5)
    with pytest.raises(ValueError, match="payload"):
        amc.send_bits(np.zeros((1, 8), np.uint8), amc.MCS(None, None, 0, None, 0, 128), snr_db=10.0,
                     delay_spread_s=TAU)


def test_evaluate_classical_has_evaluates_fields_and_the_mcs():
    r = cl.evaluate_classical("latent-ldpc", snr_db=40.0, rate=1 / 8, delay_spread_s=TAU, n_images=2)
    for key in ("method", "rate", "snr_db", "delay_spread_s", "n_images", "trainable", "psnr_db", "psnr_db_se",
                "ssim", "ssim_se", "toysim", "toysim_se"):
        assert key in r
    assert r["mcs"]["payload_bits"] == 2560 and r["mcs"]["bits_per_symbol"] == 6 and r["latent_bits"] == 2
    assert r["delivered"] == 1.0 and math.isfinite(r["psnr_db"]) and 0 < r["ssim"] <= 1
