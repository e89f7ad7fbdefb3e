"""What a stage reads: a DVC output pinned by `dvc.lock` gets a schema check, anything else the
full contract. A reproduced copy of the project (real `dvc repro`); the stage body run in-process.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from census_income.data.config import SplitStageConfig
from census_income.errors import GateError
from census_income.repo.lineage import dvc_md5, matches_lock
from census_income.stages.harness import StageRun
from census_income.stages.split import split_stage

pytestmark = pytest.mark.slow

# the reading side of every stage that reads another stage's output, and the suite it runs there
PREPARED = "data/prepared/table.parquet"
READS = {
    "prepare": ("raw-train", "raw-test"),
    "split": ("prepared",),
    "featurize": ("split-train", "split-validation", "split-test"),
    "evaluate": ("split-train", "split-validation", "split-test"),
}


def test_dvc_md5_is_the_hash_dvc_lock_records_for_every_output(
    reproduced_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(reproduced_project)
    lock = yaml.safe_load(Path("dvc.lock").read_text(encoding="utf-8"))
    outs = [out for stage in lock["stages"].values() for out in stage.get("outs", [])]
    assert any(out["md5"].endswith(".dir") for out in outs)  # folders are covered too
    for out in outs:
        assert dvc_md5(Path(out["path"])) == out["md5"], out["path"]
        assert matches_lock(out["path"], lock)
    assert matches_lock("data/split/test.parquet", lock)  # a file inside a folder output
    assert not matches_lock("params.yaml", lock)  # not an output


def test_reading_stages_check_only_the_schema_of_inputs_dvc_lock_pins(reproduced_project: Path) -> None:
    written = json.loads((reproduced_project / "reports/gates/prepare.json").read_text())["prepared"]
    for stage, suites in READS.items():
        summary = json.loads((reproduced_project / f"reports/gates/{stage}.json").read_text())
        for suite in suites:
            assert summary[suite]["pinned"] is True, (stage, suite)
            assert summary[suite]["success"] is True
    # the schema check is a small part of the contract its writer ran
    split_read = json.loads((reproduced_project / "reports/gates/split.json").read_text())["prepared"]
    assert split_read["evaluated"] < written["evaluated"]


def test_an_input_changed_outside_dvc_gets_the_full_contract(
    reproduced_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prepared table edited by hand (dtypes intact, so a schema check would pass) and the split
    stage's body run on it: the full prepared contract runs, names the column, and nothing is written."""
    monkeypatch.chdir(reproduced_project)
    table = pd.read_parquet(PREPARED)
    table.loc[table.index[::500], "age"] = 200
    table.to_parquet(PREPARED, index=False)
    split_before = {p.name: p.read_bytes() for p in Path("data/split").iterdir()}
    paths = argparse.Namespace(prepared=PREPARED, out="data/split", gates="reports/gates/split.json")

    with pytest.raises(GateError) as failed:
        split_stage(StageRun("split"), paths, SplitStageConfig.load())

    assert str(failed.value).startswith("gate split/prepared failed")
    assert "expect_column_values_to_be_between column=age" in str(failed.value)
    assert {p.name: p.read_bytes() for p in Path("data/split").iterdir()} == split_before
