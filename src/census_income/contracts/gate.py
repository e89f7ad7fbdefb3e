"""Run a suite on a frame and stop the stage when it fails.

One ephemeral Great Expectations context per process. Every check keeps its result as JSON
under `paths.gate_results_dir()` (git-ignored, outside DVC outputs): the BASIC result format
(verdicts, observed and offending values), or SUMMARY (the offending rows' index too) when it fails;
a stage's compact summary (expectations evaluated and passed per suite) becomes a
DVC-tracked output under reports/gates/ (not a metrics file: `dvc exp show` keeps to the
model's metrics), which `census-income gates` prints.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from census_income.contracts.validation import GateMode
from census_income.errors import GateError
from census_income.io import atomic_path, write_json
from census_income.paths import gate_results_dir
from census_income.repo.lineage import matches_lock

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.expectations.expectation import Expectation
    from pyspark.sql import DataFrame as SparkFrame

    # what a gate validates: a pandas frame, or a Spark one (engine=spark)
    Frame: TypeAlias = pd.DataFrame | SparkFrame  # explicit: SparkFrame is Any without pyspark

log = logging.getLogger("census_income")
SHOWN_VALUES = 5
# what a kept result holds at most of each list (offending values, row numbers) and of each text
KEPT_VALUES = 20
KEPT_CHARS = 200


def start_import() -> threading.Thread:
    """Import Great Expectations in a background thread, once per process; the thread doing it.

    Its import is about 2 s of Python before a stage's first gate can run. Started as the stage
    makes its gate, it overlaps with reading the inputs (pyarrow reads, file I/O and hashing
    release the GIL); a check waits for it before building its suite, since two threads importing
    Great Expectations' circular modules at once would see them half made. Not a daemon: a stage
    that fails before its first gate exits once the import is done, never halfway through it.
    A failed import here is left to the check's own import, which raises it again where it is reported.
    """
    with _STARTING:  # one import, even when gates are made in several threads (the HTTP service)
        return _import_thread()


_STARTING = threading.Lock()


@functools.cache
def _import_thread() -> threading.Thread:
    thread = threading.Thread(target=_import_great_expectations, name="import great_expectations")
    thread.start()
    return thread


def _import_great_expectations() -> None:
    with contextlib.suppress(ImportError):  # the check's own import raises it again, where it is reported
        import great_expectations  # noqa: F401


@dataclass
class Gate:
    """The gates of one stage run: `check` each boundary, then `write_summary`.

    It keeps its own time (`seconds`) and outcome (`outcome()`): whoever runs it (the stage
    harness, batch scoring, a test) reads them, so a gate needs no stage run around it.
    """

    stage: str
    mode: GateMode
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    _context: Any = None
    _pinned: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        start_import()

    def check(self, suite: str, frame: Frame, build: Callable[..., list[Expectation]], *config: Any) -> None:
        """Validate `frame` against `build(*config)`; raise `GateError` (mode `fail`) on failure.

        Building the suite is timed as gate work: it is where Great Expectations is imported.
        """
        self._check(suite, frame, lambda: build(*config), {})

    def record(self, suite: str, frame: Frame, build: Callable[..., list[Expectation]], *config: Any) -> bool:
        """Validate like `check`, but only record the outcome (in the summary, as `enforced: false`):
        the model-quality bar, which a weak experiment must be able to fall below and still keep
        its metrics. Promotion (register, promote, serve, CI on main) enforces it instead."""
        self._check(suite, frame, lambda: build(*config), {"enforced": False})
        return bool(self.summary[suite]["success"])

    def check_input(
        self,
        suite: str,
        frame: Frame,
        source: str | Path,
        full: Callable[[], list[Expectation]],
        schema: Callable[[], list[Expectation]],
    ) -> None:
        """Validate what the stage reads from `source`, an output of an earlier stage.

        When its bytes are the ones `dvc.lock` records, the stage that wrote it ran the full
        contract on exactly these bytes before writing them: the `schema` suite (columns,
        dtypes, not empty) is enough, and it costs nothing at any size. Anything else (a file
        edited by hand, a stage run outside DVC) gets the `full` suite.
        """
        started = time.perf_counter()
        key = str(source)
        if key not in self._pinned:
            self._pinned[key] = matches_lock(source)
        self.seconds += time.perf_counter() - started
        pinned = self._pinned[key]
        self._check(suite, frame, schema if pinned else full, {"pinned": pinned})

    def _check(self, suite: str, frame: Frame, build: Callable[[], list[Expectation]], extra: dict[str, Any]) -> None:
        started = time.perf_counter()
        start_import().join()
        result = self._validate(suite, frame, build())
        payload = result.to_json_dict()
        self._keep(suite, payload)
        stats = payload["statistics"]
        passed = bool(result.success)
        entry = {
            "evaluated": int(stats["evaluated_expectations"]),
            "passed": int(stats["successful_expectations"]),
            "success": passed,
            **extra,
        }
        if suite in self.summary:  # the next chunk of the same data: one entry adds them up
            previous = self.summary[suite]
            entry["evaluated"] += previous["evaluated"]
            entry["passed"] += previous["passed"]
            entry["success"] = passed and previous["success"]
            entry["chunks"] = previous.get("chunks", 1) + 1
        self.summary[suite] = entry
        self.seconds += time.perf_counter() - started
        outcome = "passed" if passed else "FAILED"
        log.info(
            "%s: gate %s %s (%d/%d expectations)",
            self.stage,
            suite,
            outcome,
            stats["successful_expectations"],
            stats["evaluated_expectations"],
        )
        if passed:
            return
        report = failure_report(self.stage, suite, payload["results"], self.results_path(suite))
        if extra.get("enforced") is False:
            log.warning("%s", report.replace("failed:", "below the quality bar (recorded, not enforced here):", 1))
            return
        if self.mode == "warn":
            log.warning("%s", report)
            return
        raise GateError(report)

    def outcome(self) -> str:
        """Expectations passed of evaluated per suite so far, as the stage's log line shows them."""
        return ", ".join(f"{name} {s['passed']}/{s['evaluated']}" for name, s in self.summary.items())

    def write_summary(self, path: str | Path) -> None:
        """The stage's gate summary (a DVC output, read by `census-income gates` and the registry)."""
        write_json(self.summary, path)

    def results_path(self, suite: str) -> Path:
        """Where the full result of `suite` in this stage is kept."""
        return gate_results_dir() / self.stage / f"{suite}.json"

    def _validate(self, suite: str, frame: Frame, expectations: list[Expectation]) -> Any:
        import great_expectations as gx

        if self._context is None:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            from census_income.contracts.gx_metrics import use_fast_metrics

            use_fast_metrics()
            self._context = gx.get_context(mode="ephemeral")
            self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context = self._context
        # a Spark frame (engine=spark) goes through GX's Spark data source, its dtypes named as Spark's
        on_spark = type(frame).__module__.startswith("pyspark.")
        if on_spark:
            from census_income.contracts.on_spark import for_spark

            frame, expectations = for_spark(frame, expectations)
        sources = context.data_sources
        source = (
            sources.add_or_update_spark(f"{self.stage}-spark")
            if on_spark
            else sources.add_or_update_pandas(f"{self.stage}")
        )
        batch = source.add_dataframe_asset(suite).add_batch_definition_whole_dataframe(suite)
        gx_suite = context.suites.add_or_update(
            gx.ExpectationSuite(name=f"{self.stage}.{suite}", expectations=expectations)
        )
        # stored before running, so a suite can be checked again (on the next chunk) under its name
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{self.stage}.{suite}", data=batch, suite=gx_suite)
        )
        # BASIC has every verdict, observed value and offending values; only SUMMARY adds the offending rows'
        # index, which costs two more copies of the frame per column checked: paid when a check fails
        result = definition.run(batch_parameters={"dataframe": frame}, result_format="BASIC")
        if result.success:
            return result
        return definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")

    def _keep(self, suite: str, payload: dict[str, Any]) -> None:
        with atomic_path(self.results_path(suite)) as tmp:
            kept = {
                **payload,
                "results": [
                    {**item, **{key: sampled(item[key]) for key in ("result", "exception_info") if key in item}}
                    for item in payload.get("results", [])
                ],
            }
            tmp.write_text(json.dumps(kept, indent=1, default=str), encoding="utf-8")


