"""Simulated agents: anyio tasks posting tool calls to ``/v1/evaluate`` over real loopback HTTP.

Owns: the call mix (one tool per call kind, so the expected verdict of every
call is known), building request bodies (unique arguments per call, so every
decision has its own intent digest and trace id), the :class:`Target` that
follows the supervisor across restarts (new port, new client; agents wait for
it while it is down), one agent's loop (closed loop with optional think time,
or paced to a share of the stage's arrival rate), classifying each response
(see :data:`~.stats.OUTCOMES`), and recording acknowledgements
(``session_journal=<path> sequence=<n>`` from the response warnings) to
``acks.jsonl``. Does not own: the stage schedule, restarts or verification.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final

import anyio
import httpx
import msgspec

from .stats import OUTCOMES, Samples

__all__ = [
    "CALL_KINDS",
    "EXPECTED_VERDICT",
    "Agent",
    "Recorder",
    "Target",
    "build_call",
    "run_agent",
    "session_for",
]

CALL_KINDS: Final = ("allow", "block", "approval", "large")

_TOOLS: Final = {
    "allow": "soak.read",
    "block": "soak.delete",
    "approval": "soak.write",
    "large": "soak.upload",
}

EXPECTED_VERDICT: Final = {
    "allow": "allow",
    "block": "block",
    "approval": "require_approval",
    "large": "allow",
}
"""What the embedded soak policy answers for each call kind."""

_JOURNAL_WARNING: Final = re.compile(r"^session_journal=(?P<path>.+) sequence=(?P<seq>\d+)$")
_DECISION_STATUSES: Final = frozenset({200, 403, 409})
_CONTENTION_STATUSES: Final = frozenset({429, 503})
_ENCODER: Final = msgspec.json.Encoder()
_WAIT_FOR_SERVER_S: Final = 120.0
"""Longest an agent waits for a restarting supervisor before counting an error."""
CLIENT_KEEPALIVE_S: Final = 2.0
"""Idle pooled connections are dropped after this, well before the server closes
idle keep-alive connections (``--header-timeout``, 5 s in every posture): a
client that reuses a connection at the instant the server closes it gets no
answer, and a POST is not retried."""


def session_for(agent: int, agents: int, sessions: int, mapping: str) -> str:
    """Session id of agent ``agent`` (``round_robin``: i mod n; ``block``: contiguous groups)."""
    index = agent * sessions // max(agents, 1) if mapping == "block" else agent % sessions
    return f"soak-s{index:04d}"


def build_call(
    kind: str, agent: int, counter: int, session_id: str, large_bytes: int, stage: int = 0
) -> dict[str, Any]:
    """The request body of one call (``mcp`` adapter) with full context (``oss-prod`` safe)."""
    args: dict[str, Any] = {"agent": agent, "stage": stage, "n": counter}
    if kind == "large":
        args["blob"] = "x" * large_bytes
    return {
        "session_id": session_id,
        "run_id": session_id,
        "call": {
            "name": _TOOLS[kind],
            "args": args,
            "context": {
                "identity": f"soak-agent-{agent}",
                "workspace": "/soak",
                "risk_class": "low",
                "session_id": session_id,
            },
        },
    }


@dataclass(slots=True)
class Target:
    """The supervisor the agents talk to; replaced on every restart.

    Attributes:
        client: HTTP client bound to the current incarnation (``None`` while down).
        incarnation: counts supervisor starts (1 = first).
        up: set while the supervisor accepts requests.
        headers: request headers (bearer token when the posture needs one).
        retired: clients of previous incarnations, closed at the end.
    """

    client: httpx.AsyncClient | None = None
    incarnation: int = 0
    up: anyio.Event = field(default_factory=anyio.Event)
    headers: dict[str, str] = field(default_factory=dict)
    retired: list[httpx.AsyncClient] = field(default_factory=list)

    def go_up(self, base_url: str, max_connections: int) -> None:
        """Point at a freshly started supervisor."""
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=CLIENT_KEEPALIVE_S,
        )
        self.client = httpx.AsyncClient(
            base_url=base_url,
            limits=limits,
            timeout=httpx.Timeout(30.0, pool=_WAIT_FOR_SERVER_S),
            headers={"content-type": "application/json", **self.headers},
        )
        self.incarnation += 1
        self.up.set()

    def go_down(self) -> None:
        """Mark the supervisor as stopping: new requests wait until :meth:`go_up`."""
        self.up = anyio.Event()
        if self.client is not None:
            self.retired.append(self.client)
        self.client = None

    async def aclose(self) -> None:
        """Close every client ever created."""
        clients = [*self.retired, *([self.client] if self.client is not None else [])]
        for client in clients:
            with anyio.move_on_after(5, shield=True):
                await client.aclose()


@dataclass(slots=True)
class Recorder:
    """Shared sink of every agent: samples, acknowledgements, a live window.

    Attributes:
        t0: ``time.perf_counter()`` at the start of the run.
        samples: every request.
        acks: ``acks.jsonl`` open for writing.
        acknowledged: acknowledged decisions so far.
        window: latencies of decisions since the last progress tick.
        window_errors: errors since the last progress tick.
        window_requests: requests since the last progress tick.
        errors: error count per outcome name.
        verdicts: decisions per verdict.
        examples: first message of each error outcome.
    """

    t0: float
    samples: Samples
    acks: IO[bytes]
    acknowledged: int = 0
    window: list[float] = field(default_factory=list)
    window_errors: int = 0
    window_requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def example(self, outcome: int, message: str) -> None:
        """Keep the first message seen for an error outcome (shown in the report)."""
        self.examples.setdefault(OUTCOMES[outcome], message)

    def ack(
        self, journal: str, sequence: int, trace_id: str, trace_path: str, session: str
    ) -> None:
        """Append one acknowledgement line to ``acks.jsonl``."""
        line = {
            "journal": journal,
            "sequence": sequence,
            "trace_id": trace_id,
            "trace_path": trace_path,
            "session_id": session,
        }
        self.acks.write(_ENCODER.encode(line) + b"\n")
        self.acknowledged += 1


@dataclass(slots=True)
class Agent:
    """One simulated agent.

    Attributes:
        index: agent number (stable across stages).
        session_id: the session it writes to.
        stage: index of its stage.
        interval_s: pacing interval (0 = closed loop).
        think_time_s: pause after each call in closed-loop mode.
    """

    index: int
    session_id: str
    stage: int
    interval_s: float = 0.0
    think_time_s: float = 0.0


def _parse_ack(body: Mapping[str, Any]) -> tuple[str, int] | None:
    for warning in body.get("warnings") or ():
        match = _JOURNAL_WARNING.match(str(warning))
        if match is not None:
            return match.group("path"), int(match.group("seq"))
    return None


async def _one_call(
    target: Target, agent: Agent, body: bytes, kind: str, recorder: Recorder
) -> None:
    with anyio.move_on_after(_WAIT_FOR_SERVER_S):
        while target.client is None:
            await target.up.wait()
    client, incarnation = target.client, target.incarnation
    started = time.perf_counter()
    rel = started - recorder.t0
    if client is None:
        recorder.example(3, f"supervisor not back within {_WAIT_FOR_SERVER_S:g}s")
        _record(recorder, rel, 0.0, 3, -1, agent.stage, 0)
        return
    try:
        response = await client.post("/v1/evaluate", content=body)
        latency = time.perf_counter() - started
    except httpx.HTTPError as exc:
        latency = time.perf_counter() - started
        restarted = target.incarnation != incarnation or not target.up.is_set()
        if not restarted:
            recorder.example(3, f"{type(exc).__name__}: {exc}")
        _record(recorder, rel, latency, 5 if restarted else 3, -1, agent.stage, 0)
        return
    status = response.status_code
    if status == 503 and (target.incarnation != incarnation or not target.up.is_set()):
        # "server is draining": a restart the harness itself started, not contention.
        _record(recorder, rel, latency, 5, -1, agent.stage, status)
        return
    if status in _CONTENTION_STATUSES:
        recorder.example(1, f"HTTP {status}: {response.text[:200]}")
        _record(recorder, rel, latency, 1, -1, agent.stage, status)
        return
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if status not in _DECISION_STATUSES or payload.get("ok") is not True:
        recorder.example(2, f"HTTP {status}: {response.text[:200]}")
        _record(recorder, rel, latency, 2, -1, agent.stage, status)
        return
    verdict = str(payload.get("verdict", ""))
    recorder.verdicts[verdict] = recorder.verdicts.get(verdict, 0) + 1
    ack = _parse_ack(payload)
    sequence = -1
    if ack is not None:
        sequence = ack[1]
        recorder.ack(
            ack[0],
            ack[1],
            str(payload.get("trace_id", "")),
            str(payload.get("trace_path", "")),
            agent.session_id,
        )
    outcome = 0 if verdict == EXPECTED_VERDICT[kind] and ack is not None else 4
    if outcome == 4:
        recorder.example(
            4,
            f"{kind} call answered {verdict!r} (want {EXPECTED_VERDICT[kind]!r})"
            if ack is not None
            else f"{kind} call answered without a session_journal warning",
        )
    _record(recorder, rel, latency, outcome, sequence, agent.stage, status)


def _record(
    recorder: Recorder, rel: float, latency: float, outcome: int, seq: int, stage: int, status: int
) -> None:
    recorder.samples.add(rel, latency, outcome, seq, stage, status)
    recorder.window_requests += 1
    if outcome == 0:
        recorder.window.append(latency)
    elif outcome != 5:
        recorder.window_errors += 1
        name = OUTCOMES[outcome]
        recorder.errors[name] = recorder.errors.get(name, 0) + 1


async def run_agent(
    agent: Agent,
    target: Target,
    recorder: Recorder,
    *,
    deadline: float,
    mix: Mapping[str, float],
    large_bytes: int,
    seed: int,
) -> None:
    """Send calls until ``deadline`` (``time.perf_counter()`` value); never cancels a call mid-flight.

    Args:
        agent: who is calling.
        target: the supervisor.
        recorder: where results go.
        deadline: no call starts after this instant.
        mix: call kind → weight.
        large_bytes: argument size of ``large`` calls.
        seed: seed of this agent's call-kind choices.
    """
    rng = random.Random(seed * 1_000_003 + agent.index * 7919 + agent.stage)
    kinds = [k for k in CALL_KINDS if mix.get(k, 0) > 0]
    weights = [mix[k] for k in kinds]
    counter = 0
    next_at = time.perf_counter() + (rng.random() * agent.interval_s)
    while True:
        now = time.perf_counter()
        if agent.interval_s > 0:
            if next_at >= deadline or now >= deadline:
                return
            if next_at > now:
                await anyio.sleep(next_at - now)
            elif now - next_at > agent.interval_s:
                # Fell behind (supervisor down or slow): no catch-up burst, and a fresh
                # random phase, so agents released together by a restart do not stay
                # in lockstep (which would turn a steady rate into periodic bursts).
                next_at = now + rng.random() * agent.interval_s
            next_at += agent.interval_s
        elif now >= deadline:
            return
        counter += 1
        kind = rng.choices(kinds, weights)[0]
        body = _ENCODER.encode(
            build_call(kind, agent.index, counter, agent.session_id, large_bytes, agent.stage)
        )
        await _one_call(target, agent, body, kind, recorder)
        if agent.interval_s <= 0 and agent.think_time_s > 0:
            await anyio.sleep(agent.think_time_s)
