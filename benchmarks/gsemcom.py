"""G-SemCom end to end on held-out ShapesWorld captions: the paper's Fig. 9-12 and Table IV on the toy backend.

For every caption (ShapesWorld test split, caption ``k`` generated with seed ``k``) the MASP generates
the source image once (25 steps, cross-attention recorded) and the benchmark evaluates, on that same
source:

* **traditional** (the whole image: 4096 pixels, its PNG and JPEG sizes), **local AIGC** (the user
  generates from the prompt with 5 steps), **fully masked** (the user inpaints everything from the
  prompt, 5 steps);
* **G-SemCom** with three xi schemes: Table III's per-rank (0.9, 0.8, 0.5) and the uniform 0.8 and 0.5
  of Fig. 9; unlimited budget (every segment pixel is sent);
* ablations of the default scheme (Fig. 12): without binarisation (size of the semantic information)
  and without DBSCAN clustering (pixels and quality).

On the first ``--n-sweep`` captions it also sweeps the pixel budget (Fig. 10), the user's decode steps
(Fig. 11), and bit errors on the packet (binary symmetric channel: checksum, fallback), and profiles
peak memory per stage (Table IV). Time per stage (generation, extraction, packing, decoding) is recorded
for every caption as wall and CPU seconds of this process, with torch on ``--threads`` threads (1 by
default: the ratios are then robust to other jobs on a shared machine).

Usage::

    python -m gsemlab.calibration            # once: t_max of Eq. 18 for the toy backend
    python benchmarks/gsemcom.py             # 300 captions; writes results/gsemcom.json and .png
    python benchmarks/gsemcom.py --n 10 --n-sweep 3 --out /tmp/quick.json   # a quick run
    python benchmarks/gsemcom.py --budget-study   # Fig. 10 for the rules stop and raster: 30 captions, ~5 min
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gsemlab.calibration import load_calibration
from gsemlab.channel import bsc
from gsemlab.gsemcom import GSemCom, user_seed
from gsemlab.gsemcom.decoder import border_pixels
from gsemlab.packing import Packet
from gsemlab.prompt import load_nlp
from gsemlab.toyworld.world import BACKGROUNDS, sample_scenes

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMES = {"xi=(0.9,0.8,0.5)": (0.9, 0.8, 0.5), "xi=0.8": (0.8,), "xi=0.5": (0.5,)}
DEFAULT = "xi=(0.9,0.8,0.5)"
BUDGETS = (100, 300, 500, 750, 1000, 1500, 2000)  # 300 px = 7.3 % of 64 x 64, near the paper's 20000 of 512 x 512
DECODE_STEPS = (1, 2, 3, 5, 7, 10, 15)
BIT_ERROR_RATES = (1e-5, 1e-4, 1e-3)
#: The paper's numbers (Sec. VI-A, Table IV), printed beside ours.
PAPER = {
    "bandwidth_saving": 0.494,
    "nima_drop": 0.0299,
    "binarisation_size_reduction": 0.693,
    "clustering_pixels_removed_of_262144": 6182,
    "clustering_quality_gain": 0.0185,
    "nima_traditional": 5.2651,
    "nima_local_aigc": 5.1301,
    "nima_lower_bound": 4.9827,
    "decode_over_generation_cpu_time": 0.634,
    "decode_over_generation_gpu_time": 0.633,
    "decode_over_generation_gpu_memory": 0.511,
    "table_iv": {"MASP": {"gpu_s": 2.955, "cpu_s": 3.181, "gpu_mb": 7846},
                 "user": {"gpu_s": 1.078, "cpu_s": 1.170, "gpu_mb": 3919}},
}


def summary(values) -> dict:
    """Mean, standard deviation, standard error, median, min and max of a sample."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "sem": float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0,
            "median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


def _record(store: dict, key: str, tr) -> None:
    row = store.setdefault(key, {"pixels": [], "bytes": [], "distance": [], "quality": [], "jpsq": [],
                                 "fallback": []})
    row["pixels"].append(tr.pixels_sent)
    row["bytes"].append(tr.bytes_sent)
    row["distance"].append(tr.distance)
    row["quality"].append(tr.quality)
    row["jpsq"].append(tr.jpsq)
    row["fallback"].append(bool(tr.fallback))


