"""A `/predict` request body as the raw rows `checked_rows` reads, or a `RequestError` saying what is wrong.

Two bodies are accepted: JSON (a list of records, or `{"rows": [...], "key": "..."}`), whose
records name the data set's columns as its format does; and CSV in the data set's own format
(`data.format`: delimiter, header or not, comment lines), parsed by the pipeline's parser. Both
become text columns like a delivered file's, so the input contract judges them the same way:
a JSON number is its text, `null` the missing marker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from census_income.contracts.rows import Failure
from census_income.data.spec import SourceFormat
from census_income.errors import PipelineError, RequestError
from census_income.serving.reading import frame_of_lines, is_data, names_header

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "text/plain", "application/csv")


@dataclass(frozen=True)
class TextRows:
    """A JSON body's rows as text columns: the frame they make, not made until needed (a few
    rows are scored from these values, `serving.fast`; building the frame cost more)."""

    values: dict[str, list[str]]

    def __len__(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0

    @property
    def columns(self) -> list[str]:
        return list(self.values)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, dtype=str)  # one call: a Series per column costs 2.5x

    @staticmethod
    def concat(parts: list[TextRows]) -> TextRows:
        """The rows of `parts` one after the other (same columns)."""
        return TextRows({column: [v for part in parts for v in part.values[column]] for column in parts[0].values})


@dataclass(frozen=True)
class Rows:
    """The rows of a request (a frame, or a JSON body's text columns) and the request key its body names."""

    table: pd.DataFrame | TextRows
    key: str | None = None

    @property
    def frame(self) -> pd.DataFrame:
        return self.table.frame() if isinstance(self.table, TextRows) else self.table


def parse_body(body: bytes, content_type: str, fmt: SourceFormat, label: str, max_rows: int) -> Rows:
    """The raw rows of a body, or a `RequestError` (400, 413, 415, 422)."""
    if not body.strip():
        raise RequestError(status=400, detail="empty body: send JSON records or CSV rows")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in JSON_TYPES:
        return _json_rows(body, fmt, label, max_rows)
    if kind in CSV_TYPES:
        return Rows(_csv_rows(body, fmt, label, max_rows))
    raise RequestError(status=415, detail=f"content type {kind or '(none)'!r}: send application/json or text/csv")


def _json_rows(body: bytes, fmt: SourceFormat, label: str, max_rows: int) -> Rows:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RequestError(status=400, detail=f"malformed JSON: {exc}") from None
    key = None
    if isinstance(document, dict) and "rows" in document:
        unknown = sorted(set(document) - {"rows", "key"})
        if unknown:
            raise RequestError(
                status=422, detail=f"unknown top-level fields {unknown}: expected `rows` and optionally `key`"
            )
        key = document.get("key")
        if key is not None and not isinstance(key, str):
            raise RequestError(status=422, detail="`key` must be a string")
        document = document["rows"]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document:
        raise RequestError(status=422, detail='expected a non-empty list of records (objects), or {"rows": [...]}')
    if len(document) > max_rows:
        raise RequestError(status=413, detail=f"{len(document):,} rows: at most {max_rows:,} rows per request")
    columns = [c for c in fmt.columns if c != label]
    known = set(fmt.columns)
    errors: list[Failure] = []
    values: dict[str, list[str]] = {c: [] for c in columns}
    for row, record in enumerate(document):
        if not isinstance(record, dict):
            errors.append(Failure(row, "", _shown(record), "not an object (a record of field: value)"))
            continue
        errors += [Failure(row, name, _shown(record[name]), "unknown field") for name in record if name not in known]
        errors += [Failure(row, name, None, "missing field") for name in columns if name not in record]
        for name in columns:
            value = record.get(name)
            text = _text(value, fmt.missing_marker)
            if text is None:
                errors.append(Failure(row, name, _shown(value), "wrong type: expected text or a number"))
            values[name].append(text or "")
    if errors:
        detail = f"{len({e.row for e in errors})} of {len(document)} rows are not records of the data set's fields"
        raise RequestError(detail, status=422, errors=errors)
    return Rows(TextRows(values), key)


def _text(value: Any, missing: str) -> str | None:
    """A JSON value as the text a delivered file would hold; None for a type no file holds."""
    if value is None:
        return missing
    if isinstance(value, bool | list | dict):
        return None
    if isinstance(value, str):
        return value.strip()
    return str(value)


def _shown(value: Any) -> Any:
    """A value to echo in an error: short."""
    text = json.dumps(value)
    return value if len(text) <= 80 else f"{text[:77]}..."


def _csv_rows(body: bytes, fmt: SourceFormat, label: str, max_rows: int) -> pd.DataFrame:
    comment = fmt.comment.encode(fmt.encoding) if fmt.comment else None
    lines = [line if line.endswith(b"\n") else line + b"\n" for line in body.splitlines(keepends=True)]
    lines = [line for line in lines if is_data(line, comment)]
    header = None
    if lines and (fmt.header or names_header(lines[0], fmt)):
        header, lines = lines[0], lines[1:]
    if not lines:
        raise RequestError(status=400, detail="no rows in the CSV body")
    if len(lines) > max_rows:
        raise RequestError(status=413, detail=f"{len(lines):,} rows: at most {max_rows:,} rows per request")
    try:
        return frame_of_lines(lines, header, fmt, label, where="request body", first=0)
    except PipelineError as exc:
        raise RequestError(status=400, detail=str(exc)) from None
