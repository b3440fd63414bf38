"""Layout guidance: steer a text-to-image model's objects into the asked relation by its cross-attention.

A diffusion model can learn *what* a caption's objects look like and *where* each word's attention goes
(chapter 2) without learning *where* to put the objects. This module adds, at sampling time and without
training, the backward guidance of Chen, Laina and Vedaldi ("Training-free layout control with
cross-attention guidance", WACV 2024), with the layout given by a ShapesWorld caption's relation
instead of boxes:

* at each of the first ``steps`` denoising steps, one extra UNet pass (text condition only) records
  the cross-attention probabilities (Eq. 6, head-averaged) of every layer, with gradients
  (:class:`GroundingProcessor`, installed by :func:`install_grounding`);
* the centroid of each of the two related objects' attention (its colour, size and shape tokens,
  summed, normalised over the pixels) is computed per layer, in image coordinates in [0, 1];
* the loss asks the second object's centroid to lie at least ``margin`` further along the relation's
  axis than the first's, and the axis offset to exceed the perpendicular one (the rule of
  ``toyworld.relation_holds``), averaged over the layers (:func:`relation_loss`);
* the latents take one normalised gradient step against the loss, and sampling goes on.

An optional second term (``excite > 0``) is the Attend-and-Excite loss of Chefer et al. ("Attend-and-
Excite: attention-based semantic guidance for text-to-image diffusion models", SIGGRAPH 2023) for
every named object, relation or not: an object whose tokens hold no strong attention anywhere in the
image is being neglected, and its attention is pushed up (:func:`excite_loss`).  It takes its own
normalised gradient step, so turning it on does not weaken the relation step.  By default it acts on
one-object captions only.

Use it through diffusers' step-end callback::

    cb = RelationGuidance(pipe, caption)
    pipe(caption, callback_on_step_end=cb, callback_on_step_end_tensor_inputs=["latents"])

By default a one-object caption gets the excite term alone; with ``excite=0`` a caption without a
relation, or whose two objects have no token, leaves the sampler unchanged.  What the guidance buys on
held-out captions is measured by ``benchmarks/layout_guidance.py`` and shown in chapter 2.
"""
from __future__ import annotations

import math
import numbers

import torch

from .attention import output, probabilities, project
from .toyworld.locate import parse_caption
from .toyworld.world import COLOURS, RELATIONS, SHAPES, SIZES

__all__ = ["GroundingProcessor", "RelationGuidance", "excite_loss", "install_grounding",
           "object_token_positions", "relation_loss"]

# axis of the relation (0: x, 1: y; image y points down) and the sign of (second - first) it asks for
_AXIS = {"above": (1, 1.0), "below": (1, -1.0), "left": (0, 1.0), "right": (0, -1.0)}


class GroundingProcessor:
    """Cross-attention processor computing Eq. 6 explicitly, differentiably, and keeping the
    head-averaged probabilities (B, L, T) of each call in ``self.sink`` when it is a list.

    It computes Eq. 5-6 of [G-SemCom]: the probabilities, and the layer's output from them.

    Its output equals diffusers' default processor's up to round-off; unlike the recording
    processor of :mod:`gsemlab.attention`, the kept probabilities carry gradients, for losses on
    the attention (the guidance here, the grounding loss of :mod:`gsemlab.training.attnloss`).

    Attributes
    ----------
    sink : list or None
        Where each call appends its probabilities, Tensor (B, L, T) with L = h * w pixels and T token
        positions; None (default) keeps nothing.
    """

    def __init__(self):
        self.sink: list | None = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        if encoder_hidden_states is None:
            raise RuntimeError("GroundingProcessor is meant for cross-attention layers only")
        query, key, value, residual, shape4 = project(attn, hidden_states, encoder_hidden_states, temb,
                                                       value=True)
        probs = probabilities(query, key, None, 1.0 / math.sqrt(query.shape[-1]))  # (B, heads, L, T)
        if self.sink is not None:
            self.sink.append(probs.mean(1))
        return output(attn, torch.matmul(probs.to(value.dtype), value), residual, shape4)


