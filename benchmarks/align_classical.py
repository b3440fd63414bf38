"""Classical references of DeKA-g Sec. VI-B1: JPEG-LDPC and Latent-LDPC beside the learned JSCC codec.

Issue 19, item 5 (the classical half). For both baselines of :mod:`gsemlab.align.classical`, every rate
of :data:`gsemlab.align.RATES`, SNR of ``--snrs`` and delay spread of :data:`gsemlab.align.DELAY_SPREADS_S`:
PSNR, SSIM and ToySim on ``--n`` held-out images of the target subject (the images of
:func:`gsemlab.align.evaluate`), at the same number of complex channel uses per image as the codec, with
the modulation and LDPC code rate of adaptive modulation and coding (the largest payload whose Monte
Carlo BLER is at most ``--bler-max``). Prints a table beside the learned methods' PSNR read from
``benchmarks/results/align.json`` and writes ``benchmarks/results/align_classical.json`` (every cell,
the AMC tables, the means).

    python benchmarks/align_classical.py --n 64
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import gsemlab.align as al
from gsemlab.align import amc as link
from gsemlab.align import classical as cl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from summaries import machine_info, save_result

RESULTS = Path(__file__).resolve().parent / "results"
LEARNED = ("no-ka", "lora", "cala", "full-ft")
KEYS = ("psnr_db", "ssim", "toysim")


def _learned(path: Path) -> dict:
    """``{(method, rate, snr, tau): row}`` of the learned methods' benchmark, or {} when it is missing."""
    if not path.is_file():
        return {}
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    return {(r["method"], r["rate"], r["snr_db"], r["delay_spread_s"]): r for r in rows}


def _key(rate, snr, tau):
    return round(rate, 9), round(float(snr), 6), round(float(tau), 15)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=64, help="held-out subject images per cell")
    p.add_argument("--snrs", type=float, nargs="+", default=[0.0, 5.0, 10.0, 15.0, 20.0])
    p.add_argument("--bler-max", type=float, default=link.BLER_MAX)
    p.add_argument("--max-blocks", type=int, default=link.MAX_BLOCKS, help="most Monte Carlo blocks per candidate")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--learned", default=str(RESULTS / "align.json"))
    p.add_argument("--out", default=str(RESULTS / "align_classical.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    rows, amc = [], []
    for rate in al.RATES:
        n_symbols = round(4096 * rate)
        for tau in al.DELAY_SPREADS_S:
            for snr in a.snrs:
                t = time.time()
                table = link.amc_table(snr, tau, n_symbols, bler_max=a.bler_max, max_blocks=a.max_blocks)
                mcs = link.choose_mcs(snr, tau, n_symbols, bler_max=a.bler_max, max_blocks=a.max_blocks)
                amc.append({"rate": rate, "snr_db": snr, "delay_spread_s": tau, "n_symbols": n_symbols,
                            "chosen": mcs.as_dict(), "candidates": table, "seconds": round(time.time() - t, 2)})
                for method in cl.CLASSICAL_METHODS:
                    rows.append(cl.evaluate_classical(method, snr_db=snr, rate=rate, delay_spread_s=tau,
                                                      n_images=a.n, bler_max=a.bler_max, max_blocks=a.max_blocks))
                m = mcs.as_dict()
                print(f"r=1/{round(1 / rate):<2d} tau={tau * 1e9:4.0f} ns SNR={snr:4.1f} dB: "
                      f"m={m['bits_per_symbol']} R={m['code_rate'] and round(m['code_rate'], 3)} "
                      f"payload={m['payload_bits']:4d} BLER={m['bler']}  "
                      + "  ".join(f"{r['method']} {r['psnr_db']:.2f} dB" for r in rows[-2:])
                      + f"  ({time.time() - t:.1f} s)", flush=True)
    means = {m: {k: float(np.mean([r[k] for r in rows if r["method"] == m])) for k in KEYS}
             for m in cl.CLASSICAL_METHODS}

    learned = _learned(Path(a.learned))
    lk = {(m, *_key(r, s, t)): row for (m, r, s, t), row in learned.items()}
    cells = [(r["rate"], r["snr_db"], r["delay_spread_s"]) for r in rows if r["method"] == "jpeg-ldpc"]
    learned_means = {}
    for m in LEARNED:
        got = [lk.get((m, *_key(*c))) for c in cells]
        if got and all(g is not None for g in got):
            learned_means[m] = {k: float(np.mean([g[k] for g in got])) for k in KEYS}
    comparison = []
    print("\nPSNR (dB), mean over the delay spreads; payload bits per image (mean over tau)")
    names = list(cl.CLASSICAL_METHODS) + [m for m in LEARNED if m in learned_means]
    print(f"{'rate':>6s} {'SNR':>5s} {'payload':>8s} " + " ".join(f"{n:>11s}" for n in names))
    for rate in al.RATES:
        for snr in a.snrs:
            line = {"rate": rate, "snr_db": snr}
            sel = [c for c in cells if c[0] == rate and c[1] == snr]
            line["payload_bits"] = float(np.mean([x["chosen"]["payload_bits"] for x in amc
                                                  if x["rate"] == rate and x["snr_db"] == snr]))
            for n in names:
                if n in cl.CLASSICAL_METHODS:
                    vals = [r["psnr_db"] for r in rows if r["method"] == n and r["rate"] == rate
                            and r["snr_db"] == snr]
                else:
                    vals = [lk[(n, *_key(*c))]["psnr_db"] for c in sel]
                line[n] = float(np.mean(vals))
            comparison.append(line)
            print(f"1/{round(1 / rate):<4d} {snr:5.1f} {line['payload_bits']:8.0f} "
                  + " ".join(f"{line[n]:11.2f}" for n in names))
    print("mean over all cells: " + "  ".join(f"{n} {v['psnr_db']:.2f} dB" for n, v in
                                              {**means, **learned_means}.items()))
    out = {"benchmark": "align_classical", "n_images": a.n, "snrs_db": a.snrs, "rates": list(al.RATES),
           "delay_spreads_s": list(al.DELAY_SPREADS_S), "bler_max": a.bler_max, "max_blocks": a.max_blocks,
           "modulations": list(link.MODULATIONS), "code_rates": list(link.CODE_RATES),
           "fallback_grey": cl.FALLBACK_GREY, "latent_clip": cl.LATENT_CLIP,
           "rows": rows, "amc": amc, "means": means, "learned_means": learned_means, "comparison": comparison,
           "seconds": round(time.time() - t0, 1),
           "machine": machine_info(a.threads)}
    save_result(out, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
