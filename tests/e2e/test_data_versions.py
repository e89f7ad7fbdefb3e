"""Two versions of the data set through the normal flow, and any revision restored exactly.

v1 is the reproduced bundled data. v2 is a corrected drop: the training file without its exact
duplicate rows, taken in the way a user would (replace the source, `dvc repro`, commit, `dvc
push` to the default remote). Going back to v1 (`git checkout` + `dvc checkout`, or `dvc pull`
in a new clone) must give v1's data, model and metrics byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import run
from tests.e2e.project import Project
from tests.e2e.versioning import assert_in_sync, clone, dvc, home_env, output_bytes

pytestmark = pytest.mark.slow

SOURCE = "src/census_income/data/adult/adult.data"
MODEL = "models/model.joblib"
METRICS = "reports/evaluate/metrics.json"
# what a new version of the training data must change, and what it must not
CHANGED = ["data/raw/train.parquet", "data/prepared/table.parquet", MODEL, METRICS]
UNCHANGED = ["data/raw/test.parquet"]


@dataclass(frozen=True)
class Versions:
    project: Path
    home: Path
    bytes: dict[str, dict[str, str]]  # tag -> output file -> md5
    locks: dict[str, bytes]  # tag -> dvc.lock


def corrected_drop(text: str) -> str:
    """The source without rows that repeat an earlier row exactly (a plausible upstream fix)."""
    seen: set[str] = set()
    kept = []
    for line in text.splitlines(keepends=True):
        if line.strip() and line in seen:
            continue
        seen.add(line)
        kept.append(line)
    return "".join(kept)


@pytest.fixture(scope="module")
def versions(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Versions:
    root = tmp_path_factory.mktemp("versions")
    project = root / "project"
    shutil.copytree(reproduced_template, project, symlinks=True)
    env = home_env(project, root / "home")
    Project(project).commit("v1: the bundled data")
    run(["git", "tag", "v1"], project)
    dvc(project, env, "push")
    snapshot = {"v1": output_bytes(project)}
    locks = {"v1": (project / "dvc.lock").read_bytes()}

    source = project / SOURCE
    original = source.read_text(encoding="utf-8")
    corrected = corrected_drop(original)
    assert 0 < original.count("\n") - corrected.count("\n") < 100, "expected a few duplicate rows"
    source.write_text(corrected, encoding="utf-8")
    dvc(project, env, "repro")
    Project(project).commit("v2: training data without exact duplicates")
    run(["git", "tag", "v2"], project)
    dvc(project, env, "push")
    snapshot["v2"] = output_bytes(project)
    locks["v2"] = (project / "dvc.lock").read_bytes()
    return Versions(project, root / "home", snapshot, locks)


def test_second_version_changes_data_model_and_metrics(versions: Versions) -> None:
    v1, v2 = versions.bytes["v1"], versions.bytes["v2"]
    assert set(v1) == set(v2)
    for path in CHANGED:
        assert v1[path] != v2[path], f"{path} did not change with the data"
    for path in UNCHANGED:
        assert v1[path] == v2[path], f"{path} changed though its source did not"

    env = home_env(versions.project, versions.home)
    diff = json.loads(dvc(versions.project, env, "diff", "--json", "v1", "v2").stdout)
    modified = {entry["path"] for entry in diff["modified"]}
    assert {"data/raw/train.parquet", "data/prepared/table.parquet", MODEL} <= modified, modified
    assert "data/raw/test.parquet" not in modified
    metrics = json.loads(dvc(versions.project, env, "metrics", "diff", "--json", "v1", "v2").stdout)
    changed = metrics[METRICS]
    assert changed["test.roc_auc"]["old"] != changed["test.roc_auc"]["new"], changed
    # each version's dvc.lock pins the exact source bytes committed with it
    for tag in ("v1", "v2"):
        lock = yaml.safe_load(versions.locks[tag])
        pinned = next(d["md5"] for d in lock["stages"]["ingest@train"]["deps"] if d["path"] == SOURCE)
        committed = subprocess.run(
            ["git", "show", f"{tag}:{SOURCE}"], cwd=versions.project, capture_output=True, check=True
        ).stdout
        assert pinned == hashlib.md5(committed).hexdigest(), tag


def test_checkout_of_v1_restores_data_model_and_metrics_byte_for_byte(versions: Versions) -> None:
    project = versions.project
    env = home_env(project, versions.home)
    try:
        run(["git", "checkout", "-q", "v1"], project)
        dvc(project, env, "checkout")
        assert (project / "dvc.lock").read_bytes() == versions.locks["v1"]
        assert output_bytes(project) == versions.bytes["v1"]
        assert_in_sync(project, env)
    finally:
        run(["git", "checkout", "-q", "main"], project)
        dvc(project, env, "checkout")
    assert output_bytes(project) == versions.bytes["v2"]


def test_a_new_clone_pulls_either_version_exactly(versions: Versions, tmp_path: Path) -> None:
    new = clone(versions.project, tmp_path / "clone")
    env = home_env(new, versions.home)  # the same user: the default remote is where v1 and v2 were pushed
    for tag in ("v1", "v2"):
        run(["git", "checkout", "-q", tag], new)
        dvc(new, env, "pull")
        assert output_bytes(new) == versions.bytes[tag], f"{tag} differs after `dvc pull` in a new clone"
        assert_in_sync(new, env)