def load(tiny: bool):
    """The toy backend, or (``tiny``, for a smoke test of this script) a tiny random one with stand-in metrics."""
    from gsemlab.models import load_backend

    if not tiny:
        return load_backend("toy", device="cpu"), None
    import tempfile

    from gsemlab.testing import tiny_random_pipeline

    folder = tempfile.mkdtemp(prefix="tiny-sd-")
    tiny_random_pipeline(seed=0).save_pretrained(folder)
    backend = load_backend("toy", device="cpu", path=folder, metrics=False)
    backend = dataclasses.replace(
        backend, name="tiny",
        distance_fn=lambda a, b: float(np.abs(a.astype(float) - b.astype(float)).mean() / 255),
        quality_fn=lambda a: 1.0 + 9.0 * float(a.std() / 127.5),
    )
    return backend, 0.5


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    backend, t_max = load(args.tiny)
    cal = None if args.tiny else load_calibration("toy")
    gs = GSemCom(backend, t_max=t_max)
    schemes = {name: gs.with_options(xi=xi) for name, xi in SCHEMES.items()}
    no_binarize = gs.with_options(binarize=False)
    no_cluster = gs.with_options(cluster=False)
    captions = [s.caption for s in sample_scenes(args.n, args.seed, split=args.split)]

    methods: dict = {}
    per_caption = {k: [] for k in ("generation_s", "extraction_s", "packing_s", "decoding_s", "generation_cpu_s",
                                   "extraction_cpu_s", "packing_cpu_s", "decoding_cpu_s", "png_bytes",
                                   "jpeg75_bytes", "jpeg95_bytes", "semantic_pixels", "semantic_pixels_raw",
                                   "semantic_pixels_no_cluster", "map_pixels", "n_words", "top_word",
                                   "source_background")}
    sweep_budget = {b: {"pixels": [], "quality": [], "distance": [], "jpsq": []} for b in BUDGETS}
    sweep_random = {b: {"quality": [], "distance": [], "jpsq": []} for b in BUDGETS}
    sweep_steps = {s: {"quality": [], "distance": [], "decoding_s": []} for s in DECODE_STEPS}
    sweep_ber = {p: {"fallback": [], "quality": [], "bit_errors": []} for p in BIT_ERROR_RATES}
    steps_gs = {s: gs.with_options(decode_steps=s) for s in DECODE_STEPS}
    load_nlp()  # warm-up, not timed: spaCy's model loads once per process
    gs.transmit(captions[0], seed=args.seed)
    t_start = time.perf_counter()
    for k, caption in enumerate(captions):
        seed = args.seed + k
        gen = gs.generate(caption, seed)
        tr = {name: g.transmit(caption, seed=seed, generation=gen) for name, g in schemes.items()}
        for name, t in tr.items():
            _record(methods, f"gsemcom {name}", t)
        main = tr[DEFAULT]
        for key in ("generation", "extraction", "packing", "decoding"):
            per_caption[f"{key}_s"].append(main.timings[key])
            per_caption[f"{key}_cpu_s"].append(main.cpu_timings[key])
        trad = gs.traditional(caption, seed, generation=gen)
        _record(methods, "traditional", trad)
        per_caption["png_bytes"].append(trad.extra["png_bytes"])
        per_caption["jpeg75_bytes"].append(trad.extra["jpeg_bytes"])
        per_caption["jpeg95_bytes"].append(gs.traditional(caption, seed, generation=gen, jpeg_quality=95)
                                           .extra["jpeg_bytes"])
        _record(methods, "local AIGC", gs.local_aigc(caption, seed, generation=gen))
        _record(methods, "fully masked", gs.fully_masked(caption, seed, generation=gen))
        _record(methods, "gsemcom without clustering", no_cluster.transmit(caption, seed=seed, generation=gen))
        per_caption["semantic_pixels"].append(main.encoded.semantic_pixels)
        per_caption["semantic_pixels_raw"].append(no_binarize.extract(gen).semantic_pixels)
        per_caption["semantic_pixels_no_cluster"].append(methods["gsemcom without clustering"]["pixels"][-1])
        per_caption["map_pixels"].append(main.encoded.map_pixels)
        per_caption["source_background"].append(source_background(gen.source))
        per_caption["n_words"].append(len(main.encoded.words))
        per_caption["top_word"].append(main.encoded.words[0])

        if k < args.n_sweep:
            for b in BUDGETS:
                t = gs.transmit(caption, b, seed=seed, generation=gen)
                for key in ("pixels", "quality", "distance", "jpsq"):
                    sweep_budget[b][key].append(getattr(t, "pixels_sent" if key == "pixels" else key))
                # Fig. 12(b): without the ranking, the MASP can only pick pixels at random (same count)
                rng = np.random.default_rng([seed, b])
                mask = np.zeros(gen.source.shape[:2], bool)
                mask.reshape(-1)[rng.choice(mask.size, t.pixels_sent, replace=False)] = True
                rec = gs.decode(Packet(mask=mask, pixels=gen.source[mask], prompt=caption).received(),
                                seed=user_seed(seed))  # coded like a G-SemCom packet
                for key, value in zip(("distance", "quality", "jpsq"), gs.score(gen.source, rec)):
                    sweep_random[b][key].append(value)
            for s, g in steps_gs.items():
                t = g.transmit(caption, seed=seed, generation=gen)
                sweep_steps[s]["quality"].append(t.quality)
                sweep_steps[s]["distance"].append(t.distance)
                sweep_steps[s]["decoding_s"].append(t.timings["decoding"])
            data = main.encoded.packet.to_bytes()
            for j, p in enumerate(BIT_ERROR_RATES):
                damaged = bsc(data, p, rng=[seed, j])
                rec = gs.receive(damaged, caption, seed=user_seed(seed))
                sweep_ber[p]["fallback"].append(bool(rec.fallback))
                sweep_ber[p]["bit_errors"].append(int(np.unpackbits(
                    np.frombuffer(data, np.uint8) ^ np.frombuffer(damaged, np.uint8)).sum()))
                sweep_ber[p]["quality"].append(float(backend.quality(rec.image)))
        if (k + 1) % 25 == 0 or k + 1 == len(captions):
            print(f"{k + 1}/{len(captions)} captions, {time.perf_counter() - t_start:.0f} s", flush=True)

    memory = profile_memory(gs.with_options(profile_memory=True), captions[: args.n_memory], args.seed)
    return assemble(args, backend, cal, gs, captions, methods, per_caption, sweep_budget, sweep_random, sweep_steps,
                    sweep_ber, memory, time.perf_counter() - t_start)


