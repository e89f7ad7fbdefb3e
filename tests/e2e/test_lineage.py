"""`census-income lineage`, the model card, the environment record and tampered model files,
through the real CLI, the real stages and the real `dvc` in a reproduced copy.
"""

from __future__ import annotations

import json
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from census_income.repo.lineage import upstream
from census_income.repo.lock import locked_stages
from tests.conftest import project_env, run
from tests.e2e.project import Project
from tests.e2e.versioning import dvc

pytestmark = pytest.mark.slow

MODEL = "models/model.joblib"
CARD = "reports/model_card.md"
ENVIRONMENT = "reports/environment.json"


def lineage(project: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> Any:
    return run([sys.executable, "-m", "census_income.cli", "lineage", *args], project, env=env, check=check)


def blocks(text: str) -> dict[str, list[str]]:
    """The printed chain split per stage: `  <stage>` then its indented lines."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if re.fullmatch(r"  \S+", line):
            current = found.setdefault(line.strip(), [])
        elif line.startswith("    ") and current is not None:
            current.append(line.strip())
        else:
            current = None
    return found


class Exploit:
    """A pickle that, when loaded, creates a file: what a tampered model file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_lineage_prints_the_chain_dvc_lock_records_and_writes_the_card(reproduced_project: Path) -> None:
    project = reproduced_project
    commit = Project(project).commit("reproduced")
    result = lineage(project)
    text = result.stdout
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    stages = locked_stages(lock)
    chain = upstream(stages, MODEL)
    printed = blocks(text)

    assert list(printed) == chain and "evaluate" not in printed
    for name in chain:
        entry = lock["stages"][name]
        for dep in entry.get("deps", []):
            assert f"dep    {dep['path']}  md5 {dep['md5']}" in printed[name], (name, dep["path"])
        for out in entry.get("outs", []):
            assert f"out    {out['path']}  md5 {out['md5']}" in printed[name], (name, out["path"])
        for key in entry.get("params", {}).get("params.yaml", {}):
            assert any(line.startswith(f"param  {key} = ") for line in printed[name]), (name, key)
    train = lock["stages"]["train"]
    model_md5 = next(o["md5"] for o in train["outs"] if o["path"] == MODEL)
    assert f"model       {MODEL}  md5 {model_md5}  (the file matches dvc.lock)" in text
    assert f"git commit  {commit}\n" in text and "workspace   in sync with dvc.lock" in text
    params = yaml.safe_load((project / "params.yaml").read_text())
    for part, uri in params["data"]["source"].items():
        md5 = next(d["md5"] for d in lock["stages"][f"ingest@{part}"]["deps"] if d["path"] == uri)
        assert re.search(rf"^  {part} +{re.escape(uri)}  md5 {md5}  \(read by ingest@{part}\)$", text, re.M), part
    recorded = json.loads((project / ENVIRONMENT).read_text())
    assert re.search(rf"^  scikit-learn +{re.escape(recorded['packages']['scikit-learn'])}$", text, re.M)

    card = (project / CARD).read_text()
    metrics = json.loads((project / "reports/evaluate/metrics.json").read_text())
    slices = json.loads((project / "reports/evaluate/slices.json").read_text())
    assert f"md5 `{model_md5}`" in card and f"`{commit}`" in card
    assert f"{metrics['test']['roc_auc']:.4f}" in card
    assert "Per slice of `sex`, test split" in card and f"{slices['test']['sex']['Female']['rows']}" in card
    assert f"| `model.max_iter` | `{train['params']['params.yaml']['model']['max_iter']}` |" in card
    assert "https://doi.org/10.24432/C5XW20" in card and "Not for decisions about real people" in card
    # the card is not a DVC output and is git-ignored: the workspace stays clean
    assert run(["git", "status", "--porcelain"], project).stdout == ""


def test_a_tampered_model_is_refused_before_it_is_unpickled(reproduced_project: Path, tmp_path: Path) -> None:
    project = reproduced_project
    marker = tmp_path / "the-pickle-ran"
    payload = pickle.dumps(Exploit(marker))
    pickle.loads(payload)  # the payload does run when unpickled ...
    assert marker.exists()
    marker.unlink()
    (project / MODEL).write_bytes(payload)  # ... and now it is the model file

    result = dvc(project, project_env(project), "repro", "--single-item", "evaluate", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output
    errors = [line for line in output.splitlines() if " ERROR evaluate: " in line]
    assert len(errors) == 1, output
    assert re.search(rf"{MODEL}: md5 [0-9a-f]{{32}} does not match [0-9a-f]{{32}} recorded in dvc\.lock", errors[0])
    assert "refusing to load" in errors[0] and "dvc checkout" in errors[0]

    refused = lineage(project, "--no-status", check=False)
    assert refused.returncode == 1 and refused.stderr.startswith(f"census-income lineage: {MODEL}: md5 ")
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not marker.exists(), "the tampered model was unpickled"

    dvc(project, project_env(project), "checkout", "--force")
    assert lineage(project, "--no-card", "--no-status").returncode == 0


def test_a_library_upgrade_shows_in_dvc_lock_and_the_model_card(reproduced_project: Path, tmp_path: Path) -> None:
    """uv.lock pins a new scikit-learn; the environment "has" it (a distribution record first on the path)."""
    project = reproduced_project
    Project(project).commit("reproduced")
    lock_file = project / "uv.lock"
    text = lock_file.read_text()
    pinned = re.search(r'name = "scikit-learn"\nversion = "([^"]+)"', text)
    assert pinned is not None
    new = f"{pinned.group(1)}.post9"
    lock_file.write_text(text.replace(pinned.group(0), f'name = "scikit-learn"\nversion = "{new}"'))

    # not installed: the environment stage refuses, so the record never names a version that did not run
    env = project_env(project)
    refused = dvc(project, env, "repro", check=False)
    errors = [line for line in (refused.stdout + refused.stderr).splitlines() if " ERROR environment: " in line]
    assert refused.returncode != 0 and len(errors) == 1, refused.stdout + refused.stderr
    assert f"scikit-learn {pinned.group(1)} is installed (uv.lock: {new})" in errors[0]

    installed = tmp_path / "site"
    (installed / f"scikit_learn-{new}.dist-info").mkdir(parents=True)
    (installed / f"scikit_learn-{new}.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: scikit-learn\nVersion: {new}\n"
    )
    env["PYTHONPATH"] = f"{project / 'src'}:{installed}"
    train_before = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["train"]
    result = dvc(project, env, "repro")
    ran = re.findall(r"Running stage '([^']+)'", result.stdout)
    assert ran[:2] == ["environment", "train"], result.stdout
    assert json.loads((project / ENVIRONMENT).read_text())["packages"]["scikit-learn"] == new
    train_after = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["train"]

    def env_dep(entry: dict[str, Any]) -> str:
        return str(next(d["md5"] for d in entry["deps"] if d["path"] == ENVIRONMENT))

    assert env_dep(train_after) != env_dep(train_before)
    assert ENVIRONMENT in run(["git", "diff", "--name-only"], project).stdout

    shown = lineage(project, "--no-status", env=env).stdout
    assert re.search(rf"^  scikit-learn +{re.escape(new)}$", shown, re.M), shown
    assert f"| scikit-learn | {new} |" in (project / CARD).read_text()
    # without that distribution, the lineage says the running environment differs from the record
    stale = lineage(project, "--no-status", "--no-card").stdout
    assert f"scikit-learn  {new}  (installed now: {pinned.group(1)})" in re.sub(r" {2,}", "  ", stale)
