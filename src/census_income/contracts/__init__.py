"""Data contracts as code: Great Expectations 1.x suites, one per data boundary, and the gate.

`suites` builds the data's expectations from configuration (the data set's contract in
`conf/data/<name>.yaml`, thresholds in `conf/validation/`), `profile` the split's against
train, `model_suites` the model's (`on_spark` translates any of them for a Spark frame);
`gate` runs them and stops a stage with a short report when they fail. Great Expectations
is imported only when a gate actually runs.
"""

from __future__ import annotations

from typing import Any


def expectation_classes() -> Any:
    """`great_expectations.expectations`, imported when a suite is first built (typed as Any:
    the module does not declare the classes it exports)."""
    import great_expectations.expectations as gxe

    return gxe
