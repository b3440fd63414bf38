"""The capstone (``book/12_capstone.md``) reads every number of the course from a bundled results file.

The chapter declares, in ``READS``, every results file it reads and every field of each (a path of
keys, ``*`` for every element of a list or every value of a mapping), and reads values only through
``value(name, path)`` / ``columns(name, rows, *fields)``, which refuse what ``READS`` does not
declare. These tests read the chapter's source without running it:

- ``READS`` (parsed with :mod:`ast`) names files that exist in the package data and fields that each
  file has; a missing file or field fails;
- every ``value`` / ``columns`` call of the chapter has literal arguments and reads a declared
  field, and every declared field is read somewhere (no stale declaration);
- the check itself fails on a tampered copy: a field removed, a row without a field, an empty list
  under ``*``, a file that does not exist;
- the chapter's helper cell, run alone, refuses a field that ``READS`` does not declare.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import jupytext
import pytest

from gsemlab.data import DATA_DIR, RESULTS_DIR

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "12_capstone.md"


def code_cells(path: Path = CHAPTER) -> list[str]:
    """The chapter's code cells, IPython magics (``%pip``) blanked so that :mod:`ast` reads them."""
    cells = [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]
    return [re.sub(r"^(\s*)%.*$", r"\1pass", src, flags=re.MULTILINE) for src in cells]


def declared_reads(cells: list[str]) -> tuple[dict, str]:
    """``READS`` of the chapter (a literal dict) and the source of the cell that defines it."""
    for src in cells:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "READS" for t in node.targets):
                return ast.literal_eval(node.value), src
    raise AssertionError("the chapter defines no READS")


def read_calls(cells: list[str]) -> list[tuple[str, str]]:
    """``(name, path)`` of every ``value(...)`` and ``columns(...)`` call in the chapter's code."""
    calls = []
    for src in cells:
        for node in ast.walk(ast.parse(src)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("value", "columns")):
                continue
            args = node.args
            if not args or not all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                   for a in args):
                # the helper's own calls, inside its definitions, pass variables on
                calls.append(("<non-literal>", ast.unparse(node)))
                continue
            name = args[0].value
            if node.func.id == "value":
                calls.append((name, args[1].value))
            else:
                rows = args[1].value
                calls += [(name, f"{rows}/*/{a.value}") for a in args[2:]]
    return calls


