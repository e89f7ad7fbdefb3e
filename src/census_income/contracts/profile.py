"""The split gate: train's profile (columns, label rate, quantiles) and the suite that holds
every split part to it, within the tolerances of `validation.split`.

The profile of a pandas frame is computed here; an engine with frames of its own passes its
`Profiler` (on Spark, `census_income.spark.gates.reference_profile`), so contracts never
import an engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from census_income.contracts import expectation_classes
from census_income.contracts.validation import SplitValidation
from census_income.data.spec import Contract, Schema

if TYPE_CHECKING:
    from great_expectations.expectations.expectation import Expectation


@dataclass(frozen=True)
class ReferenceProfile:
    """What `split_suite` needs of train: its columns, label rate, and per distribution column
    whether it holds integers, its quantiles and its spread (q90 - q10)."""

    columns: list[str]
    rate: float
    distribution: dict[str, tuple[bool, list[float], float]]


# (train, label column, distribution columns, quantiles) -> train's profile
Profiler = Callable[[Any, str, list[str], list[float]], ReferenceProfile]


def reference_profile(
    reference: pd.DataFrame, label: str, columns: list[str], quantiles: list[float]
) -> ReferenceProfile:
    """The profile of a pandas frame."""
    distribution = {}
    for name in columns:
        values = reference[name].dropna().astype("float64")
        distribution[name] = (
            pd.api.types.is_integer_dtype(reference[name].dtype),
            [float(q) for q in values.quantile(quantiles)],
            float(values.quantile(0.9) - values.quantile(0.1)),
        )
    return ReferenceProfile(list(reference.columns), float(reference[label].mean()), distribution)


def split_suite(
    reference: Any,
    schema: Schema,
    contract: Contract,
    rules: SplitValidation,
    profiler: Profiler = reference_profile,
) -> list[Expectation]:
    """A split against train as the reference (a frame `profiler` profiles, pandas by default): same
    columns, label rate and the quantiles of the contract's distribution columns within tolerance of train's."""
    gxe = expectation_classes()
    label = schema.target
    profile = profiler(reference, label, contract.distribution, rules.quantiles)
    rate = profile.rate
    expectations = [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=profile.columns),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=None),
        gxe.ExpectColumnMeanToBeBetween(
            column=label,
            min_value=round(rate - rules.label_rate_tolerance, 6),
            max_value=round(rate + rules.label_rate_tolerance, 6),
        ),
    ]
    for name in contract.distribution:
        integer, quantiles, spread = profile.distribution[name]
        width = rules.quantile_tolerance * float(spread or 1.0)
        if integer:
            # a quantile of whole numbers moves in steps of one: allow at least one step
            width = max(width, 1.0)
        expectations.append(
            gxe.ExpectColumnQuantileValuesToBeBetween(
                column=name,
                quantile_ranges={
                    "quantiles": list(rules.quantiles),
                    "value_ranges": [[round(q - width, 6), round(q + width, 6)] for q in quantiles],
                },
                allow_relative_error=False,
            )
        )
    return expectations
