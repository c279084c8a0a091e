# ReX-MLE developer entry points. Everything runs from the repo's own .venv.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
export REXMLE_HOME ?= $(HOME)/.rexmle
# COVERAGE=1 runs every test target under coverage.py, subprocesses included (the CLI, sweep
# workers, grading workers: `[tool.coverage.run] patch = ["subprocess"]`); `make coverage`
# combines the data files and prints the figures per area. CI sets it.
COVERAGE ?=
PYTEST  := $(if $(COVERAGE),COVERAGE_FILE=$(CURDIR)/.coverage COVERAGE_ROOT=$(CURDIR) $(BIN)/coverage run -m pytest,$(BIN)/python -m pytest)

.PHONY: install demo demo-llm test test-adversarial test-baselines test-heavy test-docker test-slurm coverage lint typecheck bench mutate mutate-check gpu-check clean

$(BIN)/rexmle: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/rexmle

# The main job on the embedded default: synthetic ISLES'22, the no-LLM baseline, local runtime.
demo: install
	$(BIN)/rexmle prepare isles22 --synthetic
	$(BIN)/rexmle run --agent baseline --challenge isles22 --synthetic

test: install
	$(PYTEST) -q

# The standing adversarial suite: hostile agents on the local runtime, hostile submissions with
# their time and peak memory, LLM budget races, and kills of the harness at random moments.
test-adversarial: install
	$(PYTEST) -q -m adversarial

# Every challenge's training baseline on its synthetic data, beyond the default suite's ISLES'22
# (a minute or two each): prepare, train, predict, grade, rank, and beat the dummy. CI runs it.
test-baselines: install
	$(PYTEST) -q -m baselines

# The scaffolds whose environments take minutes and gigabytes to build (R&D-Agent; ML-Master
# when REXMLE_ML_MASTER_SRC names a checkout). CI runs it after `make test`.
test-heavy: install
	$(PYTEST) -q -m heavy

# Container runtimes against real engines (Docker; Podman's API socket): images built from a
# root filesystem imported without a registry, end-to-end runs, and the sandbox's walls.
# Needs dockerd (and `podman system service`) running: `bash .ci/engines` starts both.
test-docker: install
	$(PYTEST) -q -m "docker or podman"

# Sweeps through a real SLURM cluster (submitit): submit, cancel a job mid-run, resume, report.
# Needs slurmctld/slurmd/slurmdbd running: `bash .ci/slurm` installs and starts a single node.
test-slurm: install
	$(PYTEST) -q -m slurm

# An LLM agent, offline: real AIDE against the scripted LLM through the gateway.
demo-llm: install
	$(BIN)/rexmle run --agent aide --challenge isles22 --synthetic --llm scripted

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# The figures of the test targets run with COVERAGE=1: rexmle/ (target 90 %), graders/ and the
# challenges' scoring code (target 95 %), each printed with its uncovered files.
coverage: install
	COVERAGE_FILE=$(CURDIR)/.coverage COVERAGE_ROOT=$(CURDIR) $(BIN)/coverage combine --quiet --keep || true
	COVERAGE_FILE=$(CURDIR)/.coverage COVERAGE_ROOT=$(CURDIR) $(BIN)/python bench/coverage_summary.py

# Each challenge folder has its own prepare/synthetic/grade modules (same names, hyphenated
# folders), so mypy checks the folders one at a time.
typecheck: install
	$(BIN)/mypy rexmle graders agents bench
	@for d in challenges/*/; do ls "$$d"*.py >/dev/null 2>&1 || continue; $(BIN)/mypy --no-error-summary "$$d" || exit 1; done  # family tasks hold no code

bench: install
	$(BIN)/python bench/grading_bench.py
	$(BIN)/python bench/gateway_bench.py
	$(BIN)/python bench/runtime_bench.py
	$(BIN)/python bench/sweep_bench.py
	$(BIN)/python bench/cli_bench.py
	$(BIN)/python bench/vessel_bench.py
	$(BIN)/python bench/cellseg_bench.py
	$(BIN)/python bench/dentex_bench.py

# Mutation testing (cosmic-ray) of the code that decides a result, each module against its fast
# tests; score and every surviving mutant in bench/mutation.json (mutants live in a private copy
# of the tree). `mutate-check` (CI): every record is for the current code and scores >= 95 %;
# targets changed since their record are mutated then.
mutate: install
	$(BIN)/python bench/mutate.py

mutate-check: install
	$(BIN)/python bench/mutate.py --check

# The CUDA path on a GPU workstation (Docker + NVIDIA Container Toolkit): the CUDA image builds,
# the baseline trains on the GPU in Docker (synthetic ISLES'22), figures in bench/gpu-check/.
gpu-check: install
	bash bench/gpu_check.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
