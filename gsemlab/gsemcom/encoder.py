"""The MASP side of G-SemCom (Algorithm 1): generate, extract the semantics, pack.

1. **Generation** (Eq. 2-4): the text-to-image pipeline generates the source image ``g0`` from the
   prompt in ``generation_steps`` (25) steps while an :class:`~gsemlab.attention.AttentionStore`
   records the cross-attention maps, a by-product of the generation (Eq. 5-6): :func:`generate`.
2. **Extraction** (:func:`extract`): the maps are aggregated per word (Eq. 7); the prompt is tagged
   and parsed (Table II, Eq. 9: C and C*); the kept words' maps are binarised (Eq. 8) and their IoU
   matrix D* (Eq. 10-11) gives the importance ``s`` (Eq. 12); each word's map is binarised again
   with the threshold of its importance rank and cleaned with DBSCAN (Eq. 13).
3. **Packing** (Eq. 14): the clean segments, most important first, are made disjoint and sent
   while the budget lasts, with the prompt, in a :class:`~gsemlab.packing.Packet`.

Readings of the paper where it is silent (chapter 7 discusses them)
-------------------------------------------------------------------
* **The xi scheme** (Table III: 0.9, 0.8, 0.5) is read as one threshold per importance rank: the
  most important word is binarised at 0.9, the second at 0.8 and every other word at 0.5
  (:func:`xi_per_rank`). A single value applies to every word.
* **Ranking needs binary maps and binary maps need the rank.** D* (hence ``s``) is computed from
  maps binarised at one common threshold, ``ranking_xi`` (default: the last value of the scheme,
  0.5 for Table III's); then each word is binarised again at the threshold of its rank.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..attention import binarize as binarize_map
from ..checks import check_prompt, check_seed
from ..config import GenerationOptions, GSemComConfig, xi_scheme
from ..packing import Packet, disjoint_segments, pack
from ..profiling import Profiler
from ..prompt import deconstruct, importance, iou_matrix, rank_order
from ..segment import clean_mask
from .results import Encoded, Generation

__all__ = ["budget_pixels", "check_request", "extract", "generate", "xi_per_rank"]


def xi_per_rank(xi, n_words: int) -> tuple[float, ...]:
    """Binarisation threshold (Eq. 8) of each word by importance rank.

    The course's reading of Table III's scheme ``xi = (0.9, 0.8, 0.5)``: the word of rank 1 (most
    important, Eq. 12) gets 0.9, rank 2 gets 0.8, and every rank from 3 on gets 0.5; in general rank
    ``k`` gets ``xi[min(k, len(xi)) - 1]``. A single number applies to every rank.

    Parameters
    ----------
    xi : float or sequence of float
        Threshold(s) in (0, 1], as fractions of each map's maximum after normalisation (Eq. 8).
    n_words : int
        Number of ranked words, >= 0.

    Returns
    -------
    tuple of float, length n_words
        Threshold of the word of rank 1, 2, ..., n_words.

    Examples
    --------
    >>> xi_per_rank((0.9, 0.8, 0.5), 5)
    (0.9, 0.8, 0.5, 0.5, 0.5)
    >>> xi_per_rank(0.7, 2)
    (0.7, 0.7)
    """
    scheme = xi_scheme(xi)
    if isinstance(n_words, bool) or not isinstance(n_words, numbers.Integral) or n_words < 0:
        raise ValueError(f"n_words must be an integer >= 0, got {n_words!r}")
    return tuple(scheme[min(k, len(scheme) - 1)] for k in range(int(n_words)))


def budget_pixels(budget, pixel_cost: float) -> int | None:
    """Pixels a bandwidth budget buys at ``pixel_cost`` units per pixel (Table III: O = 1).

    Parameters
    ----------
    budget : float or None
        Bandwidth in units of O; None means unlimited (every segment pixel is sent).
    pixel_cost : float
        O, bandwidth units per transmitted pixel, > 0.

    Returns
    -------
    int or None
        ``floor(budget / pixel_cost)``; None for an unlimited budget.

    Raises
    ------
    TypeError
        ``budget`` is not a number.
    ValueError
        ``budget`` is not finite, or buys no pixel (below one pixel's cost): a packet would carry
        nothing but the prompt, which is the fully masked baseline, not a budget.
    """
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
        raise TypeError(f"budget must be a number (pixels at O = 1) or None, got {type(budget).__name__}")
    if not np.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget must be a finite number > 0 (pixels at O = 1) or None, got {budget!r}")
    n = int(budget // pixel_cost)
    if n < 1:
        raise ValueError(f"budget must buy at least one pixel ({pixel_cost} units at O = {pixel_cost}), "
                         f"got {budget!r}")
    return n


def check_request(backend, prompt, seed, budget=None, *, pixel_cost: float = 1.0) -> tuple[str, int]:
    """Check a request at the door, before any model runs: prompt, seed and budget.

    The prompt must fit the backend's tokenizer (:meth:`gsemlab.models.Backend.check_prompt`) and
    hold at least one word outside Table II's class X (:func:`gsemlab.prompt.deconstruct`), since
    Eq. 12 ranks those words; the seed must be an integer >= 0; the budget must buy a pixel.

    Parameters
    ----------
    backend : gsemlab.models.Backend
        The backend that will generate (its tokenizer's limit applies).
    prompt : str
        The user's prompt.
    seed : int
        The MASP's generation seed.
    budget : float, optional
        Bandwidth in units of O (see :func:`budget_pixels`).
    pixel_cost : float
        O, bandwidth units per pixel.

    Returns
    -------
    (prompt, seed) : (str, int)
    """
    checker = getattr(backend, "check_prompt", None)
    prompt = checker(prompt) if checker is not None else check_prompt(prompt)
    seed = check_seed(seed)
    budget_pixels(budget, pixel_cost)
    deconstruct(prompt)  # raises for a prompt of class-X words only, or longer than 77 words
    return prompt, seed


def generate(backend, prompt: str, seed: int = 0, *, steps: int = 25, guidance_scale: float = 5.0,
             profiler: Profiler | None = None) -> Generation:
    """Generate the source image while recording cross-attention (Eq. 2-6): stage ``generation``.

    Parameters
    ----------
    backend : gsemlab.models.Backend
        Provides ``generate`` (text-to-image with attention recording).
    prompt : str
        The user's prompt.
    seed : int
        Seed of the initial latent noise.
    steps : int
        Denoising steps (Sec. VI: 25).
    guidance_scale : float
        Classifier-free guidance.
    profiler : gsemlab.profiling.Profiler, optional
        Records the stage's time (and memory); a fresh one by default.

    Returns
    -------
    Generation
    """
    prof = Profiler() if profiler is None else profiler
    with prof.stage("generation"):  # Eq. 7 needs only the sum over steps: keep_steps=False
        source, store = backend.generate(prompt, seed, steps=steps, guidance_scale=guidance_scale,
                                         attention=True, keep_steps=False)
    return Generation(prompt, seed, source, store, prof.seconds["generation"],
                      prof.cpu_seconds["generation"], prof.peak_mb.get("generation"))


def extract(generation: Generation, budget=None, *, config: GSemComConfig | None = None,
            options: GenerationOptions | None = None, profiler: Profiler | None = None) -> Encoded:
    """Extract and pack the semantic information of a generation (Algorithm 1, Eq. 7-14).

    Parameters
    ----------
    generation : Generation
        From :func:`generate`; one generation can be extracted with several settings.
    budget : float, optional
        Bandwidth available, in units of the pixel cost ``O`` (pixels at O = 1); None sends every
        segment pixel.
    config : GSemComConfig, optional
        ``xi`` scheme, DBSCAN settings and the pixel cost; default Table III.
    options : GenerationOptions, optional
        ``binarize``, ``cluster``, ``ranking_xi`` and the packet's ``codec``; default all on, ranking
        at ``config.xi[-1]``, lossy coding.
    profiler : gsemlab.profiling.Profiler, optional
        Records the stages ``extraction`` and ``packing``.

    Returns
    -------
    Encoded
    """
    if not isinstance(generation, Generation):
        raise TypeError(f"generation must be a Generation from GSemCom.generate, got {type(generation).__name__}")
    cfg = GSemComConfig() if config is None else config
    opts = GenerationOptions() if options is None else options
    n_budget = budget_pixels(budget, cfg.pixel_cost)
    prompt, source = generation.prompt, generation.source
    h, w = source.shape[:2]
    prof = Profiler() if profiler is None else profiler
    with prof.stage("extraction"):
        dec = deconstruct(prompt)
        # one map per distinct kept word; a repeated word sums its occurrences (Eq. 7)
        raw = generation.store.word_maps(prompt, words=list(dec.words), size=(h, w), spans=dec.spans)
        maps = {word: np.asarray(raw[word], dtype=np.float64) for word in dict.fromkeys(dec.words)}

        def binary(word: str, xi: float) -> np.ndarray:
            if not opts.binarize:
                return maps[word] > 0  # the raw map: every pixel with attention
            return np.asarray(binarize_map(maps[word], xi), dtype=bool)

        ranking_xi = cfg.xi[-1] if opts.ranking_xi is None else opts.ranking_xi
        D = iou_matrix([binary(wd, ranking_xi) for wd in dec.words])
        s = importance(dec.C_star, D)
        order = rank_order(s)
        words = tuple(dec.words[k] for k in order)
        xis = xi_per_rank(cfg.xi, len(words))
        binary_maps = tuple(binary(wd, x) for wd, x in zip(words, xis))
        if opts.cluster:
            clean = tuple(clean_mask(b, eps=cfg.dbscan_eps, min_samples=cfg.dbscan_min_samples,
                                     min_cluster_size=cfg.min_cluster_size) for b in binary_maps)
        else:
            clean = binary_maps
        segments = tuple(disjoint_segments(list(clean)))
    with prof.stage("packing"):
        sent = pack(source, list(segments), n_budget, prompt=prompt, partial=opts.partial,
                    priorities=[maps[wd] for wd in words] if opts.partial == "priority" else None)
        data = sent.to_bytes(opts.codec, quality=opts.codec_quality)  # coded once: what goes on the wire
        packet = Packet.from_bytes(data)  # as the user parses it (lossy coding: the codec's pixels)
    timings = {"generation": generation.seconds, **prof.seconds}
    cpu = {"generation": generation.cpu_seconds, **prof.cpu_seconds}
    peak = {"generation": generation.peak_mb, **prof.peak_mb} if prof.peak_mb else {}
    return Encoded(prompt, generation.seed, source, maps, dec, D, s, order, words, xis, binary_maps,
                   clean, segments, packet, data, timings, cpu, peak)
