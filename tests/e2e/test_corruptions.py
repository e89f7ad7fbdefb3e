"""The corruption matrix (issue 4): every corruption of the real Adult source stops at the
earliest gate that can see it, names that gate and expectation, and writes nothing.

Which gate fires is checked in-process: the stage bodies run on a corrupted copy of a source
with the project's own typed config (params.yaml), in a temporary folder, without DVC; the
stages before the one that must stop run too, and must pass. A few cases (a gate at the
first stage, the parser, a gate at a later stage) also run through the real `dvc repro` in a
copy of the reproduced project, for the guarantee that nothing is lost: `dvc.lock`
byte-identical, no file at the failing stage's outputs (DVC removed them, the stage wrote
none), every other output byte-identical to what `dvc.lock` records, and after
`git checkout params.yaml && dvc checkout` the project is whole again.

Two corruptions never reach a gate, on purpose: bytes that are not valid in the declared
encoding and an empty file stop the parser with one line naming the source (README,
"When a gate fails"). Harmless variations of the format must pass and change no data.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from census_income.data.config import IngestConfig, PrepareConfig, SplitStageConfig
from census_income.errors import PipelineError
from census_income.stages.engine import PandasEngine
from census_income.stages.harness import StageRun
from tests.conftest import REPO_ROOT
from tests.e2e.project import Project

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


# ------------------------------------------------------------ in-process stages
PARAMS = REPO_ROOT / "params.yaml"
ENGINE = PandasEngine()


@dataclass(frozen=True)
class Configs:
    ingest: IngestConfig
    prepare: PrepareConfig
    split: SplitStageConfig


@pytest.fixture(scope="module")
def configs() -> Configs:
    return Configs(IngestConfig.load(PARAMS), PrepareConfig.load(PARAMS), SplitStageConfig.load(PARAMS))


def ingest(cfg: IngestConfig, part: str, source: str) -> None:
    ENGINE.ingest(StageRun("ingest"), paths(source=source, out=f"data/raw/{part}.parquet", gates=f"{part}.json"), cfg)


def prepare(cfg: PrepareConfig) -> None:
    ENGINE.prepare(StageRun("prepare"), paths(raw="data/raw", out=PREPARED, gates="prepare.json"), cfg)


def split(cfg: SplitStageConfig) -> None:
    ENGINE.split(StageRun("split"), paths(prepared=PREPARED, out="data/split", gates="split.json"), cfg)


def paths(**values: str) -> argparse.Namespace:
    return argparse.Namespace(**values)


PREPARED = "data/prepared/table.parquet"
STAGE_OUTS = {
    "ingest@train": "data/raw/train.parquet",
    "ingest@test": "data/raw/test.parquet",
    "prepare": PREPARED,
    "split": "data/split",
}


@pytest.fixture(scope="module")
def clean(configs: Configs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The raw parts and the prepared table of the real sources, written by the stage bodies."""
    folder = tmp_path_factory.mktemp("clean")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for part, source in configs.prepare.source.items():
            ingest(configs.ingest, part, str(REPO_ROOT / source))
        prepare(configs.prepare)
    return folder


