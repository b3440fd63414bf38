# gsem-course: every target sets itself up (a .venv with the pinned set) before it runs.
#   make book       build and execute the whole book into _build/html (CPU, bundled models)
#   make test       run the test suite offline
#   make notebooks  regenerate the output-free .ipynb twins of the MyST chapters (for Colab)
#   make bench      run the benchmarks, write their result files and the summaries in gsemlab/data/results
#   make wheel-notebooks  build a wheel, install it in a fresh venv outside the repository, run every .ipynb twin
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: setup book test notebooks bench summaries wheel-notebooks vendor clean train-control

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e '.[book,dev]'
	$(PIP) install --quiet --no-deps -c constraints.txt daam==0.2.0
	touch $(STAMP)

setup: $(STAMP)

vendor: _vendor/_static/vendor/.complete

_vendor/_static/vendor/.complete: book/_scripts/vendor.sh
	bash book/_scripts/vendor.sh

# MPLBACKEND=Agg (exported above for the tests) would stop the kernels from showing figures:
# without it ipykernel selects its inline backend.
book: setup vendor
	env -u MPLBACKEND $(BIN)/jupyter-book build . --builder html -W -n --keep-going

test: setup
	$(BIN)/python -m pytest

notebooks: setup
	$(BIN)/python book/_scripts/pair_notebooks.py --write

bench: setup
	for b in $(filter-out benchmarks/summaries.py,$(wildcard benchmarks/*.py)); do $(BIN)/python $$b || exit 1; done
	$(BIN)/python benchmarks/summaries.py

# the fields the chapters show, from the full files in benchmarks/results/ (seconds, no benchmark re-run)
summaries: setup
	$(BIN)/python benchmarks/summaries.py

wheel-notebooks:
	bash .ci/wheel_notebooks.sh

clean:
	rm -rf _build .jupyter_cache

# The control-map chapter's training, from scratch and resumable: the ControlNet (78 min on 2 cores),
# the quality curves it is measured by, then the DQN on those curves (5 seeds).
train-control: setup
	$(BIN)/python -m gsemlab.training control-all
	$(BIN)/python benchmarks/control.py
	$(BIN)/python -m gsemlab.training control-dqn
	$(BIN)/python -m gsemlab.training control-export
