"""benchmarks/bench_pipeline.py: its run-log reading, its verdicts and its results.md section.

Synthetic figures only: what is checked is the bookkeeping, never how fast anything is.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.unit.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_pipeline")


@pytest.fixture(scope="module")
def common() -> ModuleType:
    return load_benchmark("common")


def event(stage: str, status: str = "ok", **values: Any) -> str:
    figures = {"startup": 1.0, "work_seconds": 2.0, "gate_seconds": 3.0, "wall_seconds": 5.0, "peak_memory_mb": 300.0}
    return json.dumps({"stage": stage, "status": status, **figures, **values})


def test_stage_rows_skip_start_events_and_number_repeated_stages(bench: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "pipeline.jsonl"
    lines = [event("ingest", "start"), event("ingest"), event("ingest", startup=0.5), event("prepare"), ""]
    log.write_text("\n".join(lines))
    rows = bench.stage_rows(log)
    assert [row.name.strip() for row in rows] == ["ingest (1)", "ingest (2)", "prepare"]
    assert rows[1].wall == pytest.approx(5.5)  # start-up + the stage's own wall time
    assert (rows[0].work, rows[0].gate, rows[0].peak_mb) == (2.0, 3.0, 300.0)


def test_stage_rows_stop_on_a_failed_stage(bench: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "pipeline.jsonl"
    log.write_text("\n".join([event("ingest"), event("prepare", "failed", error="gate failed")]))
    with pytest.raises(SystemExit, match="gate failed"):
        bench.stage_rows(log)


def render(bench: ModuleType, cold_wall: float, noop_wall: float) -> str:
    floor = bench.Row("floor", 2.0, cpu=2.0, startup=0.5, work=1.5, peak_mb=300.0)
    cold = bench.Row("cold", cold_wall, cpu=cold_wall, peak_mb=400.0)
    stage = bench.Row("  train", 4.0, startup=1.0, work=2.0, gate=1.0, peak_mb=350.0)
    noop = bench.Timed(noop_wall, 1.0, 0.0, 0, 60.0, "")
    metrics = {"test": {"error_rate": 0.125}}
    return str(
        bench.render(
            floor=floor,
            floor_runs=[2.0, 3.0],
            cold=cold,
            stages=[stage],
            noops=[noop, noop, noop],
            floor_metrics=metrics,
            pipeline_metrics=metrics,
            loads=((1.0, 1.0, 1.0), (2.0, 2.0, 2.0)),
            openmp="OMP_NUM_THREADS=unset",
        )
    )


def test_verdicts_follow_the_targets(bench: ModuleType) -> None:
    within = render(bench, cold_wall=20.0, noop_wall=1.0)
    assert "| cold / floor <= 15x | 10.0x | yes |" in within
    assert "| cold <= 30 s | 20.0 s | yes |" in within
    assert "| nothing changed <= 1.5 s | 1.00 s | yes |" in within
    beyond = render(bench, cold_wall=40.0, noop_wall=2.0)
    assert "| cold / floor <= 15x | 20.0x | NO |" in beyond
    assert "| cold <= 30 s | 40.0 s | NO |" in beyond
    assert "| nothing changed <= 1.5 s | 2.00 s | NO |" in beyond


def test_results_section_is_replaced_in_place_and_others_kept(common: ModuleType, tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    common.update_results(results, "## Pipeline (issue 3)\n\nfirst\n")
    assert results.read_text().startswith("# Benchmarks")
    text = results.read_text() + "\n## Scale (issue 7)\n\nkept\n"
    results.write_text(text.replace("# Benchmarks", "# Benchmarks\n\n## Notebooks (issue 5)\n\nalso kept"))
    common.update_results(results, "## Pipeline (issue 3)\n\nsecond\n")
    updated = results.read_text()
    assert "first" not in updated
    assert updated.count("## Pipeline (issue 3)") == 1
    assert updated.index("also kept") < updated.index("second") < updated.index("## Scale (issue 7)\n\nkept")
