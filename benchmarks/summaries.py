"""Summaries of the benchmark results that the chapters show, bundled as package data.

Each benchmark writes its full result file to ``benchmarks/results/`` (per-caption rows included,
hundreds of kilobytes, repository only). The chapters need only the aggregate fields, and they must
find them in the installed package (a wheel on Colab has no ``benchmarks/`` folder). This script
extracts, from each full file, exactly the fields that a chapter or figure reads, plus the fields that
say how the run was made, and writes them to ``gsemlab/data/results/<name>.json``, where
:func:`gsemlab.data.load_result` reads them.

Re-running a benchmark takes hours; writing the summaries takes a second, so they are regenerated from
the recorded full files::

    python benchmarks/summaries.py            # write every summary from benchmarks/results/
    python benchmarks/summaries.py --check    # exit 1 when a bundled summary differs from its full file

``make bench`` runs it after the benchmarks; ``gsemcom.py`` and ``attention_quality.py`` also call
:func:`write_for` after writing their full file. ``tests/test_data.py`` fails when a bundled summary
drifts from what :func:`extract` gives.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The benchmarks' full result files (repository only).
FULL_DIR = ROOT / "benchmarks" / "results"
#: Where the summaries go: package data of gsemlab (``gsemlab.data.RESULTS_DIR``).
SUMMARY_DIR = ROOT / "gsemlab" / "data" / "results"

#: Fields that say how a run was made; copied whenever the full file has them.
PROVENANCE = ("benchmark", "command", "backend", "captions", "n_captions", "split", "seed", "seeds",
              "steps", "guidance", "threads", "device", "machine", "torch", "seconds")


def _pick(full: dict, keys: tuple[str, ...] | list[str], name: str) -> dict:
    """The provenance fields ``full`` has, then ``keys`` (each required), in that order."""
    missing = [k for k in keys if k not in full]
    if missing:
        raise KeyError(f"{name}: the full result file lacks the field(s) {missing} that a chapter reads")
    out = {k: full[k] for k in PROVENANCE if k in full}
    out.update({k: full[k] for k in keys})
    return out


def _mean_sem(values) -> dict:
    """Mean, standard error and count of a list of numbers (the benchmarks' ``summary`` fields)."""
    v = [float(x) for x in values]
    n = len(v)
    mean = sum(v) / n
    var = sum((x - mean) ** 2 for x in v) / (n - 1) if n > 1 else 0.0
    return {"mean": mean, "sem": (var / n) ** 0.5, "n": n}


#: Methods whose means over the sweeps' captions are the Fig. 10 analogue's reference lines.
REFERENCES = ("traditional", "local AIGC", "fully masked", "gsemcom xi=(0.9,0.8,0.5)")


def gsemcom(full: dict) -> dict:
    """Chapter 7's tables and ``gsemlab.viz.gsemcom_results_figure``: every aggregate, no
    ``per_caption`` rows; plus two aggregates computed here from those rows:

    * ``sweep_references``: quality and distance of the reference methods over the captions of the
      sweeps (the first ``sweeps.n_captions`` rows), so that the Fig. 10 analogue compares its
      curves with references on the same captions;
    * ``quality_by_source_background``: the source's quality (traditional: the whole image is sent)
      by the source's background.
    """
    keys = ("config", "paper", "headline", "checks", "methods", "by_source_background", "bytes",
            "semantic_pixels", "timing_s", "peak_memory_mb", "weights_mb", "sweeps")
    out = _pick(full, keys, "gsemcom")
    pc = full.get("per_caption")
    if pc:
        n = full["sweeps"]["n_captions"]
        out["sweep_references"] = {
            name: {key: _mean_sem(pc[f"{name}/{key}"][:n]) for key in ("quality", "distance")}
            for name in REFERENCES if f"{name}/quality" in pc}
        backgrounds = pc["source_background"]
        out["quality_by_source_background"] = {
            bg: _mean_sem([q for q, b in zip(pc["traditional/quality"], backgrounds) if b == bg])
            for bg in sorted(set(backgrounds))}
    return out


def gsemcom_budget(full: dict) -> dict:
    """Chapter 7's Fig. 10 analogue (Q and D against the budget for the partial-segment rules
    "stop" and "raster", references on the same captions) and the bit-error sweep with distances:
    the aggregates, no ``per_caption`` rows."""
    keys = ("rules", "budgets", "references", "references_by_background", "source_backgrounds",
            "fully_masked_minus_traditional", "fully_masked_minus_gsemcom", "bit_error_rate")
    return _pick(full, keys, "gsemcom_budget")


def layout_guidance(full: dict) -> dict:
    """Chapter 2's table of one layout-guidance run: the settings and each sampler's row, no
    ``per_caption`` rows."""
    rows = list(full.get("settings", {}))
    ratios = sorted(k for k in full if k.startswith("time_ratio_"))
    return _pick(full, ["targets", "settings", *rows, *ratios], "layout_guidance")


def attention_quality(full: dict) -> dict:
    """Pointing game, mass and IoU of the word maps against the centred prior (chapter 2), no
    per-object ``rows``."""
    keys = ("aggregation", "baseline", "targets", "noun", "colour", "targets_met")
    return _pick(full, keys, "attention_quality")


def toy_models(full: dict) -> dict:
    """The bundled models' measurements (chapter 2 and the appendix): the whole file, it is small."""
    return dict(full)


def rate_distortion(full: dict) -> dict:
    """Chapter 7's bytes on the wire and :func:`gsemlab.packing.packet_rate`: the curves, checks,
    crossovers, size model, quality selection and 512 px photos; no per-caption rows, no per-setting
    table."""
    keys = ("packet_version", "default_quality", "partial", "quality_selection", "grid", "checks", "curves",
            "crossovers", "rate_model", "natural_512")
    return _pick(full, keys, "rate_distortion")


def rl(full: dict) -> dict:
    """Chapter 8's tables and figures (Figs. 13-16 analogues): every aggregate of ``benchmarks/rl.py``,
    without the per-run rows."""
    keys = ("workers", "seeds", "n_eval_states", "eval_seed", "curves", "steps_per_second", "nocap", "cap12",
            "fig16b", "users", "examples")
    return _pick(full, keys, "rl")


def rl_ceiling(full: dict) -> dict:
    """Chapter 8's box on the ADD targets: what an observation-only policy reaches on held-out states
    (``benchmarks/rl_ceiling.py``), every aggregate, no per-state rows (it has none)."""
    keys = ("eval_seed", "n_eval_states", "n_cap_states", "bootstrap", "selection", "nocap", "in_sample",
            "noise", "cap12")
    return _pick(full, keys, "rl_ceiling")


def channel_diffusion(full: dict) -> dict:
    """Chapter 9's benchmark: every cell (method, rate, SNR, channel, variant, rule), the effective SNRs,
    the grid rule's mismatch, the issue's criterion and the training record; no machine details."""
    keys = ("n_images", "steps", "snrs_db", "rates", "rows", "effective_snr", "timestep_mismatch", "criterion",
            "training", "seconds")
    return _pick(full, keys, "channel_diffusion")


def align(full: dict) -> dict:
    """The knowledge-alignment benchmark (T-KA): every cell, the means, parameter counts, gains, criteria and
    the training record; no machine details."""
    keys = ("n_images", "snrs_db", "rates", "delay_spreads_s", "rows", "means", "trainable", "gains", "criteria",
            "training", "seconds")
    return _pick(full, keys, "align")


def align_classical(full: dict) -> dict:
    """The classical references of the T-KA benchmark (JPEG + LDPC + QAM, latents + LDPC + QAM): every cell
    (its metrics, delivery and payload), the chosen modulation and coding per condition (not every candidate
    it tried), the means and the comparison with the learned codec."""
    keys = ("n_images", "snrs_db", "rates", "delay_spreads_s", "bler_max", "max_blocks", "modulations", "code_rates",
            "fallback_grey", "latent_clip", "rows", "amc", "means", "learned_means", "comparison", "seconds")
    out = _pick(full, keys, "align_classical")
    cell = ("method", "rate", "snr_db", "delay_spread_s", "psnr_db", "ssim", "toysim", "delivered")
    out["rows"] = [{k: r[k] for k in cell if k in r} | {"payload_bits": r["mcs"]["payload_bits"]} for r in full["rows"]]
    out["amc"] = [{k: a[k] for k in ("rate", "snr_db", "delay_spread_s", "n_symbols", "chosen")} for a in full["amc"]]
    return out


def makd(full: dict) -> dict:
    """The G-KA benchmark (MAKD, textual inversion, LoRA, none, the cloud): every row, the means, the
    reductions, the criteria and the training record; no machine details."""
    keys = ("n_images", "seeds", "methods", "rows", "means", "reduction", "criteria", "training", "rank", "seconds")
    return _pick(full, keys, "makd")


def control(full: dict) -> dict:
    """The control-map chapter's benchmark: every cell, the follow checks, the linearity of every
    (method, metric) pair, the tolerated factors, the curves, services and costs the DQN trains on, the
    timing and the criteria; no machine details."""
    keys = ("n_captions", "methods", "factors", "metrics", "rows", "follow", "linearity", "tolerance", "curves",
            "services", "costs", "timing", "criteria", "scale", "scale_sweep", "seconds")
    return _pick(full, keys, "control")


#: name of the bundled summary -> (full file in :data:`FULL_DIR`, extractor).
SUMMARIES: dict[str, tuple[str, Callable[[dict], dict]]] = {
    "gsemcom": ("gsemcom.json", gsemcom),
    "gsemcom_budget": ("gsemcom_budget.json", gsemcom_budget),
    "layout_guidance": ("layout_guidance.json", layout_guidance),
    "layout_guidance_2026": ("layout_guidance_2026.json", layout_guidance),
    "layout_guidance_2026_defaults": ("layout_guidance_2026_defaults.json", layout_guidance),
    "attention_quality": ("attention_quality.json", attention_quality),
    "toy_models": ("toy_models.json", toy_models),
    "rate_distortion": ("rate_distortion.json", rate_distortion),
    "rl": ("rl.json", rl),
    "rl_ceiling": ("rl_ceiling.json", rl_ceiling),
    "channel_diffusion": ("channel_diffusion.json", channel_diffusion),
    "align": ("align.json", align),
    "align_classical": ("align_classical.json", align_classical),
    "makd": ("makd.json", makd),
    "control": ("control.json", control),
}


def extract(name: str, full_dir: Path = FULL_DIR) -> dict:
    """The summary ``name`` computed from its full file in ``full_dir``."""
    if name not in SUMMARIES:
        raise ValueError(f"no summary named {name!r}; have {sorted(SUMMARIES)}")
    filename, fn = SUMMARIES[name]
    full = json.loads((Path(full_dir) / filename).read_text(encoding="utf-8"))
    return fn(full)


def dumps(summary: dict) -> str:
    """The text a summary file holds (stable: regenerating an unchanged summary changes nothing)."""
    return json.dumps(summary, indent=1, ensure_ascii=False) + "\n"


def write(name: str, full_dir: Path = FULL_DIR, out_dir: Path = SUMMARY_DIR) -> Path:
    """Write the summary ``name`` to ``out_dir/<name>.json``; return its path."""
    out = Path(out_dir) / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(extract(name, full_dir)), encoding="utf-8")
    return out


