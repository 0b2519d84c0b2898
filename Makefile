# metamr_nb: every command sets up .venv itself (created if missing, reinstalled only when
# settings.ini or setup.py change), so a fresh machine needs nothing but Python 3.11 and pip.
SHELL   := /bin/bash
PYTHON  ?= $(shell command -v python3.11 || command -v python3)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.metamr-installed
PORT    ?= 8888
APP_PORT ?= 8866
CHROMIUM := /usr/bin/chromium
# one torch thread for Lab, the apps and the notebooks: tiny models run faster without intra-op threads (03_models)
export OMP_NUM_THREADS ?= 1

.PHONY: setup lab app test test-busy test-slow docs readme nbs clean-nbs reproduce image

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) $(CHROMIUM)

# Debian's Chromium, for the real-browser tests (tests/test_browser.py drives it with Python playwright; never
# `playwright install`). Installed when missing and running as root (CI runs as root on a fresh machine).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else echo "note: $(CHROMIUM) is missing and this is not root: the browser tests will skip (as root: apt-get install -y chromium)"; fi

# The main job: JupyterLab on the notebooks, on 127.0.0.1 with token auth (the URL with the token is printed).
# (--allow-root only when run as root, as in containers and CI, where Jupyter otherwise refuses to start.)
lab: setup
	$(BIN)/jupyter lab nbs/ --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --no-browser $(if $(filter 0,$(shell id -u)),--allow-root)

# The three lessons as standalone Voilà apps (no code, just prose, figures and widgets), on 127.0.0.1 with a token.
# The `metamr` template (share/jupyter/voila/templates/) is Voilà's lab template without its CDN stylesheets: offline.
# Progressive rendering: the page and each app show as soon as their cells have run, while later cells still run.
app: setup
	@tok=$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(16))'); \
	for nb in sinusoid_adaptation mapreduce_steps shape_classification cnp_band; do \
	  echo "lesson: http://127.0.0.1:$(APP_PORT)/voila/render/$$nb.ipynb?token=$$tok"; done; \
	JUPYTER_PATH=$(CURDIR)/share/jupyter $(BIN)/voila nbs/tutorials/ --template=metamr --progressive_rendering=True --Voila.ip=127.0.0.1 --Voila.port=$(APP_PORT) \
	  --Voila.token=$$tok --no-browser

# Everything CI runs: notebooks and module in sync, notebook tests, pytest, offline docs build.
test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/test.sh

# The same suite on a machine kept busy: BUSY (default 4) busy-loop processes compete for the cores while it runs.
# Nothing in the suite may depend on how fast it runs; this is how that is checked (see nbs/10a_reliability.ipynb).
BUSY ?= 4
test-busy: setup
	@pids=""; for i in $$(seq $(BUSY)); do (while :; do :; done) & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT; echo "test-busy: $(BUSY) busy loops running (pids$$pids)"; \
	uptime; PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/test.sh; rc=$$?; uptime; exit $$rc

# The cells flagged `slow` (full-length trainings and studies) and the slow pytest tests.
test-slow: setup
	$(BIN)/nbdev_test --flags slow --n_workers 1
	$(BIN)/python -m pytest tests -m slow -q

# Re-run one recorded fidelity row here and compare it with the record within its 95% interval: make reproduce ROW=maml_k10
# (metamr_reproduce, from metamr_nb.fidelity: it reruns the row's recorded command, an old `python scripts/fidelity.py`
# translated to `python -m metamr_nb.fidelity` with the same flags). The experiments are `python -m metamr_nb.NAME`.
ROW ?= maml_k10
reproduce: setup
	$(BIN)/metamr_reproduce $(ROW)

# The classroom image (Dockerfile) on a machine without a registry: Debian base by debootstrap, local wheels.
# docker run -p 8888:8888 metamr_nb (JupyterLab), ... metamr_nb app (Voilà), ... metamr_nb test (the tests).
image: setup
	PYTHON=$(BIN)/python bash scripts/container.sh metamr_nb:latest

# Offline docs site into _docs/ (Quarto's nbdev_docs where quarto is installed, else smalldocs).
docs: setup
	$(BIN)/python scripts/docs.py site

# README.md from nbs/index.ipynb.
readme: setup
	$(BIN)/python scripts/docs.py readme

# Re-execute the notebooks and save their outputs (the figures the docs site shows), then clean them.
# One or a few: make nbs NB=nbs/01_signals.ipynb (a notebook that raises stops it and is left as it was).
nbs: setup
	$(BIN)/python scripts/run_nbs.py $(NB)
	$(BIN)/python scripts/clean_nbs.py

# The clean step: nbdev_clean, and the saved widget state stripped (run before every commit; make test checks it).
clean-nbs: setup
	$(BIN)/python scripts/clean_nbs.py
