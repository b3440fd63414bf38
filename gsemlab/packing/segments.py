"""Semantic information packing, Eq. 14 of [G-SemCom]: disjoint segments in importance order, sent
until the budget is spent.

The MASP orders the clean segments of the kept words by importance (Eq. 12) and makes them disjoint,
``s_1 = A_1, s_2 = A_2 \\ s_1, s_3 = A_3 \\ (s_1 | s_2), ...`` (Eq. 14); then it sends whole segments in
that order until the bandwidth budget is spent, and the part of the next segment that still fits,
taken in raster order. The budget counts pixels: Table III sets the cost per transmitted item to
O = 1, one pixel (all its channels) per unit. (DBSCAN, Eq. 13, which cleans the segments, is
:mod:`gsemlab.segment`.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .codecs import as_image
from .packet import Packet

__all__ = ["PARTIAL_RULES", "disjoint_segments", "pack"]

# What the packet does with the first segment that does not fit the budget (the paper is silent):
# "raster": its first pixels in raster order fill the budget; "priority": its pixels in decreasing
# order of a priority map (its word's attention), so the part sent is the word's core, not a band of
# rows; "skip": it is not sent, and the later segments that still fit are; "stop": it is not sent,
# and neither is any later segment (the packet is the longest prefix of whole segments that fits).
PARTIAL_RULES = ("stop", "raster", "priority", "skip")


def _as_mask_list(masks, name: str) -> list[np.ndarray]:
    """Validate a sequence (or (K, H, W) array) of equal-shape 2-D boolean masks."""
    if isinstance(masks, np.ndarray):
        if masks.ndim != 3:
            raise ValueError(
                f"{name} must be a (K, H, W) array or a sequence of 2-D masks, got shape {masks.shape}"
            )
        out = list(masks)
    elif isinstance(masks, (str, bytes)) or not isinstance(masks, Sequence):
        raise TypeError(f"{name} must be a sequence of boolean masks, got {type(masks).__name__}")
    else:
        out = [np.asarray(m) for m in masks]
    shapes = [m.shape for m in out]
    if any(len(s) != 2 for s in shapes):
        raise ValueError(f"{name} must be 2-D (H, W) masks, got shapes {shapes}")
    if len(set(shapes)) > 1:
        raise ValueError(f"{name} must all have the same shape, got {shapes}")
    for m in out:
        if m.dtype != bool:
            raise TypeError(f"{name} must be boolean masks, got dtype {m.dtype}")
    return out


def disjoint_segments(masks_in_importance_order) -> list[np.ndarray]:
    """Make importance-ordered segments disjoint, Eq. 14 of [G-SemCom].

    ``s_1 = A_1`` and ``s_k = A_k \\ (s_1 | ... | s_{k-1})``: a pixel belongs to the most important
    word whose segment covers it.

    Parameters
    ----------
    masks_in_importance_order : sequence of K arrays of bool, shape (H, W), or array (K, H, W)
        Clean segments (after DBSCAN, Eq. 13), most important word first.

    Returns
    -------
    list of K ndarray of bool, shape (H, W)
        Pairwise disjoint; their union equals the union of the inputs. Empty input gives ``[]``.

    Raises
    ------
    ValueError
        If the masks are not 2-D or their shapes differ.
    TypeError
        If a mask is not boolean.
    """
    masks = _as_mask_list(masks_in_importance_order, "masks_in_importance_order")
    if not masks:
        return []
    taken = np.zeros(masks[0].shape, dtype=bool)
    out = []
    for m in masks:
        seg = m & ~taken
        taken |= seg
        out.append(seg)
    return out


def pack(image, segments, budget_pixels: int | None, prompt: str = "", *, partial: str = "stop",
         priorities=None) -> Packet:
    """Pack the most important pixels of an image within a pixel budget (Eq. 14 of [G-SemCom], Sec. IV-C).

    Whole segments are sent in order while they fit; then, by the ``partial`` rule, nothing more
    ("stop", the default: the packet is the longest prefix of whole segments within the budget), or
    the first pixels in raster order of the next segment fill what is left of the budget ("raster"),
    or its pixels of highest priority ("priority"), or it is skipped and later segments that fit are
    sent ("skip").
    Segments are made disjoint first
    (:func:`disjoint_segments`, a no-op for disjoint input), so no pixel is counted twice.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, C) or (H, W)
        The source image.
    segments : sequence of arrays of bool, shape (H, W), or array (K, H, W)
        Segments in importance order (Eq. 14).
    budget_pixels : int or None
        Bandwidth in pixels, O = 1 per pixel (Table III); None sends every segment pixel.
    prompt : str, default ""
        The prompt, sent along.
    partial : {"stop", "raster", "priority", "skip"}
        What happens to the first segment that does not fit (``PARTIAL_RULES``).
    priorities : sequence of arrays of float, shape (H, W), optional
        One map per segment (e.g. its word's attention map), required by ``partial="priority"``:
        a partial segment sends its pixels in decreasing priority (ties in raster order).

    Returns
    -------
    Packet
        Holds ``min(budget_pixels, total segment pixels)`` pixels ("raster", "priority"), the
        pixels of the longest prefix of whole segments that fits ("stop"), or of all the whole
        segments that fit in turn ("skip").

    Raises
    ------
    ValueError
        If the budget is negative, the segments' shape differs from the image's (H, W), ``partial``
        is not a known rule, or ``priorities`` are missing or mis-shaped for "priority".
    TypeError
        If the image is not uint8, the segments not boolean, the budget not an integer or None,
        or the prompt not a str.
    """
    img = as_image(image)
    segs = disjoint_segments(segments)
    if any(s.shape != img.shape[:2] for s in segs):
        raise ValueError(f"segments must have the image's shape {img.shape[:2]}, got {segs[0].shape}")
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    if budget_pixels is not None:
        if isinstance(budget_pixels, bool) or not isinstance(budget_pixels, (int, np.integer)):
            raise TypeError(f"budget_pixels must be an int or None, got {type(budget_pixels).__name__}")
        if budget_pixels < 0:
            raise ValueError(f"budget_pixels must be >= 0, got {budget_pixels}")
    if partial not in PARTIAL_RULES:
        raise ValueError(f"partial must be one of {PARTIAL_RULES}, got {partial!r}")
    if partial == "priority":
        if priorities is None or len(priorities) != len(segs):
            raise ValueError(f"partial='priority' needs one priority map per segment ({len(segs)})")
        priorities = [np.asarray(pm, dtype=float) for pm in priorities]
        if any(pm.shape != img.shape[:2] for pm in priorities):
            raise ValueError(f"priority maps must have the image's shape {img.shape[:2]}")
    mask = np.zeros(img.shape[:2], dtype=bool)
    left = np.inf if budget_pixels is None else int(budget_pixels)
    for k, seg in enumerate(segs):
        n = int(seg.sum())
        if n <= left:
            mask |= seg
            left -= n
        elif partial == "skip":
            continue
        elif partial == "stop":
            break
        else:
            where = np.flatnonzero(seg)
            if partial == "priority":
                where = where[np.argsort(-priorities[k].reshape(-1)[where], kind="stable")]
            mask.reshape(-1)[where[: int(left)]] = True
            break
    return Packet(mask=mask, pixels=img[mask], prompt=prompt)
