"""Session leases in a KV bucket: one owner, expiry, takeover, the race for one session."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gait_runtime.clock import FakeClock
from gait_runtime.cluster import JetStreamJournal, LeaseTable, NatsLink
from gait_runtime.errors import SessionOwnedElsewhere
from gait_runtime.supervisor.journal.records import EventFields, normalize_fields
from gait_runtime.supervisor.journal.store import StoreOptions

FIELDS = normalize_fields(EventFields("tool.write", "allow"))
SECOND = 1_000_000_000


def _table(link: NatsLink, owner: str, clock: FakeClock, ttl_s: float = 2.0) -> LeaseTable:
    return LeaseTable(link, owner, f"http://{owner}.test:1", ttl_s=ttl_s, now_ns=clock.now_ns)


def test_a_valid_lease_sends_others_to_the_owner(link: NatsLink, sid: str) -> None:
    """While A's lease runs, B's acquire fails naming A's address; A renews freely."""
    clock = FakeClock()
    a, b = _table(link, "a", clock), _table(link, "b", clock)
    assert link.run(lambda: a.acquire(sid)) is False
    with pytest.raises(SessionOwnedElsewhere) as err:
        link.run(lambda: b.acquire(sid))
    assert err.value.details == {"owner": "a", "address": "http://a.test:1"}
    owner = link.run(lambda: b.owner_elsewhere(sid))
    assert owner is not None and owner.owner == "a"
    assert link.run(lambda: a.owner_elsewhere(sid)) is None
    assert link.run(lambda: a.acquire(sid)) is False  # the owner renews


def test_an_expired_lease_is_taken_over_and_the_old_owner_learns_it(
    link: NatsLink, sid: str
) -> None:
    """After expiry B takes over (counted); A's next renewal marks the lease lost."""
    clock = FakeClock()
    a, b = _table(link, "a", clock), _table(link, "b", clock)
    link.run(lambda: a.acquire(sid))
    clock.advance(3 * SECOND)
    assert link.run(lambda: b.owner_elsewhere(sid)) is None
    assert link.run(lambda: b.acquire(sid)) is True
    assert b.takeovers == 1 and b.holds(sid)
    link.run(a.renew_all)
    assert not a.holds(sid)
    with pytest.raises(SessionOwnedElsewhere):
        link.run(lambda: a.acquire(sid))


def test_a_released_lease_is_free_at_once(link: NatsLink, sid: str) -> None:
    """A clean stop gives the lease back: B takes it without waiting for expiry."""
    clock = FakeClock()
    a, b = _table(link, "a", clock), _table(link, "b", clock)
    link.run(lambda: a.acquire(sid))
    link.run(lambda: a.release(sid))
    assert link.run(lambda: b.acquire(sid)) is False
    assert b.holds(sid) and not a.holds(sid)


@pytest.mark.parametrize("expired", [False, True])
def test_two_supervisors_racing_for_one_session_exactly_one_wins(
    link: NatsLink, sid: str, expired: bool
) -> None:
    """Eight contenders at once, for a fresh session or an expired lease: one winner."""
    clock = FakeClock()
    if expired:
        old = _table(link, "old", clock)
        link.run(lambda: old.acquire(sid))
        clock.advance(10 * SECOND)
    tables = [_table(link, f"c{i}", clock) for i in range(8)]

    async def race() -> list[bool | BaseException]:
        return await asyncio.gather(*(t.acquire(sid) for t in tables), return_exceptions=True)

    results = link.run(race)
    winners = [t for t, r in zip(tables, results, strict=True) if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, SessionOwnedElsewhere) for r in losers)
    assert winners[0].holds(sid)


def test_a_journal_that_lost_its_lease_refuses_to_append(link: NatsLink, sid: str) -> None:
    """The old owner's next batch fails with SessionOwnedElsewhere; the new owner continues."""
    clock = FakeClock()
    a, b = _table(link, "a", clock), _table(link, "b", clock)
    ja = JetStreamJournal(Path("a"), StoreOptions(clock=clock), link, a)
    ja.open(sid, "run_1")
    ja.commit(ja.prepare([(FIELDS, 1)] * 2))
    clock.advance(5 * SECOND)
    jb = JetStreamJournal(Path("b"), StoreOptions(clock=clock), link, b)
    jb.open(sid, "run_1")
    assert jb.took_over and jb.last_sequence == 2
    link.run(a.renew_all)
    with pytest.raises(SessionOwnedElsewhere):
        ja.commit(ja.prepare([(FIELDS, 2)]))
    assert [r.sequence for r in jb.commit(jb.prepare([(FIELDS, 3)]))] == [3]
