"""`make data-docs`: Great Expectations Data Docs built from the kept gate results, no re-validation."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from census_income.contracts.docs import build_data_docs, main
from census_income.contracts.gate import Gate
from census_income.contracts.model_suites import predictions_suite
from census_income.errors import GateError


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Real kept results of two stages: one gate passed, one failed."""
    folder = tmp_path / "gates"
    monkeypatch.setenv("CENSUS_INCOME_GATE_DIR", str(folder))
    Gate("train", "fail").check("predictions-train", pd.DataFrame({"score": [0.1, 0.9]}), predictions_suite, 2)
    with pytest.raises(GateError):
        Gate("evaluate", "fail").check("predictions-test", pd.DataFrame({"score": [0.1, 1.7]}), predictions_suite, 2)
    return folder


def test_docs_site_shows_every_kept_result(results: Path, tmp_path: Path) -> None:
    index = build_data_docs(results, tmp_path / "site")

    assert index == tmp_path / "site" / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "train.predictions-train" in html and "evaluate.predictions-test" in html
    pages = sorted(p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("*.html"))
    validations = [p for p in pages if p.startswith("validations/")]
    assert len(validations) == 2
    failed = next((tmp_path / "site").glob("validations/evaluate/predictions-test/**/*.html")).read_text()
    assert re.search(r"Status:</span>\s*<i [^>]*></i>\s*Failed", failed)
    assert "values must be greater than or equal to" in failed
    assert "Run Name" in failed and "evaluate" in failed
    assert any(p.startswith("expectations/") for p in pages)  # the suites as they ran


def test_rebuild_shows_only_the_latest_results(results: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_data_docs(results, site)
    for kept in (results / "evaluate").glob("*.json"):
        kept.unlink()

    build_data_docs(results, site)

    assert not list(site.glob("validations/evaluate/**/*.html"))
    assert "evaluate.predictions-test" not in (site / "index.html").read_text(encoding="utf-8")


def test_command_prints_the_index_and_fails_in_one_line_without_results(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--results", str(results), "--out", str(tmp_path / "site")]) == 0
    assert capsys.readouterr().out == f"Data Docs: {(tmp_path / 'site' / 'index.html').resolve().as_uri()}\n"

    assert main(["--results", str(tmp_path / "nothing"), "--out", str(tmp_path / "other")]) == 1
    assert capsys.readouterr().err == f"docs: {tmp_path / 'nothing'}: no gate results yet (run `dvc repro` first)\n"
    assert not (tmp_path / "other").exists()
