"""The model registry end to end: real git, real `gto`, real `dvc`, in a temporary copy.

Two versions come from two commits (the reproduced default model, then `model.max_iter=100`
reproduced and committed); the tests promote, score, roll back and score again, and check that
the scores come from the exact bytes that each version's `dvc.lock` records.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.conftest import run
from tests.e2e.project import Project

pytestmark = pytest.mark.slow

NAME = "census-income-model"
MODEL = "models/model.joblib"
TEST_SOURCE = "src/census_income/data/adult/adult.test"
SAMPLE_ROWS = 3000  # the first rows of the test source: scoring them is what is tested, not their number


def cli(project: Path, *args: str, check: bool = True) -> str:
    """`census-income <args>` with the copy's own code; its stdout (stderr too when `check` is off)."""
    result = run([sys.executable, "-m", "census_income.cli", *args], project, check=check)
    return result.stdout if check else f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def scores_of_bytes(project: Path, md5: str) -> np.ndarray:
    """Scores of the sample (the first rows of the test split) by the model file with this md5,
    read straight from the DVC cache."""
    model = joblib.load(project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:])
    test = pd.read_parquet(project / "data" / "split" / "test.parquet").head(SAMPLE_ROWS)
    return np.asarray(model.predict_proba(test)[:, 1])


@dataclass(frozen=True)
class Registry:
    project: Path
    commits: dict[str, str]  # version -> commit
    md5: dict[str, str]  # version -> model md5 in that commit's dvc.lock
    sample: Path  # raw rows to score, as delivered