@pytest.fixture
def workdir(clean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder holding the clean raw parts, as the current directory (gate results land in it)."""
    shutil.copytree(clean / "data/raw", tmp_path / "data/raw")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def corrupt(configs: Configs, part: str, make: Callable[[bytes, list[str]], bytes], suffix: str) -> str:
    """Write the changed copy of source `part` under `corrupt/`; its path, as params.yaml would name it."""
    target = Path(f"corrupt/{part}{suffix}")
    target.parent.mkdir(exist_ok=True)
    original = REPO_ROOT / configs.prepare.source[part]
    target.write_bytes(make(original.read_bytes(), configs.ingest.format.columns))
    return target.as_posix()


def first_stop(configs: Configs, part: str, source: str) -> tuple[str, PipelineError]:
    """Run ingest of the changed part, then prepare and split, until one stops; which, and why.
    Each stage's output is removed first, as `dvc repro` does."""
    steps: list[tuple[str, Callable[[], None]]] = [
        (f"ingest@{part}", lambda: ingest(configs.ingest, part, source)),
        ("prepare", lambda: prepare(configs.prepare)),
        ("split", lambda: split(configs.split)),
    ]
    for stage, step in steps:
        out = Path(STAGE_OUTS[stage])
        shutil.rmtree(out) if out.is_dir() else out.unlink(missing_ok=True)
        try:
            step()
        except PipelineError as exc:
            return stage, exc
    pytest.fail(f"no stage stopped on the changed {part} source")


def assert_gate_result_kept(folder: Path, output: str) -> None:
    """The report's last line names the full result; that file holds the failing result."""
    match = re.search(r"full result: (\S+)", output)
    assert match, output
    saved = folder / match.group(1)
    assert json.loads(saved.read_text())["success"] is False
    assert not saved.resolve().is_relative_to((folder / "data").resolve())


# ------------------------------------------------------------ through dvc repro
# one case each of: a gate at the first stage, the parser, a gate at a later stage (after stages that ran)
NOTHING_LOST = ("unseen-category", "non-utf8-bytes", "test-ages-shifted-in-range")


def inject(project: Project, part: str, make: Callable[[bytes, list[str]], bytes], suffix: str) -> str:
    """Write the corrupted copy of source `part` and point params.yaml at it."""
    data = project.params()["data"]
    original, columns = data["source"][part], data["format"]["columns"]
    target = f"corrupt/{part}{suffix}"
    (project.root / "corrupt").mkdir(exist_ok=True)
    (project.root / target).write_bytes(make((project.root / original).read_bytes(), columns))
    project.set_param(f"{part}: {original}", f"{part}: {target}")
    return target


def outs_of(lock: dict[str, dict[str, object]], stage: str) -> list[str]:
    outs = lock[stage]["outs"]
    assert isinstance(outs, list)
    return [out["path"] for out in outs]


def assert_restored(project: Project, lock_bytes: bytes) -> None:
    """`git checkout params.yaml && dvc checkout` brings back every output byte-identically.

    When stages before the failing one ran (a later gate failed), their new lock entries
    go too: the saved lock is written back, as `git checkout dvc.lock` does in a clone.
    """
    project.run("git", "checkout", "-q", "params.yaml")
    (project.root / "dvc.lock").write_bytes(lock_bytes)
    project.dvc("checkout", "--quiet")
    assert project.mismatches() == []
    assert json.loads(project.dvc("status", "--json").stdout) == {}


def assert_stopped(project: Project, stage: str, before: dict[str, dict[str, object]], lock_bytes: bytes) -> str:
    """`dvc repro` fails at `stage`, and nothing is lost; returns the output to inspect."""
    result = project.dvc("repro", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"failed to reproduce '{stage}'" in output
    failing = tuple(outs_of(before, stage))
    assert not [path for path in failing if (project.root / path).exists()], "the failing stage left an output"
    later = {name for name in before if name == stage or name in downstream(before, stage)}
    after = project.lock()
    assert {name: after[name] for name in later} == {name: before[name] for name in later}
    if stage.startswith("ingest"):  # nothing before it ran: the whole lock is byte-identical
        assert (project.root / "dvc.lock").read_bytes() == lock_bytes
    assert project.mismatches(skip=failing) == []
    return output


def downstream(stages: dict[str, dict[str, object]], stage: str) -> set[str]:
    """Stages that depend on `stage`, directly or not (a dependency on a folder counts
    for every output inside it, as `data/raw` holds each ingest's part)."""
    produced = {out: name for name in stages for out in outs_of(stages, name)}

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


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruption_stops_at_the_earliest_gate_and_writes_nothing(configs: Configs, workdir: Path, name: str) -> None:
    case = CORRUPTIONS[name]
    source = corrupt(configs, case.part, case.make, case.suffix)

    stage, error = first_stop(configs, case.part, source)

    assert stage == case.stage, error
    output = str(error)
    for text in case.expected:
        assert text in output, f"{text!r} not in:\n{output}"
    if case.expected[0].startswith("gate "):
        assert_gate_result_kept(workdir, output)
    assert not (workdir / STAGE_OUTS[stage]).exists(), "the failing stage left an output"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTHING_LOST)
def test_a_corruption_through_dvc_repro_loses_nothing(reproduced_project: Path, name: str) -> None:
    case, project = CORRUPTIONS[name], Project(reproduced_project)
    before, lock_bytes = project.lock(), (project.root / "dvc.lock").read_bytes()
    inject(project, case.part, case.make, case.suffix)

    output = assert_stopped(project, case.stage, before, lock_bytes)

    for text in case.expected:
        assert text in output, f"{text!r} not in:\n{output}"
    assert_restored(project, lock_bytes)


@pytest.mark.slow
def test_a_model_below_the_quality_bar_keeps_its_metrics_and_promotion_refuses_it(reproduced_project: Path) -> None:
    """The quality bar gates promotion, not exploration: evaluate completes and records the
    verdict; `census-income check-quality` (CI on main, as register) refuses the model."""
    project = Project(reproduced_project)
    min_auc = project.params()["validation"]["metrics"]["min_roc_auc"]
    project.set_param(f"min_roc_auc: {min_auc}", "min_roc_auc: 0.999")
    assert project.run("census-income", "check-quality").returncode == 0  # before: the bar was met

    result = project.dvc("repro")

    assert "below the quality bar (recorded, not enforced here)" in result.stdout + result.stderr
    metrics = json.loads((project.root / "reports/evaluate/metrics.json").read_text())
    assert metrics["quality"] == {"passed": 0} and metrics["test"]["roc_auc"] < 0.999
    summary = json.loads((project.root / "reports/gates/evaluate.json").read_text())["metrics-test"]
    assert summary["success"] is False and summary["enforced"] is False
    refused = project.run("census-income", "check-quality", check=False)
    assert refused.returncode == 1
    assert "below the quality bar (reports/gates/evaluate.json: metrics-test)" in refused.stderr
    shown = project.run("census-income", "gates")  # a recorded verdict is not a failed data gate
    assert "metrics-test (recorded, not enforced)" in shown.stdout


def test_warn_mode_logs_the_report_and_records_the_failed_gate(
    configs: Configs, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`validation.mode: warn`: the stage goes on and writes; its summary says which gate failed."""
    source = corrupt(configs, "train", CORRUPTIONS["flipped-prevalence"].make, ".data")

    with caplog.at_level(logging.WARNING, logger="census_income"):
        ingest(configs.ingest.model_copy(update={"mode": "warn"}), "train", source)

    warned = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any(m.startswith("gate ingest-train/typed failed: 1 of") for m in warned), warned
    assert any("expect_column_mean_to_be_between column=income" in m for m in warned), warned
    summary = json.loads((workdir / "train.json").read_text())
    assert summary["raw"]["success"] is True
    assert summary["typed"]["success"] is False
    assert summary["typed"]["passed"] == summary["typed"]["evaluated"] - 1
    assert (workdir / "data/raw/train.parquet").is_file()


@pytest.mark.parametrize("name", list(HARMLESS))
def test_harmless_format_variation_passes_and_changes_no_data(
    configs: Configs, clean: Path, workdir: Path, name: str
) -> None:
    ingest(configs.ingest, "train", corrupt(configs, "train", HARMLESS[name], ".data"))

    # the same raw data, byte for byte: nothing after ingest can differ
    assert (workdir / "data/raw/train.parquet").read_bytes() == (clean / "data/raw/train.parquet").read_bytes()


def test_reordered_named_columns_are_matched_by_name(configs: Configs, clean: Path, workdir: Path) -> None:
    """Policy: a source that names its columns (Parquet, or text with a header) may order
    them freely; raw keeps the delivered order, prepare selects by name, so the prepared
    table is byte-identical. (In a headerless file the order is the format itself: see
    `headerless-columns-swapped`.)"""
    ingest(configs.ingest, "train", corrupt(configs, "train", as_parquet(reverse=True), ".parquet"))
    prepare(configs.prepare)

    assert (workdir / "data/raw/train.parquet").read_bytes() != (clean / "data/raw/train.parquet").read_bytes()
    assert (workdir / PREPARED).read_bytes() == (clean / PREPARED).read_bytes()
