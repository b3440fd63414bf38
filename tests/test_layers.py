"""The layers of gsemlab (stated in the package docstring) hold: read from the imports of every module.

The checker reads each module's source with ``ast`` (nothing is imported), collects every import, at
module level and inside functions, and fails on:

* an import of a higher layer, or any gsemlab import from the lowest layer (config, checks, data,
  profiling import nothing of gsemlab);
* a third-party package a layer may not use (no torch below the model layer);
* one chapter system (rl, control, channel_diffusion, align) importing another;
* any package module importing ``gsemlab.training``, ``gsemlab.viz*`` / ``widgets`` (except the drawing
  modules themselves), a chapter, ``benchmarks`` or ``tests``;
* ``from module import _private`` or ``module._private`` across modules;
* an import cycle between modules;
* a module missing from the layer map (a new module must be given a layer).

The last tests feed the checker sources with forbidden imports, so that it is shown to fail.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gsemlab"

# module-name prefix -> layer; the longest matching prefix wins
LAYERS = {
    "gsemlab": 0,  # the package's face: __init__ imports nothing
    "gsemlab.config": 1, "gsemlab.checks": 1, "gsemlab.data": 1, "gsemlab.profiling": 1, "gsemlab.progress": 1,
    "gsemlab.prompt": 2, "gsemlab.segment": 2, "gsemlab.packing": 2, "gsemlab.jpsq": 2, "gsemlab.channel": 2,
    "gsemlab.channel.fading": 3,  # torch channels (the learned codecs train through them)
    "gsemlab.diffusion": 3, "gsemlab.attention": 3, "gsemlab.guidance": 3, "gsemlab.models": 3,
    "gsemlab.toyworld": 3, "gsemlab.testing": 3,
    "gsemlab.gsemcom": 4, "gsemlab.calibration": 4,
    "gsemlab.rl": 5, "gsemlab.control": 5, "gsemlab.channel_diffusion": 5, "gsemlab.align": 5,
    "gsemlab.viz": 6, "gsemlab.widgets": 6,
    "gsemlab.training": 7,
    "gsemlab.cli": 8,  # the `gsemlab` command: above everything, training included; nothing imports it
}
CHAPTER_SYSTEMS = ("gsemlab.rl", "gsemlab.control", "gsemlab.channel_diffusion", "gsemlab.align")
DRAWING = ("gsemlab.viz", "gsemlab.widgets")
# third-party top-level packages each layer may use (a layer may use those of the layers below it)
THIRD_PARTY = {
    1: {"numpy", "torch", "psutil", "tqdm"},  # profiling: torch (CUDA timing), psutil when asked; progress: tqdm
    2: {"numpy", "scipy", "sklearn", "skimage", "spacy", "PIL"},
    3: {"torch", "diffusers", "transformers", "safetensors", "huggingface_hub", "accelerate", "PIL",
        "dreamsim", "pyiqa"},
    4: set(),
    5: {"gymnasium", "stable_baselines3", "peft", "sionna"},
    6: {"matplotlib", "ipywidgets", "IPython", "myst_nb"},  # myst_nb: optional, viz.notebook.glue
    7: {"torch", "diffusers", "transformers"},
    8: set(),
}
TORCH_FREE = (1, 2)  # except profiling's lazy CUDA import, checked below


def module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str, layers: dict = LAYERS) -> int | None:
    best = None
    for prefix, layer in layers.items():
        if module == prefix or prefix != "gsemlab" and module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return None if best is None else best[1]


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = (module if is_package else module.rpartition(".")[0]).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(source: str, module: str, is_package: bool) -> list[tuple[str, list[str], int]]:
    """Every import of a module: (absolute target module, imported names, line)."""
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, is_package)
            names = [a.name for a in node.names]
            if node.module is None or node.level and not node.module:
                # `from . import x`: each name may be a submodule
                out += [(f"{target}.{n}", [], node.lineno) for n in names]
            else:
                out.append((target, names, node.lineno))
    return out


def private_attributes(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """``alias._name`` where ``alias`` is an imported gsemlab module (``from . import jpsq as _jpsq``...)."""
    tree = ast.parse(source)
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("gsemlab"):
                    aliases[a.asname or a.name.split(".")[0]] = a.name
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("gsemlab")):
            for a in node.names:  # the name may be a submodule: `from .. import jpsq as _jpsq`
                aliases[a.asname or a.name] = f"{_absolute(node, module, is_package)}.{a.name}"
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            out.append((f"{aliases[node.value.id]}.{node.attr}", node.lineno))
    return out


def violations(sources: dict[str, tuple[str, bool]], layers: dict = LAYERS) -> list[str]:
    """Every broken rule in ``{module: (source, is_package)}``; an empty list when the layers hold."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    problems, graph = [], {m: set() for m in sources}
    for module, (source, is_package) in sources.items():
        layer = layer_of(module, layers)
        if layer is None:
            problems.append(f"{module}: not in the layer map of tests/test_layers.py; give it a layer")
            continue
        allowed = set().union(*(THIRD_PARTY[k] for k in THIRD_PARTY if k <= layer)) if layer else set()
        if layer in TORCH_FREE and module != "gsemlab.profiling":
            allowed -= {"torch", "psutil"}
        for target, names, line in imports(source, module, is_package):
            top = target.split(".")[0]
            where = f"{module}:{line}"
            if top in ("benchmarks", "book", "tests"):
                problems.append(f"{where} imports {target}: the package never imports {top}")
                continue
            if top != "gsemlab":
                if top not in stdlib and top not in allowed:
                    problems.append(f"{where} imports {top}, which layer {layer} may not use")
                continue
            inner = [m for m in sources if target == m or target.startswith(m + ".")]
            target_module = max(inner, key=len) if inner else target
            for name in names:  # `from gsemlab.x import y` may import the submodule y
                if f"{target}.{name}" in sources:
                    target_module = f"{target}.{name}"
                elif name.startswith("_") and not name.startswith("__"):
                    problems.append(f"{where} imports the private name {name} of {target}")
            if target_module == module or module.startswith(target_module + ".") and target_module == "gsemlab":
                continue
            graph[module].add(target_module)
            tlayer = layer_of(target_module, layers)
            if layer == 1 or layer == 0:
                problems.append(f"{where} imports {target_module}: layer {layer} imports nothing of gsemlab")
            elif target_module == "gsemlab.cli":
                problems.append(f"{where} imports {target_module}: the command line is imported by nothing")
            elif (target_module.startswith("gsemlab.training") and not module.startswith("gsemlab.training")
                  and module != "gsemlab.cli"):
                problems.append(f"{where} imports {target_module}: nothing in the package imports training")
            elif target_module.startswith(DRAWING) and not module.startswith(DRAWING + ("gsemlab.training",)):
                problems.append(f"{where} imports {target_module}: viz and widgets only draw; nothing imports them")
            elif tlayer is not None and tlayer > layer:
                problems.append(f"{where} imports {target_module} (layer {tlayer}) from layer {layer}")
            a = next((s for s in CHAPTER_SYSTEMS if module.startswith(s)), None)
            b = next((s for s in CHAPTER_SYSTEMS if target_module.startswith(s)), None)
            if a and b and a != b:
                problems.append(f"{where} imports {target_module}: chapter systems never import each other")
        for name, line in private_attributes(source, module, is_package):
            if not name.startswith(module + "."):
                problems.append(f"{module}:{line} uses the private name {name}")
    problems += [f"import cycle: {' -> '.join(c)}" for c in _cycles(graph)]
    return problems


