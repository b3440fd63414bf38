"""The data bundled with gsemlab: trained weights, calibrations, and the results the chapters show.

Everything here ships inside the installed package (wheel or editable), so a chapter or an assignment
finds it without the repository. Stdlib only; imports nothing of gsemlab.

* :data:`DATA_DIR`: this folder. :data:`TOY_SD_PATH`: the toy ``StableDiffusionPipeline`` folder.
* :data:`RESULTS_DIR`: summaries of the benchmark results that chapters show (the aggregate fields,
  extracted by ``benchmarks/summaries.py`` from the full files in the repository's
  ``benchmarks/results/``); :func:`load_result` reads one, :func:`result_names` lists them.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["DATA_DIR", "RESULTS_DIR", "TOY_SD_PATH", "load_result", "result_names"]

#: Folder of the bundled data (inside the installed package).
DATA_DIR = Path(__file__).resolve().parent
#: The toy text-to-image pipeline, a diffusers ``StableDiffusionPipeline`` folder.
TOY_SD_PATH = DATA_DIR / "toy-sd"
#: Summaries of the benchmark results that chapters show.
RESULTS_DIR = DATA_DIR / "results"


def result_names() -> list[str]:
    """Names of the bundled results (file stems in :data:`RESULTS_DIR`), sorted."""
    return sorted(p.stem for p in RESULTS_DIR.glob("*.json"))


def load_result(name: str) -> dict:
    """A bundled benchmark result, as written by its script in ``benchmarks/``.

    Parameters
    ----------
    name : str
        File stem in :data:`RESULTS_DIR`, e.g. ``"gsemcom"`` (see :func:`result_names`).

    Returns
    -------
    dict
        The parsed JSON summary.

    Raises
    ------
    TypeError
        ``name`` is not a str.
    ValueError
        No bundled result has that name (the message lists those that exist).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    names = result_names()
    if name not in names:  # also keeps "../x" from reading files outside RESULTS_DIR
        raise ValueError(f"no bundled result named {name!r}; have {names}")
    return json.loads((RESULTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
