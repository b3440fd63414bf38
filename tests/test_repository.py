"""The set-up files agree with each other: one pinned set, two README commands, extras as designed."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for raw in lines:
        line = raw.strip().lstrip("- ").strip()
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_environment_yml_mirrors_constraints():
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    env = _pins((ROOT / "environment.yml").read_text().splitlines())
    assert len(env) >= 20
    mismatched = {k: (v, constraints.get(k)) for k, v in env.items() if constraints.get(k) != v}
    assert not mismatched, f"environment.yml pins differ from constraints.txt: {mismatched}"


def test_constraints_pin_torch_cpu_and_book_major():
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    assert constraints["torch"] == "2.13.0"
    assert constraints["jupyter-book"].startswith("1."), "Jupyter Book 2.x needs the network at build time"
    assert constraints["daam"] == "0.2.0"
    assert "torchvision" not in constraints, "the registry's torchvision breaks beside the CPU torch wheel"


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```")[1]
    commands = [ln.split("#")[0].strip() for ln in first_block.splitlines()[1:] if ln.strip()]
    assert commands == ["make book", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^book: setup", makefile, re.MULTILINE) and re.search(r"^test: setup", makefile, re.MULTILINE)


def test_pyproject_extras():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    assert set(extras) >= {"book", "dev", "hub"}
    assert any(d.startswith("jupyter-book>=1.0.4,<2") for d in extras["book"])
    # everything that needs torchvision stays in [hub]
    for name in ("dreamsim", "pyiqa", "timm", "torchvision"):
        assert not any(d.startswith(name) for d in meta["dependencies"] + extras["book"] + extras["dev"])
