"""Tests of gsemlab.attention (Eq. 5-8) on tiny random-weight Stable Diffusion pipelines.

Oracles: a numpy softmax of the layers' own query/key projections (read with forward hooks), hand
arithmetic, and daam 0.2.0 (the paper's reference [16]) on a pipeline at daam's 512-pixel configuration.
"""

from __future__ import annotations

import warnings

import numpy as np
import PIL.Image
import pytest
import torch

from gsemlab.attention import AttentionStore, align_tokens, binarize, word_tokens
from gsemlab.testing import tiny_random_pipeline

PROMPT = "a small red circle floating above a blue squares"
# Tokens of PROMPT under the tiny tokenizer (whole-word merges for a, small, red, circle, above, blue; no
# merge chain for "floating", so it falls apart into its 8 bytes; "squares" ends as squa|re|s because the
# merge "r e" (from "red") outranks "squa r"). Position 0 is the start token:
#   0 <bos>, 1 a, 2 small, 3 red, 4 circle, 5-12 f l o a t i n g, 13 above, 14 a, 15 blue, 16-18 squa re s
EXPECTED_TOKENS = {"a": [1, 14], "small": [2], "red": [3], "circle": [4], "floating": list(range(5, 13)),
                   "above": [13], "blue": [15], "squares": [16, 17, 18]}


@pytest.fixture(scope="module")
def pipe():
    return tiny_random_pipeline(seed=0)  # 64x64 images, 16x16 latents, cross-attention at 16x16 and 8x8


def generate(pipe, prompt=PROMPT, *, steps=3, guidance=5.0, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    return pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, generator=g, output_type="np",
                **kw).images


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ---------------------------------------------------------------------------------- word -> tokens
def test_word_tokens_by_hand(pipe):
    assert word_tokens(pipe.tokenizer, PROMPT) == EXPECTED_TOKENS
    assert word_tokens(pipe.tokenizer, PROMPT, ["Red", "squares"]) == {"Red": [3], "squares": [16, 17, 18]}
    # spans as gsemlab.prompt.deconstruct gives them: "small" is PROMPT[2:7], "floating" PROMPT[19:27]
    assert word_tokens(pipe.tokenizer, PROMPT, spans=[(2, 7), (19, 27)]) == {
        "small": [2], "floating": list(range(5, 13))}


def test_alignment_without_offsets_matches_offsets(pipe):
    # the fallback for tokenizers without offset mappings must give the fast tokenizer's spans
    text = "A small RED circle, floating above: a blue squares!"
    enc = pipe.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert align_tokens(pipe.tokenizer, text) == [tuple(s) for s in enc["offset_mapping"]]


def test_wordpiece_tokenizer(tmp_path):
    # a BERT tokenizer (the toy model's kind): [CLS] at 0, word pieces "##..." joined to their word
    from transformers import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "circ", "##le", "above", "blue", "square", ","]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=True, model_max_length=32)
    text = "A red circle, above a blue square"
    # tokens: 1 a, 2 red, 3 circ, 4 ##le, 5 ",", 6 above, 7 a, 8 blue, 9 square
    assert word_tokens(tok, text) == {"A": [1], "red": [2], "circle": [3, 4], "above": [6], "a": [7],
                                      "blue": [8], "square": [9]}
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    assert align_tokens(tok, text) == [tuple(s) for s in enc["offset_mapping"]]


def test_word_not_in_prompt(pipe):
    with pytest.raises(ValueError, match="'green' is not in the prompt"):
        word_tokens(pipe.tokenizer, PROMPT, ["green"])
    with pytest.raises(ValueError, match="not in the prompt"):
        word_tokens(pipe.tokenizer, PROMPT, ["squa"])  # whole words only


# ------------------------------------------------------------------------------------ the capture
def test_capture_leaves_image_unchanged_and_restores_processors(pipe):
    plain = generate(pipe)
    before = dict(pipe.unet.attn_processors)
    with AttentionStore(pipe) as store:
        captured = generate(pipe)
    after = dict(pipe.unet.attn_processors)
    assert np.array_equal(plain, captured)  # bit-identical
    assert all(after[k] is before[k] for k in before)
    assert "encode_prompt" not in vars(pipe)
    assert store.n_steps == 3 and len(store.timesteps) == 3
    # the toy geometry: 2 down + 4 up cross-attention layers (mid block left out, as in Eq. 7)
    assert [(i.block, i.resolution) for i in store.layers] == [
        ("down", (16, 16)), ("down", (8, 8)), ("up", (8, 8)), ("up", (8, 8)), ("up", (16, 16)), ("up", (16, 16))]