def profile_memory(gs: GSemCom, captions, seed: int) -> dict:
    """Peak increase of allocated memory per stage (MiB; activations and buffers, weights excluded), measured
    in separate runs (the sampling thread would perturb the timings)."""
    out = {k: [] for k in ("generation", "extraction", "packing", "decoding")}
    for k, caption in enumerate(captions):
        tr = gs.transmit(caption, seed=seed + k)
        for key, values in out.items():
            values.append(tr.peak_mb[key])
    return {key: summary(v) for key, v in out.items()} if captions else {}


def weights_mb(backend) -> dict:
    """MiB of the weights each side holds: MASP (text encoder, UNet, VAE decoder), user (the same and the
    VAE encoder, which encodes the received pixels)."""
    def mb(*modules):
        return sum(p.numel() * p.element_size() for m in modules for p in m.parameters()) / 2**20

    pipe = backend.pipe
    masp = mb(pipe.text_encoder, pipe.unet, pipe.vae.decoder, pipe.vae.post_quant_conv)
    return {"masp": masp, "user": masp + mb(pipe.vae.encoder, pipe.vae.quant_conv)}


def assemble(args, backend, cal, gs, captions, methods, per_caption, sweep_budget, sweep_random, sweep_steps,
             sweep_ber, memory, seconds) -> dict:
    full = 64 * 64
    summ = {name: {key: summary(v) for key, v in row.items()} for name, row in methods.items()}
    trad_q = np.array(methods["traditional"]["quality"])
    headline = {}
    for name in methods:
        q = np.array(methods[name]["quality"])
        headline[name] = {
            "pixels": float(np.mean(methods[name]["pixels"])),
            "bandwidth_saving": 1 - float(np.mean(methods[name]["pixels"])) / full,
            "bytes": float(np.mean(methods[name]["bytes"])),
            "quality": float(q.mean()),
            "quality_drop_vs_traditional": float(trad_q.mean() - q.mean()),
            "quality_drop_sem": float(np.std(trad_q - q, ddof=1) / np.sqrt(q.size)) if q.size > 1 else 0.0,
            "distance": float(np.mean(methods[name]["distance"])),
            "jpsq": float(np.mean(methods[name]["jpsq"])),
            "fallback_rate": float(np.mean(methods[name]["fallback"])),
        }
    pc = {k: np.asarray(v) for k, v in per_caption.items() if k not in ("top_word", "source_background")}
    # the quality drop by the source's background: ToyNIMA prefers white, and the user's prior is white
    by_background = {}
    src_bg = np.asarray(per_caption["source_background"])
    for bg in BACKGROUNDS:
        m = src_bg == bg
        if m.any():
            row = {"n": int(m.sum())}
            for name in (f"gsemcom {DEFAULT}", "fully masked"):
                d = np.asarray(methods["traditional"]["quality"])[m] - np.asarray(methods[name]["quality"])[m]
                row[name] = {"quality_drop": float(d.mean()),
                             "quality_drop_sem": float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0,
                             "distance": float(np.mean(np.asarray(methods[name]["distance"])[m]))}
            by_background[bg] = row
    default = methods[f"gsemcom {DEFAULT}"]
    no_cl = methods["gsemcom without clustering"]
    timing = {k: summary(pc[k]) for k in pc if k.endswith("_s")}
    ratios = {
        "extraction_over_generation_cpu": float(pc["extraction_cpu_s"].sum() / pc["generation_cpu_s"].sum()),
        "extraction_packing_over_generation_cpu": float(
            (pc["extraction_cpu_s"].sum() + pc["packing_cpu_s"].sum()) / pc["generation_cpu_s"].sum()),
        "decoding_over_generation_cpu": float(pc["decoding_cpu_s"].sum() / pc["generation_cpu_s"].sum()),
        "extraction_packing_over_generation_wall": float(
            (pc["extraction_s"].sum() + pc["packing_s"].sum()) / pc["generation_s"].sum()),
        "decoding_over_generation_wall": float(pc["decoding_s"].sum() / pc["generation_s"].sum()),
    }
    if memory:
        w = weights_mb(backend)
        ratios["decoding_over_generation_memory"] = ((w["user"] + memory["decoding"]["mean"])
                                                     / (w["masp"] + memory["generation"]["mean"]))
    return {
        "benchmark": "gsemcom",
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]) if sys.argv else "",
        "backend": backend.name,
        "n_captions": len(captions),
        "split": args.split,
        "seeds": f"caption k of sample_scenes({args.n}, seed={args.seed}, split={args.split!r}) generated with "
                 f"seed {args.seed} + k; the user's noise with gsemlab.gsemcom.user_seed(seed)",
        "threads": args.threads,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "torch": torch.__version__,
        "seconds": round(seconds, 1),
        "config": {"gsemcom": dataclasses.asdict(gs.config), "jpsq": dataclasses.asdict(gs.jpsq_config),
                   "t_max": gs.t_max, "guidance_scale": gs.guidance_scale, "latent_mask": gs.latent_mask,
                   "fill": gs.fill, "strength": gs.strength, "inpaint_schedule": gs.inpaint_schedule,
                   "ranking_xi": gs.ranking_xi, "calibration": cal},
        "paper": PAPER,
        "headline": headline,
        "checks": {
            "bandwidth_saving_default": headline[f"gsemcom {DEFAULT}"]["bandwidth_saving"],
            "quality_drop_default": headline[f"gsemcom {DEFAULT}"]["quality_drop_vs_traditional"],
            # Fig. 12(a), per word: each word's map without binarisation holds every pixel
            "binarisation_size_reduction": 1 - float(pc["map_pixels"].sum() / (pc["n_words"].sum() * full)),
            # the same on the union of the maps (what the packet carries): equals the bandwidth saving
            "binarisation_union_reduction": 1 - float(pc["semantic_pixels"].mean() / pc["semantic_pixels_raw"].mean()),
            "clustering_pixels_removed": float(np.mean(no_cl["pixels"]) - np.mean(default["pixels"])),
            "clustering_pixels_removed_fraction_of_image": float(
                (np.mean(no_cl["pixels"]) - np.mean(default["pixels"])) / full),
            "clustering_quality_gain": float(np.mean(default["quality"]) - np.mean(no_cl["quality"])),
            "clustering_quality_gain_sem": float(np.std(np.array(default["quality"]) - np.array(no_cl["quality"]),
                                                        ddof=1) / np.sqrt(len(captions))) if len(captions) > 1
            else 0.0,
            **ratios,
        },
        "methods": summ,
        "by_source_background": by_background,
        "bytes": {"png": summary(pc["png_bytes"]), "jpeg75": summary(pc["jpeg75_bytes"]),
                  "jpeg95": summary(pc["jpeg95_bytes"]), "raw_rgb": full * 3,
                  "packet_default": summary(default["bytes"])},
        "semantic_pixels": {"binarised": summary(pc["semantic_pixels"]), "raw": summary(pc["semantic_pixels_raw"]),
                            "no_cluster": summary(pc["semantic_pixels_no_cluster"]),
                            "word_map_fraction": summary(pc["map_pixels"] / (pc["n_words"] * full))},
        "timing_s": timing,
        "peak_memory_mb": memory,
        "weights_mb": weights_mb(backend),
        "sweeps": {
            "n_captions": min(args.n_sweep, len(captions)),
            "budget": {str(b): {k: summary(v) for k, v in row.items()} for b, row in sweep_budget.items() if row["pixels"]},
            "budget_random_pixels": {str(b): {k: summary(v) for k, v in row.items()}
                                     for b, row in sweep_random.items() if row["quality"]},
            "decode_steps": {str(s): {k: summary(v) for k, v in row.items()} for s, row in sweep_steps.items()
                             if row["quality"]},
            "bit_error_rate": {f"{p:g}": {"fallback_rate": float(np.mean(row["fallback"])),
                                          "mean_bit_errors": float(np.mean(row["bit_errors"])),
                                          "quality": summary(row["quality"])}
                               for p, row in sweep_ber.items() if row["fallback"]},
        },
        "per_caption": {
            "caption": captions,
            "top_word": per_caption["top_word"],
            "source_background": per_caption["source_background"],
            **{k: v.tolist() for k, v in pc.items()},
            **{f"{name}/{key}": methods[name][key] for name in methods for key in ("pixels", "quality", "distance")},
        },
    }


