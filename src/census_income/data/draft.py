"""`census-income data draft`: a data set's configuration drafted from one of its files.

The draft is what a careful user would write after looking at the file: its format (sniffed),
its schema (categorical, integer or decimal columns), its contract (the observed categories,
ranges widened by a stated margin, missing shares, row bounds, the label's two values and rate
bounds) and a card to fill in. It is parsed by the same code ingest uses, so the draft passes
its own gates as written; the user reviews it and commits it.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from census_income.config import to_snake_case
from census_income.data.ingest import parse_source
from census_income.data.spec import SourceFormat, clashing_names, with_decimal_points
from census_income.errors import ConfigError

# values that commonly mean "missing", most specific first; the most frequent one found wins
MISSING_MARKERS = ("NA", "?", "N/A", "NaN", "nan", "null", "NULL", "-", "")
DELIMITERS = ",;\t|"
INTEGER = re.compile(r"^[-+]?\d+$")
DECIMAL = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
# a number with a fraction after a comma or after a point: which one a file uses for decimals
COMMA_FRACTION = re.compile(r"^[-+]?\d*,\d+$")
POINT_FRACTION = re.compile(r"^[-+]?\d*\.\d+$")
# below this many rows a quantile comparison between split parts is noise, not a check
MIN_ROWS_FOR_DISTRIBUTION = 2000


@dataclass(frozen=True)
class Draft:
    """The three files of a data set, as YAML text, and where they go."""

    name: str
    files: dict[Path, str]


def sniff_format(content: bytes, where: str, label: str) -> SourceFormat:
    """Encoding, delimiter, header and missing marker of a delimited text file."""
    encoding = "utf-8"
    try:
        text = content.decode("utf-8-sig")
        encoding = "utf-8-sig" if content.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError:
        text, encoding = content.decode("latin-1"), "latin-1"
    sample = text[:65536]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    rows = list(csv.reader(io.StringIO(sample), delimiter=delimiter, skipinitialspace=True))
    rows = [row for row in rows if row]
    if len(rows) < 2:
        raise ConfigError(f"{where}: fewer than two rows: nothing to draft a contract from")
    first = [cell.strip() for cell in rows[0]]
    header = label in first or (not any(DECIMAL.match(c) for c in first) and csv.Sniffer().has_header(sample))
    columns = first if header else [f"column_{i + 1}" for i in range(len(first))]
    body = [cell.strip() for row in rows[1 if header else 0 :] for cell in row]
    counts = {marker: body.count(marker) for marker in MISSING_MARKERS}
    found = [marker for marker in MISSING_MARKERS if counts[marker]]
    missing = max(found, key=lambda m: counts[m]) if found else "?"
    _refuse_clashing(columns, where)
    commas = delimiter != "," and any(map(COMMA_FRACTION.match, body)) and not any(map(POINT_FRACTION.match, body))
    return SourceFormat(
        columns=columns,
        delimiter=delimiter,
        header=header,
        encoding=encoding,
        missing_marker=missing,
        decimal="," if commas else ".",
    )


def _refuse_clashing(columns: list[str], where: str) -> None:
    problem = clashing_names(columns)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")


def draft(path: Path, label: str, positive: str | None, name: str | None, margin: float) -> Draft:
    """The drafted `conf/data/<name>.yaml`, `conf/datasets/<name>.yaml` and its card."""
    where = str(path)
    if "'" in where:  # the stage command quotes the path with it (a space is fine)
        raise ConfigError(f"{where}: a single quote in the file's path: rename the file")
    content = path.read_bytes()
    is_parquet = where.lower().endswith(".parquet")
    fmt = SourceFormat(columns=["a", "b"]) if is_parquet else sniff_format(content, where, label)
    raw = parse_source(content, fmt, where)
    if is_parquet:
        _refuse_clashing([str(c) for c in raw.columns], where)
        fmt = SourceFormat(columns=[str(c) for c in raw.columns], header=True)
    if label not in raw.columns:
        raise ConfigError(f"{where}: --label {label}: not a column (columns: {', '.join(map(str, raw.columns))})")
    name = name or to_snake_case(path.stem)
    spec_path = Path("conf/datasets") / f"{name}.yaml"
    schema, contract = _schema_and_contract(raw, fmt, label, positive, margin=margin, where=where)
    description = {
        "format": fmt.model_dump(exclude_defaults=False),
        "schema": schema,
        "slices": [],
        "contract": contract,
    }
    description["slices"] = _slices(raw, fmt, schema)
    rows = len(raw)
    header = (
        f"# Drafted by `census-income data draft {path} --label {label}"
        f"{f' --positive {positive}' if positive else ''}` from {rows} rows: review, then commit.\n"
        f"# Ranges are the observed ones widened by {margin:g} of their width on each side; missing shares\n"
        f"# and the label rate are the observed ones plus {margin:g} (relative, then absolute); the row\n"
        "# bounds are half to ten times this file's rows. Tighten what you know better.\n"
    )
    option = {"name": name, "source": {"train": str(path)}, "generate": {}, "spec": str(spec_path)}
    card = {
        "title": name,
        "description": f"Drafted from {path.name} ({rows} rows, {len(raw.columns)} columns).",
        "intended_use": "To be written: what this data may and may not be used for.",
        "limitations": ["To be written: how the rows were collected, and who is missing from them."],
        "license": "To be written: the data's license.",
        "citation": "To be written: where the data comes from.",
    }
    return Draft(
        name,
        {
            Path("conf/data") / f"{name}.yaml": f"# {name}: drafted from {path}; one part, `train`.\n" + _dump(option),
            spec_path: header + _dump(description),
            spec_path.with_suffix(".card.yaml"): "# The data set's card, for the model card: fill it in.\n"
            + _dump(card),
        },
    )


def _schema_and_contract(
    raw: pd.DataFrame, fmt: SourceFormat, label: str, positive: str | None, *, margin: float, where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    categorical: list[str] = []
    numeric: list[str] = []
    decimal: list[str] = []
    nullable: list[str] = []
    categories: dict[str, Any] = {}
    ranges: dict[str, Any] = {}
    labelled = raw.index.isin(_present(raw[label], fmt.missing_marker)[0].index)
    for column in raw.columns:
        if column == label:
            continue
        values, missing = _present(raw[column], fmt.missing_marker)
        snake = to_snake_case(str(column))
        # the raw gate counts all rows, the prepared gate the labelled ones: the larger share
        labelled_missing = missing - int((~raw.index.isin(values.index) & ~labelled).sum())
        share = max(_share(missing, len(raw), margin), _share(labelled_missing, max(1, int(labelled.sum())), margin))
        kind = _kind(raw[column], points := _as_read(values, fmt))
        if kind == "categorical":
            categorical.append(snake)
            categories[snake] = {"values": sorted(values.astype(str).unique().tolist())}
            if share:
                categories[snake]["max_missing"] = share
            continue
        numeric.append(snake)
        numbers = pd.to_numeric(points).astype("float64")
        low, high = float(numbers.min()), float(numbers.max())
        pad = margin * (high - low)
        if kind == "decimal":
            decimal.append(snake)
            bounds = {"min": _round(low - pad, math.floor), "max": _round(high + pad, math.ceil)}
        else:
            if missing:
                nullable.append(snake)
            bounds = {"min": math.floor(low - pad), "max": math.ceil(high + pad)}
        ranges[snake] = {**bounds, **({"max_missing": share} if share else {})}
    labels, unlabelled = _present(raw[label], fmt.missing_marker)
    observed = labels.astype(str).value_counts()
    if len(observed) != 2:
        raise ConfigError(
            f"{where}: label {label}: {len(observed)} distinct values {observed.index.tolist()[:5]}; "
            "a binary label has two"
        )
    if positive is None:
        positive = str(observed.index[-1])  # the rarer value, as is usual for the class of interest
    elif positive not in observed.index:
        raise ConfigError(f"{where}: --positive {positive}: not a value of {label} ({', '.join(observed.index)})")
    rate = float(observed[positive]) / float(observed.sum())
    schema: dict[str, Any] = {"categorical": categorical, "numeric": numeric}
    if decimal:
        schema["decimal"] = decimal
    if nullable:
        schema["nullable"] = nullable
    schema["label"] = {"column": label, "positive": positive, **({"missing": "drop"} if unlabelled else {})}
    rows = len(raw)
    distribution = _distribution(raw, numeric) if rows >= MIN_ROWS_FOR_DISTRIBUTION else []
    contract = {
        "rows": {"min": max(1, rows // 2), "max": rows * 10},
        "label_rate": {"min": round(max(0.0, rate - margin), 4), "max": round(min(1.0, rate + margin), 4)},
        "label_values": sorted(observed.index.tolist()),
        "categorical": categories,
        "numeric": ranges,
        "distribution": distribution,
    }
    return schema, contract


def _present(values: pd.Series, marker: str) -> tuple[pd.Series, int]:
    """The non-missing values of a raw column (stripped text or stored numbers) and the missing count."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.dropna(), int(values.isna().sum())
    text = values.astype("string").str.strip()
    absent = text.isna() | text.isin([marker, ""])
    return text[~absent], int(absent.sum())


