"""Added latency and CPU per call of the MCP gateway over calling the upstream directly.

One command (from the repository root, after ``make .venv/.installed``)::

    .venv/bin/python soak/bench_mcp.py

Setup (all on 127.0.0.1, real processes): a trivial upstream MCP server (the
official SDK's ``MCPServer``, one ``echo`` tool, streamable HTTP under uvicorn);
one ``gait serve --mcp-upstream bench=<its URL>`` per ``--proxy`` (default: this
checkout; ``--proxy base=/path/to/other/tree`` adds a second gateway run from
another source tree, e.g. ``git archive main gait_runtime | tar -x -C /tmp/base``,
for a before/after in the same run); and, in this process, ``--clients`` SDK
clients (default 16) each calling ``echo`` back to back (or ``--rate`` calls/s
each). A round measures every client's calls against one target: ``direct``
(clients → upstream) or one proxy (clients → gateway → upstream). Rounds rotate
through the targets forwards then backwards (ABBA: direct, A, B, B, A, direct,
...) after one uncounted warm-up round of each, to cancel drift.

Per round: p50/p99 of the per-call latency, and CPU time per call from
``/proc/<pid>/stat`` (user + system) of the gateway (and of its event-loop
thread alone: the part every call waits for), of the upstream, and of this
client process (``time.process_time``). The report gives the median over
rounds per target, the added latency ``proxied - direct`` of the p50s and p99s
(issue target: p50 <= 3 ms, p99 <= 15 ms added) and the CPU figures, which are
the ones that stay meaningful on a loaded machine.

Reading the latency figures: with back-to-back clients (``--rate 0``) this is a
closed loop, so whichever process runs out of CPU first sets the pace; once the
gateway is that process the added latency is queueing, about ``clients x
gateway CPU per call`` minus what the direct run already queued in the client.
``--rate`` paces each client (an agent's call rate) so the added latency is the
gateway's service time, as long as the offered load stays below its capacity
(``1 / gateway CPU per call``).

``--profile DIR`` attaches ``py-spy`` (when installed) to each gateway during its
rounds and writes ``DIR/<name>.txt`` (raw stacks, GIL-holding samples only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]

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


def _cpu_seconds(pid: int, *, thread: int = 0) -> float:
    """User + system CPU of a process (or of one of its threads: the event loop's is the pid)."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _round(url: str, clients: int, calls: int, mode: str, rate: float) -> list[float]:
    import anyio
    from mcp import Client

    latencies: list[float] = []
    interval = 1.0 / rate if rate > 0 else 0.0

    async def one(i: int) -> None:
        async with Client(url, mode=mode, cache=None) as client:
            await client.list_tools()
            await client.call_tool("echo", {"text": "warm"})
            # Spread the paced clients' phases over one interval.
            due = time.perf_counter() + interval * i / clients
            for n in range(calls):
                if interval:
                    wait = due - time.perf_counter()
                    if wait > 0:
                        await anyio.sleep(wait)
                    due += interval
                started = time.perf_counter()
                result = await client.call_tool("echo", {"text": f"{i}-{n}"})
                latencies.append(time.perf_counter() - started)
                if result.is_error:
                    raise RuntimeError(f"call failed: {result.content}")

    with anyio.fail_after(900):
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


def _start_proxy(
    name: str, tree: Path, upstream_url: str, work: Path, args: argparse.Namespace
) -> tuple[subprocess.Popen[str], str]:
    home = work / name
    home.mkdir()
    (home / "policy.yaml").write_text(POLICY)
    env = dict(os.environ)
    if tree.resolve() != ROOT:
        env["PYTHONPATH"] = str(tree.resolve())
    argv = [sys.executable, "-m", "gait_runtime", "serve", "--policy", "policy.yaml"]
    argv += ["--listen", "127.0.0.1:0", "--mcp-upstream", f"bench={upstream_url}"]
    argv += ["--journal-io", "thread", "--fsync", args.fsync, "--backend", args.backend]
    argv += ["--log-level", "warning", "--json"]
    proc, line = _start(argv, cwd=home, env=env, stderr=(home / "gait.log").open("w"))
    return proc, f"http://{json.loads(line)['listen']}/mcp"


def _order(targets: list[str], rounds: int) -> list[str]:
    """Warm-up (each target once), then ``rounds`` passes, alternately forwards and backwards."""
    passes = [targets if i % 2 == 0 else targets[::-1] for i in range(rounds)]
    return targets + [t for p in passes for t in p]


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else float("nan")


def main() -> None:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=6, help="counted passes (even: ABBA)")
    parser.add_argument("--calls", type=int, default=100, help="calls per client per round")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.0, help="calls/s per client (0: no pause)")
    parser.add_argument("--mode", default="auto", choices=("auto", "legacy"))
    parser.add_argument("--backend", default="asyncio", choices=("asyncio", "trio"))
    parser.add_argument("--fsync", default="always", choices=("always", "interval", "never"))
    parser.add_argument(
        "--proxy",
        action="append",
        default=[],
        metavar="NAME=TREE",
        help="a gateway run from the source tree TREE (repeatable; default: new=<this checkout>)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks per gateway into DIR")
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        _serve_upstream()
        return
    import anyio

    proxies = [tuple(p.split("=", 1)) for p in args.proxy] or [("new", str(ROOT))]
    work = Path(tempfile.mkdtemp(prefix="gait-bench-mcp-"))
    upstream, line = _start([sys.executable, __file__, "--serve-upstream"])
    upstream_url = f"http://127.0.0.1:{line.split()[1]}/mcp"
    procs: dict[str, subprocess.Popen[str]] = {}
    urls = {"direct": upstream_url}
    spies: dict[str, subprocess.Popen[bytes]] = {}
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    rounds: dict[str, list[tuple[float, float]]] = {}
    cpu: dict[str, dict[str, list[float]]] = {}
    try:
        for name, tree in proxies:
            procs[name], urls[name] = _start_proxy(name, Path(tree), upstream_url, work, args)
        targets = list(urls)
        for target in targets:
            rounds[target] = []
            cpu[target] = {"gateway": [], "loop": [], "upstream": [], "client": []}
        for index, target in enumerate(_order(targets, args.rounds)):
            counted = index >= len(targets)
            proc = procs.get(target)
            if args.profile and proc is not None and counted and target not in spies:
                out = args.profile / f"{target}.txt"
                record = ["record", "--pid", str(proc.pid), "--format", "raw", "--gil"]
                spies[target] = subprocess.Popen(
                    [spy, *record, "--nonblocking", "-r", "200", "-o", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            gw0 = _cpu_seconds(proc.pid) if proc else 0.0
            lp0 = _cpu_seconds(proc.pid, thread=proc.pid) if proc else 0.0
            up0, cl0 = _cpu_seconds(upstream.pid), time.process_time()
            lat = anyio.run(
                _round, urls[target], args.clients, args.calls, args.mode, args.rate,
                backend=args.backend,
            )  # fmt: skip
            gw1 = _cpu_seconds(proc.pid) if proc else 0.0
            lp1 = _cpu_seconds(proc.pid, thread=proc.pid) if proc else 0.0
            up1, cl1 = _cpu_seconds(upstream.pid), time.process_time()
            p50, p99 = _percentile(lat, 0.5) * 1e3, _percentile(lat, 0.99) * 1e3
            per_call = 1e3 / len(lat)
            if counted:
                rounds[target].append((p50, p99))
                cpu[target]["upstream"].append((up1 - up0) * per_call)
                cpu[target]["client"].append((cl1 - cl0) * per_call)
                if proc is not None:
                    cpu[target]["gateway"].append((gw1 - gw0) * per_call)
                    cpu[target]["loop"].append((lp1 - lp0) * per_call)
            print(
                f"round {index:2d} {target:8s} calls={len(lat)} p50={p50:.2f}ms p99={p99:.2f}ms"
                f" cpu/call gateway={(gw1 - gw0) * per_call:.2f}ms"
                f" (loop {(lp1 - lp0) * per_call:.2f}ms)"
                f" upstream={(up1 - up0) * per_call:.2f}ms client={(cl1 - cl0) * per_call:.2f}ms"
                + ("" if counted else " (warm-up, not counted)"),
                file=sys.stderr,
                flush=True,
            )
    finally:
        for s in spies.values():
            s.send_signal(2)
            s.wait(timeout=60)
        for p in [*procs.values(), upstream]:
            p.terminate()
            p.wait(timeout=30)
            if p.stdout is not None:
                p.stdout.close()
    med = {
        t: (_median([r[0] for r in rs]), _median([r[1] for r in rs])) for t, rs in rounds.items()
    }
    report: dict[str, Any] = {
        "clients": args.clients,
        "calls_per_client": args.calls,
        "rate_per_client": args.rate,
        "mode": args.mode,
        "fsync": args.fsync,
        "backend": args.backend,
        "rounds_per_target": args.rounds,
        "direct_p50_ms": med["direct"][0],
        "direct_p99_ms": med["direct"][1],
        "direct_client_cpu_ms_per_call": _median(cpu["direct"]["client"]),
        "direct_upstream_cpu_ms_per_call": _median(cpu["direct"]["upstream"]),
        "proxies": {
            name: {
                "tree": tree,
                "p50_ms": med[name][0],
                "p99_ms": med[name][1],
                "added_p50_ms": round(med[name][0] - med["direct"][0], 2),
                "added_p99_ms": round(med[name][1] - med["direct"][1], 2),
                "gateway_cpu_ms_per_call": _median(cpu[name]["gateway"]),
                "gateway_loop_cpu_ms_per_call": _median(cpu[name]["loop"]),
                "upstream_cpu_ms_per_call": _median(cpu[name]["upstream"]),
                "client_cpu_ms_per_call": _median(cpu[name]["client"]),
            }
            for name, tree in proxies
        },
        "load_average_1m": round(os.getloadavg()[0], 1),
        "cpus": os.cpu_count(),
        "work_dir": str(work),
    }
    print(json.dumps(report, sort_keys=True, indent=1))


if __name__ == "__main__":
    main()
