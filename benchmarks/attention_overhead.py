"""Time cost of recording cross-attention (gsemlab.attention.AttentionStore) and of daam's hooks.

G-SemCom reads the cross-attention maps as a by-product of generation (Sec. IV-C.3: "no additional
computation costs"). This benchmark measures what the by-product costs here:

1. the toy pipeline (the bundled weights when they exist, otherwise the toy architecture with random
   weights: the time does not depend on the weights): 25 steps with and without ``AttentionStore``;
2. a tiny random pipeline at daam's 512-pixel configuration (64x64 latents, VAE factor 8, 77 tokens):
   25 steps plain, with ``AttentionStore``, and with daam's ``trace`` hooks.

Runs alternate inside each repeat (plain, store, daam, plain, ...) so that a busy machine slows all
variants alike. The overhead is the ratio of the best-of-N CPU times of this single-threaded process
(the least disturbed by other jobs on the two shared cores, as ``timeit`` advises); median CPU and
median wall-time ratios are written beside it. Each variant is timed for the whole generation and for
the denoising loop alone (``output_type="latent"``, no VAE decode).

Because whole generations on the shared machine scatter by more than the capture costs, the targets are
judged on a paired measurement (:func:`paired`): UNet calls with and without the capture, timed side by
side in random order, give the cost per denoising step.

Usage: ``python benchmarks/attention_overhead.py [--repeats 7] [--steps 25] [--pairs 200]``; writes
``benchmarks/results/attention_overhead.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import statistics
import time
import warnings
from pathlib import Path

import torch

from gsemlab.attention import AttentionStore
from gsemlab.models import TOY_PATH
from gsemlab.testing import tiny_random_pipeline

PROMPT = "a small red circle above a large blue square"
RESULTS = Path(__file__).resolve().parent / "results" / "attention_overhead.json"


def toy_pipeline():
    """The bundled toy pipeline, else its architecture with random weights; returns (pipe, description)."""
    if (TOY_PATH / "model_index.json").is_file():
        from gsemlab.models import load_backend

        return load_backend("toy", device="cpu", metrics=False).pipe, "toy (bundled weights)"
    try:
        from diffusers import StableDiffusionPipeline

        from gsemlab.toyworld import sd

        tok = sd.build_tokenizer()
        pipe = StableDiffusionPipeline(vae=sd.build_vae(), text_encoder=sd.build_text_encoder(len(tok)).eval(),
                                       tokenizer=tok, unet=sd.build_unet().eval(),
                                       scheduler=sd.build_sample_scheduler(), safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        return pipe, "toy architecture, random weights (bundled weights not trained yet)"
    except ImportError:
        return tiny_random_pipeline(seed=0), "tiny random pipeline, toy geometry (gsemlab.toyworld missing)"


def run(pipe, steps: int, size: int, output_type: str) -> tuple[float, float]:
    """Wall and CPU seconds of one generation."""
    g = torch.Generator().manual_seed(0)
    t0, c0 = time.perf_counter(), time.process_time()
    pipe(PROMPT, num_inference_steps=steps, guidance_scale=5.0, generator=g, height=size, width=size,
         output_type=output_type)
    return time.perf_counter() - t0, time.process_time() - c0


def variants(pipe, with_daam: bool):
    out = {"plain": contextlib.nullcontext, "attention_store": lambda: AttentionStore(pipe)}
    if with_daam:
        import daam

        out["daam"] = lambda: daam.trace(pipe)
    return out


def measure(pipe, *, steps: int, repeats: int, with_daam: bool) -> dict:
    """Time every variant ``repeats`` times, interleaved; full generation and denoising loop alone."""
    size = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
    ctx = variants(pipe, with_daam)
    modes = {"generation": "np", "denoising": "latent"}  # "latent": without the VAE decode
    raw = {m: {"wall": {n: [] for n in ctx}, "cpu": {n: [] for n in ctx}} for m in modes}
    for name, make in ctx.items():
        with make():
            run(pipe, 2, size, "np")  # warm-up of every variant
    for _ in range(repeats):
        for mode, output_type in modes.items():
            for name, make in ctx.items():
                with make():
                    w, c = run(pipe, steps, size, output_type)
                raw[mode]["wall"][name].append(w)
                raw[mode]["cpu"][name].append(c)
    out = {"image_size": size}
    for mode in modes:
        cpu, wall = raw[mode]["cpu"], raw[mode]["wall"]
        res = {"cpu_seconds": cpu, "wall_seconds": wall,
               "min_cpu_seconds": {n: min(t) for n, t in cpu.items()},
               "median_cpu_seconds": {n: statistics.median(t) for n, t in cpu.items()},
               "median_wall_seconds": {n: statistics.median(t) for n, t in wall.items()}}
        for name in ctx:
            if name == "plain":
                continue
            # best-of-N CPU time of this single-threaded process: the least disturbed by other jobs
            res[f"{name}_overhead"] = min(cpu[name]) / min(cpu["plain"]) - 1.0
            res[f"{name}_overhead_median_cpu"] = statistics.median(cpu[name]) / statistics.median(cpu["plain"]) - 1.0
            res[f"{name}_overhead_median_wall"] = (statistics.median(wall[name]) / statistics.median(wall["plain"])
                                                   - 1.0)
        out[mode] = res
    return out


def paired(pipe, *, steps: int, pairs: int, with_daam: bool, plain_generation_cpu: float, seed: int = 0) -> dict:
    """Cost per denoising step, measured by pairs: each UNet call under a capture is timed next to a plain one.

    Whole generations on a shared machine vary by more than the capture costs. Here every pair times one
    classifier-free-guidance UNet call (batch 2, the prompt's embeddings) per variant, in random order,
    with the context entered before the clock starts; the overhead per step is the median over pairs of
    (variant - plain) CPU time. Entering and leaving the context (once per generation) is timed apart.
    The generation overhead is then ``(steps * per_step + enter_exit) / plain generation time``.
    """
    ctx = variants(pipe, with_daam)
    rng = random.Random(seed)
    unet = pipe.unet
    s = int(unet.config.sample_size)
    latents = torch.randn(2, int(unet.config.in_channels), s, s, generator=torch.Generator().manual_seed(seed))
    timestep = torch.tensor(500)
    diffs = {name: [] for name in ctx if name != "plain"}
    ratios = {name: [] for name in ctx if name != "plain"}
    enter_exit = {name: [] for name in ctx if name != "plain"}
    with torch.no_grad():
        for i in range(pairs + 1):  # the first pair warms up
            order = list(ctx)
            rng.shuffle(order)
            cpu = {}
            for name in order:
                c0 = time.process_time()
                with ctx[name]():
                    c1 = time.process_time()
                    # the pipeline's own prompt encoding: a store sees the prompt and classifier-free guidance
                    cond, uncond = pipe.encode_prompt(PROMPT, torch.device("cpu"), 1, True)
                    context = torch.cat([uncond, cond])
                    c2 = time.process_time()
                    unet(latents, timestep, context)
                    cpu[name] = time.process_time() - c2
                    c3 = time.process_time()
                if name != "plain":
                    enter_exit[name].append((c1 - c0) + (time.process_time() - c3))
            if i == 0:
                continue
            for name, d in diffs.items():
                d.append(cpu[name] - cpu["plain"])
                ratios[name].append(cpu[name] / cpu["plain"])
    out = {"pairs": pairs}
    for name, d in diffs.items():
        per_step = statistics.median(d)
        entry = statistics.median(enter_exit[name])
        out[name] = {
            "per_step_overhead_seconds": per_step,
            "per_step_overhead_ratio": statistics.median(ratios[name]) - 1.0,
            "enter_exit_seconds": entry,
            "generation_overhead": (steps * per_step + entry) / plain_generation_cpu,
        }
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--repeats-512", type=int, default=3)
    p.add_argument("--pairs", type=int, default=200)
    p.add_argument("--pairs-512", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)  # daam uses torch.cuda.amp.autocast

    toy, toy_desc = toy_pipeline()
    res_toy = measure(toy, steps=a.steps, repeats=a.repeats, with_daam=False)
    res_toy["paired"] = paired(toy, steps=a.steps, pairs=a.pairs, with_daam=False,
                               plain_generation_cpu=res_toy["generation"]["min_cpu_seconds"]["plain"])
    big = tiny_random_pipeline(sample_size=64, vae_scale_factor=8, attention_levels=[1], seed=0)
    res_512 = measure(big, steps=a.steps, repeats=a.repeats_512, with_daam=True)
    res_512["paired"] = paired(big, steps=a.steps, pairs=a.pairs_512, with_daam=True,
                               plain_generation_cpu=res_512["generation"]["min_cpu_seconds"]["plain"])
    result = {
        "benchmark": "attention_overhead",
        "steps": a.steps,
        "threads": a.threads,
        "device": "cpu",
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "toy": {"pipeline": toy_desc, "repeats": a.repeats, **res_toy},
        "daam_config_512": {
            "pipeline": "tiny random, 64x64 latents, VAE factor 8, 77 tokens, cross-attention at 32x32",
            "repeats": a.repeats_512, **res_512,
        },
        "targets": {"attention_store_overhead_max": 0.10, "attention_store_below_daam": True},
    }
    # judged on the paired measurement: whole-generation ratios on this shared machine scatter by +-10%
    p_toy, p_512 = res_toy["paired"], res_512["paired"]
    result["targets_met"] = {
        "toy_overhead_at_most_10pct": p_toy["attention_store"]["generation_overhead"] <= 0.10,
        "512_overhead_at_most_10pct": p_512["attention_store"]["generation_overhead"] <= 0.10,
        "below_daam_512": p_512["attention_store"]["generation_overhead"] < p_512["daam"]["generation_overhead"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for title, res, reps in ((f"toy: {toy_desc}", res_toy, a.repeats),
                             ("512-pixel daam configuration (tiny random)", res_512, a.repeats_512)):
        for mode in ("generation", "denoising"):
            r = res[mode]
            print(f"{title}; {mode}, {a.steps} steps, {reps} repeats (CPU s min | CPU s median | wall s median):")
            for name in r["min_cpu_seconds"]:
                extra = "" if name == "plain" else (
                    f"  overhead {r[name + '_overhead']:+.1%} (min CPU), {r[name + '_overhead_median_cpu']:+.1%} "
                    f"(median CPU), {r[name + '_overhead_median_wall']:+.1%} (median wall)")
                print(f"  {name:16s} {r['min_cpu_seconds'][name]:7.3f} | {r['median_cpu_seconds'][name]:7.3f} | "
                      f"{r['median_wall_seconds'][name]:7.3f}{extra}")
        for name, r in res["paired"].items():
            if name == "pairs":
                continue
            print(f"  paired UNet calls ({res['paired']['pairs']} pairs), {name}: "
                  f"{r['per_step_overhead_seconds'] * 1e3:+.2f} ms per step ({r['per_step_overhead_ratio']:+.1%}), enter/exit {r['enter_exit_seconds'] * 1e3:.1f} ms "
                  f"-> generation overhead {r['generation_overhead']:+.1%}")
    print(f"targets met: {result['targets_met']}")
    print(f"wrote {RESULTS}")
    return result


if __name__ == "__main__":
    main()
