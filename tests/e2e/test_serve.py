"""`census-income serve` against a real server: uvicorn on 127.0.0.1 on a free port, driven with httpx.

Two registered versions in a reproduced copy (v1.1.0 differs from v1.0.0 by its decision
threshold, so their labels differ and a shadow disagrees); prod holds v1.1.0 (v1.0.0 before
it), staging v1.0.0. One server (prod, a 10% canary on staging, a shadow) serves the module's
tests in order; the last ones roll prod back under a stream of requests, then a second server
(no polling) follows SIGHUP, refuses an unverified version and shuts down gracefully.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT, project_env, run
from tests.e2e.project import Project
from tests.e2e.test_promote import bash_blocks

pytestmark = pytest.mark.slow

NAME = "census-income-model"
TEST_SOURCE = "src/census_income/data/adult/adult.test"
DOC = REPO_ROOT / "docs" / "serving.md"
ROWS = 1000
HEAD_TIMEOUT = 5.0  # seconds the server waits for a request's head
MAX_ROWS = 2000
MAX_BODY = 1_000_000
DOC_PORT = "8000"


def cli(project: Path, *args: str) -> str:
    return run([sys.executable, "-m", "census_income.cli", *args], project).stdout


@dataclass
class Registry:
    project: Path
    lines: list[str]  # raw rows of the test source, as delivered
    sample: Path  # the first ROWS of them, a file in the data set's format
    columns: list[str]


@pytest.fixture(scope="module")
def registry(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    project = tmp_path_factory.mktemp("serve") / "project"
    shutil.copytree(reproduced_template, project, symlinks=True)
    Project(project).commit("reproduced: the default model")
    cli(project, "register", "--version", "v1.0.0")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  threshold: 0.5\n", "  threshold: 0.45\n"))
    run(["dvc", "repro", "--quiet"], project)  # evaluate only
    Project(project).commit("a lower decision threshold")
    cli(project, "register", "--bump", "minor")
    cli(project, "promote", "v1.0.0", "prod")
    cli(project, "promote", "v1.1.0", "prod")
    cli(project, "promote", "v1.0.0", "staging")
    text = (project / TEST_SOURCE).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("|")]
    sample = project.parent / "sample.csv"
    sample.write_text("\n".join(lines[:ROWS]) + "\n", encoding="utf-8")
    import yaml

    columns = yaml.safe_load((project / "conf/datasets/adult.yaml").read_text())["format"]["columns"]
    return Registry(project, lines, sample, columns)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def start(project: Path, *args: str) -> Server:
    """`census-income serve` in the copy, ready (GET /ready answers 200) or the test fails with its log."""
    port = free_port()
    log = project.parent / f"serve-{port}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "census_income.cli", "serve", "--port", str(port), *args],
            cwd=project,
            env=project_env(project),
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", port, log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/ready", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    server.stop()
    pytest.fail(f"serve not ready within 180 s:\n{server.output()}")


@pytest.fixture(scope="module")
def server(registry: Registry) -> Iterator[Server]:
    served = start(
        registry.project,
        *("--model", "prod", "--canary", "staging", "--canary-share", "0.1", "--shadow", "v1.0.0"),
        *("--poll-seconds", "0.5", "--max-rows", str(MAX_ROWS), "--max-body-bytes", str(MAX_BODY)),
        *("--body-timeout", "1", "--head-timeout", str(HEAD_TIMEOUT)),
    )
    yield served
    assert served.stop() == 0, served.output()[-3000:]  # stopped by SIGTERM, gracefully: status 0


def records(registry: Registry, lines: list[str]) -> list[dict[str, object]]:
    """Rows as JSON records, numbers as numbers (the label column left out)."""
    found = []
    for line in lines:
        values = [v.strip() for v in line.split(",")]
        record: dict[str, object] = {
            name: int(v) if v.isdigit() else v for name, v in zip(registry.columns, values, strict=True)
        }
        record.pop("income")
        found.append(record)
    return found


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text, by its labels in any order (0 when absent)."""
    for line in text.splitlines():
        found = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if found and dict(re.findall(r'(\w+)="([^"]*)"', found[1] or "")) == labels:
            return float(found[2])
    return 0.0


