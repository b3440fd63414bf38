#!/usr/bin/env bash
# Acceptance test of the self-contained package: what a reader on Colab gets.
#   1. build a wheel of gsemlab from the files git would ship (not from the work tree's leftovers);
#   2. install it with the pinned constraints into a fresh venv OUTSIDE the repository (torch CPU,
#      daam --no-deps, and the kernel/executor packages a notebook runner needs);
#   3. run the README's quick start there, then execute every book/NN_*.ipynb twin top to bottom with
#      nbclient, each in a fresh kernel whose working directory is a temporary folder outside the repository.
# Fails when the build, an install, or any cell fails. Usage: bash .ci/wheel_notebooks.sh [NOTEBOOK ...]
# WHEEL_NB_DIR (default: a new temporary folder) holds the wheel and the venv; it is removed at the end
# unless WHEEL_NB_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
WORK=${WHEEL_NB_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/gsem-wheel-nb.XXXXXX")}
case "$WORK/" in "$ROOT"/*) echo "wheel_notebooks: $WORK is inside the repository" >&2; exit 1 ;; esac
mkdir -p "$WORK"
[ "${WHEEL_NB_KEEP:-0}" = "1" ] || trap 'rm -rf "$WORK"' EXIT
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 PYTHONHASHSEED=0
unset MPLBACKEND PYTHONPATH  # kernels pick their inline backend; nothing points into the repository
t0=$(date +%s)
stamp() { echo "wheel_notebooks: $1 ($(( $(date +%s) - t0 )) s)"; }

# 1. the wheel, from the tracked and untracked-but-not-ignored files of the package
rm -rf "$WORK/src" "$WORK/dist" && mkdir -p "$WORK/src" "$WORK/dist"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard -- pyproject.toml README.md LICENSE gsemlab \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | xargs -0 cp --parents -t "$WORK/src"
else
    cp -r pyproject.toml README.md LICENSE gsemlab "$WORK/src"
fi
"$PYTHON" -m pip wheel --quiet --no-deps "$WORK/src" -w "$WORK/dist"
WHEEL=$(ls "$WORK"/dist/gsemlab-*.whl)
stamp "built $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) kB)"

# 2. a fresh venv outside the repository
"$PYTHON" -m venv "$WORK/venv"
V="$WORK/venv/bin"
PIP=("$V/python" -m pip install --quiet -c "$ROOT/constraints.txt")
"$V/python" -m pip uninstall --quiet --yes gsemlab >/dev/null 2>&1 || true  # a kept venv: the new wheel
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" "$WHEEL" ipykernel nbclient nbformat
"${PIP[@]}" --no-deps daam==0.2.0
stamp "installed the wheel into $WORK/venv"
(cd "$WORK" && "$V/python" - <<'EOF'
import sys
from pathlib import Path

import gsemlab
from gsemlab.data import load_result, result_names

where = Path(gsemlab.__file__).resolve()
assert Path(sys.prefix).resolve() in where.parents, f"gsemlab imported from {where}, not the fresh venv"
assert (where.parent / "py.typed").is_file(), "py.typed is not in the wheel"
assert result_names() and all(load_result(n) for n in result_names()), "no bundled results in the wheel"
print(f"wheel_notebooks: gsemlab {gsemlab.__version__} from {where.parent}; results {result_names()}")
EOF
)

# the README's quick start, as a reader outside a checkout runs it
"$V/python" - "$ROOT/README.md" > "$WORK/quick_start.py" <<'PY'
import sys

text = open(sys.argv[1], encoding="utf-8").read()
print(text.split("### Quick start", 1)[1].split("```python\n", 1)[1].split("```", 1)[0])
PY
(cd "$WORK" && "$V/python" quick_start.py)
stamp "ran the README's quick start"

# the console script, from the fresh install, outside a checkout
(cd "$WORK" && GSEMLAB_CACHE="$WORK/cache" "$V/gsemlab" transmit "a red circle above a blue square" \
    --budget 2048 --out "$WORK/transmit")
for f in source.png packet.bin recovered.png summary.json; do test -s "$WORK/transmit/$f"; done
stamp "ran gsemlab transmit from the installed console script"

# 3. every notebook twin, each in a fresh kernel started from a temporary folder
if [ "$#" -gt 0 ]; then notebooks=("$@"); else notebooks=("$ROOT"/book/[0-9][0-9]_*.ipynb); fi
for i in "${!notebooks[@]}"; do notebooks[$i]=$(realpath "${notebooks[$i]}"); done
rc=0
(cd "$WORK" && PATH="$V:$PATH" "$V/python" "$ROOT/.ci/execute_notebooks.py" --repo "$ROOT" "${notebooks[@]}") || rc=$?
stamp "executed ${#notebooks[@]} notebook(s), exit $rc"
exit "$rc"
