"""The coding-agent hook's hot path: ``gait-hook`` and ``gait hook claude-code``.

Reads a PreToolUse hook payload on stdin, asks a running decision server (``--url``
or ``GAIT_URL``; the ``claude_code`` adapter decodes it there) or evaluates in-process
(``--policy``, same adapter, same gate), and prints the hook's decision JSON on stdout:
``allow`` for allow, ``ask`` for require_approval, ``deny`` for block and dry_run.

Fail-closed by construction: every failure (no server, a refused or slow connection,
a garbled reply, an undecodable payload, a bad policy, a bad flag, any exception)
answers ``deny``; a watchdog thread answers ``deny`` and ends the process if no answer
is ready ``--timeout`` + 0.25 seconds after start, so the agent's own hook timeout
(which lets the tool run) is never reached. The exit code is always 0 (the answer is
the JSON).

Start-up is the budget (whole process ≤ 100 ms), so this module imports only what
the answer needs, and only when it needs it: ``argparse``, ``json``, ``os``, ``sys``
and ``threading`` at start; ``socket`` and ``httptools`` (the llhttp parser, which
brings ``typing``) for ``--url``, ``ssl`` only for an ``https`` URL; the evaluator, the
intent normaliser and the one adapter for ``--policy``, with the YAML document and the
adapter's entry point from :mod:`.hookcache` (no ``yaml``, no ``importlib.metadata`` scan
once warm), digests through ``rfc8785`` (no msgspec), no signing. The ``--url`` path never
imports the CLI package, ``http.client`` (``email``), ``structlog``, ``rich``, ``yaml`` or
``cryptography``; ``tests/sdk/test_hook_imports.py`` pins both import sets. The process
ends with ``os._exit`` after the answer is flushed (:func:`exit_now`).
``--help`` and ``--json`` go to the regular ``gait hook claude-code`` command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading

from .hooks import HOOK_ADAPTER, decision_answer, failure_answer, hook_request_body, read_reply

TYPE_CHECKING = False  # typing costs start-up time; type checkers treat this name as True
if TYPE_CHECKING:
    from typing import Any, Final, NoReturn

__all__ = ["add_flags", "answer", "exit_now", "main", "respond", "run"]

_MAX_PAYLOAD: Final = 1 << 20
_DEFAULT_TIMEOUT_S: Final = 5.0
_SLOW_FLAGS: Final = ("-h", "--help", "--json", "--explain")


class _Formatter(argparse.HelpFormatter):
    """A fixed width: the default asks ``shutil`` for the terminal size (``shutil``
    imports the compression modules, several ms) although this parser never prints."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=100)


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


class _Reply:
    """Collects one HTTP response from the ``httptools`` (llhttp) parser's callbacks."""

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.size = 0
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.size += len(body)

    def on_message_complete(self) -> None:
        self.complete = True


class _BadReply(Exception):
    """The server's bytes are not one complete HTTP response within the limits."""


def _exchange(
    host: str, port: int, https: bool, request: bytes, timeout: float
) -> tuple[int, bytes]:
    """Send ``request`` and read one response: (status, body).

    The response is parsed by ``httptools`` (llhttp, C): unlike ``http.client`` it needs
    neither ``email`` nor the ``http`` status enum, about half of the hook's import time.
    ``ssl`` is imported only for an ``https`` URL. ``getaddrinfo`` gets an ASCII host as
    bytes (a ``str`` would load the ``idna`` codec).
    """
    import socket

    import httptools

    name: str | bytes = host.encode("ascii") if host.isascii() else host
    sock = socket.create_connection((name, port), timeout)  # type: ignore[arg-type]
    try:
        if https:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.sendall(request)
        reply = _Reply()
        parser = httptools.HttpResponseParser(reply)
        while not reply.complete:
            chunk = sock.recv(65536)
            if not chunk:
                raise _BadReply("connection closed before the reply ended")
            try:
                parser.feed_data(chunk)
            except httptools.HttpParserError as exc:
                raise _BadReply(type(exc).__name__) from None
            if reply.size > _MAX_PAYLOAD:
                raise _BadReply("reply larger than 1 MiB")
        return int(parser.get_status_code()), b"".join(reply.body)
    finally:
        sock.close()


