"""Do the toy model's cross-attention maps (Eq. 7-8) point at the objects their words name?

On held-out ShapesWorld test captions the bundled toy pipeline generates an image while an
``AttentionStore`` records its cross-attention. ``gsemlab.toyworld.locate`` finds each named object in
the generated image (by colour and shape), and for every noun (shape word) whose object was found:

* pointing game: the peak of the word's map (Eq. 7) lies inside the object;
* mass: the map, normalised to [0, 1] like ``binarize`` does, puts more mass on the word's object than
  on any other located object (captions with two or more located objects);
* IoU of the binary map (Eq. 8, xi = 0.5) with the object's region;
* density (reported beside mass, not a target): the normalised map's mean over the word's object is
  higher than its mean over every other located object, i.e. mass per pixel, which does not favour
  the larger object the way the total mass does;

each beside the centred prior, a Gaussian centred on the image (sigma a quarter of the side), which
knows nothing about the prompt. Colour words (adjectives of the same objects) are reported the same way.

Usage: ``python benchmarks/attention_quality.py [--n 120] [--steps 25] [--guidance 5]``; writes
``benchmarks/results/attention_quality.json``. Needs the bundled toy weights.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from gsemlab.attention import AttentionStore
from gsemlab.checks import to_uint8
from gsemlab.models import load_backend
from gsemlab.toyworld import sample_scenes
from gsemlab.toyworld.scoring import centred_prior, map_scores, summarise_scores

RESULTS = Path(__file__).resolve().parent / "results" / "attention_quality.json"
TARGETS = {"pointing": 0.80, "mass": 0.95, "iou": 0.40}


def main(argv=None) -> dict:
    from gsemlab.toyworld.locate import locate

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=120, help="test captions (>= 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the test scenes; image i uses seed + i")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)

    backend = load_backend("toy", device="cpu", metrics=False)
    pipe, size = backend.pipe, backend.image_size
    prior = centred_prior(size)
    scenes = sample_scenes(a.n, seed=a.seed, split="test")
    rows = {"noun": [], "colour": []}
    base = {"noun": [], "colour": []}
    located = {"noun": 0, "colour": 0}
    asked = {"noun": 0, "colour": 0}
    t0 = time.perf_counter()
    for i, scene in enumerate(scenes):
        caption = scene.caption
        g = torch.Generator().manual_seed(a.seed + i)
        with AttentionStore(pipe) as store:
            out = pipe(caption, num_inference_steps=a.steps, guidance_scale=a.guidance, generator=g,
                       output_type="np")
        image = to_uint8(out.images)
        regions = {w: np.asarray(m, bool) for w, m in locate(image, caption).items()}
        for kind, attr in (("noun", "shape"), ("colour", "colour")):
            words = [getattr(o, attr) for o in scene.objects]
            asked[kind] += len(words)
            found = [w for w in words if w in regions and regions[w].any()]
            located[kind] += len(found)
            if not found:
                continue
            maps = store.word_maps(caption, found)
            for w in found:
                others = [regions[v] for v in found if v != w]
                r = map_scores(maps[w], regions[w], others)
                rows[kind].append({"image": i, "word": w, "objects": len(scene.objects), **r})
                base[kind].append({"image": i, "word": w, **map_scores(prior, regions[w], others)})
    seconds = time.perf_counter() - t0
    result = {
        "benchmark": "attention_quality",
        "captions": a.n, "split": "test", "seed": a.seed, "steps": a.steps, "guidance": a.guidance,
        "seconds": seconds,
        "aggregation": "Eq. 7 over all steps and the down/up cross-attention layers (16x16, 8x8), bicubic to 64x64",
        "baseline": "centred Gaussian, sigma = image side / 4",
        "targets": TARGETS,
    }
    for kind in ("noun", "colour"):
        result[kind] = {
            "asked": asked[kind], "located": located[kind],
            "attention": summarise_scores(rows[kind]), "centred_prior": summarise_scores(base[kind]),
            "by_objects": {str(k): summarise_scores([r for r in rows[kind] if r["objects"] == k])
                           for k in (1, 2, 3)},
        }
    att = result["noun"]["attention"]
    result["targets_met"] = {k: att[k] is not None and att[k] >= v for k, v in TARGETS.items()}
    result["rows"] = rows
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    from summaries import write_for  # benchmarks/summaries.py: the aggregates, as package data

    write_for(RESULTS)
    for kind in ("noun", "colour"):
        r = result[kind]
        print(f"{kind}s: {r['located']} of {r['asked']} objects located in the generated images")
        for key in ("pointing", "mass", "iou", "density"):
            at, bl = r["attention"][key], r["centred_prior"][key]
            print(f"  {key:8s} attention {at:.3f}  centred prior {bl:.3f}  (n = {r['attention']['n_' + key]})")
    print(f"targets met (nouns): {result['targets_met']}; {seconds:.0f} s; wrote {RESULTS}")
    return result


if __name__ == "__main__":
    main()