def install_grounding(unet) -> list[GroundingProcessor]:
    """Give every cross-attention layer (``attn2``) of a diffusers UNet a :class:`GroundingProcessor`.

    Parameters
    ----------
    unet : diffusers.UNet2DConditionModel
        Changed in place; its self-attention processors are kept.

    Returns
    -------
    list of GroundingProcessor
        One per cross-attention layer, in the UNet's order; set ``.sink`` to a list to collect.
    """
    procs = {}
    out = []
    for name in unet.attn_processors:
        if name.endswith("attn2.processor"):
            p = GroundingProcessor()
            procs[name] = p
            out.append(p)
        else:
            procs[name] = unet.attn_processors[name]
    unet.set_attn_processor(procs)
    return out


def object_token_positions(caption: str, tokenizer) -> list[list[int]]:
    """Token positions (in the text encoder's input, ``[CLS]`` at 0) of each object's words.

    An object's words are its colour, size and shape words: the noun phrase that ends at its shape
    word (articles and number words in between are skipped).

    Parameters
    ----------
    caption : str
        A ShapesWorld caption.
    tokenizer : transformers tokenizer
        The pipeline's tokenizer (one token per ShapesWorld word).

    Returns
    -------
    list of list of int
        One list per object of the caption, in caption order.
    """
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"caption must be a non-empty str, got {caption!r}")
    objs, _, _ = parse_caption(caption)
    tokens = tokenizer.tokenize(caption)
    positions: list[list[int]] = []
    current: list[int] = []
    for j, t in enumerate(tokens):
        if len(positions) == len(objs):
            break
        if t in COLOURS or t in SIZES:
            current.append(j + 1)
        elif t in SHAPES:
            positions.append(current + [j + 1])
            current = []
    return positions + [[] for _ in range(len(objs) - len(positions))]


def _side(probs: torch.Tensor) -> int:
    """Side of the square layer whose (L, T) probabilities are given; ValueError if L is no square."""
    side = round(probs.shape[0] ** 0.5)
    if side * side != probs.shape[0]:
        raise ValueError(f"probs must have a square number of pixels, got {probs.shape[0]}")
    return side


