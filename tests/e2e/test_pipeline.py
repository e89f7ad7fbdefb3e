"""The pipeline through the real `dvc`, in temporary copies of the project.

The session's reproduced template runs the whole pipeline once; each test works on a private
copy of it. Stages that ran are read from dvc's own output ("Running stage 'x'").
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import project_env, run
from tests.e2e.project import Project

pytestmark = pytest.mark.slow

MAX_TEST_ERROR_RATE = 0.130
SERVED_STARTUP = 0.2  # seconds: a forked stage has no interpreter start-up (its own process: 0.4 s and more)
SOURCE = "src/census_income/data/adult/adult.data"


# ---------------------------------------------------------------- helpers


def ran_stages(result: subprocess.CompletedProcess[str]) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", result.stdout + result.stderr)


def declared_outputs(project: Path) -> dict[str, list[str]]:
    """`stage -> outs` as dvc.yaml declares them (foreach resolved by dvc itself)."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        return {stage.name: [str(out.def_path) for out in stage.outs] for stage in repo.index.stages}


def assert_status_clean(project: Path) -> None:
    result = run(["dvc", "status"], project)
    assert "Data and pipelines are up to date." in result.stdout, result.stdout


# ------------------------------------------------------- a full reproduction
def test_repro_produces_every_output_and_a_good_model(reproduced_project: Path) -> None:
    outputs = declared_outputs(reproduced_project)
    expected_stages = {"ingest@train", "ingest@test", "prepare", "split", "featurize", "train", "evaluate"}
    assert expected_stages <= set(outputs)
    locked = Project(reproduced_project).lock()
    for stage, outs in outputs.items():
        assert stage in locked, f"{stage} has no entry in dvc.lock"
        assert sorted(o["path"] for o in locked[stage]["outs"]) == sorted(outs)
        for out in outs:
            target = reproduced_project / out
            assert target.is_file() or any(target.iterdir()), f"{out} of {stage} was not produced"

    dvc_yaml = yaml.safe_load((reproduced_project / "dvc.yaml").read_text())
    plot_files = [f for plot in dvc_yaml["plots"] for spec in plot.values() for f in spec["y"]]
    for name in [*dvc_yaml["metrics"], *plot_files]:
        json.loads((reproduced_project / name).read_text(), parse_constant=refuse)  # exists, strict JSON

    assert_status_clean(reproduced_project)
    assert Project(reproduced_project).mismatches() == []
    metrics = json.loads((reproduced_project / "reports/evaluate/metrics.json").read_text())
    assert list(metrics) == ["validation", "test", "train", "quality"]  # headline first, as `dvc exp show` shows
    assert metrics["quality"] == {"passed": 1}
    assert metrics["test"]["error_rate"] <= MAX_TEST_ERROR_RATE, metrics["test"]


def refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON (DVC's clients parse strictly)")


def test_forced_repro_is_byte_identical_with_and_without_the_stage_server(reproduced_project: Path) -> None:
    """The template's run had stages forked by the stage server; this one runs each stage in
    its own process: the same bytes."""
    events = [json.loads(line) for line in (reproduced_project / "logs" / "pipeline.jsonl").read_text().splitlines()]
    assert any(e["status"] == "ok" and e["startup"] < SERVED_STARTUP for e in events), "no stage was served"
    first = Project(reproduced_project).outs()
    lock = (reproduced_project / "dvc.lock").read_bytes()
    unserved = {**project_env(reproduced_project), "CENSUS_INCOME_STAGE_SERVER": "0"}
    result = Project(reproduced_project, unserved).dvc("repro", "--force")
    assert len(ran_stages(result)) == len(Project(reproduced_project).lock())
    second = Project(reproduced_project).outs()
    changed = sorted(path for path in first if first[path] != second.get(path))
    assert not changed, f"outputs differ between two runs: {changed}"
    assert (reproduced_project / "dvc.lock").read_bytes() == lock


def test_only_what_a_change_affects_reruns(reproduced_project: Path) -> None:
    project = reproduced_project
    assert ran_stages(Project(project).dvc("repro")) == []

    # a model parameter: train and evaluate (a faster model than the default, as good)
    Project(project).edit_params({"model.learning_rate": 0.15, "model.max_iter": 100})
    assert ran_stages(Project(project).dvc("repro")) == ["train", "evaluate"]

    # a features parameter: featurize and everything after it, nothing before
    Project(project).edit_params({"features.scale_numeric": False})
    assert ran_stages(Project(project).dvc("repro")) == ["featurize", "train", "evaluate"]
    assert_status_clean(project)


# --------------------------------------------------------------- bad input
def assert_failed_cleanly(
    project: Path, result: subprocess.CompletedProcess[str], stage: str, error: str, lock_before: bytes
) -> None:
    """Non-zero exit, one error line from the stage, nothing partial left, dvc.lock untouched."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert ran_stages(result)[-1:] == [stage], output
    errors = [line for line in output.splitlines() if f" ERROR {stage}: " in line]
    assert len(errors) == 1, output
    assert re.search(error, errors[0]), errors[0]
    assert f"failed to reproduce '{stage}'" in output
    for out in Project(project).lock()[stage]["outs"]:
        target = project / out["path"]
        assert not target.exists(), f"{out['path']} left behind by failed {stage}"
        leftovers = list(target.parent.glob(f".{target.name}.*")) if target.parent.exists() else []
        assert not leftovers, f"temporary files left behind: {leftovers}"
    assert (project / "dvc.lock").read_bytes() == lock_before


def assert_checkout_restores(project: Path, *edited: str) -> None:
    """`dvc checkout` brings back the last good outputs; with the inputs restored, nothing is stale."""
    run(["dvc", "checkout"], project)
    assert Project(project).mismatches() == []
    run(["git", "checkout", "--", *edited], project)
    assert_status_clean(project)


def test_missing_source_file(reproduced_project: Path) -> None:
    """dvc refuses before the stage runs: its message names the stage and the missing path."""
    project = reproduced_project
    lock_before = (project / "dvc.lock").read_bytes()
    Project(project).edit_params({"data.source.train": "data/incoming/adult.data"})
    result = Project(project).dvc("repro", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert ran_stages(result) == []
    assert "Traceback" not in output, output
    assert re.search(r"ERROR: failed to reproduce 'ingest@train': .*data/incoming/adult\.data", output), output
    assert (project / "dvc.lock").read_bytes() == lock_before
    assert_checkout_restores(project, "params.yaml")


def test_missing_source_reaching_the_stage(reproduced_project: Path) -> None:
    """A source dvc cannot see (a URL, a file gone after dvc checked): the stage's own message."""
    result = run(
        [
            "python",
            "-m",
            "census_income.stages.ingest",
            "--source",
            "data/incoming/adult.data",
            "--out",
            "data/raw/incoming.parquet",
            "--gates",
            "reports/gates/ingest-incoming.json",
        ],
        reproduced_project,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and errors[0].endswith("ERROR ingest@incoming: source data/incoming/adult.data: not found")
    assert not (reproduced_project / "data/raw/incoming.parquet").exists()
    assert not (reproduced_project / "reports/gates/ingest-incoming.json").exists()


def test_garbled_source_file(reproduced_project: Path) -> None:
    project = reproduced_project
    lock_before = (project / "dvc.lock").read_bytes()
    (project / SOURCE).write_bytes(bytes(range(256)[::-1]) * 64)
    result = Project(project).dvc("repro", check=False)
    assert_failed_cleanly(
        project, result, "ingest@train", rf"source {re.escape(SOURCE)}: not utf-8 text at byte \d+", lock_before
    )
    assert_checkout_restores(project, SOURCE)


def test_misspelled_model_argument(reproduced_project: Path) -> None:
    """Checked against the estimator's own arguments before train reads any data."""
    project = reproduced_project
    lock_before = (project / "dvc.lock").read_bytes()
    Project(project).edit_params({"model.max_leaf_nodez": 15})
    result = Project(project).dvc("repro", check=False)
    assert ran_stages(result) == ["train"]
    expected = r"params\.yaml: model\.max_leaf_nodez: not an argument of HistGradientBoostingClassifier"
    assert_failed_cleanly(project, result, "train", expected, lock_before)
    assert_checkout_restores(project, "params.yaml")


def test_project_env_runs_the_copys_code(reproduced_project: Path) -> None:
    """Guard for every test above: stages in a copy import the copy's package, not /work/main's."""
    env = project_env(reproduced_project)
    result = run(["python", "-c", "import census_income; print(census_income.__file__)"], reproduced_project, env=env)
    assert Path(result.stdout.strip()).is_relative_to(reproduced_project)
