"""Faults with real nats-server processes: group commit, a node killed (R3), the cluster down."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest

from gait_runtime.clock import FakeClock
from gait_runtime.cluster import JetStreamJournal, LeaseTable, NatsLink, NatsSettings
from gait_runtime.cluster.local import LocalNats
from gait_runtime.errors import JournalUnavailableError
from gait_runtime.supervisor import EventFields, SessionConfig, SessionManager
from gait_runtime.supervisor.journal.records import normalize_fields
from gait_runtime.supervisor.journal.store import StoreOptions

FIELDS = normalize_fields(EventFields("tool.write", "allow"))


def _sequences(link: NatsLink, sid: str) -> list[int]:
    subject = link.settings.subject(sid)
    data = b"".join(m.data for m in link.run(lambda: link.read_subject(subject)))
    return [json.loads(x)["event"]["sequence"] for x in data.splitlines() if b'"event"' in x[:30]]


@pytest.mark.anyio
async def test_session_manager_group_commits_into_the_stream(
    link: NatsLink, sid: str, tmp_path: Path
) -> None:
    """64 concurrent appends through the actor: acked sequences 1..64, fewer batches than appends."""
    leases = LeaseTable(link, "me", "http://me:1", ttl_s=30.0, now_ns=time.time_ns)

    def factory(path: Path, options: StoreOptions) -> JetStreamJournal:
        return JetStreamJournal(path, options, link, leases)

    config = SessionConfig(session_dir=tmp_path, journal_factory=factory, idle_timeout_s=0)
    acked: list[int] = []
    before = link.batches
    async with SessionManager(config) as manager:

        async def one() -> None:
            ack = await manager.append(sid, "run_1", EventFields("tool.a", "allow"))
            acked.append(ack.sequence)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for _ in range(64):
                    tg.start_soon(one)
        status = await manager.status(sid)
    assert sorted(acked) == list(range(1, 65))
    assert status["last_sequence"] == 64
    assert _sequences(link, sid) == list(range(1, 65))
    assert link.batches - before < 64
    assert not leases.holds(sid)  # the actor gave its lease back on close


def test_appends_continue_when_one_of_three_nodes_dies(nats3: LocalNats, sid: str) -> None:
    """R3: after a node is SIGKILLed, appends go on; every acked sequence is stored, gap-free."""
    link = NatsLink(NatsSettings.from_url(nats3.url, replicas=3, timeout_s=2.0))
    link.start()
    try:
        j = JetStreamJournal(Path("j"), StoreOptions(clock=FakeClock(step_ns=1)), link)
        j.open(sid, "run_1")
        acked = [r.sequence for r in j.commit(j.prepare([(FIELDS, 1)] * 5))]
        state = link.run(link.stream_state)
        assert state["replicas"] == 3
        leader = str(state["cluster"]["leader"])
        nats3.kill(int(leader[1:]) - 1)  # the stream leader: the hardest case
        unavailable = 0
        deadline = time.monotonic() + 30
        while len(acked) < 15 and time.monotonic() < deadline:
            try:
                acked += [r.sequence for r in j.commit(j.prepare([(FIELDS, 2)]))]
            except JournalUnavailableError:
                unavailable += 1  # the election after the leader's death
        assert acked == list(range(1, 16))
        assert _sequences(link, sid) == acked
        after = link.run(link.stream_state)
        assert after["cluster"]["leader"] != leader
    finally:
        link.close()


def test_whole_cluster_down_fails_closed_and_stores_nothing_unacked(
    nats_fresh: LocalNats, sid: str
) -> None:
    """With the server gone an append fails within the bound; after restart only acked records exist."""
    link = NatsLink(NatsSettings.from_url(nats_fresh.url, timeout_s=1.0))
    link.start()
    try:
        j = JetStreamJournal(Path("j"), StoreOptions(clock=FakeClock(step_ns=1)), link)
        j.open(sid, "run_1")
        acked = [r.sequence for r in j.commit(j.prepare([(FIELDS, 1)] * 3))]
        nats_fresh.kill(0)
        started = time.monotonic()
        with pytest.raises(JournalUnavailableError) as err:
            j.commit(j.prepare([(FIELDS, 2)] * 2))
        assert time.monotonic() - started < 5
        assert err.value.error_code == "journal_unavailable"
        nats_fresh.restart(0)
        deadline = time.monotonic() + 20
        while not link.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sequences(link, sid) == acked
        # the session goes on after the outage, from the stored state
        assert [r.sequence for r in j.commit(j.prepare([(FIELDS, 3)]))] == [4]
    finally:
        link.close()
