"""The Spark engine (`engine=spark`) against the pandas engine, in Spark local mode.

The pure functions of both engines run on the same few thousand rows of the bundled data:
the prepared table, the three splits and the features must hold the same rows and values.
A gate on a Spark frame reports a failure as the pandas path does, and one real `dvc repro`
runs the whole pipeline with `engine=spark` (marked slow). One SparkSession serves the module
(JVM start-up is the dearest part); everything is skipped, saying why, without Java or pyspark.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from census_income.data.config import IngestConfig, SplitConfig, SplitStageConfig
from census_income.data.ingest import parse_source
from census_income.data.prepare import PART, prepare
from census_income.data.split import SPLITS, split
from census_income.engines import SparkEngineConfig
from census_income.errors import GateError, PipelineError
from census_income.modeling.config import FeaturizeConfig
from census_income.modeling.features import featurize, fit_featurizer
from census_income.spark.session import missing_requirement
from tests.conftest import REPO_ROOT, run

pytestmark = [
    pytest.mark.skipif(missing_requirement() is not None, reason=f"Spark engine: {missing_requirement()}"),
    # pyspark 4.1's own Arrow conversion, on pandas 3
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:Warning"),
]

ADULT = REPO_ROOT / "src" / "census_income" / "data" / "adult"
ROWS = {"train": 3000, "test": 1500}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local SparkSession (2 cores) for the module, stopped at its end."""
    from census_income.spark.session import spark_session

    session = spark_session(SparkEngineConfig(name="spark", master="local[2]", shuffle_partitions=2))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def cfg() -> SplitStageConfig:
    return SplitStageConfig.load(REPO_ROOT / "params.yaml")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first rows of adult.data and adult.test (with its comment line), as delivered."""
    folder = tmp_path_factory.mktemp("sources")
    found = {}
    for part, name in (("train", "adult.data"), ("test", "adult.test")):
        lines = (ADULT / name).read_text(encoding="utf-8").splitlines(keepends=True)
        head = lines[: ROWS[part] + (1 if lines[0].startswith("|") else 0)]
        found[part] = folder / name
        found[part].write_text("".join(head), encoding="utf-8")
    return found


@pytest.fixture(scope="module")
def engines(
    spark: Any, cfg: SplitStageConfig, sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, pd.DataFrame]]:
    """`{"pandas" | "spark": {"raw-train", "raw-test", "prepared", "train", "validation", "test"}}`,
    the Spark ones as their stages write them (single Parquet files) and read back with pandas."""
    from census_income.spark import ingest as spark_ingest
    from census_income.spark import prepare as spark_prepare
    from census_income.spark import split as spark_split
    from census_income.spark.io import read_parquet, write_parquet

    out = tmp_path_factory.mktemp("spark")
    fmt, schema = load_format(), cfg.schema_
    categorical = [PART, *schema.categorical]
    raw = {part: parse_source(path.read_bytes(), fmt, str(path)) for part, path in sources.items()}
    table = prepare(dict(sorted(raw.items())), fmt, schema)
    pandas = {f"raw-{part}": frame for part, frame in raw.items()} | {"prepared": table}
    pandas |= split(table, cfg.split, schema.target, cfg.seed)

    for part, path in sources.items():
        write_parquet(spark_ingest.parse_source(spark, str(path), fmt), out / f"raw-{part}.parquet")
    parts = {part: read_parquet(spark, out / f"raw-{part}.parquet", positions=True) for part in sources}
    write_parquet(spark_prepare.prepare(parts, fmt, schema).orderBy("row_id"), out / "prepared.parquet", categorical)
    prepared = read_parquet(spark, out / "prepared.parquet")
    for name, frame in spark_split.split_parts(prepared, cfg.split, schema.target, cfg.seed).items():
        write_parquet(frame.orderBy("row_id"), out / f"{name}.parquet", categorical)
    names = [*pandas]
    return {"pandas": pandas, "spark": {name: pd.read_parquet(out / f"{name}.parquet") for name in names}}


def load_format() -> Any:
    return IngestConfig.load(REPO_ROOT / "params.yaml").format


def same_values(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same columns, dtypes and values, row for row. Categorical columns are compared by their
    values: which categories a part lists (pandas keeps the whole table's, unused ones too) and
    in what order is no value, and no later stage depends on it (encoders fit on the values)."""
    assert list(left.columns) == list(right.columns)
    assert left.dtypes.astype(str).tolist() == right.dtypes.astype(str).tolist()
    as_text = {c: "string" for c in left.columns if isinstance(left[c].dtype, pd.CategoricalDtype)}
    pd.testing.assert_frame_equal(left.astype(as_text), right.astype(as_text), check_exact=True)


