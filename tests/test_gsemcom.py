"""Tests of gsemlab.gsemcom (Algorithm 1, Sec. IV-D), gsemlab.link and gsemlab.calibration.

They run on a tiny random-weight Stable Diffusion pipeline (gsemlab.testing.tiny_random_pipeline),
saved to a temporary folder and loaded through gsemlab.models.load_backend, with stand-in metrics:
distance = mean absolute pixel difference / 255, quality = 1 + 9 * (pixel std / 127.5). So nothing
depends on trained weights; the random model's images are noise, but every mechanism (budget, mask,
known pixels, checksum, fallback) is the same as with real weights.
"""

from __future__ import annotations

import dataclasses
import io
import json
import types

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import jaccard_score

from gsemlab.attention import binarize
from gsemlab.calibration import calibrate_backend, load_calibration, load_t_max
from gsemlab.config import GSemComConfig
from gsemlab.gsemcom import Generation, GSemCom, user_seed, xi_per_rank
from gsemlab.gsemcom.decoder import cover_blocks, fill_image
from gsemlab.channel import bit_errors, bsc, erasure
from gsemlab.packing import Packet, PacketError
from gsemlab.prompt import deconstruct

PROMPT = "a small red circle above a large blue square"
T_MAX = 0.5


def _distance(a, b) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean() / 255)


def _quality(img) -> float:
    return 1.0 + 9.0 * float(img.astype(np.float64).std() / 127.5)


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    from gsemlab.models import load_backend
    from gsemlab.testing import tiny_random_pipeline

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and immune to a busy machine
    folder = tmp_path_factory.mktemp("tiny-sd")
    tiny_random_pipeline(seed=0).save_pretrained(folder)
    loaded = load_backend("toy", device="cpu", path=folder, metrics=False)
    yield dataclasses.replace(loaded, name="tiny", distance_fn=_distance, quality_fn=_quality)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def gs(backend):
    return GSemCom(backend, GSemComConfig(generation_steps=3, decode_steps=2), t_max=T_MAX)


@pytest.fixture(scope="module")
def generation(gs):
    return gs.generate(PROMPT, seed=0)


@pytest.fixture(scope="module")
def encoded(gs, generation):
    return gs.extract(generation)


# ------------------------------------------------------------------------------- xi scheme, helpers
def test_xi_per_rank_by_hand():
    # Table III's scheme: rank 1 -> 0.9, rank 2 -> 0.8, ranks 3.. -> 0.5
    assert xi_per_rank((0.9, 0.8, 0.5), 5) == (0.9, 0.8, 0.5, 0.5, 0.5)
    assert xi_per_rank((0.9, 0.8, 0.5), 2) == (0.9, 0.8)
    assert xi_per_rank(0.7, 3) == (0.7, 0.7, 0.7)
    assert xi_per_rank([0.6], 0) == ()
    with pytest.raises(ValueError, match="xi"):
        xi_per_rank((0.9, 1.5), 2)
    with pytest.raises(ValueError, match="xi"):
        xi_per_rank(0.0, 2)  # Eq. 8 with xi = 0 keeps every pixel: not a threshold
    with pytest.raises(ValueError, match="xi"):
        xi_per_rank((), 2)
    with pytest.raises(TypeError, match="xi"):
        xi_per_rank("0.5", 2)
    with pytest.raises(ValueError, match="n_words"):
        xi_per_rank(0.5, -1)


def test_cover_marks_whole_latent_blocks_by_hand():
    repaint = np.zeros((4, 6), bool)
    repaint[0, 0] = True  # block (0, 0) of 2x2 blocks
    repaint[3, 5] = True  # block (1, 2)
    expected = np.zeros((4, 6), bool)
    expected[0:2, 0:2] = True
    expected[2:4, 4:6] = True
    np.testing.assert_array_equal(cover_blocks(repaint, 2), expected)


def test_user_seed_is_a_different_stream():
    assert user_seed(0) != 0 and user_seed(0) == user_seed(0) and user_seed(0) != user_seed(1)
    with pytest.raises(ValueError, match="seed"):
        user_seed(-1)


