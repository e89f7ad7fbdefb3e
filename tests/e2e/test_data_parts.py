"""A stage reads exactly the parts its params declare, never whatever `data/raw/` still holds.

Switching the data set, or dropping a part, leaves the old part's raw file in the workspace
(no stage owns it any more). Before, prepare read every file there and mixed it in silently.
Both ways a user changes the configuration are driven: `census-income params` (its
composition as params.yaml) + `dvc repro`, and `dvc exp run -S`. Each run stops at `split`,
whose row counts are checked against the source files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run

pytestmark = pytest.mark.slow

ADULT_TRAIN = "src/census_income/data/adult/adult.data"
ADULT_TEST = "src/census_income/data/adult/adult.test"
SMALL = {"train": (ADULT_TRAIN, 8000), "test": (ADULT_TEST, 4000)}  # part -> (taken from, rows)


def data_rows(path: Path) -> int:
    """Rows of an Adult-format file: non-blank lines that are not `|` comments."""
    return sum(1 for line in path.read_text().splitlines() if line.strip() and not line.startswith("|"))


def add_small_data_set(project: Path) -> None:
    """`data=small`: the Adult description, two short parts of the bundled files, committed."""
    for part, (origin, rows) in SMALL.items():
        lines = [line for line in (project / origin).read_text().splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith("|")][:rows]
        (project / "sources").mkdir(exist_ok=True)
        (project / f"sources/small-{part}.csv").write_text("\n".join(lines) + "\n")
    (project / "conf/data/small.yaml").write_text(
        "name: small\n"
        "source:\n  train: sources/small-train.csv\n  test: sources/small-test.csv\n"
        "generate: {}\n"
        "spec: conf/datasets/adult.yaml\n"
    )
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "a small data set"], project)


def split_rows(project: Path) -> int:
    return sum(len(pd.read_parquet(part)) for part in (project / "data/split").glob("*.parquet"))


def params_then_repro(project: Path, *overrides: str) -> None:
    """The composition with `overrides` (what `census-income params` previews) as params.yaml, then repro."""
    composed = run([sys.executable, "-m", "census_income.cli", "params", *overrides], project).stdout
    (project / "params.yaml").write_text(composed)
    run(["dvc", "repro", "--quiet", "split"], project)


def exp_run(project: Path, *overrides: str) -> None:
    sets = [arg for override in overrides for arg in ("-S", override)]
    run(["dvc", "exp", "run", "--quiet", "split", *sets], project)


def test_params_and_repro_read_only_the_declared_parts(reproduced_project: Path) -> None:
    project = reproduced_project
    add_small_data_set(project)
    params_then_repro(project, "data=small", "split=stratified")
    assert split_rows(project) == 8000 + 4000
    # the README's own example: drop the test part; its old raw file stays behind, unread
    params_then_repro(project, "data=small", "split=stratified", "~data.source.test")
    assert (project / "data/raw/test.parquet").exists()
    assert split_rows(project) == 8000
    params_then_repro(project, "split=stratified", "~data.source.test")
    assert split_rows(project) == data_rows(project / ADULT_TRAIN) == 32561


def test_exp_run_reads_only_the_declared_parts(reproduced_project: Path) -> None:
    project = reproduced_project
    add_small_data_set(project)
    # switch from Adult (whose two raw parts are in the workspace) to one part of another set
    exp_run(project, "data=small", "split=stratified", "~data.source.test")
    assert (project / "data/raw/test.parquet").exists()
    assert split_rows(project) == 8000
    exp_run(project, "data=small", "split=stratified")
    assert split_rows(project) == 8000 + 4000
    exp_run(project, "split=stratified", "~data.source.test")
    assert split_rows(project) == data_rows(project / ADULT_TRAIN)