def load_file(name: str, results_dir: Path = RESULTS_DIR, data_dir: Path = DATA_DIR):
    """A results file as the chapter names it: a stem of ``results/``, or a path under the data."""
    path = data_dir / f"{name}.json" if "/" in name else results_dir / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no file {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def _resolve(node, keys: list[str], where: str) -> list[str]:
    """Problems met while following ``keys`` from ``node`` (empty when the field is there)."""
    if not keys:
        return []
    key, rest = keys[0], keys[1:]
    if key == "*":
        if isinstance(node, list) and node:
            items = [(f"[{i}]", x) for i, x in enumerate(node)]
        elif isinstance(node, dict) and node:
            items = [(f"[{k!r}]", x) for k, x in node.items()]
        else:
            return [f"{where}: '*' needs a non-empty list or mapping"]
        return [p for label, x in items for p in _resolve(x, rest, where + label)]
    if not isinstance(node, dict) or key not in node:
        return [f"{where}: no field {key!r}"]
    return _resolve(node[key], rest, f"{where}/{key}")


def missing(reads: dict, load=load_file) -> list[str]:
    """Every declared file that cannot be loaded and every declared field that is absent."""
    problems = []
    for name, paths in reads.items():
        try:
            data = load(name)
        except (FileNotFoundError, ValueError) as err:
            problems.append(f"{name}: {err}")
            continue
        for path in paths:
            problems += _resolve(data, path.split("/"), f"{name}:")
    return problems


CELLS = code_cells()
READS, HELPER = declared_reads(CELLS)


def test_the_chapter_declares_what_it_reads():
    assert READS, "READS is empty"
    for name, paths in READS.items():
        assert isinstance(name, str) and paths, name
        assert all(isinstance(p, str) and p for p in paths), name
        assert len(set(paths)) == len(paths), f"{name}: a field declared twice"


def test_every_results_file_exists_and_has_every_field():
    problems = missing(READS)
    assert not problems, "the capstone reads fields that are not there:\n" + "\n".join(problems)


def test_the_files_are_package_data():
    # results/ stems, or package data under gsemlab/data (nothing of the repository outside it)
    for name in READS:
        path = (DATA_DIR / f"{name}.json" if "/" in name else RESULTS_DIR / f"{name}.json").resolve()
        assert path.is_relative_to(DATA_DIR.resolve()), name


def test_every_read_is_declared_and_every_declaration_read():
    # outside the helper's own cell, every read names its file and field literally
    calls = [c for src in CELLS if src is not HELPER for c in read_calls([src])]
    dynamic = [c[1] for c in calls if c[0] == "<non-literal>"]
    assert not dynamic, f"reads whose file or field is not a literal: {dynamic}"
    undeclared = sorted({c for c in calls if c[1] not in READS.get(c[0], ())})
    assert not undeclared, f"read but not declared in READS: {undeclared}"
    declared = {(n, p) for n, paths in READS.items() for p in paths}
    unused = sorted(declared - set(calls))
    assert not unused, f"declared in READS but never read: {unused}"


def test_results_are_read_only_through_the_helper():
    code = "\n".join(CELLS)
    assert code.count("load_result(") == 1, "load_result outside the helper"
    assert code.count("json.loads(") == 1 and "open(" not in code


def test_the_check_fails_on_a_removed_field():
    name = next(n for n in READS if "/" not in n)
    path = next(p for p in READS[name] if "*" not in p)
    data = copy.deepcopy(load_file(name))
    *parents, leaf = path.split("/")
    node = data
    for key in parents:
        node = node[key]
    del node[leaf]
    problems = missing({name: [path]}, load=lambda n: data)
    assert problems and leaf in problems[0]


def test_the_check_fails_on_a_row_without_a_field():
    name, path = next((n, p) for n, paths in READS.items() for p in paths if "/*/" in p)
    data = copy.deepcopy(load_file(name))
    head, leaf = path.split("/*/", 1)
    rows = data
    for key in head.split("/"):
        rows = rows[key]
    items = rows if isinstance(rows, list) else list(rows.values())
    victim = items[-1]
    for key in leaf.split("/")[:-1]:
        victim = victim[key]
    del victim[leaf.split("/")[-1]]
    assert missing({name: [path]}, load=lambda n: data)
    assert not missing({name: [path]})  # the real file still has it


def test_the_check_fails_on_an_empty_list_and_a_missing_file(tmp_path):
    assert missing({"x": ["rows/*/a"]}, load=lambda n: {"rows": []})
    assert missing({"x": ["rows/*/a"]}, load=lambda n: {"rows": [{"a": 1}]}) == []
    assert missing({"no_such_result": ["a"]})
    # the package's results with one of the chapter's files taken away
    name = next(n for n in READS if "/" not in n)
    for f in RESULTS_DIR.glob("*.json"):
        if f.stem != name:
            (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    problems = missing(READS, load=lambda n: load_file(n, results_dir=tmp_path))
    assert any(p.startswith(f"{name}:") for p in problems)


def test_the_helper_refuses_an_undeclared_field():
    namespace: dict = {}
    exec(compile(HELPER, str(CHAPTER) + " (the READS cell)", "exec"), namespace)
    value = namespace["value"]
    name, path = next((n, p) for n, paths in READS.items() for p in paths if "*" not in p)
    value(name, path)  # a declared field reads
    with pytest.raises(KeyError, match="not declared"):
        value(name, "an/undeclared/field")
    with pytest.raises(KeyError, match="not declared"):
        value("no_such_result", path)
