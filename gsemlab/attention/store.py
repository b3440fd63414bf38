"""The attention store (Eq. 5-7) and the binarisation of its maps (Eq. 8).

:class:`AttentionStore` swaps the UNet's cross-attention processors for recording ones, keeps the
probabilities per step (or their running sum), and aggregates them into one map per word;
:func:`binarize` thresholds a map after normalising it to [0, 1].
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .processor import RecordingProcessor, probabilities
from .tokens import word_tokens

__all__ = ["AttentionStore", "LayerInfo", "binarize"]

_BLOCKS = ("down", "mid", "up")


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
        is all Eq. 7 needs (memory of one step), added to in place at every step.
    device : str or torch.device
        Where the records are read from (default ``"cpu"``). Kept steps are copied there as they come;
        the running sum of ``keep_steps=False`` grows where the UNet runs and is moved there when read.

    Attributes
    ----------
    prompts : list of str or None
        Prompt of each recorded image (None when the pipeline got ``prompt_embeds``).

    The scheduler timestep of each recorded step is :attr:`timesteps`.
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
        # The cross-attention layers (attn2) of the chosen blocks, found in one walk of the modules; only
        # their processors are swapped (unet.set_attn_processor would walk the UNet twice per call).
        found = []
        for name, module in unet.named_modules():
            block = name.split(".")[0].removesuffix("_blocks").removesuffix("_block")
            if name.endswith("attn2") and block in self.blocks and hasattr(module, "get_processor"):
                found.append((name, block, module))
        if not found:
            raise ValueError(f"the UNet has no cross-attention layer in blocks {self.blocks}")
        order = {b: i for i, b in enumerate(_BLOCKS)}
        found.sort(key=lambda f: order[f[1]])  # down, mid, up: the UNet's order
        self._layers = [LayerInfo(name, block, int(module.heads)) for name, block, module in found]
        self._saved = [(module, module.get_processor()) for _, _, module in found]
        for (name, _, module), (_, proc) in zip(found, self._saved):
            module.set_processor(RecordingProcessor(self, name, proc))
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
        if self._pending:  # the last step's layers; after an error the run is incomplete: drop them
            if exc[0] is None:
                self._flush()
            self._pending = []
        for module, proc in self._saved:
            module.set_processor(proc)
        self._saved = []
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
        # keep_steps=False: running sums over steps, (layers, batch, heads, queries, columns), one per group of
        # same-shaped layers that _flush computes together; _sums: layer name -> its summed probabilities
        self._group_sums: dict[tuple, torch.Tensor] = {}
        self._sums: dict[str, torch.Tensor] = {}
        self._pending: list[tuple] = []  # (name, query, key, mask, scale) of the current step's calls
        self._n_steps = 0
        self._timesteps: list = []  # as the UNet got them (tensors stay unread: no device sync per step)
        self._latent_hw: tuple[int, int] | None = None
        self._resolutions: dict[str, tuple[int, int]] = {}
        self._columns = None
        if isinstance(self.tokens, numbers.Integral):
            self._columns = int(self.tokens)
        elif self.tokens == "prompt" and prompts:
            limit = int(self.pipe.tokenizer.model_max_length)
            self._columns = max(min(len(self.pipe.tokenizer(p).input_ids), limit) for p in prompts)

    def _on_unet_call(self, module, args, kwargs):
        if self._pending:  # the previous step's layers, all at a time
            self._flush()
        sample = args[0] if args else kwargs["sample"]
        timestep = args[1] if len(args) > 1 else kwargs.get("timestep")
        self._latent_hw = tuple(sample.shape[-2:])
        self._batch = sample.shape[0]
        self._n_steps += 1
        if self.keep_steps:
            self._steps.append({})
        self._timesteps.append(timestep)

    def _cond_slice(self, batch: int) -> slice | None:
        """Rows of the conditional images in a batch, or None outside a recorded UNet call."""
        if not self._active or self._n_steps == 0:
            return None
        if self._cfg and batch % 2 == 0:
            return slice(batch // 2, None)  # diffusers puts the unconditional half first
        return slice(None)

    def _defer(self, name: str, query: torch.Tensor, key: torch.Tensor, mask, scale: float) -> None:
        """Note one layer's conditional query (B, heads, L, head_dim) and key (B, heads, T, head_dim) for
        :meth:`_flush`; ``mask`` is None or additive (B, heads, 1 or L, T)."""
        self._pending.append((name, query, key, mask, scale))

    def _flush(self) -> None:
        """Eq. 6 for the noted calls of the current step, in as few tensor operations as possible.

        The calls whose query and key have the same shapes (and no mask) are stacked and go through one
        product and one softmax (:func:`probabilities`); the kept columns are then added in place to the
        group's running sum over steps (``keep_steps=False``) or stored as the step's record
        (``keep_steps=True``, copied when fewer than all columns are kept, so that the full tensor can be
        freed). Recording thus costs a few tensor operations per step instead of several per layer and step.
        """
        pending, self._pending = self._pending, []
        groups: dict[tuple, list] = {}
        for i, (name, query, key, mask, scale) in enumerate(pending):
            like = (tuple(query.shape), tuple(key.shape), query.dtype, query.device, scale)
            groups.setdefault(like if mask is None else (i,), []).append((name, query, key, mask, scale))
        h, w = self._latent_hw
        for like, items in groups.items():
            names = tuple(item[0] for item in items)  # each layer once: the calls of one step
            with torch.no_grad():
                if len(items) == 1:
                    probs = probabilities(*items[0][1:])[None]
                else:  # (layers, B, heads, L, head_dim) and (layers, B, heads, T, head_dim)
                    probs = probabilities(torch.stack([item[1] for item in items]),
                                          torch.stack([item[2] for item in items]), None, items[0][4])
                cut = self._columns is not None and self._columns < probs.shape[-1]
                kept = probs[..., : self._columns] if cut else probs  # (layers, B, heads, L, columns)
                for name in names:
                    if name not in self._resolutions:
                        factor = round(math.sqrt(h * w / probs.shape[3]))
                        self._resolutions[name] = (-(-h // factor), -(-w // factor))
                if self.keep_steps:
                    kept = (kept.contiguous() if cut else kept).to(self.device)
                    self._steps[-1].update(zip(names, kept))
                elif (like, names) in self._group_sums:
                    self._group_sums[(like, names)].add_(kept)
                else:  # the first step: its probabilities start the sum (a copy when only some columns are kept)
                    self._group_sums[(like, names)] = kept.contiguous() if cut else kept
        self._sums = {}  # rebuilt from the group sums when read

    def _layer_sum(self, name: str) -> torch.Tensor:
        """keep_steps=False: the layer's probabilities summed over the steps, (B, heads, L, columns)."""
        if not self._sums:
            sums: dict[str, torch.Tensor] = {}
            for group, total in self._group_sums.items():
                if total.device != self.device:  # the running sums grew where the UNet ran
                    total = self._group_sums[group] = total.to(self.device)
                for layer, x in zip(group[1], total):
                    sums[layer] = x if layer not in sums else sums[layer] + x
            self._sums = sums
        return self._sums[name]

    # ----------------------------------------------------------------------------------------- access
    @property
    def layers(self) -> list[LayerInfo]:
        """Recorded cross-attention layers in UNet order (down, mid, up), with their last resolution."""
        if self._pending:
            self._flush()
        return [LayerInfo(i.name, i.block, i.heads, self._resolutions.get(i.name)) for i in self._layers]

    @property
    def n_steps(self) -> int:
        """Number of recorded denoising steps (UNet calls) of the last pipeline call."""
        return self._n_steps

    @property
    def timesteps(self) -> list[int]:
        """Scheduler timestep of each recorded step."""
        return [int(torch.as_tensor(t).reshape(-1)[0]) for t in self._timesteps]

    def _check_run(self) -> None:
        if self._pending:  # the last step's layers (a read inside the with block, after the run)
            self._flush()
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
            total = self._layer_sum(name)
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
        """Cross-attention map of each word (Eq. 7 of [G-SemCom]).

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


def binarize(attn_map, xi: float) -> np.ndarray:
    """Binary attention map (Eq. 8 of [G-SemCom]): the pixels whose normalised attention reaches ``xi``.

    Eq. 8 keeps ``A[x, y] >= xi * max A``. Where attention is spread out, a raw map has a floor: every
    pixel receives some attention from every token (the softmax never gives exactly 0), and the sum over
    steps, layers and heads of Eq. 7 adds these floors up, so on an untrained or weakly grounded model
    the minimum can be half the maximum or more and ``xi = 0.5`` passes most of the image (chapter 2
    measures it on the random-weight pipeline and on the bundled model, whose grounded maps have almost
    no floor, so that the two rules nearly agree there).
    The map is first normalised to [0, 1] by min-max, ``(A - min A) / (max A - min A)``, and
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
