"""The channel as the forward diffusion against deep JSCC: PSNR, SSIM and ToySim against SNR at every rate.

Chapter 10 (issue 18, item 5). On ``--n`` held-out ShapesWorld renders (test split, scene seed 0) and the
bundled modules (``python -m gsemlab.training cdiff-all``), for every rate of
:data:`gsemlab.channel_diffusion.RATES` and SNR of ``--snrs``:

* ``diffusion``, ``latent`` and ``djscc`` over AWGN (the issue's grid);
* the same three over Rayleigh block fading with MMSE equalisation;
* ablations at the highest compression: the official grid rule against the exact timestep, and the
  upsampler trained with the variance target at random timesteps (CDDM's open question) against the
  matched one;
* the effective SNR of the received latent: ``z_hat`` (the upsampler's sample) and ``mu`` against the
  sender's latent ``z``, beside the channel's SNR (the denoiser is told the channel's);
* the timestep mismatch of the grid rule on the 20-step DDIM grid and on the full 1000-step grid.

Writes ``benchmarks/results/channel_diffusion.json`` and prints the issue's criterion (at the highest
compression and every SNR up to 10 dB, the diffusion receiver's ToySim distance below deep JSCC's).

    python benchmarks/channel_diffusion.py --n 64
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import gsemlab.channel_diffusion as cd
from gsemlab.channel.fading import measured_snr_db

sys.path.insert(0, str(Path(__file__).resolve().parent))
from summaries import machine_info, save_result

RESULTS = Path(__file__).resolve().parent / "results"


def effective_snr(system, images, rate, snr_db, seed):
    """Empirical SNR (dB) of the upsampler's mean and sample against the sender's latent."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = system.latents(images)
        mu, logvar = system.up["matched"](cd.send(system.down["matched"](z, rate), snr_db, generator=g),
                                          torch.full((z.shape[0],), float(snr_db)))
        z_hat = mu + torch.randn(mu.shape, generator=g) * (0.5 * logvar).exp()
    return {"mu_db": measured_snr_db(z, mu), "z_hat_db": measured_snr_db(z, z_hat),
            "sigma2_times_snr": float(logvar.exp().mean().item() * 10 ** (snr_db / 10))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=64, help="held-out images per cell")
    p.add_argument("--snrs", type=float, nargs="+", default=[0.0, 5.0, 10.0, 15.0, 20.0])
    p.add_argument("--steps", type=int, default=20, help="DDIM steps per full schedule")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(RESULTS / "channel_diffusion.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    system = cd.pretrained()
    rows = []

    def cell(method, snr, rate, **kw):
        t = time.time()
        r = cd.evaluate(method, snr_db=snr, rate=rate, n_images=a.n, steps=a.steps, **kw)
        r["seconds"] = round(time.time() - t, 2)
        rows.append(r)
        print(f"{method:9s} {kw.get('channel', 'awgn'):8s} {kw.get('variant', 'matched'):7s} "
              f"{kw.get('rule', 'exact'):5s} rate 1/{round(1 / rate):<3d} {snr:4.0f} dB  PSNR {r['psnr_db']:6.2f}  "
              f"SSIM {r['ssim']:.3f}  ToySim {r['toysim']:.4f}  ({r['seconds']:.1f} s)", flush=True)

    for channel in cd.CHANNELS:
        rates = cd.RATES if channel == "awgn" else (cd.RATES[-1],)
        for rate in rates:
            for snr in a.snrs:
                for method in cd.METHODS:
                    cell(method, snr, rate, channel=channel)
    hardest = cd.RATES[-1]
    for snr in a.snrs:
        cell("diffusion", snr, hardest, rule="grid")
        cell("diffusion", snr, hardest, variant="random")
        cell("latent", snr, hardest, variant="random")
    images, _ = cd.heldout_images(a.n, 0)
    eff = [{"rate": rate, "snr_db": snr, **effective_snr(system, images, rate, snr, 0)}
           for rate in cd.RATES for snr in a.snrs]
    grid = system.inference_grid(a.steps)
    mismatch = {"snr_db": a.snrs,
                "ddim_grid_db": [float(x) for x in cd.timestep_mismatch_db(a.snrs, system.alphas_cumprod, grid)],
                "full_grid_db": [float(x) for x in cd.timestep_mismatch_db(a.snrs, system.alphas_cumprod)],
                "t_star": [float(x) for x in cd.matched_timestep(a.snrs, system.alphas_cumprod)],
                "t_grid": [int(x) for x in cd.grid_timestep(a.snrs, system.alphas_cumprod, grid)]}

    def find(method, snr, rate, channel="awgn", variant="matched", rule="exact"):
        return next(r for r in rows if (r["method"], r["snr_db"], r["rate"], r["channel"], r["variant"],
                                        r["rule"]) == (method, snr, rate, channel, variant, rule))

    crit = [{"snr_db": s, "diffusion": find("diffusion", s, hardest)["toysim"],
             "djscc": find("djscc", s, hardest)["toysim"]} for s in a.snrs if s <= 10]
    passed = all(c["diffusion"] < c["djscc"] for c in crit)
    print("criterion (highest compression, SNR <= 10 dB, ToySim diffusion < djscc):", "PASS" if passed else "FAIL",
          crit)
    out = {"benchmark": "channel_diffusion", "n_images": a.n, "steps": a.steps, "snrs_db": a.snrs,
           "rates": list(cd.RATES), "rows": rows, "effective_snr": eff, "timestep_mismatch": mismatch,
           "criterion": {"passed": passed, "cells": crit}, "training": system.info,
           "seconds": round(time.time() - t0, 1),
           "machine": machine_info(a.threads)}
    save_result(out, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
