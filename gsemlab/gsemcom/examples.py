"""Choosing a running example by stated criteria, not by a hand-picked seed.

A chapter that follows one prompt through G-SemCom needs a prompt and a seed for which the pipeline
works as the text describes: the generated image shows every object the caption names, the parser
tags every shape word as a noun (so the shape words are kept and ranked, Table II), and, where the
chapter is about bandwidth, the packet is smaller than what the traditional method sends.
:func:`example_checks` computes these checks for one (caption, seed) pair and
:func:`choose_example` returns the first pair of a fixed list that passes the required ones, so a
retrain of the bundled models changes the example instead of falsifying the text.

The checks
----------
``"located"``
    Every object of the caption is found in the generated image with the caption's colour and
    shape: :func:`gsemlab.toyworld.locate.match_objects` (the matching behind
    :func:`gsemlab.toyworld.locate`) assigns each caption object a detected object, and that
    detection has the asked colour and the asked shape. Sizes are not checked.
``"nouns"``
    Every shape word of the caption (``circle``, ``square``, ``triangle``, ``star``) is tagged
    ``NOUN`` (Table II class NN) by the prompt parser :func:`gsemlab.prompt.deconstruct`.
``"saves"`` (only with a budget)
    The packet G-SemCom sends at that budget (``len(Encoded.data)``, Eq. 14) has fewer bytes than
    the traditional baseline's, the PNG file of the whole generated image
    (:func:`gsemlab.packing.png_bytes`, the ``bytes_sent`` of :func:`.baselines.traditional`; computed
    directly, so a backend loaded without its distance and quality models can be checked).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

from ..checks import check_seed
from ..packing import png_bytes
from ..prompt import deconstruct
from ..toyworld.locate import detect_objects, match_objects, parse_caption
from ..toyworld.world import SHAPES

__all__ = ["CHECKS", "choose_example", "example_checks"]

#: Names of the checks, in the order they are computed.
CHECKS: tuple[str, ...] = ("located", "nouns", "saves")


def _check_gsem(gsem) -> None:
    for attr in ("generate", "extract"):
        if not callable(getattr(gsem, attr, None)):
            raise TypeError(f"gsem must be a GSemCom (it has no .{attr} method), got {type(gsem).__name__}")


def _check_caption(caption) -> str:
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}")
    parse_caption(caption)  # ValueError for a caption that names no shape
    return caption


def _check_budget(budget):
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
        raise TypeError(f"budget must be a number (pixels at O = 1) or None, got {type(budget).__name__}")
    if not budget > 0 or budget == float("inf"):
        raise ValueError(f"budget must be a finite number > 0 or None, got {budget!r}")
    return budget


def _nouns(caption: str) -> bool:
    dec = deconstruct(caption)
    shape_tokens = [i for i, t in enumerate(dec.tokens) if t.lower() in SHAPES]
    return bool(shape_tokens) and all(dec.classes[i] == "NN" for i in shape_tokens)


def _located(image, caption: str) -> bool:
    objects, _, _ = parse_caption(caption)
    found = match_objects(objects, detect_objects(image))
    return all(t is not None and t.shape == o.shape and (o.colour is None or t.colour == o.colour)
               for o, t in zip(objects, found))


def _saves(gsem, generation, budget) -> bool:
    sent = len(gsem.extract(generation, budget=budget).data)
    return sent < len(png_bytes(generation.source))  # what baselines.traditional sends


def _run_checks(gsem, caption: str, seed: int, budget, names: Sequence[str], *, stop: bool,
                state: dict) -> dict[str, bool]:
    """The checks ``names``, the cheap one first; ``stop``: return at the first that fails.

    ``state`` caches the generation (key ``"generation"``) between calls for the same pair.
    """
    out: dict[str, bool] = {}
    for name in ("nouns", "located", "saves"):  # "nouns" needs no generation
        if name not in names:
            continue
        if name == "nouns":
            out[name] = _nouns(caption)
        else:
            if "generation" not in state:
                state["generation"] = gsem.generate(caption, seed)
            generation = state["generation"]
            out[name] = (_located(generation.source, caption) if name == "located"
                         else _saves(gsem, generation, budget))
        if stop and not out[name]:
            break
    return out


def example_checks(gsem, caption: str, seed: int, *, budget=None) -> dict[str, bool]:
    """The running-example checks of one caption and seed (see the module's docstring).

    Parameters
    ----------
    gsem : GSemCom
        The system whose backend generates the image (``gsem.generate(caption, seed)``, 25 steps)
        and whose encoder packs it.
    caption : str
        A ShapesWorld caption (it must name at least one shape).
    seed : int
        Seed of the MASP's generation, >= 0.
    budget : float, optional
        Bandwidth in units of the pixel cost O (pixels at O = 1), > 0; when given, the check
        ``"saves"`` is computed at that budget.

    Returns
    -------
    dict of str -> bool
        ``"located"``: every caption object found with its colour and shape in the generated image;
        ``"nouns"``: every shape word tagged NOUN; ``"saves"`` (only when ``budget`` is given): the
        packet is smaller than the traditional baseline's bytes.

    Raises
    ------
    TypeError
        ``gsem`` is not a GSemCom-like object, ``caption`` not a str, ``seed`` not an integer or
        ``budget`` not a number.
    ValueError
        ``caption`` names no shape, ``seed`` < 0, or ``budget`` is not a finite number > 0.
    """
    _check_gsem(gsem)
    caption, seed, budget = _check_caption(caption), check_seed(seed), _check_budget(budget)
    names = CHECKS if budget is not None else CHECKS[:2]
    out = _run_checks(gsem, caption, seed, budget, names, stop=False, state={})
    return {name: bool(out[name]) for name in names}


def choose_example(gsem, captions: Iterable[str], seeds: Iterable[int], *,
                   require: Sequence[str] = ("located", "nouns"), budget=None
                   ) -> tuple[str, int, dict[str, bool]]:
    """The first (caption, seed) pair of fixed lists that passes every required check.

    Pairs are tried caption by caption and, for each caption, seed by seed, in the order given;
    a caption that fails ``"nouns"`` is skipped without generating anything.

    Parameters
    ----------
    gsem : GSemCom
        The system (see :func:`example_checks`).
    captions : iterable of str
        Candidate ShapesWorld captions, in order of preference.
    seeds : iterable of int
        Candidate generation seeds (>= 0), in order of preference; the same list for every caption.
    require : sequence of str
        Names of the checks that must pass, a non-empty subset of ``("located", "nouns", "saves")``;
        ``"saves"`` needs a ``budget``.
    budget : float, optional
        Bandwidth in units of O for the check ``"saves"``.

    Returns
    -------
    caption : str
    seed : int
    checks : dict of str -> bool
        :func:`example_checks` of the chosen pair (every check, the required ones all True).

    Raises
    ------
    TypeError
        Bad types (see :func:`example_checks`), or ``require`` is a str rather than a sequence.
    ValueError
        ``captions`` or ``seeds`` is empty, ``require`` is empty or names an unknown check,
        ``"saves"`` is required without a budget, or no pair passes every required check (the
        message says how many pairs were tried and which check failed most often).
    """
    _check_gsem(gsem)
    if isinstance(require, str):
        raise TypeError(f"require must be a sequence of check names, not a str ({require!r})")
    require = tuple(require)
    unknown = [r for r in require if r not in CHECKS]
    if not require or unknown:
        raise ValueError(f"require must name checks among {CHECKS}, got {require!r}")
    budget = _check_budget(budget)
    if "saves" in require and budget is None:
        raise ValueError('the check "saves" needs a budget')
    if isinstance(captions, str):
        raise TypeError("captions must be a sequence of captions, not one str")
    captions = [_check_caption(c) for c in captions]
    seeds = [check_seed(s) for s in seeds]
    if not captions or not seeds:
        raise ValueError(f"captions and seeds must be non-empty, got {len(captions)} and {len(seeds)}")
    failures = dict.fromkeys(require, 0)
    tried = 0
    for caption in captions:
        for seed in seeds:
            tried += 1
            state: dict = {}
            got = _run_checks(gsem, caption, seed, budget, require, stop=True, state=state)
            failed = [name for name, ok in got.items() if not ok]
            if not failed:  # the remaining checks too, on the same generation
                names = CHECKS if budget is not None else CHECKS[:2]
                out = _run_checks(gsem, caption, seed, budget, names, stop=False, state=state)
                return caption, seed, {name: bool(out[name]) for name in names}
            failures[failed[0]] += 1
            if failed[0] == "nouns":  # a property of the caption: no other seed can help
                tried += len(seeds) - 1
                break
    worst = max(failures, key=failures.get)
    raise ValueError(f"no (caption, seed) pair of {tried} passes {require}; "
                     f'"{worst}" failed first in {failures[worst]} of them ({failures})')