# ------------------------------------------------------------------------------------------ link
def test_bsc_by_hand_and_statistics():
    assert bsc(b"\x00\xff\x0f", 0.0, rng=0) == b"\x00\xff\x0f"
    assert bsc(b"\x00\xff\x0f", 1.0, rng=0) == b"\xff\x00\xf0"  # every bit flipped
    assert bit_errors(b"\x00\xff", b"\x01\x7f") == 2
    data = bytes(20_000)  # 160 000 bits; flips ~ Binomial(160000, 0.01): mean 1600, sd sqrt(1584) = 39.8
    flips = bit_errors(data, bsc(data, 0.01, rng=1))
    assert abs(flips - 1600) < 5 * 39.8
    with pytest.raises(ValueError, match="p must"):
        bsc(b"\x00", 1.5)
    with pytest.raises(TypeError, match="data"):
        bsc("text", 0.1)


def test_erasure_by_hand_and_statistics():
    assert erasure(b"abc", 0.0, rng=0) == b"abc"
    assert erasure(b"abc", 1.0, rng=0, fill=7) == b"\x07\x07\x07"
    assert erasure(b"abc", 1.0, rng=0, unit="packet") is None
    assert erasure(b"abc", 0.0, rng=0, unit="packet") == b"abc"
    data = bytes([255]) * 10_000  # erased bytes become 0: count ~ Binomial(10000, 0.1), sd 30
    erased = erasure(data, 0.1, rng=2).count(0)
    assert abs(erased - 1000) < 5 * 30
    with pytest.raises(ValueError, match="unit"):
        erasure(b"abc", 0.1, unit="bit")


# ------------------------------------------------------------------------------------------- MASP
def test_encode_ranks_words_and_uses_the_rank_thresholds(gs, generation, encoded):
    dec = deconstruct(PROMPT)
    assert encoded.deconstruction == dec
    s = encoded.importance
    assert s.shape == (len(dec.words),) and abs(s.sum() - 1) < 1e-12
    assert list(encoded.words) == [dec.words[k] for k in encoded.order]
    assert np.all(np.diff(s[list(encoded.order)]) <= 0)  # decreasing importance
    assert encoded.xi == (0.9, 0.8) + (0.5,) * (len(dec.words) - 2)
    for word, xi, b in zip(encoded.words, encoded.xi, encoded.binary_maps):
        np.testing.assert_array_equal(b, binarize(encoded.word_maps[word], xi))
    # D* against scikit-learn's Jaccard index of the maps binarised at the ranking threshold 0.5
    i, j = dec.words.index("circle"), dec.words.index("square")
    a, b = (binarize(encoded.word_maps[dec.words[k]], 0.5).ravel() for k in (i, j))
    assert encoded.D_star[i, j] == pytest.approx(jaccard_score(a, b))
    # segments: DBSCAN-cleaned maps inside the binary maps, pairwise disjoint, in importance order
    union = np.zeros(gs.image_shape, bool)
    for b, c, seg in zip(encoded.binary_maps, encoded.clean_maps, encoded.segments):
        assert not (c & ~b).any() and not (seg & ~c).any() and not (seg & union).any()
        union |= seg
    assert encoded.semantic_pixels == union.sum()
    assert set(encoded.timings) == {"generation", "extraction", "packing"}
    assert all(t > 0 for t in encoded.timings.values())


