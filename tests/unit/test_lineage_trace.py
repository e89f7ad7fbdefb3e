"""Tracing a model back through a dvc.lock mapping, and the model card, on a small inline lock."""

from __future__ import annotations

import pytest

from census_income.errors import ConfigError, PipelineError
from census_income.repo.lineage import upstream
from census_income.repo.lock import Hashed, LockedStage, locked_stages
from census_income.reporting.lineage_report import format_lineage
from census_income.reporting.lineage_trace import Lineage, defined_stages, environment_output, param_text, trace
from census_income.reporting.model_card import data_card, render_model_card


def out(path: str, md5: str) -> dict[str, object]:
    return {"path": path, "hash": "md5", "md5": md5, "size": 1}


LOCK = {
    "schema": "2.0",
    "stages": {
        "environment": {
            "cmd": "python -m census_income.stages environment --lock uv.lock --out reports/environment.json",
            "deps": [out("uv.lock", "e0")],
            "outs": [out("reports/environment.json", "e1")],
        },
        "ingest@train": {
            "cmd": "python -m census_income.stages.ingest --source s3://bucket/adult.data",
            "deps": [{"path": "s3://bucket/adult.data", "etag": "abc-1", "size": 9}, out("src/ingest.py", "c1")],
            "params": {"params.yaml": {"data.format": {"delimiter": ","}, "validation.mode": "fail"}},
            "outs": [out("data/raw/train.parquet", "r1")],
        },
        "ingest@test": {
            "cmd": "python -m census_income.stages.ingest --source data/adult.test",
            "deps": [out("data/adult.test", "s2")],
            "outs": [out("data/raw/test.parquet", "r2")],
        },
        "prepare": {
            "cmd": "python -m census_income.stages.prepare",
            "deps": [out("data/raw", "d1.dir")],
            "outs": [out("data/prepared/table.parquet", "p1")],
        },
        "unrelated": {"cmd": "true", "deps": [out("notes.txt", "n1")], "outs": [out("other.txt", "o1")]},
        "train": {
            "cmd": "python -m census_income.stages.train",
            "deps": [out("data/prepared/table.parquet", "p1"), out("reports/environment.json", "e1")],
            "params": {
                "params.yaml": {"model": {"name": "hgb", "max_iter": 3}, "seed": 42},
                "other.yaml": {"x": 1},
            },
            "outs": [out("models/model.joblib", "m1")],
        },
        "evaluate": {
            "cmd": "python -m census_income.stages.evaluate",
            "deps": [out("models/model.joblib", "m1")],
            "outs": [out("reports/evaluate", "v1.dir")],
        },
    },
}
SOURCES = {"train": "s3://bucket/adult.data", "test": "data/adult.test", "extra": "data/never-ingested.csv"}
CARD = {
    "title": "Toy census",
    "intended_use": "Teaching only.",
    "limitations": ["Tiny.", "Made up."],
    "license": "CC BY 4.0",
    "citation": "Someone (2024). Toy census.",
}
METRICS = {
    "reports/evaluate/metrics.json": {"test": {"roc_auc": 0.912345, "error_rate": 0.13}},
    "reports/evaluate/slices.json": {"test": {"sex": {"Female": {"rows": 10, "error_rate": 0.1}}}},
    "reports/evaluate/missing.json": None,
}


def lineage_of(lock: dict[str, object] = LOCK) -> Lineage:
    chain, sources = trace(lock, "models/model.joblib", SOURCES)
    return Lineage(
        artifact="toy-model",
        description="Scores toy rows.",
        model="models/model.joblib",
        model_md5="m1",
        model_present=True,
        commit="0123456789abcdef",
        uncommitted=(),
        stale=(),
        sources=tuple(sources),
        stages=tuple(chain),
        environment_file=environment_output(chain),
        environment={"python": "3.11", "packages": {"scikit-learn": "1.9.1"}},
        installed={"python": "3.11", "packages": {"scikit-learn": "1.9.2"}},
        dataset="data/prepared/table.parquet",
        dataset_md5="p1",
    )


def test_upstream_is_every_producer_in_pipeline_order_and_nothing_else() -> None:
    stages = locked_stages(LOCK)
    order = upstream(stages, "models/model.joblib")
    assert set(order) == {"environment", "ingest@train", "ingest@test", "prepare", "train"}
    assert order.index("ingest@train") < order.index("prepare") < order.index("train")
    assert order[-1] == "train"
    # a folder dependency (data/raw) is produced by the stages writing files inside it
    assert upstream(stages, "data/prepared/table.parquet") == ["ingest@train", "ingest@test", "prepare"]


def test_params_of_other_files_are_prefixed() -> None:
    params = locked_stages(LOCK)["train"].params
    assert params == {"model": {"name": "hgb", "max_iter": 3}, "seed": 42, "other.yaml:x": 1}


