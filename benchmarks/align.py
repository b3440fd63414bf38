"""Transmission knowledge alignment (DeKA-g T-KA): No-KA, LoRA, CALA and full fine-tuning on the target subject.

Issue 19, items 3 and 5 (the T-KA half). For every method of :data:`gsemlab.align.METHODS`, rate of
:data:`gsemlab.align.RATES`, SNR of ``--snrs`` and delay spread of :data:`gsemlab.align.DELAY_SPREADS_S`,
PSNR, SSIM and ToySim on ``--n`` held-out images of the target subject (the edge model's images of
ShapesWorld's held-out colour-shape pairs) with the bundled weights
(``python -m gsemlab.training align-all``). Prints the issue's criterion, averaged over the test
conditions: CALA at least 3 dB above No-KA and 0.5 dB above LoRA, within 1 dB of full fine-tuning, with
at most 5% of its trainable parameters. Writes ``benchmarks/results/align.json``.

    python benchmarks/align.py --n 64
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
from gsemlab.align.system import BUNDLE_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))
from summaries import machine_info, save_result

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=64, help="held-out subject images per cell")
    p.add_argument("--snrs", type=float, nargs="+", default=[0.0, 5.0, 10.0, 15.0, 20.0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(RESULTS / "align.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    rows = []
    for method in al.METHODS:
        for rate in al.RATES:
            for tau in al.DELAY_SPREADS_S:
                for snr in a.snrs:
                    rows.append(al.evaluate(method, snr_db=snr, rate=rate, delay_spread_s=tau, n_images=a.n))
        mean = {k: float(np.mean([r[k] for r in rows if r["method"] == method])) for k in ("psnr_db", "ssim",
                                                                                             "toysim")}
        print(f"{method:8s} mean over conditions: PSNR {mean['psnr_db']:.2f} dB  SSIM {mean['ssim']:.3f}  "
              f"ToySim {mean['toysim']:.4f}  ({rows[-1]['trainable']} trainable)", flush=True)
    means = {m: {k: float(np.mean([r[k] for r in rows if r["method"] == m])) for k in ("psnr_db", "ssim", "toysim")}
             for m in al.METHODS}
    trainable = {m: next(r["trainable"] for r in rows if r["method"] == m) for m in al.METHODS}
    gains = {"cala_minus_noka_db": means["cala"]["psnr_db"] - means["no-ka"]["psnr_db"],
             "cala_minus_lora_db": means["cala"]["psnr_db"] - means["lora"]["psnr_db"],
             "fullft_minus_cala_db": means["full-ft"]["psnr_db"] - means["cala"]["psnr_db"],
             "cala_share_of_fullft_params": trainable["cala"] / trainable["full-ft"]}
    crit = {"cala_3db_over_noka": gains["cala_minus_noka_db"] >= 3.0,
            "cala_0_5db_over_lora": gains["cala_minus_lora_db"] >= 0.5,
            "cala_within_1db_of_fullft": gains["fullft_minus_cala_db"] <= 1.0,
            "cala_at_most_5pct_params": gains["cala_share_of_fullft_params"] <= 0.05}
    print("criteria:", crit, {k: round(v, 3) for k, v in gains.items()})
    info_path = BUNDLE_DIR / "training.json"
    out = {"benchmark": "align", "n_images": a.n, "snrs_db": a.snrs, "rates": list(al.RATES),
           "delay_spreads_s": list(al.DELAY_SPREADS_S), "rows": rows, "means": means, "trainable": trainable,
           "gains": gains, "criteria": crit,
           "training": json.loads(info_path.read_text()) if info_path.exists() else {},
           "seconds": round(time.time() - t0, 1),
           "machine": machine_info(a.threads)}
    save_result(out, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
