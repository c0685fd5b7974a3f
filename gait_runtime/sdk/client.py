"""HTTP clients of a running decision server: :class:`GaitClient` and :class:`AsyncGaitClient`.

Owns: the timeout budget (one deadline for the whole call, retries included), the
bounded retries with full jitter on HTTP 503 and 429 only (``Retry-After`` honoured,
never slept past the budget), and the mapping of every transport failure onto a typed
error. Fail-closed: the only way out of :meth:`GaitClient.evaluate` with a value is a
well-formed decision; :meth:`GaitClient.check` returns only on ``allow``.

Both clients take the same arguments; the async one runs on either anyio backend.
Time and randomness are injected (``clock``, ``sleep``, ``rng``) so tests never wait.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import anyio
import httpx

from .decision import Decision, not_allowed, parse_reply, request_body
from .errors import GateBadReply, GateRequestRejected, GateTimeout, GateUnavailable

__all__ = ["DEFAULT_URL", "AsyncGaitClient", "GaitClient", "RetryPolicy", "default_url"]

DEFAULT_URL: Final = "http://127.0.0.1:8787"
_RETRY_STATUSES: Final = frozenset({429, 503})


def default_url() -> str:
    """``GAIT_URL`` when set, else the server's default listen address."""
    return os.environ.get("GAIT_URL", "").strip() or DEFAULT_URL


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a call spends its budget.

    Attributes:
        budget_s: the whole call's deadline, retries and waits included.
        attempts: at most this many requests (1 = no retry).
        backoff_s: base of the exponential backoff (full jitter) without ``Retry-After``.
        max_backoff_s: cap of one wait.
    """

    budget_s: float = 5.0
    attempts: int = 3
    backoff_s: float = 0.1
    max_backoff_s: float = 2.0

    def wait_s(self, attempt: int, retry_after: str | None, rng: random.Random) -> float:
        """The wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after.strip()))
            except ValueError:
                pass
        ceiling = min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)


class _Core:
    """What both clients share: body, URL, headers, reply reading, retry decisions."""

    def __init__(
        self,
        url: str | None,
        token: str | None,
        retry: RetryPolicy,
        clock: Callable[[], float],
        rng: random.Random | None,
    ) -> None:
        self.url = (url or default_url()).rstrip("/")
        self.endpoint = self.url + "/v1/evaluate"
        self.headers = {"content-type": "application/json"}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self.retry = retry
        self.clock = clock
        self.rng = rng or random.Random()

    def body(
        self,
        call: Mapping[str, Any],
        adapter: str,
        run_id: str,
        session_id: str,
        approval_tokens: Sequence[Mapping[str, Any]],
    ) -> dict[str, Any]:
        return request_body(
            call,
            adapter=adapter,
            run_id=run_id,
            session_id=session_id,
            approval_tokens=approval_tokens,
        )

    def remaining(self, deadline: float) -> float:
        left = deadline - self.clock()
        if left <= 0:
            raise GateTimeout(f"no decision from {self.url} within {self.retry.budget_s:g}s")
        return left

    def read(self, response: httpx.Response) -> Decision:
        status = response.status_code
        if status in (200, 403, 409):
            return parse_reply(response.content)
        if 400 <= status < 500:
            raise GateRequestRejected(
                f"gate refused the request: HTTP {status} {_error_text(response)}", status=status
            )
        raise GateUnavailable(f"gate answered HTTP {status} {_error_text(response)}")

    def retry_wait(self, response: httpx.Response, attempt: int, deadline: float) -> float | None:
        """Seconds to wait before retrying, or ``None`` when this answer is final."""
        if response.status_code not in _RETRY_STATUSES:
            return None
        if attempt >= self.retry.attempts:
            raise GateUnavailable(
                f"gate still answers HTTP {response.status_code} after {attempt} attempts"
            )
        wait = self.retry.wait_s(attempt, response.headers.get("retry-after"), self.rng)
        if wait >= self.remaining(deadline):
            raise GateTimeout(
                f"gate asked to retry in {wait:g}s, beyond the {self.retry.budget_s:g}s budget"
            )
        return wait


