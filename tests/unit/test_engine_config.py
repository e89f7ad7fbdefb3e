"""The `engine` config group: typed, one-line errors, and the pandas path never loads pyspark."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from census_income.compose import compose_params
from census_income.data.config import PrepareConfig
from census_income.engines import PandasEngineConfig, SparkEngineConfig
from census_income.errors import ConfigError
from tests.conftest import REPO_ROOT


def params_with(tmp_path: Path, *overrides: str) -> Path:
    path = tmp_path / "params.yaml"
    compose_params(path, REPO_ROOT / "conf", list(overrides))
    return path


def edited(tmp_path: Path, engine: dict[str, Any]) -> Path:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["engine"] = engine
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def test_pandas_is_the_default_and_spark_composes_with_a_cluster_master(tmp_path: Path) -> None:
    assert PrepareConfig.load(REPO_ROOT / "params.yaml").engine == PandasEngineConfig(name="pandas")
    cluster = ("engine.master=spark://head:7077", "+engine.conf.spark.executor.memory=8g")
    path = params_with(tmp_path, "engine=spark", *cluster)
    engine = PrepareConfig.load(path).engine
    assert isinstance(engine, SparkEngineConfig)
    assert engine.master == "spark://head:7077"
    assert engine.spark_settings() == {"spark.executor.memory": "8g"}


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ({"name": "dask"}, "params.yaml: engine.name: Input tag 'dask' found using 'name' does not match"),
        ({"name": "spark", "shuffle_partitions": 0}, "params.yaml: engine.shuffle_partitions: Input should be greater"),
        ({"name": "spark", "masters": "local[2]"}, "params.yaml: engine.masters: Extra inputs are not permitted"),
        ({"name": "pandas", "master": "local[2]"}, "params.yaml: engine.master: Extra inputs are not permitted"),
    ],
)
def test_a_wrong_engine_setting_is_one_line_naming_the_key(
    tmp_path: Path, engine: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        PrepareConfig.load(edited(tmp_path, engine))
    assert str(raised.value).startswith(str(tmp_path / message))
    assert "\n" not in str(raised.value)


def test_the_pandas_stages_never_import_pyspark() -> None:
    """The extra is optional: importing every engine stage must not load it."""
    code = (
        "import sys\n"
        "import census_income.stages.ingest, census_income.stages.prepare\n"
        "import census_income.stages.split, census_income.stages.featurize\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pyspark', 'census_income.spark'))))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert loaded.stdout.strip() == "[]"


def test_ingest_and_prepare_never_import_scikit_learn() -> None:
    """scikit-learn is 0.85 s of a process's start-up; only split and featurize (and later stages) use it."""
    code = (
        "import sys\n"
        "import census_income.stages.ingest, census_income.stages.prepare\n"
        "print(sorted(m for m in sys.modules if m.startswith('sklearn')))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert loaded.stdout.strip() == "[]"


GATED_STAGE = """
import sys
import pandas as pd
from typing import ClassVar
from census_income.config import StageConfig
from census_income.engines import EngineConfig
from census_income.contracts.gate import Gate
from census_income.stages.harness import run_stage

class Probe(StageConfig):
    PARAMS: ClassVar[dict[str, str]] = {"engine": "engine"}
    engine: EngineConfig

def body(run, args, cfg):
    gate = run.watch(Gate("probe", "fail"))
    gate.check("rows", pd.DataFrame({"x": [1, 2]}), lambda: [
        __import__("great_expectations").expectations.ExpectColumnValuesToBeBetween(column="x", min_value=0)
    ])
    loaded = [name for name in ("pyspark", "py4j", "boto3", "botocore") if sys.modules.get(name) is not None]
    print("loaded:", ",".join(loaded), "passed:", gate.summary["rows"]["success"])

run_stage("probe", body, Probe, [], [])
"""


@pytest.mark.parametrize(("engine", "loaded"), [("pandas", ""), ("spark", "pyspark,py4j,boto3,botocore")])
def test_a_pandas_stage_process_gates_without_loading_spark_or_aws(tmp_path: Path, engine: str, loaded: str) -> None:
    """GX imports pyspark and boto3 with itself when installed: a pandas stage process skips them."""
    pytest.importorskip("pyspark")
    params_with(tmp_path, f"engine={engine}")
    shutil.copytree(REPO_ROOT / "conf/datasets", tmp_path / "conf/datasets")  # the harness loads the config
    probe = subprocess.run(
        [sys.executable, "-c", GATED_STAGE], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert probe.stdout.strip() == f"loaded: {loaded} passed: True"
