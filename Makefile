# One command per habit. `make help` lists them.
SHELL := /bin/bash
# uv from PATH, else the one pip installs as a module (`python3 -m uv`) on first use
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv
RUN := $(UV) run --frozen --no-sync
export UV_COMPILE_BYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help setup repro test test-fast lint format typecheck params check-params bench clean docs bench-gates sweep bench-sweep pr-report check-lock register promote rollback models predict bench-scoring notebook nbstripout lineage bench-large bench-spark exps gates check-quality

help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet --user "uv>=0.5,<0.14" \
		|| python3 -m pip install --quiet "uv>=0.5,<0.14"
	$(UV) sync --frozen --compile-bytecode --extra spark  # pyspark for `engine=spark` and its tests
	@touch $@

setup: $(VENV)/.synced ## create the locked environment (.venv) from uv.lock

params: setup ## recompose params.yaml from conf/ (run after editing conf/)
	$(RUN) census-income params

repro: setup ## run the pipeline on the bundled data (dvc repro)
	$(RUN) dvc repro

test: setup lint typecheck ## lint, type-check and run the whole test suite (slow tests included)
	$(RUN) pytest -n 2 --dist loadscope --durations=25  # two workers; a module (and its fixtures) stays on one

test-fast: setup ## the tests not marked slow
	$(RUN) pytest -m "not slow"

lint: setup ## ruff lint and format check; CI workflows: GitHub schema and zizmor security audit
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) check-jsonschema --builtin-schema vendor.github-workflows $(wildcard .github/workflows/*.yml .github/workflows/*.yaml)
	$(RUN) zizmor --offline --quiet .github/workflows/

format: setup ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: setup ## mypy on src/
	$(RUN) mypy src

bench: setup ## benchmark: floor vs cold and no-op dvc repro (writes benchmarks/results.md)
	$(RUN) python benchmarks/bench_pipeline.py

docs: setup ## build Great Expectations Data Docs (HTML) from the latest gate results (logs/data-docs)
	$(RUN) python -m census_income.contracts.docs

bench-gates: setup ## benchmark: gate time vs stage time, default data and 1M rows (benchmarks/results.md)
	$(RUN) python benchmarks/bench_gates.py

sweep: setup ## queue the default experiment grid, run it on 2 workers, rank on validation (dvc exp)
	$(RUN) census-income sweep -j 2

exps: setup ## the experiments ranked on validation: varying params, headline metrics ± noise, state, quality bar
	$(RUN) census-income exps

gates: setup ## each stage's gate outcome (suites and expectations passed), from reports/gates/
	$(RUN) census-income gates

check-quality: setup ## fail when the model is below the quality bar (what register, promote and CI on main enforce)
	$(RUN) census-income check-quality

bench-sweep: setup ## benchmark: default grid on 2 queue workers vs 1 (benchmarks/results.md)
	$(RUN) python benchmarks/bench_sweep.py

BASE ?= main
PLOTS_URL ?=
# CI passes the base and the run's URL in the environment (PR_BASE, PR_PLOTS_URL), read by the shell
# only: a branch name never goes through make's expansion or a recipe's text
pr-report: setup ## report against BASE (default main): params, metrics, gates, stages -> reports/pr.md
	$(RUN) census-income report --base "$${PR_BASE:-$(BASE)}" $(if $(PLOTS_URL),--plots-url "$(PLOTS_URL)") \
		$${PR_PLOTS_URL:+--plots-url "$$PR_PLOTS_URL"}

check-lock: setup ## fail, saying what to run, when dvc.lock or params.yaml does not match code, conf/ or data
	$(RUN) census-income check-lock

lineage: setup ## the current model's chain from dvc.lock (sources, stages, hashes, versions); writes reports/model_card.md
	$(RUN) census-income lineage

# model registry and batch scoring: make register [VERSION=v1.2.0 | BUMP=minor], make promote VERSION=v1.2.0
# STAGE=prod, make rollback [STAGE=prod], make predict INPUT=rows.csv [MODEL=prod] [OUTPUT=predictions.parquet]
VERSION ?=
BUMP ?=
STAGE ?=
MODEL ?= prod
INPUT ?=
OUTPUT ?= predictions.parquet
register: setup ## register the current commit as a model version (VERSION=v1.2.0 or BUMP=major|minor|patch)
	$(RUN) census-income register $(if $(VERSION),--version "$(VERSION)") $(if $(BUMP),--bump "$(BUMP)")

promote: setup ## put model version VERSION in stage STAGE (staging, prod)
	$(if $(and $(VERSION),$(STAGE)),,$(error usage: make promote VERSION=v1.2.0 STAGE=prod))
	$(RUN) census-income promote "$(VERSION)" "$(STAGE)"

rollback: setup ## move STAGE (default prod) back to the model version that held it before
	$(RUN) census-income rollback --stage "$(or $(STAGE),prod)"

models: setup ## list model versions: stage, commit, data md5, test metrics
	$(RUN) census-income models

predict: setup ## score INPUT (raw rows) with MODEL (version, stage or file; default prod) into OUTPUT
	$(if $(INPUT),,$(error usage: make predict INPUT=rows.csv [MODEL=prod] [OUTPUT=predictions.parquet]))
	$(RUN) census-income predict "$(INPUT)" -o "$(OUTPUT)" --model "$(MODEL)"

bench-scoring: setup ## benchmark: 1M rows through census-income predict vs plain predict_proba (benchmarks/results.md)
	$(RUN) python benchmarks/bench_scoring.py

bench-spark: setup ## benchmark: ingest..featurize on pandas vs Spark local mode at ROWS rows (default 1M) (benchmarks/results.md)
	$(RUN) python benchmarks/bench_spark.py --rows "$(or $(ROWS),1000000)"

SIZES ?= default,1000000,10000000
bench-large: setup ## benchmark: pipeline vs one-process floor at SIZES rows (default,1M,10M; long) (benchmarks/results.md)
	$(RUN) python benchmarks/bench_large.py --sizes "$(SIZES)"

# JupyterLab runs from .venv-notebook: uv.lock's environment plus its `notebook` group, kept apart
# so that .venv (stages, tests, benchmarks) does not pay for Jupyter's imports.
# More options: make notebook JUPYTER_ARGS="--no-browser --port 8899"
JUPYTER_ARGS ?=
notebook: setup nbstripout ## open notebooks/ in JupyterLab (the locked environment plus Jupyter, in .venv-notebook)
	UV_PROJECT_ENVIRONMENT=.venv-notebook $(UV) run --frozen --group notebook jupyter lab notebooks/ $(JUPYTER_ARGS)

nbstripout: setup ## strip notebook outputs on `git add` (installs nbstripout as this clone's git filter)
	$(RUN) nbstripout --install --attributes .gitattributes

clean: ## remove the environment and caches (not data: use dvc gc for that)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
