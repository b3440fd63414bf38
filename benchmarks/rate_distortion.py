"""Bytes on the wire: G-SemCom's packets against JPEG and WebP of the whole image (chapter 7).

The paper counts bandwidth in pixels (Table III: O = 1 per pixel); a link carries bits. For every
held-out ShapesWorld caption (caption ``k`` generated with seed ``k``, toy backend) the MASP generates
the source image once and the benchmark measures, on that same source, the bytes sent and the user's
distance D (Eq. 15), quality Q (Eq. 16) and JPSQ J (Eq. 17-18) of:

* **G-SemCom**, for each xi scheme over its budget grid (pixels, O = 1), with the lossy packet
  (``Packet.to_bytes()``: VP8 at ``DEFAULT_QUALITY``) and the lossless one (``codec="zlib"``); the
  user parses the bytes (``GSemCom.receive``), so J is computed on the pixels the codec gave back;
  and, for the default scheme with every segment pixel, the lossy packet at other qualities;
* **the whole image** as JPEG and as WebP at every quality of a grid, as the packet's own codec (VP8
  with full-resolution colour, :func:`gsemlab.packing.codecs.vp8_encode`, plus a 20-byte container),
  and as PNG: the user's image is the decoded file, so J sees the codec's artifacts;
* **prompt only** (the fully masked baseline: a packet without pixels).

From the mean curves it records where G-SemCom's J curve (default scheme and quality, over budgets)
crosses WebP's and JPEG's, the affine size model of a packet (bits = overhead + bits per pixel x
pixels, :mod:`gsemlab.packing.rate`), and the same packets' sizes on two 512 x 512 natural photos
(scikit-learn's sample images; bytes only, no diffusion model runs on them).

``--split val`` runs the quality selection instead: the default scheme, a few budgets, the lossy
packet at every quality of ``VAL_QUALITIES`` against the lossless one; the default quality is the
lowest one whose mean J is within ``TOLERANCE`` of the lossless packet's at every budget.

Usage (one torch thread; per-caption rows are cached under ``--cache``, so a run resumes)::

    python benchmarks/rate_distortion.py --split val --n 100 --out benchmarks/results/rate_distortion_val.json
    python benchmarks/rate_distortion.py            # 200 test captions -> results/rate_distortion.json
    python benchmarks/rate_distortion.py --n 4 --out /tmp/rd.json   # a quick run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gsemlab.gsemcom import GSemCom, user_seed
from gsemlab.models import load_backend
from gsemlab.packing import (
    DEFAULT_QUALITY,
    VERSION,
    Packet,
    decode_image,
    jpeg_bytes,
    pack,
    png_bytes,
    section_sizes,
    webp_bytes,
)
from gsemlab.config import GenerationOptions
from gsemlab.packing.codecs import vp8_decode, vp8_encode
from gsemlab.prompt import load_nlp
from gsemlab.toyworld import sample_scenes

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMES = {"xi=(0.9,0.8,0.5)": (0.9, 0.8, 0.5), "xi=0.8": (0.8,), "xi=0.5": (0.5,)}
DEFAULT = "xi=(0.9,0.8,0.5)"
#: Pixel budgets (O = 1); None sends every segment pixel. The default scheme gets the finer grid.
BUDGETS = (100, 150, 300, 500, 1000, 2000, None)
BUDGETS_OTHER = (100, 300, 1000, None)
#: Qualities of the lossy packet at the full budget (default scheme), besides DEFAULT_QUALITY.
PACKET_QUALITIES = (10, 25, 75, 90)
#: Qualities of the whole-image JPEG and WebP files.
IMAGE_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 90, 95)
#: The quality selection (``--split val``).
VAL_QUALITIES = (10, 20, 30, 40, 50, 60, 75, 90)
VAL_BUDGETS = (150, 400, None)
TOLERANCE = 0.01  # half the 0.02; no quality up to 90 met 0.005 at the full budget
#: The partial-segment rule of every budgeted packet: GSemCom's default (``pack``'s ``partial``).
PARTIAL = GenerationOptions().partial
METRICS = ("pixels", "bytes", "distance", "quality", "jpsq")


def budget_name(b) -> str:
    return "all" if b is None else str(b)


def plan(split: str) -> list[tuple[str, object, str, int | None]]:
    """(scheme, budget, codec, quality) of every G-SemCom packet measured per caption."""
    if split == "val":
        return [
            (DEFAULT, b, c, q)
            for b in VAL_BUDGETS
            for c, q in [("zlib", None)] + [("webp", q) for q in VAL_QUALITIES]
        ]
    out = []
    for scheme in SCHEMES:
        for b in BUDGETS if scheme == DEFAULT else BUDGETS_OTHER:
            out += [(scheme, b, "webp", DEFAULT_QUALITY), (scheme, b, "zlib", None)]
    out += [(DEFAULT, None, "webp", q) for q in PACKET_QUALITIES]
    return out


def packet_key(scheme, budget, codec, quality) -> str:
    coding = "zlib" if codec == "zlib" else f"webp{quality}"
    return f"gsemcom/{scheme}/{coding}/{budget_name(budget)}"


def caption_rows(gs: dict, caption: str, seed: int, split: str, *, check: bool = False) -> dict:
    """Every measurement of one caption: key -> {pixels, bytes, distance, quality, jpsq}."""
    g0 = gs[DEFAULT]
    gen = g0.generate(caption, seed)
    rows, scored = {}, {}
    segments = {}

    def score_packet(data: bytes) -> tuple[float, float, float]:
        digest = hashlib.sha256(data).digest()  # a budget above the segments' size repeats a packet
        if digest not in scored:
            rec = g0.receive(data, caption, seed=user_seed(seed))
            if rec.fallback:
                raise RuntimeError(f"an intact packet fell back: {rec.error}")
            scored[digest] = g0.score(gen.source, rec.image)
        return scored[digest]

    for scheme, budget, codec, quality in plan(split):
        if scheme not in segments:
            segments[scheme] = list(gs[scheme].extract(gen).segments)
        packet = pack(gen.source, segments[scheme], budget, prompt=caption, partial=PARTIAL)
        data = packet.to_bytes(codec, quality=None if codec == "zlib" else quality)
        d, q, j = score_packet(data)
        rows[packet_key(scheme, budget, codec, quality)] = {
            "pixels": packet.n_pixels,
            "bytes": len(data),
            "distance": d,
            "quality": q,
            "jpsq": j,
            "sections": section_sizes(data),
        }
    if check:  # the path above is GSemCom.transmit's, with the packet's coding chosen
        for budget in (150, None):
            row = rows.get(packet_key(DEFAULT, budget, "webp", DEFAULT_QUALITY))
            if row is not None:
                tr = g0.transmit(caption, budget, seed=seed, generation=gen)
                assert tr.bytes_sent == row["bytes"] and abs(tr.jpsq - row["jpsq"]) < 1e-9, (tr, row)
    if split == "val":
        return rows
    full = gen.source.shape[0] * gen.source.shape[1]
    for fmt, encode in (("jpeg", jpeg_bytes), ("webp", webp_bytes)):
        for q in IMAGE_QUALITIES:
            data = encode(gen.source, q)
            d, qq, j = g0.score(gen.source, decode_image(data))
            rows[f"{fmt}/{q}"] = {"pixels": full, "bytes": len(data), "distance": d, "quality": qq, "jpsq": j}
    for q in IMAGE_QUALITIES:  # the packet's codec on the whole image, as a file (20-byte RIFF container)
        frame = vp8_encode(gen.source, q)
        d, qq, j = g0.score(gen.source, vp8_decode(frame, gen.source.shape[:2]))
        rows[f"vp8_444/{q}"] = {
            "pixels": full,
            "bytes": len(frame) + 20,
            "distance": d,
            "quality": qq,
            "jpsq": j,
        }
    png = png_bytes(gen.source)
    d, qq, j = g0.score(gen.source, decode_image(png))
    rows["png"] = {"pixels": full, "bytes": len(png), "distance": d, "quality": qq, "jpsq": j}
    masked = g0.fully_masked(caption, seed, generation=gen)
    rows["prompt_only"] = {
        "pixels": 0,
        "bytes": masked.bytes_sent,
        "distance": masked.distance,
        "quality": masked.quality,
        "jpsq": masked.jpsq,
    }
    return rows


def columns(per_caption: list[dict], captions: list[str]) -> dict:
    """The per-caption rows by setting and metric (D, Q, J to 5 decimals), in caption order."""
    out = {"caption": captions}
    for key in per_caption[0]:
        out[key] = {m: [r[key][m] if m in ("pixels", "bytes") else round(r[key][m], 5) for r in per_caption]
                    for m in METRICS}
    return out


def dumps(res: dict) -> str:
    """The results as JSON: indented, but the per-caption columns on one line each."""
    head = {k: v for k, v in res.items() if k != "per_caption"}
    text = json.dumps(head, indent=1)
    rows = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
                       for k, v in res["per_caption"].items())
    return text[:-2] + ',\n "per_caption": {\n' + rows + "\n }\n}\n"


def mean_sem(values) -> dict:
    v = np.asarray(values, dtype=float)
    sem = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "sem": sem}


def aggregate(per_caption: list[dict]) -> dict:
    """key -> metric -> {mean, sem}, and the paired J difference of each lossy packet to its lossless twin."""
    out = {}
    for key in per_caption[0]:
        out[key] = {m: mean_sem([r[key][m] for r in per_caption]) for m in METRICS}
        if key.startswith("gsemcom/") and "/webp" in key:
            twin = key.rsplit("/", 2)[0] + "/zlib/" + key.rsplit("/", 1)[1]
            if twin in per_caption[0]:
                out[key]["jpsq_minus_lossless"] = mean_sem(
                    [r[key]["jpsq"] - r[twin]["jpsq"] for r in per_caption]
                )
                out[key]["bytes_over_lossless"] = float(
                    np.mean([r[key]["bytes"] for r in per_caption])
                    / np.mean([r[twin]["bytes"] for r in per_caption])
                )
    return out


def curve(agg: dict, keys: list[str], labels: list) -> dict:
    """A curve of mean values, sorted by mean bytes."""
    pts = sorted(zip(keys, labels), key=lambda kl: agg[kl[0]]["bytes"]["mean"])
    return {
        "setting": [lab for _, lab in pts],
        **{m: [agg[k][m]["mean"] for k, _ in pts] for m in METRICS},
        **{f"{m}_sem": [agg[k][m]["sem"] for k, _ in pts] for m in ("distance", "quality", "jpsq")},
    }


def crossings(a: dict, b: dict, metric: str) -> dict:
    """Where curve ``a``'s metric minus curve ``b``'s changes sign, both linear in bytes between points.

    Returns
    -------
    dict
        ``overlap``: ``[lo, hi]``, the mean bytes both curves cover (None when they do not overlap);
        ``a_wins``: whether ``a`` is the higher (for ``distance``: the lower) at ``lo``;
        ``points``: each crossing inside the overlap as ``{"bytes", "value"}``, after which the
        other curve is the better one.
    """
    xa, ya, xb, yb = (np.asarray(v, float) for v in (a["bytes"], a[metric], b["bytes"], b[metric]))
    lo, hi = max(xa.min(), xb.min()), min(xa.max(), xb.max())
    if lo >= hi:
        return {"overlap": None, "a_wins": None, "points": []}
    xs = np.unique(np.concatenate([xa[(xa >= lo) & (xa <= hi)], xb[(xb >= lo) & (xb <= hi)], [lo, hi]]))
    diff = np.interp(xs, xa, ya) - np.interp(xs, xb, yb)
    if metric == "distance":  # lower is better
        diff = -diff
    points = []
    for i in range(len(xs) - 1):
        if diff[i] * diff[i + 1] < 0 or (diff[i + 1] == 0 and i + 2 < len(xs) and diff[i] * diff[i + 2] < 0):
            t = diff[i] / (diff[i] - diff[i + 1])
            x = float(xs[i] + t * (xs[i + 1] - xs[i]))
            points.append({"bytes": x, "value": float(np.interp(x, xa, ya))})
    first = next((d for d in diff if d != 0), 0.0)
    return {"overlap": [float(lo), float(hi)], "a_wins": bool(first > 0), "points": points}


def rate_model(per_caption: list[dict], coding: str) -> dict:
    """Least-squares fit bytes = a + b * pixels over every default-scheme packet of one coding, and the
    95th percentile of the residual (an intercept that 95 % of the packets stay under)."""
    keys = [packet_key(DEFAULT, b, "zlib" if coding == "zlib" else "webp", DEFAULT_QUALITY) for b in BUDGETS]
    n = np.array([r[k]["pixels"] for r in per_caption for k in keys], float)
    y = np.array([r[k]["bytes"] for r in per_caption for k in keys], float)
    b, a = np.polyfit(n, y, 1)
    resid = y - (a + b * n)
    return {
        "coding": coding,
        "quality": DEFAULT_QUALITY if coding == "webp" else None,
        "n_packets": int(n.size),
        "overhead_bits": float(8 * a),
        "bits_per_pixel": float(8 * b),
        "overhead_bits_p95": float(8 * (a + np.percentile(resid, 95))),
        "residual_std_bits": float(8 * resid.std(ddof=2)),
        "mean_bits_per_sent_pixel": float(8 * np.mean(y[n > 0] / n[n > 0])),
    }


def natural_images(quality: int) -> dict:
    """Bytes of the packets and whole-image files of two 512 x 512 natural photos (no diffusion model).

    The mask is a centred disc of 25 % or 50 % of the image (an object-like region, one segment);
    the same codings as on ShapesWorld. Also the wall time of encoding and parsing the lossy packet.
    """
    from PIL import Image
    from sklearn.datasets import load_sample_image

    out = {}
    y, x = np.mgrid[0:512, 0:512]
    for name in ("china.jpg", "flower.jpg"):
        im = load_sample_image(name)
        side = min(im.shape[:2])
        crop = im[:side, (im.shape[1] - side) // 2 : (im.shape[1] - side) // 2 + side]
        img = np.asarray(Image.fromarray(crop).resize((512, 512), Image.Resampling.LANCZOS))
        row = {
            "png": len(png_bytes(img)),
            "jpeg75": len(jpeg_bytes(img, 75)),
            "webp_default_quality": len(webp_bytes(img, quality)),
            "webp75": len(webp_bytes(img, 75)),
            # the packet's codec (full-resolution colour) on the whole image, as a file
            "vp8_444_default_quality": len(vp8_encode(img, quality)) + 20,
            "packet_all_pixels": len(pack(img, [np.ones((512, 512), bool)], None, prompt="a photo")
                                     .to_bytes()),
        }
        for frac in (0.25, 0.5):
            r = np.sqrt(frac * 512 * 512 / np.pi)
            mask = ((y - 256) / r) ** 2 + ((x - 256) / r) ** 2 <= 1
            p = pack(img, [mask], None, prompt="a photo")
            t = time.perf_counter()
            lossy = p.to_bytes()
            t_enc = time.perf_counter() - t
            t = time.perf_counter()
            Packet.from_bytes(lossy)
            t_dec = time.perf_counter() - t
            row[f"mask{int(frac * 100)}"] = {
                "pixels": p.n_pixels,
                "lossy": len(lossy),
                "zlib": len(p.to_bytes("zlib")),
                "sections": section_sizes(lossy),
                "encode_s": t_enc,
                "parse_s": t_dec,
            }
        out[name] = row
    return out


def select_quality(agg: dict) -> dict:
    """The lowest quality whose mean J is within TOLERANCE of the lossless packet's at every budget."""
    table = {}
    for q in VAL_QUALITIES:
        keys = [packet_key(DEFAULT, b, "webp", q) for b in VAL_BUDGETS]
        table[str(q)] = {
            "bytes": {budget_name(b): agg[k]["bytes"]["mean"] for b, k in zip(VAL_BUDGETS, keys)},
            "bytes_over_lossless": {
                budget_name(b): agg[k]["bytes_over_lossless"] for b, k in zip(VAL_BUDGETS, keys)
            },
            "jpsq_minus_lossless": {
                budget_name(b): agg[k]["jpsq_minus_lossless"] for b, k in zip(VAL_BUDGETS, keys)
            },
            "worst_drop": float(max(-agg[k]["jpsq_minus_lossless"]["mean"] for k in keys)),
        }
    ok = [q for q in VAL_QUALITIES if table[str(q)]["worst_drop"] <= TOLERANCE]
    return {
        "rule": f"lowest quality whose mean J drop against the lossless packet is <= {TOLERANCE} at every "
        f"budget {[budget_name(b) for b in VAL_BUDGETS]}",
        "tolerance": TOLERANCE,
        "chosen": min(ok) if ok else None,
        "table": table,
    }