def test_sources_carry_the_hash_dvc_lock_records_whatever_its_kind() -> None:
    _, sources = trace(LOCK, "models/model.joblib", SOURCES)
    by_part = {s.part: s for s in sources}
    assert by_part["train"].hash == "etag abc-1" and by_part["train"].read_by == ("ingest@train",)
    assert by_part["test"].hash == "md5 s2"
    assert by_part["extra"].hash == "" and by_part["extra"].read_by == ()


def test_an_output_no_stage_makes_is_an_error() -> None:
    with pytest.raises(PipelineError, match=r"models/other\.joblib: no stage in dvc\.lock produces it"):
        trace(LOCK, "models/other.joblib", SOURCES)


def test_param_text_inlines_short_values_and_hashes_long_ones() -> None:
    assert param_text("fail") == "fail"
    assert param_text(42) == "42"
    assert param_text({"name": "hgb"}) == '{"name":"hgb"}'
    long = {f"key{i}": list(range(10)) for i in range(5)}
    text = param_text(long)
    assert text.startswith("md5 ") and text.endswith("(5 keys)")
    assert param_text(dict(reversed(long.items()))) == text  # canonical: key order does not matter


def test_format_lineage_names_every_hash_of_the_chain() -> None:
    lineage = lineage_of()
    text = format_lineage(lineage)
    for stage in lineage.stages:
        assert f"\n  {stage.name}\n" in text
        for entry in (*stage.deps, *stage.outs):
            assert f"{entry.path}  {entry.hash}" in text
    assert "unrelated" not in text and "evaluate" not in text
    assert "scikit-learn  1.9.1  (installed now: 1.9.2)" in text
    assert "git commit  0123456789abcdef" in text


def test_model_card_has_params_data_version_metrics_and_the_data_sets_card() -> None:
    lineage = lineage_of()
    text = render_model_card(lineage, METRICS, data_card({"data": {"card": CARD}}), "toy", {"model": {"name": "hgb"}})
    assert text.startswith("# Model card: toy-model\n")
    for expected in (
        "| `model.name` | `hgb` |",
        "| train | `s3://bucket/adult.data` | `etag abc-1` |",
        "| **test** | 0.1300 | 0.9123 |",
        "Per slice of `sex`, test split",
        "| Female | 10 | 0.1000 |",
        "`reports/evaluate/missing.json`: not in the workspace (run `dvc pull`)",
        "Teaching only.",
        "- Made up.",
        "- Attribution: Someone (2024). Toy census.",
        "| scikit-learn | 1.9.1 |",
        "md5 `m1`",
        "`0123456789abcdef`",
    ):
        assert expected in text, expected
    assert "\n\n\n" not in text


def test_model_card_without_a_data_card_says_where_to_add_one() -> None:
    text = render_model_card(lineage_of(), {}, data_card({"data": {}}), "toy", {})
    assert "write `conf/datasets/<name>.card.yaml` beside the data set's description" in text


def test_bad_data_card_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^card\.license: Field required \(the data set's card file\)"):
        data_card({"data": {"card": {k: v for k, v in CARD.items() if k != "license"}}})


def test_model_card_counts_the_rows_left_out_for_want_of_a_label() -> None:
    assert "without a label" not in render_model_card(lineage_of(), {}, None, "toy", {})
    text = render_model_card(lineage_of(), {}, None, "toy", {}, dropped_unlabelled=9)
    assert "- Rows without a label, left out by prepare: 9" in text


def test_a_part_dvc_yaml_no_longer_defines_is_no_part_of_the_chain() -> None:
    """dvc.lock keeps `ingest@test` after the test part is dropped; the model card must not list it."""
    dvc_yaml = {"stages": {"ingest": {"foreach": "${data.source}", "do": {}}, "prepare": {}, "train": {}}}
    defined = defined_stages(dvc_yaml, {"data": {"source": {"train": "s3://bucket/adult.data"}}})
    assert defined == {"ingest@train", "prepare", "train"}
    chain, sources = trace(LOCK, "models/model.joblib", {"train": SOURCES["train"]}, defined)
    assert [stage.name for stage in chain] == ["ingest@train", "prepare", "train"]
    assert [source.part for source in sources] == ["train"]
    everything, _ = trace(LOCK, "models/model.joblib", SOURCES)
    assert "ingest@test" in [stage.name for stage in everything]


@pytest.mark.parametrize(
    ("cmd", "found"),
    [
        ("python -m census_income.stages environment --lock uv.lock --out reports/environment.json", True),
        ("python -m census_income.stages.environment --lock uv.lock --out reports/environment.json", True),
        ("python -m census_income.stages environments --out reports/environment.json", False),
        ("python -m census_income.stages train --out reports/environment.json", False),
    ],
)
def test_the_environment_record_is_found_by_the_stage_command_in_either_form(cmd: str, found: bool) -> None:
    stage = LockedStage("environment", cmd, (), {}, (Hashed("reports/environment.json", "md5", "e1"),))
    assert environment_output([stage]) == ("reports/environment.json" if found else None)
