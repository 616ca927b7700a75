# The two commands of the quick start. Each one installs what it needs on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := espeak-ng sox

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
export TOKENIZERS_PARALLELISM := false
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: demo real-demo test bench bench-training bench-validation bench-import-layouts bench-onnx bench-gpu install system-packages server-packages lint clean

demo: install
	$(BIN)/speechalign retrain

# recorded speech, Whisper-base and a pretrained LLM, fetched by name into ~/.cache/speechalign
# (or $$SPEECHALIGN_CACHE); its own workspace, .speechalign/real-demo. RECIPE=blsp|bloomzmms|speechverse|wav2prompt
RECIPE ?= blsp
REAL_LANGUAGES ?= eng,spa
REAL_STEPS ?= 60
real-demo: install
	$(BIN)/speechalign real-demo --recipe $(RECIPE) --languages $(REAL_LANGUAGES) --steps $(REAL_STEPS)

# one worker per usable core (at most four), each with its share of the cores (tests/conftest.py)
test: install server-packages
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder --durations 25

# every ratio; the training and generation ones run on the workspace `make demo` leaves in `.` (a
# no-op retrain when it is there already), and the no-op retrain one makes a workspace of its own at
# the demo's size (about 25 minutes; BENCH_RETRAIN="--sentences 60 --steps 200" for a quick pass)
BENCH_RETRAIN ?=
bench: demo
	$(BIN)/python -m bench.speech_path
	$(BIN)/python -m bench.validation
	$(BIN)/python -m bench.import_layouts
	$(BIN)/python -m bench.speech_to_text
	$(BIN)/python -m bench.target_engine
	$(BIN)/python -m bench.trainer_step
	$(BIN)/python -m bench.encoder_cache
	$(BIN)/python -m bench.target_logits
	$(BIN)/python -m bench.precision
	$(BIN)/python -m bench.noop_retrain $(BENCH_RETRAIN)

# the training and target-generation ratios alone, on the workspace `make demo` left in `.`
bench-training: install
	$(BIN)/python -m bench.target_engine
	$(BIN)/python -m bench.trainer_step
	$(BIN)/python -m bench.encoder_cache
	$(BIN)/python -m bench.target_logits
	$(BIN)/python -m bench.precision

bench-onnx: install
	$(BIN)/python -m bench.speech_to_text

# the GPU check (bf16 adapter training at a Whisper-small + 1B-LLM size, batched generation): on a GPU
# machine, whose image has torch and transformers; `python -m bench.gpu --smoke` runs it tiny on a CPU
bench-gpu:
	python -m bench.gpu

bench-validation: install
	$(BIN)/python -m bench.validation

bench-import-layouts: install
	$(BIN)/python -m bench.import_layouts

lint: install
	$(BIN)/ruff check components flows tests bench

install: system-packages $(STAMP)

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends espeak-ng sox libsox-fmt-all >/dev/null; \
	fi

# the integration test starts its own PostgreSQL cluster (initdb in a temp folder): Debian's postgresql
server-packages:
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing system packages: postgresql"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --no-cache-dir -U pip
	$(BIN)/pip install -q --no-cache-dir -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf .speechalign data models reports metrics dvc.lock
