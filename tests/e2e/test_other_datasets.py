"""Data sets other than Adult, end to end, each configured by `census-income data draft` alone.

Both are built at test time from tables scikit-learn ships (nothing is downloaded):
- breast cancer (569 rows, 30 decimal columns, a text label), through docs/data.md's steps,
  run word for word;
- a mixed table derived from the diabetes table: text categories, a whole-number column with
  missing values, decimals with missing values, a text label with a few rows unlabelled.
Then the bad inputs the contract must stop, each with one line and `dvc.lock` unchanged.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO_ROOT, run

pytestmark = pytest.mark.slow

PAGE = REPO_ROOT / "docs" / "data.md"
MIXED = "sources/diabetes mixed.csv"  # a space in the path, as files from people have


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def mixed_table() -> pd.DataFrame:
    """scikit-learn's diabetes table in its own units, made mixed: `sex` and `bp_band` as text,
    `age` whole years with 3% missing, `bmi` decimal with 5% missing, a text label (progression
    above 140: `worse`) with 2% missing. Missing values are written `NA`."""
    from sklearn.datasets import load_diabetes

    table = load_diabetes(as_frame=True, scaled=False).frame
    rng = np.random.default_rng(0)
    out = pd.DataFrame(
        {
            "age": table["age"].astype(int).astype(object),
            "sex": np.where(table["sex"] == 1, "female", "male"),
            "bmi": table["bmi"].astype(object),
            "bp": table["bp"],
            **{f"s{i}": table[f"s{i}"] for i in range(1, 7)},
            "bp_band": pd.cut(table["bp"], [0, 80, 95, 200], labels=["low", "normal", "high"]).astype(str),
            "progression": np.where(table["target"] > 140, "worse", "stable").astype(object),
        }
    )
    for column, share in (("age", 0.03), ("bmi", 0.05), ("progression", 0.02)):
        out.loc[rng.random(len(out)) < share, column] = "NA"
    return out


def write_mixed(table: pd.DataFrame, path: Path) -> None:
    """As a European spreadsheet saves it: `;` between fields, a decimal comma."""
    table.map(lambda v: str(v).replace(".", ",") if isinstance(v, float) else v).to_csv(path, sep=";", index=False)


def cli(project: Path, *args: str) -> str:
    return run([sys.executable, "-m", "census_income.cli", *args], project).stdout


@dataclass(frozen=True)
class Ran:
    project: Path
    experiments: dict[str, dict]  # name -> `dvc exp show --json` data
    mixed: pd.DataFrame


@pytest.fixture(scope="module")
def ran(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    import shutil

    project = tmp_path_factory.mktemp("datasets") / "project"
    shutil.copytree(reproduced_template, project, symlinks=True)
    for block in bash_blocks(PAGE.read_text(encoding="utf-8")):
        run(["bash", "-euo", "pipefail", "-c", block], project)
    mixed = mixed_table()
    write_mixed(mixed, project / MIXED)
    cli(project, "data", "draft", MIXED, "--label", "progression")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "data: a mixed table"], project)
    run(["dvc", "exp", "run", "--quiet", "-n", "mixed", "-S", "data=diabetes_mixed", "-S", "split=stratified"], project)
    shown = json.loads(run(["dvc", "exp", "show", "--all-commits", "--json", "--no-pager"], project).stdout)
    experiments = {
        rev["name"]: rev["data"]
        for baseline in shown
        for experiment in baseline.get("experiments") or []
        for rev in experiment["revs"]
    }
    return Ran(project, experiments, mixed)


def metrics(data: dict) -> dict:
    return data["metrics"]["reports/evaluate/metrics.json"]["data"]


def test_the_page_has_the_steps() -> None:
    blocks = "\n".join(bash_blocks(PAGE.read_text(encoding="utf-8")))
    for step in ("census-income data draft", "git commit", "dvc exp run", "dvc exp show"):
        assert step in blocks


def test_breast_cancer_runs_as_the_page_says(ran: Ran) -> None:
    data = ran.experiments["breast-cancer"]
    assert data["params"]["params.yaml"]["data"]["data"]["name"] == "breast_cancer"
    assert metrics(data)["validation"]["roc_auc"] > 0.95
    description = (ran.project / "conf/datasets/breast_cancer.yaml").read_text()
    assert "decimal: [mean_radius," in description


def test_the_mixed_table_keeps_its_types_and_drops_unlabelled_rows(ran: Ran) -> None:
    project = ran.project
    assert metrics(ran.experiments["mixed"])["validation"]["roc_auc"] > 0.6
    # the workspace holds the last experiment's outputs: the mixed table's
    table = pd.read_parquet(project / "data/prepared/table.parquet")
    dtypes = {c: str(table[c].dtype) for c in ("age", "bmi", "bp", "sex", "progression")}
    assert dtypes == {"age": "Int64", "bmi": "float64", "bp": "float64", "sex": "category", "progression": "int8"}
    assert (
        table["age"].isna().sum()
        == (ran.mixed["age"] == "NA").sum() - ((ran.mixed["age"] == "NA") & (ran.mixed["progression"] == "NA")).sum()
    )
    unlabelled = int((ran.mixed["progression"] == "NA").sum())
    assert unlabelled > 0
    split_rows = sum(len(pd.read_parquet(p)) for p in (project / "data/split").glob("*.parquet"))
    assert split_rows == len(table) == len(ran.mixed) - unlabelled
    summary = json.loads((project / "reports/gates/prepare.json").read_text())
    assert summary["label-missing-dropped"]["rows"] == unlabelled
    drafted = yaml.safe_load((project / "conf/datasets/diabetes_mixed.yaml").read_text())["format"]
    assert (drafted["delimiter"], drafted["decimal"]) == (";", ",")
    assert table["bmi"].dropna().between(18, 43).all()  # decimal commas read as numbers (kg/m²)


def corrupt_age_decimal(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(age=table["age"].mask(table.index == 7, "40.5"))


def corrupt_bmi_missing(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(bmi=table["bmi"].mask(table.index % 3 == 0, "NA"))


def corrupt_label_value(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(progression=table["progression"].mask(table.index == 11, "unchanged"))


def corrupt_column_missing(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["s6"])


@pytest.mark.parametrize(
    ("corrupt", "named"),
    [
        pytest.param(
            corrupt_age_decimal, r"match_regex column=age .*\[\"40\.5\"\] at rows \[7\]", id="decimal-in-integer"
        ),
        pytest.param(corrupt_bmi_missing, r"not_be_in_set column=bmi", id="too-many-missing"),
        pytest.param(corrupt_label_value, r"column=progression .*\[\"unchanged\"\] at rows \[11\]", id="label-value"),
        pytest.param(corrupt_column_missing, r"expect_table_columns_to_match_set", id="column-missing"),
    ],
)
def test_bad_input_stops_ingest_with_one_line_and_dvc_lock_unchanged(ran: Ran, corrupt, named: str) -> None:
    project = ran.project
    composed = cli(project, "params", "data=diabetes_mixed", "split=stratified")
    (project / "params.yaml").write_text(composed)
    run(["dvc", "repro", "--quiet"], project)  # the experiment's results, from DVC's run cache
    lock = (project / "dvc.lock").read_bytes()
    source = project / MIXED
    good = source.read_bytes()
    try:
        write_mixed(corrupt(ran.mixed), source)
        failed = run(["dvc", "repro", "--quiet"], project, check=False)
        assert failed.returncode != 0
        errors = [line for line in failed.stderr.splitlines() if " ERROR " in line]
        assert errors and "gate ingest-train/raw failed" in errors[0], failed.stderr
        assert re.search(named, failed.stderr), failed.stderr
        assert (project / "dvc.lock").read_bytes() == lock
    finally:
        source.write_bytes(good)
