"""Measure utility curves with the real pipeline: what each prompt's user gets at each budget.

For every prompt (a ShapesWorld caption with a fixed seed) the MASP generates the image once; then
the pipeline (:class:`gsemlab.gsemcom.GSemCom`) is run at every budget of the grid below the
prompt's whole packet, and for the whole packet, and the recovered images are scored (D, Eq. 15;
Q, Eq. 16). Budget 0 is the prompt alone (the fully masked baseline). The state map is the union of
the packet's segments at 16 x 16 (a cell is set when any of its pixels is a segment pixel).

    python -m gsemlab.rl.make_curves --n-train 300 --n-heldout 300 --out curves.json

Train prompts are captions of ShapesWorld's ``val`` split, held-out prompts of its ``test`` split, so
the two never share a caption stream.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from ..checks import check_positive_int
from .curves import MAP_SIDE, CurveSet

__all__ = ["DEFAULT_GRID", "block_map", "interpolation_error", "measure_curves", "toy_prompts"]

# Budgets in pixels of a 64 x 64 image: dense where the curves bend (small budgets), sparse after.
DEFAULT_GRID = (0, 25, 50, 100, 150, 200, 300, 400, 500, 650, 800, 1000, 1250, 1500, 1750, 2000, 2500, 3000,
                3500, 4096)


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


def measure_curves(system, captions: Sequence[str], seeds: Sequence[int], split: Sequence[str], *,
                   grid: Sequence[int] = DEFAULT_GRID, progress=None) -> CurveSet:
    """Run the pipeline at every budget of ``grid`` for every prompt and collect the curves.

    Parameters
    ----------
    system : GSemCom
        The pipeline (its options, e.g. the partial-segment rule, are the curves' pipeline).
    captions : sequence of str
        The prompts.
    seeds : sequence of int
        The generation seed of each prompt.
    split : sequence of {"train", "heldout"}
        Each prompt's split.
    grid : sequence of int
        Budgets in pixels, strictly increasing from 0.
    progress : callable, optional
        Called as ``progress(done, total)`` after each prompt.

    Returns
    -------
    CurveSet
    """
    from ..gsemcom import GSemCom

    if not isinstance(system, GSemCom):
        raise TypeError(f"system must be a GSemCom, got {type(system).__name__}")
    if not (len(captions) == len(seeds) == len(split)) or not captions:
        raise ValueError("captions, seeds and split must be non-empty and of one length")
    grid = np.asarray(grid)
    if grid.ndim != 1 or grid[0] != 0 or np.any(np.diff(grid) <= 0):
        raise ValueError("grid must be budgets strictly increasing from 0")
    p, k = len(captions), grid.size
    maps = np.zeros((p, MAP_SIDE, MAP_SIDE), bool)
    packet = np.zeros(p, np.int64)
    dist, qual = np.zeros((p, k)), np.zeros((p, k))
    whole_d, whole_q = np.zeros(p), np.zeros(p)
    for i, (caption, seed) in enumerate(zip(captions, seeds)):
        gen = system.generate(caption, int(seed))
        whole = system.transmit(caption, None, seed=int(seed), generation=gen)
        enc = whole.encoded
        packet[i] = enc.semantic_pixels
        union = np.zeros(gen.source.shape[:2], bool)
        for seg in enc.segments:
            union |= seg
        maps[i] = block_map(union)
        whole_d[i], whole_q[i] = whole.distance, whole.quality
        masked = system.fully_masked(caption, int(seed), generation=gen)
        for j, b in enumerate(grid):
            if b == 0 or packet[i] == 0:
                t = masked
            elif b >= packet[i]:
                t = whole
            else:
                t = system.transmit(caption, int(b), seed=int(seed), generation=gen)
            dist[i, j], qual[i, j] = t.distance, t.quality
        if progress is not None:
            progress(i + 1, p)
    return CurveSet(captions=tuple(captions), seeds=np.asarray(seeds), maps=maps, packet_pixels=packet,
                    grid=grid, distance=dist, quality=qual, whole_distance=whole_d, whole_quality=whole_q,
                    t_max=system.t_max, split=np.asarray(split))


def interpolation_error(system, curves: CurveSet, *, n_prompts: int = 20, n_budgets: int = 5,
                        seed: int = 0) -> dict:
    """How far linear interpolation of the curves is from live pipeline runs at off-grid budgets.

    Draws ``n_prompts`` prompts of ``curves`` and, for each, ``n_budgets`` budgets uniformly between
    grid points (below its whole packet); runs the pipeline there and compares the user's utility
    (Eq. 19's term, :func:`gsemlab.rl.optimum.user_utility`) with the interpolated one.

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
        for b in np.sort(rng.integers(1, whole, size=n_budgets)):
            t = system.transmit(curves.captions[i], int(b), seed=int(curves.seeds[i]))
            j = float(jpsq_of(t.distance, t.quality, curves.t_max))
            live = utility_term(j, t.quality, t.pixels_sent, omega1=w1, omega2=w2, q_th=q_th)
            interp = float(user_utility(curve, t.pixels_sent))
            rows.append({"prompt": int(i), "budget": int(b), "live": float(live), "interpolated": interp})
    if not rows:
        raise ValueError("no prompt of the curves has a packet of 2 pixels or more")
    live = np.array([r["live"] for r in rows])
    err = np.abs(live - np.array([r["interpolated"] for r in rows]))
    span = float(live.max() - live.min())
    return {"max_abs": float(err.max()), "mean_abs": float(err.mean()), "utility_range": span,
            "max_relative": float(err.max() / span) if span > 0 else float("nan"), "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--n-heldout", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--partial", default="stop", help="the packet's partial-segment rule")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="the curves' JSON file")
    p.add_argument("--check", type=int, nargs=2, metavar=("PROMPTS", "BUDGETS"), default=None,
                   help="then compare interpolation with live runs at PROMPTS x BUDGETS off-grid budgets; "
                        "the report goes beside --out (.check.json)")
    args = p.parse_args(argv)
    import torch

    from ..gsemcom import GSemCom
    from ..models import load_backend

    torch.set_num_threads(args.threads)
    system = GSemCom(load_backend("toy", device="cpu"), partial=args.partial)
    captions, seeds, split = toy_prompts(args.n_train, args.n_heldout, args.seed)
    start = time.perf_counter()

    def progress(done, total):
        print(f"{done}/{total} prompts, {time.perf_counter() - start:.0f} s", flush=True)

    curves = measure_curves(system, captions, seeds, split, progress=progress)
    curves.to_json(args.out)
    print(f"wrote {args.out}")
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
