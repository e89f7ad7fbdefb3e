"""runs: the stage run log read back as a table, and the `census-income runs` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from census_income.cli import main
from census_income.reporting.runs import COLUMNS, format_runs, read_runs
from tests.conftest import project_env, run


def event(stage: str, status: str, minute: int, **values: Any) -> dict[str, Any]:
    """One line as the stage harness writes it."""
    return {
        "time": f"2026-11-23T07:{minute:02d}:05.123+00:00",
        "pid": 100 + minute,
        "stage": stage,
        "status": status,
        "rows_in": 32561,
        "rows_out": 0,
        "gate": "none",
        "gate_seconds": 0.0,
        **values,
    }


EVENTS = [
    event("ingest", "start", 1),
    event("ingest", "ok", 2, wall_seconds=6.3403, startup=0.99, peak_memory_mb=306.0117, error=None),
    event("train", "start", 3),
    event(
        "train",
        "failed",
        4,
        wall_seconds=1.5,
        error="gate train/features-train failed\n  - expect_column_to_exist column=age\n  full result: x.json",
    ),
]


def write_log(directory: Path, lines: list[str]) -> Path:
    path = directory / "pipeline.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_read_runs_drops_start_events_and_bad_lines(tmp_path: Path) -> None:
    lines = [json.dumps(e) for e in EVENTS]
    lines[1:1] = ["{truncated by a kill", "", "[1, 2]", '"just a string"']
    runs = read_runs(write_log(tmp_path, lines))
    assert [(r["stage"], r["status"]) for r in runs] == [("ingest", "ok"), ("train", "failed")]


def test_read_runs_without_a_log(tmp_path: Path) -> None:
    assert read_runs(tmp_path / "pipeline.jsonl") == []


def test_format_runs_table() -> None:
    table = format_runs([e for e in EVENTS if e["status"] != "start"], last=20)
    header, *rows = table.splitlines()
    assert header.split() == list(COLUMNS)
    assert len(rows) == 2
    ingest = rows[0].split()
    assert ingest[:5] == ["07:02:05", "ingest", "ok", "6.34", "0.99"]  # time of day, floats to 2 places
    assert "306.01" in ingest and "-" in ingest  # missing values shown as `-`
    # a multi-line error (a gate report) stays on its row, cut to its first line
    assert rows[1].split()[:3] == ["07:04:05", "train", "failed"]
    assert rows[1].endswith("  gate train/features-train failed")
    # columns line up: every row's stage starts where the header's does
    assert all(row.index(" " + row.split()[1]) + 1 == header.index("stage") for row in rows)


def test_format_runs_keeps_the_last_n() -> None:
    events = [event(f"stage{i}", "ok", i) for i in range(5)]
    rows = format_runs(events, last=2).splitlines()[1:]
    assert [row.split()[1] for row in rows] == ["stage3", "stage4"]


def test_runs_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CENSUS_INCOME_LOG_DIR", str(tmp_path / "logs"))
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.startswith("no runs logged yet in ")

    write_log(tmp_path / "logs", [json.dumps(e) for e in EVENTS])
    assert main(["runs", "--last", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].split()[1:3] == ["train", "failed"]


def test_runs_console_script(tmp_path: Path) -> None:
    """The installed `census-income` entry point, as a user runs it."""
    env = project_env(tmp_path) | {"CENSUS_INCOME_LOG_DIR": str(tmp_path / "logs")}
    write_log(tmp_path / "logs", [json.dumps(e) for e in EVENTS])
    result = run(["census-income", "runs", "-n", "5"], tmp_path, env=env)
    assert result.stdout.splitlines()[0].split() == list(COLUMNS)
    assert len(result.stdout.splitlines()) == 3