def test_raw_and_prepared_data_match_the_pandas_engine(engines: dict[str, dict[str, pd.DataFrame]]) -> None:
    pandas, spark = engines["pandas"], engines["spark"]
    for part in ("raw-train", "raw-test"):
        assert len(pandas[part]) == ROWS[part.removeprefix("raw-")]
        pd.testing.assert_frame_equal(spark[part], pandas[part], check_exact=True)
    assert len(spark["prepared"]) == sum(ROWS.values())
    assert spark["prepared"]["workclass"].isna().sum() > 0  # the missing marker became missing on both
    same_values(spark["prepared"], pandas["prepared"])


def test_splits_match_the_pandas_engine_row_for_row(engines: dict[str, dict[str, pd.DataFrame]]) -> None:
    pandas, spark = engines["pandas"], engines["spark"]
    assert sum(len(spark[name]) for name in SPLITS) == sum(ROWS.values())
    assert len(spark["test"]) == ROWS["test"]  # the official split: adult.test is the test part
    for name in SPLITS:
        same_values(spark[name], pandas[name])


def test_the_stratified_split_assigns_the_same_rows(spark: Any, cfg: SplitStageConfig) -> None:
    from census_income.spark.split import assignment

    table = pd.DataFrame(
        {
            "row_id": range(2000),
            PART: pd.Categorical(["train"] * 2000),
            "income": pd.Series([1 if i % 4 == 0 else 0 for i in range(2000)], dtype="int8"),
        }
    )
    stratified = SplitConfig(method="stratified", test_size=0.25, validation_size=0.2)
    codes = assignment(spark.createDataFrame(table), stratified, "income", 7)
    expected = split(table, stratified, "income", 7)
    for index, name in enumerate(SPLITS):
        assert sorted(table["row_id"][codes == index]) == expected[name]["row_id"].tolist()


def test_features_match_the_pandas_engine(
    spark: Any, engines: dict[str, dict[str, pd.DataFrame]], tmp_path: Path
) -> None:
    from census_income.spark import featurize as spark_featurize
    from census_income.spark.io import read_parquet, write_parquet

    features_cfg = FeaturizeConfig.load(REPO_ROOT / "params.yaml")
    schema, pandas = features_cfg.schema_, engines["pandas"]
    for name, frame in engines["spark"].items():
        if name in SPLITS:
            frame.to_parquet(tmp_path / f"{name}.parquet")
    train = read_parquet(spark, tmp_path / "train.parquet")
    fitted = spark_featurize.fit(train, features_cfg.features, schema)
    reference = fit_featurizer(pandas["train"], features_cfg.features, schema)
    for name in ("train", "test"):
        frame = read_parquet(spark, tmp_path / f"{name}.parquet")
        write_parquet(spark_featurize.transform(fitted, frame, schema), tmp_path / f"features-{name}.parquet")
        expected = featurize(reference, pandas[name], schema)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"features-{name}.parquet"), expected)


