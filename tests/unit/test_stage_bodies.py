"""Every stage body in-process on a tiny data set: the typed config passed in, files in tmp_path, no DVC.

The bodies run in pipeline order (ingest both parts, prepare, split, featurize, train, evaluate),
each on what the one before wrote, as `dvc repro` runs them; `dvc.lock` is written by hand with
the md5s DVC would record, because train and evaluate load only pickles it records.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from census_income.contracts.validation import DataValidation, MetricsValidation, SplitValidation
from census_income.data.config import IngestConfig, PrepareConfig, SplitConfig, SplitStageConfig
from census_income.engines import PANDAS_ENGINE, SparkEngineConfig
from census_income.errors import GateError, PipelineError
from census_income.modeling.config import EvaluateConfig, EvaluateStageConfig, FeaturizeConfig, TrainConfig
from census_income.stages.engine import PandasEngine, engine_for
from census_income.stages.evaluate import evaluate_stage
from census_income.stages.featurize import featurize_stage
from census_income.stages.harness import UNUSED_ON_PANDAS, StageRun, run_stage
from census_income.stages.ingest import ingest
from census_income.stages.prepare import prepare_stage
from census_income.stages.split import split_stage
from census_income.stages.train import train_stage
from tests.conftest import REPO_ROOT
from tests.unit.conftest import CONTRACT, FORMAT, SCHEMA, SMALL_MODELS, raw_part

DATA = {"format": FORMAT, "schema": SCHEMA, "contract": CONTRACT, "mode": "fail"}
RULES = DataValidation(max_duplicate_share=0.2)
SPLIT_RULES = SplitValidation(label_rate_tolerance=0.3, quantiles=[0.25, 0.5, 0.75], quantile_tolerance=0.5)
METRICS_RULES = MetricsValidation(
    min_roc_auc=0.5, max_error_rate=0.5, slice_metric="roc_auc", max_slice_gap=1.0, min_slice_rows=5
)
SOURCES = {"train": "sources/train.data", "test": "sources/test.data"}

INGEST = IngestConfig.model_validate({**DATA, "rules": RULES})
PREPARE = PrepareConfig.model_validate({**DATA, "rules": RULES, "source": SOURCES})
SPLIT = SplitStageConfig.model_validate(
    {
        "schema": SCHEMA,
        "contract": CONTRACT,
        "mode": "fail",
        "rules": RULES,
        "split_rules": SPLIT_RULES,
        "split": SplitConfig(method="official", validation_size=0.25),
        "seed": 0,
    }
)
STAGE = {"schema": SCHEMA, "contract": CONTRACT, "mode": "fail", "split_rules": SPLIT_RULES, "chunk_rows": 16}
FEATURIZE = FeaturizeConfig.model_validate({**STAGE, "features": {"categorical_encoding": "onehot"}})
TRAIN = TrainConfig.model_validate(
    {
        "schema": SCHEMA,
        "mode": "fail",
        "seed": 0,
        "model": SMALL_MODELS["logistic_regression"],
        "features_encoding": "onehot",
    }
)
EVALUATE = EvaluateStageConfig.model_validate(
    {
        **STAGE,
        "evaluate": EvaluateConfig(importance_repeats=1, curve_max_points=20),
        "slices": ["workclass"],
        "seed": 0,
        "rules": METRICS_RULES,
    }
)


def paths(**values: str) -> argparse.Namespace:
    return argparse.Namespace(**values)


def write_source(path: Path, frame: pd.DataFrame, comment: str | None = None) -> None:
    """A frame as the delivered text: comma-separated, values as they are (leading spaces kept)."""
    lines = [comment] if comment else []
    lines += [",".join(row) for row in frame.astype(str).itertuples(index=False)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def record(*outputs: str) -> None:
    """Add outputs to ./dvc.lock with the md5 DVC records for a file (what `dvc repro` writes)."""
    lock = Path("dvc.lock")
    stages: dict[str, Any] = yaml.safe_load(lock.read_text())["stages"] if lock.exists() else {}
    for out in outputs:
        stages[out] = {"outs": [{"path": out, "md5": hashlib.md5(Path(out).read_bytes()).hexdigest()}]}
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))


def summary(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(Path(path).read_text())
    return loaded


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the two tiny sources, as the current directory (gate results land in it)."""
    monkeypatch.chdir(tmp_path)
    write_source(tmp_path / SOURCES["train"], raw_part(80, seed=1))
    write_source(tmp_path / SOURCES["test"], raw_part(40, seed=2, label_suffix="."), comment="|1x3 Cross validator")
    return tmp_path


