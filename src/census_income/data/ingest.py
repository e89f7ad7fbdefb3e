"""Parse a delimited source file as delivered: names from config, values untouched.

Raw data is never edited: whitespace after the delimiter is part of the format, but
values (`?`, the `.` on test labels, odd spellings) stay as they are for prepare.
"""

from __future__ import annotations

import io

import pandas as pd

from census_income.data.spec import SourceFormat
from census_income.errors import SourceError


def parse_source(content: bytes, fmt: SourceFormat, where: str) -> pd.DataFrame:
    """The rows of one source file, one column per configured name.

    Delimited text (the format `data.format` describes) is read as strings: numbers stay
    text so that a garbled value reaches the raw contract (which names the column)
    instead of failing inside the parser. A `.parquet` source keeps its stored types.
    """
    if where.lower().endswith(".parquet"):
        return _parse_parquet(content, where)
    try:
        text = content.decode(fmt.encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"source {where}: not {fmt.encoding} text at byte {exc.start}: {content[exc.start : exc.start + 8]!r}"
        ) from None
    if not text.strip():
        raise SourceError(f"source {where}: empty file")
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=fmt.delimiter,
            header=0 if fmt.header else None,
            comment=fmt.comment,
            skipinitialspace=True,
            skip_blank_lines=True,
            dtype=str,
            keep_default_na=False,
            index_col=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"source {where}: cannot parse: {reason}") from None
    if not fmt.header:
        # positional columns: surplus ones get a name the raw contract will reject
        frame.columns = [
            fmt.columns[i] if i < len(fmt.columns) else f"unexpected_{i + 1}" for i in range(frame.shape[1])
        ]
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _parse_parquet(content: bytes, where: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(content))
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"source {where}: not a readable Parquet file: {exc}".splitlines()[0]) from None
    frame: pd.DataFrame = table.to_pandas()
    return frame
