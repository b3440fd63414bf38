"""Measure utility curves with the real pipeline: what each prompt's user gets at each budget.

For every prompt (a ShapesWorld caption with a fixed seed) the MASP generates the image once. The
packet holds the longest prefix of whole segments within the budget (:func:`gsemlab.packing.pack`'s
default rule, ``"stop"``), so what the user receives changes only at the prefix sizes; the pipeline
(:class:`gsemlab.gsemcom.GSemCom`) is run at each of them (size 0 is the prompt alone, the fully masked
baseline; the last is the whole packet) and the recovered images are scored (D, Eq. 15; Q, Eq. 16).
That is the curve at every whole-pixel budget, not a sample of it. The state map is the union of the
packet's segments at 16 x 16 (a cell is set when any of its pixels is a segment pixel).

    python -m gsemlab.rl.make_curves --n-train 300 --n-heldout 300 --out curves.json --check 20 5

Train prompts are captions of ShapesWorld's ``val`` split, held-out prompts of its ``test`` split, so
the two never share a caption stream. ``--check`` then runs the pipeline live at off-step budgets and
reports how far the curves are from it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from ..checks import check_positive_int
from ..progress import progress_bar
from .curves import MAP_SIDE, CurveSet

__all__ = ["block_map", "interpolation_error", "measure_curves", "prefix_sizes", "toy_prompts"]


def block_map(mask, side: int = MAP_SIDE) -> np.ndarray:
    """``side x side`` map of a boolean mask: a cell is True when any pixel of its block is.

    Parameters
    ----------
    mask : array-like of bool, shape (H, W)
        H and W multiples of ``side``.
    side : int
        Cells per side of the result.

    Returns
    -------
    numpy.ndarray of bool, shape (side, side)
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2 or m.shape[0] % side or m.shape[1] % side:
        raise ValueError(f"mask must be 2-D with sides divisible by {side}, got shape {m.shape}")
    h, w = m.shape[0] // side, m.shape[1] // side
    return m.reshape(side, h, side, w).any(axis=(1, 3))


def toy_prompts(n_train: int, n_heldout: int, seed: int = 0) -> tuple[list[str], list[int], list[str]]:
    """Captions, seeds and splits: ``n_train`` from ShapesWorld's ``val`` split, ``n_heldout`` from ``test``."""
    from ..toyworld.world import sample_scenes

    check_positive_int(n_train, "n_train")
    check_positive_int(n_heldout, "n_heldout")
    train = [s.caption for s in sample_scenes(n_train, seed, split="val")]
    held = [s.caption for s in sample_scenes(n_heldout, seed, split="test")]
    captions = train + held
    seeds = [seed + k for k in range(len(captions))]
    return captions, seeds, ["train"] * n_train + ["heldout"] * n_heldout


def prefix_sizes(segments) -> np.ndarray:
    """The sizes a budget can send: 0 and the sizes of the first 1, 2, ... segments, without repeats.

    Parameters
    ----------
    segments : sequence of arrays of bool, shape (H, W)
        The packet's segments in importance order (made disjoint here, Eq. 14).

    Returns
    -------
    numpy.ndarray of int, shape (K,)
        Strictly increasing from 0; an empty segment adds no step.
    """
    from ..packing import disjoint_segments

    sizes = [int(seg.sum()) for seg in disjoint_segments(list(segments))]
    return np.unique(np.r_[0, np.cumsum(sizes, dtype=np.int64)])


