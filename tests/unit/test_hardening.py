"""Hardening of outputs, model loading and errors (issue 20): each test fails on the code before it.

Outputs: a file never replaces a directory or a fifo; the files of one run appear together or
not at all, and a killed run's folder is cleaned (or finished) by the next. Models: the bytes are
read once, from a regular file, and unpickled from memory. Errors: one line, exit 2 for bad input.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from census_income.cli import main
from census_income.config import read_params
from census_income.contracts.gate import KEPT_CHARS, KEPT_VALUES, sampled
from census_income.data.spec import SourceFormat
from census_income.errors import ConfigError, InputError, PipelineError, SourceError
from census_income.io import RunFiles, atomic_path, dump_model, load_model, load_model_bytes, read_source


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (hidden ones too) with its content's md5 (`dir` for folders)."""
    return {
        p.relative_to(folder).as_posix(): "dir" if p.is_dir() else hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if not p.is_fifo()
    }


# ------------------------------------------------------------------ outputs
def test_a_file_output_never_replaces_a_directory(tmp_path: Path) -> None:
    victim = tmp_path / "notebooks"
    victim.mkdir()
    (victim / "explore.ipynb").write_text("{}")
    before = snapshot(tmp_path)
    refused = pytest.raises(InputError, match=r"notebooks: is a directory, not a file; refusing to replace it")
    with refused, atomic_path(victim) as tmp:
        tmp.write_text("predictions")
    assert snapshot(tmp_path) == before


def test_an_output_directory_still_replaces_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "site"
    target.mkdir()
    (target / "old.html").write_text("old")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.html").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    assert [p.name for p in target.iterdir()] == ["new.html"]


def test_a_fifo_or_a_path_under_a_file_is_refused_before_writing(tmp_path: Path) -> None:
    fifo = tmp_path / "p.parquet"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"p\.parquet: not a regular file; refusing to replace it"):
        RunFiles([fifo])
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"file/out/p\.parquet: .*file is not a directory"):
        RunFiles([tmp_path / "file" / "out" / "p.parquet"])
    assert fifo.is_fifo()


def test_run_files_appear_together_and_drop_stale_ones(tmp_path: Path) -> None:
    names = [tmp_path / "p.parquet", tmp_path / "p.rejected.parquet", tmp_path / "p.drift.json"]
    for path in names:
        path.write_text("old run")
    before = snapshot(tmp_path)
    full = pytest.raises(PipelineError, match=r"p\.parquet: cannot write: No space left on device; nothing written$")
    with full, RunFiles(names) as files:
        files.path(names[0]).write_text("new")
        raise OSError(28, "No space left on device")  # fails half way: nothing changes
    assert snapshot(tmp_path) == before

    with RunFiles(names) as files:
        files.path(names[0]).write_text("new")
        files.path(names[2]).write_text("new drift")
    # the rejected rows of the old run are gone: they do not belong to the new predictions
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.drift.json", "p.parquet"]
    assert names[0].read_text() == "new"


def test_a_killed_runs_folder_is_removed_or_finished_by_the_next(tmp_path: Path) -> None:
    names = [tmp_path / "p.parquet", tmp_path / "p.drift.json"]
    names[1].write_text("old drift")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    pid = int(dead.stdout)
    # killed while writing: its folder is dropped
    unfinished = tmp_path / f".p.parquet.run-{pid}-a.tmp"
    unfinished.mkdir()
    (unfinished / "p.parquet").write_text("half")
    # killed while moving its files in (one moved already): the next run finishes the move
    finishing = tmp_path / f".p.parquet.run-{pid}-b.tmp"
    finishing.mkdir()
    (finishing / "p.drift.json").write_text("killed run's drift")
    (finishing / "complete").write_text(json.dumps({"p.parquet": "put", "p.drift.json": "put"}))
    names[0].write_text("killed run's predictions")
    # a live run's folder (this process) is left alone
    live = tmp_path / f".p.parquet.run-{os.getppid()}-c.tmp"
    live.mkdir()
    with RunFiles(names) as files:
        assert not unfinished.exists() and not finishing.exists()
        assert names[1].read_text() == "killed run's drift"
        assert live.exists()
        files.path(names[0]).write_text("new")
        files.path(names[1]).write_text("new drift")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "p.drift.json", "p.parquet"]


