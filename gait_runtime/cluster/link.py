"""The connection to a NATS JetStream cluster, on its own event loop.

Owns: :class:`NatsLink` (one nats-py client running in a daemon thread with
its own asyncio loop, so the supervisor can run on any anyio backend and the
session actors call it synchronously from their I/O threads), making sure the
session stream and the lease, chain and checkpoint buckets exist, the atomic
batch publish with ``Nats-Msg-Id`` and ``Nats-Expected-Last-Subject-Sequence``,
and reading one subject from a stream sequence (:class:`StoredMessage`).
Where to connect is :class:`~._settings.NatsSettings`.

Every wait is bounded by ``NatsSettings.timeout_s``; a timeout or a lost
cluster is a :class:`~gait_runtime.errors.JournalUnavailableError`, a refused
expected sequence a :class:`~gait_runtime.errors.JournalConflictError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from ..errors import JournalConflictError, JournalUnavailableError
from ._settings import SUBJECT_PREFIX, NatsSettings

__all__ = ["NatsLink", "StoredMessage"]

_T = TypeVar("_T")

WRONG_LAST_SEQUENCE: Final = (10071, 10164)
DUPLICATE_IN_BATCH: Final = 10201


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message of the session stream: its stream sequence, payload and message id."""

    seq: int
    data: bytes
    msg_id: str


def _unavailable(what: str, exc: BaseException) -> JournalUnavailableError:
    detail = f"{type(exc).__name__}: {exc}".rstrip(": ") if str(exc) else type(exc).__name__
    return JournalUnavailableError(f"NATS JetStream {what}: {detail}")


