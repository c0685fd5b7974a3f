"""Start-to-answer time of the coding-agent hook, whole process, against the bare interpreter.

Run with ``.venv/bin/python soak/bench_hook.py [--runs N] [--baseline OTHER_GAIT]``.

Starts a real ``gait serve`` on 127.0.0.1 (ephemeral port, the service vector policy,
stopped at the end), then measures, for a ``Read`` payload on stdin:

* ``python -c pass`` (the floor: interpreter start-up with this venv's site-packages),
* ``gait hook claude-code --url`` and ``gait-hook --url`` against the server (allow),
* ``gait hook claude-code --url`` to a closed port (deny at once),
* ``gait hook claude-code --policy`` and ``gait-hook --policy`` (in-process gate, allow;
  the start-up caches warm, as from a hook's second call on), and ``--policy`` with
  ``GAIT_CACHE_DIR=off`` (the full work every call: YAML, plugin discovery; run through
  ``env``, one more exec),
* the same ``--url``/``--policy`` cases with ``--baseline`` (another install's ``gait``,
  for a before/after in the same run).

The children keep their start-up caches in a temporary ``GAIT_CACHE_DIR``. Bytecode is
cached as in an installed hook: if ``PYTHONDONTWRITEBYTECODE`` is set, it is dropped for
the children and ``PYTHONPYCACHEPREFIX`` points into the temporary directory (unless set).

Two measurements: (1) our own loop, the cases alternating run by run, wall time and the
child's CPU time (user + sys from ``wait4``), which is what to read on a loaded machine;
(2) ``hyperfine`` (if on PATH) over the same commands (it runs them one after another
through a shell and subtracts the shell's start-up). Each answer is checked. Medians and
p90 in milliseconds. Real time is measured on purpose: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VECTORS = ROOT / "tests" / "vectors"
POLICY = VECTORS / "service" / "policy.yaml"
PAYLOAD = {
    "session_id": "bench",
    "hook_event_name": "PreToolUse",
    "tool_name": "Read",
    "tool_input": {"file_path": "/srv/notes.txt"},
}


def _serve(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [
        str(BIN / "gait"),
        "serve",
        "--policy",
        str(POLICY),
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--journal-io",
        "thread",
        "--key-mode",
        "prod",
        "--private-key",
        str(VECTORS / "keys" / "gait_private.key"),
        "--approval-public-key",
        str(VECTORS / "keys" / "gait_public.key"),
        "--trace-dir",
        str(workdir / "traces"),
        "--session-dir",
        str(workdir / "sessions"),
    ]
    proc = subprocess.Popen(
        argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the started line (the server exits if it cannot start)
    if not line:
        proc.wait(timeout=30)
        raise SystemExit(f"gait serve did not start (exit {proc.returncode})")
    return proc, "http://" + json.loads(line)["listen"]


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _once(argv: list[str], payload: Path, expect: str | None) -> tuple[float, float]:
    """(wall ms, CPU ms) of one process; checks the hook's answer."""
    with payload.open("rb") as stdin:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - started) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}")
    if expect is not None:
        got = json.loads(out)["hookSpecificOutput"]["permissionDecision"]
        if got != expect:
            raise SystemExit(f"{argv} answered {got}, expected {expect}: {out!r}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def _p90(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _hyperfine(
    cases: dict[str, tuple[list[str], str | None]], payload: Path, runs: int, tmp: Path
) -> dict[str, list[float]]:
    exe = shutil.which("hyperfine")
    if exe is None:
        return {}
    out = tmp / "hyperfine.json"
    commands = [f"{shlex.join(argv)} < {shlex.quote(str(payload))}" for argv, _ in cases.values()]
    flags = ["--warmup", "3", "--runs", str(runs), "--style", "none", "--export-json", str(out)]
    subprocess.run(
        [exe, *flags, *commands],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    results = json.loads(out.read_text())["results"]
    return {name: [t * 1000 for t in r["times"]] for name, r in zip(cases, results, strict=True)}


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="processes per case")
    parser.add_argument("--baseline", default="", help="another install's gait script (before)")
    parser.add_argument("--no-hyperfine", action="store_true", help="only the alternating loop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gait-bench-hook-") as name:
        tmp = Path(name)
        os.environ["GAIT_CACHE_DIR"] = str(tmp / "cache")
        if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
            os.environ.setdefault("PYTHONPYCACHEPREFIX", str(tmp / "pycache"))
        payload = tmp / "payload.json"
        payload.write_text(json.dumps(PAYLOAD))
        proc, url = _serve(tmp)
        try:
            down = f"http://127.0.0.1:{_closed_port()}"
            gait, hook = str(BIN / "gait"), str(BIN / "gait-hook")
            cases: dict[str, tuple[list[str], str | None]] = {
                "python -c pass": ([sys.executable, "-c", "pass"], None),
                "gait hook claude-code --url (allow)": (
                    [gait, "hook", "claude-code", "--url", url],
                    "allow",
                ),
                "gait-hook --url (allow)": ([hook, "--url", url], "allow"),
                "gait hook claude-code --url, server down (deny)": (
                    [gait, "hook", "claude-code", "--url", down],
                    "deny",
                ),
                "gait hook claude-code --policy (allow)": (
                    [gait, "hook", "claude-code", "--policy", str(POLICY)],
                    "allow",
                ),
                "gait-hook --policy (allow)": ([hook, "--policy", str(POLICY)], "allow"),
                "--policy, GAIT_CACHE_DIR=off (allow)": (
                    ["env", "GAIT_CACHE_DIR=off", hook, "--policy", str(POLICY)],
                    "allow",
                ),
            }
            if args.baseline:
                cases["baseline --url (allow)"] = (
                    [args.baseline, "hook", "claude-code", "--url", url],
                    "allow",
                )
                cases["baseline --policy (allow)"] = (
                    [args.baseline, "hook", "claude-code", "--policy", str(POLICY)],
                    "allow",
                )
            for argv, expect in cases.values():  # warm the page cache and __pycache__
                _once(argv, payload, expect)
            wall: dict[str, list[float]] = {k: [] for k in cases}
            cpu: dict[str, list[float]] = {k: [] for k in cases}
            for _ in range(args.runs):
                for key, (argv, expect) in cases.items():
                    w, c = _once(argv, payload, expect)
                    wall[key].append(w)
                    cpu[key].append(c)
            fine = {} if args.no_hyperfine else _hyperfine(cases, payload, args.runs, tmp)
        finally:
            _stop(proc)
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {args.runs} runs per case, load average {load:.1f}")
    print(f"bytecode prefix: {os.environ.get('PYTHONPYCACHEPREFIX', '(none)')}")
    print(
        "| case | wall median / p90 (alternating) | CPU median / p90 | "
        "hyperfine median / p90 | wall / bare |"
    )
    print("|---|---:|---:|---:|---:|")
    bare = statistics.median(wall["python -c pass"])
    for key in cases:
        hf = fine.get(key)
        hf_text = f"{statistics.median(hf):.1f} / {_p90(hf):.1f}" if hf else "—"
        print(
            f"| {key} | {statistics.median(wall[key]):.1f} / {_p90(wall[key]):.1f} | "
            f"{statistics.median(cpu[key]):.1f} / {_p90(cpu[key]):.1f} | {hf_text} | "
            f"{statistics.median(wall[key]) / bare:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
