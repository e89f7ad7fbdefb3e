"""benchmarks/bench_large.py and benchmarks/common.py: sizes, run-log figures, targets, tables,
and the results.md section rewrite.

Synthetic figures only: what is checked is the bookkeeping, never how fast anything is.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from census_income.modeling.models import FEATURES_ENCODING
from tests.unit.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_large")


@pytest.fixture(scope="module")
def common() -> ModuleType:
    return load_benchmark("common")


def event(stage: str, status: str = "ok", **values: Any) -> str:
    figures = {
        "rows_in": 1000,
        "startup": 1.0,
        "work_seconds": 6.0,
        "gate_seconds": 2.0,
        "wall_seconds": 8.0,
        "peak_memory_mb": 300.0,
    }
    return json.dumps({"stage": stage, "status": status, **figures, **values})


def stage(bench: ModuleType, name: str = "prepare", body: float = 8.0, gate: float = 1.0, peak: float = 300.0) -> Any:
    return bench.Stage(name, rows_in=1000, startup=2.0, body=body, gate=gate, peak_mb=peak)


def size(bench: ModuleType, rows: int, wall: float, floor: float, *, peak: float = 500.0, gate: float = 1.0) -> Any:
    measured = bench.Size(rows, data_rows=rows or 48_842, wall=wall, floor_walls=[floor * 2, floor])
    measured.stages = [stage(bench, "prepare", gate=gate, peak=peak), stage(bench, "train")]
    measured.tree_peak_mb = 200.0
    return measured


def test_sizes_parse_default_counts_and_exponents(bench: ModuleType) -> None:
    assert bench.parse_sizes("default,1000000,1e7") == [0, 1_000_000, 10_000_000]
    assert bench.parse_sizes(" default , 200_000 ,") == [0, 200_000]
    for bad in ("many", "500", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.parse_sizes(bad)


def test_stages_from_the_run_log(bench: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "pipeline.jsonl"
    lines = [event("ingest@train", "start"), event("ingest@train"), event("prepare", rows_in=2000, gate_seconds=4.0)]
    log.write_text("\n".join(lines) + "\n")
    stages = bench.stages_from_log(log)
    assert [s.name for s in stages] == ["ingest@train", "prepare"]
    prepare = stages[1]
    assert prepare.wall == pytest.approx(9.0)  # start-up + body
    assert prepare.rows_per_second == pytest.approx(2000 / 9.0)
    assert prepare.gate_share == pytest.approx(0.5)  # over the body
    assert bench.stages_from_log(tmp_path / "absent.jsonl") == []
    log.write_text(event("split", "failed", error="gate failed"))
    with pytest.raises(SystemExit, match="gate failed"):
        bench.stages_from_log(log)


def test_the_peak_is_the_largest_process_stage_or_dvc(bench: ModuleType) -> None:
    measured = size(bench, 1_000_000, wall=30.0, floor=20.0, peak=700.0)
    assert measured.peak_mb == 700.0
    measured.tree_peak_mb = 900.0
    assert measured.peak_mb == 900.0
    assert measured.floor == 20.0  # the fastest floor run
    assert measured.ratio == pytest.approx(1.5)


def verdicts(bench: ModuleType, sizes: list[Any]) -> dict[tuple[str, str], bool | None]:
    return {(c.target.split(" ")[0], c.size): c.met for c in bench.checks(sizes)}


def test_targets_met_and_not_met(bench: ModuleType) -> None:
    within = [
        size(bench, 1_000_000, wall=40.0, floor=20.0),  # 2x: no ratio target at 1M rows (retired by issue 22)
        size(bench, 10_000_000, wall=12 * 60.0, floor=480.0, peak=8000.0),  # 1.5x, 12 min, 7.8 GB
    ]
    assert all(verdicts(bench, within).values())
    beyond = [
        size(bench, 1_000_000, wall=31.0, floor=20.0, gate=3.0),
        size(bench, 10_000_000, wall=16 * 60.0, floor=600.0, peak=8500.0),  # 16 min, 1.6x, 8.3 GB
    ]
    found = verdicts(bench, beyond)
    assert found[("end", "10,000,000 rows")] is False
    assert found[("pipeline", "10,000,000 rows")] is False
    assert found[("peak", "10,000,000 rows")] is False
    assert found[("peak", "1,000,000 rows")] is True
    assert not any(target == "gates" for target, _ in found)  # the gate-share budget is retired


def test_targets_at_sizes_not_run_are_not_measured(bench: ModuleType) -> None:
    small = [size(bench, 0, wall=40.0, floor=10.0), size(bench, 200_000, wall=60.0, floor=20.0)]
    found = verdicts(bench, small)
    assert found[("end", "10,000,000 rows")] is None
    assert found[("pipeline", "10,000,000 rows")] is None
    assert found[("peak", "default data")] is True
    assert ("pipeline", "200,000 rows") not in found  # no ratio target at that size


def test_rendered_section(bench: ModuleType) -> None:
    sizes = [size(bench, 0, wall=40.0, floor=10.0), size(bench, 1_000_000, wall=31.0, floor=20.0)]
    sizes[1].generate = [stage(bench, "generate@train")]
    sizes[1].generate_wall = 5.0
    text = bench.render(sizes, openmp="OMP_NUM_THREADS=unset")
    assert text.startswith("## Large data (issue 10)\n")
    assert "| 48,842 (default data) | - | 40.0 | 10.0 | 4.00x |" in text
    assert "| 1,000,000 (1,000,000 rows) | 5.0 | 31.0 | 20.0 | 1.55x |" in text
    assert "| (generate@train: data source) | 1,000 |" in text
    assert "| pipeline / floor <= 1.5x | 10,000,000 rows | not measured | not measured |" in text
    assert "| end to end (`dvc repro`) <= 15 min | 10,000,000 rows | not measured | not measured |" in text
    # DVC's share of the wall: the whole run minus the stages' process lives (2 x 10 s)
    assert "| DVC itself (`dvc repro` wall minus stages) | | 11.00 |" in text


def test_section_is_replaced_in_place_and_others_kept(common: ModuleType, tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    common.update_results(results, "## Large data (issue 10)\n\nfirst\n", header="# Benchmarks\n\nintro\n")
    assert results.read_text() == "# Benchmarks\n\nintro\n\n## Large data (issue 10)\n\nfirst\n"
    results.write_text(
        "# Benchmarks\n\n## Pipeline (issue 3)\n\nkept\n\n## Large data (issue 10)\n\nfirst\n### sub\n\nold\n\n"
        "## Gates (issue 4)\n\nalso kept\n"
    )
    common.update_results(results, "## Large data (issue 10)\n\nsecond\n")
    updated = results.read_text()
    assert "first" not in updated and "old" not in updated
    assert updated.count("## Large data (issue 10)") == 1
    assert updated.index("kept") < updated.index("second") < updated.index("## Gates (issue 4)\n\nalso kept")
    assert "\n\n\n" not in updated


def test_timed_reports_output_and_stops_the_benchmark_on_failure(common: ModuleType, tmp_path: Path) -> None:
    ok = common.timed([sys.executable, "-c", "print('out')"], tmp_path, {}, tmp_path / "ok.log")
    assert (ok.returncode, ok.output.strip()) == (0, "out")
    assert (tmp_path / "ok.log").read_text().strip() == "out"
    code = "import sys; print('partial'); sys.exit('broken')"
    with pytest.raises(SystemExit, match="exited 1:\npartial\n\nbroken"):  # stdout, then stderr
        common.timed([sys.executable, "-c", code], tmp_path, {}, merge_stderr=False)


def test_large_params_compose_the_size_with_a_consistent_encoding(bench: ModuleType) -> None:
    """The bug this catches: the size never reached params.yaml (the benchmark measured the bundled
    data as if it were 10M rows), and the ordinal override clashed with the model's encoding."""
    command = bench.large_params_command(10_000_000)
    command[0] = str(Path(sys.executable).with_name(command[0]))
    composed = yaml.safe_load(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    assert (composed["data"]["name"], composed["data"]["rows"]) == ("adult_large", 10_000_000)
    assert FEATURES_ENCODING[composed["model"]["encoding"]] == composed["features"]["categorical_encoding"] == "ordinal"