def run_ingest(part: str, cfg: IngestConfig = INGEST) -> StageRun:
    run = StageRun("ingest")
    out = f"data/raw/{part}.parquet"
    ingest(run, paths(source=SOURCES[part], out=out, gates=f"reports/gates/ingest-{part}.json"), cfg)
    return run


def run_through_split() -> None:
    for part in SOURCES:
        run_ingest(part)
    prepare_stage(
        StageRun("prepare"), paths(raw="data/raw", out="data/prepared/table.parquet", gates="prepare.json"), PREPARE
    )
    split_stage(
        StageRun("split"), paths(prepared="data/prepared/table.parquet", out="data/split", gates="split.json"), SPLIT
    )


def test_ingest_gates_the_source_and_writes_it_as_delivered(project: Path) -> None:
    run = run_ingest("test")

    assert run.stage == "ingest@test"
    raw = pd.read_parquet("data/raw/test.parquet")
    assert list(raw.columns) == FORMAT.columns and len(raw) == 40
    assert raw["income"].str.endswith(".").all()  # values untouched: prepare normalises them
    assert set(summary("reports/gates/ingest-test.json")) == {"raw", "typed"}
    assert (run.rows_in, run.rows_out, run.columns_out) == (40, 40, len(FORMAT.columns))
    assert run.gate.startswith("raw ") and ", typed " in run.gate and run.gate_seconds > 0


def test_ingest_stops_at_the_typed_gate_and_writes_nothing(project: Path) -> None:
    frame = raw_part(80, seed=1)
    frame.loc[::10, "age"] = "95"  # digits, so the raw contract passes; out of the contract's range
    write_source(project / SOURCES["train"], frame)

    with pytest.raises(GateError, match=r"^gate ingest-train/typed failed: .*expect_column_values_to_be_between"):
        run_ingest("train")

    assert not Path("data/raw/train.parquet").exists()
    assert not Path("reports/gates/ingest-train.json").exists()


def test_warn_mode_writes_and_records_the_failed_gate(project: Path) -> None:
    frame = raw_part(80, seed=1)
    frame.loc[::10, "age"] = "95"
    write_source(project / SOURCES["train"], frame)

    run_ingest("train", INGEST.model_copy(update={"mode": "warn"}))

    assert summary("reports/gates/ingest-train.json")["typed"]["success"] is False
    assert len(pd.read_parquet("data/raw/train.parquet")) == 80


def test_prepare_reads_only_the_declared_parts_and_checks_unpinned_inputs_in_full(project: Path) -> None:
    for part in SOURCES:
        run_ingest(part)
    Path("data/raw/stale.parquet").write_bytes(Path("data/raw/train.parquet").read_bytes())  # an older config's part
    run = StageRun("prepare")

    prepare_stage(run, paths(raw="data/raw", out="table.parquet", gates="prepare.json"), PREPARE)

    table = pd.read_parquet("table.parquet")
    assert len(table) == run.rows_in == run.rows_out == 120
    assert set(table["part"]) == {"train", "test"}
    gates = summary("prepare.json")
    assert set(gates) == {"raw-train", "raw-test", "prepared"}
    assert gates["raw-train"]["pinned"] is False  # no dvc.lock here: the full raw contract ran


def test_split_keeps_the_official_test_part_and_gates_every_part(project: Path) -> None:
    run_through_split()

    parts = {name: pd.read_parquet(f"data/split/{name}.parquet") for name in ("train", "validation", "test")}
    assert len(parts["test"]) == 40 and len(parts["train"]) + len(parts["validation"]) == 80
    assert set(summary("split.json")) == {"prepared", "split-train", "split-validation", "split-test"}


