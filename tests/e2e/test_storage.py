"""Remote storage through the real `dvc` and real servers: push, a new clone, pull, exact bytes.

Two remotes: the default one in the committed `.dvc/config` (a folder under the user's home;
`HOME` points into the test's temporary folder, so the committed configuration is what runs),
and S3 served over HTTP on 127.0.0.1 by moto's server, configured the way the README says
(the URL committed, the endpoint in `.dvc/config.local`, credentials in the environment). The
fault tests kill the S3 server in the middle of a push and of a pull, and a stage in the middle
of writing its output.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO_ROOT, VENV_BIN, project_env, run
from tests.e2e.project import Project
from tests.e2e.versioning import assert_in_sync, clone, dvc, home_env, output_bytes

pytestmark = pytest.mark.slow

BUCKET = "census-income"
REMOTE = "team"
# made up per run, so finding them in a committed file can only mean the test's set-up committed them
ACCESS_KEY, SECRET_KEY = f"AKID{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30)
SERVER_SCRIPT = REPO_ROOT / "tests" / "e2e" / "s3_server.py"
MODEL = "models/model.joblib"


# ---------------------------------------------------------------- helpers
def storage_env(project: Path, home: Path) -> dict[str, str]:
    """The project's environment with a private home and S3 credentials only in variables."""
    env = {k: v for k, v in home_env(project, home).items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        # fail fast when the server is gone (botocore's default retries take ~10 s)
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
    )
    return env


def assert_cache_objects_complete(project: Path) -> None:
    """Every object in the DVC cache has the bytes its name says: nothing half-downloaded."""
    cache = project / ".dvc" / "cache" / "files" / "md5"
    for path in cache.rglob("*"):
        if path.is_file() and not path.name.endswith(".dir") and ".tmp" not in path.name:
            name = path.parent.name + path.name
            assert hashlib.md5(path.read_bytes()).hexdigest() == name, f"cache object {name} is corrupt"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class S3Server:
    """moto's S3 server on 127.0.0.1:port, started, stopped and restarted by the test."""

    def __init__(self, port: int, logs: Path) -> None:
        self.port, self.logs = port, logs
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, die_after: int | None = None, method: str = "PUT") -> None:
        """moto_server itself; or, with `die_after`, the same app that dies mid-transfer."""
        self.starts += 1
        if die_after is None:
            cmd = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]
        else:
            cmd = [sys.executable, str(SERVER_SCRIPT), "--port", str(self.port)]
            cmd += ["--die-after", str(die_after), "--method", method]
        log = (self.logs / f"s3-server-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"S3 server exited: {(self.logs / log.name).read_text()[-500:]}"
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("S3 server did not answer within 60 s")
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)  # moto keeps nothing across restarts

    def wait_dead(self) -> int:
        """Wait for a server that dies on its own; its exit code."""
        assert self.process is not None
        return self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    server = S3Server(free_port(), tmp_path)
    yield server
    server.stop()


def use_s3(project: Path, env: dict[str, str], server: S3Server, commit: bool) -> None:
    """The README's set-up: the remote's URL in .dvc/config (committed), the endpoint in config.local."""
    if commit:
        dvc(project, env, "remote", "add", "--default", REMOTE, f"s3://{BUCKET}/store")
        Project(project).commit("S3 remote")
    dvc(project, env, "remote", "modify", "--local", REMOTE, "endpointurl", server.url)


