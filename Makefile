# ganexp — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The data folder (torchvision layout: DATA_ROOT/MNIST/raw); without data/MNIST, the offline copy in ../shared/assets.
DATA_ROOT ?= $(if $(wildcard data/MNIST),data,$(if $(wildcard ../shared/assets/datasets/MNIST),../shared/assets/datasets,data))
QUICK ?=
ARGS ?=
RESULTS_ARGS ?= --wandb

.PHONY: help setup demo docs test test-long test-slow test-slurm slurm-cluster bench bench-data gpu-bundle reproduce-table31 reproduce-psgan reproduce-norms clean

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## create .venv, install ganexp with its dependencies, fetch the FID weights

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps dinov2==0.0.1.dev2  # Meta's DINOv2 code, the tests' reference (its pins: torch 2.0)
	$(PY) -m ganexp.metrics setup
	touch $@

# Two runs side by side, one thread each: the small demo networks use a second thread poorly, so this
# finishes the grid ~20% sooner than one run at a time on 2 threads (docs/getting-started.md).
DEMO_JOBS ?= 2

demo: setup ## the main job: 2 losses x 3 seeds on the embedded digits, CPU, one line + FID per run, then the report
	OMP_NUM_THREADS=1 $(PY) -m ganexp.train -m experiment=demo hydra/launcher=joblib hydra.launcher.n_jobs=$(DEMO_JOBS) $(ARGS)
	$(PY) -m ganexp.results multirun/demo

# The site: README.md is its front page (docs/index.md, links re-pointed), docs/reference.md is generated from
# the schema; --strict turns every broken link or anchor into an error.
docs: setup ## the documentation site (MkDocs, Material theme) into site/, built with --strict
	$(PY) -m pip install -q -e '.[docs]'
	$(PY) -m ganexp.configref docs/reference.md
	sed -e 's#](docs/#](#g' README.md > docs/index.md
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet
	@echo site/index.html

# pytest-xdist: one worker per core, at most 4 (each holds its own torch); a test file stays on one worker, so its
# module fixtures (an Inception network, real statistics) are built once.
TEST_JOBS ?= auto --maxprocesses=4

test: setup ## the test suite, one worker per core (CI adds test-long, docs and test-slurm)
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile $(ARGS)

test-long: setup ## the long tier: real trainings in subprocesses, 20 s and more each (~5 min; CI runs it)
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile -m long $(ARGS)

test-slow: setup ## real-data tests on ../shared/assets (minutes)
	$(PY) -m pytest -q -m slow $(ARGS)

# The one-node Slurm cluster of tests/slurm/start-cluster.sh (its files and logs in SLURM_DIR).
SLURM_DIR ?= /tmp/ganexp-slurm
export GANEXP_SLURM_DIR := $(SLURM_DIR)

slurm-cluster: ## start a one-node Slurm cluster on this machine (root; installs Debian's Slurm, munge, MariaDB)
	tests/slurm/start-cluster.sh start

# A cluster that cannot start (no root, no daemons in this sandbox) makes the tests skip with its reason.
test-slurm: setup ## the Slurm tests (tests/slurm), on the one-node cluster that slurm-cluster starts (~15 min)
	@started=$$(tests/slurm/start-cluster.sh start 2>&1); echo "$$started" | sed 's/^/  /'; \
	SLURM_CONF=$(SLURM_DIR)/slurm.conf GANEXP_SLURM_START="$$(echo "$$started" | grep '^\[slurm\]' | tail -n 1)" \
	  $(PY) -m pytest -q -rs -m slurm tests/slurm $(ARGS)

TABLE31 := table31$(if $(QUICK),_quick)

reproduce-table31: setup ## Study A grid (or QUICK=1: MNIST, CPU, ~30 min) then its report; DATA_ROOT=data
	$(PY) -m ganexp.train -m experiment=$(TABLE31) data_root=$(abspath $(DATA_ROOT)) $(ARGS)
	$(PY) -m ganexp.results multirun/$(TABLE31) $(RESULTS_ARGS)

