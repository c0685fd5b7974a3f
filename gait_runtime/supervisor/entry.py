"""The library entry point of ``gait serve``: run one decision server until it has drained.

Owns: :func:`serve` — choosing the event loop (uvloop on the asyncio backend
when installed), running the :class:`~.runtime.Supervisor` with
``anyio.run``, reporting readiness through a callback, unwrapping exception
groups to the one error that matters and mapping it onto the error tree
(:class:`~gait_runtime.errors.GaitError` as is, ``OSError`` → ``IOFailure``,
anything else → ``InternalError`` chained to its cause), always with
``executed: false`` in the details. Does not own: flags, logging or tracing
set-up, or any output (``cli/serve.py``).
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from ..errors import GaitError, InternalError, IOFailure
from ..telemetry.otel import TracingHandle
from .runtime import Supervisor
from .service.config import ServiceConfig
from .transport.mcp_gateway.host import Mount

__all__ = ["ServeReady", "serve"]


@dataclass(frozen=True, slots=True)
class ServeReady:
    """What a started server reports once it accepts requests.

    Attributes:
        listen: the bound address (``host:port`` or ``unix:/path``).
        loop: the event loop actually used (``uvloop``, ``asyncio`` or ``trio``).
        policy_digest: digest of the policy loaded at start-up.
        http_server: the HTTP server serving it (``uvicorn`` or ``hypercorn``; empty
            when no HTTP is served).
    """

    listen: str
    loop: str
    policy_digest: str
    http_server: str = ""


def loop_choice(backend: str, *, use_uvloop: bool = True) -> tuple[str, dict[str, Any]]:
    """uvloop for the asyncio backend when it is installed (faster), unless refused."""
    if backend != "asyncio":
        return backend, {}
    if use_uvloop:
        try:
            import uvloop  # noqa: F401  # only probing that it is installed
        except ImportError:
            pass
        else:
            return "uvloop", {"use_uvloop": True}
    return "asyncio", {}


def leaf_error(exc: BaseException) -> BaseException:
    """The single meaningful exception inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def serve(
    config: ServiceConfig,
    *,
    tracing: TracingHandle | None = None,
    handle_signals: bool = True,
    use_uvloop: bool = True,
    on_ready: Callable[[ServeReady], None] | None = None,
    mcp: Mount | None = None,
    stdio: Callable[[], Awaitable[None]] | None = None,
) -> str:
    """Run the decision server until SIGTERM/SIGINT (or a fatal error) and it has drained.

    Args:
        config: the validated server configuration.
        tracing: span export handle (tracing off when None); the caller shuts it down.
        handle_signals: install the SIGTERM/SIGINT/SIGHUP handlers.
        use_uvloop: allow uvloop on the asyncio backend.
        on_ready: called once, on the event loop, when the server listens.
        mcp: the MCP gateway's hook (``Supervisor(mcp=...)``), or None.
        stdio: serve this instead of HTTP once ready (the gateway on stdin/stdout);
            when it returns (stdin closed) the server drains and stops.

    Returns:
        The address the server listened on.

    Raises:
        GaitError: start-up or runtime failure (``details["executed"]`` is False);
            ``IOFailure`` when the listen socket fails, ``InternalError`` for
            anything unexpected (chained to it).
        KeyboardInterrupt: interrupted outside the signal handlers.
    """
    supervisor = Supervisor(
        config,
        handle_signals=handle_signals,
        tracing=tracing,
        mcp=mcp,
        serve_http=stdio is None,
    )
    loop, options = loop_choice(config.backend, use_uvloop=use_uvloop)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            bound = await tg.start(supervisor.run)
            # Everything built at start-up (modules, the compiled policy, keys) lives as
            # long as the process: move it out of the collector's generations so a full
            # collection walks only what decisions allocate.
            gc.collect()
            gc.freeze()
            if on_ready is not None:
                digest = supervisor.policy.current.digest if supervisor.policy else ""
                http_server = supervisor.health()["http_server"]
                on_ready(ServeReady(bound.display(), loop, digest, http_server))
            if stdio is not None:
                await stdio()
                supervisor.request_shutdown()

    try:
        anyio.run(main, backend=config.backend, backend_options=options)
    except BaseException as exc:
        leaf = leaf_error(exc)
        if isinstance(leaf, KeyboardInterrupt):
            raise leaf from None
        if isinstance(leaf, GaitError):
            leaf.details.setdefault("executed", False)
            raise leaf from None
        if isinstance(leaf, OSError):
            raise IOFailure(
                f"listen {config.listen.display()}: {leaf.strerror or leaf}",
                details={"executed": False},
            ) from None
        if isinstance(leaf, Exception):
            raise InternalError(
                f"serve failed: {type(leaf).__name__}: {leaf}", details={"executed": False}
            ) from leaf
        raise
    return supervisor.bound.display() if supervisor.bound else config.listen.display()
