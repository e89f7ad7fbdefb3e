"""Smoke test of the large-data option at small N: `data=adult_large` through the real dvc."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run
from tests.e2e.project import Project

pytestmark = pytest.mark.slow


def test_adult_large_generates_and_flows_through_the_data_stages(fresh_project: Path) -> None:
    """Generate, ingest, prepare and split at N=6000 (the stages after split are the same
    code paths the default pipeline's tests cover)."""
    # params.yaml of this copy only: with overrides, `census-income params` prints the composition
    (fresh_project / "params.yaml").write_text(
        run(["census-income", "params", "data=adult_large", "data.rows=6000"], fresh_project).stdout
    )
    run(["dvc", "repro", "--quiet", "split"], fresh_project)

    stages = run(["dvc", "stage", "list", "--name-only"], fresh_project).stdout.split()
    assert {"generate@train", "generate@test"} <= set(stages)
    import pyarrow.parquet as pq

    rows = sum(
        pq.ParquetFile(fresh_project / f"data/generated/{p}.parquet").metadata.num_rows for p in ("train", "test")
    )
    assert rows == 6000
    gates = json.loads((fresh_project / "reports/gates/split.json").read_text())
    assert gates and all(suite["success"] for suite in gates.values())
    import pandas as pd

    splits = {p: pd.read_parquet(fresh_project / f"data/split/{p}.parquet") for p in ("train", "validation", "test")}
    assert sum(len(frame) for frame in splits.values()) == 6000
    assert 0.15 < splits["train"]["income"].mean() < 0.35
    assert "data/generated/train.parquet" in Project(fresh_project).outs()
