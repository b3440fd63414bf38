"""Does the utility rise with the bandwidth? J, Q and D against the budget for each partial-segment rule.

Issue 16, item 1: with the packing "raster" (whole segments, then the first rows of the next one),
the default until the issue, the mean quality Q fell as the budget grew, below both ends (traditional
and fully masked); "stop" (the longest prefix of whole segments that fits) passes the issue's tests
and is the default now. This script measures, on validation captions, every rule of
:data:`gsemlab.packing.PARTIAL_RULES` on one generation per caption:

* at every budget of ``--budgets`` and for the whole packet: the pixels sent, D (ToySim), Q (ToyNIMA)
  and J (Eq. 17);
* the references on the same captions: traditional (the source itself) and fully masked (the prompt
  only, everything regenerated).

and prints, per rule, the issue's two criteria: mean J non-decreasing in the budget within one
standard error, and mean Q at no budget below both ends (traditional, fully masked) by more than one
standard error. Writes ``benchmarks/results/partial_rules.json``.

    python benchmarks/partial_rules.py --n 24 --split val
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gsemlab.gsemcom import GSemCom
from gsemlab.models import load_backend
from gsemlab.packing import PARTIAL_RULES
from gsemlab.prompt import load_nlp
from gsemlab.toyworld.world import sample_scenes

RESULTS = Path(__file__).resolve().parent / "results"
BUDGETS = (100, 300, 600, 1000, 1500, 2000, 3000)


def mean_se(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "se": float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0,
            "n": int(v.size)}


def criteria(curve: dict, refs: dict) -> dict:
    """The issue's two tests on a rule's mean curves (budgets in order, the whole packet last)."""
    j = [c["jpsq"] for c in curve]
    q = [c["quality"] for c in curve]
    drops = [(k, j[k]["mean"] - j[k + 1]["mean"], j[k]["se"] + j[k + 1]["se"]) for k in range(len(j) - 1)]
    j_ok = all(drop <= se for _, drop, se in drops)
    low = min(refs["traditional"]["quality"]["mean"], refs["fully masked"]["quality"]["mean"])
    q_below = [k for k, qq in enumerate(q) if low - qq["mean"] > qq["se"]]
    return {"jpsq_non_decreasing_within_se": bool(j_ok),
            "largest_jpsq_drop": float(max(d for _, d, _ in drops)),
            "quality_floor": float(low), "budgets_with_quality_below_both_ends": q_below,
            "quality_ok": not q_below}


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    backend = load_backend("toy", device="cpu")
    systems = {rule: GSemCom(backend, partial=rule) for rule in PARTIAL_RULES}
    base = GSemCom(backend)  # the default rule; generation and references do not depend on it
    captions = [s.caption for s in sample_scenes(args.n, args.seed, split=args.split)]
    budgets = tuple(args.budgets) + (None,)
    per = {rule: {str(b): {"pixels": [], "quality": [], "distance": [], "jpsq": []} for b in budgets}
           for rule in PARTIAL_RULES}
    refs = {name: {"quality": [], "distance": [], "jpsq": []} for name in ("traditional", "fully masked")}
    load_nlp()
    base.transmit(captions[0], seed=args.seed)  # warm-up
    start = time.perf_counter()
    for k, caption in enumerate(captions):
        seed = args.seed + k
        gen = base.generate(caption, seed)
        for name, t in (("traditional", base.traditional(caption, seed, generation=gen)),
                        ("fully masked", base.fully_masked(caption, seed, generation=gen))):
            for key in refs[name]:
                refs[name][key].append(getattr(t, key))
        for rule, gs in systems.items():
            for b in budgets:
                t = gs.transmit(caption, b, seed=seed, generation=gen)
                row = per[rule][str(b)]
                row["pixels"].append(t.pixels_sent)
                for key in ("quality", "distance", "jpsq"):
                    row[key].append(getattr(t, key))
        print(f"{k + 1}/{len(captions)} captions, {time.perf_counter() - start:.0f} s", flush=True)
    ref_summary = {n: {k: mean_se(v) for k, v in d.items()} for n, d in refs.items()}
    rules = {}
    for rule in PARTIAL_RULES:
        curve = [{"budget": b, **{k: mean_se(v) for k, v in per[rule][str(b)].items()}} for b in budgets]
        rules[rule] = {"curve": curve, "criteria": criteria(curve, ref_summary), "per_caption": per[rule]}
    return {"benchmark": "partial_rules", "command": "python benchmarks/partial_rules.py " + " ".join(args.argv),
            "default_rule": base.generation_options.partial,
            "n_captions": len(captions), "split": args.split, "seed": args.seed,
            "budgets": list(args.budgets), "captions": captions, "references": ref_summary,
            "references_per_caption": refs, "rules": rules,
            "seconds": time.perf_counter() - start, "threads": args.threads, "machine": platform.machine()}


def report(res: dict) -> None:
    refs = res["references"]
    print(f"\n{res['n_captions']} {res['split']} captions; traditional Q {refs['traditional']['quality']['mean']:.2f}, "
          f"fully masked Q {refs['fully masked']['quality']['mean']:.2f} "
          f"(D {refs['fully masked']['distance']['mean']:.3f}, J {refs['fully masked']['jpsq']['mean']:.3f})")
    for rule, r in res["rules"].items():
        print(f"\n{rule}: J non-decreasing within 1 SE: {r['criteria']['jpsq_non_decreasing_within_se']}; "
              f"Q never below both ends by > 1 SE: {r['criteria']['quality_ok']}")
        for c in r["curve"]:
            b = "whole" if c["budget"] is None else c["budget"]
            print(f"  {b!s:>6}: px {c['pixels']['mean']:7.1f}  D {c['distance']['mean']:.3f}  "
                  f"Q {c['quality']['mean']:.2f} ± {c['quality']['se']:.2f}  "
                  f"J {c['jpsq']['mean']:.3f} ± {c['jpsq']['se']:.3f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=24, help="captions")
    p.add_argument("--seed", type=int, default=31337)
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "partial_rules.json"))
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    res = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    report(res)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
