# One command per habit. `make help` lists them.
SHELL := /bin/bash
VENV := .venv
# Every command runs from .venv/bin by its path, so targets behave the same whether or not the
# environment is activated; uv is needed only to create or sync it.
BIN := $(VENV)/bin
# uv from PATH, else a private copy in .uv/ that `make setup` installs with pip (no user site, no PATH edits)
UV ?= $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.uv/bin/uv)
# pip of the Python outside the activated venv (uv's venvs have no pip)
OUTSIDE_VENV := PATH="$(if $(VIRTUAL_ENV),$(subst $(VIRTUAL_ENV)/bin:,,$(PATH)),$(PATH))"
# .venv/bin first for what the commands start in turn (dvc runs each stage as `python -m ...`)
export PATH := $(CURDIR)/$(BIN):$(PATH)
export UV_COMPILE_BYTECODE := 1
export NO_MKDOCS_2_WARNING := 1
# what `make setup-spark` / `make setup-notebooks` opted into stays installed on every later sync
SYNC := $(UV) sync --frozen $$(test -e $(VENV)/.with-spark && echo --extra spark) $$(test -e $(VENV)/.with-lightgbm && echo --extra lightgbm) $$(test -e $(VENV)/.with-notebooks && echo --group notebooks)

.DEFAULT_GOAL := help
.PHONY: help setup setup-spark setup-notebooks repro test test-fast lint format typecheck params check-params bench clean docs data-docs bench-gates sweep bench-sweep pr-report check-lock register promote rollback models predict bench-scoring serve bench-serve notebook notebooks nbstripout lineage bench-large bench-spark exps gates check-quality setup-lightgbm

help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-16s %s\n", $$1, $$2}'

# uv is needed only when .venv must be synced: no uv, no network, as long as .venv is current
ENSURE_UV = @test -x "$(UV)" || $(OUTSIDE_VENV) python3 -m pip install --quiet --disable-pip-version-check --target .uv "uv>=0.5,<0.14"

$(VENV)/.synced: pyproject.toml uv.lock
	$(ENSURE_UV)
	$(SYNC)
	@touch $@

setup: $(VENV)/.synced ## create the locked environment (.venv) from uv.lock: lean, no Spark, no Jupyter

setup-spark: setup ## add the spark extra (pyspark, for `engine=spark` and its tests; needs Java 17)
	$(ENSURE_UV)
	$(SYNC) --extra spark
	@touch $(VENV)/.with-spark

setup-lightgbm: setup ## add the lightgbm extra (the `model=lightgbm` family and its tests; the sweep grid takes it)
	$(ENSURE_UV)
	$(SYNC) --extra lightgbm
	@touch $(VENV)/.with-lightgbm

setup-notebooks: setup ## add the notebooks group (papermill, ipykernel: `make notebooks` and its tests)
	$(ENSURE_UV)
	$(SYNC) --group notebooks
	@touch $(VENV)/.with-notebooks

params: setup ## recompose params.yaml from conf/ (run after editing conf/)
	$(BIN)/census-income params

repro: setup ## run the pipeline on the bundled data (dvc repro)
	$(BIN)/dvc repro

test: setup lint typecheck ## lint, type-check and run the whole test suite (slow tests included)
	$(BIN)/pytest -n 2 --dist loadscope --durations=25  # two workers; a module (and its fixtures) stays on one

test-fast: setup ## the tests not marked slow
	$(BIN)/pytest -m "not slow"

lint: setup ## ruff lint and format check; CI workflows: GitHub schema and zizmor security audit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows $(wildcard .github/workflows/*.yml .github/workflows/*.yaml)
	$(BIN)/zizmor --offline --quiet .github/workflows/

format: setup ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: setup ## mypy on src/
	$(BIN)/mypy src

LARGE ?=
bench: setup ## benchmark: inner loop, cold, no-op, queue (LARGE=10000000: also 10M rows, long) vs the floor (benchmarks/results.md)
	$(BIN)/python benchmarks/bench_pipeline.py $(if $(LARGE),--large-rows "$(LARGE)")

docs: setup ## build the documentation site (docs/ -> site/) with MkDocs; broken links fail
	$(BIN)/mkdocs build --strict --site-dir site

data-docs: setup ## build Great Expectations Data Docs (HTML) from the latest gate results (logs/data-docs)
	$(BIN)/python -m census_income.contracts.docs

bench-gates: setup ## benchmark: gate time vs stage time, default data and 1M rows (benchmarks/results.md)
	$(BIN)/python benchmarks/bench_gates.py

sweep: setup ## queue the default experiment grid, run it on 2 workers, rank on validation (dvc exp)
	$(BIN)/census-income sweep -j 2

exps: setup ## the experiments ranked on validation: varying params, headline metrics ± noise, state, quality bar
	$(BIN)/census-income exps

gates: setup ## each stage's gate outcome (suites and expectations passed), from reports/gates/
	$(BIN)/census-income gates

check-quality: setup ## fail when the model is below the quality bar (what register, promote and CI on main enforce)
	$(BIN)/census-income check-quality

bench-sweep: setup ## benchmark: default grid on 2 queue workers vs 1 (benchmarks/results.md)
	$(BIN)/python benchmarks/bench_sweep.py

