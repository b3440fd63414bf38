"""The ``gsemlab`` command: the course's systems from a shell, on the bundled models, offline.

::

    gsemlab transmit "a red circle above a blue square" --budget 2048
    gsemlab train unet --minutes 60   # a stage of python -m gsemlab.training
    gsemlab calibrate --n 200         # t_max (Eq. 18) and the quality floor
    gsemlab curves --n-train 300      # the RL chapter's utility curves
    gsemlab bench control             # benchmarks/control.py, in a checkout

Every sub-command's ``--help`` shows its defaults. Whatever a command writes goes to a folder it is
given or to the cache folder (``$GSEMLAB_CACHE``, else ``~/.cache/gsemlab``), never into the installed
package; progress bars (:mod:`gsemlab.progress`) show only at a terminal.

This module sits above every layer (it is the one package module that may import
:mod:`gsemlab.training`, for ``gsemlab train``), and nothing imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["CACHE_ENV", "build_parser", "cache_root", "find_benchmarks", "main"]

#: The environment variable naming the cache folder (default ``~/.cache/gsemlab``).
CACHE_ENV = "GSEMLAB_CACHE"


def cache_root() -> Path:
    """The folder the commands write to by default: ``$GSEMLAB_CACHE``, else ``~/.cache/gsemlab``.

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gsemlab")


def find_benchmarks(start: str | os.PathLike | None = None) -> Path | None:
    """The ``benchmarks/`` folder of the gsem-course checkout that holds ``start`` (default: the working folder).

    Parameters
    ----------
    start : path, optional
        Where to start looking; the folder and each of its parents is tried.

    Returns
    -------
    pathlib.Path or None
        ``<root>/benchmarks`` for the first folder ``root`` that has it beside a ``gsemlab/`` package
        folder; None outside a checkout (benchmarks ship with the repository, not with the wheel).
    """
    here = Path(start or Path.cwd()).resolve()
    for root in (here, *here.parents):
        if (root / "benchmarks").is_dir() and (root / "gsemlab" / "__init__.py").is_file():
            return root / "benchmarks"
    return None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {value}")
    return value