MEDIUM ?=
comma := ,
PSGAN := psgan$(if $(QUICK),_quick)$(if $(MEDIUM),_medium)
# The stage schedule goes to the systems that have stages (ganexp/settings.py declares the full one).
STAGES := $(if $(QUICK),'system.stage_epochs=[0.13$(comma)0.27]')$(if $(MEDIUM),'system.stage_epochs=[2.5$(comma)5]')
FADE := $(if $(QUICK),system.fade_epochs=0.05)$(if $(MEDIUM),system.fade_epochs=0.83)
# MEDIUM: two runs at a time, one thread each (its times are then flagged as measured on a shared machine).
TWO_AT_A_TIME := $(if $(MEDIUM),hydra/launcher=joblib hydra.launcher.n_jobs=2)
TRAIN_PSGAN := $(if $(MEDIUM),OMP_NUM_THREADS=1) $(PY) -m ganexp.train -m experiment=$(PSGAN) \
	data_root=$(abspath $(DATA_ROOT)) $(TWO_AT_A_TIME)
# Each model as its paper defines it (conf/experiment/psgan.yaml; its defaults are PS-GAN's; ProGAN scored on G_ema).
# MEDIUM: SNGAN with SN only, and PS-GAN K = 2 under every reading of Algorithm 2.
SNGAN_ARGS := system=gan loss=hinge norm=spectral$(if $(MEDIUM),,$(comma)baseline)
PROGAN_ARGS := system=progan loss=wgan_gp loss.n_critic=1 loss.drift=0.001 norm=progan optim=progan \
	model.equalized_lr=true model.minibatch_stddev=true ema=progan
PSGAN_ARGS := system=psgan $(if $(MEDIUM),system.num_generators=2 system.judge=threshold$(comma)relative$(comma)relative_vote \
	system.d_update=gated$(comma)always,system.num_generators=1$(comma)2$(comma)3)

reproduce-psgan: setup ## Study C: SNGAN (+ without SN), ProGAN, PS-GAN (QUICK=1: CPU, ~30 min; MEDIUM=1: 10 epochs, every reading, CPU, hours) then its report
	$(TRAIN_PSGAN) $(SNGAN_ARGS) $(ARGS)
	$(TRAIN_PSGAN) $(PROGAN_ARGS) $(STAGES) $(FADE) $(ARGS)
	$(TRAIN_PSGAN) $(PSGAN_ARGS) $(STAGES) $(FADE) $(ARGS)
	$(PY) -m ganexp.results multirun/$(PSGAN)

NORMS := norms$(if $(QUICK),_quick)
# CelebA: data/celeba/img_align_celeba(.zip); without it (QUICK), the 32 offline sample images in ../shared/assets.
NORMS_ROOT ?= $(if $(wildcard data/celeba data/img_align_celeba*),data,$(if $(wildcard ../shared/assets/datasets/celeba_sample),../shared/assets/datasets/celeba_sample,data))

reproduce-norms: setup ## Study B: baseline / SN / AdaIN / SN+AdaIN on CelebA (or QUICK=1: offline sample, CPU, ~13 min) then its report
	$(PY) -m ganexp.train -m experiment=$(NORMS) data_root=$(abspath $(NORMS_ROOT)) $(ARGS)
	$(PY) -m ganexp.results multirun/$(NORMS)

bench: setup ## training throughput vs a plain PyTorch loop (python -m ganexp.bench train)
	$(PY) -m ganexp.bench train $(ARGS)

bench-data: setup ## decode-and-cache and streamed vs resident images/s (python -m ganexp.bench data)
	$(PY) -m ganexp.bench data $(ARGS)

# The GPU check (tests/gpu/check.sh) on a lent GPU machine: no network there and a python3 without hydra-core,
# omegaconf, antlr4-python3-runtime and torch-fidelity; these wheels travel with the working tree (well under 1 MiB).
GPU_BUNDLE ?= .gpu-bundle

gpu-bundle: setup ## wheels a bare GPU machine lacks (CPython 3.12) into .gpu-bundle/, for tests/gpu/check.sh there
	$(PY) tests/gpu/bundle.py build $(GPU_BUNDLE)

clean: ## remove runs, sweeps and caches made in this folder (not ~/.cache/ganexp)
	rm -rf multirun runs outputs reports .pytest_cache
