"""``gait hook claude-code`` as the agent runs it (a real process, payload on stdin),
and the HTTP hook route of a real ``gait serve``.

Service vector policy: ``tool.read`` allow, ``tool.write`` dry_run, anything else
require_approval; hook names map ``Read`` ⇒ tool.read, ``Edit`` ⇒ tool.write,
``Bash`` ⇒ tool.exec.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest

from .servers import GAIT, POLICY, GaitServe, Misbehaving, closed_port, env_without_url

READ = {
    "session_id": "s1",
    "hook_event_name": "PreToolUse",
    "tool_name": "Read",
    "tool_input": {"file_path": "/srv/notes.txt"},
}
EDIT = {
    "session_id": "s1",
    "hook_event_name": "PreToolUse",
    "tool_name": "Edit",
    "tool_input": {"file_path": "/srv/a.py", "old_string": "a", "new_string": "b"},
}
BASH = {
    "session_id": "s1",
    "hook_event_name": "PreToolUse",
    "tool_name": "Bash",
    "tool_input": {"command": "rm -rf /srv"},
}


def hook(stdin: bytes, *flags: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [str(GAIT), "hook", "claude-code", *flags],
        input=stdin,
        capture_output=True,
        timeout=60,
        env=env if env is not None else env_without_url(),
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1, proc.stdout
    out: dict[str, Any] = json.loads(lines[0])["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse"
    return out


def _payload(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("payload", "permission", "reason"),
    [
        (READ, "allow", "safe_read_allowed"),
        (EDIT, "deny", "gait dry_run"),
        (BASH, "ask", "default_require_approval"),
    ],
)
def test_hook_against_a_running_server(
    gait_serve: GaitServe, payload: dict[str, Any], permission: str, reason: str
) -> None:
    """``--url``: allow / deny for dry_run / ask for require_approval, reason codes as reason."""
    out = hook(_payload(payload), "--url", gait_serve.url)
    assert out["permissionDecision"] == permission
    assert reason in out["permissionDecisionReason"]


def test_hook_reads_gait_url_from_the_environment(gait_serve: GaitServe) -> None:
    """``GAIT_URL`` stands in for ``--url``."""
    out = hook(_payload(READ), env={**env_without_url(), "GAIT_URL": gait_serve.url})
    assert out["permissionDecision"] == "allow"


@pytest.mark.parametrize(
    ("payload", "permission"), [(READ, "allow"), (EDIT, "deny"), (BASH, "ask")]
)
def test_hook_in_process_with_a_policy(payload: dict[str, Any], permission: str) -> None:
    """``--policy``: the same answers without a server."""
    assert hook(_payload(payload), "--policy", str(POLICY))["permissionDecision"] == permission


def test_hook_denies_when_the_supervisor_is_down() -> None:
    """Connection refused: deny, with the reason, well before the timeout."""
    started = time.monotonic()
    out = hook(_payload(READ), "--url", f"http://127.0.0.1:{closed_port()}", "--timeout", "30")
    assert out["permissionDecision"] == "deny"
    assert "unreachable" in out["permissionDecisionReason"]
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("stdin", "flags", "why"),
    [
        (b"not json", ("--policy", str(POLICY)), "not JSON"),
        (b"[1]", ("--policy", str(POLICY)), "not a JSON object"),
        (_payload({"tool_input": {}}), ("--policy", str(POLICY)), "tool call name is required"),
        (_payload(READ), ("--policy", "/nonexistent/policy.yaml"), "no decision"),
        (_payload(READ), (), "no decision source"),
        (_payload(READ), ("--url", "ftp://x"), "bad --url"),
        (_payload(READ), ("--bogus-flag",), "unknown hook flags"),
    ],
)
def test_hook_denies_every_failure(stdin: bytes, flags: tuple[str, ...], why: str) -> None:
    """Bad payloads, bad policy, no source, bad flags: a deny naming the reason."""
    out = hook(stdin, *flags)
    assert out["permissionDecision"] == "deny"
    assert why in out["permissionDecisionReason"]


@pytest.mark.parametrize("mode", ["garbage", "html", "maybe", "executed", "error500", "bad400"])
def test_hook_denies_a_garbled_or_failing_server(misbehaving: Misbehaving, mode: str) -> None:
    """A reply that is not a well-formed decision is a deny."""
    out = hook(_payload(READ), "--url", f"{misbehaving.url}/{mode}")
    assert out["permissionDecision"] == "deny"
    assert misbehaving.hits[mode] == 1


def test_hook_denies_a_slow_server_within_its_timeout(misbehaving: Misbehaving) -> None:
    """A reply held beyond ``--timeout``: deny (the socket timeout or, on a loaded
    machine, the watchdog 0.25 s later answers first)."""
    started = time.monotonic()
    out = hook(_payload(READ), "--url", f"{misbehaving.url}/slow", "--timeout", "0.5")
    assert out["permissionDecision"] == "deny"
    assert re.search(
        r"(did not answer|no answer) within 0\.(5|75)s", out["permissionDecisionReason"]
    )
    assert misbehaving.hits["slow"] == 1
    assert time.monotonic() - started < 60


def test_the_watchdog_answers_deny_when_stdin_never_ends() -> None:
    """Stdin held open (the agent never closes it): the watchdog answers deny and exits."""
    proc = subprocess.Popen(
        [str(GAIT), "hook", "claude-code", "--policy", str(POLICY), "--timeout", "0.5"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env_without_url(),
    )
    assert proc.stdout is not None
    try:
        out = proc.stdout.readline()
        assert proc.wait(timeout=60) == 0
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        if proc.stdout is not None:
            proc.stdout.close()
    answer = json.loads(out)["hookSpecificOutput"]
    assert answer["permissionDecision"] == "deny"
    assert "no answer within 0.75s" in answer["permissionDecisionReason"]


def test_hook_json_mode_wraps_the_answer() -> None:
    """``--json``: the CLI envelope with the permission and the hook answer."""
    proc = subprocess.run(
        [str(GAIT), "hook", "claude-code", "--policy", str(POLICY), "--json"],
        input=_payload(READ),
        capture_output=True,
        timeout=60,
        env=env_without_url(),
    )
    doc = json.loads(proc.stdout)
    assert (proc.returncode, doc["ok"], doc["permission"]) == (0, True, "allow")
    assert doc["hookSpecificOutput"]["permissionDecision"] == "allow"


@pytest.mark.parametrize(
    ("payload", "permission"), [(READ, "allow"), (EDIT, "deny"), (BASH, "ask")]
)
def test_http_hook_route(gait_serve: GaitServe, payload: dict[str, Any], permission: str) -> None:
    """``POST /v1/hooks/claude-code`` on a real server answers in the hook's format."""
    reply = httpx.post(gait_serve.url + "/v1/hooks/claude-code", json=payload, timeout=10)
    assert reply.status_code == 200
    assert reply.json()["hookSpecificOutput"]["permissionDecision"] == permission


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"tool_input": {}}'])
def test_http_hook_route_denies_bad_payloads_with_200(gait_serve: GaitServe, body: bytes) -> None:
    """Always 200 (other statuses make an agent run the tool), and a deny."""
    reply = httpx.post(gait_serve.url + "/v1/hooks/claude-code", content=body, timeout=10)
    assert reply.status_code == 200
    assert reply.json()["hookSpecificOutput"]["permissionDecision"] == "deny"
    wrong = httpx.get(gait_serve.url + "/v1/hooks/claude-code", timeout=10)
    assert wrong.status_code == 200
    assert wrong.json()["hookSpecificOutput"]["permissionDecision"] == "deny"


def _one_reply_server(reply: bytes) -> tuple[str, threading.Thread]:
    """A raw TCP server on loopback that answers one connection with ``reply`` bytes, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(30)
                conn.recv(65536)  # the request (its bytes are not checked here)
                with contextlib.suppress(OSError):  # the hook may hang up first (oversized)
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", thread


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"ok":true', "closed before"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n" + b" " * 1_100_000, "1 MiB"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "answered garbage"),
        (b"", "closed before"),
    ],
    ids=["truncated", "oversized", "bad-status-line", "empty"],
)
def test_hook_denies_a_broken_http_reply(reply: bytes, why: str) -> None:
    """A reply cut short, too large, or not HTTP at all: deny naming it, never allow."""
    url, thread = _one_reply_server(reply)
    out = hook(_payload(READ), "--url", url, "--timeout", "10")
    thread.join(timeout=30)
    assert out["permissionDecision"] == "deny"
    assert why in out["permissionDecisionReason"]
