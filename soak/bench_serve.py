"""Benchmark ``gait serve`` with a real load generator over loopback.

For each mode it starts a fresh ``python -m gait_runtime serve`` subprocess
(dev keys, ``--fsync always``), waits for its ``--json`` start-up line, warms it
up, then drives it with ``--concurrency`` HTTP/1.1 keep-alive connections
for ``--max-seconds``. Modes:

* ``none``: no session id (trace signed and made durable, nothing journaled);
* ``shared``: every call journaled to one shared session;
* ``sessions16``: calls spread over 16 sessions (round robin);
* ``trio-shared``: ``shared`` on the trio backend (hypercorn, the only server there).

Load generators (``--client``): ``wrk`` (the default; a Lua script posts the
evaluate body and varies the session id and tool per request, ``--latency``
gives p50/p99; it costs the least CPU, which on a small machine counts against
the server), ``raw`` (a minimal Python HTTP/1.1 client) or ``httpx``. It reports
decisions/s, p50/p99 latency, errors (transport errors and non-2xx answers), and
the server's CPU time per decision (from ``/proc/<pid>/stat``), and with
``--profile`` runs one more pass of a mode with the server under ``cProfile``
and prints where the time goes. Real time is the point here, so this lives in
``soak/``, not in the test suite. The table of ``docs/performance.md``, one
command (about 4 × 25 s)::

    .venv/bin/python soak/bench_serve.py

Other runs: ``--modes shared --rounds 3`` (alternating rounds),
``--server-arg=--http-server --server-arg=hypercorn`` (the old front),
``--client raw --requests 8000 --profile shared``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

POLICY = """schema_id: gait.gate.policy
schema_version: 1.0.0
default_verdict: require_approval
rules:
  - name: allow-reads
    priority: 10
    effect: allow
    match:
      tool_names: [tool.read, tool.search]
    reason_codes: [safe_read_allowed]
  - name: block-deletes
    priority: 5
    effect: block
    match:
      tool_names: [tool.delete]
    reason_codes: [destructive_tool_blocked]
"""
MODES = ("none", "shared", "sessions16", "trio-shared")

WRK_SCRIPT = r"""
-- gait bench: POST /v1/evaluate, the session id and tool varied per request.
local mode = "none"
local counter = 0
function init(args)
  if args[1] then mode = args[1] end
end
function request()
  counter = counter + 1
  local session = ""
  if mode == "shared" then
    session = ',"session_id":"bench-shared"'
  elseif mode == "sessions16" then
    session = string.format(',"session_id":"bench-%d"', counter % 16)
  end
  local tool = "tool.read"
  if counter % 10 == 9 then tool = "tool.delete" end
  local path = string.format("/srv/data/%d.txt", counter)
  local body = string.format(
    '{"run_id":"bench-%s","call":{"name":"%s","args":{"path":"%s"},' ..
    '"targets":[{"kind":"path","value":"%s","operation":"read"}],' ..
    '"context":{"identity":"agent-%d","workspace":"/srv","risk_class":"low"%s}}}',
    mode, tool, path, path, counter % 32, session)
  return wrk.format("POST", "/v1/evaluate", {["content-type"] = "application/json"}, body)
end
"""
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class ClientResult:
    """What one load-generator process measured."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def _mode_parts(mode: str, backend: str) -> tuple[str, str]:
    """``(session mode, backend)`` of a benchmark mode (``trio-shared`` sets the backend)."""
    if mode.startswith("trio-"):
        return mode.removeprefix("trio-"), "trio"
    return mode, backend


def _latency_ms(text: str) -> float:
    value = float(text.rstrip("usm"))
    if text.endswith("us"):
        return value / 1000
    if text.endswith("ms"):
        return value
    if text.endswith("m"):
        return value * 60_000
    return value * 1000  # seconds