@pytest.fixture(scope="module")
def registry(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    folder = tmp_path_factory.mktemp("registry")
    project = folder / "project"
    shutil.copytree(reproduced_template, project, symlinks=True)
    lines = (project / TEST_SOURCE).read_text(encoding="utf-8").splitlines(keepends=True)
    sample = folder / "sample.csv"
    sample.write_text("".join([line for line in lines if line.strip() and not line.startswith("|")][:SAMPLE_ROWS]))
    first = Project(project).commit("reproduced: the default model")
    assert cli(project, "register", "--version", "v1.0.0").startswith(f"registered {NAME}@v1.0.0 at commit")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  max_iter: 300\n", "  max_iter: 100\n"))
    run(["dvc", "repro", "--quiet"], project)
    second = Project(project).commit("fewer boosting iterations")
    assert cli(project, "register", "--bump", "minor").startswith(f"registered {NAME}@v1.1.0")
    commits = {"v1.0.0": first, "v1.1.0": second}
    md5 = {version: Project(project).outs(rev)[MODEL] for version, rev in commits.items()}
    assert md5["v1.0.0"] != md5["v1.1.0"]
    return Registry(project, commits, md5, sample)


def tags(project: Path) -> list[str]:
    return run(["git", "tag", "--list", f"{NAME}*"], project).stdout.split()


def gto_prod(project: Path) -> str:
    """What `gto` itself says is in prod."""
    return run(["gto", "show", f"{NAME}#prod", "--version"], project).stdout.strip()


def predictions(registry: Registry, out: Path, *args: str) -> pd.DataFrame:
    cli(registry.project, "predict", str(registry.sample), "-o", str(out), *args)
    return pd.read_parquet(out).sort_values("row").reset_index(drop=True)


def test_versions_are_gto_tags_on_their_commits(registry: Registry) -> None:
    project = registry.project
    for version, rev in registry.commits.items():
        tagged = run(["git", "rev-list", "-n", "1", f"{NAME}@{version}"], project).stdout.strip()
        assert tagged == rev
    listed = cli(project, "models")
    lines = {line.split()[0]: line for line in listed.splitlines()[2:]}
    assert list(lines) == ["v1.1.0", "v1.0.0"]  # highest first
    for version, rev in registry.commits.items():
        assert rev[:7] in lines[version]
    # headline metrics come from each commit's own metrics file
    assert listed.splitlines()[1].split()[-2:] == ["test.roc_auc", "test.error_rate"]
    assert all(float(lines[v].split()[-2]) > 0.85 for v in lines)
    assert len({lines[v].split()[-3] for v in lines}) == 1  # same data md5 for both versions


def test_promote_score_rollback_score_shadow(registry: Registry, tmp_path: Path) -> None:
    project = registry.project
    assert "prod: assigned to v1.1.0" in cli(project, "promote", "v1.1.0", "prod")
    assert gto_prod(project) == "v1.1.0"
    assert any(tag.startswith(f"{NAME}#prod#") for tag in tags(project))

    second = predictions(registry, tmp_path / "prod-v1.1.0.parquet", "--model", "prod")
    assert set(second["model_version"].astype(str)) == {"v1.1.0"}
    expected_second = scores_of_bytes(project, registry.md5["v1.1.0"])
    np.testing.assert_allclose(second["score"], expected_second, rtol=0, atol=1e-12)

    out = cli(project, "rollback")
    assert "prod: v1.1.0 -> v1.0.0" in out
    assert gto_prod(project) == "v1.0.0"
    first = predictions(registry, tmp_path / "prod-v1.0.0.parquet", "--model", "prod")
    assert set(first["model_version"].astype(str)) == {"v1.0.0"}
    expected_first = scores_of_bytes(project, registry.md5["v1.0.0"])
    np.testing.assert_allclose(first["score"], expected_first, rtol=0, atol=1e-12)
    assert not np.allclose(first["score"], second["score"])
    input_md5 = hashlib.md5(registry.sample.read_bytes()).hexdigest()
    assert set(first["input_md5"].astype(str)) == {input_md5}

    # a second rollback undoes the first: prod goes back to the version it held before
    assert "prod: v1.0.0 -> v1.1.0" in cli(project, "rollback")
    assert gto_prod(project) == "v1.1.0"
    cli(project, "rollback")
    assert gto_prod(project) == "v1.0.0"
    listed = cli(project, "models")
    assert [line.split()[1] for line in listed.splitlines()[2:]] == ["-", "prod"]

    # shadow scoring: the same rows by staging as well, the primary output unchanged
    cli(project, "promote", "v1.1.0", "staging")
    shadowed = predictions(registry, tmp_path / "shadowed.parquet", "--model", "prod", "--shadow", "staging")
    pd.testing.assert_frame_equal(shadowed, first)
    report = json.loads((tmp_path / "shadowed.shadow.json").read_text())
    assert (report["primary"], report["shadow"]) == ("v1.0.0", "v1.1.0")
    disagree = int(np.sum((first["score"].to_numpy() >= 0.5) != (expected_second >= 0.5)))
    assert report["disagreements"] == disagree > 0
    assert sum(c["disagreements"] for c in report["by_slice"]["sex"].values()) == disagree
    assert not (tmp_path / "prod-v1.0.0.shadow.json").exists()


def test_dvc_artifacts_get_gives_the_bytes_dvc_lock_records(registry: Registry, tmp_path: Path) -> None:
    out = tmp_path / "model.joblib"
    run(["dvc", "artifacts", "get", ".", NAME, "--rev", "v1.0.0", "-o", str(out)], registry.project)
    assert hashlib.md5(out.read_bytes()).hexdigest() == registry.md5["v1.0.0"]


def test_promote_refuses_unknown_stages_and_versions(registry: Registry) -> None:
    project = registry.project
    before = tags(project)
    assert "unknown stage qa" in cli(project, "promote", "v1.0.0", "qa", check=False)
    assert "v9.9.9 is not registered" in cli(project, "promote", "v9.9.9", "prod", check=False)
    assert "already in prod" in cli(project, "promote", gto_prod(project), "prod")
    assert tags(project) == before


def test_a_tampered_model_file_is_refused(registry: Registry, tmp_path: Path) -> None:
    project = tmp_path / "tampered"
    shutil.copytree(registry.project, project, symlinks=True)
    md5 = registry.md5["v1.0.0"]
    cached = project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    with cached.open("ab") as handle:
        handle.write(b"tampered")
    out = tmp_path / "p.parquet"
    refused = cli(project, "predict", TEST_SOURCE, "-o", str(out), "--model", "v1.0.0", check=False)
    assert refused.startswith("exit 1")
    assert f"does not match {md5} recorded in dvc.lock; refusing to load" in refused
    workspace = project / MODEL
    workspace.write_bytes(workspace.read_bytes() + b"tampered")
    refused = cli(project, "predict", TEST_SOURCE, "-o", str(out), "--model", MODEL, check=False)
    assert "refusing to load" in refused
    assert not list(tmp_path.glob("p.*"))


def test_register_refuses_unless_the_commit_is_reproduced_and_gated(reproduced_project: Path) -> None:
    project = reproduced_project
    Project(project).commit("reproduced")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  max_iter: 300\n", "  max_iter: 50\n"))
    assert "uncommitted changes (params.yaml)" in cli(project, "register", check=False)
    Project(project).commit("a parameter change, not reproduced")
    assert "`dvc status` is not clean (train" in cli(project, "register", check=False)

    run(["git", "reset", "-q", "--hard", "HEAD~1"], project)
    gates = project / "reports" / "gates" / "evaluate.json"
    summary = json.loads(gates.read_text())
    summary["metrics-test"]["success"] = False  # as a run with validation.mode=warn records it
    gates.write_text(json.dumps(summary))
    run(["dvc", "commit", "--force", "--quiet", "evaluate"], project)
    Project(project).commit("a model whose quality gate failed")
    refused = cli(project, "register", check=False)
    assert "model-quality gate did not pass (reports/gates/evaluate.json: metrics-test)" in refused
    assert tags(project) == []


def test_only_versions_that_register_made_and_whose_gate_passed_at_their_commit_are_served(
    registry: Registry, tmp_path: Path
) -> None:
    project = tmp_path / "trust"
    shutil.copytree(registry.project, project, symlinks=True)
    out = tmp_path / "p.parquet"
    # a tag made by `gto register`, not by `census-income register`: listed, refused, forced on record
    same_model = Project(project).commit("nothing changed: the model of v1.1.0 on a new commit")
    run(["gto", "register", NAME, same_model, "--version", "v2.0.0"], project)
    listed = {line.split()[0]: line.split() for line in cli(project, "models").splitlines()[2:]}
    assert (listed["v2.0.0"][3], listed["v1.1.0"][3]) == ("unverified", "verified")
    refused = cli(project, "promote", "v2.0.0", "prod", check=False)
    assert refused.startswith("exit 1") and "was not tagged by `census-income register`" in refused
    refused = cli(project, "predict", str(registry.sample), "-o", str(out), "--model", "v2.0.0", check=False)
    assert "was not tagged by `census-income register`" in refused and not out.exists()
    assert "(forced: " in cli(project, "promote", "v2.0.0", "prod", "--force")
    newest = max((t for t in tags(project) if t.startswith(f"{NAME}#prod#")), key=lambda t: int(t.rsplit("#", 1)[1]))
    message = run(["git", "for-each-ref", "--format=%(contents)", f"refs/tags/{newest}"], project).stdout
    assert message.startswith("census-income promote --force v2.0.0: ")
    cli(project, "predict", str(registry.sample), "-o", str(out), "--model", "prod")
    assert set(pd.read_parquet(out)["model_version"].astype(str)) == {"v2.0.0"}

    # a model whose quality gate failed (committed in `mode: warn`), tagged by gto: refused even forced
    gates = project / "reports" / "gates" / "evaluate.json"
    summary = json.loads(gates.read_text())
    summary["metrics-test"]["success"] = False
    gates.write_text(json.dumps(summary))
    run(["dvc", "commit", "--force", "--quiet", "evaluate"], project)
    weak = Project(project).commit("a model whose quality gate failed")
    run(["gto", "register", NAME, weak, "--version", "v3.0.0"], project)
    refused = cli(project, "promote", "v3.0.0", "prod", "--force", check=False)
    assert f"model-quality gate did not pass at commit {weak[:7]}" in refused
    refused = cli(project, "predict", str(registry.sample), "-o", str(out), "--model", "v3.0.0", check=False)
    assert "model-quality gate did not pass" in refused

    # trust is read at the version's commit, never from the workspace: the failed gate file in
    # the workspace does not stop v1.0.0, a passing one would not let v3.0.0 in
    assert "prod: assigned to v1.0.0" in cli(project, "promote", "v1.0.0", "prod")
    summary["metrics-test"]["success"] = True
    gates.write_text(json.dumps(summary))
    assert "model-quality gate did not pass" in cli(project, "promote", "v3.0.0", "prod", "--force", check=False)


def test_push_names_its_remote_and_fails_without_one(registry: Registry, tmp_path: Path) -> None:
    project = tmp_path / "push"
    shutil.copytree(registry.project, project, symlinks=True)
    before = tags(project)
    refused = cli(project, "promote", "v1.0.0", "staging", "--push", check=False)
    assert "--push: no git remote `origin` to push the tags to" in refused
    assert tags(project) == before
    remote = tmp_path / "remote.git"
    run(["git", "init", "-q", "--bare", str(remote)], tmp_path)
    run(["git", "remote", "add", "origin", str(remote)], project)
    assert f"pushed to origin ({remote})" in cli(project, "promote", "v1.0.0", "staging", "--push")
    assert any("#staging#" in t for t in run(["git", "tag"], remote).stdout.split())
