"""HTTP serving benchmark (`make bench-serve`): `census-income serve` under load, against in-process scoring.

In a reproduced project (a fresh temporary copy, or `--project DIR`), the server runs as its
own process on 127.0.0.1 (the workspace model, `--model models/model.joblib`), once with
adaptive batching and once without. A load generator in this process (one asyncio loop, a
keep-alive HTTP/1.1 connection per client written and read raw: loopback only, and cheap, since
it shares the cores) sends JSON requests of 1 row and of 1,000 rows (rows of the test split's
source file) from 1, 8 and 32 concurrent clients, each run bounded in requests and in seconds.
Per run: requests/s, rows/s, p50 and p99 latency, and the CPU per request of the server and of
the generator; per server: its peak resident memory (`VmHWM`). The floor, in its own process:
the same rows parsed and prepared once, then the scoring path's model call (`score`) and the
pipeline's own `predict_proba` in a loop on 1 row and on 1,000 rows.

The generator shares the 2 cores with the server, so figures are what one machine does with
both; timings depend on the load: figures to read, never assertions.

    python benchmarks/bench_serve.py [--project DIR] [--requests 2000] [--seconds 15] [--results benchmarks/results.md]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH_DIR, load_text, machine, project_copy, project_env, publish, stamp, timed

SECTION = "## HTTP serving (census-income serve)"
MODEL = "models/model.joblib"
CLIENTS = (1, 8, 32)
SIZES = (1, 1000)
TARGET_P99_MS = 20.0
TARGET_RPS = 500.0

FLOOR = """
import json, sys, time
started = time.perf_counter()
from census_income.data.ingest import parse_source
from census_income.data.prepare import prepare_features
from census_income.io import load_model
from census_income.repo.lineage import recorded_md5
from census_income.serving.scorer import ScoringConfig
from census_income.serving.scoring import score
from census_income.serving.small import few_threads
lines_path, model_path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
cfg = ScoringConfig.load()
model = load_model(model_path, recorded_md5(model_path))
with open(lines_path, "rb") as handle:
    raw = parse_source(handle.read(), cfg.format, lines_path)
prepared = prepare_features(raw.drop(columns=[cfg.schema_.label.column], errors="ignore"), cfg.format, cfg.schema_)
figures = {}
# the pipeline's own call, and the scoring path's model call (the featurizer compiled to numpy),
# with the server's thread rule (one OpenMP thread for a few rows: waking more costs more than it gives)
for name, call in (("pipeline", model.predict_proba), ("score", lambda rows: score(model, rows))):
    for size in (1, 1000):
        rows = prepared.head(size)
        call(rows)
        calls, t = 0, time.perf_counter()
        with few_threads(size):
            while time.perf_counter() - t < seconds and calls < 2000:
                call(rows)
                calls += 1
        took = time.perf_counter() - t
        figures[f"{name}{size}"] = {
            "calls_per_s": calls / took, "rows_per_s": calls * size / took, "ms_per_call": 1000 * took / calls
        }
print(json.dumps(figures))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def records(project: Path, rows: int) -> list[dict[str, Any]]:
    """The first data rows of the test split's source as JSON records (numbers as numbers)."""
    import yaml

    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    spec = yaml.safe_load((project / params["data"]["spec"]).read_text(encoding="utf-8"))  # the data set's file
    fmt, label = spec["format"], spec["schema"]["label"]["column"]
    comment = fmt.get("comment") or "\0"
    found = []
    with (project / params["data"]["source"]["test"]).open(encoding=fmt.get("encoding", "utf-8")) as handle:
        for line in handle:
            if not line.split(comment)[0].strip():
                continue
            values = [v.strip() for v in line.rstrip("\n").split(fmt["delimiter"])]
            record = {c: int(v) if v.isdigit() else v for c, v in zip(fmt["columns"], values, strict=True)}
            record.pop(label, None)
            found.append(record)
            if len(found) == rows:
                break
    return found