def _centroid(probs: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(x, y) in [0, 1] of the summed attention of the tokens ``idx``; probs (L, T), L a square."""
    side = _side(probs)
    a = probs[:, idx].sum(-1)
    a = a / a.sum().clamp_min(1e-12)
    grid = torch.linspace(0.0, 1.0, side, dtype=probs.dtype, device=probs.device)
    ys, xs = torch.meshgrid(grid, grid, indexing="ij")
    return torch.stack([(a * xs.reshape(-1)).sum(), (a * ys.reshape(-1)).sum()])


def relation_loss(probs: list, first, second, relation: str, margin: float = 0.25) -> torch.Tensor:
    """Layout loss of two objects' attention centroids for a relation, averaged over layers.

    With ``c1``, ``c2`` the centroids (x, y in [0, 1], y down) of the first and second object's
    tokens, ``s`` the offset ``c2 - c1`` along the relation's axis (signed so that the relation holds
    for ``s > 0``: "above" is ``y2 - y1``) and ``p`` the absolute offset across it, the loss of a
    layer is ``max(0, margin - s)**2 + 0.5 * max(0, p - s)**2``.

    Parameters
    ----------
    probs : list of Tensor, each (L, T) or (1, L, T)
        Head-averaged cross-attention probabilities of each layer (Eq. 6), L pixels (a square), T
        token positions.
    first, second : sequence of int
        Token positions of the first and second object (:func:`object_token_positions`).
    relation : {"above", "below", "left", "right"}
        Where the first object is with respect to the second.
    margin : float
        Wanted offset along the axis, as a fraction of the image side (> 0).

    Returns
    -------
    Tensor
        Scalar, >= 0; 0 when every layer's centroids satisfy the relation with the margin.
    """
    if relation not in _AXIS:
        raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
    if not len(first) or not len(second):
        raise ValueError("first and second must each name at least one token position")
    if not probs:
        raise ValueError("probs must hold at least one layer")
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not margin > 0:
        raise ValueError(f"margin must be a number > 0, got {margin!r}")
    axis, sign = _AXIS[relation]
    i1, i2 = torch.as_tensor(list(first)), torch.as_tensor(list(second))
    total = 0.0
    for p in probs:
        p = p[0] if p.dim() == 3 else p
        d = _centroid(p, i2) - _centroid(p, i1)
        s, perp = sign * d[axis], d[1 - axis].abs()
        total = total + torch.relu(margin - s) ** 2 + 0.5 * torch.relu(perp - s) ** 2
    return total / len(probs)


def excite_loss(probs: list, objects, tau: float = 0.5) -> torch.Tensor:
    """Attend-and-Excite loss: every object's tokens should hold a strong attention peak somewhere.

    For each layer of side at least 8 and each object, the attention probabilities of all token
    positions but ``[CLS]`` (which soaks up most of each pixel's attention) are renormalised to sum
    to 1 per pixel, the object's tokens' shares are summed, the map is smoothed by a 3x3 mean
    (zero-padded at the border) and its peak ``m`` (in [0, 1]) is taken; the loss is
    ``max(0, tau - m)**2`` summed over objects and averaged over those layers.

    Parameters
    ----------
    probs : list of Tensor, each (L, T) or (1, L, T)
        Head-averaged cross-attention probabilities of each layer (Eq. 6), L pixels (a square), T
        token positions; position 0 is ``[CLS]``.
    objects : sequence of sequence of int
        Token positions of each object (:func:`object_token_positions`), all >= 1.
    tau : float
        Wanted peak share, in (0, 1].

    Returns
    -------
    Tensor
        Scalar, >= 0; 0 when every object's peak reaches ``tau`` in every layer used (and when no
        layer is 8x8 or larger).
    """
    if not probs:
        raise ValueError("probs must hold at least one layer")
    objects = [list(o) for o in objects]
    if not objects or any(not o for o in objects) or any(int(i) < 1 for o in objects for i in o):
        raise ValueError(f"objects must be non-empty lists of token positions >= 1, got {objects!r}")
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not 0 < tau <= 1:
        raise ValueError(f"tau must be a number in (0, 1], got {tau!r}")
    total, used = torch.zeros(()), 0
    for p in probs:
        p = p[0] if p.dim() == 3 else p
        side = _side(p)
        if side < 8:
            continue
        used += 1
        q = p[:, 1:] / p[:, 1:].sum(-1, keepdim=True).clamp_min(1e-12)
        for o in objects:
            m = q[:, [int(i) - 1 for i in o]].sum(-1).reshape(1, 1, side, side)
            peak = torch.nn.functional.avg_pool2d(m, 3, 1, 1).max()
            total = total + torch.relu(tau - peak) ** 2
    return total / max(used, 1)


class RelationGuidance:
    """Step-end callback for a diffusers Stable Diffusion pipeline that applies layout guidance.

    Parameters
    ----------
    pipe : diffusers.StableDiffusionPipeline
        The toy pipeline (any SD-class pipeline whose tokenizer keeps ShapesWorld words whole).
    caption : str
        The prompt being generated.
    steps : int
        Guided denoising steps, counted from the start (the layout forms early); default 8 of 25.
    eta : float
        Size of each relation step on the latents, as a multiple of 0.1 x the mean absolute latent
        gradient (normalised gradient step); 0 turns the relation term off.
    margin : float
        See :func:`relation_loss`.
    excite : float or None
        Size of the Attend-and-Excite step (:func:`excite_loss`, same normalisation as ``eta``),
        applied to the caption's objects during the same steps; 0 turns it off.  None (default):
        0.3 for a caption that names one object (it has no relation step), 0 otherwise.
    tau : float
        See :func:`excite_loss`.

    Attributes
    ----------
    active : bool
        False when neither term applies (no relation, or an object without tokens, and
        ``excite == 0``): the callback then returns the latents unchanged.
    losses : list of float
        The relation loss plus the excite loss at each guided step (for plots).
    """

    def __init__(self, pipe, caption: str, *, steps: int = 8, eta: float = 0.5, margin: float = 0.25,
                 excite: float | None = None, tau: float = 0.5):
        for name in ("unet", "tokenizer", "text_encoder", "scheduler"):
            if not hasattr(pipe, name):
                raise TypeError(f"pipe must be a diffusers Stable Diffusion pipeline (no .{name})")
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
        if isinstance(eta, bool) or not isinstance(eta, numbers.Real) or not eta >= 0:
            raise ValueError(f"eta must be a number >= 0, got {eta!r}")
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not margin > 0:
            raise ValueError(f"margin must be a number > 0, got {margin!r}")
        if excite is not None and (isinstance(excite, bool) or not isinstance(excite, numbers.Real)
                                   or not excite >= 0):
            raise ValueError(f"excite must be None or a number >= 0, got {excite!r}")
        if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not 0 < tau <= 1:
            raise ValueError(f"tau must be a number in (0, 1], got {tau!r}")
        objs, relation, _ = parse_caption(caption)  # also rejects a caption that names no shape
        if excite is None:
            excite = 0.3 if len(objs) == 1 else 0.0
        self.pipe, self.caption, self.relation = pipe, caption, relation
        self.steps, self.eta, self.margin = int(steps), float(eta), float(margin)
        pos = object_token_positions(caption, pipe.tokenizer)
        self.first, self.second = (pos[0], pos[1]) if len(pos) >= 2 else ([], [])
        self.objects, self.excite, self.tau = pos, float(excite), float(tau)
        self.relate = bool(relation is not None and self.first and self.second and self.eta > 0)
        self.excites = bool(self.excite > 0 and pos and all(pos))
        self.active = bool(self.steps > 0 and (self.relate or self.excites))
        self.losses: list[float] = []
        self._cond = None

    def _condition(self):
        if self._cond is None:
            tok = self.pipe.tokenizer
            ids = tok([self.caption], padding="max_length", max_length=tok.model_max_length, truncation=True,
                      return_tensors="pt").input_ids.to(self.pipe.unet.device)
            with torch.no_grad():
                self._cond = self.pipe.text_encoder(ids)[0]
        return self._cond

    def guide(self, latents: torch.Tensor, t) -> torch.Tensor:
        """One guidance step on ``latents`` (B, 4, h, w) at timestep ``t``; returns new latents."""
        unet = self.pipe.unet
        saved = unet.attn_processors
        procs = install_grounding(unet)
        sink: list = []
        for p in procs:
            p.sink = sink
        try:
            with torch.enable_grad():
                z = latents.detach().requires_grad_(True)
                cond = self._condition().expand(z.shape[0], -1, -1)
                unet(self.pipe.scheduler.scale_model_input(z, t), t, cond)
                terms = []
                if self.relate:
                    terms.append((self.eta, torch.stack([
                        relation_loss([pr[b] for pr in sink], self.first, self.second, self.relation,
                                      self.margin)
                        for b in range(z.shape[0])]).sum()))
                if self.excites:
                    terms.append((self.excite, torch.stack([
                        excite_loss([pr[b] for pr in sink], self.objects, self.tau)
                        for b in range(z.shape[0])]).sum()))
                self.losses.append(float(sum(float(loss.detach()) for _, loss in terms)))
                terms = [(eta, loss) for eta, loss in terms if loss.item() != 0.0]
                if not terms:
                    return latents
                step = torch.zeros_like(z)
                for eta, loss in terms:  # each term its own normalised step
                    (grad,) = torch.autograd.grad(loss, z, retain_graph=True)
                    step = step + eta * 0.1 * grad / grad.abs().mean().clamp_min(1e-12)
        finally:
            unet.set_attn_processor(saved)
        return (latents - step.detach().to(latents.dtype)).detach()

    def __call__(self, pipe, i: int, t, callback_kwargs: dict) -> dict:
        """diffusers' ``callback_on_step_end``: guide the latents of the next step for the first steps."""
        if not self.active or i + 1 >= min(self.steps + 1, len(pipe.scheduler.timesteps)):
            return callback_kwargs
        latents = callback_kwargs["latents"]
        callback_kwargs["latents"] = self.guide(latents, pipe.scheduler.timesteps[i + 1])
        return callback_kwargs