def _wrk(url: str, mode: str, seconds: int, concurrency: int, script: Path) -> dict[str, Any]:
    """One wrk run: requests, non-2xx, socket errors, p50/p99 in ms."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, int(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
            "--",
            mode,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", out, re.M))
    return {
        "requests": requests,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(x) for x in sockets.groups()) if sockets else 0,
        "p50_ms": round(_latency_ms(percentiles["50"]), 2) if "50" in percentiles else None,
        "p99_ms": round(_latency_ms(percentiles["99"]), 2) if "99" in percentiles else None,
    }


def run_mode_wrk(
    mode: str,
    *,
    max_seconds: float,
    concurrency: int,
    backend: str,
    server_args: list[str] | None = None,
) -> dict[str, Any]:
    """Benchmark one mode with wrk against a fresh server; return its figures."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk), or use --client raw")
    session_mode, backend = _mode_parts(mode, backend)
    with tempfile.TemporaryDirectory(prefix=f"gait-bench-{mode}-") as tmp:
        script = Path(tmp) / "evaluate.lua"
        script.write_text(WRK_SCRIPT)
        server = _start(Path(tmp), backend, None, server_args or [])
        try:
            _wrk(server.url, session_mode, 2, concurrency, script)  # warm-up
            cpu_before = _cpu_seconds(server.pid)
            started = time.perf_counter()
            figures = _wrk(server.url, session_mode, int(max_seconds), concurrency, script)
            elapsed = time.perf_counter() - started
            cpu = _cpu_seconds(server.pid) - cpu_before
        finally:
            _stop(server)
    done = figures["requests"]
    return {
        "mode": mode,
        "backend": backend,
        "http_server": server.http_server,
        "client": "wrk",
        "concurrency": concurrency,
        "decisions": done,
        "seconds": round(elapsed, 3),
        "decisions_per_s": round(done / elapsed, 1) if elapsed else 0.0,
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "errors": figures["non_2xx"] + figures["socket_errors"],
        "non_2xx": figures["non_2xx"],
        "server_cpu_us_per_decision": round(cpu * 1e6 / done, 1) if done else None,
        "server_cpu_utilisation": round(cpu / elapsed, 2) if elapsed else None,
    }


def _body(mode: str, client: int, n: int) -> bytes:
    context: dict[str, str] = {
        "identity": f"agent-{client}",
        "workspace": "/srv",
        "risk_class": "low",
    }
    if mode == "shared":
        context["session_id"] = "bench-shared"
    elif mode == "sessions16":
        context["session_id"] = f"bench-{client % 16}"
    tool = "tool.delete" if n % 10 == 9 else "tool.read"
    path = f"/srv/data/{client}/{n}.txt"
    call = {
        "name": tool,
        "args": {"path": path},
        "targets": [{"kind": "path", "value": path, "operation": "read"}],
        "context": context,
    }
    return json.dumps({"run_id": f"bench-{mode}", "call": call}).encode()