def test_capture_with_a_non_default_processor(pipe):
    from diffusers.models.attention_processor import AttnProcessor

    saved = dict(pipe.unet.attn_processors)
    pipe.unet.set_attn_processor(AttnProcessor())  # the classic processor: the store wraps it
    try:
        plain = generate(pipe, steps=2)
        with AttentionStore(pipe) as store:
            captured = generate(pipe, steps=2)
        assert np.array_equal(plain, captured)
        maps = store.maps(layer=0)  # (heads, tokens, h, w), summed over 2 steps
        assert maps.shape == (8, 20, 16, 16)
        # with tokens="prompt" 20 of 77 columns are kept: 18 prompt tokens, start and one end token
    finally:
        pipe.unet.set_attn_processor(saved)


def test_probabilities_are_the_conditional_softmax(pipe):
    name = "down_blocks.0.attentions.0.transformer_blocks.0.attn2"
    layer = pipe.unet.get_submodule(name)
    seen = {"q": [], "k": []}
    hooks = [layer.to_q.register_forward_hook(lambda m, i, o: seen["q"].append(o.detach().double().numpy())),
             layer.to_k.register_forward_hook(lambda m, i, o: seen["k"].append(o.detach().double().numpy()))]
    try:
        with AttentionStore(pipe, tokens=None) as store:
            generate(pipe, steps=2, guidance=5.0)
    finally:
        for h in hooks:
            h.remove()
    heads, hd = 8, 4  # 32 channels in 8 heads
    for step in range(2):
        q, k = seen["q"][step], seen["k"][step]  # (2, 256, 32) and (2, 77, 32): [unconditional, conditional]
        assert q.shape == (2, 256, 32) and k.shape == (2, 77, 32)
        qc = q[1].reshape(256, heads, hd).transpose(1, 0, 2)  # (heads, 256, hd)
        kc = k[1].reshape(77, heads, hd).transpose(1, 0, 2)  # (heads, 77, hd)
        expected = softmax(qc @ kc.transpose(0, 2, 1) / np.sqrt(hd))  # Eq. 6, (heads, 256, 77)
        got = store.maps(step=step, layer=name)  # (heads, 77, 16, 16)
        got = got.reshape(heads, 77, 256).transpose(0, 2, 1)
        np.testing.assert_allclose(got, expected, atol=2e-6)
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)  # probabilities over the 77 tokens


def test_eq7_is_the_sum_over_steps_layers_heads_and_subtokens(pipe):
    # At the layers' own resolution (16x16) bicubic upsampling is the identity, so Eq. 7 must equal the
    # plain sum of the probabilities of the word's tokens over steps, heads and the two 16x16 layers.
    names = ["down_blocks.0.attentions.0.transformer_blocks.0.attn2",
             "up_blocks.1.attentions.1.transformer_blocks.0.attn2"]
    seen = {n: {"q": [], "k": []} for n in names}
    hooks = []
    for n in names:
        layer = pipe.unet.get_submodule(n)
        hooks.append(layer.to_q.register_forward_hook(lambda m, i, o, n=n: seen[n]["q"].append(o.double().numpy())))
        hooks.append(layer.to_k.register_forward_hook(lambda m, i, o, n=n: seen[n]["k"].append(o.double().numpy())))
    try:
        with AttentionStore(pipe) as store:
            generate(pipe, steps=2)
    finally:
        for h in hooks:
            h.remove()
    expected = {w: np.zeros((16, 16)) for w in ("red", "squares")}
    for n in names:
        for q, k in zip(seen[n]["q"], seen[n]["k"]):
            qc = q[1].reshape(256, 8, 4).transpose(1, 0, 2)
            kc = k[1].reshape(77, 8, 4).transpose(1, 0, 2)
            p = softmax(qc @ kc.transpose(0, 2, 1) / 2.0)  # sqrt(4) = 2; (heads, 256, 77)
            expected["red"] += p[:, :, 3].sum(0).reshape(16, 16)  # token 3
            expected["squares"] += p[:, :, [16, 17, 18]].sum((0, 2)).reshape(16, 16)  # squa + re + s
    got = store.word_maps(PROMPT, ["red", "squares"], size=16, layers=names)
    for w, e in expected.items():
        np.testing.assert_allclose(got[w], e, rtol=1e-5)