BASE ?= main
PLOTS_URL ?=
# CI passes the base and the run's URL in the environment (PR_BASE, PR_PLOTS_URL), read by the shell
# only: a branch name never goes through make's expansion or a recipe's text
pr-report: setup ## report against BASE (default main): params, metrics, gates, stages -> reports/pr.md
	$(BIN)/census-income report --base "$${PR_BASE:-$(BASE)}" $(if $(PLOTS_URL),--plots-url "$(PLOTS_URL)") \
		$${PR_PLOTS_URL:+--plots-url "$$PR_PLOTS_URL"}

check-lock: setup ## fail, saying what to run, when dvc.lock or params.yaml does not match code, conf/ or data
	$(BIN)/census-income check-lock

lineage: setup ## the current model's chain from dvc.lock (sources, stages, hashes, versions); writes reports/model_card.md
	$(BIN)/census-income lineage

# model registry and batch scoring: make register [VERSION=v1.2.0 | BUMP=minor], make promote VERSION=v1.2.0
# STAGE=prod, make rollback [STAGE=prod], make predict INPUT=rows.csv [MODEL=prod] [OUTPUT=predictions.parquet]
VERSION ?=
BUMP ?=
STAGE ?=
MODEL ?= prod
INPUT ?=
OUTPUT ?= predictions.parquet
register: setup ## register the current commit as a model version (VERSION=v1.2.0 or BUMP=major|minor|patch)
	$(BIN)/census-income register $(if $(VERSION),--version "$(VERSION)") $(if $(BUMP),--bump "$(BUMP)")

promote: setup ## put model version VERSION in stage STAGE (staging, prod)
	$(if $(and $(VERSION),$(STAGE)),,$(error usage: make promote VERSION=v1.2.0 STAGE=prod))
	$(BIN)/census-income promote "$(VERSION)" "$(STAGE)"

rollback: setup ## move STAGE (default prod) back to the model version that held it before
	$(BIN)/census-income rollback --stage "$(or $(STAGE),prod)"

models: setup ## list model versions: stage, commit, data md5, test metrics
	$(BIN)/census-income models

predict: setup ## score INPUT (raw rows) with MODEL (version, stage or file; default prod) into OUTPUT
	$(if $(INPUT),,$(error usage: make predict INPUT=rows.csv [MODEL=prod] [OUTPUT=predictions.parquet]))
	$(BIN)/census-income predict "$(INPUT)" -o "$(OUTPUT)" --model "$(MODEL)"

bench-scoring: setup ## benchmark: 1M rows through census-income predict vs plain predict_proba (benchmarks/results.md)
	$(BIN)/python benchmarks/bench_scoring.py

PORT ?= 8000
serve: setup ## serve MODEL (default prod) over HTTP on 127.0.0.1:PORT (default 8000); see docs/serving.md
	$(BIN)/census-income serve --model "$(MODEL)" --port "$(PORT)"

bench-serve: setup ## benchmark: census-income serve at 1/8/32 clients, 1 and 1,000-row requests, batching on/off vs predict_proba (benchmarks/results.md)
	$(BIN)/python benchmarks/bench_serve.py

bench-spark: setup ## benchmark: ingest..featurize on pandas vs Spark local mode at ROWS rows (default 1M) (benchmarks/results.md)
	$(BIN)/python benchmarks/bench_spark.py --rows "$(or $(ROWS),1000000)"

SIZES ?= default,1000000,10000000
bench-large: setup ## benchmark: pipeline vs one-process floor at SIZES rows (default,1M,10M; long) (benchmarks/results.md)
	$(BIN)/python benchmarks/bench_large.py --sizes "$(SIZES)"

# JupyterLab runs from .venv-notebook: uv.lock's environment plus the `notebooks` and `lab` groups,
# kept apart so that .venv (stages, tests, benchmarks) does not pay for Jupyter's imports.
# More options: make notebook JUPYTER_ARGS="--no-browser --port 8899"
JUPYTER_ARGS ?=
notebook: setup nbstripout ## open notebooks/ in JupyterLab (the locked environment plus Jupyter, in .venv-notebook)
	UV_PROJECT_ENVIRONMENT=.venv-notebook $(UV) run --frozen --group notebooks --group lab jupyter lab notebooks/ $(JUPYTER_ARGS)

# make notebooks [REV=<git revision>] [KERNEL=python3]: each notebook with its parameter REV set
REV ?=
KERNEL ?= python3
NOTEBOOKS := $(wildcard notebooks/*.ipynb)
notebooks: setup ## run every notebook headless with papermill (REV=<revision>, default the workspace) -> reports/notebooks/*.html
	@$(BIN)/python -c "import papermill" 2>/dev/null || { echo "make notebooks: papermill is not installed; run make setup-notebooks" >&2; exit 1; }
	@mkdir -p reports/notebooks
	@for nb in $(NOTEBOOKS); do \
		out=reports/notebooks/$$(basename $$nb); \
		$(BIN)/papermill --cwd notebooks -k "$(KERNEL)" $(if $(REV),-r REV "$(REV)") --log-level WARNING "$$nb" "$$out" \
			&& $(BIN)/jupyter nbconvert --log-level WARN --to html "$$out" \
			&& rm "$$out" || exit 1; \
		echo "$${out%.ipynb}.html"; \
	done

nbstripout: setup ## strip notebook outputs on `git add` (installs nbstripout as this clone's git filter)
	$(BIN)/nbstripout --install --attributes .gitattributes

clean: ## remove the environment and caches (not data: use dvc gc for that)
	rm -rf $(VENV) .uv site .pytest_cache .mypy_cache .ruff_cache