def assemble(args, per_caption: list[dict], captions: list[str], seconds: float) -> dict:
    agg = aggregate(per_caption)
    res = {
        "benchmark": "rate_distortion",
        "command": "python benchmarks/rate_distortion.py " + " ".join(args.argv),
        "backend": "toy",
        "n_captions": len(captions),
        "split": args.split,
        "seed": args.seed,
        "threads": 1,
        "machine": platform.machine(),
        "torch": torch.__version__,
        "seconds": round(seconds, 1),
        "packet_version": VERSION,
        "default_quality": DEFAULT_QUALITY,
        "partial": PARTIAL,
    }
    if args.split == "val":
        res["selection"] = select_quality(agg)
        res["methods"] = agg
        res["per_caption"] = columns(per_caption, captions)
        return res
    curves = {}
    for scheme in SCHEMES:
        budgets = BUDGETS if scheme == DEFAULT else BUDGETS_OTHER
        for coding, codec, q in (("lossy", "webp", DEFAULT_QUALITY), ("lossless", "zlib", None)):
            curves[f"gsemcom {coding} {scheme}"] = curve(
                agg, [packet_key(scheme, b, codec, q) for b in budgets], [budget_name(b) for b in budgets]
            )
    qs = sorted({*PACKET_QUALITIES, DEFAULT_QUALITY})
    curves["gsemcom lossy, quality sweep"] = curve(
        agg, [packet_key(DEFAULT, None, "webp", q) for q in qs], qs
    )
    for fmt in ("jpeg", "webp", "vp8_444"):
        curves[fmt] = curve(agg, [f"{fmt}/{q}" for q in IMAGE_QUALITIES], list(IMAGE_QUALITIES))
    curves["png"] = curve(agg, ["png"], ["png"])
    curves["prompt only"] = curve(agg, ["prompt_only"], ["prompt"])
    cross = {
        f"{name} vs {other} {m}": crossings(curves[f"gsemcom {name} {DEFAULT}"], curves[other], m)
        for name in ("lossy", "lossless")
        for other in ("webp", "jpeg", "vp8_444")
        for m in ("jpsq", "distance", "quality")
    }
    lossy, lossless = (
        agg[packet_key(DEFAULT, None, c, q)] for c, q in (("webp", DEFAULT_QUALITY), ("zlib", None))
    )
    jpeg75 = agg["jpeg/75"]
    per_lossy = [r[packet_key(DEFAULT, None, "webp", DEFAULT_QUALITY)]["bytes"] for r in per_caption]
    per_jpeg = [r["jpeg/75"]["bytes"] for r in per_caption]
    checks = {
        "bytes_lossy": lossy["bytes"]["mean"],
        "bytes_lossless": lossless["bytes"]["mean"],
        "bytes_ratio": lossy["bytes"]["mean"] / lossless["bytes"]["mean"],
        "jpsq_lossy": lossy["jpsq"]["mean"],
        "jpsq_lossless": lossless["jpsq"]["mean"],
        "jpsq_difference": lossy["jpsq_minus_lossless"]["mean"],
        "jpsq_difference_sem": lossy["jpsq_minus_lossless"]["sem"],
        "bytes_jpeg75": jpeg75["bytes"]["mean"],
        "bytes_webp75": agg["webp/75"]["bytes"]["mean"],
        "fraction_smaller_than_jpeg75": float(np.mean(np.array(per_lossy) < np.array(per_jpeg))),
        "pixels": lossy["pixels"]["mean"],
        # total bits over total sent pixels, at the default operating point
        "bits_per_sent_pixel_lossy": 8 * lossy["bytes"]["mean"] / lossy["pixels"]["mean"],
        "bits_per_sent_pixel_lossless": 8 * lossless["bytes"]["mean"] / lossless["pixels"]["mean"],
        "sections_lossy": {
            k: float(np.mean([r[packet_key(DEFAULT, None, "webp", DEFAULT_QUALITY)]["sections"][k]
                              for r in per_caption]))
            for k in ("header", "prompt", "box", "mask", "pixels", "crc")
        },
    }
    checks["met"] = bool(
        checks["bytes_ratio"] <= 1 / 3
        and abs(checks["jpsq_difference"]) <= 0.02
        and checks["bytes_lossy"] < checks["bytes_jpeg75"]
    )
    val_file = RESULTS / "rate_distortion_val.json"
    selection = None
    if val_file.is_file():
        val = json.loads(val_file.read_text())
        selection = ({k: val[k] for k in ("command", "n_captions", "split", "seed")}
                     | {"partial": val.get("partial", "raster")} | val["selection"])
    if selection is not None and val.get("partial", "raster") != PARTIAL:
        raise RuntimeError(f"the validation run packed with partial={val.get('partial', 'raster')!r}, "
                           f"this run with {PARTIAL!r}: rerun --split val")
    if selection is not None and selection["chosen"] != DEFAULT_QUALITY:
        raise RuntimeError(
            f"validation chose quality {selection['chosen']}, DEFAULT_QUALITY is {DEFAULT_QUALITY}"
        )
    res.update(
        {
            "quality_selection": selection,
            "grid": {
                "schemes": SCHEMES,
                "budgets": [budget_name(b) for b in BUDGETS],
                "budgets_other_schemes": [budget_name(b) for b in BUDGETS_OTHER],
                "packet_qualities": qs,
                "image_qualities": list(IMAGE_QUALITIES),
            },
            "checks": checks,
            "curves": curves,
            "crossovers": cross,
            "rate_model": {c: rate_model(per_caption, c) for c in ("webp", "zlib")},
            "natural_512": natural_images(DEFAULT_QUALITY),
            "methods": agg,
            "per_caption": columns(per_caption, captions),
        }
    )
    return res


