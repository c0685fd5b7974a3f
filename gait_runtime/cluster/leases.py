"""Session ownership across supervisors: one lease per session in a KV bucket.

Owns: :class:`Lease` (owner id, owner address, expiry), :class:`LeaseTable`
(acquire, renew, release and look up leases with compare-and-set on the KV
revision, so two supervisors racing for one session can never both win), and
the renewal loop that keeps the leases of open sessions alive.

A lease is taken when a session's actor opens its journal and released when
it closes. While it is valid, another supervisor answers requests for the
session with a redirect to the owner's address. When the owner dies its lease
runs out after ``ttl_s``; the next supervisor asked for the session takes it
over (a compare-and-set on the revision it read, so exactly one wins) and
recovers the session from the stream before answering. Expiry is compared
against each supervisor's wall clock: supervisors must keep their clocks in
step (NTP) to well under the lease time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import nats.js.errors
import structlog

from ..errors import SessionOwnedElsewhere
from ._settings import subject_token
from .link import NatsLink

__all__ = ["Lease", "LeaseTable"]

_log = structlog.get_logger("gait_runtime.cluster.leases")


class Lease(msgspec.Struct, frozen=True):
    """One session's lease as stored in the bucket (JSON).

    Attributes:
        session_id: the session.
        owner: the owning supervisor's id.
        address: where the owner answers (``http://host:port``).
        expires_at_ns: Unix nanoseconds after which anyone may take it over.
    """

    session_id: str
    owner: str
    address: str
    expires_at_ns: int


_ENC = msgspec.json.Encoder()
_DEC = msgspec.json.Decoder(Lease)


@dataclass
class LeaseTable:
    """The leases this supervisor holds, and the bucket they live in.

    Args:
        link: the cluster connection (its KV lease bucket).
        owner: this supervisor's id (unique per process).
        address: this supervisor's address, given to redirected clients.
        ttl_s: how long a lease lives without renewal.
        now_ns: wall clock (injected in tests).
    """

    link: NatsLink
    owner: str
    address: str
    ttl_s: float = 5.0
    now_ns: Callable[[], int] = field(default=lambda: 0)
    held: dict[str, int] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)
    takeovers: int = 0
    _renewer: asyncio.Task[None] | None = None

    def _kv(self) -> nats.js.kv.KeyValue:
        return self.link.kv(self.link.settings.lease_bucket)

    def _value(self, session_id: str, expires: int | None = None) -> bytes:
        at = self.now_ns() + int(self.ttl_s * 1e9) if expires is None else expires
        return _ENC.encode(Lease(session_id, self.owner, self.address, at))

    async def lookup(self, session_id: str) -> tuple[Lease, int] | None:
        """The stored lease of a session and its revision, or ``None``."""
        try:
            entry = await self._kv().get(subject_token(session_id))
        except nats.js.errors.KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return _DEC.decode(entry.value), int(entry.revision or 0)

    async def owner_elsewhere(self, session_id: str) -> Lease | None:
        """The valid lease of another supervisor on the session, or ``None``."""
        found = await self.lookup(session_id)
        if found is None:
            return None
        lease, _ = found
        if lease.owner == self.owner or lease.expires_at_ns <= self.now_ns():
            return None
        return lease

    async def acquire(self, session_id: str) -> bool:
        """Take (or renew) the session's lease.

        Returns:
            ``True`` when the lease was taken over from an expired owner.

        Raises:
            SessionOwnedElsewhere: another supervisor holds a valid lease, or
                won the race for an expired one.
        """
        key = subject_token(session_id)
        kv = self._kv()
        found = await self.lookup(session_id)
        takeover = False
        try:
            if found is None:
                revision = await kv.create(key, self._value(session_id))
            else:
                lease, rev = found
                if lease.owner != self.owner and lease.expires_at_ns > self.now_ns():
                    raise self._elsewhere(lease)
                takeover = lease.owner != self.owner and lease.expires_at_ns > 0
                revision = await kv.update(key, self._value(session_id), last=rev)
        except nats.js.errors.KeyWrongLastSequenceError:
            again = await self.lookup(session_id)
            if again is not None:
                raise self._elsewhere(again[0]) from None
            raise SessionOwnedElsewhere(
                f"session {session_id}: another supervisor took its lease first"
            ) from None
        self.held[key] = revision
        self.lost.discard(key)
        if takeover:
            self.takeovers += 1
        return takeover

    def _elsewhere(self, lease: Lease) -> SessionOwnedElsewhere:
        return SessionOwnedElsewhere(
            f"session {lease.session_id} is owned by supervisor {lease.owner} at {lease.address}",
            details={"owner": lease.owner, "address": lease.address},
        )

    def holds(self, session_id: str) -> bool:
        """True while this supervisor holds the session's lease (not lost to a renewal failure)."""
        key = subject_token(session_id)
        return key in self.held and key not in self.lost

    async def release(self, session_id: str) -> None:
        """Give the lease back (expiry 0: anyone may take it at once)."""
        key = subject_token(session_id)
        revision = self.held.pop(key, None)
        self.lost.discard(key)
        if revision is None:
            return
        try:
            await self._kv().update(key, self._value(session_id, expires=0), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass  # someone took it over after it expired: nothing of ours to give back

    async def renew_all(self) -> None:
        """Renew every held lease once (compare-and-set; a lost race marks it lost)."""
        kv = self._kv()
        for key, revision in list(self.held.items()):
            if key in self.lost:
                continue
            found = None
            try:
                entry = await kv.get(key)
                found = _DEC.decode(entry.value) if entry.value else None
                if found is None or found.owner != self.owner:
                    raise nats.js.errors.KeyWrongLastSequenceError
                self.held[key] = await kv.update(key, self._value(found.session_id), last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                self.lost.add(key)
                _log.warning("lease_lost", key=key, owner=found.owner if found else "?")
            except nats.js.errors.KeyNotFoundError:
                self.lost.add(key)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await asyncio.wait_for(self.renew_all(), self.ttl_s / 3)
            except Exception as exc:  # the cluster is away: leases run out, appends fail closed
                _log.warning("lease_renewal_failed", error=repr(exc))

    async def start_renewing(self) -> None:
        """Start the renewal loop on the link's event loop (call from that loop)."""
        if self._renewer is None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew_loop())

    async def stop_renewing(self) -> None:
        """Stop the renewal loop."""
        task, self._renewer = self._renewer, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