def test_budget_is_respected(gs, generation, encoded):
    full = encoded.semantic_pixels
    assert encoded.packet.n_pixels == full  # budget None: every segment pixel
    raster = gs.with_options(partial="raster")
    # the default ("stop"): the longest prefix of whole segments within the budget, from the sizes
    prefix = np.concatenate([[0], np.cumsum([int(seg.sum()) for seg in encoded.segments])])
    for budget in (1, 100, full // 2, full + 500):
        packet = gs.extract(generation, budget=budget).packet
        assert packet.n_pixels == int(packet.mask.sum()) == prefix[prefix <= budget].max()
        packet = raster.extract(generation, budget=budget).packet
        assert packet.n_pixels == int(packet.mask.sum()) == min(budget, full)
    # O = 2 bandwidth units per pixel: a budget of 101 units buys floor(101 / 2) = 50 pixels
    gs2 = raster.with_options(config=dataclasses.replace(gs.config, pixel_cost=2.0))
    assert gs2.extract(generation, budget=101).packet.n_pixels == 50
    for bad in (0, -5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="budget"):
            gs.extract(generation, budget=bad)
    with pytest.raises(TypeError, match="budget"):
        gs.extract(generation, budget="100")


def test_partial_rules_reach_the_packet(gs, generation, encoded):
    sizes = [int(seg.sum()) for seg in encoded.segments]
    budget = sizes[0] + max(1, sizes[1] // 2) if len(sizes) > 1 else max(1, sizes[0] // 2)
    skip = gs.with_options(partial="skip").extract(generation, budget=budget).packet
    # whole segments only, in order, each sent when it still fits (worked out from the sizes)
    left, expected = budget, np.zeros_like(skip.mask)
    for seg, n in zip(encoded.segments, sizes):
        if n <= left:
            expected |= seg
            left -= n
    np.testing.assert_array_equal(skip.mask, expected)
    prio = gs.with_options(partial="priority").extract(generation, budget=budget).packet
    assert prio.n_pixels == min(budget, encoded.semantic_pixels)
    # the partial segment's pixels sent are its word's most attended ones
    k = next(i for i, n in enumerate(np.cumsum(sizes)) if n > budget)
    word_map = encoded.word_maps[encoded.words[k]]
    part = prio.mask & encoded.segments[k]
    rest = encoded.segments[k] & ~prio.mask
    if part.any() and rest.any():
        assert word_map[part].min() >= word_map[rest].max()


def test_ablation_switches(gs, generation, encoded):
    raw = gs.with_options(binarize=False).extract(generation)
    # without Eq. 8 a softmax attention map is positive everywhere: every map covers the image
    assert all(b.all() for b in raw.binary_maps) and raw.semantic_pixels == generation.source[..., 0].size
    flat = gs.with_options(cluster=False).extract(generation)
    for b, c in zip(flat.binary_maps, flat.clean_maps):
        np.testing.assert_array_equal(b, c)
    assert flat.semantic_pixels >= encoded.semantic_pixels  # DBSCAN only removes pixels
    one = gs.with_options(xi=0.8).extract(generation)
    assert one.xi == (0.8,) * len(one.words)


# ------------------------------------------------------------------------------------------- user
def test_transmit_keeps_the_received_pixels(gs, generation):
    budget = 300
    tr = gs.transmit(PROMPT, budget, seed=0, generation=generation)
    mask = tr.encoded.packet.mask
    assert tr.pixels_sent == int(mask.sum()) <= budget and tr.pixels_full == 64 * 64
    sent = Packet.from_bytes(tr.encoded.data).pixels  # what the user parsed: the codec's pixels
    np.testing.assert_array_equal(tr.encoded.packet.pixels, sent)
    np.testing.assert_array_equal(tr.recovered[mask], sent)  # known pixels unchanged
    assert tr.recovered.shape == (64, 64, 3) and tr.recovered.dtype == np.uint8
    assert not np.array_equal(tr.recovered[~mask], generation.source[~mask])  # the rest was inpainted
    assert tr.bytes_sent == len(tr.encoded.packet.to_bytes())
    assert tr.distance == pytest.approx(_distance(generation.source, tr.recovered))
    assert tr.quality == pytest.approx(_quality(tr.recovered))
    # Eq. 17-18 by hand: J = (t_max - D) / t_max * ln(1.25 Q / 4.9827)
    assert tr.jpsq == pytest.approx((T_MAX - tr.distance) / T_MAX * np.log(1.25 * tr.quality / 4.9827))
    assert set(tr.timings) == {"generation", "extraction", "packing", "decoding"} and not tr.fallback
    assert tr.bandwidth_saving == pytest.approx(1 - tr.pixels_sent / 4096)
    # diffusers' own nearest-neighbour mask resizing keeps the received pixels too
    near = gs.with_options(latent_mask="nearest").decode(tr.encoded.packet, seed=3)
    np.testing.assert_array_equal(near[mask], sent)
    # the lossless coding sends the source's own pixels, and the user keeps exactly those
    exact = gs.with_options(codec="zlib").transmit(PROMPT, budget, seed=0, generation=generation)
    np.testing.assert_array_equal(exact.encoded.packet.mask, mask)
    np.testing.assert_array_equal(exact.recovered[mask], generation.source[mask])
    assert exact.bytes_sent > tr.bytes_sent  # lossless costs more bytes than the lossy default


def test_config_codecs_are_packings():
    from gsemlab.config import PACKET_CODECS
    from gsemlab.packing import CODECS

    assert PACKET_CODECS == CODECS


def test_damaged_packets_are_detected(encoded):
    data = encoded.packet.to_bytes()
    rng = np.random.default_rng(0)
    for k in range(50):
        n_flips = int(rng.integers(1, 9))
        damaged = bytearray(data)
        for pos in rng.choice(len(data) * 8, n_flips, replace=False):
            damaged[pos // 8] ^= 1 << (pos % 8)
        with pytest.raises(PacketError):
            Packet.from_bytes(bytes(damaged))
    for cut in (0, 3, len(data) // 2, len(data) - 1):  # truncated transfers
        with pytest.raises(PacketError):
            Packet.from_bytes(data[:cut])


def test_receive_falls_back_on_every_damaged_packet(gs, encoded, monkeypatch):
    data = encoded.packet.to_bytes()
    calls = []
    stub = np.full((64, 64, 3), 9, np.uint8)

    class StubInpaint:  # stands in for the 2-step decoder so 50 receptions stay fast
        vae_scale_factor = gs.backend.inpaint.vae_scale_factor

        def __call__(self, **kwargs):
            calls.append(kwargs)
            return type("Out", (), {"images": stub[None] / 255.0})()

    stub_gs = GSemCom(dataclasses.replace(gs.backend, inpaint=StubInpaint()), gs.config, t_max=T_MAX)
    rng = np.random.default_rng(1)
    for k in range(50):
        damaged = bsc(data, 1e-3 * (1 + k % 5), rng=rng)
        if damaged == data:  # no bit flipped: nothing to detect
            continue
        rec = stub_gs.receive(damaged, PROMPT, seed=0)
        assert rec.fallback and rec.packet is None and rec.error
        np.testing.assert_array_equal(rec.image, stub)  # prompt-only inpainting, nothing pasted
        assert calls[-1]["prompt"] == PROMPT  # the user's own copy of its prompt
        assert np.all(np.asarray(calls[-1]["mask_image"]) == 255)  # every pixel repainted
    assert len(calls) >= 45
    for lost in (None, erasure(data, 1.0, rng=0, unit="packet"), erasure(data, 0.05, rng=0)):
        rec = stub_gs.receive(lost, PROMPT, seed=0)
        assert rec.fallback and rec.packet is None
    with pytest.raises(TypeError, match="data"):
        stub_gs.receive("not bytes", PROMPT)


def test_fallback_equals_the_fully_masked_baseline(gs, generation, encoded):
    damaged = bytearray(encoded.packet.to_bytes())
    damaged[len(damaged) // 2] ^= 0x10
    rec = gs.receive(bytes(damaged), PROMPT, seed=user_seed(0))
    assert rec.fallback and "checksum" in rec.error
    masked = gs.fully_masked(PROMPT, 0, generation=generation)
    np.testing.assert_array_equal(rec.image, masked.recovered)
    assert masked.pixels_sent == 0 and masked.bytes_sent > 0
    intact = gs.receive(encoded.packet.to_bytes(), PROMPT, seed=5)
    assert not intact.fallback and intact.packet == encoded.packet
    np.testing.assert_array_equal(intact.image, gs.decode(encoded.packet, seed=5))
    tr = gs.transmit(PROMPT, seed=0, generation=generation, channel=lambda b: bsc(b, 0.05, rng=0))
    assert tr.fallback and tr.pixels_sent == encoded.packet.n_pixels


# -------------------------------------------------------------------------------------- baselines
def test_baselines(gs, generation):
    trad = gs.traditional(PROMPT, 0, generation=generation)
    buf = io.BytesIO()
    Image.fromarray(generation.source).save(buf, format="PNG")
    assert trad.pixels_sent == 4096 and trad.bytes_sent == trad.extra["png_bytes"] == len(buf.getvalue())
    assert trad.distance == 0.0 and np.array_equal(trad.recovered, generation.source)
    assert 0 < trad.extra["jpeg_bytes"]
    local = gs.local_aigc(PROMPT, 0, generation=generation)
    assert local.pixels_sent == 0 and local.bytes_sent == 0 and set(local.timings) == {"decoding"}
    assert local.distance == pytest.approx(_distance(generation.source, local.recovered)) and local.distance > 0
    with pytest.raises(ValueError, match="generation was made for"):
        gs.traditional("a blue star", 0, generation=generation)


def test_bad_input(gs, backend, generation):
    with pytest.raises(TypeError, match="backend"):
        GSemCom(object())
    with pytest.raises(ValueError, match="latent_mask"):
        GSemCom(backend, latent_mask="bilinear")
    for bad in ("median", 300, -1, True):
        with pytest.raises(ValueError, match="fill must be 'nearest', 'ring' or an int"):
            GSemCom(backend, fill=bad)
    for bad in (0, 1.2, -0.5, True, "0.9"):
        with pytest.raises(ValueError, match=r"strength must be a number in \(0, 1\]"):
            GSemCom(backend, strength=bad)
    for bad in ((1, 2), (0, 0, 300), ("a", "b", "c")):
        with pytest.raises(ValueError, match="background must be 3 numbers"):
            GSemCom(backend, background=bad)
    with pytest.raises(TypeError, match="config"):
        GSemCom(backend, config={"xi": 0.5})
    with pytest.raises(ValueError, match="xi"):
        GSemCom(backend, GSemComConfig(xi=(0.9, 1.2)))
    with pytest.raises(ValueError, match="prompt"):
        gs.generate("   ", 0)
    with pytest.raises(TypeError, match="generation"):
        gs.extract("not a generation")
    with pytest.raises(TypeError, match="packet"):
        gs.decode(b"bytes")
    small = Packet(mask=np.zeros((8, 8), bool), pixels=np.zeros((0, 3), np.uint8), prompt=PROMPT)
    with pytest.raises(ValueError, match="packet must be"):
        gs.decode(small)
    assert isinstance(generation, Generation)


# ------------------------------------------------------------------------------------- calibration
def test_calibration_on_the_tiny_backend(backend):
    cal = calibrate_backend(backend, n=2, seed=0, prompts=["a red circle", "a blue square"], steps=2)
    assert cal["n"] == 2 and cal["t_max"] > 0 and cal["q_noise_min"] <= cal["q_noise_mean"]
    # Gaussian noise N(127.5, 63.75^2) against a random-model image: mean |difference| well above 0.1
    assert 0.1 < cal["t_max"] < 1.0


def test_load_t_max(tmp_path):
    path = tmp_path / "t_max.json"
    path.write_text(json.dumps({"toy": {"t_max": 0.75, "q_noise_min": 1.5}}))
    assert load_t_max("toy", path) == 0.75
    assert load_calibration("toy", path)["q_noise_min"] == 1.5
    with pytest.raises(KeyError, match="python -m gsemlab.calibration"):
        load_t_max("hub", path)


def test_profile_memory_records_every_stage(gs, generation):
    tr = gs.with_options(profile_memory=True).transmit(PROMPT, 200, seed=0, generation=generation)
    assert set(tr.peak_mb) == {"generation", "extraction", "packing", "decoding"}
    # the reused generation was not profiled (None); the stages that ran report an increase >= 0 MiB
    assert tr.peak_mb["generation"] is None
    assert all(tr.peak_mb[k] >= 0 for k in ("extraction", "packing", "decoding"))
    assert tr.peak_mb["decoding"] > 0  # the decoder allocates latents and activations
    assert gs.transmit(PROMPT, 200, seed=0, generation=generation).peak_mb == {}  # off by default


def test_ring_fill_by_hand():
    """``fill="ring"`` on a 6x6 image worked by hand: a received 4x4 frame (rows/cols 1-4) around
    a 2x2 hole, with received border pixels on the left column only."""

    img = np.zeros((6, 6, 3), np.uint8)
    mask = np.zeros((6, 6), bool)
    mask[1:5, 1:5] = True
    mask[2:4, 2:4] = False  # the inner hole
    img[1:5, 1:5] = (200, 10, 10)  # the frame: an object's colour ...
    img[1, 2] = img[2, 1] = (0, 0, 255)  # ... with two blue pixels on the hole's ring (of 8)
    mask[:, 0] = True
    img[:, 0] = [(9, 9, 9)] * 3 + [(1, 2, 3)] * 3  # border pixels: median (5, 5.5, 6) -> (5, 6, 6)
    packet = Packet(mask=mask, pixels=img[mask], prompt=PROMPT)
    out = fill_image(packet, "ring", background=(245, 245, 245))
    assert np.array_equal(out[mask], img[mask])
    # ring of the inner hole: the 8 frame pixels sharing an edge with it: 6 red and 2 blue
    assert (out[2:4, 2:4] == (200, 10, 10)).all()
    outer = ~mask & ~np.pad(np.ones((2, 2), bool), 2)  # the hole that reaches the border
    assert (out[outer] == (5, 6, 6)).all()  # numpy rounds 5.5 half to even: 6
    # no received border pixel: the outer hole takes the background guess, or without one its ring
    mask[:, 0] = False
    outer = ~mask & ~np.pad(np.ones((2, 2), bool), 2)
    packet = Packet(mask=mask, pixels=img[mask], prompt=PROMPT)
    assert (fill_image(packet, "ring", background=(245, 245, 245))[outer] == 245).all()
    no_prior = fill_image(packet, "ring")
    # the outer hole's ring: the frame's 12 outer pixels, 10 red and the 2 blue: median red
    assert (no_prior[outer] == (200, 10, 10)).all()
    empty = Packet(mask=np.zeros((4, 4), bool), pixels=np.zeros((0, 3), np.uint8), prompt=PROMPT)
    assert (fill_image(empty, "ring", background=(1, 2, 3)) == (1, 2, 3)).all()
    assert (fill_image(empty, "ring") == 128).all()


def test_toy_prior_background_is_shapesworlds_white(backend, gs):
    """The toy backend's prior guess is white (245, 245, 245), drawn in 60% of ShapesWorld scenes
    (counted here over 2000 sampled scenes); GSemCom takes it unless told otherwise."""
    from collections import Counter

    from gsemlab.toyworld.world import sample_scenes

    counts = Counter(s.background for s in sample_scenes(2000, seed=1))
    assert counts.most_common(1)[0][0] == "white" and 0.55 < counts["white"] / 2000 < 0.65
    assert backend.background == (245, 245, 245) and gs.background == (245, 245, 245)
    assert gs.with_options(background=(1, 2, 3)).background == (1, 2, 3)
    with pytest.raises(TypeError, match="packet must be a gsemlab.packing.Packet"):
        gs.fill_image(np.zeros((8, 8, 3), np.uint8))


def test_strength_keeps_the_decoder_step_count(backend):
    """diffusers runs int(num_inference_steps * strength) steps: the lengthened schedule keeps it
    at decode_steps for every strength."""
    for steps in (1, 2, 5, 7):
        for strength in (0.3, 0.5, 0.7, 0.84, 0.9, 0.99, 1.0):
            gs = GSemCom(backend, GSemComConfig(decode_steps=steps), strength=strength)
            assert int(gs.inpaint_schedule * strength) == steps
            assert int((gs.inpaint_schedule - 1) * strength) < steps  # and it is the shortest such
    assert GSemCom(backend, strength=0.9).inpaint_schedule == 6  # ceil(5 / 0.9)
    # default: 0.9 for the toy's 4-channel UNet, 1.0 for a 9-channel inpainting UNet
    assert backend.inpaint.unet.config.in_channels == 4 and GSemCom(backend).strength == 0.9
    unet9 = types.SimpleNamespace(config=types.SimpleNamespace(in_channels=9))
    nine = dataclasses.replace(backend, inpaint=types.SimpleNamespace(unet=unet9, vae_scale_factor=4))
    assert GSemCom(nine).strength == 1.0 and GSemCom(nine).inpaint_schedule == 5


def test_nearest_fill_copies_the_closest_received_pixel():
    """``fill="nearest"``: every missing pixel takes the colour of a received pixel at the smallest
    Euclidean distance (checked by brute force over all received pixels)."""

    rng = np.random.default_rng(3)
    mask = rng.random((12, 10)) < 0.15
    img = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    packet = Packet(mask=mask, pixels=img[mask], prompt=PROMPT)
    out = fill_image(packet, "nearest")
    assert np.array_equal(out[mask], img[mask])
    ky, kx = np.nonzero(mask)
    for y, x in zip(*np.nonzero(~mask)):
        d2 = (ky - y) ** 2 + (kx - x) ** 2
        candidates = {tuple(img[ky[i], kx[i]]) for i in np.flatnonzero(d2 == d2.min())}
        assert tuple(out[y, x]) in candidates
    empty = Packet(mask=np.zeros((4, 4), bool), pixels=np.zeros((0, 3), np.uint8), prompt=PROMPT)
    assert (fill_image(empty, "nearest") == 128).all()