def measure_curves(system, captions: Sequence[str], seeds: Sequence[int], split: Sequence[str], *,
                   progress=None) -> CurveSet:
    """Run the pipeline at every prefix size of every prompt and collect the curves.

    Parameters
    ----------
    system : GSemCom
        The pipeline; its packet rule must be ``"stop"`` (the default), for which the prefix sizes
        are the only budgets at which the packet changes.
    captions : sequence of str
        The prompts.
    seeds : sequence of int
        The generation seed of each prompt.
    split : sequence of {"train", "heldout"}
        Each prompt's split.
    progress : callable, optional
        Called as ``progress(done, total)`` after each prompt.

    Returns
    -------
    CurveSet
    """
    from ..gsemcom import GSemCom

    if not isinstance(system, GSemCom):
        raise TypeError(f"system must be a GSemCom, got {type(system).__name__}")
    if system.generation_options.partial != "stop":
        raise ValueError("system must pack with partial='stop' (the default): with another rule the packet "
                         f"also changes between prefix sizes, got partial={system.generation_options.partial!r}")
    if not (len(captions) == len(seeds) == len(split)) or not captions:
        raise ValueError("captions, seeds and split must be non-empty and of one length")
    p = len(captions)
    maps = np.zeros((p, MAP_SIDE, MAP_SIDE), bool)
    packet = np.zeros(p, np.int64)
    steps, dist, qual = [], [], []
    for i, (caption, seed) in enumerate(progress_bar(list(zip(captions, seeds)), desc="curves", unit="prompt")):
        gen = system.generate(caption, int(seed))
        whole = system.transmit(caption, None, seed=int(seed), generation=gen)
        enc = whole.encoded
        packet[i] = enc.semantic_pixels
        union = np.zeros(gen.source.shape[:2], bool)
        for seg in enc.segments:
            union |= seg
        maps[i] = block_map(union)
        sizes = prefix_sizes(enc.segments)
        if sizes[-1] != packet[i]:
            raise RuntimeError(f"prompt {i}: the segments hold {sizes[-1]} pixels, the packet {packet[i]}")
        d, q = [], []
        for b in sizes:
            if b == 0:
                t = system.fully_masked(caption, int(seed), generation=gen)
            elif b == packet[i]:
                t = whole
            else:
                t = system.transmit(caption, int(b), seed=int(seed), generation=gen)
            d.append(t.distance)
            q.append(t.quality)
        steps.append(sizes)
        dist.append(d)
        qual.append(q)
        if progress is not None:
            progress(i + 1, p)
    return CurveSet(captions=tuple(captions), seeds=np.asarray(seeds), maps=maps, packet_pixels=packet,
                    steps=tuple(steps), distance=tuple(dist), quality=tuple(qual), t_max=system.t_max,
                    split=np.asarray(split))


def interpolation_error(system, curves: CurveSet, *, n_prompts: int = 20, n_budgets: int = 5,
                        seed: int = 0) -> dict:
    """How far the curves (linear interpolation of :meth:`CurveSet.curve`) are from live pipeline runs.

    Draws ``n_prompts`` prompts of ``curves`` and, for each, ``n_budgets`` whole-pixel budgets
    uniformly below its whole packet, none of them a step; runs the pipeline there and compares the
    user's utility at that budget (Eq. 19's term, :func:`gsemlab.rl.optimum.utility_term`, charging the
    budget) with the curve's (:func:`gsemlab.rl.optimum.user_utility`).

    Returns
    -------
    dict
        ``max_abs`` and ``mean_abs`` utility errors, ``utility_range`` (max - min utility over the
        live runs) and ``max_relative`` = ``max_abs / utility_range``, with the rows.
    """
    from ..config import ADDConfig, JPSQConfig
    from ..jpsq import jpsq as jpsq_of
    from .optimum import user_utility, utility_term

    w1, w2, q_th = ADDConfig().omega1, ADDConfig().omega2, JPSQConfig().q_th
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(curves), size=min(n_prompts, len(curves)), replace=False)
    rows = []
    for i in picks:
        whole = int(curves.packet_pixels[i])
        if whole < 2:
            continue
        curve = curves.curve(int(i))
        off = np.setdiff1d(np.arange(1, whole), curves.steps[i])
        if off.size == 0:
            continue
        for b in np.sort(rng.choice(off, size=min(n_budgets, off.size), replace=False)):
            t = system.transmit(curves.captions[i], int(b), seed=int(curves.seeds[i]))
            j = float(jpsq_of(t.distance, t.quality, curves.t_max))
            live = utility_term(j, t.quality, int(b), omega1=w1, omega2=w2, q_th=q_th)
            interp = float(user_utility(curve, int(b)))
            rows.append({"prompt": int(i), "budget": int(b), "pixels_sent": int(t.pixels_sent),
                         "live": float(live), "interpolated": interp})
    if not rows:
        raise ValueError("no prompt of the curves has a budget between its steps")
    live = np.array([r["live"] for r in rows])
    err = np.abs(live - np.array([r["interpolated"] for r in rows]))
    span = float(live.max() - live.min())
    return {"max_abs": float(err.max()), "mean_abs": float(err.mean()), "utility_range": span,
            "max_relative": float(err.max() / span) if span > 0 else float("nan"), "rows": rows}


