"""io: atomic writes leave either the old target or the complete new one; models load by md5."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from census_income.errors import PipelineError, SourceError
from census_income.io import (
    atomic_path,
    dump_model,
    load_model,
    md5_file,
    read_json,
    read_parquet,
    read_source,
    write_json,
    write_parquet,
)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_atomic_file_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out" / "metrics.json"
    with atomic_path(target) as tmp:
        assert tmp != target and tmp.parent.parent == target.parent
        tmp.write_text("{}")
        assert not target.exists()
    assert target.read_text() == "{}"
    assert leftovers(target.parent) == ["metrics.json"]


def test_atomic_path_leaves_no_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "model.joblib"
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a model")
        raise RuntimeError("boom")
    assert leftovers(tmp_path) == []


def test_atomic_path_keeps_the_old_target_on_error(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError
    assert target.read_bytes() == b"good"
    assert leftovers(tmp_path) == ["table.parquet"]


def test_atomic_directory_replaces_the_old_one_whole(tmp_path: Path) -> None:
    target = tmp_path / "split"
    target.mkdir()
    (target / "stale.parquet").write_bytes(b"old")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "train.parquet").write_bytes(b"new")
    assert leftovers(target) == ["train.parquet"]
    assert leftovers(tmp_path) == ["split"]


def test_atomic_path_with_nothing_written_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="nothing was written"), atomic_path(tmp_path / "x.json"):
        pass
    assert leftovers(tmp_path) == []


def test_parquet_round_trip_is_byte_stable(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": pd.Categorical(["x", None])})
    write_parquet(frame, tmp_path / "one.parquet")
    write_parquet(frame.copy(), tmp_path / "two.parquet")
    assert md5_file(tmp_path / "one.parquet") == md5_file(tmp_path / "two.parquet")
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "one.parquet"), frame)
    with pytest.raises(PipelineError, match=r"missing\.parquet: not found"):
        read_parquet(tmp_path / "missing.parquet")


def test_json_is_sorted_and_errors_name_the_file(tmp_path: Path) -> None:
    write_json({"b": 1, "a": {"d": 2, "c": 3}}, tmp_path / "m.json")
    text = (tmp_path / "m.json").read_text()
    assert text.index('"a"') < text.index('"b"') and text.index('"c"') < text.index('"d"')
    assert read_json(tmp_path / "m.json") == {"a": {"c": 3, "d": 2}, "b": 1}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PipelineError, match=r"bad\.json: not valid JSON"):
        read_json(tmp_path / "bad.json")


def test_md5_is_what_dvc_records(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"census" * 1000)
    assert md5_file(path) == hashlib.md5(b"census" * 1000).hexdigest()


def test_load_model_checks_the_md5_first(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    dump_model({"weights": [1, 2, 3]}, path)
    recorded = md5_file(path)
    assert load_model(path, recorded) == {"weights": [1, 2, 3]}

    dump_model({"weights": [6, 6, 6]}, path)  # replaced behind dvc's back
    with pytest.raises(PipelineError, match=rf"does not match {recorded} recorded in dvc\.lock; refusing") as caught:
        load_model(path, recorded)
    assert "\n" not in str(caught.value)


def test_load_model_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"model\.joblib: model file not found"):
        load_model(tmp_path / "model.joblib", "0" * 32)


def test_read_source_local_and_missing(tmp_path: Path) -> None:
    source = tmp_path / "adult.data"
    source.write_bytes(b"1,2\n")
    assert read_source(str(source)) == b"1,2\n"
    with pytest.raises(SourceError, match=r"^source .*nowhere\.data: not found$"):
        read_source(str(tmp_path / "nowhere.data"))


def test_a_missing_source_is_one_error_in_a_process_that_blocks_the_s3_client(tmp_path: Path) -> None:
    """A pandas stage blocks botocore; naming what S3 raises must not import it (it did: a traceback)."""
    code = (
        "import sys\n"
        "from census_income.stages.harness import UNUSED_ON_PANDAS, skip_imports\n"
        "skip_imports(UNUSED_ON_PANDAS)\n"
        "from census_income.errors import SourceError\n"
        "from census_income.io import read_source\n"
        "try:\n"
        f"    read_source({str(tmp_path / 'missing.csv')!r})\n"
        "except SourceError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-1500:]
    assert "missing.csv" in result.stdout and "not found" in result.stdout
