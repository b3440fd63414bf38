"""Cross-attention maps of a text-to-image diffusion model (Eq. 5-8).

While Stable Diffusion denoises, every spatial transformer of the UNet lets the image attend to the
prompt's token embeddings ``w``. For a layer ``i``, a step ``t`` and a head ``l`` the cross-attention
probabilities are (Eq. 6)

.. math:: F_t^{(i)} = \\mathrm{softmax}\\big((W_q v)(W_k w)^T / \\sqrt{d}\\big),

one row per latent position and one column per token, so column ``z`` reshaped to the layer's grid is a
map of where token ``z`` acts in the image. G-SemCom reads these maps as a by-product of generation:

* :class:`AttentionStore` swaps the UNet's cross-attention processors for recording ones that compute the
  same output and keep the probabilities of the conditional half of a classifier-free-guidance batch,
  per step, layer and head, on the CPU;
* :meth:`AttentionStore.word_maps` aggregates them into one map per word (Eq. 7): each layer's map is
  upsampled bicubically to the image size, clamped at 0, and summed over steps, layers and heads; a word
  split into several tokens sums its tokens;
* :func:`binarize` thresholds a map (Eq. 8) after normalising it to [0, 1].

The aggregation follows daam (Tang et al., 2023, the paper's reference [16]), which the tests use as an
independent oracle: on the same pipeline both give the same maps up to a constant factor.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0

__all__ = ["AttentionStore", "LayerInfo", "binarize", "bytes_to_unicode", "output", "probabilities", "project", "word_tokens"]

_BLOCKS = ("down", "mid", "up")
_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")


@dataclass(frozen=True)
class LayerInfo:
    """One cross-attention layer of the UNet.

    Attributes
    ----------
    name : str
        Module path, e.g. ``"down_blocks.0.attentions.0.transformer_blocks.0.attn2"``.
    block : str
        ``"down"``, ``"mid"`` or ``"up"`` (Eq. 7 sums the down and up blocks).
    heads : int
        Number of attention heads ``l_H``.
    resolution : tuple of int or None
        ``(h, w)`` of the layer's latent grid in the last captured run (None before a run).
    """

    name: str
    block: str
    heads: int
    resolution: tuple[int, int] | None = None


# ----------------------------------------------------------------------------------------- processor
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
    """Eq. 6: softmax(Q K^T * scale) in float32; (batch, heads, queries, tokens)."""
    scores = torch.matmul(query.float(), key.float().transpose(-1, -2)) * scale  # (B, heads, L, T)
    if attention_mask is not None:
        scores = scores + attention_mask.float()
    return scores.softmax(dim=-1)


class _RecordingProcessor:
    """Cross-attention processor that computes the layer's usual output and records Eq. 6's probabilities.

    When the layer's original processor is diffusers' ``AttnProcessor2_0`` (the default with PyTorch 2),
    the output is computed here by the same operations, so the image is bit-identical; for any other
    processor the original computes the output and the probabilities are computed beside it.
    """

    def __init__(self, store: AttentionStore, name: str, original):
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
                probs = probabilities(query, key, None if mask is None else mask[cond], attn.scale)
            self.store._record(self.name, probs)
            return out

        # The body of diffusers' AttnProcessor2_0, with one extra line that records the probabilities.
        query, key, value, residual, shape4 = project(attn, hidden_states, encoder_hidden_states, temb,
                                                       value=True)
        head_dim = query.shape[-1]  # query: (batch, heads, queries, head_dim)
        with torch.no_grad():  # SDPA's scale is 1/sqrt(head_dim): record what the layer computes
            self.store._record(self.name, probabilities(query[cond], key[cond],
                                                         None if mask is None else mask[cond],
                                                         1.0 / math.sqrt(head_dim)))
        hidden_states = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=0.0,
                                                       is_causal=False)
        return output(attn, hidden_states.to(query.dtype), residual, shape4)

    def _original(self, attn, hidden_states, encoder_hidden_states, attention_mask, temb, args, kwargs):
        if temb is not None:
            kwargs = {**kwargs, "temb": temb}
        return self.original(attn, hidden_states, *args, encoder_hidden_states=encoder_hidden_states,
                             attention_mask=attention_mask, **kwargs)


# ------------------------------------------------------------------------------------- word -> tokens
def _token_spans(tokenizer, prompt: str) -> list[tuple[int, int]]:
    """Character span of every token of ``prompt`` (without BOS/EOS), truncated like the pipeline does."""
    limit = int(tokenizer.model_max_length) - 2
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(map(int, s)) for s in enc["offset_mapping"]][:limit]
    return _align_tokens(tokenizer, prompt)[:limit]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-level alphabet: every byte mapped to a printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
    bs += list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


_BYTE_OF = {c: b for b, c in bytes_to_unicode().items()}


def _decode_token(token: str) -> str:
    """Text of one token: byte-level BPE (CLIP marks a word's end with ``</w>``) or WordPiece (``##``)."""
    token = token.replace("</w>", "").removeprefix("##")
    if all(c in _BYTE_OF for c in token):
        return bytes(_BYTE_OF[c] for c in token).decode("utf-8", errors="replace")
    return token  # not a byte-level vocabulary: the token is its text


def _align_tokens(tokenizer, prompt: str) -> list[tuple[int, int]]:
    """Character spans for tokenizers without offsets: find each decoded token, in order, in the prompt."""
    spans, pos, text = [], 0, prompt.lower()
    for token in tokenizer.tokenize(prompt):
        piece = _decode_token(token).strip().lower()
        start = text.find(piece, pos) if piece else -1
        if start < 0 or text[pos:start].strip():
            raise ValueError(f"cannot align token {token!r} with the prompt {prompt!r} at character {pos}")
        spans.append((start, start + len(piece)))
        pos = start + len(piece)
    return spans


def _find_words(prompt: str, words: Sequence[str]) -> list[tuple[str, tuple[int, int]]]:
    found = []
    for word in words:
        if not isinstance(word, str) or not word.strip():
            raise TypeError(f"words must be non-empty strings, got {word!r}")
        pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)
        hits = [(word, m.span()) for m in pattern.finditer(prompt)]
        if not hits:
            listed = ", ".join(repr(w) for w in _WORD.findall(prompt))
            raise ValueError(f"word {word!r} is not in the prompt {prompt!r} (its words: {listed})")
        found += hits
    return found