def whole_segment_pixels(segments, budget: int) -> int:
    """Pixels of the whole segments, taken in packing order, that fit in a budget of ``budget`` pixels.

    This is what :func:`gsemlab.packing.pack` sends with its default rule ``partial="stop"`` (the
    longest prefix of whole segments within the budget); the budget study checks it packet by packet.

    Parameters
    ----------
    segments : sequence of ndarray of bool, shape (H, W)
        The disjoint segments (Eq. 14) in the order they are packed.
    budget : int
        The budget in pixels (O = 1), >= 0.

    Returns
    -------
    int
        The largest cumulative segment size that is at most ``budget``.
    """
    total = 0
    for seg in segments:
        size = int(np.count_nonzero(seg))
        if total + size > budget:
            break
        total += size
    return total


#: The partial-segment rules the budget study compares: the default first, then the rule it replaced.
STUDY_RULES = ("stop", "raster")


def budget_study(args) -> dict:
    """The Fig. 10 analogue for two partial-segment rules, on the captions of the sweeps.

    For each of the first ``args.n`` captions (caption ``k`` with seed ``args.seed + k``, the captions
    of the main run's sweeps) it records, on one generation: the references (traditional, local AIGC,
    fully masked, G-SemCom with every segment pixel); at every budget of :data:`BUDGETS`, the packet
    of each rule of :data:`STUDY_RULES`: ``"stop"``, the default (the longest prefix of whole
    segments that fits; nothing but the prompt when no segment fits, which is the fully masked
    baseline), and ``"raster"``, the rule it replaced (the same whole segments, then the first
    pixels in raster order of the next segment, up to the budget); and the bit-error sweep with
    distance as well as quality.
    """
    torch.set_num_threads(args.threads)
    backend, t_max = load(args.tiny)
    gs = GSemCom(backend, t_max=t_max)
    if gs.generation_options.partial != STUDY_RULES[0]:
        raise RuntimeError(f"the default rule is {gs.generation_options.partial!r}, the study expects "
                           f"{STUDY_RULES[0]!r} first")
    systems = {rule: gs.with_options(partial=rule) for rule in STUDY_RULES}
    captions = [s.caption for s in sample_scenes(args.n, args.seed, split=args.split)]
    full = 64 * 64
    rows = {k: [] for k in ("caption", "source_background", "semantic_pixels")}
    refs = {n: {"quality": [], "distance": [], "jpsq": []}
            for n in ("traditional", "local AIGC", "fully masked", f"gsemcom {DEFAULT}")}
    keys = ("pixels", "quality", "distance", "jpsq")
    per_budget = {b: {rule: {k: [] for k in keys} for rule in STUDY_RULES} for b in BUDGETS}
    per_ber = {p: {"fallback": [], "bit_errors": [], "quality": [], "distance": []} for p in BIT_ERROR_RATES}
    load_nlp()
    gs.transmit(captions[0], seed=args.seed)  # warm-up, not timed
    t_start = time.perf_counter()
    for k, caption in enumerate(captions):
        seed = args.seed + k
        gen = gs.generate(caption, seed)
        main = gs.transmit(caption, seed=seed, generation=gen)
        masked = gs.fully_masked(caption, seed, generation=gen)
        for name, t in (("traditional", gs.traditional(caption, seed, generation=gen)),
                        ("local AIGC", gs.local_aigc(caption, seed, generation=gen)),
                        ("fully masked", masked), (f"gsemcom {DEFAULT}", main)):
            for key in ("quality", "distance", "jpsq"):
                refs[name][key].append(getattr(t, key))
        rows["caption"].append(caption)
        rows["source_background"].append(source_background(gen.source))
        rows["semantic_pixels"].append(main.encoded.semantic_pixels)
        segments = main.encoded.segments
        for b in BUDGETS:
            for rule, g in systems.items():
                t = g.transmit(caption, b, seed=seed, generation=gen)
                if rule == "stop" and t.pixels_sent != whole_segment_pixels(segments, b):
                    raise RuntimeError(f"caption {k}, budget {b}: 'stop' sent {t.pixels_sent} px, not "
                                       f"the {whole_segment_pixels(segments, b)} of the whole segments")
                row = per_budget[b][rule]
                row["pixels"].append(t.pixels_sent)
                for key in ("quality", "distance", "jpsq"):
                    row[key].append(getattr(t, key))
        data = main.encoded.packet.to_bytes()
        for j, p in enumerate(BIT_ERROR_RATES):
            damaged = bsc(data, p, rng=[seed, j])
            rec = gs.receive(damaged, caption, seed=user_seed(seed))
            row = per_ber[p]
            row["fallback"].append(bool(rec.fallback))
            row["bit_errors"].append(int(np.unpackbits(
                np.frombuffer(data, np.uint8) ^ np.frombuffer(damaged, np.uint8)).sum()))
            row["quality"].append(float(backend.quality(rec.image)))
            row["distance"].append(float(backend.distance(gen.source, rec.image)))
        print(f"{k + 1}/{len(captions)} captions, {time.perf_counter() - t_start:.0f} s", flush=True)
    seconds = time.perf_counter() - t_start

    white = np.asarray(rows["source_background"]) == "white"
    ref = {n: {k: np.asarray(v, dtype=float) for k, v in r.items()} for n, r in refs.items()}
    gq, gd = ref[f"gsemcom {DEFAULT}"]["quality"], ref[f"gsemcom {DEFAULT}"]["distance"]
    mq, md = ref["fully masked"]["quality"], ref["fully masked"]["distance"]
    tq = ref["traditional"]["quality"]

    def by_background(v):
        return {"white": summary(v[white]) if white.any() else None,
                "other": summary(v[~white]) if (~white).any() else None}

    budgets = {}
    for b, by_rule in per_budget.items():
        a = {rule: {k: np.asarray(v, dtype=float) for k, v in r.items()} for rule, r in by_rule.items()}
        stop, raster = a["stop"], a["raster"]
        budgets[str(b)] = {
            **{rule: {k: summary(v) for k, v in r.items()} for rule, r in a.items()},
            # paired over the captions: the default against the rule it replaced
            "stop_minus_raster": {k: summary(stop[k] - raster[k]) for k in ("quality", "distance", "jpsq")},
            "captions_cut": int(np.count_nonzero(raster["pixels"] != stop["pixels"])),
            "cut_share_of_raster": float((raster["pixels"] - stop["pixels"]).sum()
                                         / max(raster["pixels"].sum(), 1)),
            "captions_stop_empty": int(np.count_nonzero(stop["pixels"] == 0)),
            "stop_inpainted_share": summary(1 - stop["pixels"] / full),
            "stop_quality_minus_fully_masked": summary(stop["quality"] - mq),
            "stop_quality_minus_traditional": summary(stop["quality"] - tq),
            "raster_quality_minus_fully_masked": summary(raster["quality"] - mq),
            "raster_quality_minus_traditional": summary(raster["quality"] - tq),
            "stop_quality_by_background": by_background(stop["quality"]),
        }
    ber = {}
    for p, row in per_ber.items():
        fb = np.asarray(row["fallback"])
        ber[f"{p:g}"] = {"fallback_rate": float(fb.mean()), "mean_bit_errors": float(np.mean(row["bit_errors"])),
                         "quality": summary(row["quality"]), "distance": summary(row["distance"])}
    bg, counts = np.unique(rows["source_background"], return_counts=True)
    return {
        "benchmark": "gsemcom_budget",
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]) if sys.argv else "",
        "backend": backend.name,
        "n_captions": len(captions),
        "split": args.split,
        "seeds": f"caption k of sample_scenes({args.n}, seed={args.seed}, split={args.split!r}) generated with "
                 f"seed {args.seed} + k (the captions of gsemcom.json's sweeps); the user's noise with "
                 "gsemlab.gsemcom.user_seed(seed)",
        "threads": args.threads,
        "machine": platform.machine(),
        "torch": torch.__version__,
        "seconds": round(seconds, 1),
        "rules": list(STUDY_RULES),
        "budgets": budgets,
        "references": {n: {k: summary(v) for k, v in r.items()} for n, r in refs.items()},
        "references_by_background": {n: {k: by_background(v) for k, v in r.items() if k != "jpsq"}
                                     for n, r in ref.items()},
        "source_backgrounds": {str(b): int(c) for b, c in zip(bg, counts)},
        "fully_masked_minus_traditional": {"quality": summary(mq - tq),
                                           "quality_higher": int(np.count_nonzero(mq > tq))},
        "fully_masked_minus_gsemcom": {"quality": summary(mq - gq), "distance": summary(md - gd),
                                       "quality_higher": int(np.count_nonzero(mq > gq))},
        "bit_error_rate": ber,
        "per_caption": {**rows,
                        **{f"{n}/{k}": v for n, r in refs.items() for k, v in r.items()},
                        **{f"budget {b}/{rule}/{k}": v for b, by_rule in per_budget.items()
                           for rule, r in by_rule.items() for k, v in r.items()},
                        **{f"ber {p:g}/{k}": v for p, r in per_ber.items() for k, v in r.items()}},
    }