def _error_text(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return str(doc["error"])
    return ""


def _transport_error(exc: httpx.HTTPError, url: str) -> Exception:
    if isinstance(exc, httpx.TimeoutException):
        return GateTimeout(f"no decision from {url}: {type(exc).__name__}")
    if isinstance(exc, httpx.DecodingError | httpx.RemoteProtocolError):
        return GateBadReply(f"gate reply is unreadable: {exc}")
    return GateUnavailable(f"gate at {url} unreachable: {exc or type(exc).__name__}")


class GaitClient:
    """A synchronous client of ``gait serve``.

    Args:
        url: base URL (default ``GAIT_URL``, else ``http://127.0.0.1:8787``).
        token: bearer token when the server runs ``--auth-mode token``.
        retry: the budget and retry policy.
        transport: an httpx transport (tests, unix sockets).
        clock: monotonic seconds (injected for tests).
        sleep: waits between retries (injected for tests).
        rng: jitter source.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._core = _Core(url, token, retry or RetryPolicy(), clock, rng)
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, headers=self._core.headers)

    def __enter__(self) -> GaitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def evaluate(
        self,
        call: Mapping[str, Any],
        *,
        adapter: str = "mcp",
        run_id: str = "",
        session_id: str = "",
        approval_tokens: Sequence[Mapping[str, Any]] = (),
    ) -> Decision:
        """Ask for a decision on ``call`` (any verdict is returned).

        Raises:
            GateUnavailable, GateTimeout, GateBadReply, GateRequestRejected.
        """
        core = self._core
        body = core.body(call, adapter, run_id, session_id, approval_tokens)
        deadline = core.clock() + core.retry.budget_s
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.post(
                    core.endpoint, json=body, timeout=core.remaining(deadline)
                )
            except httpx.HTTPError as exc:
                raise _transport_error(exc, core.url) from exc
            wait = core.retry_wait(response, attempt, deadline)
            if wait is None:
                return core.read(response)
            self._sleep(wait)

    def check(self, call: Mapping[str, Any], *, adapter: str = "mcp", **kw: Any) -> Decision:
        """Like :meth:`evaluate`, but returns only on ``allow``.

        Raises:
            ToolNotAllowed: ``block``, ``dry_run`` or ``require_approval`` (typed).
        """
        decision = self.evaluate(call, adapter=adapter, **kw)
        if not decision.allowed:
            raise not_allowed(decision, call, adapter)
        return decision


class AsyncGaitClient:
    """The asynchronous twin of :class:`GaitClient` (anyio: asyncio or trio)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._core = _Core(url, token, retry or RetryPolicy(), clock, rng)
        self._sleep = sleep
        self._http = httpx.AsyncClient(transport=transport, headers=self._core.headers)

    async def __aenter__(self) -> AsyncGaitClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def evaluate(
        self,
        call: Mapping[str, Any],
        *,
        adapter: str = "mcp",
        run_id: str = "",
        session_id: str = "",
        approval_tokens: Sequence[Mapping[str, Any]] = (),
    ) -> Decision:
        """Ask for a decision on ``call`` (see :meth:`GaitClient.evaluate`)."""
        core = self._core
        body = core.body(call, adapter, run_id, session_id, approval_tokens)
        deadline = core.clock() + core.retry.budget_s
        attempt = 0
        while True:
            attempt += 1
            try:
                with anyio.fail_after(core.remaining(deadline)):
                    response = await self._http.post(
                        core.endpoint, json=body, timeout=core.remaining(deadline)
                    )
            except TimeoutError as exc:
                raise GateTimeout(f"no decision from {core.url} within budget") from exc
            except httpx.HTTPError as exc:
                raise _transport_error(exc, core.url) from exc
            wait = core.retry_wait(response, attempt, deadline)
            if wait is None:
                return core.read(response)
            await self._sleep(wait)

    async def check(self, call: Mapping[str, Any], *, adapter: str = "mcp", **kw: Any) -> Decision:
        """Like :meth:`evaluate`, but returns only on ``allow`` (see :meth:`GaitClient.check`)."""
        decision = await self.evaluate(call, adapter=adapter, **kw)
        if not decision.allowed:
            raise not_allowed(decision, call, adapter)
        return decision