def word_tokens(tokenizer, prompt: str, words: Sequence[str] | None = None, *,
                spans: Sequence[tuple[int, int]] | None = None) -> dict[str, list[int]]:
    """Token positions of each word of a prompt, through the pipeline's tokenizer.

    A word covers every token whose characters overlap the word's characters, so a word that the BPE
    tokenizer splits into sub-tokens gets all of them; a word that occurs several times gets the tokens
    of every occurrence. Positions count the start-of-text token as 0, like the columns of the
    cross-attention probabilities.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        The pipeline's ``pipe.tokenizer`` (CLIP).
    prompt : str
        The prompt the maps were generated with.
    words : sequence of str, optional
        Words to locate (whole-word, case-insensitive match, every occurrence). Default: every word of
        the prompt (runs of letters and digits, with inner apostrophes or hyphens), each at its place.
    spans : sequence of (int, int), optional
        Character spans ``(start, end)`` of the words in ``prompt``, e.g.
        ``gsemlab.prompt.deconstruct(prompt).spans``; then ``words`` defaults to ``prompt[start:end]``.

    Returns
    -------
    dict of str to list of int
        Word -> sorted token positions (1-based among the text tokens, 0 being the start token).

    Raises
    ------
    ValueError
        A word is not in the prompt, or lies beyond the tokenizer's maximum length.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise TypeError(f"prompt must be a non-empty string, got {prompt!r}")
    if spans is not None:
        spans = [tuple(map(int, s)) for s in spans]
        if any(len(s) != 2 or not 0 <= s[0] < s[1] <= len(prompt) for s in spans):
            raise ValueError(f"spans must be (start, end) pairs inside the prompt (length {len(prompt)}), got {spans}")
        if words is None:
            words = [prompt[s:e] for s, e in spans]
        if len(words) != len(spans):
            raise ValueError(f"words and spans must have the same length, got {len(words)} and {len(spans)}")
        located = list(zip(words, spans))
    else:
        if isinstance(words, str):
            raise TypeError("words must be a sequence of strings, not a single string")
        if words is None:  # every word at its own place; equal words (same case) are summed
            located = [(m.group(), m.span()) for m in _WORD.finditer(prompt)]
        else:
            located = _find_words(prompt, list(words))
    token_spans = _token_spans(tokenizer, prompt)
    out: dict[str, list[int]] = {}
    for word, (start, end) in located:
        pos = [j + 1 for j, (a, b) in enumerate(token_spans) if a < end and start < b]
        if not pos:
            raise ValueError(f"word {word!r} at characters {start}-{end} has no token within the tokenizer's "
                             f"{tokenizer.model_max_length} positions")
        out[word] = sorted(set(out.get(word, [])) | set(pos))
    return out


# --------------------------------------------------------------------------------------------- store
class AttentionStore:
    """Record the cross-attention probabilities (Eq. 6) of a Stable Diffusion pipeline run.

    Use it as a context manager around the pipeline call::

        with AttentionStore(pipe) as store:
            image = pipe(prompt, num_inference_steps=25).images[0]
        maps = store.word_maps(prompt)          # Eq. 7, word -> (H, W) float map

    On entry the UNet's cross-attention processors are replaced by recording ones (the image does not
    change); on exit the original processors come back. Each pipeline call inside the block starts a new
    record, so the store holds the last call. Under classifier-free guidance only the conditional half of
    the batch is kept. Works for ``StableDiffusionPipeline`` and ``StableDiffusionInpaintPipeline``.

    Parameters
    ----------
    pipe : diffusers pipeline
        A pipeline with ``unet``, ``tokenizer`` and ``encode_prompt`` (Stable Diffusion and inpainting).
    blocks : sequence of {"down", "mid", "up"}
        UNet blocks whose cross-attention layers are recorded. Eq. 7 (and daam) sum the down and up
        blocks, the default.
    tokens : {"prompt", None} or int
        Token columns kept: ``"prompt"`` (default) keeps the start token, the prompt's tokens and one end
        token; None keeps all (77 for Stable Diffusion); an int keeps that many leading columns.
    keep_steps : bool
        Keep every step (default) for per-step maps; False keeps only the running sum over steps, which
        is all Eq. 7 needs (memory of one step).
    device : str or torch.device
        Where the records are stored (default ``"cpu"``).

    Attributes
    ----------
    prompts : list of str or None
        Prompt of each recorded image (None when the pipeline got ``prompt_embeds``).
    timesteps : list of int
        Scheduler timestep of each recorded step.
    """

    def __init__(self, pipe, *, blocks: Sequence[str] = ("down", "up"), tokens="prompt", keep_steps: bool = True,
                 device="cpu"):
        if not hasattr(pipe, "unet") or not hasattr(pipe, "tokenizer"):
            raise TypeError(f"pipe must be a diffusers Stable Diffusion pipeline, got {type(pipe).__name__}")
        if isinstance(blocks, str) or not blocks or any(b not in _BLOCKS for b in blocks):
            raise ValueError(f"blocks must be a non-empty sequence drawn from {_BLOCKS}, got {blocks!r}")
        if not (tokens is None or tokens == "prompt" or (isinstance(tokens, numbers.Integral)
                                                         and not isinstance(tokens, bool) and tokens >= 1)):
            raise ValueError(f"tokens must be 'prompt', None or a positive int, got {tokens!r}")
        if not isinstance(keep_steps, bool):
            raise TypeError(f"keep_steps must be a bool, got {type(keep_steps).__name__}")
        self.pipe, self.blocks, self.tokens, self.keep_steps = pipe, tuple(blocks), tokens, keep_steps
        self.device = torch.device(device)
        self._layers: list[LayerInfo] = []
        self._active = False
        self._reset(prompts=None, cfg=False)

    # ------------------------------------------------------------------ context management and hooks
    def __enter__(self) -> AttentionStore:  # noqa: PYI034
        if self._active:
            raise RuntimeError("this AttentionStore is already active")
        unet = self.pipe.unet
        self._saved = dict(unet.attn_processors)
        procs, self._layers = {}, []
        for key, proc in self._saved.items():
            name = key.removesuffix(".processor")
            block = name.split(".")[0].removesuffix("_blocks").removesuffix("_block")
            if name.endswith("attn2") and block in self.blocks:
                procs[key] = _RecordingProcessor(self, name, proc)
                self._layers.append(LayerInfo(name, block, int(unet.get_submodule(name).heads)))
            else:
                procs[key] = proc
        if not self._layers:
            raise ValueError(f"the UNet has no cross-attention layer in blocks {self.blocks}")
        order = {b: i for i, b in enumerate(_BLOCKS)}
        self._layers.sort(key=lambda info: order[info.block])  # down, mid, up: the UNet's order
        unet.set_attn_processor(procs)
        self._hook = unet.register_forward_pre_hook(self._on_unet_call, with_kwargs=True)
        self._had_encode = "encode_prompt" in vars(self.pipe)
        original = self.pipe.encode_prompt
        signature = inspect.signature(original)

        def encode_prompt(*args, **kwargs):  # start of a pipeline call: note the prompt and guidance
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            prompts = a.get("prompt")
            if prompts is not None:
                prompts = [prompts] if isinstance(prompts, str) else list(prompts)
                prompts = [p for p in prompts for _ in range(int(a.get("num_images_per_prompt") or 1))]
            self._reset(prompts=prompts, cfg=bool(a.get("do_classifier_free_guidance")))
            return original(*args, **kwargs)

        self._original_encode = original
        self.pipe.encode_prompt = encode_prompt
        self._active = True
        self._reset(prompts=None, cfg=False)
        return self

    def __exit__(self, *exc) -> None:
        self.pipe.unet.set_attn_processor(dict(self._saved))  # diffusers empties the dict it is given
        self._hook.remove()
        if self._had_encode:
            self.pipe.encode_prompt = self._original_encode
        else:
            del self.pipe.encode_prompt
        self._active = False

    def _reset(self, *, prompts, cfg: bool) -> None:
        self.prompts = prompts
        self._cfg = cfg
        self._steps: list[dict[str, torch.Tensor]] = []
        self._sums: dict[str, torch.Tensor] = {}
        self._n_steps = 0
        self.timesteps: list[int] = []
        self._latent_hw: tuple[int, int] | None = None
        self._resolutions: dict[str, tuple[int, int]] = {}
        self._columns = None
        if isinstance(self.tokens, numbers.Integral):
            self._columns = int(self.tokens)
        elif self.tokens == "prompt" and prompts:
            limit = int(self.pipe.tokenizer.model_max_length)
            self._columns = max(min(len(self.pipe.tokenizer(p).input_ids), limit) for p in prompts)

    def _on_unet_call(self, module, args, kwargs):
        sample = args[0] if args else kwargs["sample"]
        timestep = args[1] if len(args) > 1 else kwargs.get("timestep")
        self._latent_hw = tuple(sample.shape[-2:])
        self._batch = sample.shape[0]
        self._n_steps += 1
        if self.keep_steps:
            self._steps.append({})
        self.timesteps.append(int(torch.as_tensor(timestep).reshape(-1)[0]))

    def _cond_slice(self, batch: int) -> slice | None:
        """Rows of the conditional images in a batch, or None outside a recorded UNet call."""
        if not self._active or self._n_steps == 0:
            return None
        if self._cfg and batch % 2 == 0:
            return slice(batch // 2, None)  # diffusers puts the unconditional half first
        return slice(None)

    def _record(self, name: str, probs: torch.Tensor) -> None:
        """Keep probabilities (batch, heads, queries, tokens) of one layer at the current step."""
        if self._columns is not None and self._columns < probs.shape[-1]:
            probs = probs[..., : self._columns].contiguous()  # a copy: the full tensor can be freed
        probs = probs.to(self.device, torch.float32)
        if name not in self._resolutions:
            h, w = self._latent_hw
            factor = round(math.sqrt(h * w / probs.shape[2]))
            self._resolutions[name] = (-(-h // factor), -(-w // factor))
        if self.keep_steps:
            self._steps[-1][name] = probs
        elif name in self._sums:
            self._sums[name] += probs
        else:
            self._sums[name] = probs

    # ----------------------------------------------------------------------------------------- access
    @property
    def layers(self) -> list[LayerInfo]:
        """Recorded cross-attention layers in UNet order (down, mid, up), with their last resolution."""
        return [LayerInfo(i.name, i.block, i.heads, self._resolutions.get(i.name)) for i in self._layers]

    @property
    def n_steps(self) -> int:
        """Number of recorded denoising steps (UNet calls) of the last pipeline call."""
        return self._n_steps

    def _check_run(self) -> None:
        if self._n_steps == 0 or not self._resolutions:
            raise ValueError("the AttentionStore is empty: run the pipeline inside `with AttentionStore(pipe) "
                             "as store:` before reading maps")

    def _layer_names(self, layers) -> list[str]:
        names = [info.name for info in self._layers]
        if layers is None:
            return names
        if isinstance(layers, (str, numbers.Integral)):
            layers = [layers]
        out = []
        for layer in layers:
            if isinstance(layer, numbers.Integral) and not isinstance(layer, bool) and -len(names) <= layer < len(names):
                out.append(names[layer])
            elif isinstance(layer, str) and layer.removesuffix(".processor") in names:
                out.append(layer.removesuffix(".processor"))
            else:
                raise ValueError(f"layer {layer!r} is not a recorded layer: use an index below {len(names)} "
                                 f"or one of {names}")
        return out

    def _step_indices(self, steps) -> list[int] | None:
        if steps is None:
            return None
        if not self.keep_steps:
            raise ValueError("steps can only be selected with AttentionStore(..., keep_steps=True)")
        if isinstance(steps, numbers.Integral):
            steps = [steps]
        out = []
        for s in steps:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not -self._n_steps <= s < self._n_steps:
                raise ValueError(f"step {s!r} out of range: {self._n_steps} steps were recorded")
            out.append(int(s) % self._n_steps)
        return out

    def _summed(self, name: str, steps: list[int] | None, image: int) -> torch.Tensor:
        """Sum over the selected steps of one layer's probabilities: (heads, tokens, h, w)."""
        if steps is None and not self.keep_steps:
            total = self._sums[name]
        else:
            chosen = range(self._n_steps) if steps is None else steps
            total = sum(self._steps[s][name] for s in chosen)
        if not -total.shape[0] <= image < total.shape[0]:
            raise ValueError(f"image must be below {total.shape[0]} (recorded images), got {image}")
        h, w = self._resolutions[name]
        x = total[image]  # (heads, h * w, tokens)
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)

    def maps(self, step: int | None = None, layer=None, *, image: int = 0):
        """Raw cross-attention probabilities F (Eq. 6) of one layer, or of every layer.

        Parameters
        ----------
        step : int, optional
            Denoising step (0 = first, noisiest); default: the sum over all steps (Eq. 7's inner sum).
        layer : int or str, optional
            Index into :attr:`layers` or a layer name; default: every recorded layer.
        image : int
            Image of the batch (default the first).

        Returns
        -------
        ndarray of float32, shape (heads, tokens, h, w), or dict of layer name to such arrays
            Probabilities in [0, 1] (summed over steps when ``step`` is None) on the layer's latent grid;
            ``tokens`` counts the kept columns (start token first).
        """
        self._check_run()
        steps = None if step is None else self._step_indices(step)
        names = self._layer_names(layer)
        out = {n: self._summed(n, steps, image).numpy() for n in names}
        return out[names[0]] if layer is not None and not isinstance(layer, (list, tuple)) else out

    def word_maps(self, prompt: str, words: Sequence[str] | None = None, size=None, *,
                  spans: Sequence[tuple[int, int]] | None = None, steps=None, layers=None,
                  image: int = 0) -> dict[str, np.ndarray]:
        """Cross-attention map of each word (Eq. 7).

        ``A_z = sum_t sum_i sum_l up(F_t,(z,l)^(i))``: each layer's per-head map of the word's tokens is
        upsampled bicubically to ``size``, clamped at 0 (bicubic interpolation undershoots slightly below
        0 near sharp edges; Eq. 7's maps are non-negative), and summed over heads, layers and steps; the
        maps of a word's sub-tokens, and of its repeated occurrences, are summed. The result is daam's
        global heat map up to a constant factor (daam averages where Eq. 7 sums).

        Parameters
        ----------
        prompt : str
            The prompt of the recorded image (checked against the record).
        words : sequence of str, optional
            Words wanted; default every word of the prompt (see :func:`word_tokens`).
        size : int or (int, int), optional
            Output ``(H, W)`` in pixels; default the generated image's size.
        spans : sequence of (int, int), optional
            Character spans of the words, e.g. ``gsemlab.prompt.deconstruct(prompt).spans``.
        steps : int or sequence of int, optional
            Only these steps (per-step maps); default all.
        layers : int, str or sequence of them, optional
            Only these layers (indices into :attr:`layers` or names); default all recorded layers.
        image : int
            Image of the batch (default the first).

        Returns
        -------
        dict of str to ndarray of float32, shape (H, W)
            Word -> non-negative map, in units of summed attention probability.

        Raises
        ------
        ValueError
            Empty store (the pipeline was not run), a prompt that differs from the recorded one, a word
            not in the prompt, or a bad selection.
        """
        self._check_run()
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        if self.prompts is not None:
            if not -len(self.prompts) <= image < len(self.prompts):
                raise ValueError(f"image must be below {len(self.prompts)} (recorded images), got {image}")
            if prompt != self.prompts[image]:
                raise ValueError(f"prompt {prompt!r} does not match the prompt of the recorded image "
                                 f"{self.prompts[image]!r}")
        out_size = self._size(size)
        positions = word_tokens(self.pipe.tokenizer, prompt, words, spans=spans)
        columns = sorted({p for pos in positions.values() for p in pos})
        names = self._layer_names(layers)
        steps = self._step_indices(steps)
        kept = self._summed(names[0], steps, image).shape[1]
        if columns[-1] >= kept:
            raise ValueError(f"token position {columns[-1]} was not kept (the store kept {kept} columns): "
                             "use AttentionStore(pipe, tokens=None)")
        index = torch.tensor(columns)
        total = torch.zeros(len(columns), *out_size)
        for name in names:
            x = self._summed(name, steps, image)[:, index]  # (heads, columns, h, w)
            up = F.interpolate(x, size=out_size, mode="bicubic", align_corners=False)  # (heads, columns, H, W)
            total += up.clamp_(min=0).sum(0)
        where = {c: i for i, c in enumerate(columns)}
        return {w: total[[where[p] for p in pos]].sum(0).numpy() for w, pos in positions.items()}

    def _size(self, size) -> tuple[int, int]:
        if size is None:
            h, w = self._latent_hw
            factor = int(getattr(self.pipe, "vae_scale_factor", 8))
            return h * factor, w * factor
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            size = (size, size)
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in size)):
            raise ValueError(f"size must be a positive int or a pair (H, W) of positive ints, got {size!r}")
        return int(size[0]), int(size[1])