def _remote(url: str, payload: object, token: str, timeout: float) -> dict[str, Any]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    if parts.scheme not in ("http", "https") or not parts.hostname or not port:
        return failure_answer(f"bad --url {url!r} (expected http://host:port)")
    path = parts.path.rstrip("/") + "/v1/evaluate"
    if any(c <= " " or c == "\x7f" for c in path + token):
        return failure_answer("--url path or token holds spaces or control characters")
    body = json.dumps(hook_request_body(payload)).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.netloc.rpartition('@')[2]}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body
    try:
        status, raw = _exchange(parts.hostname, port, parts.scheme == "https", request, timeout)
    except TimeoutError:
        return failure_answer(f"{url} did not answer within {timeout:g}s")
    except OSError as exc:
        return failure_answer(f"{url} unreachable: {exc.strerror or exc}")
    except _BadReply as exc:
        return failure_answer(f"{url} answered garbage: {exc}")
    return read_reply(status, raw)


def _local(policy_path: str, payload: dict[str, Any], profile: str) -> dict[str, Any]:
    from .artifacts.jcs import use_reference_encoder
    from .gate.evaluate import evaluate
    from .gate.intent import normalize_intent
    from .hookcache import cached_adapter, cached_policy
    from .plugin import decode_with

    use_reference_encoder()  # one small digest: rfc8785 alone beats importing msgspec
    decoded = decode_with(cached_adapter(HOOK_ADAPTER), payload, profile=profile)
    intent = normalize_intent(decoded.intent, strip_context_claims=True)
    result = evaluate(cached_policy(policy_path), intent)
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


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The hook's flags (shared with the regular ``gait hook claude-code`` command)."""
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


def _parser(*, with_help: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gait-hook" if with_help else "gait hook claude-code",
        description="Answer a PreToolUse hook payload on stdin with allow, ask or deny "
        "(fail-closed); the same as gait hook claude-code.",
        add_help=with_help,
        exit_on_error=False,
        formatter_class=_Formatter,
    )
    add_flags(parser)
    return parser


def _answer_argv(argv: list[str]) -> int:
    try:
        ns, unknown = _parser(with_help=False).parse_known_args(argv)
    except (argparse.ArgumentError, SystemExit) as exc:
        out = failure_answer(f"bad hook flags: {exc}")
    else:
        out = respond(ns) if not unknown else failure_answer(f"unknown hook flags: {unknown}")
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int | None:
    """Answer one hook payload with the flags ``argv``; the exit code (always 0).

    Returns ``None`` for ``--help``, ``--json`` and ``--explain`` (the regular
    ``gait hook claude-code`` command handles those). A flag it cannot parse is
    answered with a deny, exit 0.
    """
    if any(a in _SLOW_FLAGS for a in argv):
        return None
    return _answer_argv(argv)


def exit_now(code: int) -> NoReturn:
    """End the hook process with ``code`` once its answer is written: flush, then
    ``os._exit``. Nothing is pending by then (the caches are written and closed before
    the answer), and skipping the interpreter's finalisation, which tears down every
    imported module, saves ~15 ms CPU per call on ``--policy``."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run() -> None:
    """Console-script entry point ``gait-hook [flags]`` (the same as ``gait hook claude-code``).

    ``--help`` prints the flags; any other flag this path does not know (``--json``
    included: the CLI envelope is ``gait hook claude-code --json``) is answered with a deny.
    """
    argv = sys.argv[1:]
    if argv[:1] == ["claude-code"]:
        argv = argv[1:]
    if any(a in ("-h", "--help") for a in argv):
        _parser(with_help=True).print_help()
        sys.exit(0)
    exit_now(_answer_argv(argv))