def _measure_slice(job) -> CurveSet:
    """One worker's share of ``main``: its own backend, ``threads`` torch threads, some prompts."""
    import torch

    from ..gsemcom import GSemCom
    from ..models import load_backend

    captions, seeds, split, threads, worker = job
    torch.set_num_threads(threads)
    system = GSemCom(load_backend("toy", device="cpu"))
    start = time.perf_counter()

    def progress(done, total):
        if done % 10 == 0 or done == total:
            print(f"worker {worker}: {done}/{total} prompts, {time.perf_counter() - start:.0f} s", flush=True)

    return measure_curves(system, captions, seeds, split, progress=progress)


def _merge(parts: Sequence[CurveSet], order: Sequence[int]) -> CurveSet:
    """Concatenate curve sets and put their prompts back in ``order`` (the position of each row)."""
    rows = np.argsort(np.asarray(order))
    cat = {name: [x for part in parts for x in getattr(part, name)]
           for name in ("captions", "seeds", "maps", "packet_pixels", "steps", "distance", "quality", "split")}
    return CurveSet(captions=tuple(cat["captions"][r] for r in rows), seeds=np.asarray(cat["seeds"])[rows],
                    maps=np.asarray(cat["maps"])[rows], packet_pixels=np.asarray(cat["packet_pixels"])[rows],
                    steps=tuple(cat["steps"][r] for r in rows), distance=tuple(cat["distance"][r] for r in rows),
                    quality=tuple(cat["quality"][r] for r in rows), t_max=parts[0].t_max,
                    split=np.asarray(cat["split"])[rows])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--n-heldout", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--workers", type=int, default=1, help="processes measuring prompts in parallel")
    p.add_argument("--out", required=True, help="the curves' JSON file")
    p.add_argument("--check", type=int, nargs=2, metavar=("PROMPTS", "BUDGETS"), default=None,
                   help="then compare interpolation with live runs at PROMPTS x BUDGETS off-grid budgets; "
                        "the report goes beside --out (.check.json)")
    args = p.parse_args(argv)
    import torch

    from ..gsemcom import GSemCom
    from ..models import load_backend

    check_positive_int(args.workers, "--workers")
    captions, seeds, split = toy_prompts(args.n_train, args.n_heldout, args.seed)
    start = time.perf_counter()
    order = [list(range(w, len(captions), args.workers)) for w in range(args.workers)]
    jobs = [([captions[i] for i in o], [seeds[i] for i in o], [split[i] for i in o], args.threads, w)
            for w, o in enumerate(order) if o]
    if len(jobs) == 1:
        parts = [_measure_slice(jobs[0])]
    else:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            parts = pool.map(_measure_slice, jobs)
    curves = _merge(parts, [i for o in order for i in o])
    curves.to_json(args.out)
    print(f"wrote {args.out} ({len(curves)} prompts, {time.perf_counter() - start:.0f} s)")
    torch.set_num_threads(args.threads)
    system = GSemCom(load_backend("toy", device="cpu"))
    if args.check:
        import json
        from pathlib import Path

        report = interpolation_error(system, curves, n_prompts=args.check[0], n_budgets=args.check[1],
                                     seed=args.seed + 1)
        out = Path(args.out).with_suffix(".check.json")
        out.write_text(json.dumps(report, indent=1))
        print(f"interpolation against live runs: max {report['max_abs']:.1f}, mean {report['mean_abs']:.1f} "
              f"of a utility range {report['utility_range']:.1f} ({100 * report['max_relative']:.1f}% at most); "
              f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
