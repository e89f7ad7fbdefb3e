"""The corruption matrix (issue 4): corrupt the real Adult source, run the real `dvc repro`.

Each case writes a corrupted copy of a source into a copy of the reproduced project and
points `params.yaml` (`data.source.<part>`) at it: the source is a dependency of
`ingest@<part>`, so DVC reruns that stage. A corruption must stop the pipeline at the
earliest gate that can see it, name that gate and expectation, and lose nothing:
`dvc.lock` byte-identical, no file at the failing stage's outputs (DVC removed them, the
stage wrote none), every other output byte-identical to what `dvc.lock` records, and
after `git checkout params.yaml && dvc checkout` the project is whole again.

Two corruptions never reach a gate, on purpose: bytes that are not valid in the declared
encoding and an empty file stop the parser with one line naming the source (README,
"When a gate fails"). Harmless variations of the format must pass and change no data.

Fast enough to run on every `make test`: every case reuses the one reproduced template
and only reruns what its corruption touches (ingest, which fails fast, for most).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run

pytestmark = pytest.mark.slow

Rows = list[list[str]]


# --------------------------------------------------------------- corruptions
def edit_rows(change: Callable[[Rows, list[str]], Rows]) -> Callable[[bytes, list[str]], bytes]:
    """A corruption that edits the rows of a delimited source (fields keep their spacing)."""

    def make(content: bytes, columns: list[str]) -> bytes:
        lines = content.decode("utf-8").split("\n")
        kept = [line for line in lines if line.strip() and not line.startswith("|")]
        header = [line for line in lines if line.startswith("|")]
        rows = change([line.split(",") for line in kept], columns)
        return "\n".join([*header, *(",".join(fields) for fields in rows)]).encode("utf-8") + b"\n"

    return make


def set_field(column: str, value: Callable[[str], str], every: int = 1) -> Callable[[bytes, list[str]], bytes]:
    """Rewrite one column in every `every`-th row (deterministic: no random choice)."""

    def change(rows: Rows, columns: list[str]) -> Rows:
        at = columns.index(column)
        for index, fields in enumerate(rows):
            if index % every == 0:
                fields[at] = " " + value(fields[at].strip())
        return rows

    return edit_rows(change)


def drop_column(column: str) -> Callable[[bytes, list[str]], bytes]:
    return edit_rows(lambda rows, columns: [r[: columns.index(column)] + r[columns.index(column) + 1 :] for r in rows])


def swap_columns(a: str, b: str) -> Callable[[bytes, list[str]], bytes]:
    def change(rows: Rows, columns: list[str]) -> Rows:
        i, j = columns.index(a), columns.index(b)
        for fields in rows:
            fields[i], fields[j] = fields[j], fields[i]
        return rows

    return edit_rows(change)


def truncate_mid_row(content: bytes, columns: list[str]) -> bytes:
    """An interrupted transfer: 60% of the file, cut after the fifth field of a row."""
    start = content.index(b"\n", len(content) * 6 // 10) + 1
    cut = start
    for _ in range(5):
        cut = content.index(b",", cut) + 1
    return content[:cut]


def header_only(content: bytes, columns: list[str]) -> bytes:
    return (",".join(columns) + "\n").encode("utf-8")


def latin1_bytes(content: bytes, columns: list[str]) -> bytes:
    """A few rows saved as Latin-1 by a spreadsheet: `Mexico` spelled `M\xe9xico`."""
    return content.replace(b" Mexico,", " México,".encode("latin-1"), 20)


def as_parquet(rename: dict[str, str] | None = None, reverse: bool = False) -> Callable[[bytes, list[str]], bytes]:
    """The same rows delivered as Parquet (named, typed columns), optionally renamed or reordered."""

    def make(content: bytes, columns: list[str]) -> bytes:
        import pandas as pd

        frame = pd.read_csv(
            io.BytesIO(content),
            header=None,
            names=columns,
            comment="|",
            skipinitialspace=True,
            dtype=str,
            keep_default_na=False,
        )
        frame = frame.rename(columns=rename or {})
        if reverse:
            frame = frame[frame.columns[::-1]]
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()

    return make


@dataclass(frozen=True)
class Case:
    make: Callable[[bytes, list[str]], bytes]
    expected: tuple[str, ...]  # what the output must say: gate (stage/suite), expectation, column
    part: str = "train"
    suffix: str = ".data"
    stage: str = "ingest@train"  # the dvc stage that must fail


RAW, TYPED = "gate ingest-train/raw failed", "gate ingest-train/typed failed"
COLUMN_SET = "expect_table_columns_to_match_set"
IN_SET = "expect_column_values_to_be_in_set"
BETWEEN = "expect_column_values_to_be_between"

CORRUPTIONS = {
    "missing-column": Case(drop_column("education-num"), (RAW, COLUMN_SET)),
    "extra-column": Case(edit_rows(lambda rows, _: [[*r, " 1"] for r in rows]), (RAW, COLUMN_SET)),
    "renamed-column": Case(
        as_parquet(rename={"hours-per-week": "hours_per_week"}),
        (RAW, COLUMN_SET, '"hours_per_week"'),
        suffix=".parquet",
    ),
    "age-as-text": Case(
        set_field("age", lambda v: f"{v} years", every=40),
        (RAW, "expect_column_values_to_match_regex column=age", '"39 years"'),
    ),
    "hours-out-of-range": Case(
        set_field("hours-per-week", lambda v: "168", every=100), (TYPED, f"{BETWEEN} column=hours_per_week", "168")
    ),
    "negative-fnlwgt": Case(
        set_field("fnlwgt", lambda v: f"-{v}", every=200), (TYPED, f"{BETWEEN} column=fnlwgt", "-77516")
    ),
    "unseen-category": Case(
        set_field("workclass", lambda v: "Space-agency", every=50),
        (RAW, f"{IN_SET} column=workclass", '"Space-agency"'),
    ),
    "missing-burst": Case(
        set_field("education", lambda v: "?", every=10),
        (RAW, "expect_column_values_to_not_be_in_set column=education"),
    ),
    "empty-file": Case(lambda content, columns: b"", ("source corrupt/train.data: empty file",)),
    "header-only": Case(header_only, (RAW, "expect_table_row_count_to_be_between", "observed=1")),
    # the cut row's missing fields parse as empty text, which no column allows
    "truncated": Case(truncate_mid_row, (RAW, f"{IN_SET} column=income", 'e.g. [""]')),
    "changed-label-set": Case(
        set_field("income", lambda v: {"<=50K": "low", ">50K": "high"}[v]),
        (RAW, f"{IN_SET} column=income", '"low"'),
    ),
    "flipped-prevalence": Case(
        set_field("income", lambda v: {"<=50K": ">50K", ">50K": "<=50K"}[v]),
        (TYPED, "expect_column_mean_to_be_between column=income"),
    ),
    "duplicate-burst": Case(
        edit_rows(lambda rows, _: rows + [list(r) for r in rows[:1500]]),
        (RAW, "expect_compound_columns_to_be_unique"),
    ),
    "ages-plus-30": Case(
        set_field("age", lambda v: str(int(v) + 30)), (TYPED, f"{BETWEEN} column=age", '"max_value": 90')
    ),
    "headerless-columns-swapped": Case(
        swap_columns("race", "sex"), (RAW, f"{IN_SET} column=race", f"{IN_SET} column=sex", '"Male"')
    ),
    "non-utf8-bytes": Case(latin1_bytes, ("source corrupt/train.data: not utf-8 text at byte", r"b'\xe9xico")),
    # within every range, so only the split contract (test against train) can see it
    "test-ages-shifted-in-range": Case(
        set_field("age", lambda v: str(min(int(v) + 20, 90))),
        (
            "gate split/split-test failed",
            "expect_column_quantile_values_to_be_between column=age",
        ),
        part="test",
        stage="split",
    ),
}

HARMLESS = {
    "windows-line-endings": lambda content, columns: content.replace(b"\n", b"\r\n"),
    "trailing-blank-lines": lambda content, columns: content + b"\n\n",
    "extra-spaces-after-commas": lambda content, columns: content.replace(b", ", b",    "),
}


# -------------------------------------------------------------------- helpers
def params(project: Path) -> dict[str, Any]:
    """params.yaml with the data set's description (the file `data.spec` names) under `data`."""
    loaded: dict[str, Any] = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    loaded["data"].update(yaml.safe_load((project / loaded["data"]["spec"]).read_text(encoding="utf-8")))
    return loaded