async def _drive(
    url: str, mode: str, first_client: int, clients: int, requests: int, deadline: float
) -> ClientResult:
    result = ClientResult()
    per_client = max(1, requests // clients)

    async def client(index: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
            for n in range(per_client):
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                try:
                    response = await http.post(
                        "/v1/evaluate", content=_body(mode, index, n), headers=headers
                    )
                except httpx.HTTPError:
                    result.errors += 1
                    continue
                result.latencies.append(time.perf_counter() - started)
                result.statuses[response.status_code] = (
                    result.statuses.get(response.status_code, 0) + 1
                )

    async with anyio.create_task_group() as tg:
        for index in range(first_client, first_client + clients):
            tg.start_soon(client, index)
    return result


async def _drive_raw(
    url: str, mode: str, first_client: int, clients: int, requests: int, deadline: float
) -> ClientResult:
    """The same load with a minimal HTTP/1.1 client (pre-built requests, keep-alive).

    It spends far less CPU per request than ``httpx``, so on a small machine it
    shows what the server itself sustains.
    """
    result = ClientResult()
    per_client = max(1, requests // clients)
    host, _, port = url.removeprefix("http://").rpartition(":")

    async def client(index: int) -> None:
        stream = await anyio.connect_tcp(host, int(port))
        async with stream:
            buffer = b""
            for n in range(per_client):
                if time.monotonic() > deadline:
                    return
                body = _body(mode, index, n)
                request = (
                    b"POST /v1/evaluate HTTP/1.1\r\nhost: bench\r\n"
                    b"content-type: application/json\r\ncontent-length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                started = time.perf_counter()
                await stream.send(request)
                while b"\r\n\r\n" not in buffer:
                    buffer += await stream.receive()
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += await stream.receive()
                buffer = buffer[length:]
                status = int(head.split(b" ", 2)[1])
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1

    async with anyio.create_task_group() as tg:
        for index in range(first_client, first_client + clients):
            tg.start_soon(client, index)
    return result


def _client_process(args: tuple[str, str, int, int, int, float, str]) -> ClientResult:
    url, mode, first, clients, requests, deadline, kind = args
    drive = _drive_raw if kind == "raw" else _drive
    return anyio.run(drive, url, mode, first, clients, requests, deadline)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live descendants (the server's export workers)."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited while we looked
    tree, grew = {pid}, True
    while grew:
        more = {p for p, fields in stats.items() if int(fields[1]) in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(int(stats[p][11]) + int(stats[p][12]) for p in tree if p in stats) / CLK_TCK


@dataclass
class Server:
    """A running ``gait serve`` subprocess."""

    process: subprocess.Popen[bytes]
    url: str
    pid: int
    http_server: str = ""


def _start(workdir: Path, backend: str, profile_to: Path | None, extra: list[str]) -> Server:
    (workdir / "policy.yaml").write_text(POLICY)
    command = [sys.executable]
    if profile_to is not None:
        command += ["-m", "cProfile", "-o", str(profile_to)]
    command += [
        "-m",
        "gait_runtime",
        "serve",
        "--policy",
        "policy.yaml",
        "--listen",
        "127.0.0.1:0",
        "--key-mode",
        "dev",
        "--fsync",
        "always",
        "--backend",
        backend,
        "--trace-dir",
        "traces",
        "--session-dir",
        "sessions",
        "--json",
        *extra,
    ]
    env = {**os.environ, "GAIT_LOG_LEVEL": "warning"}
    process = subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    startup = json.loads(line)
    if not startup.get("ok"):
        raise SystemExit(f"server did not start: {startup}")
    return Server(
        process,
        "http://" + startup["listen"],
        int(startup["pid"]),
        str(startup.get("http_server", "")),
    )


def _stop(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=60)
    finally:
        if server.process.poll() is None:
            server.process.kill()
        if server.process.stdout is not None:
            server.process.stdout.close()


def run_mode(
    mode: str,
    *,
    requests: int,
    max_seconds: float,
    concurrency: int,
    client_procs: int,
    backend: str,
    client: str = "httpx",
    profile_to: Path | None = None,
    server_args: list[str] | None = None,
) -> dict[str, Any]:
    """Benchmark one mode against a fresh server with a Python client; return its figures."""
    mode, backend = _mode_parts(mode, backend)
    with tempfile.TemporaryDirectory(prefix=f"gait-bench-{mode}-") as tmp:
        server = _start(Path(tmp), backend, profile_to, server_args or [])
        try:
            warm = time.monotonic() + 10
            _client_process((server.url, mode, 10_000, min(8, concurrency), 200, warm, client))
            cpu_before = _cpu_seconds(server.pid)
            deadline = time.monotonic() + max_seconds
            share = concurrency // client_procs
            jobs = [
                (server.url, mode, i * share, share, requests // client_procs, deadline, client)
                for i in range(client_procs)
            ]
            started = time.perf_counter()
            if client_procs == 1:
                results = [_client_process(jobs[0])]
            else:
                with multiprocessing.get_context("spawn").Pool(client_procs) as pool:
                    results = pool.map(_client_process, jobs)
            elapsed = time.perf_counter() - started
            cpu = _cpu_seconds(server.pid) - cpu_before
        finally:
            _stop(server)
    latencies = sorted(x for r in results for x in r.latencies)
    statuses: dict[int, int] = {}
    for r in results:
        for status, count in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    done = len(latencies)
    return {
        "mode": mode,
        "backend": backend,
        "http_server": server.http_server,
        "client": client,
        "concurrency": concurrency,
        "decisions": done,
        "seconds": round(elapsed, 3),
        "decisions_per_s": round(done / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(latencies[done // 2] * 1000, 2) if done else None,
        "p99_ms": round(latencies[min(done - 1, int(done * 0.99))] * 1000, 2) if done else None,
        "errors": sum(r.errors for r in results),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_cpu_ms_per_decision": round(cpu * 1000 / done, 3) if done else None,
        "server_cpu_utilisation": round(cpu / elapsed, 2) if elapsed else None,
    }


def _print_table(figures: list[dict[str, Any]]) -> None:
    """The figures as the Markdown table of ``docs/performance.md``."""
    print("\n| mode | server | decisions/s | p50 ms | p99 ms | errors | server CPU µs/decision |")
    print("|---|---|---|---|---|---|---|")
    for f in figures:
        cpu = f.get("server_cpu_us_per_decision")
        if cpu is None and f.get("server_cpu_ms_per_decision") is not None:
            cpu = round(f["server_cpu_ms_per_decision"] * 1000, 1)
        print(
            f"| {f['mode']} | {f['backend']}/{f.get('http_server') or '?'} | "
            f"{f['decisions_per_s']:,.0f} | {f['p50_ms']} | {f['p99_ms']} | {f['errors']} | {cpu} |"
        )


def print_profile(path: Path, limit: int = 25) -> None:
    """Print the functions with the most own time and the main cumulative buckets."""
    stats = pstats.Stats(str(path))
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    print(f"\nprofile ({path.name}): total own time {total:.2f}s")
    print("top functions by own time:")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    for (filename, line, name), (_, calls, own, cumulative, _) in rows[:limit]:
        short = "/".join(Path(filename).parts[-2:])
        print(
            f"  {own / total * 100:5.1f}%  own {own:7.3f}s  cum {cumulative:7.3f}s  {calls:>8}  {short}:{line}({name})"
        )
    buckets = {
        "decide (whole decision path)": ("decisions.py", "_decide"),
        "normalize_intent": ("intent.py", "normalize_intent"),
        "evaluate": ("evaluate.py", "evaluate"),
        "build_trace (JCS + ed25519)": ("trace.py", "build_trace"),
        "trace file write (await)": ("trace_writer.py", "write"),
        "session append (await)": ("sessions.py", "append"),
        "ASGI app": ("http.py", "__call__"),
        "h11 parsing (hypercorn)": ("_connection.py", "next_event"),
        "httptools protocol (uvicorn)": ("httptools_impl.py", "data_received"),
    }
    print("cumulative time of the main steps (own + callees, including awaits):")
    for label, (file_suffix, func) in buckets.items():
        for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
            if filename.endswith(file_suffix) and name == func:
                print(f"  {label:38s} {cumulative:7.3f}s")
                break


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a JSON line per mode (and a profile)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=8000, help="decisions per mode (python)")
    parser.add_argument("--max-seconds", type=float, default=25.0, help="time per mode")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of all modes")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    parser.add_argument("--client-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--backend", default="asyncio", choices=("asyncio", "trio"))
    parser.add_argument(
        "--client", default="wrk", choices=("wrk", "httpx", "raw"), help="load generator"
    )
    parser.add_argument("--profile", default="", help="also profile the server in this mode")
    parser.add_argument("--out", default="", help="write all figures as JSON here")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra flag for gait serve (repeatable)"
    )
    ns = parser.parse_args(argv)
    figures = []
    modes = ns.modes.split(",")
    for rnd in range(ns.rounds):
        for mode in modes if rnd % 2 == 0 else list(reversed(modes)):
            if ns.client == "wrk":
                result = run_mode_wrk(
                    mode,
                    max_seconds=ns.max_seconds,
                    concurrency=ns.concurrency,
                    backend=ns.backend,
                    server_args=ns.server_arg,
                )
            else:
                result = run_mode(
                    mode,
                    requests=ns.requests,
                    max_seconds=ns.max_seconds,
                    concurrency=ns.concurrency,
                    client_procs=ns.client_procs,
                    backend=ns.backend,
                    client=ns.client,
                    server_args=ns.server_arg,
                )
            figures.append({**result, "round": rnd + 1})
            print(json.dumps(result), flush=True)
    _print_table(figures)
    if ns.profile:
        with tempfile.TemporaryDirectory() as tmp:
            prof = Path(tmp) / f"serve-{ns.profile}.prof"
            result = run_mode(
                ns.profile,
                requests=ns.requests // 2,
                max_seconds=ns.max_seconds,
                concurrency=ns.concurrency,
                client_procs=ns.client_procs,
                backend=ns.backend,
                client="raw" if ns.client == "wrk" else ns.client,
                profile_to=prof,
                server_args=ns.server_arg,
            )
            print(json.dumps({**result, "profiled": True}), flush=True)
            print_profile(prof)
    if ns.out:
        Path(ns.out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
