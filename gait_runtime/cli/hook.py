"""``gait hook claude-code``: answer a coding agent's PreToolUse hook, fail-closed.

Reads the hook payload on stdin, asks a running decision server (``--url`` or
``GAIT_URL``; the ``claude_code`` adapter decodes it there) or evaluates in-process
(``--policy``, same adapter, same gate), and prints the hook's decision JSON on stdout:
``allow`` for allow, ``ask`` for require_approval, ``deny`` for block and dry_run.

Fail-closed by construction: every failure (no server, a refused or slow connection,
a garbled reply, an undecodable payload, a bad policy, any exception) answers
``deny``; a watchdog thread answers ``deny`` and ends the process if no answer is
ready ``--timeout`` seconds after start, so the agent's own hook timeout (which lets
the tool run) is never reached. The exit code is always 0 (the answer is the JSON).

Imports are lazy: the remote path uses only the standard library (``http.client``) so
the whole process answers in well under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

from ..hooks import decision_answer, failure_answer, hook_request_body, read_reply

if TYPE_CHECKING:
    from ._frame import Handler, Parser, Result

__all__ = ["answer", "build_claude_code", "fast_main", "respond"]

_MAX_PAYLOAD: Final = 1 << 20
_DEFAULT_TIMEOUT_S: Final = 5.0


class _Watchdog:
    """Writes one deny and exits the process if the answer is not ready in time."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._seconds = seconds

    def start(self) -> None:
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            answer = failure_answer(f"no answer within {self._seconds:g}s")
            os.write(1, (json.dumps(answer) + "\n").encode())
            os._exit(0)

    def finish(self) -> bool:
        """Claim the answer; False when the watchdog already answered."""
        with self._lock:
            if self._done:
                return False
            self._done = True
            self._timer.cancel()
            return True


def _remote(url: str, payload: object, token: str, timeout: float) -> dict[str, Any]:
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return failure_answer(f"bad --url {url!r} (expected http://host:port)")
    conn_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_type(parts.hostname, parts.port, timeout=timeout)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps(hook_request_body(payload)).encode()
    try:
        conn.request("POST", parts.path.rstrip("/") + "/v1/evaluate", body, headers)
        response = conn.getresponse()
        raw = response.read(_MAX_PAYLOAD)
        return read_reply(response.status, raw)
    except TimeoutError:
        return failure_answer(f"{url} did not answer within {timeout:g}s")
    except OSError as exc:
        return failure_answer(f"{url} unreachable: {exc.strerror or exc}")
    except http.client.HTTPException as exc:
        return failure_answer(f"{url} answered garbage: {type(exc).__name__}")
    finally:
        conn.close()


def _local(policy_path: str, payload: dict[str, Any], profile: str) -> dict[str, Any]:
    from ..gate import evaluate, load_policy, normalize_intent
    from ..plugin import decode_call

    decoded = decode_call("claude_code", payload, profile=profile)
    intent = normalize_intent(decoded.intent, strip_context_claims=True)
    result = evaluate(load_policy(policy_path), intent)
    return decision_answer(result.verdict, sorted(result.reason_codes), intent.intent_digest)


def answer(ns: argparse.Namespace, raw: bytes) -> dict[str, Any]:
    """The hook answer for one payload (never raises)."""
    try:
        try:
            payload = json.loads(raw)
        except ValueError:
            return failure_answer("hook payload on stdin is not JSON")
        if not isinstance(payload, dict) or not payload:
            return failure_answer("hook payload is not a JSON object")
        if ns.policy:
            return _local(ns.policy, payload, ns.profile)
        url = ns.url or os.environ.get("GAIT_URL", "").strip()
        if not url:
            return failure_answer("no decision source: pass --url, set GAIT_URL or --policy")
        token = os.environ.get(ns.token_env, "").strip() if ns.token_env else ""
        return _remote(url, payload, token, ns.timeout)
    except Exception as exc:  # fail closed: whatever went wrong, the tool does not run
        return failure_answer(f"{type(exc).__name__}: {exc}")


def _add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="", help="decision server base URL (default: $GAIT_URL)")
    parser.add_argument("--policy", default="", help="evaluate in-process with this policy")
    parser.add_argument("--profile", default="standard", help="standard|oss-prod (--policy)")
    parser.add_argument("--token-env", default="", help="env var holding the server's bearer token")
    parser.add_argument(
        "--timeout",
        type=float,
        default=_DEFAULT_TIMEOUT_S,
        help="answer deny if no decision within this many seconds (keep below the hook timeout)",
    )


def respond(ns: argparse.Namespace) -> dict[str, Any]:
    """Read stdin and answer, under the watchdog (never raises, always one answer)."""
    timeout = ns.timeout if ns.timeout > 0 else _DEFAULT_TIMEOUT_S
    ns.timeout = timeout
    watchdog = _Watchdog(timeout + 0.25)
    watchdog.start()
    try:
        raw = sys.stdin.buffer.read(_MAX_PAYLOAD + 1)
        if len(raw) > _MAX_PAYLOAD:
            out = failure_answer("hook payload larger than 1 MiB")
        else:
            out = answer(ns, raw)
    except Exception as exc:  # stdin unreadable: still an answer
        out = failure_answer(f"{type(exc).__name__}: {exc}")
    if not watchdog.finish():
        threading.Event().wait()  # the watchdog is writing its deny and ending the process
    return out


def fast_main(argv: list[str]) -> int | None:
    """The hot path (``gait hook claude-code`` as the agent runs it), without the CLI frame.

    Returns ``None`` for ``--help``, ``--json`` and ``--explain`` (the regular command
    handles those). A flag it cannot parse is answered with a deny, exit 0.
    """
    if any(a in ("-h", "--help", "--json", "--explain") for a in argv):
        return None
    parser = argparse.ArgumentParser(
        prog="gait hook claude-code", add_help=False, exit_on_error=False
    )
    _add_flags(parser)
    try:
        ns, unknown = parser.parse_known_args(argv)
    except (argparse.ArgumentError, SystemExit) as exc:
        out = failure_answer(f"bad hook flags: {exc}")
    else:
        out = respond(ns) if not unknown else failure_answer(f"unknown hook flags: {unknown}")
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


def build_claude_code(parser: Parser) -> Handler:
    """``gait hook claude-code [--url URL | --policy P] [--timeout S]``."""
    from ._frame import add_common

    add_common(parser, "answers a PreToolUse hook payload on stdin with allow, ask or deny")
    _add_flags(parser)

    def handle(ns: argparse.Namespace) -> Result:
        out = respond(ns)
        permission = out["hookSpecificOutput"]["permissionDecision"]
        from ._frame import Result

        return Result({"ok": True, "permission": permission, **out}, [json.dumps(out)])

    return handle