def test_storage_options_give_the_same_maps(pipe):
    with AttentionStore(pipe) as a:
        generate(pipe)
    with AttentionStore(pipe, tokens=None, keep_steps=False) as b:
        generate(pipe)
    ma, mb = a.word_maps(PROMPT), b.word_maps(PROMPT)
    assert ma.keys() == mb.keys() == EXPECTED_TOKENS.keys()
    for w in ma:
        assert ma[w].shape == (64, 64) and ma[w].min() >= 0
        np.testing.assert_allclose(ma[w], mb[w], rtol=1e-5, atol=1e-6)
    assert a.maps(layer=0).shape[1] == 20 and b.maps(layer=0).shape[1] == 77


def test_running_sum_is_the_sum_of_the_kept_steps(pipe):
    # keep_steps=False adds each step's probabilities in place, per group of same-shaped layers; layer by
    # layer it must equal the sum of the per-step records, for kept columns (tokens="prompt") and all
    with AttentionStore(pipe) as steps:
        generate(pipe, steps=3)
    for tokens in ("prompt", None):
        with AttentionStore(pipe, tokens=tokens, keep_steps=False) as total:
            generate(pipe, steps=3)
        for k in range(len(steps.layers)):
            by_step = sum(steps.maps(step=s, layer=k) for s in range(3))  # (heads, 20 columns, h, w)
            got = total.maps(layer=k)
            np.testing.assert_allclose(got[:, :20], by_step, rtol=1e-6, atol=1e-7)
            assert got.shape[1] == (20 if tokens else 77)
    assert steps.timesteps == [int(t) for t in pipe.scheduler.timesteps]  # plain ints, in order


def test_reads_inside_the_block_repeated_calls_and_errors(pipe):
    with AttentionStore(pipe, keep_steps=False) as store:
        generate(pipe, steps=2, prompt="a large green star")  # replaced by the next call
        generate(pipe, steps=2)
        inside = store.word_maps(PROMPT, ["red"])["red"]  # the last step is computed when first read
        layers = store.layers
    assert store.n_steps == 2 and store.prompts == [PROMPT]
    np.testing.assert_array_equal(store.word_maps(PROMPT, ["red"])["red"], inside)
    assert all(info.resolution is not None for info in layers)
    before = dict(pipe.unet.attn_processors)
    def stop(*args):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"), AttentionStore(pipe) as failed:
        generate(pipe, steps=2, callback_on_step_end=stop)
    assert failed._pending == []  # an interrupted run leaves nothing behind
    assert all(pipe.unet.attn_processors[k] is v for k, v in before.items())
    assert "encode_prompt" not in vars(pipe)


def test_batches_and_inpainting(pipe):
    from diffusers import StableDiffusionInpaintPipeline

    with AttentionStore(pipe) as store:
        generate(pipe, steps=2, num_images_per_prompt=2)
    assert store.prompts == [PROMPT, PROMPT] and store.maps(layer=0, image=1).shape == (8, 20, 16, 16)

    inpaint = StableDiffusionInpaintPipeline(**pipe.components, requires_safety_checker=False)
    inpaint.set_progress_bar_config(disable=True)
    image = PIL.Image.new("RGB", (64, 64), (128, 128, 128))
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[16:48, 16:48] = 255
    kw = {"image": image, "mask_image": PIL.Image.fromarray(mask), "height": 64, "width": 64, "strength": 1.0}
    plain = generate(inpaint, steps=2, **kw)
    with AttentionStore(inpaint) as store:
        captured = generate(inpaint, steps=2, **kw)
    assert np.array_equal(plain, captured)
    assert store.n_steps == 2
    assert store.maps(layer=0).shape == (8, 20, 16, 16)  # one conditional image: CFG's other half dropped
    assert store.word_maps(PROMPT, ["circle"])["circle"].shape == (64, 64)


