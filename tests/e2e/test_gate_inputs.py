"""What a stage reads: a DVC output pinned by `dvc.lock` gets a schema check, anything else the
full contract. Real `dvc repro`, the real stage modules, a reproduced copy of the project.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from census_income.repo.lineage import dvc_md5, matches_lock
from tests.conftest import run

pytestmark = pytest.mark.slow

# the reading side of every stage that reads another stage's output, and the suite it runs there
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


def test_an_input_changed_outside_dvc_gets_the_full_contract(reproduced_project: Path) -> None:
    """A prepared table edited by hand (dtypes intact, so a schema check would pass) and the split
    stage run by itself: the full prepared contract runs, names the column, and nothing is written."""
    project = reproduced_project
    table_path = project / "data/prepared/table.parquet"
    table = pd.read_parquet(table_path)
    table.loc[table.index[::500], "age"] = 200
    table.to_parquet(table_path, index=False)
    split_before = {p.name: p.read_bytes() for p in (project / "data/split").iterdir()}

    result = run(
        [
            sys.executable,
            "-m",
            "census_income.stages.split",
            "--prepared",
            "data/prepared/table.parquet",
            "--out",
            "data/split",
            "--gates",
            "reports/gates/split.json",
        ],
        project,
        check=False,
    )

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "gate split/prepared failed" in output
    assert "expect_column_values_to_be_between column=age" in output
    assert {p.name: p.read_bytes() for p in (project / "data/split").iterdir()} == split_before
