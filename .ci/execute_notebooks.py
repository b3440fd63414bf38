"""Execute notebooks top to bottom, each in a fresh kernel whose working directory is a temporary folder.

Run by ``.ci/wheel_notebooks.sh`` with the Python of the fresh venv that holds the installed wheel, so
the kernel ("python3", this interpreter) sees that environment only, never the repository::

    python execute_notebooks.py [--repo DIR] NOTEBOOK.ipynb ...   # exit 1 when a cell of any raises

With ``--repo DIR``, a first cell is added that fails when the kernel's working directory or the
``gsemlab`` it would import lies inside ``DIR``.

Prints one line per notebook (seconds, ok or the failing cell's error) and a closing count line.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

CELL_TIMEOUT_S = 900  # the longest cell (chapter 1's live training) takes about 2 minutes
ATTEMPTS = 2  # a kernel that stops answering (seen once under heavy load) gets one fresh retry
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of IPython's tracebacks
GUARD = """\
import importlib.util, os
from pathlib import Path
_repo = Path({repo!r})
_where = Path(importlib.util.find_spec("gsemlab").origin).resolve()
assert _repo not in Path.cwd().resolve().parents and Path.cwd().resolve() != _repo, Path.cwd()
assert _repo not in _where.parents, f"gsemlab would be imported from the repository: {{_where}}"
del _repo, _where
"""


def execute(path: Path, repo: Path | None = None) -> tuple[float, str | None]:
    """Seconds taken and None, or the error of the first cell that raised."""
    nb = nbformat.read(path, as_version=4)
    if repo is not None:
        nb.cells.insert(0, nbformat.v4.new_code_cell(GUARD.format(repo=str(repo.resolve()))))
    with tempfile.TemporaryDirectory(prefix=f"wheel-nb-{path.stem}-") as cwd:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                resources={"metadata": {"path": cwd}})
        start = time.perf_counter()
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError) as err:
            return time.perf_counter() - start, ANSI.sub("", str(err))
        return time.perf_counter() - start, None


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", type=Path, help="fail when the kernel would use this folder")
    p.add_argument("notebooks", nargs="*", type=Path)
    args = p.parse_args(argv)
    paths = [a.resolve() for a in args.notebooks]
    if not paths:
        print("execute_notebooks: no notebooks given", file=sys.stderr)
        return 1
    failed = []
    for path in paths:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                seconds, error = execute(path, args.repo)
            except Exception as err:  # noqa: BLE001 - a kernel that died or never started: report, retry
                seconds, error = 0.0, f"{type(err).__name__}: {err}"
            timed_out = error is not None and "timed out" in error.lower()
            if not (timed_out or error is not None and seconds == 0.0) or attempt == ATTEMPTS:
                break
            print(f"{path.name}: attempt {attempt} got no answer ({error.splitlines()[0][:200]}); retrying",
                  flush=True)
        print(f"{path.name}: {'ok' if error is None else 'FAILED'} in {seconds:.0f} s", flush=True)
        if error is not None:
            failed.append(path.name)
            print("\n".join(error.splitlines()[-40:]), flush=True)
    print(f"notebooks: {len(paths) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
