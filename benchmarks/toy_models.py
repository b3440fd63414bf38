"""How good is the bundled toy model family (gsemlab/data/) on held-out ShapesWorld captions?

On ``--n`` test-split captions (fixed seeds; the test split contains the (colour, shape) pairs
held out of training) the bundled pipeline generates one 64x64 image per caption (25 DDIM
steps, guidance ``--guidance``), and ``gsemlab.toyworld.locate.score_caption`` judges it by colour
(nearest palette colour, connected components) and shape (the bundled shape classifier):

* attributes: objects that come out with every asked attribute (colour, shape, size when asked);
* colour: objects whose asked colour is present at all;
* count: images with exactly as many objects as the caption names;
* relation: captions with two or more objects whose first two objects respect the asked relation;

beside the starting line measured on this machine before this model (issue 5), and the ratios.
Also: the shape classifier's accuracy (noisy held-out masks), the VAE's reconstruction PSNR on
validation renders, ToySim's and ToyNIMA's Spearman correlations on held-out pairs/images, seconds
per image for 25 steps (batch 1, with classifier-free guidance; median of 5 with 1 and with 2
threads, the faster reported as ``seconds_per_image``), and the size of every model.

Usage: ``python benchmarks/toy_models.py [--n 200] [--guidance 5] [--threads 2]``; writes
``benchmarks/results/toy_models.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from gsemlab.data import DATA_DIR, TOY_SD_PATH
from gsemlab.toyworld import HELD_OUT, render_batch, sample_scenes
from gsemlab.toyworld.locate import parse_caption, score_caption

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "toy_models.json"
STARTING_LINE = {"attributes": 0.73, "colour": 0.96, "count": 0.52, "relation": 0.20,
                 "seconds_per_image": 0.75}
TARGETS = {"attributes": 0.85, "count": 0.85, "relation": 0.60, "toysim_spearman": 0.8,
           "toynima_spearman": 0.8, "seconds_per_image": 1.0}


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(RESULTS))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from diffusers import StableDiffusionPipeline

    from gsemlab.toyworld.nets import ShapeClassifier, ToyNIMA, ToySim
    from gsemlab.training.metric_nets import shape_accuracy, toynima_spearman, toysim_spearman

    pipe = StableDiffusionPipeline.from_pretrained(TOY_SD_PATH, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    clf = ShapeClassifier.from_pretrained()
    scenes = sample_scenes(a.n, seed=a.seed, split="test")
    caps = [s.caption for s in scenes]

    # timing: batch 1, 25 steps, guidance on (two UNet passes per step), with 1 and 2 threads: the
    # small convolutions of a batch-1 call scale badly, so one thread can be the faster setting
    by_threads = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        pipe("a red circle", num_inference_steps=a.steps, guidance_scale=a.guidance, output_type="np")
        times = []
        for i in range(5):
            t = time.perf_counter()
            pipe(caps[i], num_inference_steps=a.steps, guidance_scale=a.guidance,
                 generator=torch.Generator().manual_seed(i), output_type="np")
            times.append(time.perf_counter() - t)
        by_threads[threads] = float(np.median(times))
    best_threads = min(by_threads, key=by_threads.get)
    sec = by_threads[best_threads]
    torch.set_num_threads(a.threads)

    t0 = time.perf_counter()
    images = []
    for i in range(0, a.n, a.batch):
        gens = [torch.Generator().manual_seed(a.seed + j) for j in range(i, min(i + a.batch, a.n))]
        out = pipe(caps[i:i + a.batch], num_inference_steps=a.steps, guidance_scale=a.guidance,
                   generator=gens, output_type="np").images
        images += list((out * 255).round().astype(np.uint8))
    gen_s = time.perf_counter() - t0

    attrs, cols, held, counts, rels, rels2 = [], [], [], [], [], []
    for img, cap in zip(images, caps):
        sc = score_caption(img, cap, classifier=clf)
        objs, _, _ = parse_caption(cap)
        attrs += sc["attributes_ok"]
        cols += sc["colour_ok"]
        held += [ok for o, ok in zip(objs, sc["attributes_ok"]) if (o.colour, o.shape) in HELD_OUT]
        counts.append(sc["count_ok"])
        if sc["relation_ok"] is not None:
            rels.append(sc["relation_ok"])
            if len(objs) == 2:
                rels2.append(sc["relation_ok"])
    gen = {"attributes": float(np.mean(attrs)), "colour": float(np.mean(cols)),
           "count": float(np.mean(counts)),
           "relation": float(np.mean(rels)), "relation_two_objects": float(np.mean(rels2)),
           "attributes_held_out_pairs": float(np.mean(held)) if held else None,
           "n_held_out_objects": len(held),
           "n_objects": len(attrs), "n_relation_captions": len(rels), "seconds_per_image": sec,
           "seconds_per_image_threads": best_threads,
           "seconds_per_image_by_threads": {str(k): v for k, v in by_threads.items()},
           "generation_seconds_total": gen_s}

    # inpainting on the same components (4-channel UNet: diffusers blends the known latents each step)
    from diffusers import StableDiffusionInpaintPipeline
    from PIL import Image

    inpaint = StableDiffusionInpaintPipeline(**pipe.components)
    inpaint.set_progress_bar_config(disable=True)
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255  # regenerate the right half
    kept, regen = [], []
    for i in range(min(16, a.n)):
        out = inpaint(caps[i], image=Image.fromarray(images[i]), mask_image=Image.fromarray(mask),
                      num_inference_steps=a.steps, guidance_scale=a.guidance,
                      generator=torch.Generator().manual_seed(i), output_type="np").images[0]
        out = (out * 255).round().astype(np.float64)
        kept.append(float(np.mean((out[:, :28] - images[i][:, :28]) ** 2)))
        regen.append(float(np.mean((out[:, 36:] - images[i][:, 36:]) ** 2)))
    inpaint_res = {"kept_region_psnr_db": float(10 * np.log10(255 ** 2 / np.mean(kept))),
                   "regenerated_region_psnr_db": float(10 * np.log10(255 ** 2 / np.mean(regen))),
                   "images": len(kept), "mask": "right half regenerated; PSNR on columns 0-27 and 36-63"}

    # VAE reconstruction on validation renders
    val = render_batch(sample_scenes(256, seed=1, split="val"))
    x = torch.from_numpy(val).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        r = pipe.vae.decode(pipe.vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
    psnr = float(10 * np.log10(4.0 / (r - x).pow(2).mean().item()))

    sim, nima = ToySim.from_pretrained(), ToyNIMA.from_pretrained()
    res = {
        "captions": a.n, "split": "test", "seed": a.seed, "steps": a.steps, "guidance": a.guidance,
        "threads": a.threads, "generation": gen, "starting_line": STARTING_LINE, "targets": TARGETS,
        "ratios_to_starting_line": {k: gen[k] / v for k, v in STARTING_LINE.items()},
        "shape_classifier_accuracy": shape_accuracy(clf),
        "vae_psnr_db": psnr,
        "inpainting": inpaint_res,
        "toysim_spearman": toysim_spearman(sim),
        "toynima_spearman": toynima_spearman(nima),
        "sizes_mb": {"toy-sd": folder_mb(TOY_SD_PATH),
                     **{k: folder_mb(TOY_SD_PATH / k) for k in ("unet", "vae", "text_encoder", "tokenizer")},
                     **{n: (DATA_DIR / f"{n}.safetensors").stat().st_size / 1e6
                        for n in ("toysim", "toynima", "shape_classifier")}},
        "parameters": {"unet": sum(p.numel() for p in pipe.unet.parameters()),
                       "vae": sum(p.numel() for p in pipe.vae.parameters()),
                       "text_encoder": sum(p.numel() for p in pipe.text_encoder.parameters())},
    }
    train_info = DATA_DIR / "toy_training.json"
    if train_info.exists():
        res["training"] = json.loads(train_info.read_text())
    os.makedirs(Path(a.out).parent, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2))
    from summaries import write_for  # benchmarks/summaries.py: what the chapters show, as package data

    write_for(a.out)
    print(f"{a.n} test captions, {a.steps} steps, guidance {a.guidance}")
    for k, v in STARTING_LINE.items():
        print(f"  {k:18s} {gen[k]:.3f}   starting line {v:.3f}   ratio {gen[k] / v:.2f}"
              + (f"   target {TARGETS[k]}" if k in TARGETS else ""))
    print(f"  relation (2 objects) {gen['relation_two_objects']:.3f}; held-out pairs attributes "
          f"{gen['attributes_held_out_pairs']} ({len(held)} objects)")
    print(f"  shape classifier accuracy {res['shape_classifier_accuracy']:.3f}; VAE PSNR {psnr:.2f} dB")
    print(f"  ToySim Spearman {res['toysim_spearman']:.3f}; ToyNIMA Spearman {res['toynima_spearman']:.3f}")
    print(f"  inpainting: kept half {inpaint_res['kept_region_psnr_db']:.2f} dB, regenerated half "
          f"{inpaint_res['regenerated_region_psnr_db']:.2f} dB vs the original")
    print(f"  sizes (MB): {json.dumps({k: round(v, 2) for k, v in res['sizes_mb'].items()})}")
    return res


if __name__ == "__main__":
    main()
