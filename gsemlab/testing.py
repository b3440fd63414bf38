"""Tiny random-weight pipelines and stand-in metrics, for tests, benchmarks and demonstrations.

:func:`tiny_random_pipeline` builds a Stable Diffusion pipeline of the real classes (CLIP tokenizer and
text encoder, ``AutoencoderKL``, ``UNet2DConditionModel``, ``DDIMScheduler``) from configs, with random
weights and no download; saved to a folder and loaded through :func:`gsemlab.models.load_backend`, it
exercises the same loading code as the real models. :func:`stub_distance` and :func:`stub_quality` are
closed-form stand-ins for a perceptual distance and a quality score, so a test of a mechanism (budget,
mask, checksum, fallback) depends on no trained weights.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .attention import bytes_to_unicode

__all__ = ["TINY_WORDS", "stub_distance", "stub_quality", "tiny_random_pipeline"]


def stub_distance(a, b) -> float:
    """Mean absolute pixel difference of two uint8 images, divided by 255 (a stand-in for Eq. 15).

    Parameters
    ----------
    a, b : ndarray of uint8, shape (H, W, 3)
        Two images of the same shape.

    Returns
    -------
    float
        In [0, 1]; 0 for equal images.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    return float(np.abs(a - b).mean() / 255)


def stub_quality(img) -> float:
    """``1 + 9 * std / 127.5`` of a uint8 image's pixels (a stand-in for Eq. 16 on a 1-10 scale).

    Parameters
    ----------
    img : ndarray of uint8, shape (H, W, 3)

    Returns
    -------
    float
        1 for a flat image, up to 10 for an image of black and white halves.
    """
    return 1.0 + 9.0 * float(np.asarray(img, dtype=np.float64).std() / 127.5)


#: Whole words of the tiny tokenizer's vocabulary (any other word is split into bytes).
TINY_WORDS = ("a", "an", "the", "of", "to", "and", "on", "in", "with", "is", "small", "large", "big", "red", "green", "blue", "yellow", "purple", "orange", "white", "black", "gray", "circle", "square", "triangle", "star", "diamond", "cross", "above", "below", "left", "right", "next", "beside", "near", "sitting", "resting", "slowly", "quietly", "gently", "background", "car", "city", "driving", "through", "dog", "cat", "man", "hat")


def _tiny_tokenizer(model_max_length: int):
    """A CLIP BPE tokenizer over bytes with whole-word merges for a few words (others split into bytes)."""
    from transformers import CLIPTokenizer

    alphabet = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(alphabet + [c + "</w>" for c in alphabet])}
    merges = []
    for word in TINY_WORDS:  # merge chain: s m -> sm, sm a -> sma, ..., smal l</w> -> small</w>
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        cur = parts[0]
        for part in parts[1:]:
            if f"{cur} {part}" not in merges:
                merges.append(f"{cur} {part}")
            cur += part
            vocab.setdefault(cur, len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "vocab.json").write_text(json.dumps(vocab))
        Path(tmp, "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
        return CLIPTokenizer.from_pretrained(tmp, model_max_length=model_max_length)


def tiny_random_pipeline(
    *,
    sample_size: int = 16,
    vae_scale_factor: int = 4,
    block_out_channels: Sequence[int] = (32, 64),
    cross_attention_dim: int = 32,
    context_length: int = 77,
    attention_levels: Sequence[int] | None = None,
    inpainting: bool = False,
    seed: int = 0,
):
    """Build a random-weight Stable Diffusion pipeline from configs (no download), for tests and demos.

    Same classes as real Stable Diffusion: CLIP tokenizer (byte-level BPE over a small vocabulary),
    ``CLIPTextModel``, ``AutoencoderKL``, ``UNet2DConditionModel`` with cross-attention (in the chosen
    levels' down and up blocks and the mid block), ``DDIMScheduler``. The defaults mirror the toy model's geometry (64x64 images, 16x16
    latents, cross-attention at 16x16 and 8x8); ``sample_size=64, vae_scale_factor=8`` gives daam's
    512-pixel configuration.

    Parameters
    ----------
    sample_size : int
        Latent side in pixels of the latent grid.
    vae_scale_factor : int
        Image side / latent side; a power of two >= 2.
    block_out_channels : sequence of int
        UNet channels per level (each level has one cross-attention layer per down/up resnet).
    cross_attention_dim : int
        Width of the text encoder (the context of the cross-attention).
    context_length : int
        Token positions of the text encoder (77 in Stable Diffusion).
    attention_levels : sequence of int, optional
        UNet levels (0 = the full latent grid) whose blocks have cross-attention; default every level.
        Leaving level 0 out keeps a 64x64 latent grid fast on a CPU (no self-attention over 4096 tokens).
    inpainting : bool
        Return a ``StableDiffusionInpaintPipeline`` with a 9-channel UNet (latents, mask, masked image).
    seed : int
        Seed of the random weights (the global torch RNG is left untouched).

    Returns
    -------
    diffusers.StableDiffusionPipeline or diffusers.StableDiffusionInpaintPipeline
        On CPU, float32, progress bar off, no safety checker.
    """
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    for arg, value in (("sample_size", sample_size), ("cross_attention_dim", cross_attention_dim),
                       ("context_length", context_length), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if arg == "seed" else 1):
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    if isinstance(vae_scale_factor, bool) or not isinstance(vae_scale_factor, int) or vae_scale_factor < 2 \
            or vae_scale_factor & (vae_scale_factor - 1):
        raise ValueError(f"vae_scale_factor must be a power of two >= 2, got {vae_scale_factor!r}")
    channels = tuple(int(c) for c in block_out_channels)
    if not channels or any(c < 8 or c % 8 for c in channels):
        raise ValueError(f"block_out_channels must be multiples of 8, got {block_out_channels!r}")
    levels_with_attention = set(range(len(channels)) if attention_levels is None else attention_levels)
    if not levels_with_attention <= set(range(len(channels))):
        raise ValueError(f"attention_levels must be indices below {len(channels)}, got {attention_levels!r}")
    down = tuple("CrossAttnDownBlock2D" if i in levels_with_attention else "DownBlock2D" for i in range(len(channels)))
    up = tuple("CrossAttnUpBlock2D" if i in levels_with_attention else "UpBlock2D"
               for i in reversed(range(len(channels))))
    tokenizer = _tiny_tokenizer(context_length)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=cross_attention_dim, intermediate_size=2 * cross_attention_dim,
            num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=context_length,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ))
        levels = vae_scale_factor.bit_length()  # factor 2**(levels - 1)
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,) * levels,
            down_block_types=("DownEncoderBlock2D",) * levels, up_block_types=("UpDecoderBlock2D",) * levels,
            layers_per_block=1, norm_num_groups=4, sample_size=sample_size * vae_scale_factor,
        )
        unet = UNet2DConditionModel(
            sample_size=sample_size, in_channels=9 if inpainting else 4, out_channels=4,
            block_out_channels=channels, layers_per_block=1, norm_num_groups=8,
            down_block_types=down, up_block_types=up,
            cross_attention_dim=cross_attention_dim, attention_head_dim=8,
        )
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    cls = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
    pipe = cls(vae=vae, text_encoder=text_encoder.eval(), tokenizer=tokenizer, unet=unet.eval(),
               scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe
