"""All file I/O of the pipeline: sources through fsspec, Parquet, JSON and model files.

Every write goes to a temporary name beside the target and is renamed only when
complete, so a failed or killed stage never leaves a partial output that a later
run (or `dvc checkout`) could mistake for a good one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from census_income.errors import PipelineError, SourceError

if TYPE_CHECKING:
    import pandas as pd


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only on success.

    Works for files and directories. On any exception the temporary is removed and
    `target` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staged = tmp / target.name
    try:
        yield staged
        if not staged.exists():
            raise PipelineError(f"{target}: nothing was written")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        staged.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_source(uri: str) -> bytes:
    """The bytes of a source: a local path or any fsspec URL (s3://, https://, ...)."""
    try:
        import fsspec

        with fsspec.open(uri, "rb") as handle:
            data: bytes = handle.read()
    except FileNotFoundError:
        raise SourceError(f"source {uri}: not found") from None
    except (OSError, ValueError, ImportError) as exc:
        raise SourceError(f"source {uri}: cannot read: {exc}".splitlines()[0]) from None
    return data


def md5_file(path: Path | str) -> str:
    """The md5 of a file, as DVC records it in dvc.lock."""
    digest = hashlib.md5()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_parquet(path: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet file written by `write_parquet`, optionally only some columns."""
    import pandas as pd

    try:
        return pd.read_parquet(path, columns=columns)
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run the stage that makes it)") from None


def write_parquet(frame: pd.DataFrame, path: Path | str) -> None:
    """Write a frame as Parquet, atomically; byte-identical for identical frames."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, compression="zstd")


def write_json(payload: Any, path: Path | str) -> None:
    """Write JSON with sorted keys, atomically, so the bytes depend only on the content."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: Path | str) -> Any:
    """A JSON file, with a one-line error naming it when missing or malformed."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{path}: not valid JSON: {exc}") from None


def dump_model(model: object, path: Path | str) -> None:
    """Persist a fitted estimator with joblib, atomically (joblib bytes are deterministic)."""
    import joblib

    with atomic_path(path) as tmp:
        joblib.dump(model, tmp, compress=3)


def load_model(path: Path | str, expected_md5: str | None) -> Any:
    """Unpickle a model only after its md5 matches the one recorded for it.

    Unpickling runs code, so a file that is not the one `dvc.lock` recorded is refused.
    """
    import joblib

    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: model file not found")
    actual = md5_file(path)
    if expected_md5 is not None and actual != expected_md5:
        raise PipelineError(
            f"{path}: md5 {actual} does not match {expected_md5} recorded in dvc.lock; "
            "refusing to load (run `dvc checkout` to restore it)"
        )
    return joblib.load(path)


class ParquetChunks:
    """Write frames of one schema into a Parquet file chunk by chunk, atomically.

    Memory holds one chunk at a time; a progress bar on stderr counts rows. The file
    appears under its name only when every chunk was written (`with` block ends cleanly).
    """

    def __init__(self, path: Path | str, total_rows: int, description: str) -> None:
        self.path, self.total_rows, self.description = Path(path), total_rows, description
        self._atomic = atomic_path(self.path)
        self._writer: Any = None
        self._progress: Any = None

    def __enter__(self) -> ParquetChunks:
        from tqdm import tqdm

        self._tmp = self._atomic.__enter__()
        self._progress = tqdm(
            total=self.total_rows, desc=self.description, unit="rows", unit_scale=True, disable=None, mininterval=1.0
        )
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk (same columns and dtypes as the first)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, table.schema, compression="zstd")
        self._writer.write_table(table)
        self._progress.update(len(frame))

    def __exit__(self, *exc_info: Any) -> None:
        if self._writer is not None:
            self._writer.close()
        self._progress.close()
        self._atomic.__exit__(*exc_info)
