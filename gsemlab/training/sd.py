"""Builders of the toy text-to-image model's components (diffusers / transformers classes).

The toy model is a latent diffusion model in the layout of Stable Diffusion, small enough to train
on two CPU cores: a word-level BERT tokenizer and a bidirectional BERT text encoder (so a shape
word early in the caption can see the relation word after it, which CLIP's causal encoder cannot),
an AutoencoderKL from 64x64x3 pixels to 16x16x4 latents (three blocks, scale factor 4), a
UNet2DConditionModel with cross-attention at 16x16 and 8x8 (and in its 4x4 mid block), and a DDPM
noise schedule sampled with DDIM in 25 steps. Only the training builds these: the run-time code loads
the exported pipeline folder (:data:`gsemlab.data.TOY_SD_PATH`).
"""
from __future__ import annotations

import os
import tempfile

from ..toyworld.world import MAX_LENGTH, VOCAB

__all__ = ["MAX_LENGTH", "SCHEDULE", "SPECIAL", "TEXT_CONFIG", "UNET_CONFIG", "VAE_CONFIG",
           "build_sample_scheduler", "build_text_encoder", "build_tokenizer", "build_train_scheduler",
           "build_unet", "build_vae", "collapse_posterior"]

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SCHEDULE = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon")
TEXT_CONFIG = dict(hidden_size=128, num_hidden_layers=3, num_attention_heads=4, intermediate_size=256,
                   max_position_embeddings=MAX_LENGTH, type_vocab_size=1, hidden_dropout_prob=0.0,
                   attention_probs_dropout_prob=0.0)
VAE_CONFIG = dict(in_channels=3, out_channels=3, latent_channels=4,
                  down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                  block_out_channels=(16, 32, 64), layers_per_block=1, norm_num_groups=8, sample_size=64)
# note: diffusers' ``attention_head_dim`` is the number of heads per block (16 channels per head here)
UNET_CONFIG = dict(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
                   block_out_channels=(32, 96, 128),
                   down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                   up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                   mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=128,
                   attention_head_dim=(2, 6, 8), norm_num_groups=8)


def build_tokenizer():
    """A word-level BertTokenizer whose vocabulary is ShapesWorld's words.

    Returns
    -------
    transformers.BertTokenizer
        Lower-casing, ``model_max_length`` 32 (``MAX_LENGTH``); every caption word
        (``toyworld.world.VOCAB``) is one token, wrapped in ``[CLS] ... [SEP]`` and padded with ``[PAD]``.
    """
    from transformers import BertTokenizer

    words = list(SPECIAL) + [w for w in VOCAB]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vocab.txt")
        with open(path, "w") as f:
            f.write("\n".join(words) + "\n")
        tok = BertTokenizer(path, do_lower_case=True, model_max_length=MAX_LENGTH)
        return tok


def build_text_encoder(vocab_size: int, **overrides):
    """A small bidirectional BertModel used as the pipeline's text encoder.

    Parameters
    ----------
    vocab_size : int
        The tokenizer's vocabulary size.
    **overrides
        BertConfig fields replacing ``TEXT_CONFIG`` (hidden 128, 3 layers, 4 heads).

    Returns
    -------
    transformers.BertModel
        Maps token ids (B, 32) to hidden states (B, 32, 128), the UNet's cross-attention context.
    """
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=vocab_size, **{**TEXT_CONFIG, **overrides})
    return BertModel(cfg)


def build_vae(**overrides):
    """AutoencoderKL from images (B, 3, 64, 64) in [-1, 1] to latents (B, 4, 16, 16).

    Three blocks (16, 32, 64 channels), so the scale factor is 2**2 = 4; ``overrides`` replace
    ``VAE_CONFIG`` fields (e.g. ``scaling_factor``).
    """
    from diffusers import AutoencoderKL

    return AutoencoderKL(**{**VAE_CONFIG, **overrides})


def build_unet(**overrides):
    """UNet2DConditionModel predicting the noise of latents (B, 4, 16, 16) (Eq. 4).

    Channels (32, 96, 128) at 16x16, 8x8 and 4x4; cross-attention to the text (B, 32, 128) at
    16x16 and 8x8 and in the 4x4 mid block, 16 channels per head.  ``overrides`` replace
    ``UNET_CONFIG`` fields.
    """
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**{**UNET_CONFIG, **overrides})


def collapse_posterior(vae, logvar: float = -30.0):
    """Make the VAE's encoder deterministic: its posterior becomes a point mass at its mean.

    The UNet and the fine-tuned decoder were trained on posterior means, but the toy VAE's KL weight
    is so small that its posterior std stayed near 1, wider than the spread of the means. diffusers'
    inpainting pipeline *samples* the posterior for the known image, so the known region would come
    back as noise. Setting the log-variance output of ``quant_conv`` to a constant ``logvar`` leaves
    the mean, and so generation, unchanged.

    Parameters
    ----------
    vae : diffusers.AutoencoderKL
        Modified in place (``quant_conv``: 2 * latent_channels output channels, the second half is
        the log-variance).
    logvar : float
        The constant log-variance; the default -30 is diffusers' lower clamp (std 3e-7).

    Returns
    -------
    diffusers.AutoencoderKL
        ``vae``.
    """
    import math

    import torch

    conv = getattr(vae, "quant_conv", None)
    if not isinstance(conv, torch.nn.Conv2d):
        raise TypeError(f"vae must be a diffusers AutoencoderKL with a quant_conv layer, "
                        f"got {type(vae).__name__}")
    if isinstance(logvar, bool) or not isinstance(logvar, (int, float)) or not math.isfinite(logvar):
        raise ValueError(f"logvar must be a finite number, got {logvar!r}")
    c = vae.config.latent_channels
    with torch.no_grad():
        conv.weight[c:].zero_()
        conv.bias[c:].fill_(float(logvar))
    return vae


def build_train_scheduler():
    """The DDPM noise schedule used for training (cosine betas, epsilon prediction)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE)


def build_sample_scheduler():
    """DDIM (deterministic, eta = 0) on the training schedule, for 25-step sampling.

    DDIM is used rather than DPM-Solver++: the cosine schedule reaches alpha_bar ~ 0 at t = T, where a
    data-prediction solver divides by a vanishing sqrt(alpha_bar); on the toy model DPM-Solver++ (even
    with ``lambda_min_clipped``) left worm-like texture in most images.
    """
    from diffusers import DDIMScheduler

    return DDIMScheduler(**SCHEDULE, clip_sample=False, set_alpha_to_one=False, steps_offset=1)