def test_served_probabilities_are_byte_identical_to_batch_predictions(registry: Registry, server: Server) -> None:
    out = registry.project.parent / "batch.parquet"
    cli(registry.project, "predict", str(registry.sample), "-o", str(out), "--model", "prod")
    batch = pd.read_parquet(out)["score"].to_numpy()

    answer = httpx.post(
        f"{server.url}/predict", content=registry.sample.read_bytes(), headers={"content-type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == answer.headers["x-model-version"] == "v1.1.0"
    served = np.array([p["probability"] for p in body["predictions"]], dtype="float64")
    assert served.tobytes() == batch.tobytes()
    assert [p["label"] for p in body["predictions"]] == pd.read_parquet(out)["label"].tolist()

    # JSON records of the same rows: in one request, and the first ones as concurrent single-row
    # requests (grouped into shared passes by the batcher: each still gets its own row's answer)
    rows = records(registry, registry.lines[:ROWS])
    as_json = httpx.post(f"{server.url}/predict", json=rows)
    assert as_json.status_code == 200, as_json.text
    assert np.array([p["probability"] for p in as_json.json()["predictions"]]).tobytes() == batch.tobytes()
    with httpx.Client(base_url=server.url, timeout=60) as client, ThreadPoolExecutor(16) as pool:
        single = list(pool.map(lambda row: client.post("/predict", json=[row]).json()["predictions"][0], rows[:64]))
    assert np.array([p["probability"] for p in single]).tobytes() == batch[:64].tobytes()


def test_shadow_passes_of_rows_typed_two_ways_fail_no_request_and_close_no_connection(
    registry: Registry, server: Server
) -> None:
    """Single-row requests: JSON records (typed by the fast path, as plain values) and CSV rows
    with their header in reverse order and no workclass (scored apart, another column order, by
    the frame path: a category column with no category at all). Their shadow passes mix the two.
    Such a pass failed once, and uvicorn closed the kept-alive connection of each request whose
    background task raised, so that client's next request failed ("Server disconnected")."""
    rows = records(registry, registry.lines[:64])
    header = list(reversed(registry.columns[:-1]))
    bodies = [
        {"json": [row]}
        if i % 2
        else {
            "content": ",".join(header) + "\n" + ",".join(str({**row, "workclass": "?"}[c]) for c in header) + "\n",
            "headers": {"content-type": "text/csv"},
        }
        for i, row in enumerate(rows)
    ]
    with httpx.Client(base_url=server.url, timeout=60) as client, ThreadPoolExecutor(16) as pool:
        # (earlier tests' shadows may still be counting: at least this many rows will have been shadowed)
        shadowed = metric(client.get("/metrics").text, "census_income_serve_shadow_rows_total", version="v1.0.0")
        answers = list(pool.map(lambda body: client.post("/predict", **body), bodies * 4))
        assert [a.status_code for a in answers] == [200] * len(answers), next(a.text for a in answers if a.is_error)
        deadline = time.monotonic() + 60  # the shadow scores after the answers left
        while (text := client.get("/metrics").text) and time.monotonic() < deadline:
            if metric(text, "census_income_serve_shadow_rows_total", version="v1.0.0") >= shadowed + len(answers):
                break
            time.sleep(0.2)
    assert metric(text, "census_income_serve_shadow_failures_total", version="v1.0.0") == 0
    assert metric(text, "census_income_serve_shadow_rows_total", version="v1.0.0") >= shadowed + len(answers)
    assert "Exception in ASGI application" not in server.output()


def test_bad_rows_get_422_with_row_field_and_reason_and_big_requests_413(registry: Registry, server: Server) -> None:
    rows = records(registry, registry.lines[:5])
    rows[3]["age"] = 150
    rows[4]["workclass"] = "Astronaut"
    refused = httpx.post(f"{server.url}/predict", json=rows)
    assert refused.status_code == 422
    # every bad row at once: row 4's text fails as delivered, row 3's age once typed
    assert refused.json()["errors"] == [
        {"row": 3, "field": "age", "value": 150, "reason": "outside [17.0, 90.0] (expect_column_values_to_be_between)"},
        {
            "row": 4,
            "field": "workclass",
            "value": "Astronaut",
            "reason": "not an allowed value (expect_column_values_to_be_in_set)",
        },
    ]
    assert refused.json()["detail"] == "2 of 5 rows refused by the input contract; nothing scored"

    too_many = httpx.post(f"{server.url}/predict", json=records(registry, registry.lines[:1]) * (MAX_ROWS + 1))
    assert too_many.status_code == 413
    assert f"at most {MAX_ROWS:,} rows" in too_many.json()["detail"]
    too_big = httpx.post(
        f"{server.url}/predict", content=b" " * (MAX_BODY + 1), headers={"content-type": "application/json"}
    )
    assert too_big.status_code == 413


def test_the_canary_answers_its_share_of_keys_and_one_key_always_the_same_version(server: Server) -> None:
    row = {"age": 39, "workclass": "State-gov", "fnlwgt": 77516, "education": "Bachelors", "education-num": 13}
    row |= {"marital-status": "Never-married", "occupation": "Adm-clerical", "relationship": "Not-in-family"}
    row |= {"race": "White", "sex": "Male", "capital-gain": 2174, "capital-loss": 0, "hours-per-week": 40}
    row |= {"native-country": "United-States"}
    keys = [f"client-{i}" for i in range(1000)]
    with httpx.Client(base_url=server.url, timeout=60) as client, ThreadPoolExecutor(16) as pool:

        def version(key: str, in_body: bool = False) -> str:
            if in_body:
                answer = client.post("/predict", json={"rows": [row], "key": key})
            else:
                answer = client.post("/predict", json=[row], headers={"x-request-key": key})
            assert answer.status_code == 200, answer.text
            return str(answer.json()["model_version"])

        seen = dict(zip(keys, pool.map(version, keys), strict=True))
        again = list(pool.map(lambda key: version(key, in_body=True), keys[:50]))
        metrics = client.get("/metrics").text
    share = sum(v == "v1.0.0" for v in seen.values()) / len(seen)
    assert 0.07 <= share <= 0.13, share
    assert again == [seen[k] for k in keys[:50]]
    assert metric(metrics, "census_income_serve_canary_requests_total", version="v1.0.0") >= share * 1000
    assert metric(metrics, "census_income_serve_requests_total", status="200", version="v1.1.0") > 800
    assert metric(metrics, "census_income_serve_shadow_rows_total", version="v1.0.0") > 800
    # the shadow's threshold is 0.5, the primary's 0.45: rows scored between them are decided differently
    assert 0 < metric(metrics, "census_income_serve_shadow_disagreement_rate", version="v1.0.0") < 0.2
    assert metric(metrics, "census_income_serve_drift_psi", version="v1.1.0", feature="age") > 0
    assert 'census_income_serve_request_seconds_bucket{le="0.02",version="v1.1.0"}' in metrics


def test_version_says_versions_commits_data_and_stages(registry: Registry, server: Server) -> None:
    described = httpx.get(f"{server.url}/version").json()
    assert described["primary"]["version"] == "v1.1.0"
    assert described["primary"]["stages"] == ["prod"]
    assert described["canary"]["version"] == "v1.0.0"
    assert described["canary_share"] == 0.1
    head = run(["git", "rev-parse", "HEAD"], registry.project).stdout.strip()
    assert described["primary"]["commit"] == head
    assert re.fullmatch(r"[0-9a-f]{32}", described["primary"]["data_md5"])
    assert re.fullmatch(r"[0-9a-f]{32}", described["primary"]["model_md5"])


@dataclass
class Stream:
    """Good requests, one after another, until stopped (bounded): every answer is kept."""

    url: str
    body: list[dict[str, object]]
    answers: list[tuple[int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, limit: int = 3000) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set() and len(self.answers) < limit:
                try:
                    answer = client.post("/predict", json=self.body)
                    self.answers.append((answer.status_code, answer.json().get("model_version", "")))
                except httpx.HTTPError as exc:
                    self.answers.append((0, type(exc).__name__))

    def __enter__(self) -> Stream:
        self.thread = threading.Thread(target=self.run)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def raw_exchange(port: int, request: bytes, pause: float = 0.0, rest: bytes = b"") -> str:
    """Send bytes on a socket (optionally some more after a pause) and read the answer's status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        time.sleep(pause)
        if rest:
            sock.sendall(rest)
        return sock.recv(65536).decode("latin-1").split("\r\n", 1)[0]


def test_bad_requests_get_a_clear_status_while_good_requests_keep_succeeding(
    registry: Registry, server: Server
) -> None:
    good = records(registry, registry.lines[:3])
    post = f"{server.url}/predict"
    with Stream(server.url, good) as stream:
        cases = {
            "malformed JSON": (httpx.post(post, content=b"[{", headers={"content-type": "application/json"}), 400),
            "empty body": (httpx.post(post, content=b"", headers={"content-type": "application/json"}), 400),
            "not UTF-8": (httpx.post(post, content=b"\xff\xfe[", headers={"content-type": "application/json"}), 400),
            "deep nesting": (
                httpx.post(post, content=b"[" * 100_000, headers={"content-type": "application/json"}),
                400,
            ),
            "wrong type": (httpx.post(post, json=[{**good[0], "age": {"years": 39}}]), 422),
            "unknown field": (httpx.post(post, json=[{**good[0], "colour": "red"}]), 422),
            "NaN": (
                httpx.post(
                    post,
                    content=json.dumps([{**good[0], "age": float("nan")}]).encode(),
                    headers={"content-type": "application/json"},
                ),
                422,
            ),
            "no records": (httpx.post(post, json={"age": 39}), 422),
            "XML": (httpx.post(post, content=b"<rows/>", headers={"content-type": "application/xml"}), 415),
            "huge body": (
                httpx.post(post, content=b"[" + b" " * (4 * MAX_BODY), headers={"content-type": "application/json"}),
                413,
            ),
            "bad CSV": (httpx.post(post, content=b'"unclosed\n1,2', headers={"content-type": "text/csv"}), 400),
            "other columns": (httpx.post(post, content=b"1,2\n", headers={"content-type": "text/csv"}), 422),
        }
        for name, (answer, status) in cases.items():
            assert answer.status_code == status, f"{name}: {answer.status_code} {answer.text[:300]}"
            assert answer.json()["detail"], name
        # a client that sends its headers and then too little of its body: 408 once the body timeout is up
        slow = raw_exchange(
            server.port,
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{",
            pause=1.5,
        )
        assert slow.startswith("HTTP/1.1 408"), slow
        time.sleep(0.5)
    statuses = [status for status, _ in stream.answers]
    assert len(statuses) >= 3  # the stream ran between the bad requests (a few on a loaded machine)
    assert set(statuses) == {200}, [a for a in stream.answers if a[0] != 200][:5]
    assert httpx.get(f"{server.url}/health").json() == {"status": "alive"}


def test_a_connection_whose_request_head_is_late_is_closed_and_others_are_served(
    registry: Registry, server: Server
) -> None:
    """Slowloris: connections that send nothing, or a request head that never ends, once stayed
    open for as long as the client liked (uvicorn times out only idle kept-alive connections)."""

    def closed_after(request: bytes) -> tuple[float, bytes]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            started = time.monotonic()
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):  # until the server closes the connection
                answer += chunk
            return time.monotonic() - started, answer

    with Stream(server.url, records(registry, registry.lines[:3])) as stream, ThreadPoolExecutor(2) as pool:
        silent, partial = pool.map(closed_after, [b"", b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Ty"])
    assert HEAD_TIMEOUT - 0.5 <= silent[0] < HEAD_TIMEOUT + 30 and silent[1] == b""
    assert HEAD_TIMEOUT - 0.5 <= partial[0] < HEAD_TIMEOUT + 30
    assert partial[1].startswith(b"HTTP/1.1 408 "), partial[1]
    statuses = [status for status, _ in stream.answers]
    assert len(statuses) >= 3 and set(statuses) == {200}, stream.answers[:5]


def test_a_rollback_under_a_stream_of_requests_fails_none_and_is_followed(registry: Registry, server: Server) -> None:
    with Stream(server.url, records(registry, registry.lines[:2])) as stream:
        time.sleep(1)
        assert "prod: v1.1.0 -> v1.0.0" in cli(registry.project, "rollback", "--stage", "prod")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(v == "v1.0.0" for _, v in stream.answers[-5:]):
            time.sleep(0.2)
        time.sleep(1)
    statuses = [status for status, _ in stream.answers]
    versions = [version for _, version in stream.answers]
    assert set(statuses) == {200}, [a for a in stream.answers if a[0] != 200][:5]
    switched = versions.index("v1.0.0")
    assert set(versions[:switched]) == {"v1.1.0"} and set(versions[switched:]) == {"v1.0.0"}
    assert "serve: reload (registry tags changed)" in server.output()
    assert metric(httpx.get(f"{server.url}/metrics").text, "census_income_serve_reloads_total", outcome="loaded") == 1


def test_the_docs_curl_session_runs_against_the_server(server: Server, registry: Registry) -> None:
    blocks = [block.replace(DOC_PORT, str(server.port)) for block in bash_blocks(DOC)]
    session = next(block for block in blocks if "curl" in block and "/predict" in block)
    result = run(["bash", "-eo", "pipefail", "-c", session], registry.project)
    assert '"model_version"' in result.stdout and '"probability"' in result.stdout
    assert "census_income_serve_requests_total" in result.stdout


def test_sighup_reloads_refuses_an_unverified_version_and_shutdown_finishes_requests(registry: Registry) -> None:
    project = registry.project
    second = start(project, "--model", "prod", "--poll-seconds", "3600", "--no-batching")
    try:
        assert httpx.get(f"{second.url}/version").json()["primary"]["version"] == "v1.0.0"
        cli(project, "promote", "v1.1.0", "prod")
        second.process.send_signal(signal.SIGHUP)
        wait_for_version(second, "v1.1.0")

        # a version not tagged by `register` put in prod by gto itself: refused, v1.1.0 keeps serving
        unverified = Project(project).commit("the same model, tagged by hand")
        run(["gto", "register", NAME, unverified, "--version", "v2.0.0"], project)
        run(["gto", "assign", NAME, "--version", "v2.0.0", "--stage", "prod"], project)
        second.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        metrics = ""
        while time.monotonic() < deadline:
            metrics = httpx.get(f"{second.url}/metrics").text
            if metric(metrics, "census_income_serve_reloads_total", outcome="refused"):
                break
            time.sleep(0.3)
        assert metric(metrics, "census_income_serve_reloads_total", outcome="refused") == 1
        assert "reload (SIGHUP) refused, still serving v1.1.0" in second.output()
        assert "was not tagged by `census-income register`" in second.output()
        answer = httpx.post(f"{second.url}/predict", json=records(registry, registry.lines[:1]))
        assert answer.json()["model_version"] == "v1.1.0"

        # graceful shutdown: a request whose body is still arriving when SIGTERM comes is answered
        body = json.dumps(records(registry, registry.lines[:50])).encode()
        head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n".encode()
        answered: list[str] = []

        def client() -> None:
            answered.append(raw_exchange(second.port, head + body[:100], pause=1.5, rest=body[100:]))

        thread = threading.Thread(target=client)
        thread.start()
        time.sleep(0.5)
        second.process.send_signal(signal.SIGTERM)
        thread.join()
        assert answered == ["HTTP/1.1 200 OK"]
        # a graceful stop is the normal end of `serve` (uvicorn re-raises the signal; serve ignores it)
        assert second.process.wait(timeout=60) == 0
        assert "Finished server process" in second.output()
    finally:
        second.stop()


def wait_for_version(server: Server, version: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{server.url}/version").json()["primary"]["version"] == version:
            return
        time.sleep(0.2)
    pytest.fail(f"still not serving {version}:\n{server.output()}")


def test_with_workers_a_scrape_counts_every_workers_requests(registry: Registry) -> None:
    """`--workers 2`: the workers share their metric files, so whichever answers a scrape, the
    requests of both are counted (each worker kept its own before: a scrape saw one of them)."""
    served = start(registry.project, "--model", "v1.0.0", "--workers", "2", "--poll-seconds", "60")
    try:
        rows = records(registry, registry.lines[:40])
        for row in rows:  # a new connection each time: the kernel hands them to either worker
            answer = httpx.post(f"{served.url}/predict", json=[row], timeout=60)
            assert answer.status_code == 200, answer.text
        text = httpx.get(f"{served.url}/metrics", timeout=60).text
        workers = set(re.findall(r'census_income_serve_model_info\{[^}]*pid="(\d+)"', text))
        assert len(workers) == 2, text[:3000]
        counted = re.findall(r"census_income_serve_requests_total\{([^}]*)\} (\S+)", text)
        assert sum(float(value) for labels, value in counted if 'status="200"' in labels) == len(rows), text[:3000]
    finally:
        served.stop()