def write_for(full_path: str | Path) -> Path | None:
    """Write the summary of the full file a benchmark has just written, when it is one that is bundled.

    A benchmark calls this after writing its result; a run written elsewhere (``--out /tmp/x.json``)
    has no summary, and this returns None.
    """
    full_path = Path(full_path).resolve()
    if full_path.parent != FULL_DIR.resolve():
        return None
    for name, (filename, _) in SUMMARIES.items():
        if filename == full_path.name:
            out = write(name)
            print(f"wrote the bundled summary {out.relative_to(ROOT)}")
            return out
    return None


def machine_info(threads: int) -> dict:
    """Python, torch and platform of the machine a benchmark ran on, with its torch thread count."""
    import platform

    import torch

    return {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
            "threads": threads}


def save_result(result: dict, out: str | Path) -> Path:
    """Write a benchmark's full result as JSON to ``out``, then its bundled summary (:func:`write_for`)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} ({result.get('seconds', 0):.0f} s)")
    write_for(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 when a bundled summary is out of date")
    args = p.parse_args(argv)
    stale = []
    for name in SUMMARIES:
        path = SUMMARY_DIR / f"{name}.json"
        if args.check:
            if not path.is_file() or json.loads(path.read_text(encoding="utf-8")) != extract(name):
                stale.append(name)
        else:
            write(name)
            print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e3:.1f} kB)")
    if stale:
        print(f"out of date (run `python benchmarks/summaries.py`): {stale}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