def inject(project: Path, part: str, make: Callable[[bytes, list[str]], bytes], suffix: str) -> str:
    """Write the corrupted copy of source `part` and point params.yaml at it."""
    data = params(project)["data"]
    assert isinstance(data, dict)
    original, columns = data["source"][part], data["format"]["columns"]
    target = f"corrupt/{part}{suffix}"
    (project / "corrupt").mkdir(exist_ok=True)
    (project / target).write_bytes(make((project / original).read_bytes(), columns))
    set_param(project, f"{part}: {original}", f"{part}: {target}")
    return target


def set_param(project: Path, old: str, new: str) -> None:
    path = project / "params.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def lock(project: Path) -> dict[str, dict[str, object]]:
    stages: dict[str, dict[str, object]] = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return stages


def outs_of(project: Path, stage: str) -> list[str]:
    outs = lock(project)[stage]["outs"]
    assert isinstance(outs, list)
    return [out["path"] for out in outs]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def mismatches(project: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Outputs whose bytes on disk differ from what dvc.lock records (directories file by
    file, through their `.dir` listing in the cache)."""
    wrong = []
    for stage in lock(project).values():
        outs = stage.get("outs", [])
        assert isinstance(outs, list)
        for out in outs:
            path, recorded = out["path"], out["md5"]
            if path in skip:
                continue
            if not recorded.endswith(".dir"):
                if not (project / path).is_file() or md5(project / path) != recorded:
                    wrong.append(path)
                continue
            listing = project / ".dvc/cache/files/md5" / recorded[:2] / recorded[2:]
            expected = {entry["relpath"]: entry["md5"] for entry in json.loads(listing.read_text())}
            found = {
                file.relative_to(project / path).as_posix(): md5(file)
                for file in (project / path).rglob("*")
                if file.is_file()
            }
            if found != expected:
                wrong.append(path)
    return wrong


def assert_restored(project: Path, lock_bytes: bytes) -> None:
    """`git checkout params.yaml && dvc checkout` brings back every output byte-identically.

    When stages before the failing one ran (a later gate failed), their new lock entries
    go too: the saved lock is written back, as `git checkout dvc.lock` does in a clone.
    """
    run(["git", "checkout", "-q", "params.yaml"], project)
    (project / "dvc.lock").write_bytes(lock_bytes)
    run(["dvc", "checkout", "--quiet"], project)
    assert mismatches(project) == []
    assert json.loads(run(["dvc", "status", "--json"], project).stdout) == {}


def assert_stopped(project: Path, stage: str, before: dict[str, dict[str, object]], lock_bytes: bytes) -> str:
    """`dvc repro` fails at `stage`, and nothing is lost; returns the output to inspect."""
    result = run(["dvc", "repro"], project, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"failed to reproduce '{stage}'" in output
    failing = tuple(outs_of(project, stage))
    assert not [path for path in failing if (project / path).exists()], "the failing stage left an output"
    later = {name for name in before if name == stage or name in downstream(project, stage)}
    after = lock(project)
    assert {name: after[name] for name in later} == {name: before[name] for name in later}
    if stage.startswith("ingest"):  # nothing before it ran: the whole lock is byte-identical
        assert (project / "dvc.lock").read_bytes() == lock_bytes
    assert mismatches(project, skip=failing) == []
    return output


def downstream(project: Path, stage: str) -> set[str]:
    """Stages that depend on `stage`, directly or not (a dependency on a folder counts
    for every output inside it, as `data/raw` holds each ingest's part)."""
    stages = lock(project)
    produced = {out: name for name in stages for out in outs_of(project, name)}

    def feeds(out: str, dep: str) -> bool:
        return out == dep or out.startswith(dep + "/") or dep.startswith(out + "/")

    upstream = {
        name: {produced[out] for dep in deps(stages[name]) for out in produced if feeds(out, dep)} for name in stages
    }
    found: set[str] = set()
    frontier = {stage}
    while frontier:
        frontier = {name for name, ups in upstream.items() if ups & frontier} - found
        found |= frontier
    return found


def deps(entry: dict[str, object]) -> list[str]:
    listed = entry.get("deps", [])
    assert isinstance(listed, list)
    return [dep["path"] for dep in listed]


def assert_gate_result_kept(project: Path, output: str) -> None:
    """The report's last line names the full result; that file holds the failing result."""
    match = re.search(r"full result: (\S+)", output)
    assert match, output
    saved = json.loads((project / match.group(1)).read_text())
    assert saved["success"] is False
    assert not str(project / match.group(1)).startswith(str(project / "data"))


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruption_stops_at_the_earliest_gate_and_loses_nothing(reproduced_project: Path, name: str) -> None:
    case, project = CORRUPTIONS[name], reproduced_project
    before, lock_bytes = lock(project), (project / "dvc.lock").read_bytes()
    inject(project, case.part, case.make, case.suffix)

    output = assert_stopped(project, case.stage, before, lock_bytes)

    for text in case.expected:
        assert text in output, f"{text!r} not in:\n{output}"
    if case.expected[0].startswith("gate "):
        assert_gate_result_kept(project, output)
    assert_restored(project, lock_bytes)


def test_a_model_below_the_quality_bar_keeps_its_metrics_and_promotion_refuses_it(reproduced_project: Path) -> None:
    """The quality bar gates promotion, not exploration: evaluate completes and records the
    verdict; `census-income check-quality` (CI on main, as register) refuses the model."""
    project = reproduced_project
    min_auc = params(project)["validation"]["metrics"]["min_roc_auc"]
    set_param(project, f"min_roc_auc: {min_auc}", "min_roc_auc: 0.999")
    assert run(["census-income", "check-quality"], project).returncode == 0  # before: the bar was met

    result = run(["dvc", "repro"], project)

    assert "below the quality bar (recorded, not enforced here)" in result.stdout + result.stderr
    metrics = json.loads((project / "reports/evaluate/metrics.json").read_text())
    assert metrics["quality"] == {"passed": 0} and metrics["test"]["roc_auc"] < 0.999
    summary = json.loads((project / "reports/gates/evaluate.json").read_text())["metrics-test"]
    assert summary["success"] is False and summary["enforced"] is False
    refused = run(["census-income", "check-quality"], project, check=False)
    assert refused.returncode == 1
    assert "below the quality bar (reports/gates/evaluate.json: metrics-test)" in refused.stderr
    shown = run(["census-income", "gates"], project)  # a recorded verdict is not a failed data gate
    assert "metrics-test (recorded, not enforced)" in shown.stdout


def test_warn_mode_logs_the_report_and_records_the_failed_gate(reproduced_project: Path) -> None:
    """`validation.mode: warn`: the stage goes on and writes; its summary metric says which
    gate failed. (Only ingest@train is asked for: the rest would run on the corrupt data.)"""
    project = reproduced_project
    inject(project, "train", CORRUPTIONS["flipped-prevalence"].make, ".data")
    set_param(project, "mode: fail", "mode: warn")

    result = run(["dvc", "repro", "ingest@train"], project)

    output = result.stdout + result.stderr
    assert "WARNING gate ingest-train/typed failed: 1 of" in output
    assert "expect_column_mean_to_be_between column=income" in output
    summary = json.loads((project / "reports/gates/ingest-train.json").read_text())
    assert summary["raw"]["success"] is True
    assert summary["typed"]["success"] is False
    assert summary["typed"]["passed"] == summary["typed"]["evaluated"] - 1
    assert (project / "data/raw/train.parquet").is_file()


@pytest.mark.parametrize("name", list(HARMLESS))
def test_harmless_format_variation_passes_and_changes_no_data(reproduced_project: Path, name: str) -> None:
    project = reproduced_project
    before = lock(project)
    inject(project, "train", HARMLESS[name], ".data")

    run(["dvc", "repro"], project)

    after = lock(project)
    assert after["ingest@train"]["outs"] == before["ingest@train"]["outs"]  # the same raw data, byte for byte
    # prepare declares `data.source` (the parts it reads): it reran on the new URI, to the same bytes
    assert after["prepare"]["outs"] == before["prepare"]["outs"]
    assert {k: v for k, v in after.items() if k not in {"ingest@train", "prepare"}} == {
        k: v for k, v in before.items() if k not in {"ingest@train", "prepare"}
    }
    assert mismatches(project) == []


def test_reordered_named_columns_are_matched_by_name(reproduced_project: Path) -> None:
    """Policy: a source that names its columns (Parquet, or text with a header) may order
    them freely; raw keeps the delivered order, prepare selects by name, so the prepared
    table is byte-identical and nothing after prepare reruns. (In a headerless file the
    order is the format itself: see `headerless-columns-swapped`.)"""
    project = reproduced_project
    before = lock(project)
    inject(project, "train", as_parquet(reverse=True), ".parquet")

    run(["dvc", "repro"], project)

    after = lock(project)
    assert after["ingest@train"]["outs"] != before["ingest@train"]["outs"]  # raw as delivered: reordered
    assert after["prepare"]["outs"] == before["prepare"]["outs"]
    unchanged = set(before) - {"ingest@train", "prepare"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert mismatches(project) == []
