"""Real servers for SDK, hook and integration tests.

``GaitServe`` runs ``gait serve`` as a subprocess on 127.0.0.1 (ephemeral port, the
service vector policy, the vector key pair verifying approval tokens); ``Misbehaving``
runs a tiny ASGI app under hypercorn in a thread, answering garbage, errors, slow
replies and overload on purpose. ``closed_port`` gives a loopback port nobody listens on.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

ROOT = Path(__file__).resolve().parent.parent.parent
VECTORS = ROOT / "tests" / "vectors"
POLICY = VECTORS / "service" / "policy.yaml"
PRIVATE_KEY = VECTORS / "keys" / "gait_private.key"
PUBLIC_KEY = VECTORS / "keys" / "gait_public.key"
GAIT = Path(sys.executable).parent / "gait"

# Tool names of the service vector policy, one per verdict.
ALLOW, BLOCK, DRY_RUN, APPROVAL = "tool.read", "tool.delete", "tool.write", "tool.deploy"


class GaitServe:
    """``gait serve`` in a subprocess; ``url`` once started, ``stop()`` drains it."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.workdir = workdir
        argv = [
            str(GAIT),
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
            str(PRIVATE_KEY),
            "--approval-public-key",
            str(PUBLIC_KEY),
            "--trace-dir",
            str(workdir / "traces"),
            "--session-dir",
            str(workdir / "sessions"),
            *extra,
        ]
        self.proc = subprocess.Popen(
            argv,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise RuntimeError(f"gait serve did not start (exit {self.proc.returncode})")
        self.started = json.loads(line)
        self.url = "http://" + self.started["listen"]

    def stop(self) -> None:
        """SIGTERM, then wait (bounded)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def closed_port() -> int:
    """A loopback port that was just free (nobody listens on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Handler = Callable[[dict[str, Any]], Awaitable[tuple[int, dict[str, str], bytes]]]


class Misbehaving:
    """A real HTTP server (hypercorn, asyncio, own thread) with one behaviour per path prefix.

    ``/<mode>/v1/evaluate``: ``garbage`` (200, not JSON), ``html`` (200, HTML),
    ``error500`` (500 with a block body), ``slow`` (holds the reply until ``stop``),
    ``busy`` (503 + ``Retry-After: 0`` for the first ``busy_count`` calls, then a real
    allow-shaped reply), ``overload`` (429 forever), ``later`` (503 + ``Retry-After: 30``), ``maybe`` (ok with an unknown verdict),
    ``executed`` (claims ``executed: true``), ``notok`` (ok false), ``bad400`` (400).
    """

    def __init__(self, allow_reply: dict[str, Any], busy_count: int = 2) -> None:
        self.allow_reply = allow_reply
        self.busy_left = busy_count
        self.hits: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._release = asyncio.Event()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=15):
            raise RuntimeError("misbehaving server did not start")
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.set_inheritable(True)
        self.port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{sock.fileno()}"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 1
        self._ready.set()
        await serve(self._app, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]
        sock.detach()  # hypercorn owned and closed the descriptor

    async def _reply(self, mode: str) -> tuple[int, dict[str, str], bytes]:
        self.hits[mode] = self.hits.get(mode, 0) + 1
        ok_json = {"content-type": "application/json"}
        if mode == "garbage":
            return 200, ok_json, b"\x00\xffnot json at all"
        if mode == "html":
            return 200, {"content-type": "text/html"}, b"<html>proxy error</html>"
        if mode == "error500":
            body = {"ok": False, "error": "internal", "verdict": "block", "executed": False}
            return 500, ok_json, json.dumps(body).encode()
        if mode == "slow":
            await self._release.wait()
            return 200, ok_json, json.dumps(self.allow_reply).encode()
        if mode == "busy":
            if self.busy_left > 0:
                self.busy_left -= 1
                return 503, {**ok_json, "retry-after": "0"}, b'{"ok":false,"error":"busy"}'
            return 200, ok_json, json.dumps(self.allow_reply).encode()
        if mode == "later":
            return 503, {**ok_json, "retry-after": "30"}, b'{"ok":false,"error":"busy"}'
        if mode == "overload":
            return 429, {**ok_json, "retry-after": "0"}, b'{"ok":false,"error":"slow down"}'
        if mode == "maybe":
            return 200, ok_json, json.dumps({**self.allow_reply, "verdict": "maybe"}).encode()
        if mode == "executed":
            return 200, ok_json, json.dumps({**self.allow_reply, "executed": True}).encode()
        if mode == "notok":
            return 200, ok_json, json.dumps({**self.allow_reply, "ok": False}).encode()
        if mode == "bad400":
            return 400, ok_json, b'{"error":"request.call is required","ok":false}'
        return 404, ok_json, b'{"ok":false,"error":"unknown mode"}'

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        mode = scope["path"].strip("/").split("/", 1)[0]
        status, headers, body = await self._reply(mode)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def stop(self) -> None:
        """Release slow replies, shut the server down, join the thread (bounded)."""
        self._loop.call_soon_threadsafe(self._release.set)
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)
        self._loop.close()


def env_without_url() -> dict[str, str]:
    """The environment with ``GAIT_URL`` removed."""
    return {k: v for k, v in os.environ.items() if k != "GAIT_URL"}