# ------------------------------------------------------------------ model trust
def test_a_model_is_read_once_from_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    dump_model({"weights": [1]}, path)
    recorded = hashlib.md5(path.read_bytes()).hexdigest()
    pipe = tmp_path / "pipe.joblib"
    os.mkfifo(pipe)  # a pipe could serve the recorded bytes to the check and others to the load
    with pytest.raises(PipelineError, match=r"pipe\.joblib: model file is not a regular file"):
        load_model(pipe, recorded)
    with pytest.raises(PipelineError, match=r"model file is not a regular file"):
        load_model(tmp_path, recorded)
    assert load_model(path, recorded) == {"weights": [1]}


def test_model_bytes_that_are_no_model_are_one_line(tmp_path: Path) -> None:
    data = b'{"python": "not a pickle"}'
    with pytest.raises(PipelineError, match=r"^reports/environment\.json: not a model file \(\w+\)$"):
        load_model_bytes(data, hashlib.md5(data).hexdigest(), "reports/environment.json")


# ------------------------------------------------------------------ bounded logs
def test_kept_gate_results_hold_a_sample_never_the_raw_input() -> None:
    huge = "x" * 10_000_000
    result = {"partial_unexpected_list": [huge] * 100, "observed_value": huge, "unexpected_count": 100}
    kept = sampled(result)
    assert len(kept["partial_unexpected_list"]) == KEPT_VALUES
    assert all(len(v) == KEPT_CHARS for v in kept["partial_unexpected_list"])
    assert len(json.dumps(kept)) < 10_000
    assert kept["unexpected_count"] == 100


# ------------------------------------------------------------------ one line for every error
def test_an_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown text encoding 'klingon'"):
        SourceFormat(columns=["a", "b"], encoding="klingon")


def test_params_that_are_not_utf8_are_one_line(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_bytes(b"data:\n  name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"params\.yaml: not UTF-8 text at byte 17$"):
        read_params(params)


def test_sources_name_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SourceError, match=r"is a directory, not a file$"):
        read_source(str(tmp_path))
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(SourceError, match=r"cannot connect \(connection refused"):
        read_source(f"http://127.0.0.1:{port}/rows.csv")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SourceError, match=r"^source s3://bucket/rows\.csv: no credentials"):
        read_source("s3://bucket/rows.csv")


def test_a_bad_hydra_override_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert main(["params", "bogus=1", "-o", str(tmp_path / "params.yaml")]) == 2
    err = capsys.readouterr().err
    assert err == "census-income params: conf: Could not override 'bogus'. (Key 'bogus' is not in struct)\n"
    assert not (tmp_path / "params.yaml").exists()


def test_an_unforeseen_error_is_one_line_unless_debugging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "pipeline.jsonl").mkdir()  # the run log is a directory: reading it fails
    monkeypatch.setenv("CENSUS_INCOME_LOG_DIR", str(tmp_path / "logs"))
    assert main(["runs"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("census-income runs: Is a directory")
    monkeypatch.setenv("CENSUS_INCOME_DEBUG", "1")
    with pytest.raises(IsADirectoryError):
        main(["runs"])


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    left = tmp_path / f".model.joblib.{int(dead.stdout)}-x1.tmp"  # what `kill -9` of a stage leaves
    left.mkdir()
    (left / "model.joblib").write_bytes(b"half")
    live = tmp_path / f".model.joblib.{os.getppid()}-x2.tmp"  # a writer still at work
    live.mkdir()
    with atomic_path(tmp_path / "model.joblib") as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "model.joblib"]