def failure_text(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    return output


# ------------------------------------------------------------- round trips
def test_default_remote_works_offline_for_a_new_clone(reproduced_project: Path, tmp_path: Path) -> None:
    project = reproduced_project
    env = storage_env(project, tmp_path / "home")
    config = (project / ".dvc" / "config").read_text()
    assert "remote = storage" in config and "url = ~/.local/share/census-income/dvc-storage" in config
    Project(project).commit("v1")  # the reproduced dvc.lock, as a user commits it after `dvc repro`

    result = dvc(project, env, "push")
    assert "files pushed" in result.stdout, result.stdout
    store = tmp_path / "home" / ".local" / "share" / "census-income" / "dvc-storage" / "files" / "md5"
    assert any(store.rglob("*")), "the default remote stayed empty"

    new = clone(project, tmp_path / "clone")
    assert not (new / MODEL).exists()
    dvc(new, env, "pull")
    assert_in_sync(new, env)
    assert output_bytes(new) == output_bytes(project)
    assert run(["git", "status", "--porcelain"], new).stdout == ""


def test_s3_remote_round_trip_with_credentials_only_in_the_environment(
    reproduced_project: Path, tmp_path: Path, s3: S3Server
) -> None:
    project = reproduced_project
    env = storage_env(project, tmp_path / "home")
    s3.start()
    Project(project).commit("v1")
    use_s3(project, env, s3, commit=True)
    dvc(project, env, "push")
    assert "in sync" in dvc(project, env, "status", "--cloud").stdout

    new = clone(project, tmp_path / "clone")
    use_s3(new, env, s3, commit=False)  # each clone points at its endpoint; the URL came with git
    dvc(new, env, "pull")
    assert_in_sync(new, env)
    assert output_bytes(new) == output_bytes(project)
    # nothing secret was committed: the keys live in the environment only
    for secret in (ACCESS_KEY, SECRET_KEY):
        found = run(["git", "grep", "-l", secret, "HEAD"], project, check=False)
        assert found.returncode == 1, f"{secret} committed in {found.stdout}"
    assert SECRET_KEY not in (project / ".dvc" / "config.local").read_text()


# ------------------------------------------------------------------ faults
def test_s3_server_dying_during_push_loses_nothing_and_a_retry_completes(
    reproduced_project: Path, tmp_path: Path, s3: S3Server
) -> None:
    project = reproduced_project
    env = storage_env(project, tmp_path / "home")
    Project(project).commit("v1")
    before = output_bytes(project)
    s3.start(die_after=5, method="PUT")
    use_s3(project, env, s3, commit=True)

    output = failure_text(dvc(project, env, "push", check=False))
    assert s3.wait_dead() == 1, "the server should have died in the middle of the push"
    assert "ERROR" in output and "Could not connect to the endpoint URL" in output, output
    # nothing lost locally: workspace and cache as before
    assert output_bytes(project) == before
    assert_in_sync(project, env)
    assert_cache_objects_complete(project)

    s3.start()  # back (empty: moto keeps nothing), same address
    result = dvc(project, env, "push")
    assert "files pushed" in result.stdout, result.stdout
    assert "in sync" in dvc(project, env, "status", "--cloud").stdout


def test_s3_server_dying_during_pull_leaves_no_partial_file_and_a_retry_completes(
    reproduced_project: Path, tmp_path: Path, s3: S3Server
) -> None:
    project = reproduced_project
    env = storage_env(project, tmp_path / "home")
    Project(project).commit("v1")
    s3.start(die_after=6, method="GET")
    use_s3(project, env, s3, commit=True)
    dvc(project, env, "push")  # uploads do not count towards the server's death

    new = clone(project, tmp_path / "clone")
    use_s3(new, env, s3, commit=False)
    dvc(new, env, "pull", MODEL)  # one object: the model is in the clone before the failure
    model_md5 = hashlib.md5((new / MODEL).read_bytes()).hexdigest()

    output = failure_text(dvc(new, env, "pull", check=False))
    assert s3.wait_dead() == 1, "the server should have died in the middle of the pull"
    assert "Could not connect to the endpoint URL" in output, output
    # nothing lost, nothing half-written: what is in the workspace has the bytes dvc.lock records
    assert hashlib.md5((new / MODEL).read_bytes()).hexdigest() == model_md5
    expected = output_bytes(project)
    partial = {path: md5 for path, md5 in output_bytes(new).items() if expected.get(path) != md5}
    assert not partial, f"files that are not the recorded bytes after a failed pull: {partial}"
    assert_cache_objects_complete(new)

    s3.start()  # back, empty: the store is pushed again, as it would still be there on real S3
    dvc(project, env, "push")
    dvc(new, env, "pull")
    assert_in_sync(new, env)
    assert output_bytes(new) == expected


def test_stage_killed_while_writing_leaves_no_output_a_later_run_could_trust(reproduced_project: Path) -> None:
    project = reproduced_project
    env = project_env(project)
    before = output_bytes(project)
    repro = subprocess.Popen(
        ["dvc", "repro", "--single-item", "--force", "split"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and repro.poll() is None and time.monotonic() < deadline:
        if any((project / "data").glob(".split.*.tmp")):  # atomic_path's temporary folder: writing began
            for child in psutil.Process(repro.pid).children(recursive=True):
                with_split = "census_income.stages split" in " ".join(child.cmdline())
                if with_split:
                    os.kill(child.pid, signal.SIGKILL)
                    killed = child.pid
        time.sleep(0.002)
    output, _ = repro.communicate(timeout=120)
    assert killed is not None, f"the split stage finished before it could be killed:\n{output}"
    assert repro.returncode != 0 and "exited with -9" in output, output

    # DVC removed the old output before the run; the killed run left only its temporary folder
    assert not (project / "data" / "split").exists(), "a partial data/split was left under the output's name"
    assert not (project / "reports" / "gates" / "split.json").exists()
    status = dvc(project, env, "status").stdout
    assert "deleted:            data/split" in status, status
    # a later run is not fooled: it brings back exactly the recorded bytes (from the cache,
    # as nothing split depends on changed; `dvc repro --force` is byte-identical too: test_pipeline)
    dvc(project, env, "repro")
    assert output_bytes(project) == before
    assert_in_sync(project, env)