def _as_read(values: pd.Series, fmt: SourceFormat) -> pd.Series:
    """The values as numbers are read from them (a decimal comma as a point)."""
    return values if fmt.decimal == "." else with_decimal_points(values.astype(str), fmt.decimal)


def _kind(stored: pd.Series, values: pd.Series) -> str:
    """`integer`, `decimal` or `categorical`, from the stored type or else the text."""
    if pd.api.types.is_integer_dtype(stored.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(stored.dtype):
        return "decimal"
    text = values.astype(str)
    if text.empty:
        return "categorical"
    if text.str.match(INTEGER.pattern).all():
        return "integer"
    if text.str.match(DECIMAL.pattern).all():
        return "decimal"
    return "categorical"


def _share(missing: int, rows: int, margin: float) -> float:
    """The observed missing share plus the margin (relative), rounded up to a percent; 0 if none."""
    if not missing:
        return 0.0
    return min(1.0, math.ceil(missing / rows * (1 + margin) * 100) / 100)


def _round(value: float, direction: Any) -> float:
    """Rounded outwards to 6 significant digits, so the bound stays outside the observed value."""
    if value == 0:
        return 0.0
    scale = 10 ** (5 - math.floor(math.log10(abs(value))))
    return float(direction(value * scale) / scale)


def _distribution(raw: pd.DataFrame, numeric: list[str]) -> list[str]:
    """Up to four numeric columns with many distinct values: those whose quantiles say something."""
    by_snake = {to_snake_case(str(c)): c for c in raw.columns}
    distinct = {c: raw[by_snake[c]].nunique() for c in numeric}
    return sorted((c for c in numeric if distinct[c] >= 20), key=lambda c: -distinct[c])[:4]


def _slices(raw: pd.DataFrame, fmt: SourceFormat, schema: dict[str, Any]) -> list[str]:
    """Up to two categorical columns with 2 to 10 values: groups whose metrics are worth comparing."""
    by_snake = {to_snake_case(str(c)): c for c in raw.columns}
    fits = [c for c in schema["categorical"] if 2 <= _present(raw[by_snake[c]], fmt.missing_marker)[0].nunique() <= 10]
    return fits[:2]


class _Dumper(yaml.SafeDumper):
    """Lists of plain values on one line (`[a, b, c]`), as the hand-written configs have them."""


_Dumper.add_representer(
    list,
    lambda dumper, items: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", items, flow_style=all(not isinstance(i, dict | list) for i in items)
    ),
)


def _dump(mapping: dict[str, Any]) -> str:
    return yaml.dump(mapping, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def write_draft(result: Draft, root: Path, force: bool) -> list[Path]:
    """Write the drafted files under `root`; an existing one is left alone unless `force`."""
    existing = [path for path in result.files if (root / path).exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]}: exists (pass --force to replace the draft)")
    for path, text in result.files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return list(result.files)