def test_clear_errors(pipe):
    store = AttentionStore(pipe)
    with pytest.raises(ValueError, match="empty"):
        store.word_maps(PROMPT)
    with store:
        generate(pipe, steps=2)
    with pytest.raises(ValueError, match="does not match"):
        store.word_maps("a large green star")
    with pytest.raises(ValueError, match="not in the prompt"):
        store.word_maps(PROMPT, ["star"])
    with pytest.raises(ValueError, match="size"):
        store.word_maps(PROMPT, size=0)
    with pytest.raises(ValueError, match="not a recorded layer"):
        store.word_maps(PROMPT, layers=["mid_block.attentions.0.transformer_blocks.0.attn2"])
    with pytest.raises(ValueError, match="step 5 out of range"):
        store.maps(step=5)
    with pytest.raises(ValueError, match="blocks"):
        AttentionStore(pipe, blocks=("left",))
    with pytest.raises(TypeError, match="pipe"):
        AttentionStore(object())


# ------------------------------------------------------------------------------------------- daam
def test_word_maps_agree_with_daam():
    import daam  # daam 0.2.0 (installed --no-deps); spaCy is needed only by its parsed/dependency helpers

    # daam's 512-pixel configuration: 64x64 latents, VAE factor 8, 77-token context. Cross-attention at the
    # 32x32 level only (daam's factor 2) keeps it fast on a CPU: no self-attention over 4096 positions.
    big = tiny_random_pipeline(sample_size=64, vae_scale_factor=8, attention_levels=[1], seed=1)
    g = torch.Generator().manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # daam calls the deprecated torch.cuda.amp.autocast
        with daam.trace(big) as tc:  # daam outside, the store inside: both see the very same forward pass
            with AttentionStore(big) as store:
                big(PROMPT, num_inference_steps=2, guidance_scale=5.0, generator=g, output_type="latent")
            heat = tc.compute_global_heat_map()
    n_maps = 3 * 8  # daam averages over (layer, head): 1 down + 2 up cross-attention layers at 32x32, 8 heads
    ours = store.word_maps(PROMPT, size=64)  # daam aggregates on the 64x64 latent grid
    # "a" is left out: daam finds words by matching stripped sub-tokens, so its "a" also takes the byte
    # token "a" inside "floating"; the store maps words by character spans.
    for word in ("small", "red", "circle", "floating", "above", "blue", "squares"):
        theirs = heat.compute_word_heat_map(word).heatmap.numpy()  # mean over the word's sub-tokens
        r = np.corrcoef(theirs.ravel(), ours[word].ravel())[0, 1]
        assert r >= 0.999, (word, r)
        # sum (Eq. 7, sub-tokens summed) = mean (daam) * maps * sub-tokens
        np.testing.assert_allclose(ours[word], theirs * n_maps * len(EXPECTED_TOKENS[word]), rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------------------- binarize
def test_binarize_normalises_before_thresholding():
    a = np.array([[10.0, 10.5], [11.0, 12.0]])
    # normalised: (a - 10) / 2 = [[0, .25], [.5, 1]]
    assert binarize(a, 0.5).tolist() == [[False, False], [True, True]]
    assert binarize(a, 0.9).tolist() == [[False, False], [False, True]]
    assert binarize(a, 1.0).tolist() == [[False, False], [False, True]]
    assert binarize(a, 0.25).tolist() == [[False, True], [True, True]]
    # Eq. 8 on the raw map would pass everything: 0.5 * max = 6 <= 10 = min (the high floor)
    assert (a >= 0.5 * a.max()).all()
    assert binarize(np.full((3, 3), 2.0), 0.5).all()


@pytest.mark.parametrize("xi", [0, -0.1, 1.01, float("nan")])
def test_binarize_rejects_xi_outside_unit_interval(xi):
    with pytest.raises(ValueError, match="xi"):
        binarize(np.eye(3), xi)


def test_binarize_rejects_bad_maps():
    with pytest.raises(ValueError, match="2-D"):
        binarize(np.ones(4), 0.5)
    with pytest.raises(TypeError, match="xi"):
        binarize(np.eye(2), True)
    with pytest.raises(ValueError, match="finite"):
        binarize(np.array([[np.nan, 1.0], [0.0, 1.0]]), 0.5)
