"""All file I/O of the pipeline: sources through fsspec, Parquet, JSON and model files.

Every write goes to a temporary name beside the target and is renamed only when
complete, so a failed or killed stage never leaves a partial output that a later
run (or `dvc checkout`) could mistake for a good one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from census_income.errors import InputError, PipelineError, SourceError

if TYPE_CHECKING:
    import pandas as pd


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only on success.

    Works for files and directories. On any exception the temporary is removed and
    `target` is left as it was. Only a target of the same kind is replaced: a file never
    replaces a directory (or a fifo, a device...), so a wrong output name loses nothing.
    """
    target = Path(target)
    check_output_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{target}: {target.parent} is not a directory") from None
    _remove_dead(target.parent, f".{target.name}.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent))
    staged = tmp / target.name
    try:
        yield staged
        if not staged.exists():
            raise PipelineError(f"{target}: nothing was written")
        if target.is_dir() and not target.is_symlink():
            if not staged.is_dir():
                raise InputError(f"{target}: is a directory, not a file; refusing to replace it")
            # an output directory of ours: move the old one into the temporary, removed below
            target.replace(tmp / f"{target.name}.old")
        staged.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_output_path(target: Path) -> None:
    """Refuse, before any work, an output name that holds something other than a file or a
    directory (fifo, socket, device) or sits under a path that is not a directory."""
    for parent in target.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise InputError(f"{target}: {parent} is not a directory")
            break
    if target.exists() and not target.is_symlink() and not (target.is_file() or target.is_dir()):
        raise InputError(f"{target}: not a regular file; refusing to replace it")


class RunFiles:
    """The files of one run (say predictions and their side files), written into one hidden folder
    beside them and moved into place together when the run succeeds: a failed run changes none of
    them, a successful one replaces all (a named file the run did not write is removed, so no
    stale file of an earlier run stays beside new ones). A run killed before the end leaves its
    folder behind; the next run on the same files removes it, or finishes moving its files in
    when it was killed while doing so (its folder then holds the `complete` mark).
    """

    MARK = "complete"

    def __init__(self, targets: list[Path]) -> None:
        self.targets = [Path(t) for t in targets]
        self.parent = self.targets[0].parent
        self.prefix = f".{self.targets[0].name}.run-"
        for target in self.targets:
            check_output_path(target)
            if target.is_dir() and not target.is_symlink():
                raise InputError(f"{target}: is a directory, not a file; refusing to replace it")
        self.folder: Path | None = None

    def __enter__(self) -> RunFiles:
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InputError(f"{self.targets[0]}: {self.parent} is not a directory") from None
        self._clean_leftovers()
        self.folder = Path(tempfile.mkdtemp(prefix=f"{self.prefix}{os.getpid()}-", suffix=".tmp", dir=self.parent))
        return self

    def path(self, target: Path) -> Path:
        """Where to write `target` during the run."""
        assert self.folder is not None and target in self.targets
        return self.folder / target.name

    def __exit__(self, kind: Any, error: Any, *_: Any) -> None:
        assert self.folder is not None
        try:
            if isinstance(error, OSError):  # disk full and its kind, in one line naming the place
                reason = error.strerror or str(error).strip().splitlines()[0]
                raise PipelineError(f"{self.targets[0]}: cannot write: {reason}; nothing written") from None
            if kind is None:
                # the mark lists what the run wrote (to move in) and the names it did not (to drop)
                plan = {t.name: "put" if (self.folder / t.name).exists() else "drop" for t in self.targets}
                mark = self.folder / f"{self.MARK}.tmp"
                mark.write_text(json.dumps(plan), encoding="utf-8")
                mark.replace(self.folder / self.MARK)  # whole or absent
                self._move_in(self.folder)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _move_in(self, folder: Path) -> None:
        plan = json.loads((folder / self.MARK).read_text(encoding="utf-8"))
        for name, action in plan.items():
            staged, target = folder / name, self.parent / name
            if action == "drop":
                target.unlink(missing_ok=True)
            elif staged.exists():  # else moved in already, before the run was killed
                staged.replace(target)

    def _clean_leftovers(self) -> None:
        """Folders of killed runs: finish the one that was moving its files in, drop the others."""
        for folder in sorted(self.parent.glob(f"{self.prefix}*.tmp")):
            pid = folder.name[len(self.prefix) :].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and process_alive(int(pid)):
                continue  # a run still going on
            if (folder / self.MARK).exists():
                self._move_in(folder)
            shutil.rmtree(folder, ignore_errors=True)


def _remove_dead(parent: Path, prefix: str) -> None:
    """Remove the temporaries `<prefix><pid>-*.tmp` of processes that are gone (killed)."""
    for folder in parent.glob(f"{prefix}*.tmp"):
        pid = folder.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def process_alive(pid: int | None) -> bool:
    """Whether a process with this id exists (a leftover's writer, a queue worker)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_source(uri: str) -> bytes:
    """The bytes of a source: a local path or any fsspec URL (s3://, https://, ...)."""
    try:
        import fsspec

        with fsspec.open(uri, "rb") as handle:
            data: bytes = handle.read()
    except source_failures() as exc:
        raise source_error("source", uri, exc) from None
    return data


def source_failures() -> tuple[type[Exception], ...]:
    """What reading a source through fsspec raises: OS errors, an unknown protocol (ValueError) or
    one not installed (ImportError), and what S3 and HTTP clients pass through (no credentials):
    those only when loaded (this runs after the failure; a pandas stage blocks botocore)."""
    failures: list[type[Exception]] = [OSError, ValueError, ImportError]
    if (botocore := sys.modules.get("botocore.exceptions")) is not None:
        failures.append(botocore.BotoCoreError)
    if (aiohttp := sys.modules.get("aiohttp")) is not None:
        failures.append(aiohttp.ClientError)
    return tuple(failures)


def source_error(what: str, uri: str, exc: BaseException) -> SourceError:
    """One line for a source that cannot be opened or read, naming it and the reason: not
    found, a directory, no connection (fsspec's HTTP reports that as not found), no
    credentials, or the backend's own first line."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    names = " ".join(type(e).__name__ for e in chain)
    if any(isinstance(e, ConnectionError) for e in chain) or "Connector" in names:
        reason = "cannot connect (connection refused or host unreachable)"
    elif "NoCredentials" in names or "Credential" in names:
        reason = "no credentials for this remote (set them in the environment)"
    elif isinstance(exc, IsADirectoryError):
        reason = "is a directory, not a file"
    elif isinstance(exc, FileNotFoundError):
        reason = "not found"
    elif isinstance(exc, PermissionError):
        reason = "permission denied"
    else:
        text = str(exc).strip().splitlines()
        reason = f"cannot read: {type(exc).__name__}" + (f": {text[0][:200]}" if text else "")
    return SourceError(f"{what} {uri}: {reason}")


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


def read_regular(path: Path | str, what: str = "file") -> bytes:
    """The bytes of a regular file, read once (not a fifo, device or directory)."""
    import os
    import stat

    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise PipelineError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PipelineError(f"{path}: {what} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    finally:
        os.close(fd)


def load_model(path: Path | str, expected_md5: str | None) -> Any:
    """Unpickle a model only after its md5 matches the one recorded for it.

    Unpickling runs code, so a file that is not the one `dvc.lock` recorded is refused.
    The bytes are read once, hashed, and unpickled from memory: the file cannot be swapped
    between the check and the load.
    """
    return load_model_bytes(read_regular(path, "model file"), expected_md5, str(path))


def load_model_bytes(data: bytes, expected_md5: str | None, where: str) -> Any:
    """Unpickle model bytes already in memory, only when their md5 is `expected_md5`."""
    import io

    import joblib

    actual = hashlib.md5(data).hexdigest()
    if expected_md5 is not None and actual != expected_md5:
        raise PipelineError(
            f"{where}: md5 {actual} does not match {expected_md5} recorded in dvc.lock; "
            "refusing to load (run `dvc checkout` to restore it)"
        )
    try:
        return joblib.load(io.BytesIO(data))
    # what unpickling raises for bytes that are no pickle, or name a class not installed here
    except (pickle.UnpicklingError, EOFError, ValueError, LookupError, ImportError, AttributeError, TypeError) as exc:
        raise PipelineError(f"{where}: not a model file ({type(exc).__name__})") from None


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