def source_background(image: np.ndarray) -> str:
    """The ShapesWorld background (key of ``BACKGROUNDS``) nearest to the median of the image's border."""
    med = np.median(border_pixels(image).astype(float), axis=0)
    return min(BACKGROUNDS, key=lambda b: float(np.sum((med - np.asarray(BACKGROUNDS[b])) ** 2)))


def figure(res: dict, path: Path) -> None:
    """Save :func:`gsemlab.viz.gsemcom_results_figure` of the results' summary next to the JSON file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from summaries import gsemcom as summarize  # adds the sweep captions' reference lines

    from gsemlab.viz import gsemcom_results_figure

    fig = gsemcom_results_figure(summarize(res))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=None,
                   help="held-out captions (default 300, the recorded results; 30 with --budget-study)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--n-sweep", type=int, default=60, help="captions of the budget/steps/bit-error sweeps")
    p.add_argument("--n-memory", type=int, default=20, help="captions of the memory profile")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="smoke test on a tiny random backend (no trained weights)")
    p.add_argument("--budget-study", action="store_true",
                   help="only the study of the budget sweep, partial rules stop and raster (--n captions, "
                        "default 30); writes "
                        "results/gsemcom_budget.json")
    p.add_argument("--out", default=None, help="result file (default results/gsemcom.json, or "
                                               "results/gsemcom_budget.json with --budget-study)")
    args = p.parse_args(argv)
    if args.budget_study:
        args.n = 30 if args.n is None else args.n
        out = Path(args.out or RESULTS / "gsemcom_budget.json")
        res = budget_study(args)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
        from summaries import write_for

        write_for(out)
        print(f"wrote {out} ({res['seconds']} s)")
        return 0
    args.out = args.out or str(RESULTS / "gsemcom.json")
    args.n = 300 if args.n is None else args.n
    res = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    figure(res, out.with_suffix(".png"))
    from summaries import write_for  # benchmarks/summaries.py: the fields chapter 7 shows, as package data

    write_for(out)
    c = res["checks"]
    print(json.dumps({k: round(v, 4) for k, v in c.items()}, indent=1))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
