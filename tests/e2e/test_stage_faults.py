"""Disk full inside a stage (issue 20): every output of every stage in turn goes to a real full
disk (a tmpfs in a private mount namespace). The stage must stop with one line naming the
failure, exit non-zero, leave nothing on that disk, and log a failed event, not only a start."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, project_env, run
from tests.e2e.test_predict_hostile import can_mount_tmpfs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not can_mount_tmpfs(), reason="needs `unshare -rm` and tmpfs mounts (user namespaces)"),
]

LOCK = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text(encoding="utf-8"))
CASES = [(stage, out["path"]) for stage, spec in LOCK["stages"].items() for out in spec.get("outs", [])]


@pytest.fixture(scope="module")
def project(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("stage-faults") / "project"
    shutil.copytree(reproduced_template, dest, symlinks=True)
    return dest


@pytest.mark.parametrize(("stage", "full"), CASES, ids=[f"{s}:{o}" for s, o in CASES])
def test_disk_full_at_each_stage_output_is_one_line_and_leaves_nothing(
    stage: str, full: str, project: Path, tmp_path: Path
) -> None:
    disk, scratch = tmp_path / "disk", tmp_path / "scratch"
    disk.mkdir()
    scratch.mkdir()
    cmd = LOCK["stages"][stage]["cmd"]
    for out in LOCK["stages"][stage]["outs"]:  # this output on the full disk, the others aside
        cmd = cmd.replace(f" {out['path']}", f" {(disk if out['path'] == full else scratch) / Path(out['path']).name}")
    logs = tmp_path / "logs"
    env = project_env(project) | {"CENSUS_INCOME_LOG_DIR": str(logs)}
    script = (
        f"mount -t tmpfs -o size=16k tmpfs {shlex.quote(str(disk))} && "
        f"(dd if=/dev/zero of={shlex.quote(str(disk))}/.ballast bs=4k count=8 2>/dev/null; true) && "
        f'{cmd} 2>{shlex.quote(str(tmp_path / "err"))}; echo "exit $?"; ls -A {shlex.quote(str(disk))}'
    )
    result = run(["unshare", "-rm", "sh", "-c", script], project, check=False, env=env)
    err = (tmp_path / "err").read_text()
    report = result.stdout.splitlines()
    assert report[0] == "exit 1", f"{result.stdout}{result.stderr}{err}"
    assert report[1:] == [".ballast"], report  # no partial output, no temporary folder
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "No space left on device" in errors[0], err
    events = [json.loads(line) for line in (logs / "pipeline.jsonl").read_text().splitlines()]
    assert events[-1]["status"] == "failed" and "No space left on device" in events[-1]["error"]
