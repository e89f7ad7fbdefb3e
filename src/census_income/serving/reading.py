"""Reading raw rows to score: a file (any fsspec URL) chunk by chunk, or lines already in memory.

Text is cut at line ends and each piece parsed by `parse_source` (the pipeline's own parser);
a line longer than MAX_LINE_BYTES (or a Parquet row larger) refuses the input before it is held
in memory whole.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from census_income.data.spec import SourceFormat
from census_income.errors import InputError
from census_income.io import source_error, source_failures

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 100_000
# the longest input line (or Parquet row) accepted: far above any real row, far below memory
MAX_LINE_BYTES = 1 << 20


def is_data(line: bytes, comment: bytes | None) -> bool:
    """A line holding a row: not blank, not only a comment."""
    return bool((line.split(comment, 1)[0] if comment else line).strip())


def names_header(line: bytes, fmt: SourceFormat) -> bool:
    """A line of a headerless format that is a header all the same: the format's own column names
    (in any order, the label's optional), as spreadsheets and `to_csv` write them. Scoring reads it
    as the header rather than as a row of bad values."""
    if fmt.header:
        return False
    try:
        text = line.decode(fmt.encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    names = [field.strip().strip("\"'") for field in text.rstrip("\r\n").split(fmt.delimiter)]
    known = set(fmt.columns)
    return len(set(names)) == len(names) >= len(known) - 1 and set(names) <= known


@contextlib.contextmanager
def _opened(uri: str) -> Iterator[IO[bytes]]:
    """The input's bytes; any failure to open or read it (missing, a directory, no connection,
    no credentials, not Parquet) is one line naming the input."""
    import fsspec

    try:
        with fsspec.open(uri, "rb") as handle:
            yield handle
    except source_failures() as exc:
        raise source_error("input", uri, exc) from None


def _lines(handle: IO[bytes], uri: str) -> Iterator[bytes]:
    """The input's lines, each at most MAX_LINE_BYTES: a longer one refuses the file before it
    is held in memory whole."""
    number = 0
    while line := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES:
            raise InputError(f"input {uri} line {number}: longer than {MAX_LINE_BYTES:,} bytes; refused")
        yield line


def _parquet(handle: IO[bytes], uri: str) -> Any:
    """The input as a Parquet file, refused when a row is larger than a text line may be."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(handle)
    meta = parquet.metadata
    for group in range(meta.num_row_groups):
        info = meta.row_group(group)
        if info.num_rows and info.total_byte_size / info.num_rows > MAX_LINE_BYTES:
            raise InputError(f"input {uri} row group {group}: rows larger than {MAX_LINE_BYTES:,} bytes; refused")
    return parquet


def input_digest(uri: str, fmt: SourceFormat) -> tuple[str, int]:
    """md5 of the input's bytes (as DVC computes it) and its number of data rows."""
    digest = hashlib.md5()
    rows = 0
    comment = fmt.comment.encode(fmt.encoding) if fmt.comment else None
    with _opened(uri) as handle:
        if uri.lower().endswith(".parquet"):
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            handle.seek(0)
            return digest.hexdigest(), int(_parquet(handle, uri).metadata.num_rows)
        headed = fmt.header
        for line in _lines(handle, uri):
            digest.update(line)
            if is_data(line, comment):
                headed = headed or (rows == 0 and names_header(line, fmt))
                rows += 1
    return digest.hexdigest(), max(rows - int(headed), 0)


def read_chunks(uri: str, fmt: SourceFormat, label: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Raw rows as delivered, `chunk_rows` at a time, indexed by row number (0-based, data rows).

    Text is cut at line ends and each piece parsed by `parse_source` (the pipeline's own parser);
    a headerless file without the label column gets the other names in order.
    """
    import pandas as pd

    if uri.lower().endswith(".parquet"):
        first = 0
        with _opened(uri) as handle:
            for batch in _parquet(handle, uri).iter_batches(batch_size=chunk_rows):
                frame: pd.DataFrame = batch.to_pandas()
                frame.index = pd.RangeIndex(first, first + len(frame))
                first += len(frame)
                yield frame
        return

    comment = fmt.comment.encode(fmt.encoding) if fmt.comment else None
    header: bytes | None = None
    lines: list[bytes] = []
    first = 0
    with _opened(uri) as handle:
        for line in _lines(handle, uri):
            if not is_data(line, comment):
                continue
            if header is None and (fmt.header or (first == 0 and not lines and names_header(line, fmt))):
                header = line if line.endswith(b"\n") else line + b"\n"
                continue
            lines.append(line)
            if len(lines) == chunk_rows:
                chunk = frame_of_lines(lines, header, fmt, label, where=uri, first=first)
                first += len(chunk)
                lines = []
                yield chunk
        if lines:
            yield frame_of_lines(lines, header, fmt, label, where=uri, first=first)


def frame_of_lines(
    lines: list[bytes], header: bytes | None, fmt: SourceFormat, label: str, *, where: str, first: int
) -> pd.DataFrame:
    """Data lines (and the header line, if any) as raw rows numbered from `first`; a headerless
    input without the label column gets the other names in order."""
    import pandas as pd

    from census_income.data.ingest import parse_source

    unlabelled = [c for c in fmt.columns if c != label]
    where = f"{where} rows {first}-{first + len(lines) - 1}"
    # a header in a headerless format (`names_header`) is parsed as the header it is
    read_as = fmt if fmt.header or header is None else fmt.model_copy(update={"header": True})
    frame = parse_source((header or b"") + b"".join(lines), read_as, where)
    if not read_as.header and frame.shape[1] == len(unlabelled) and len(unlabelled) < len(fmt.columns):
        frame.columns = unlabelled
    frame.index = pd.RangeIndex(first, first + len(frame))
    return frame
