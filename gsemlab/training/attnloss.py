"""Grounding loss on the toy UNet's cross-attention (TokenCompose-style), added to the UNet stage's loss.

ShapesWorld knows where every word of a caption is in its image, so the UNet can be told, while it
learns to denoise, which pixels each word's cross-attention (Eq. 6) should fall on.  Two terms,
after TokenCompose (Wang et al., CVPR 2024), averaged over the supervised tokens of the batch and
over the cross-attention layers:

* token term: ``(1 - sum_p a_k(p) m_k(p) / sum_p a_k(p))**2``, one minus the share of token k's
  attention mass inside its region, squared;
* pixel term: binary cross-entropy between ``a_k(p)`` (the softmax probability of token k at
  pixel p, averaged over heads) and the region ``m_k(p)``.

The probabilities come, with gradients, from :class:`gsemlab.guidance.GroundingProcessor` (installed by
:func:`gsemlab.guidance.install_grounding`). Regions are soft masks (the area fraction of each latent
cell covered), pooled to each layer's resolution.

Supervised words: shape, colour and size words -> their object(s); relation words -> the two related
objects; verbs and adverbs -> the subject (the first object, which they describe); "shapes" -> all
objects; "background" and the background's colour word -> the pixels no object covers.  Articles,
prepositions, punctuation, number words, "ShapesWorld" and the special tokens are left free.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..toyworld.world import ADVERBS, SIZE, VERBS, object_mask

__all__ = ["BACKGROUND_BIT", "grounding_loss", "object_fractions", "region_masks", "token_regions"]

BACKGROUND_BIT = 8  # bits 1, 2, 4: objects 0, 1, 2; bit 8: background


def token_regions(scene, tokens: list[str], max_length: int) -> np.ndarray:
    """Region code of every token position of a caption.

    Parameters
    ----------
    scene : gsemlab.toyworld.Scene
        The scene the caption describes.
    tokens : list of str
        The tokenizer's word pieces of the caption, without the special tokens.
    max_length : int
        Token positions of the text encoder (``[CLS]`` at 0, so caption token j sits at j + 1).

    Returns
    -------
    ndarray of uint8, shape (max_length,)
        0 for an unsupervised position, else a bit set: bit ``2**i`` for object i, 8 for the background.
    """
    words = {k.lower(): v for k, v in scene.words.items()}
    code = np.zeros(max_length, np.uint8)
    for j, t in enumerate(tokens[: max_length - 2]):
        idx = words.get(t)
        if t in VERBS or t in ADVERBS:
            idx = (0,)
        if idx is None or idx == "all":
            continue
        if idx == "background":
            code[j + 1] = BACKGROUND_BIT
        else:
            code[j + 1] = sum(1 << i for i in idx)
    return code


def object_fractions(scene, cells: int = 16) -> np.ndarray:
    """Area fraction of each latent cell covered by each object of a scene.

    Parameters
    ----------
    scene : gsemlab.toyworld.Scene
        One to three objects, in caption order.
    cells : int
        Latent cells per side; must divide the 64-pixel image side (16 for the toy VAE's factor 4).

    Returns
    -------
    ndarray of uint8, shape (3, cells, cells)
        Fraction of each cell's pixels inside object i, times 255 (255 = the whole cell); rows of
        absent objects are 0.
    """
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < 1 or SIZE % cells:
        raise ValueError(f"cells must be a positive divisor of {SIZE}, got {cells!r}")
    out = np.zeros((3, cells, cells), np.uint8)
    f = SIZE // cells
    for i, o in enumerate(scene.objects):
        frac = object_mask(o).reshape(cells, f, cells, f).mean(axis=(1, 3))
        out[i] = np.round(frac * 255).astype(np.uint8)
    return out


def region_masks(codes: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
    """Soft region of every token position.

    Parameters
    ----------
    codes : Tensor of uint8, shape (B, T)
        Region codes from `token_regions`.
    objects : Tensor of uint8, shape (B, 3, H, W)
        Object area fractions from `object_fractions` (255 = the whole cell).

    Returns
    -------
    Tensor of float, shape (B, T, H, W), values in [0, 1]
        The union (clamped sum) of the coded objects' fractions; for the background code, one minus
        the union of all objects; zeros for unsupervised positions.
    """
    if codes.ndim != 2 or objects.ndim != 4 or objects.shape[:2] != (codes.shape[0], 3):
        raise ValueError(f"codes must be (B, T) and objects (B, 3, H, W) with the same B, got "
                         f"{tuple(codes.shape)} and {tuple(objects.shape)}")
    obj = objects.float() / 255.0
    bits = torch.stack([(codes >> i) & 1 for i in range(3)], dim=-1).float()  # (B, T, 3)
    m = torch.einsum("bto,bohw->bthw", bits, obj).clamp(max=1.0)
    bg = (1.0 - obj.sum(1).clamp(max=1.0))[:, None]  # (B, 1, 16, 16)
    is_bg = ((codes & BACKGROUND_BIT) > 0).float()[..., None, None]
    return m * (1 - is_bg) + bg * is_bg


def grounding_loss(probs: list[torch.Tensor], masks: torch.Tensor, keep: torch.Tensor,
                   pixel_weight: float = 0.5) -> torch.Tensor:
    """Token term + ``pixel_weight`` x pixel term, averaged over layers.

    Parameters
    ----------
    probs : list of Tensor (B, L, T)
        Head-averaged cross-attention probabilities per layer, L = h * w square.
    masks : Tensor (B, T, 16, 16)
        Soft regions from `region_masks`.
    keep : Tensor (B, T) of bool
        Supervised token positions.
    pixel_weight : float
        Weight of the pixel term (>= 0).

    Returns
    -------
    Tensor, scalar
        The loss (dimensionless; 0 when every supervised token's attention lies inside its region
        and equals its mask).
    """
    if not probs:
        raise ValueError("probs must hold at least one layer's probabilities, got an empty list")
    if masks.shape[:2] != keep.shape:
        raise ValueError(f"masks (B, T, H, W) and keep (B, T) disagree: {tuple(masks.shape)} and "
                         f"{tuple(keep.shape)}")
    if not pixel_weight >= 0:
        raise ValueError(f"pixel_weight must be >= 0, got {pixel_weight!r}")
    n = keep.float().sum().clamp(min=1.0)
    total = probs[0].new_zeros(())
    for p in probs:
        side = round(p.shape[1] ** 0.5)
        m = masks if side == masks.shape[-1] else F.adaptive_avg_pool2d(masks, side)
        m = m.flatten(2)  # (B, T, L)
        a = p.transpose(1, 2)  # (B, T, L)
        inside = (a * m).sum(-1) / a.sum(-1).clamp(min=1e-8)
        token = ((1 - inside) ** 2 * keep).sum() / n
        bce = F.binary_cross_entropy(a.clamp(1e-6, 1 - 1e-6), m, reduction="none").mean(-1)
        pixel = (bce * keep).sum() / n
        total = total + token + pixel_weight * pixel
    return total / len(probs)
