"""`census-income predict` end to end in a reproduced copy: the input contract refuses bad files
(or skips bad rows), drift against the training rows is flagged and can stop a batch, and a
refused batch writes nothing. The model is the workspace's file (a path is one way to name it;
versions and stages are tested in test_registry.py)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import project_env, run

pytestmark = pytest.mark.slow

MODEL = "models/model.joblib"
TEST_SOURCE = "src/census_income/data/adult/adult.test"


@pytest.fixture(scope="module")
def project(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy for the module: scoring only reads it (and logs into it)."""
    dest = tmp_path_factory.mktemp("scoring") / "project"
    shutil.copytree(reproduced_template, dest, symlinks=True)
    return dest


def data_lines(project: Path) -> list[str]:
    """The rows of the test source as delivered (its comment line left out)."""
    text = (project / TEST_SOURCE).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("|")]


def write_rows(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def with_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = f" {value}"
    return ",".join(fields)


def predict(project: Path, source: Path | str, out: Path, *args: str) -> tuple[int, str]:
    result = run(
        [sys.executable, "-m", "census_income.cli", "predict", str(source), "-o", str(out), "--model", MODEL, *args],
        project,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def written(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".csv"))


def test_the_test_file_is_scored_without_drift(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "predictions.parquet"
    code, output = predict(project, TEST_SOURCE, out, "--fail-on-drift")
    assert code == 0, output
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["row", "score", "label", "model_version", "input_md5"]
    assert list(scored["row"]) == list(range(len(data_lines(project))))
    assert scored["score"].between(0, 1).all()
    assert set(scored["model_version"].astype(str)) == {MODEL}
    assert set(scored["input_md5"].astype(str)) == {hashlib.md5((project / TEST_SOURCE).read_bytes()).hexdigest()}
    drift = json.loads((tmp_path / "predictions.drift.json").read_text())
    assert drift["drifted"] == []
    assert drift["rows"] == len(scored)
    assert max(f["psi"] for f in drift["features"].values()) < 0.1
    assert "no drift" in output
    assert written(tmp_path) == ["predictions.drift.json", "predictions.parquet"]


def test_an_ordinary_csv_with_a_header_row_scores_like_the_delivered_file(project: Path, tmp_path: Path) -> None:
    """Adult's format has no header; a CSV whose first row names the columns is read by them."""
    lines = data_lines(project)[:400]
    plain = write_rows(tmp_path / "plain.csv", lines)
    columns = yaml.safe_load((project / "conf/datasets/adult.yaml").read_text(encoding="utf-8"))["format"]["columns"]
    headed = write_rows(tmp_path / "headed.csv", [",".join(columns), *lines])
    code, output = predict(project, plain, tmp_path / "plain.parquet")
    assert code == 0, output
    code, output = predict(project, headed, tmp_path / "headed.parquet")
    assert code == 0, output
    plain_scores, headed_scores = (
        pd.read_parquet(tmp_path / "plain.parquet"),
        pd.read_parquet(tmp_path / "headed.parquet"),
    )
    assert list(headed_scores["row"]) == list(range(400))
    assert headed_scores["score"].tolist() == plain_scores["score"].tolist()


def test_a_missing_column_refuses_the_file_with_the_report(project: Path, tmp_path: Path) -> None:
    # native-country and the label cut off: 13 columns
    source = write_rows(tmp_path / "missing.csv", [line.rsplit(",", 2)[0] for line in data_lines(project)[:300]])
    code, output = predict(project, source, tmp_path / "p.parquet")
    assert code == 2
    assert "refused (rows 0-299), nothing written" in output
    assert "expect_table_columns_to_match_set" in output
    assert "native-country" in output
    assert written(tmp_path) == []


def test_an_out_of_range_value_refuses_the_file_and_skip_scores_the_rest(project: Path, tmp_path: Path) -> None:
    lines = data_lines(project)[:500]
    lines[3] = with_field(lines[3], 0, "150")  # age
    out = tmp_path / "p.parquet"
    code, output = predict(project, write_rows(tmp_path / "old.csv", lines), out)
    assert code == 2
    assert "expect_column_values_to_be_between column=age unexpected=1" in output
    assert "e.g. [150] at rows [3]" in output
    assert written(tmp_path) == []

    lines[10] = with_field(lines[10], 1, "Astronaut")  # workclass
    source = write_rows(tmp_path / "bad.csv", lines)

    code, output = predict(project, source, out, "--on-bad-rows=skip")
    assert code == 0, output
    assert "skipped 2 bad rows" in output
    scored = pd.read_parquet(out)
    assert len(scored) == 498
    assert not scored["row"].isin([3, 10]).any()
    rejected = pd.read_parquet(tmp_path / "p.rejected.parquet")
    assert list(rejected["row"]) == [3, 10]
    assert rejected["reasons"].tolist() == [
        "age=150 outside [17.0, 90.0] (expect_column_values_to_be_between)",
        "workclass='Astronaut' not an allowed value (expect_column_values_to_be_in_set)",
    ]


def test_a_shifted_batch_is_flagged_and_stopped_by_fail_on_drift(project: Path, tmp_path: Path) -> None:
    # ages + 30, on the rows where that stays within the contract (age <= 90)
    lines = [with_field(line, 0, str(int(line.split(",")[0]) + 30)) for line in data_lines(project)]
    source = write_rows(tmp_path / "older.csv", [line for line in lines if int(line.split(",")[0]) <= 90])
    code, output = predict(project, source, tmp_path / "p.parquet")
    assert code == 0, output
    drift = json.loads((tmp_path / "p.drift.json").read_text())
    assert drift["drifted"] == ["age"]
    assert drift["features"]["age"]["psi"] > 1
    assert "drift in age" in output

    code, output = predict(project, source, tmp_path / "stopped.parquet", "--fail-on-drift")
    assert code == 1
    assert "drift against the train split" in output
    assert "age (PSI" in output
    assert not list(tmp_path.glob("stopped*"))


def test_ctrl_c_is_one_line_and_status_130_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    """Ctrl-C once ended `predict` in a KeyboardInterrupt traceback. The signal comes once predict
    has the input open (a file long enough to take it seconds)."""
    rows = write_rows(tmp_path / "rows.csv", data_lines(project) * 20)
    out = tmp_path / "p.parquet"
    process = subprocess.Popen(
        [sys.executable, "-m", "census_income.cli", "predict", str(rows), "-o", str(out), "--model", MODEL],
        cwd=project,
        env=project_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    fds = Path(f"/proc/{process.pid}/fd")
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # (a descriptor closed between listing and reading it)
            if any(fd.readlink() == rows for fd in fds.iterdir()):
                break
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.splitlines() == ["census-income predict: interrupted"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv"]
