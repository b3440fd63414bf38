"""The recording cross-attention processor (Eq. 5-6): the layer's own output, and its probabilities beside it.

:func:`project` and :func:`output` are the two halves of diffusers' ``AttnProcessor2_0`` around the
attention itself, and :func:`probabilities` is Eq. 6; :class:`RecordingProcessor` puts them together
and hands the probabilities of the conditional rows to its store. :mod:`gsemlab.guidance` builds its
differentiable processor from the same three functions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0

__all__ = ["RecordingProcessor", "output", "probabilities", "project"]


def project(attn, hidden_states, encoder_hidden_states, temb, *, value: bool):
    """Query, key (and value) of diffusers' ``Attention``, split into heads: (batch, heads, len, head_dim).

    The same operations, in the same order, as diffusers' ``AttnProcessor2_0``.
    """
    residual = hidden_states
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    input_ndim = hidden_states.ndim
    shape4 = None
    if input_ndim == 4:
        shape4 = hidden_states.shape  # (batch, channel, height, width)
        b, c, h, w = shape4
        hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    batch_size = hidden_states.shape[0]
    query = attn.to_q(hidden_states)
    if encoder_hidden_states is None:
        encoder_hidden_states = hidden_states
    elif attn.norm_cross:
        encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
    key = attn.to_k(encoder_hidden_states)
    head_dim = key.shape[-1] // attn.heads
    query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
    key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    v = None
    if value:
        v = attn.to_v(encoder_hidden_states).view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
    return query, key, v, residual, shape4


def output(attn, hidden_states, residual, shape4):
    """The rest of diffusers' ``AttnProcessor2_0`` after attention: merge the heads of
    (batch, heads, len, head_dim), project out, restore a 4-D input's shape, add the residual, rescale."""
    batch, heads, _, head_dim = hidden_states.shape
    hidden_states = hidden_states.transpose(1, 2).reshape(batch, -1, heads * head_dim)
    hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
    if shape4 is not None:
        hidden_states = hidden_states.transpose(-1, -2).reshape(*shape4)
    if attn.residual_connection:
        hidden_states = hidden_states + residual
    return hidden_states / attn.rescale_output_factor


def probabilities(query, key, attention_mask, scale: float) -> torch.Tensor:
    """Eq. 6 of [G-SemCom]: softmax(Q K^T * scale) in float32; (batch, heads, queries, tokens).

    ``query`` (B, heads, L, head_dim) and ``key`` (B, heads, T, head_dim) as :func:`project` gives them;
    ``attention_mask`` is None or additive, broadcastable to (B, heads, L, T). Differentiable.
    """
    if query.dtype != torch.float32 or key.dtype != torch.float32:
        query, key = query.float(), key.float()
    scores = torch.matmul(query, key.transpose(-1, -2))  # (B, heads, L, T), a new tensor
    scores.mul_(scale)  # in place: the product's backward needs only its inputs
    if attention_mask is not None:
        scores.add_(attention_mask.float())
    return scores.softmax(dim=-1)


class RecordingProcessor:
    """Cross-attention processor that computes the layer's usual output and records Eq. 6's probabilities.

    When the layer's original processor is diffusers' ``AttnProcessor2_0`` (the default with PyTorch 2),
    the output is computed here by the same operations, so the image is bit-identical; for any other
    processor the original computes the output and the query and key are projected beside it. Either way
    the call only hands the conditional rows' query and key to the store (views, no copy) and the output
    reads nothing the recording writes; the store computes the probabilities once per step for all layers
    at a time.

    The output is Eq. 5 of [G-SemCom]; the recorded probabilities are Eq. 6 of [G-SemCom].
    """

    def __init__(self, store, name: str, original):  # store: the AttentionStore that records
        self.store, self.name, self.original = store, name, original
        self.fast = type(original) is AttnProcessor2_0

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        cond = self.store._cond_slice(hidden_states.shape[0])
        if encoder_hidden_states is None or cond is None:  # not a cross-attention call of a recorded run
            return self._original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, args, kwargs)
        mask = None
        if attention_mask is not None:
            batch, tokens = encoder_hidden_states.shape[:2]
            mask = attn.prepare_attention_mask(attention_mask, tokens, batch)
            mask = mask.view(batch, attn.heads, -1, mask.shape[-1])  # (B, heads, 1 or L, T)
        if not self.fast:
            out = self._original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, args, kwargs)
            with torch.no_grad():
                query, key, *_ = project(attn, hidden_states[cond], encoder_hidden_states[cond],
                                          None if temb is None else temb[cond], value=False)
            self.store._defer(self.name, query, key, None if mask is None else mask[cond], attn.scale)
            return out

        # The body of diffusers' AttnProcessor2_0, with one extra line that hands the conditional query and
        # key to the store; the output below reads nothing the recording writes: the plain run's bits.
        query, key, value, residual, shape4 = project(attn, hidden_states, encoder_hidden_states, temb,
                                                       value=True)
        # SDPA's scale is 1/sqrt(head_dim): record what the layer computes
        self.store._defer(self.name, query[cond], key[cond], None if mask is None else mask[cond],
                          1.0 / math.sqrt(query.shape[-1]))
        hidden_states = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=0.0,
                                                       is_causal=False)
        return output(attn, hidden_states.to(query.dtype), residual, shape4)

    def _original(self, attn, hidden_states, encoder_hidden_states, attention_mask, temb, args, kwargs):
        if temb is not None:
            kwargs = {**kwargs, "temb": temb}
        return self.original(attn, hidden_states, *args, encoder_hidden_states=encoder_hidden_states,
                             attention_mask=attention_mask, **kwargs)