def _cycles(graph: dict[str, set]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def package_sources() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(encoding="utf-8"), p.name == "__init__.py")
            for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_package_keeps_its_layers():
    problems = violations(package_sources())
    assert not problems, "layer rules broken:\n" + "\n".join(problems)


def test_the_package_docstring_states_the_rules():
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text()))
    for phrase in ("config", "pure", "torch", "gsemcom", "training", "_private"):
        assert phrase.lower() in doc.lower(), f"gsemlab/__init__.py's docstring should state the layer rule about {phrase!r}"


def test_no_module_is_too_long():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 650}
    assert not long, f"modules over ~600 lines (split them by idea): {long}"


# ------------------------------------------------------------------------ the checker can fail
GOOD = {"gsemlab.jpsq": ("from .checks import as_rng\nimport numpy as np\n", False),
        "gsemlab.checks": ("import numpy as np\n", False)}


@pytest.mark.parametrize("module, source, expected", [
    ("gsemlab.jpsq", "import torch\n", "layer 2 may not use"),
    ("gsemlab.prompt", "from .models import load_backend\n", "(layer 3) from layer 2"),
    ("gsemlab.config", "from .checks import check_seed\n", "imports nothing of gsemlab"),
    ("gsemlab.models", "from .gsemcom import GSemCom\n", "(layer 4) from layer 3"),
    ("gsemlab.gsemcom.encoder", "from ..training import fit\n", "nothing in the package imports training"),
    ("gsemlab.gsemcom.encoder", "from ..attention import _bytes\n", "private name _bytes"),
    ("gsemlab.gsemcom.encoder", "from .. import jpsq as j\nx = j._DEFAULTS\n", "private name gsemlab.jpsq._DEFAULTS"),
    ("gsemlab.rl.env", "from gsemlab.align import codec\n", "chapter systems never import each other"),
    ("gsemlab.models", "import benchmarks.gsemcom\n", "never imports benchmarks"),
    ("gsemlab.gsemcom.system", "from ..viz import plot_curves\n", "only draw"),
    ("gsemlab.newthing", "import numpy\n", "not in the layer map"),
    ("gsemlab.gsemcom.system", "from .. import cli\n", "imported by nothing"),
])
def test_the_checker_catches_a_forbidden_import(module, source, expected):
    sources = {**GOOD, "gsemlab.jpsq": GOOD["gsemlab.jpsq"], module: (source, False)}
    for extra in ("gsemlab.attention", "gsemlab.training", "gsemlab.align", "gsemlab.align.codec",
                  "gsemlab.viz", "gsemlab.gsemcom", "gsemlab.models", "gsemlab.checks", "gsemlab.cli"):
        sources.setdefault(extra, ("", extra in ("gsemlab.training", "gsemlab.align", "gsemlab.gsemcom")))
    problems = violations(sources)
    assert any(expected in p for p in problems), problems


def test_the_checker_catches_a_cycle():
    sources = {"gsemlab.toyworld.a": ("from . import b\n", False), "gsemlab.toyworld.b": ("from .a import x\n", False)}
    assert any("import cycle" in p for p in violations(sources))
    assert violations(GOOD) == []
