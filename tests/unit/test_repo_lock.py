"""The one model of `dvc.lock`, on small lock mappings: every reader sees the same stages, hashes and params."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from census_income.errors import PipelineError
from census_income.repo.lineage import recorded_md5
from census_income.repo.lock import LOADER, Hashed, flatten, hashed, locked_stages, outputs, overlaps, parse_lock
from census_income.repo.staleness import stale_stages
from census_income.reporting.report_text import changed_stages

LOCK: dict[str, Any] = {
    "schema": "2.0",
    "stages": {
        "ingest@train": {
            "cmd": ["python -m ingest", "--part train"],
            "deps": [
                {"path": "s3://bucket/adult.data", "etag": "e1", "version_id": "v1"},
                {"path": "https://example.org/adult.test", "checksum": "c1"},
            ],
            "params": {"params.yaml": {"data.format": {"delimiter": ",", "header": False}}},
            "outs": [{"path": "data/raw", "hash": "md5", "md5": "r1.dir", "size": 10, "nfiles": 2}],
        },
        "train": {
            "cmd": "python -m train",
            "deps": [{"path": "data/raw/train.parquet", "hash": "md5", "md5": "t1", "size": 5}],
            "params": {
                "params.yaml": {"model": {"name": "hgb", "max_iter": 3, "extra": {}}, "seed": 42},
                "conf/other.yaml": {"x": {"y": 1}},
            },
            "outs": [{"path": "models/model.joblib", "hash": "md5", "md5": "m1", "size": 7}],
        },
    },
}


def test_hashes_are_named_one_way_whatever_the_kind_of_dependency() -> None:
    assert hashed({"path": "a", "md5": "x"}) == Hashed("a", "md5", "x")
    assert hashed({"path": "s3://b/a", "etag": "e", "version_id": "v"}).hash == "etag e"
    assert hashed({"path": "https://h/a", "checksum": "c"}).hash == "checksum c"
    assert hashed({"path": "gone"}).hash == ""
    assert hashed({"path": "s3://b/a", "etag": "e"}).md5 is None
    assert hashed({"path": "a", "md5": "x.dir", "size": 3}) == Hashed("a", "md5", "x.dir", 3)


def test_stages_keep_the_lock_order_their_command_and_params_as_declared() -> None:
    stages = locked_stages(LOCK)
    assert list(stages) == ["ingest@train", "train"]
    ingest, train = stages.values()
    assert ingest.cmd == "python -m ingest --part train"
    assert [dep.hash for dep in ingest.deps] == ["etag e1", "checksum c1"]
    assert ingest.params == {"data.format": {"delimiter": ",", "header": False}}
    assert train.params == {
        "model": {"name": "hgb", "max_iter": 3, "extra": {}},
        "seed": 42,
        "conf/other.yaml:x": {"y": 1},
    }
    assert train.flat_params == {"model.name": "hgb", "model.max_iter": 3, "seed": 42, "conf/other.yaml:x.y": 1}


def test_flatten_goes_down_to_the_leaves() -> None:
    assert flatten({"a": {"b": 1, "c": [1, {"d": 2}]}, "e": {}, "f": None}) == {
        "a.b": 1,
        "a.c": [1, {"d": 2}],
        "f": None,
    }
    assert flatten({"x": 1}, prefix="p:") == {"p:x": 1}


def test_a_lock_with_nothing_in_it_has_no_stages() -> None:
    assert parse_lock("") == {} == parse_lock("- a list\n")
    assert locked_stages({}) == {} == locked_stages({"stages": None})
    assert locked_stages({"stages": {"s": {}}})["s"].outs == ()


def test_the_lock_reads_as_pyyaml_safe_load_reads_it_through_libyaml_when_there() -> None:
    """libyaml is 8x faster on a 40 KB lock; the values it resolves (numbers, booleans, dates, null) must not change."""
    text = (
        "schema: '2.0'\nstages:\n  train:\n    cmd: python -m train\n    params:\n      params.yaml:\n"
        "        a: 1e3\n        b: 0o17\n        c: yes\n        d: 2026-11-30\n        e: ~\n        f: 1.10\n"
        "    outs:\n    - path: m\n      md5: 0123e456\n      size: 12\n"
    )
    assert parse_lock(text) == yaml.safe_load(text)
    assert LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


def test_outputs_and_overlapping_paths() -> None:
    assert [out.path for out in outputs(LOCK)] == ["data/raw", "models/model.joblib"]
    assert overlaps("data/raw/train.parquet", "data/raw")
    assert overlaps("data/raw", "data/raw/train.parquet")
    assert not overlaps("data/raw2", "data/raw")


def test_the_recorded_md5_is_that_of_a_project_file_never_of_another_hash() -> None:
    assert recorded_md5("models/model.joblib", LOCK) == "m1"
    lock = {"stages": {"get": {"outs": [{"path": "data/remote.csv", "etag": "e9"}]}}}
    with pytest.raises(PipelineError, match=r"^data/remote.csv: no md5 recorded in dvc.lock"):
        recorded_md5("data/remote.csv", lock)


def test_the_report_sees_a_changed_external_source_as_the_lineage_names_it() -> None:
    """A new etag of a cloud source reruns ingest: the report names that dep, by the hash the lineage prints."""
    head = {"stages": {**LOCK["stages"], "ingest@train": {**LOCK["stages"]["ingest@train"]}}}
    head["stages"]["ingest@train"]["deps"] = [
        {"path": "s3://bucket/adult.data", "etag": "e2", "version_id": "v2"},
        {"path": "https://example.org/adult.test", "checksum": "c1"},
    ]
    changes = changed_stages(LOCK, head)
    assert [(c.name, c.what) for c in changes] == [("ingest@train", ("deps: `s3://bucket/adult.data`",))]


def test_staleness_forgives_a_missing_file_inside_a_produced_folder() -> None:
    status = {"train": [{"changed deps": {"data/raw/train.parquet": "deleted"}}]}
    assert stale_stages(status, LOCK) == []
    status = {"train": [{"changed deps": {"data/other.parquet": "deleted"}}]}
    assert stale_stages(status, LOCK) == ["dependency data/other.parquet deleted (stage train)"]
