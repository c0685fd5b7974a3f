"""Added latency of ``gait mcp`` over calling the upstream MCP server directly.

Setup (all on 127.0.0.1, real processes): a trivial upstream MCP server (the
official SDK's ``MCPServer``, one ``echo`` tool, streamable HTTP under uvicorn);
``gait serve --mcp-upstream bench=<its URL>`` (dev keys, ``--fsync always``,
the gateway under ``/mcp``); and, in this process, ``--clients`` SDK clients
(default 16), each calling ``echo`` back to back. A round measures every
client's calls either **direct** (clients → upstream) or **proxied** (clients →
gateway → upstream); rounds run in ABBA order (direct, proxied, proxied,
direct, ...) after one uncounted warm-up round of each, to cancel drift. Per
round it records p50/p99 of the per-call latency; the report gives the median
over rounds per mode and the added latency ``proxied - direct`` of the p50s and
of the p99s (target: p50 <= 3 ms, p99 <= 15 ms added).

Usage::

    .venv/bin/python soak/bench_mcp.py --rounds 6 --calls 100 --clients 16 [--mode legacy]

``--mode`` is the clients' protocol negotiation: ``auto`` (the SDK default: the
2026-07-28 per-request protocol, stateless, journaled under the gateway's
identity) or ``legacy`` (the ``initialize`` handshake: one MCP session, and one
journal, per client).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")

POLICY = """\
default_verdict: block
rules:
  - {name: echo, effect: allow, match: {tool_names: [bench.echo]}, reason_codes: [bench_ok]}
"""


def _serve_upstream() -> None:
    """Child mode: the trivial upstream on an ephemeral port; prints ``PORT <n>``."""
    import anyio
    import uvicorn
    from mcp.server import MCPServer

    server = MCPServer("bench-upstream")

    @server.tool()
    def echo(text: str) -> str:
        """Return the text."""
        return text

    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        app = server.streamable_http_app(host="127.0.0.1")
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        await uvicorn.Server(config).serve(sockets=[sock])

    anyio.run(main)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _round(url: str, clients: int, calls: int, mode: str) -> list[float]:
    import anyio
    from mcp import Client

    latencies: list[float] = []

    async def one(i: int) -> None:
        async with Client(url, mode=mode, cache=None) as client:
            await client.list_tools()
            await client.call_tool("echo", {"text": "warm"})
            for n in range(calls):
                started = time.perf_counter()
                result = await client.call_tool("echo", {"text": f"{i}-{n}"})
                latencies.append(time.perf_counter() - started)
                if result.is_error:
                    raise RuntimeError(f"call failed: {result.content}")

    with anyio.fail_after(600):
        async with anyio.create_task_group() as tg:
            for i in range(clients):
                tg.start_soon(one, i)
    return latencies


def _start(argv: list[str], **kwargs: Any) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **kwargs)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError(f"{argv[:4]} did not start")
    return proc, line.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="counted rounds (even: ABBA)")
    parser.add_argument("--calls", type=int, default=100, help="calls per client per round")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--mode", default="auto", choices=("auto", "legacy"))
    parser.add_argument("--backend", default="asyncio", choices=("asyncio", "trio"))
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        _serve_upstream()
        return
    import anyio

    work = Path(tempfile.mkdtemp(prefix="gait-bench-mcp-"))
    (work / "policy.yaml").write_text(POLICY)
    upstream, line = _start([sys.executable, __file__, "--serve-upstream"])
    upstream_url = f"http://127.0.0.1:{line.split()[1]}/mcp"
    gait = [sys.executable, "-m", "gait_runtime"]
    if os.environ.get("GAIT_BENCH_PROFILE"):
        gait = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            os.environ["GAIT_BENCH_PROFILE"],
            "-m",
            "gait_runtime",
        ]
    proxy, line = _start(
        [
            *gait,
            "serve",
            "--policy",
            "policy.yaml",
            "--listen",
            "127.0.0.1:0",
            "--mcp-upstream",
            f"bench={upstream_url}",
            "--journal-io",
            "thread",
            "--backend",
            args.backend,
            "--log-level",
            "warning",
            "--json",
        ],
        cwd=work,
        stderr=(work / "gait.log").open("w"),
    )
    proxy_url = f"http://{json.loads(line)['listen']}/mcp"
    urls = {"direct": upstream_url, "proxied": proxy_url}
    order = ["direct", "proxied"] + [
        m
        for i in range(args.rounds // 2)
        for m in (("direct", "proxied") if i % 2 == 0 else ("proxied", "direct"))
    ]
    rounds: dict[str, list[tuple[float, float]]] = {"direct": [], "proxied": []}
    cpu: dict[str, list[float]] = {"gateway": [], "upstream_direct": [], "upstream_proxied": []}
    try:
        for index, mode in enumerate(order):
            before = _cpu_seconds(proxy.pid), _cpu_seconds(upstream.pid)
            lat = anyio.run(_round, urls[mode], args.clients, args.calls, args.mode)
            after = _cpu_seconds(proxy.pid), _cpu_seconds(upstream.pid)
            p50, p99 = _percentile(lat, 0.5) * 1e3, _percentile(lat, 0.99) * 1e3
            counted = index >= 2
            if counted:
                rounds[mode].append((p50, p99))
                per_call = 1e3 / len(lat)
                cpu[f"upstream_{mode}"].append((after[1] - before[1]) * per_call)
                if mode == "proxied":
                    cpu["gateway"].append((after[0] - before[0]) * per_call)
            print(
                f"round {index} {mode:8s} calls={len(lat)} p50={p50:.2f}ms p99={p99:.2f}ms"
                + ("" if counted else " (warm-up, not counted)"),
                flush=True,
            )
    finally:
        for proc in (proxy, upstream):
            proc.terminate()
            proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()
    med = {
        m: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
        for m, rs in rounds.items()
    }
    report = {
        "clients": args.clients,
        "calls_per_client": args.calls,
        "mode": args.mode,
        "rounds_per_mode": len(rounds["direct"]),
        "direct_p50_ms": round(med["direct"][0], 2),
        "direct_p99_ms": round(med["direct"][1], 2),
        "proxied_p50_ms": round(med["proxied"][0], 2),
        "proxied_p99_ms": round(med["proxied"][1], 2),
        "added_p50_ms": round(med["proxied"][0] - med["direct"][0], 2),
        "added_p99_ms": round(med["proxied"][1] - med["direct"][1], 2),
        "gateway_cpu_ms_per_call": round(statistics.median(cpu["gateway"]), 2),
        "upstream_cpu_ms_per_call_direct": round(statistics.median(cpu["upstream_direct"]), 2),
        "upstream_cpu_ms_per_call_proxied": round(statistics.median(cpu["upstream_proxied"]), 2),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "cpus": os.cpu_count(),
        "work_dir": str(work),
    }
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
