"""One supervisor's view of the cluster: the link, its leases, the journal factory, routing.

Owns: :class:`ClusterJournal`, which a supervisor started with
``--journal nats://…`` holds for its lifetime: it connects (bounded), starts
the lease renewal, builds a :class:`~.journal.JetStreamJournal` for each
session actor (the ``SessionConfig.journal_factory``), answers the HTTP
layer's routing question (is this session owned by another supervisor, and
where?), and gives ``/v1/health`` the backend, the stream state and the
sessions this supervisor owns. The stream state is refreshed in the link's
loop, so a health request never waits on the network.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ..errors import GaitError
from ..supervisor.journal.store import StoreOptions
from ._settings import NatsSettings, subject_token
from .journal import JetStreamJournal
from .leases import LeaseTable
from .link import NatsLink

__all__ = ["ClusterJournal"]


class ClusterJournal:
    """The cluster side of one supervisor.

    Args:
        settings: where the cluster is.
        address: this supervisor's address for redirects (``http://host:port``);
            may be set after the listener is bound (:attr:`address`).
        owner: this supervisor's id (default: host name + process id + random).
        lease_s: lease lifetime; renewed every third of it.
        now_ns: wall clock in Unix nanoseconds.
    """

    def __init__(
        self,
        settings: NatsSettings,
        *,
        address: str = "",
        owner: str = "",
        lease_s: float = 5.0,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.link = NatsLink(settings)
        owner_id = owner or f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.leases = LeaseTable(self.link, owner_id, address, ttl_s=lease_s, now_ns=now_ns)
        self._stream: dict[str, Any] = {}
        self._stream_error = ""
        self._refresher: asyncio.Task[None] | None = None
        self.redirects = 0

    @property
    def owner(self) -> str:
        """This supervisor's owner id."""
        return self.leases.owner

    @property
    def address(self) -> str:
        """The address given to redirected clients."""
        return self.leases.address

    @address.setter
    def address(self, value: str) -> None:
        self.leases.address = value

    def start(self) -> None:
        """Connect, make sure stream and buckets exist, start lease renewal (blocking, bounded).

        Raises:
            JournalUnavailableError: the cluster did not answer in time.
        """
        self.link.start()
        self.link.run(self._start_background)

    async def _start_background(self) -> None:
        await self.leases.start_renewing()
        await self._refresh()
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh(self) -> None:
        try:
            self._stream = await asyncio.wait_for(self.link.stream_state(), self.settings.timeout_s)
            self._stream_error = ""
        except Exception as exc:  # shown in /v1/health; appends report their own failures
            self._stream_error = f"{type(exc).__name__}: {exc}"

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self._refresh()

    def close(self) -> None:
        """Stop renewing (held leases were released by the actors) and disconnect."""

        async def stop() -> None:
            if self._refresher is not None:
                self._refresher.cancel()
            await self.leases.stop_renewing()

        try:
            self.link.run(stop, timeout=2.0)
        except GaitError:
            pass
        self.link.close()

    # -------------------------------------------------------------- sessions

    def factory(self, path: Path, options: StoreOptions) -> JetStreamJournal:
        """The ``SessionConfig.journal_factory``: a JetStream journal per session."""
        label = Path(f"nats:{self.settings.stream}/{path.name}")
        return JetStreamJournal(label, options, self.link, self.leases)

    async def route(self, session_id: str) -> str | None:
        """The owner's address when another supervisor holds a valid lease on the
        session, else ``None`` (serve it here: take or keep the lease).

        Sessions this supervisor holds are answered without a network call.
        """
        if not session_id or self.leases.holds(session_id):
            return None
        leases, link = self.leases, self.link

        def lookup() -> str | None:
            try:
                lease = link.run(lambda: leases.owner_elsewhere(session_id))
            except GaitError:
                return None  # the cluster is away: decide here, the append fails closed
            return lease.address if lease is not None else None

        address = await anyio.to_thread.run_sync(lookup)
        if address is not None:
            self.redirects += 1
        return address

    def owned_sessions(self) -> list[str]:
        """Subject tokens of the sessions this supervisor holds a live lease on."""
        return sorted(k for k in self.leases.held if k not in self.leases.lost)

    def health(self) -> dict[str, Any]:
        """The ``journal`` part of ``/v1/health``."""
        return {
            "backend": "nats",
            "servers": self.settings.display(),
            "connected": self.link.connected,
            "owner": self.owner,
            "address": self.address,
            "lease_s": self.leases.ttl_s,
            "stream": dict(self._stream),
            "stream_error": self._stream_error,
            "owned_sessions": self.owned_sessions(),
            "lost_leases": sorted(self.leases.lost),
            "takeovers": self.leases.takeovers,
            "redirects": self.redirects,
            "publishes": self.link.publishes,
            "batches": self.link.batches,
        }

    def token(self, session_id: str) -> str:
        """The subject token / KV key of a session id."""
        return subject_token(session_id)