def _prompt(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the prompt must hold at least one non-space character")
    return text


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gsemlab`` and its sub-commands (``--help`` shows every default).

    Returns
    -------
    argparse.ArgumentParser
    """
    from . import __version__
    from .training.cli import STAGE_CHOICES

    p = argparse.ArgumentParser(prog="gsemlab", description=__doc__.split("\n")[0].replace("``", ""),
                                formatter_class=_Help)
    p.add_argument("--version", action="version", version=f"gsemlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("transmit", formatter_class=_Help,
                       help="send one generated image to one user with G-SemCom (Algorithm 1)",
                       description="Generate the image of PROMPT, send its most important pixels within the "
                                   "budget with the prompt, regenerate the rest at the user, and score it.")
    t.add_argument("prompt", type=_prompt, help="the user's prompt")
    t.add_argument("--budget", type=_positive_int, default=None,
                   help="pixels the link carries (O = 1 per pixel, Table III); default: half the image")
    t.add_argument("--out", default="gsemlab-transmit", help="folder for source.png, packet.bin, recovered.png")
    t.add_argument("--seed", type=int, default=0, help="seed of the MASP's generation")
    t.add_argument("--backend", choices=("toy", "hub"), default="toy",
                   help="toy: the bundled ShapesWorld models; hub: Stable Diffusion (downloaded weights)")
    t.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")

    tr = sub.add_parser("train", formatter_class=_Help, help="run a training stage (python -m gsemlab.training)",
                        description="Train a stage of the bundled models, resumably: checkpoints go to "
                                    "--cache-dir, exported weights to --out (both outside the package).")
    tr.add_argument("stage", choices=STAGE_CHOICES, metavar="STAGE", help="one of: " + ", ".join(STAGE_CHOICES))
    tr.add_argument("--cache-dir", default=None, help="checkpoints (default: $GSEMLAB_CACHE/train)")
    tr.add_argument("--out", default=None, help="where export stages write weights (default: <cache-dir>/export)")
    tr.add_argument("--steps", type=_positive_int, default=None, help="step budget (default: the stage's)")
    tr.add_argument("--minutes", type=float, default=None, help="wall-time budget (default: the stage's)")
    tr.add_argument("--batch", type=_positive_int, default=None, help="batch size (default: the stage's)")
    tr.add_argument("--threads", type=_positive_int, default=2, help="torch CPU threads")

    c = sub.add_parser("calibrate", formatter_class=_Help, help="calibrate t_max (Eq. 18) and the quality floor",
                       description="Measure t_max of Eq. 18 (mean distance of a generated image to Gaussian noise) "
                                   "and the quality of noise images on a backend, as Sec. VI-A does.")
    c.add_argument("--backend", choices=("toy", "hub"), default="toy")
    c.add_argument("--n", type=_positive_int, default=200, help="generated images and noise images")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    c.add_argument("--output", default=None, help="JSON file of calibrations (default: $GSEMLAB_CACHE/t_max.json)")

    u = sub.add_parser("curves", formatter_class=_Help, help="measure the RL chapter's utility curves",
                       description="Run the pipeline at every prefix size of every prompt "
                                   "(gsemlab.rl.make_curves) and write the curves' JSON file.")
    u.add_argument("--n-train", type=_positive_int, default=300, help="train prompts (ShapesWorld val split)")
    u.add_argument("--n-heldout", type=_positive_int, default=300, help="held-out prompts (test split)")
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--workers", type=_positive_int, default=1, help="processes measuring prompts in parallel")
    u.add_argument("--out", default=None, help="the curves' JSON file (default: $GSEMLAB_CACHE/curves.json)")

    b = sub.add_parser("bench", formatter_class=_Help, help="run a benchmark script of the repository",
                       description="Run benchmarks/NAME.py of the gsem-course checkout that holds the working "
                                   "folder; arguments after NAME go to the script.")
    b.add_argument("name", nargs="?", default=None, help="the benchmark (omit it, or --list, to list them)")
    b.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    b.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    return p


def _transmit(a) -> int:
    from .gsemcom import GSemCom
    from .models import load_backend

    out = Path(a.out)
    backend = load_backend(a.backend, device=a.device)
    system = GSemCom(backend)
    h, w = system.image_shape
    budget = a.budget if a.budget is not None else h * w // 2
    t = system.transmit(a.prompt, budget, seed=a.seed)
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(t.source).save(out / "source.png")
    Image.fromarray(t.recovered).save(out / "recovered.png")
    (out / "packet.bin").write_bytes(t.encoded.data)
    summary = {"prompt": t.prompt, "seed": t.seed, "backend": a.backend, "budget_pixels": budget,
               "pixels_sent": t.pixels_sent, "pixels_full": t.pixels_full, "bytes_sent": t.bytes_sent,
               "distance": t.distance, "quality": t.quality, "jpsq": t.jpsq, "fallback": t.fallback}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"pixels sent {t.pixels_sent} of {t.pixels_full} ({100 * t.bandwidth_saving:.1f}% saved), "
          f"bytes sent {t.bytes_sent}, JPSQ {t.jpsq:.3f} (distance {t.distance:.3f}, quality {t.quality:.3f})")
    print(f"wrote {out / 'source.png'}, {out / 'packet.bin'}, {out / 'recovered.png'}, {out / 'summary.json'}")
    return 0


def _train(a) -> int:
    from .training.cli import main as train_main

    cache = Path(a.cache_dir) if a.cache_dir else cache_root() / "train"
    out = Path(a.out) if a.out else cache / "export"
    out.mkdir(parents=True, exist_ok=True)
    argv = [a.stage, "--cache-dir", str(cache), "--out", str(out), "--threads", str(a.threads)]
    for flag, value in (("--steps", a.steps), ("--minutes", a.minutes), ("--batch", a.batch)):
        if value is not None:
            argv += [flag, str(value)]
    return train_main(argv)


def _calibrate(a) -> int:
    from .calibration import main as calibrate_main

    output = Path(a.output) if a.output else cache_root() / "t_max.json"
    argv = ["--backend", a.backend, "--n", str(a.n), "--seed", str(a.seed), "--output", str(output)]
    if a.device:
        argv += ["--device", a.device]
    rc = calibrate_main(argv)
    print(f"wrote {output}; use it with GSemCom(backend, t_max=...) or load_t_max({a.backend!r}, path)")
    return rc


def _curves(a) -> int:
    from .rl.make_curves import main as curves_main

    out = Path(a.out) if a.out else cache_root() / "curves.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    return curves_main(["--n-train", str(a.n_train), "--n-heldout", str(a.n_heldout), "--seed", str(a.seed),
                        "--workers", str(a.workers), "--out", str(out)])


def _bench(a, parser) -> int:
    folder = find_benchmarks()
    if folder is None:
        parser.error("bench needs a checkout of the gsem-course repository: run it inside one "
                     "(the benchmarks ship with the repository, not with the installed package)")
    names = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    if a.list or a.name is None:
        print("\n".join(names))
        return 0
    if a.name not in names:
        parser.error(f"unknown benchmark {a.name!r}; the benchmarks are: {', '.join(names)}")
    return subprocess.call([sys.executable, str(folder / f"{a.name}.py"), *a.args], cwd=folder.parent)


def main(argv: list[str] | None = None) -> int:
    """Run ``gsemlab`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The command line after the program's name.

    Returns
    -------
    int
        0 on success (argparse exits with 2 on a bad command line).
    """
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.command == "transmit":
        return _transmit(a)
    if a.command == "train":
        return _train(a)
    if a.command == "calibrate":
        return _calibrate(a)
    if a.command == "curves":
        return _curves(a)
    return _bench(a, parser)


if __name__ == "__main__":
    sys.exit(main())