def figure(res: dict, path: Path) -> None:
    """J, D and Q against mean bytes on the wire for every curve (log bytes); saved next to the JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {
        f"gsemcom lossy {DEFAULT}": ("C0", "o-"),
        f"gsemcom lossless {DEFAULT}": ("C0", "o--"),
        "gsemcom lossy, quality sweep": ("C2", "^:"),
        "webp": ("C1", "s-"),
        "jpeg": ("C3", "d-"),
        "vp8_444": ("C5", "v-"),
        "png": ("k", "*"),
        "prompt only": ("C4", "P"),
    }
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, metric, label in zip(
        axes,
        ("jpsq", "distance", "quality"),
        ("JPSQ J (Eq. 17)", "distance D (Eq. 15)", "quality Q (Eq. 16)"),
    ):
        for name, (color, style) in styles.items():
            c = res["curves"][name]
            ax.plot(c["bytes"], c[metric], style, color=color, ms=4, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("bytes on the wire (mean)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"rate-distortion on {res['n_captions']} {res['split']} captions (toy backend, 64 x 64)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=None, help="captions (default 200 test, 100 val)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "gsemlab-rate-distortion"))
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    n = args.n if args.n is not None else (200 if args.split == "test" else 100)
    out = Path(
        args.out or RESULTS / ("rate_distortion.json" if args.split == "test" else "rate_distortion_val.json")
    )
    torch.set_num_threads(1)
    backend = load_backend("toy", device="cpu")
    base = GSemCom(backend)
    gs = {name: base.with_options(xi=xi) for name, xi in SCHEMES.items()}
    captions = [s.caption for s in sample_scenes(n, args.seed, split=args.split)]
    tag = f"-q{DEFAULT_QUALITY}" if args.split == "test" else ""
    # the rows depend on the partial rule too (the budgeted packets): a cache per rule
    cache = Path(args.cache) / f"{args.split}-seed{args.seed}{tag}-v{VERSION}-{PARTIAL}"
    cache.mkdir(parents=True, exist_ok=True)
    load_nlp()
    per_caption, t0, spent = [], time.perf_counter(), 0.0
    for k, caption in enumerate(captions):
        f = cache / f"{k:04d}.json"
        if f.is_file():
            row = json.loads(f.read_text())
        else:
            t = time.perf_counter()
            row = {
                "caption": caption,
                "seconds": 0.0,
                "rows": caption_rows(gs, caption, args.seed + k, args.split, check=k == 0),
            }
            row["seconds"] = time.perf_counter() - t
            f.write_text(json.dumps(row))
        assert row["caption"] == caption, (f, caption)
        spent += row["seconds"]
        per_caption.append(row["rows"])
        if (k + 1) % 10 == 0 or k + 1 == n:
            print(f"{k + 1}/{n} captions, {time.perf_counter() - t0:.0f} s", flush=True)
    res = assemble(args, per_caption, captions, spent)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(res), encoding="utf-8")
    if args.split == "test":
        figure(res, out.with_suffix(".png"))
        from summaries import write_for  # benchmarks/summaries.py: what chapter 7 shows, as package data

        write_for(out)
        print(json.dumps(res["checks"], indent=1))
        print(json.dumps(res["crossovers"], indent=1))
    else:
        sel = res["selection"]
        print(
            json.dumps(
                {q: (round(r["worst_drop"], 4), r["bytes_over_lossless"]) for q, r in sel["table"].items()},
                indent=1,
            )
        )
        print("chosen quality:", sel["chosen"])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
