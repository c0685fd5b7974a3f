"""Server CPU per request of the HTTP servers we could run the ASGI app under.

Starts one subprocess per server, each serving the same fixed-body ASGI app
(any path → 200, 39 bytes of JSON) on loopback, then drives them in alternating
rounds with ``wrk`` (32 keep-alive connections, one thread) and reads each
server's CPU time (user + system, all threads) from ``/proc/<pid>/stat`` around
every round. Reports µs of server CPU per request, the median over rounds; the
wall-clock rate is printed too but is only comparable within one round.

Servers: ``hypercorn`` (h11, asyncio), ``hypercorn-trio``, ``uvicorn`` (httptools,
asyncio, on a socket bound by this script), ``uvicorn-bounded`` (the same with our
protocol subclass, the one ``gait serve`` runs) and ``granian-embed`` (granian's
embedded server in an asyncio loop, ASGI and RSGI; skipped when granian is not
installed); ``uvicorn-bounded-gaitapp`` / ``hypercorn-gaitapp`` serve our own ASGI app's
``GET /healthz`` instead (its access log line, request id, span scope and HTTP metrics
included): the cost of our per-request wrapper on top of the server. Usage::

    .venv/bin/python soak/bench_http_front.py --rounds 3 --seconds 4
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
BODY = b'{"ok":true,"service":"gait.mcp.serve"}\n'

_SERVER = r"""
import asyncio, socket, sys
BODY = %(body)r
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})

kind, port = sys.argv[1], int(sys.argv[2])
if kind.endswith("-gaitapp"):
    # Our ASGI app's GET /healthz, with the access log line (JSON, as gait serve writes it)
    # and the HTTP metrics: the cost of our per-request wrapper on top of the server.
    import os
    from gait_runtime.supervisor.service.http import GaitApp
    from gait_runtime.telemetry.logging import configure_logging
    from gait_runtime.telemetry.metrics import Metrics
    configure_logging(level="info", fmt="json", stream=open(os.devnull, "w"))
    metrics = Metrics(process_collectors=False)
    app = GaitApp(None, max_request_bytes=1 << 20, auth=None, health=dict,
                  metrics=metrics.render, recorder=metrics)
    kind = kind.removesuffix("-gaitapp")
if kind.startswith("uvicorn"):
    import uvicorn, uvloop
    http = "httptools"
    if kind == "uvicorn-bounded":
        from gait_runtime.supervisor.service.uvicorn_server import BoundedHttpToolsProtocol
        http = BoundedHttpToolsProtocol
    sock = socket.socket(); sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port)); sock.listen(1024)
    cfg = uvicorn.Config(app, http=http, lifespan="on", access_log=False, log_level="warning",
                         server_header=False, date_header=False, proxy_headers=False)
    uvloop.run(uvicorn.Server(cfg).serve(sockets=[sock]))
elif kind.startswith("hypercorn"):
    from hypercorn.config import Config
    cfg = Config(); cfg.bind = [f"127.0.0.1:{port}"]; cfg.accesslog = None
    if kind == "hypercorn-trio":
        import trio
        from hypercorn.trio import serve
        trio.run(serve, app, cfg)
    else:
        import uvloop
        from hypercorn.asyncio import serve
        uvloop.run(serve(app, cfg))
elif kind.startswith("granian"):
    from granian.server.embed import Server
    from granian.constants import Interfaces
    if kind == "granian-rsgi":
        async def rsgi(scope, proto):
            proto.response_bytes(200, [("content-type", "application/json")], BODY)
        target, iface = rsgi, Interfaces.RSGI
    else:
        target, iface = app, Interfaces.ASGI
    async def main():
        server = Server(target, address="127.0.0.1", port=port, interface=iface, log_enabled=False)
        await server.serve()
    import uvloop
    uvloop.run(main())
"""


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not listen")


def _wrk(port: int, seconds: float, path: str = "/") -> tuple[int, int]:
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{int(seconds)}s", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return requests, int(bad.group(1)) if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument(
        "--servers",
        default="hypercorn,hypercorn-trio,uvicorn,uvicorn-bounded,granian-asgi,granian-rsgi,"
        "uvicorn-bounded-gaitapp,hypercorn-gaitapp",
        help="comma-separated subset",
    )
    args = parser.parse_args()
    kinds = args.servers.split(",")
    try:
        import granian  # noqa: F401
    except ImportError:
        kinds = [k for k in kinds if not k.startswith("granian")]
    code = _SERVER % {"body": BODY}
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    try:
        for kind in kinds:
            port = _free_port()
            proc = subprocess.Popen([sys.executable, "-c", code, kind, str(port)])
            procs[kind] = (proc, port)
            _wait_listening(port)
        for _proc, port in procs.values():
            _wrk(port, 1, "/healthz")  # warm-up
        for rnd in range(args.rounds):
            order = kinds if rnd % 2 == 0 else list(reversed(kinds))
            for kind in order:
                proc, port = procs[kind]
                before = _cpu(proc.pid)
                started = time.monotonic()
                requests, bad = _wrk(port, args.seconds, "/healthz")
                wall = time.monotonic() - started
                cpu = _cpu(proc.pid) - before
                us = cpu / max(requests, 1) * 1e6
                results[kind].append((us, requests / wall))
                print(
                    f"round {rnd + 1} {kind:15s} {us:7.1f} µs/req  {requests / wall:8.0f} req/s"
                    f"  non-2xx {bad}",
                    flush=True,
                )
    finally:
        for proc, _port in procs.values():
            proc.send_signal(signal.SIGINT)
        for proc, _port in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    print("\nserver CPU per request (median over rounds):")
    for kind in kinds:
        values = [us for us, _ in results[kind]]
        print(
            f"  {kind:15s} {statistics.median(values):7.1f} µs  (rounds: "
            + ", ".join(f"{v:.1f}" for v in values)
            + ")"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