class NatsLink:
    """One NATS connection in a daemon thread; synchronous calls from any thread.

    Args:
        settings: where and how to connect.
    """

    def __init__(self, settings: NatsSettings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="gait-nats", daemon=True)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: dict[str, KeyValue] = {}
        self._obj: ObjectStore | None = None
        self.connected = False
        self.last_error = ""
        self.publishes = 0
        self.batches = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    # --------------------------------------------------------------- plumbing

    def run(self, fn: Callable[[], Awaitable[_T]], *, timeout: float | None = None) -> _T:
        """Run ``fn()`` on the link's loop and wait (bounded) for its result.

        Raises:
            JournalUnavailableError: the bound passed first (the coroutine is cancelled).
        """
        bound = self.settings.timeout_s * 2 if timeout is None else timeout

        async def guarded() -> _T:
            return await asyncio.wait_for(fn(), bound)

        future = asyncio.run_coroutine_threadsafe(guarded(), self._loop)
        try:
            return future.result(bound + 1.0)
        except (TimeoutError, nats.errors.TimeoutError) as exc:
            future.cancel()
            raise _unavailable("did not answer in time", exc) from exc
        except (
            nats.errors.ConnectionClosedError,
            nats.errors.NoServersError,
            nats.errors.OutboundBufferLimitError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.NoRespondersError,
        ) as exc:
            raise _unavailable("connection lost", exc) from exc
        except nats.js.errors.ServiceUnavailableError as exc:
            raise _unavailable("service unavailable", exc) from exc
        except nats.js.errors.NoStreamResponseError as exc:
            raise _unavailable("no stream responded", exc) from exc

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context (after :meth:`start`)."""
        assert self._js is not None, "NatsLink.start() first"
        return self._js

    @property
    def nc(self) -> Client:
        """The core client (after :meth:`start`)."""
        assert self._nc is not None, "NatsLink.start() first"
        return self._nc

    def kv(self, bucket: str) -> KeyValue:
        """A KV bucket made by :meth:`start`."""
        return self._kv[bucket]

    @property
    def objects(self) -> ObjectStore:
        """The checkpoint object store."""
        assert self._obj is not None, "NatsLink.start() first"
        return self._obj

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Connect and make sure the stream and buckets exist.

        Raises:
            JournalUnavailableError: no server answered within the bound.
        """
        if not self._thread.is_alive():
            self._thread.start()
        try:
            self.run(self._connect, timeout=max(self.settings.timeout_s * 3, 15.0))
        except JournalUnavailableError:
            self.close()
            raise
        except nats.js.errors.APIError as exc:
            self.close()
            raise _unavailable("setup refused", exc) from exc

    async def _connect(self) -> None:
        s = self.settings
        options: dict[str, Any] = {
            "servers": list(s.servers),
            "connect_timeout": min(2.0, s.timeout_s),
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.25,
            "name": "gait-supervisor",
            # Never buffer a publish while disconnected: a batch we answered as
            # failed must not be stored behind our back on reconnect.
            "pending_size": 0,
        }
        if s.creds_file:
            options["user_credentials"] = s.creds_file
        if s.user:
            options["user"], options["password"] = s.user, s.password
        if s.token:
            options["token"] = s.token
        if any(u.startswith("tls://") for u in s.servers):
            options["tls"] = ssl.create_default_context(cafile=s.ca_file or None)

        refused = asyncio.Event()

        async def quiet(exc: Exception) -> None:
            if (
                isinstance(exc, nats.errors.AuthorizationError)
                or "authorization" in str(exc).lower()
            ):
                self.last_error = f"{type(exc).__name__}: {exc}"
                refused.set()

        async def down() -> None:
            self.connected = False

        async def up() -> None:
            self.connected = True

        options.update(error_cb=quiet, disconnected_cb=down, reconnected_cb=up)
        connecting = asyncio.ensure_future(nats.connect(**options))
        refusal = asyncio.ensure_future(refused.wait())
        await asyncio.wait({connecting, refusal}, return_when=asyncio.FIRST_COMPLETED)
        refusal.cancel()
        if not connecting.done():  # the servers refuse our credentials: no point retrying
            connecting.cancel()
            with contextlib.suppress(BaseException):
                await connecting
            raise JournalUnavailableError(
                f"NATS refused the credentials ({self.last_error}); "
                "check GAIT_NATS_CREDS / GAIT_NATS_USER / GAIT_NATS_TOKEN"
            )
        self._nc = connecting.result()
        self.connected = True
        self._js = self._nc.jetstream(timeout=s.timeout_s)
        while True:  # a cluster just started may still be electing its meta leader
            try:
                await self._setup()
                return
            except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
                await asyncio.sleep(0.2)

    async def _setup(self) -> None:
        s = self.settings
        assert self._js is not None
        await self._ensure_stream()
        for bucket, history in ((s.lease_bucket, 1), (s.chain_bucket, 1)):
            try:
                self._kv[bucket] = await self._js.key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                self._kv[bucket] = await self._js.create_key_value(
                    KeyValueConfig(bucket=bucket, history=history, replicas=s.replicas)
                )
        try:
            self._obj = await self._js.object_store(s.checkpoint_bucket)
        except nats.js.errors.BucketNotFoundError:
            self._obj = await self._js.create_object_store(
                s.checkpoint_bucket,
                config=ObjectStoreConfig(bucket=s.checkpoint_bucket, replicas=s.replicas),
            )

    async def _ensure_stream(self) -> None:
        s = self.settings
        try:
            await self.js.stream_info(s.stream)
            return
        except nats.js.errors.NotFoundError:
            pass
        config = StreamConfig(
            name=s.stream,
            subjects=[SUBJECT_PREFIX + ">"],
            num_replicas=s.replicas,
            storage=StorageType.FILE,
            duplicate_window=120.0,
            allow_rollup_hdrs=True,
            allow_direct=True,
            allow_atomic=True,
        )
        try:
            await self.js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self.js.stream_info(s.stream)  # created by a peer in between

    def close(self) -> None:
        """Drain the connection and stop the loop thread (idempotent)."""
        if self._thread.is_alive():
            if self._nc is not None and not self._nc.is_closed:
                nc = self._nc

                async def shut() -> None:
                    await nc.close()

                try:
                    self.run(shut, timeout=2.0)
                except Exception:  # closing a dead link: nothing to save
                    pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()
        self.connected = False

    # ------------------------------------------------------------ the stream

    async def publish_batch(
        self, subject: str, payloads: Sequence[bytes], msg_ids: Sequence[str], expected: int
    ) -> int:
        """Publish ``payloads`` to ``subject`` as one atomic batch; return the last stream seq.

        The first message carries ``Nats-Expected-Last-Subject-Sequence:
        expected``; every message its ``Nats-Msg-Id``. A single message is an
        ordinary publish. Nothing of a refused batch is stored.

        Raises:
            JournalConflictError: the subject's last sequence is not ``expected``.
            nats.js.errors.APIError: any other refusal.
        """
        nc = self.nc
        n = len(payloads)
        batch_id = uuid.uuid4().hex
        reply: Any = None
        for i, (payload, msg_id) in enumerate(zip(payloads, msg_ids, strict=True), start=1):
            headers = {"Nats-Msg-Id": msg_id}
            if i == 1:
                headers["Nats-Expected-Last-Subject-Sequence"] = str(expected)
            if n > 1:
                headers["Nats-Batch-Id"] = batch_id
                headers["Nats-Batch-Sequence"] = str(i)
                if i == n:
                    headers["Nats-Batch-Commit"] = "1"
            if i == n:
                reply = await nc.request(
                    subject, payload, timeout=self.settings.timeout_s, headers=headers
                )
            else:
                await nc.publish(subject, payload, headers=headers)
        resp = json.loads(reply.data)
        self.batches += 1
        if resp.get("duplicate"):
            # Nats-Msg-Id seen within the duplicate window: stored before, by us
            # (a retry) or by another writer of the same sequence. The caller
            # tells which from the stored message.
            raise JournalConflictError(
                f"{subject}: record {msg_ids[-1]} is already stored",
                details={"subject": subject, "duplicate": True},
            )
        if "error" in resp:
            err = resp["error"]
            if err.get("err_code") in (*WRONG_LAST_SEQUENCE, DUPLICATE_IN_BATCH):
                raise JournalConflictError(
                    f"another writer appended to {subject} first "
                    f"({err.get('description', 'wrong last sequence')}); nothing was stored",
                    details={"subject": subject, "expected_subject_sequence": expected},
                )
            raise nats.js.errors.APIError(
                code=err.get("code"),
                description=err.get("description"),
                err_code=err.get("err_code"),
            )
        self.publishes += n
        return int(resp["seq"])

    async def rollup(self, subject: str, payload: bytes, msg_id: str, expected: int) -> int:
        """Replace every message of ``subject`` with one (``Nats-Rollup: sub``)."""
        headers = {
            "Nats-Msg-Id": msg_id,
            "Nats-Expected-Last-Subject-Sequence": str(expected),
            "Nats-Rollup": "sub",
        }
        try:
            ack = await self.js.publish(subject, payload, headers=headers)
        except nats.js.errors.APIError as exc:
            if exc.err_code in WRONG_LAST_SEQUENCE:
                raise JournalConflictError(
                    f"another writer appended to {subject} before the compaction; nothing changed"
                ) from exc
            raise
        return ack.seq

    async def last_message(self, subject: str) -> StoredMessage | None:
        """The last message of ``subject``, or ``None`` when it has none."""
        try:
            msg = await self.js.get_last_msg(self.settings.stream, subject)
        except nats.js.errors.NotFoundError:
            return None
        msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
        return StoredMessage(int(msg.seq or 0), msg.data or b"", msg_id)

    async def read_subject(self, subject: str, start_seq: int = 1) -> list[StoredMessage]:
        """Every message of ``subject`` from stream sequence ``start_seq`` on, in order."""
        last = await self.last_message(subject)
        if last is None or last.seq < start_seq:
            return []
        sub = await self.js.subscribe(
            subject,
            stream=self.settings.stream,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(1, start_seq)
            ),
            pending_msgs_limit=1_000_000,
        )
        out: list[StoredMessage] = []
        try:
            while True:
                msg = await sub.next_msg(timeout=self.settings.timeout_s)
                meta = msg.metadata
                seq = meta.sequence.stream
                out.append(StoredMessage(seq, msg.data, (msg.headers or {}).get("Nats-Msg-Id", "")))
                if seq >= last.seq:
                    return out
        finally:
            await sub.unsubscribe()

    async def stream_state(self) -> dict[str, Any]:
        """Messages, bytes, sequences, subjects and cluster of the session stream."""
        info = await self.js.stream_info(self.settings.stream)
        st = info.state
        cluster = info.cluster
        out: dict[str, Any] = {
            "stream": self.settings.stream,
            "messages": st.messages,
            "bytes": st.bytes,
            "first_seq": st.first_seq,
            "last_seq": st.last_seq,
            "replicas": info.config.num_replicas,
        }
        if cluster is not None:
            out["cluster"] = {
                "name": cluster.name,
                "leader": cluster.leader,
                "replicas": [
                    {"name": r.name, "current": r.current} for r in (cluster.replicas or [])
                ],
            }
        return out
