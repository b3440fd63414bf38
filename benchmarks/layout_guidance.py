"""Layout guidance (gsemlab.guidance) against the bare sampler on held-out ShapesWorld captions.

``--n`` test-split captions (caption i of ``sample_scenes(n, seed, split="test")``, generator seed
``seed + i``, 25 DDIM steps, guidance 5), generated one at a time in each of the ``--rows``: by the
bundled pipeline alone ("bare"), with ``RelationGuidance`` at its defaults as its step-end callback
("guided": eta 0.5, 8 steps, margin 0.25, the Attend-and-Excite step 0.3 on one-object captions only;
chosen on validation captions), with the relation step alone ("relation_only") and with the excite
step on every caption ("excite_all", ``--excite``). All are judged by ``score_caption`` with the
bundled shape classifier: relation (captions of two or more objects whose first two respect the asked
relation), count and attributes; and timed (wall seconds per image, batch 1), so the cost of the extra
UNet passes is a ratio.

Two result files:

* ``layout_guidance.json`` (the defaults: ``--seed 3026 --rows bare,guided,relation_only``): a set of
  test captions that no choice of the guidance's settings had looked at;
* ``layout_guidance_2026.json``: toy_models' captions and seeds (``--seed 2026``, so its bare row
  repeats toy_models' numbers), run with an earlier version of the defaults: its "guided" row is
  today's relation_only and its "guided_excite" row is excite_all.  Its per-object-count breakdown
  suggested the one-object rule, which was then checked on validation captions before the seed-3026
  run.

Usage: ``python benchmarks/layout_guidance.py [--n 200] [--seed 3026] [--rows bare,guided] [--threads 1]``;
writes ``benchmarks/results/layout_guidance.json`` (``--out`` to change).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gsemlab.checks import to_uint8
from gsemlab.guidance import RelationGuidance
from gsemlab.toyworld import sample_scenes, score_caption

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "layout_guidance.json"
TARGETS = {"relation": 0.60, "count": 0.85, "attributes": 0.85}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=3026)
    p.add_argument("--eta", type=float, default=0.5)
    p.add_argument("--excite", type=float, default=0.3, help="excite step of the excite_all row")
    p.add_argument("--rows", default="bare,guided,relation_only",
                   help="comma-separated, from bare, guided, relation_only, excite_all")
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=8, help="guided denoising steps (of 25)")
    p.add_argument("--margin", type=float, default=0.25)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from gsemlab.models import load_backend
    from gsemlab.toyworld.nets import ShapeClassifier

    pipe = load_backend("toy", metrics=False).pipe
    clf = ShapeClassifier.from_pretrained()
    scenes = sample_scenes(a.n, seed=a.seed, split="test")
    every = {"bare": None, "guided": {"eta": a.eta, "tau": a.tau},
             "relation_only": {"eta": a.eta, "excite": 0.0},
             "excite_all": {"eta": a.eta, "excite": a.excite, "tau": a.tau}}
    settings = {k: every[k] for k in a.rows.split(",")}
    if "bare" not in settings or "guided" not in settings:
        raise ValueError("--rows must include bare and guided")
    rows = {k: [] for k in settings}
    pipe(scenes[0].caption, num_inference_steps=25, guidance_scale=a.guidance, output_type="np")  # warm-up
    for i, sc in enumerate(scenes):
        for mode, out in rows.items():
            cb = RelationGuidance(pipe, sc.caption, steps=a.steps, margin=a.margin, **settings[mode]) \
                if settings[mode] else None
            kw = {"callback_on_step_end": cb, "callback_on_step_end_tensor_inputs": ["latents"]} if cb else {}
            t0 = time.perf_counter()
            images = pipe(sc.caption, num_inference_steps=25, guidance_scale=a.guidance,
                          generator=torch.Generator().manual_seed(a.seed + i), output_type="np", **kw).images
            sec = time.perf_counter() - t0
            s = score_caption(to_uint8(images), sc.caption, classifier=clf)
            out.append({"seconds": sec, "count_ok": s["count_ok"], "attributes_ok": s["attributes_ok"],
                        "relation_ok": s["relation_ok"], "guided": bool(cb and cb.active),
                        "final_loss": cb.losses[-1] if cb and cb.losses else None})
        if (i + 1) % 25 == 0:
            print(f"{i + 1}/{a.n} captions", flush=True)

    def summarise(r: list) -> dict:
        rel = [x["relation_ok"] for x in r if x["relation_ok"] is not None]
        sec = np.array([x["seconds"] for x in r])
        sec_rel = np.array([x["seconds"] for x in r if x["relation_ok"] is not None])
        return {"relation": float(np.mean(rel)), "n_relation_captions": len(rel),
                "count": float(np.mean([x["count_ok"] for x in r])),
                "attributes": float(np.mean([ok for x in r for ok in x["attributes_ok"]])),
                "seconds_per_image": float(np.median(sec)),
                "seconds_per_relation_image": float(np.median(sec_rel))}

    res = {"benchmark": "layout_guidance", "command": "layout_guidance.py " + " ".join(
               f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items() if k != "out"),
           "captions": a.n, "split": "test", "seed": a.seed, "threads": a.threads, "torch": torch.__version__,
           "machine": platform.machine(), "targets": TARGETS,
           "settings": settings, **{k: summarise(v) for k, v in rows.items()},
           "per_caption": {"caption": [s.caption for s in scenes], **rows}}
    b, g = res["bare"], res["guided"]
    res["time_ratio_relation_images"] = g["seconds_per_relation_image"] / b["seconds_per_relation_image"]
    res["time_ratio_all_images"] = g["seconds_per_image"] / b["seconds_per_image"]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    from summaries import write_for  # benchmarks/summaries.py: what the chapters show, as package data

    write_for(a.out)
    print(f"{a.n} test captions ({b['n_relation_captions']} with a relation), eta {a.eta}, "
          f"{a.steps} guided steps")
    for k in ("relation", "count", "attributes"):
        print(f"  {k:10s} " + "  ".join(f"{m} {res[m][k]:.3f}" for m in settings) + f"  target {TARGETS[k]}")
    print(f"  seconds per relation image: bare {b['seconds_per_relation_image']:.3f}, guided "
          f"{g['seconds_per_relation_image']:.3f} (x{res['time_ratio_relation_images']:.2f}); all images "
          f"x{res['time_ratio_all_images']:.2f}")
    print(f"wrote {a.out}")
    return res


if __name__ == "__main__":
    main()