# ------------------------------------------------------------------------------------------ binarize
def binarize(attn_map, xi: float) -> np.ndarray:
    """Binary attention map (Eq. 8): the pixels whose normalised attention reaches ``xi``.

    Eq. 8 keeps ``A[x, y] >= xi * max A``. Applied to a raw map this keeps nearly everything, because
    raw cross-attention maps have a high floor: every pixel receives some attention from every token (the
    softmax never gives exactly 0), and the sum over steps, layers and heads of Eq. 7 adds these floors up,
    so the minimum is often half the maximum or more and ``xi = 0.5`` would pass 80-100% of the image.
    The map is therefore first normalised to [0, 1] by min-max, ``(A - min A) / (max A - min A)``, and
    Eq. 8 is applied to the normalised map: ``B = [A_norm >= xi]``. A constant map, which says nothing
    about where the word is, is returned all True (every pixel equals the maximum, as Eq. 8 gives).

    Parameters
    ----------
    attn_map : array_like of float, shape (H, W)
        An attention map, e.g. one value of :meth:`AttentionStore.word_maps`.
    xi : float
        Threshold in (0, 1]; Table III uses 0.9, 0.8 and 0.5.

    Returns
    -------
    ndarray of bool, shape (H, W)
    """
    if isinstance(xi, bool) or not isinstance(xi, numbers.Real):
        raise TypeError(f"xi must be a real number in (0, 1], got {type(xi).__name__}")
    if not 0.0 < float(xi) <= 1.0:
        raise ValueError(f"xi must be in (0, 1], got {xi}")
    a = np.asarray(attn_map)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"attn_map must be a real array, got dtype {a.dtype}")
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"attn_map must be a non-empty 2-D array (H, W), got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError("attn_map must be finite")
    lo, hi = a.min(), a.max()
    if hi == lo:
        return np.ones(a.shape, dtype=bool)
    return (a - lo) / (hi - lo) >= float(xi)