def test_featurize_train_and_evaluate_run_on_what_the_stage_before_wrote(project: Path) -> None:
    run_through_split()
    featurize = StageRun("featurize")
    featurize_stage(
        featurize, paths(split="data/split", out="features", featurizer="featurizer.joblib", gates="f.json"), FEATURIZE
    )
    # chunks of 16 rows: one summary entry per split adds them up
    assert summary("f.json")["features-train"]["chunks"] == -(-len(pd.read_parquet("data/split/train.parquet")) // 16)
    assert featurize.rows_out == 120

    with pytest.raises(PipelineError, match=r"featurizer\.joblib: no md5 recorded in dvc\.lock"):
        train_stage(
            StageRun("train"),
            paths(features="features", featurizer="featurizer.joblib", out="m", gates="t.json"),
            TRAIN,
        )
    record("featurizer.joblib")
    train = StageRun("train")
    train_stage(
        train, paths(features="features", featurizer="featurizer.joblib", out="model.joblib", gates="t.json"), TRAIN
    )
    assert train.extra["model"] == "logistic_regression"
    assert set(summary("t.json")) == {"features-train", "predictions-train"}

    record("model.joblib")
    evaluate = StageRun("evaluate")
    evaluate_stage(evaluate, paths(split="data/split", model="model.joblib", out="eval", gates="e.json"), EVALUATE)
    metrics = json.loads(Path("eval/metrics.json").read_text())
    assert 0 <= metrics["test"]["error_rate"] == evaluate.extra["test_error_rate"] <= 1
    assert {"metrics-test", "slices-test"} <= set(summary("e.json"))


def test_the_engine_is_chosen_from_its_config_and_spark_only_imported_when_chosen() -> None:
    assert isinstance(engine_for(PANDAS_ENGINE), PandasEngine)
    spark = engine_for(SparkEngineConfig(name="spark", master="local[1]"))
    assert type(spark).__module__ == "census_income.spark.stages"
    assert spark.config.master == "local[1]"


@pytest.fixture
def stage_process() -> Iterator[None]:
    """`run_stage` sets up the `census_income` logger and blocks unused imports once per
    process, as a stage process wants: undo both after the test."""
    logger = logging.getLogger("census_income")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    modules = {name: sys.modules[name] for name in UNUSED_ON_PANDAS if name in sys.modules}
    yield
    for handler in logger.handlers[len(handlers) :]:
        handler.close()
    logger.handlers[:] = handlers
    logger.propagate, logger.level = propagate, level
    for name in UNUSED_ON_PANDAS:
        sys.modules.pop(name, None)
    sys.modules.update(modules)


def test_the_harness_loads_the_typed_config_and_passes_it_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage_process: None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CENSUS_INCOME_LOG_DIR", str(tmp_path / "logs"))
    (tmp_path / "params.yaml").write_bytes((REPO_ROOT / "params.yaml").read_bytes())
    spec = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["data"]["spec"]
    (tmp_path / spec).parent.mkdir(parents=True)
    (tmp_path / spec).write_bytes((REPO_ROOT / spec).read_bytes())
    received: list[TrainConfig] = []

    run_stage("train", lambda run, args, cfg: received.append(cfg), TrainConfig, [], [])

    assert received == [TrainConfig.load(REPO_ROOT / "params.yaml")]
    event = json.loads((tmp_path / "logs/pipeline.jsonl").read_text().splitlines()[-1])
    assert event["status"] == "ok" and event["gate"] == "none"


STAGE_PROCESS = """
import gc, sys
from typing import ClassVar
from census_income.config import StageConfig
from census_income.stages.harness import run_stage

class Seeded(StageConfig):
    PARAMS: ClassVar[dict[str, str]] = {"seed": "seed"}
    seed: int

frozen = []
run_stage("probe", lambda run, args, cfg: frozen.append(gc.get_freeze_count()), Seeded, [], ARGV)
print(frozen[0], gc.get_freeze_count() > frozen[0])
"""


@pytest.mark.parametrize(("argv", "skipped"), [("None", "True"), ("[]", "False")])
def test_a_stage_process_skips_the_teardown_collection_and_still_logs(tmp_path: Path, argv: str, skipped: str) -> None:
    """From the command line (argv None) the harness freezes the objects the process made, so
    that its interpreter's teardown does not scan them; a caller's process (argv given) is left alone."""
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    code = STAGE_PROCESS.replace("ARGV", argv)
    env = {**os.environ, "CENSUS_INCOME_LOG_DIR": str(tmp_path / "logs")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path, env=env
    )
    assert done.stdout.split()[1] == skipped
    assert "probe: done in" in done.stderr
    assert json.loads((tmp_path / "logs/pipeline.jsonl").read_text().splitlines()[-1])["status"] == "ok"


def test_a_config_the_stage_cannot_use_stops_it_before_the_body_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stage_process: None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CENSUS_INCOME_LOG_DIR", str(tmp_path / "logs"))
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    ran: list[object] = []

    with pytest.raises(SystemExit) as exited:
        run_stage("train", lambda run, args, cfg: ran.append(cfg), TrainConfig, [], [])

    assert exited.value.code == 1 and ran == []
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and errors[0].endswith("train: params.yaml: model: missing"), errors
    event = json.loads((tmp_path / "logs/pipeline.jsonl").read_text().splitlines()[-1])
    assert event["status"] == "failed" and event["error"] == "params.yaml: model: missing"