def sampled(value: Any, width: int = KEPT_CHARS) -> Any:
    """An expectation's result with every list cut to a sample and every text to `width` characters: the kept
    result says which values offended, it never copies the raw input (a 64 MB line included)."""
    if isinstance(value, dict):
        return {key: sampled(item, width) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [sampled(item, width) for item in value[:KEPT_VALUES]]
    if isinstance(value, str) and len(value) > width:
        return f"{value[: width - 3]}..."
    return value


def format_summaries(summaries: dict[str, dict[str, dict[str, Any]]]) -> str:
    """One line per gate summary file: suites passed of evaluated, expectations passed of
    evaluated, and the suites that failed (those only recorded, the quality bar, marked so)."""
    lines = []
    width = max((len(path) for path in summaries), default=0)
    for path, summary in sorted(summaries.items()):
        suites = [entry for entry in summary.values() if isinstance(entry, dict)]
        passed = sum(bool(entry.get("success")) for entry in suites)
        checks = sum(int(entry.get("passed", 0)) for entry in suites)
        evaluated = sum(int(entry.get("evaluated", 0)) for entry in suites)
        failed = [
            f"{name}{' (recorded, not enforced)' if entry.get('enforced') is False else ''}"
            for name, entry in summary.items()
            if isinstance(entry, dict) and not entry.get("success")
        ]
        outcome = "failed: " + ", ".join(failed) if failed else "passed"
        lines.append(
            f"{path.ljust(width)}  suites {passed}/{len(suites)}  expectations {checks}/{evaluated}  {outcome}"
        )
    return "\n".join(lines)


def failure_report(stage: str, suite: str, results: list[dict[str, Any]], saved: Path) -> str:
    """Short human report: the first line says what failed and where, then one line per
    failed expectation (column, observed value, what was expected, a few offending values)."""
    failed = [r for r in results if not r.get("success")]
    # the columns' set first (a missing column also fails every check on it), then the table's
    first = sorted(failed, key=lambda r: (not _mismatched(r), "column" in r["expectation_config"]["kwargs"]))[:3]
    lines = [
        f"gate {stage}/{suite} failed: {len(failed)} of {len(results)} expectations "
        f"({', '.join(_short(r) for r in first)}{', ...' if len(failed) > 3 else ''})"
    ]
    for item in failed:
        config = item["expectation_config"]
        kwargs = {k: v for k, v in config["kwargs"].items() if k not in {"batch_id", "column"}}
        result = item.get("result") or {}
        observed = result.get("observed_value")
        detail = [f"  - {config['type']}"]
        if "column" in config["kwargs"]:
            detail.append(f"column={config['kwargs']['column']}")
        if observed is not None:
            detail.append(f"observed={_clip(observed)}")
        if result.get("unexpected_count"):
            detail.append(f"unexpected={result['unexpected_count']} ({_percent(result.get('unexpected_percent', 0))})")
            detail.append(f"e.g. {_offending(result.get('partial_unexpected_list', []))}")
            if result.get("partial_unexpected_index_list"):
                detail.append(f"at rows {_clip(result['partial_unexpected_index_list'][:SHOWN_VALUES])}")
        exception = (item.get("exception_info") or {}).get("exception_message")
        if exception:
            detail.append(f"error={_clip(exception)}")
        detail.append(f"expected {_clip(kwargs)}")
        lines.append(" ".join(detail))
    lines.append(f"  full result: {saved}")
    return "\n".join(lines)


def _short(item: dict[str, Any]) -> str:
    """The expectation, its column, and the columns missing or unexpected when it checks them."""
    config = item["expectation_config"]
    column = config["kwargs"].get("column")
    named = "; ".join(f"{kind} {', '.join(map(str, names))}" for kind, names in _mismatched(item).items())
    return f"{config['type']}" + (f" on {column}" if column else "") + (f": {named}" if named else "")


def _mismatched(item: dict[str, Any]) -> dict[str, list[Any]]:
    """The columns missing and unexpected, when the expectation checks the table's columns."""
    found = ((item.get("result") or {}).get("details") or {}).get("mismatched")
    if not isinstance(found, dict):  # (an ordered list's mismatches are a list of positions)
        return {}
    return {kind: found[kind] for kind in ("missing", "unexpected") if found.get(kind)}


def _offending(values: list[Any]) -> str:
    """A few distinct offending values: one bad value in every row would otherwise fill the list."""
    distinct = list(dict.fromkeys(json.dumps(value, default=str) for value in values))
    return _clip(f"[{', '.join(distinct[:SHOWN_VALUES])}]")


def _percent(value: float) -> str:
    """A share that never reads 0.00% when some rows are unexpected."""
    return f"{value:.2f}%" if value >= 0.01 else "<0.01%"


def _clip(value: Any, width: int = 160) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."
