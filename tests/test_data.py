"""The results the chapters show ship inside the package, equal to what the benchmarks recorded.

``gsemlab/data/results/<name>.json`` is a summary of ``benchmarks/results/<file>``, written by
``benchmarks/summaries.py``. The first test recomputes every summary from its full file and compares:
editing a full file (a new benchmark run) without regenerating the summaries fails here.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import jupytext
import pytest
import tomllib

import gsemlab
from gsemlab.data import DATA_DIR, RESULTS_DIR, load_result, result_names

ROOT = Path(__file__).resolve().parents[1]


def _summaries():
    spec = importlib.util.spec_from_file_location("summaries", ROOT / "benchmarks" / "summaries.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


summaries = _summaries()


@pytest.mark.parametrize("name", sorted(summaries.SUMMARIES))
def test_bundled_summary_equals_its_full_file(name):
    assert load_result(name) == summaries.extract(name), (
        f"gsemlab/data/results/{name}.json differs from benchmarks/results/{summaries.SUMMARIES[name][0]}: "
        "run `python benchmarks/summaries.py`"
    )
    # the file is also byte-for-byte what the script writes (regenerating changes nothing)
    assert (RESULTS_DIR / f"{name}.json").read_text(encoding="utf-8") == summaries.dumps(load_result(name))


def test_every_bundled_result_has_a_summary_function():
    assert result_names() == sorted(summaries.SUMMARIES)


def test_summaries_drop_the_per_caption_rows():
    # the reason they exist: the full files are hundreds of kB, the package carries only aggregates
    full = json.loads((summaries.FULL_DIR / "gsemcom.json").read_text())
    assert "per_caption" in full and "per_caption" not in load_result("gsemcom")
    assert load_result("gsemcom")["headline"] == full["headline"]
    for name in result_names():
        assert (RESULTS_DIR / f"{name}.json").stat().st_size < 64_000, name
    lg = load_result("layout_guidance")
    assert set(lg["settings"]) <= set(lg) and "per_caption" not in lg


def test_results_dir_is_inside_the_package():
    assert RESULTS_DIR == Path(gsemlab.__file__).resolve().parent / "data" / "results"
    assert RESULTS_DIR.parent == DATA_DIR


def test_extract_names_the_missing_field():
    with pytest.raises(KeyError, match=r"gsemcom: .*\['headline'\]"):
        summaries.gsemcom({k: 0 for k in ("config", "paper", "checks", "methods", "by_source_background",
                                          "bytes", "semantic_pixels", "timing_s", "peak_memory_mb",
                                          "weights_mb", "sweeps")})
    with pytest.raises(ValueError, match="no summary named 'nope'"):
        summaries.extract("nope")


def test_write_for_only_writes_the_recorded_files(tmp_path):
    # a benchmark run written elsewhere (--out /tmp/x.json) leaves the bundled summaries alone
    assert summaries.write_for(tmp_path / "gsemcom.json") is None
    assert summaries.write_for(summaries.FULL_DIR / "not_bundled.json") is None


@pytest.mark.parametrize("bad", [3, None, Path("gsemcom"), b"gsemcom"])
def test_load_result_rejects_a_name_that_is_not_a_str(bad):
    with pytest.raises(TypeError, match="name must be a str"):
        load_result(bad)


@pytest.mark.parametrize("bad", ["nope", "", "gsemcom.json", "../toy_training", "../data/results/gsemcom"])
def test_load_result_rejects_an_unknown_name_and_lists_the_known(bad):
    with pytest.raises(ValueError, match=r"no bundled result named .*have \[.*'gsemcom'"):
        load_result(bad)


def test_package_data_ships_results_and_py_typed():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = setuptools["package-data"]["gsemlab"]
    assert "data/results/*.json" in data and "py.typed" in data
    assert (ROOT / "gsemlab" / "py.typed").is_file()


CODE_CELLS = [
    (md.stem, i, cell.source)
    for md in sorted((ROOT / "book").glob("[0-9][0-9]_*.md"))
    for i, cell in enumerate(jupytext.read(md).cells)
    if cell.cell_type == "code"
]


@pytest.mark.parametrize("chapter", sorted({c for c, _, _ in CODE_CELLS}))
def test_no_chapter_reads_outside_the_package_or_the_network(chapter):
    # an installed wheel has no benchmarks/ folder and Colab may have no repository: a chapter finds its
    # data through gsemlab.data (the setup cell's pip install is the one network access)
    forbidden = re.compile(r"__file__|parents\[|urlopen|urllib|requests\.get|benchmarks/results"
                           r"|[\"']benchmarks[\"']")
    for name, i, source in CODE_CELLS:
        if name == chapter:
            assert not forbidden.search(source), f"{chapter}, code cell {i}: {forbidden.search(source)[0]!r}"
