"""The CLI's one mapping from error to exit status, and commands whose failure is an error, not a code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from census_income import errors
from census_income.cli import EXIT_CODES, exit_code, main

# the documented statuses: 2 for bad usage or input and for a sweep that gave up waiting, 1 for a failure
DOCUMENTED = {
    errors.InputError: 2,
    errors.ConfigError: 2,
    errors.SourceError: 2,
    errors.SweepTimeoutError: 2,
    errors.PipelineError: 1,
    errors.GateError: 1,
    errors.StaleLockError: 1,
    errors.LockMismatchError: 1,
    errors.RegistryError: 1,
    errors.GitError: 1,
    errors.DvcError: 1,
    errors.ExperimentError: 1,
    errors.RequestError: 2,  # an HTTP request `serve` cannot score (its HTTP status is its own)
    IsADirectoryError: 1,
}


@pytest.mark.parametrize(("kind", "status"), DOCUMENTED.items(), ids=lambda value: getattr(value, "__name__", ""))
def test_each_error_gives_its_documented_exit_status(kind: type[Exception], status: int) -> None:
    assert exit_code(kind("x")) == status


def test_every_error_class_has_a_documented_status() -> None:
    defined = {value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, Exception)}
    assert defined <= set(DOCUMENTED), f"no documented status: {defined - set(DOCUMENTED)}"
    assert set(EXIT_CODES) <= {*defined, OSError}


def test_a_subclass_is_mapped_before_its_parent() -> None:
    kinds = list(EXIT_CODES)
    for i, kind in enumerate(kinds):
        assert not any(issubclass(later, kind) for later in kinds[i + 1 :]), f"{kind.__name__} hides a subclass"


def gate_summary(directory: Path, stage: str, **suites: dict[str, object]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stage}.json").write_text(json.dumps(suites), encoding="utf-8")


def test_gates_fails_in_one_line_naming_the_failed_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    gates = Path("reports/gates")
    gate_summary(gates, "prepare", prepared={"success": True, "passed": 3, "evaluated": 3})
    gate_summary(gates, "evaluate", **{"metrics-test": {"success": False, "enforced": False, "evaluated": 1}})
    assert main(["gates"]) == 0  # the quality bar is recorded by evaluate, not enforced here
    assert capsys.readouterr().err == ""

    gate_summary(gates, "split", parts={"success": False, "passed": 1, "evaluated": 2})
    assert main(["gates"]) == 1
    out, err = capsys.readouterr()
    assert "reports/gates/split.json" in out and "failed: parts" in out
    assert err == "census-income gates: failed gates (reports/gates/split.json: parts)\n"


def test_no_gate_summaries_is_said_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["gates"]) == 0
    assert capsys.readouterr().out.startswith("no gate summaries in reports/gates/ yet")