def test_a_gate_on_a_spark_frame_passes_good_data_and_reports_bad_data_in_one_line(
    spark: Any, cfg: SplitStageConfig, engines: dict[str, dict[str, pd.DataFrame]], tmp_path: Path
) -> None:
    """The prepared contract (dtypes translated to Spark's) through GX's Spark data source."""
    from pyspark.sql import functions as F  # noqa: N812

    from census_income.contracts.gate import Gate
    from census_income.contracts.suites import prepared_suite, table_schema_suite
    from census_income.spark.io import read_parquet

    engines["spark"]["prepared"].to_parquet(tmp_path / "prepared.parquet")
    table = read_parquet(spark, tmp_path / "prepared.parquet").cache()
    gate = Gate("spark-test", "fail")
    gate.check("schema", table, table_schema_suite, cfg.schema_)
    assert gate.summary["schema"]["success"]

    older = table.withColumn("age", F.when(F.col("row_id") % 100 == 0, F.lit(130)).otherwise(F.col("age")))
    with pytest.raises(GateError) as failed:
        gate.check("prepared", older, prepared_suite, cfg.schema_, cfg.contract, cfg.rules)
    first, *details = str(failed.value).splitlines()
    assert first == (
        "gate spark-test/prepared failed: 1 of "
        f"{len(prepared_suite(cfg.schema_, cfg.contract, cfg.rules))} expectations "
        "(expect_column_values_to_be_between on age)"
    )
    assert details[0].startswith("  - expect_column_values_to_be_between column=age unexpected=45 (1.00%) e.g. [130]")
    saved = json.loads(gate.results_path("prepared").read_text())
    assert saved["success"] is False


def test_spark_prepare_stops_on_a_number_that_is_not_an_integer(spark: Any, cfg: SplitStageConfig) -> None:
    from census_income.spark import prepare as spark_prepare
    from census_income.spark.io import POSITION

    fmt = load_format()
    rows = [["39", "State-gov", "77516", "Bachelors", "13", "Never-married", "Adm-clerical", "Not-in-family"]]
    rows[0] += ["White", "Male", "2174", "0", "forty", "United-States", "<=50K", 0]
    frame = spark.createDataFrame(rows, [*fmt.columns, POSITION])
    with pytest.raises(PipelineError, match=r"prepare: column hours_per_week: not an integer: \['forty'\]"):
        spark_prepare.prepare({"train": frame}, fmt, cfg.schema_)


@pytest.mark.slow
def test_dvc_repro_with_engine_spark_matches_the_pandas_pipeline(
    reproduced_template: Path, fresh_project: Path
) -> None:
    """The whole pipeline through the real dvc with `engine=spark` (local mode, 2 cores): every
    gate passes, the prepared table and splits hold the pandas engine's rows and values, and the
    featurizer, the features and the metrics are the pandas run's."""
    # params.yaml of this copy only: with overrides, `census-income params` prints the composition
    (fresh_project / "params.yaml").write_text(
        run(["census-income", "params", "engine=spark", "engine.master='local[2]'"], fresh_project).stdout
    )
    run(["dvc", "repro", "--quiet"], fresh_project, timeout=1500)
    for stage in ("ingest-train", "ingest-test", "prepare", "split", "featurize"):
        gates = json.loads((fresh_project / f"reports/gates/{stage}.json").read_text())
        assert gates and all(suite["success"] for suite in gates.values()), stage
    for name in ("prepared/table", "split/train", "split/validation", "split/test"):
        same_values(
            pd.read_parquet(fresh_project / f"data/{name}.parquet"),
            pd.read_parquet(reproduced_template / f"data/{name}.parquet"),
        )
    pd.testing.assert_frame_equal(
        pd.read_parquet(fresh_project / "data/features/test.parquet"),
        pd.read_parquet(reproduced_template / "data/features/test.parquet"),
    )
    featurizer = "models/featurizer.joblib"
    assert (fresh_project / featurizer).read_bytes() == (reproduced_template / featurizer).read_bytes()
    metrics = json.loads((fresh_project / "reports/evaluate/metrics.json").read_text())
    expected = json.loads((reproduced_template / "reports/evaluate/metrics.json").read_text())
    assert metrics == expected
