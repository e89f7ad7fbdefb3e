"""Data contracts as code: Great Expectations 1.x suites, one per data boundary, and the gate.

`suites` builds the expectations from configuration (the data set's contract in
`conf/data/<name>.yaml`, thresholds in `conf/validation/`); `gate` runs them and
stops a stage with a short report when they fail. Great Expectations is imported
only when a gate actually runs.
"""
