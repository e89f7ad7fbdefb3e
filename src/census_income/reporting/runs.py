"""Read back the stage run log (`logs/pipeline.jsonl`) as a table of recent runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = (
    "time",
    "stage",
    "status",
    "wall_seconds",
    "startup",
    "gate_seconds",
    "rows_in",
    "rows_out",
    "peak_memory_mb",
    "gate",
    "error",
)


def read_runs(path: Path) -> list[dict[str, Any]]:
    """Finished stage runs (start events dropped), oldest first; bad lines are skipped."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("status") != "start":
            events.append(event)
    return events


def format_runs(events: list[dict[str, Any]], last: int) -> str:
    """The last `last` runs as an aligned text table."""
    rows = [[_cell(event.get(column)) for column in COLUMNS] for event in events[-last:]]
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(COLUMNS)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    text = str(value).partition("\n")[0]  # a gate report is several lines: its first says what failed
    return text[11:19] if len(text) > 19 and text[4] == "-" and "T" in text else text[:60]
