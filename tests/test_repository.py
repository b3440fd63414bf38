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


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"\n{title}\n", 1)[1].split("\n#", 1)[0]


def test_readme_quick_start_uses_public_names_only():
    # it runs for real in .ci/wheel_notebooks.sh, from the installed wheel outside the repository
    import ast
    import importlib

    section = _readme_section("### Quick start: one prompt end to end")
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 15
    tree = ast.parse(code)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert imports
    for node in imports:
        module = importlib.import_module(node.module)
        for alias in node.names:
            assert alias.name in module.__all__, f"{node.module}.{alias.name} is not public"
    assert 'load_backend("toy")' in code and "max_payload_bits" in code and "budget=budget" in code


def test_readme_public_names_exist():
    import importlib

    rows = re.findall(r"^\| `(gsemlab[\w.]*)` \| (.+) \|$", _readme_section("### Public names"), re.MULTILINE)
    assert len(rows) >= 10
    for module_name, names in rows:
        module = importlib.import_module(module_name)
        for name in re.findall(r"`(\w+)`", names):
            assert name in module.__all__, f"README lists {module_name}.{name}, which is not in its __all__"


def test_readme_installs_from_the_repository_url():
    url = "https://github.com/gsem-course/gsem-course"
    text = (ROOT / "README.md").read_text()
    assert f'pip install "gsemlab @ git+{url}"' in text and f'pip install "gsemlab[hub] @ git+{url}"' in text
    # the package is on no index: a bare `pip install "gsemlab[hub]"` cannot work
    assert not re.search(r'"gsemlab(\[\w+\])?"|pip install gsemlab\b', text)
    assert "DESIGN.md" not in text  # not shipped


def test_license_py_typed_and_psutil():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "The gsem-course authors" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "gsemlab" / "py.typed").is_file()
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("psutil") for d in meta["dependencies"])  # the memory sampler's fallback
    assert "psutil" in _pins((ROOT / "constraints.txt").read_text().splitlines())
