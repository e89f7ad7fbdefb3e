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


def test_stage_rows_can_leave_out_the_runs_of_earlier_repros(bench: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "pipeline.jsonl"
    log.write_text("\n".join([event("train"), event("evaluate"), event("train", startup=2.0)]))
    rows = bench.stage_rows(log, skip=2)
    assert [row.name.strip() for row in rows] == ["train (2)"]
    assert rows[0].wall == pytest.approx(7.0)


PARAMS = """data:
  name: adult
model:
  name: hist_gradient_boosting
  encoding: onehot
  learning_rate: 0.05
  max_iter: 300
evaluate:
  learning_rate: 7
seed: 42
"""


def test_the_inner_loop_changes_the_models_learning_rate_only(bench: ModuleType) -> None:
    changed = bench.with_learning_rate(PARAMS, 0.0505)
    assert changed == PARAMS.replace("  learning_rate: 0.05\n", "  learning_rate: 0.0505\n")
    assert bench.learning_rate(changed) == 0.0505
    rates = bench.fresh_rates(0.05, 3)
    assert len(set(rates)) == 3 and 0.05 not in rates
    assert not set(rates) & set(bench.fresh_rates(0.05, 3, start=50))  # the queue's are fresh too
    with pytest.raises(SystemExit, match=r"model\.learning_rate"):
        bench.with_learning_rate(PARAMS.replace("  learning_rate: 0.05\n", ""), 0.1)


def test_queue_overhead_is_the_workers_wall_beyond_the_stages_per_experiment(bench: ModuleType) -> None:
    queue = bench.Queue(experiments=4, jobs=2, wall=50.0, stage_seconds=80.0)
    assert queue.overhead == pytest.approx(5.0)  # (2 x 50 - 80) / 4


def render(bench: ModuleType, *, cold_wall: float, noop_wall: float, inner: float, overhead: float | None) -> str:
    floor = bench.Row("floor", 10.0, cpu=10.0, startup=0.5, work=9.5, peak_mb=300.0)
    cold = bench.Row("cold", cold_wall, cpu=cold_wall, peak_mb=400.0)
    stage = bench.Row("  train", 4.0, startup=1.0, work=2.0, gate=1.0, peak_mb=350.0)
    noop = bench.Timed(noop_wall, 1.0, 0.0, 0, 60.0, "")
    rounds = [bench.Round(10.0, inner * 10.0, [stage]), bench.Round(8.0, 100.0, [stage]), bench.Round(5.0, 1.0)]
    queue = None if overhead is None else bench.Queue(2, 2, 10.0 + overhead, 20.0)
    metrics = {"test": {"error_rate": 0.125}}
    return str(
        bench.render(
            floor=floor,
            floor_runs=[10.0, 12.0],
            cold=cold,
            stages=[stage],
            noops=[noop, noop, noop],
            rounds=rounds,
            idle_rounds=[bench.Round(10.0, 20.0, [stage])],
            queue=queue,
            large=None,
            floor_metrics=metrics,
            pipeline_metrics=metrics,
            loads=((1.0, 1.0, 1.0), (2.0, 2.0, 2.0)),
            openmp="OMP_NUM_THREADS=unset",
        )
    )


def test_verdicts_follow_the_targets(bench: ModuleType) -> None:
    within = render(bench, cold_wall=35.0, noop_wall=1.0, inner=1.5, overhead=4.0)
    assert "| cold `dvc repro` <= 3.5x floor | 35.00 s, 3.50x | 10.00 s | yes |" in within
    # the median round's ratio (15 / 10), each round against its own floor
    assert "| 15.00 s, 1.50x (median of 3) | 10.00, 8.00, 5.00 s | yes |" in within
    assert "| nothing-changed `dvc repro` <= 1 s | 1.00 s (median) | - | yes |" in within
    assert "| DVC overhead per queued experiment <= 4 s | 4.00 s (2 experiments" in within
    assert "not measured (opt-in, long: `make bench LARGE=10000000`) | - | not measured |" in within
    assert "| inner loop, no stage server yet (2.00x its floor) | 20.00 |" in within  # shown, not a target
    beyond = render(bench, cold_wall=36.0, noop_wall=1.1, inner=1.6, overhead=None)
    assert "| 36.00 s, 3.60x | 10.00 s | NO |" in beyond
    assert "| 16.00 s, 1.60x (median of 3) | 10.00, 8.00, 5.00 s | NO |" in beyond
    assert "| 1.10 s (median) | - | NO |" in beyond
    assert "| DVC overhead per queued experiment <= 4 s | not measured | - | not measured |" in beyond


def test_large_data_is_met_only_within_both_the_ratio_and_the_memory(bench: ModuleType) -> None:
    round_ = [bench.Round(10.0, 10.0)]

    def large(wall: float, peak_mb: float) -> Any:
        found = bench.checks(
            rounds=round_, cold=10.0, floor=10.0, noop=1.0, queue=None, large=bench.Large(10**7, wall, 100.0, peak_mb)
        )
        return found[-1]

    assert large(150.0, 8192.0)[1:] == ("150.0 s, 1.50x, peak 8.00 GB", "100.0 s", True)
    assert large(151.0, 4000.0)[3] is False
    assert large(100.0, 8193.0)[3] is False


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
