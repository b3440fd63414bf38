"""The cost of building the book: a cold build (no execution cache), then a warm one, chapter by chapter.

Issue 20, item 3. Runs the build ``make book`` runs (``jupyter-book build . --builder html -W -n
--keep-going``, with the kernels' inline backend) into a separate output folder, twice:

* **cold**: the folder is emptied first, so every chapter executes;
* **warm**: nothing changed, so every chapter comes from the execution cache.

While a build runs, a thread samples every process of the build's tree (Sphinx and each notebook's
kernel) every :data:`SAMPLE_S` seconds with psutil: the peak of their summed resident memory is the
build's peak, the peak of each kernel the chapter's. Each chapter's execution time is the one
jupyter-cache records; a kernel is given to the chapter whose execution interval it overlaps most.
The targets of issue 20: cold at most 15 minutes with at most 6 GB peak, warm at most 2 minutes.

Writes ``benchmarks/results/build.json`` and the table the execution-status page includes,
``book/_generated/build_costs.md``.

    python benchmarks/build.py               # about 8 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timezone
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from summaries import machine_info, save_result

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TABLE = ROOT / "book" / "_generated" / "build_costs.md"
#: seconds between two memory samples
SAMPLE_S = 0.25
#: issue 20's targets
TARGETS = {"cold_minutes": 15.0, "warm_minutes": 2.0, "peak_gb": 6.0}


class Sampler(threading.Thread):
    """Peak summed RSS of a process tree and the peak RSS and lifetime of each kernel in it."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root, self.stop, self.peak = psutil.Process(pid), threading.Event(), 0
        self.kernels: dict[int, dict] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    total += rss
                    if p.pid not in self.kernels and "ipykernel" in " ".join(p.cmdline()):
                        self.kernels[p.pid] = {"start": p.create_time(), "end": time.time(), "peak": 0}
                    if p.pid in self.kernels:
                        k = self.kernels[p.pid]
                        k["end"], k["peak"] = time.time(), max(k["peak"], rss)
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            time.sleep(SAMPLE_S)


def build(out: Path) -> dict:
    """One build into ``out``: wall seconds, peak memory, exit status, the kernels seen."""
    jb = Path(sys.executable).parent / "jupyter-book"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONHASHSEED="0")
    cmd = [str(jb), "build", str(ROOT), "--path-output", str(out), "--builder", "html", "-W", "-n", "--keep-going"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = Sampler(proc.pid)
    sampler.start()
    log = proc.communicate()[0]
    sampler.stop.set()
    sampler.join()
    seconds = time.time() - t0
    if proc.returncode:
        print(log[-4000:])
    return {"seconds": seconds, "peak_mb": sampler.peak / 2**20, "returncode": proc.returncode,
            "kernels": list(sampler.kernels.values())}


def chapters(out: Path, kernels: list[dict]) -> list[dict]:
    """Each executed document's execution seconds (jupyter-cache) and its kernel's peak memory."""
    from jupyter_cache import get_cache

    rows = []
    for r in get_cache(str(out / "_build" / ".jupyter_cache")).list_cache_records():
        created = r.created if r.created.tzinfo else r.created.replace(tzinfo=timezone.utc)  # utcnow()
        end = created.timestamp()
        seconds = float(r.data.get("execution_seconds", 0.0))
        start = end - seconds
        overlap = [(min(end, k["end"]) - max(start, k["start"]), k) for k in kernels]
        best = max(overlap, key=lambda x: x[0], default=(0, None))
        rows.append({"chapter": Path(r.uri).stem, "execution_s": seconds,
                     "peak_mb": best[1]["peak"] / 2**20 if best[1] is not None and best[0] > 0 else None})
    return sorted(rows, key=lambda x: x["chapter"])


def table(result: dict) -> str:
    """The markdown the execution-status page includes."""
    c, w = result["cold"], result["warm"]
    lines = ["| build | wall time | peak memory (all processes) | target |", "|---|---|---|---|",
             f"| cold (no execution cache) | {c['seconds'] / 60:.1f} min | {c['peak_mb'] / 1024:.2f} GB | "
             f"≤ {TARGETS['cold_minutes']:.0f} min, ≤ {TARGETS['peak_gb']:.0f} GB |",
             f"| warm (nothing changed) | {w['seconds'] / 60:.1f} min | {w['peak_mb'] / 1024:.2f} GB | "
             f"≤ {TARGETS['warm_minutes']:.0f} min |", "",
             "| chapter | execution (cold) | kernel peak memory |", "|---|---|---|"]
    for r in result["chapters"]:
        mem = f"{r['peak_mb']:.0f} MB" if r["peak_mb"] is not None else "not sampled"
        lines.append(f"| `{r['chapter']}` | {r['execution_s']:.1f} s | {mem} |")
    m = result["machine"]
    lines += ["", f"Measured by `python benchmarks/build.py` on {m['cpus']} CPU cores "
                  f"({m['platform']}, torch {m['torch']}), {result['date']}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(RESULTS / "build.json"))
    p.add_argument("--build-dir", default=None, help="output folder of the two builds (default: a temporary one)")
    p.add_argument("--table", default=str(TABLE), help="the status page's table ('' to skip)")
    a = p.parse_args(argv)
    where = Path(a.build_dir or tempfile.mkdtemp(prefix="gsem-build-"))
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    subprocess.run(["make", "vendor"], cwd=ROOT, check=True)
    if a.table and not Path(a.table).exists():  # the status page includes it: the first build needs a file
        Path(a.table).parent.mkdir(parents=True, exist_ok=True)
        Path(a.table).write_text("Not measured yet: run `python benchmarks/build.py`.\n", encoding="utf-8")
    t0 = time.time()
    cold = build(where)
    print(f"cold build: {cold['seconds']:.0f} s, peak {cold['peak_mb']:.0f} MB, exit {cold['returncode']}")
    rows = chapters(where, cold.pop("kernels"))
    warm = build(where)
    warm.pop("kernels")
    print(f"warm build: {warm['seconds']:.0f} s, peak {warm['peak_mb']:.0f} MB, exit {warm['returncode']}")
    crit = {"cold_at_most_15_min": cold["seconds"] <= 60 * TARGETS["cold_minutes"],
            "warm_at_most_2_min": warm["seconds"] <= 60 * TARGETS["warm_minutes"],
            "peak_at_most_6_gb": max(cold["peak_mb"], warm["peak_mb"]) <= 1024 * TARGETS["peak_gb"],
            "both_builds_pass": cold["returncode"] == 0 and warm["returncode"] == 0}
    for r in rows:
        print(f"{r['chapter']:28s} {r['execution_s']:7.1f} s  "
              + (f"{r['peak_mb']:6.0f} MB" if r["peak_mb"] is not None else "     -"))
    print("criteria:", crit)
    machine = {**machine_info(1), "cpus": os.cpu_count()}
    result = {"cold": cold, "warm": warm, "chapters": rows, "targets": TARGETS, "criteria": crit,
              "date": time.strftime("%Y-%m-%d"), "seconds": time.time() - t0, "machine": machine}
    save_result(result, a.out)
    if a.table:
        Path(a.table).parent.mkdir(parents=True, exist_ok=True)
        Path(a.table).write_text(table(result), encoding="utf-8")
        print(f"wrote {a.table}")
    if not a.build_dir:
        shutil.rmtree(where, ignore_errors=True)
    return 0 if crit["both_builds_pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