class Server:
    """`census-income serve` as a process, ready when /ready answers."""

    def __init__(self, project: Path, env: dict[str, str], *options: str) -> None:
        self.port = free_port()
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (read on failure, closed by stop)
        args = [sys.executable, "-m", "census_income.cli", "serve", "--model", MODEL, "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*args, *options], cwd=project, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                sys.exit(f"serve exited {self.process.returncode}:\n{self.log.read()[-3000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/ready")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.3)
        sys.exit("serve not ready within 180 s")

    def peak_mb(self) -> float:
        """The server's peak resident memory so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _client(port: int, request: bytes, state: dict[str, Any]) -> None:
    """One keep-alive HTTP/1.1 connection: send, read the head and the `content-length` body, repeat."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < state["deadline"] and state["sent"] < state["requests"]:
            state["sent"] += 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            state["latencies"].append(time.perf_counter() - started)
            state["failed"] += head[9:12] != b"200"
    finally:
        writer.close()


def load(port: int, body: bytes, clients: int, requests: int, seconds: float) -> dict[str, float]:
    """`clients` connections sending `body` until `requests` are answered or `seconds` are up.

    One asyncio loop in this process drives them all (no thread per client, no HTTP library):
    its CPU per request is reported beside the figures, since it shares the cores with the server.
    """
    request = (
        f"POST /predict HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    state: dict[str, Any] = {
        "deadline": time.perf_counter() + seconds,
        "requests": requests,
        "sent": 0,
        "failed": 0,
        "latencies": [],
    }

    async def run() -> None:
        await asyncio.gather(*(_client(port, request, state) for _ in range(clients)))

    cpu, started = time.process_time(), time.perf_counter()
    asyncio.run(run())
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    latencies = sorted(state["latencies"])
    done = len(latencies)
    return {
        "requests": done,
        "failed": state["failed"],
        "wall": wall,
        "rps": done / wall,
        "p50_ms": 1000 * latencies[done // 2],
        "p99_ms": 1000 * latencies[min(done - 1, int(done * 0.99))],
        "client_cpu_ms": 1000 * cpu / done,
    }


def measure(server: Server, bodies: dict[int, bytes], requests: int, seconds: float) -> dict[str, Any]:
    runs = {}
    for size, body in bodies.items():
        load(server.port, body, 4, 20, 5)  # warm-up: threads, pools, caches
        for clients in CLIENTS:
            bound = requests if size == 1 else max(requests // 10, 50)
            server_cpu = process_cpu(server.process.pid)
            figures = load(server.port, body, clients, bound, seconds)
            figures["server_cpu_ms"] = 1000 * (process_cpu(server.process.pid) - server_cpu) / figures["requests"]
            figures["rows_per_s"] = figures["rps"] * size
            runs[f"{size}x{clients}"] = figures
            print(
                f"  {size:>5} rows x {clients:>2} clients: {figures['rps']:8.1f} req/s, "
                f"{figures['rows_per_s']:10,.0f} rows/s, "
                f"p50 {figures['p50_ms']:6.1f} ms, p99 {figures['p99_ms']:6.1f} ms, "
                f"CPU per request: server {figures['server_cpu_ms']:.2f} ms, client {figures['client_cpu_ms']:.2f} ms"
                + (f", {figures['failed']} failed" if figures["failed"] else ""),
                flush=True,
            )
    return {"runs": runs, "peak_mb": server.peak_mb()}


def render(results: dict[str, Any]) -> str:
    """The section for results.md (also what the script prints)."""
    floor = results["floor"]
    lines = [
        SECTION,
        "",
        f"Measured {results['when']} by `make bench-serve` (`benchmarks/bench_serve.py`) on {machine()}: "
        "`census-income serve --model models/model.joblib` (one worker) on 127.0.0.1, JSON requests of rows of "
        "the test split's source, a load generator (keep-alive connections on one asyncio loop) in another "
        f"process on the same 2 cores, each run bounded ({results['requests']:,} requests of 1 row, "
        f"{max(results['requests'] // 10, 50):,} of 1,000 rows, {results['seconds']:g} s at most). "
        f"Load average 1/5/15 min: {load_text(results['load'][0])} before, {load_text(results['load'][1])} after.",
        "",
        "| batching | rows/request | clients | requests | req/s | rows/s | p50 ms | p99 ms | server CPU ms/req "
        "| client CPU ms/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode in ("on", "off"):
        for key, run in results[mode]["runs"].items():
            size, clients = key.split("x")
            lines.append(
                f"| {mode} | {int(size):,} | {clients} | {run['requests']:,} | {run['rps']:,.1f} | "
                f"{run['rows_per_s']:,.0f} | {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
                f"{run['server_cpu_ms']:.2f} | {run['client_cpu_ms']:.2f} |"
            )
    on = results["on"]["runs"]
    best_large = max(on[f"1000x{c}"]["rows_per_s"] for c in CLIENTS)
    lines += [
        "",
        f"Server peak memory: {results['on']['peak_mb']:.0f} MB with batching, {results['off']['peak_mb']:.0f} MB "
        "without.",
        "",
        "Floor (in process, the same rows prepared once, no HTTP, no gate, one OpenMP thread for 1-row "
        "calls as in the server): the scoring path's model call "
        f"(`serving.scoring.score`, the featurizer compiled to numpy) {floor['score1']['ms_per_call']:.1f} ms per "
        f"1-row call ({floor['score1']['calls_per_s']:,.0f} calls/s), {floor['score1000']['rows_per_s']:,.0f} rows/s "
        f"in 1,000-row calls; the pipeline's own `predict_proba` {floor['pipeline1']['ms_per_call']:.1f} ms per "
        f"1-row call, {floor['pipeline1000']['rows_per_s']:,.0f} rows/s in 1,000-row calls.",
        "",
        f"Against the targets: single-row p99 at 8 clients {on['1x8']['p99_ms']:.1f} ms (target "
        f"<= {TARGET_P99_MS:g} ms), {on['1x8']['rps']:,.0f} req/s (target >= {TARGET_RPS:g}); 1,000-row requests "
        f"at best {best_large:,.0f} rows/s, {best_large / floor['score1000']['rows_per_s']:.0%} of the scoring "
        f"path's floor ({best_large / floor['pipeline1000']['rows_per_s']:.0%} of the pipeline's; target >= 50%). "
        "CPU per request: the server's and the load generator's (one asyncio loop, raw HTTP/1.1), per run.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, help="an already reproduced project (default: a fresh copy)")
    parser.add_argument("--requests", type=int, default=2000, help="single-row requests per run at most")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per run at most")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.md", help="markdown file to update")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="census-income-bench-serve-") as tmp:
        work = Path(tmp)
        if args.project is None:
            project, env = project_copy(work / "project")
            print("dvc repro in a fresh copy ...", flush=True)
            timed(["dvc", "repro", "--quiet"], project, env)
        else:
            project = args.project.resolve()
            env = project_env(project)
        rows = records(project, 1000)
        bodies = {1: json.dumps(rows[:1]).encode(), 1000: json.dumps(rows).encode()}
        results: dict[str, Any] = {"when": stamp(), "requests": args.requests, "seconds": args.seconds}
        for mode, options in (("on", ()), ("off", ("--no-batching",))):
            print(f"batching {mode}:", flush=True)
            server = Server(project, env, *options)
            try:
                results[mode] = measure(server, bodies, args.requests, args.seconds)
            finally:
                server.stop()
        source = work / "rows.csv"
        source.write_text("\n".join(",".join(str(v) for v in r.values()) for r in rows) + "\n", encoding="utf-8")
        floor = timed([sys.executable, "-c", FLOOR, str(source), MODEL, str(args.seconds / 3)], project, env)
        results["floor"] = json.loads(floor.output.strip().splitlines()[-1])
    results["load"] = (load_before, os.getloadavg())
    publish(args.results, render(results))


if __name__ == "__main__":
    main()
