"""What a stage checks of the outputs of an earlier stage, the same on either engine.

Each boundary has its full contract and its schema suite; `Gate.check_input` chooses
between them by whether `dvc.lock` pins the bytes read. The split parts are also checked
here on their way out, against the same suite the next stages read them with.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from census_income.contracts.profile import Profiler, ReferenceProfile, reference_profile, split_suite
from census_income.contracts.suites import prepared_suite, raw_schema_suite, raw_suite, table_schema_suite

if TYPE_CHECKING:
    from census_income.contracts.gate import Frame, Gate
    from census_income.data.config import PrepareConfig, SplitStageConfig
    from census_income.modeling.config import EvaluateStageConfig, FeaturizeConfig


def check_raw_part(gate: Gate, frame: Frame, path: Path, cfg: PrepareConfig, integer_columns: frozenset[str]) -> None:
    """One part ingest wrote (`data/raw/<part>.parquet`), as suite `raw-<part>`."""
    gate.check_input(
        f"raw-{path.stem}",
        frame,
        path,
        full=partial(raw_suite, cfg.format, cfg.schema_, cfg.contract, cfg.rules, integer_columns),
        schema=partial(raw_schema_suite, cfg.format),
    )


def check_prepared(gate: Gate, table: Frame, source: str | Path, cfg: SplitStageConfig) -> None:
    """The table prepare wrote, as suite `prepared`."""
    gate.check_input(
        "prepared",
        table,
        source,
        full=partial(prepared_suite, cfg.schema_, cfg.contract, cfg.rules),
        schema=partial(table_schema_suite, cfg.schema_),
    )


def check_split_parts(
    gate: Gate, parts: Mapping[str, Frame], cfg: SplitStageConfig, profiler: Profiler = reference_profile
) -> None:
    """The parts split is about to write, each as suite `split-<name>`, against train (which
    `profiler` profiles: the engine's, pandas by default)."""
    once = profiled_once(profiler)
    for name, part in parts.items():
        gate.check(f"split-{name}", part, split_suite, parts["train"], cfg.schema_, cfg.contract, cfg.split_rules, once)


def check_splits(
    gate: Gate,
    splits: Mapping[str, Frame],
    source: str | Path,
    cfg: FeaturizeConfig | EvaluateStageConfig,
    profiler: Profiler = reference_profile,
) -> None:
    """The parts split wrote (the folder `source`), each as suite `split-<name>`, against train
    (which `profiler` profiles: the engine's, pandas by default)."""
    once = profiled_once(profiler)
    for name, frame in splits.items():
        gate.check_input(
            f"split-{name}",
            frame,
            source,
            full=partial(split_suite, splits["train"], cfg.schema_, cfg.contract, cfg.split_rules, once),
            schema=partial(table_schema_suite, cfg.schema_),
        )


def profiled_once(profiler: Profiler) -> Profiler:
    """`profiler`, computing train's profile for the first part's suite only: every part is held to the
    same train (its quantiles cost 1 s a part at 10M rows). Computed on first use, inside the gate's time."""
    kept: list[ReferenceProfile] = []

    def once(reference: Any, label: str, columns: list[str], quantiles: list[float]) -> ReferenceProfile:
        if not kept:
            kept.append(profiler(reference, label, columns, quantiles))
        return kept[0]

    return once
