"""Where the shared session journal lives and how to reach it.

Owns: :class:`NatsSettings` (parsed from ``nats://host:port[,host:port…]`` or
``tls://…``, credentials from the environment variables named here, never
from the URL) and :func:`subject_token` (the subject token and KV key of a
session id). No network I/O; :mod:`.link` connects with these settings.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from ..errors import UsageError

__all__ = [
    "ENV_CA",
    "ENV_CREDS",
    "ENV_PASSWORD",
    "ENV_TOKEN",
    "ENV_USER",
    "SUBJECT_PREFIX",
    "NatsSettings",
    "subject_token",
]

ENV_CREDS: Final = "GAIT_NATS_CREDS"
ENV_USER: Final = "GAIT_NATS_USER"
ENV_PASSWORD: Final = "GAIT_NATS_PASSWORD"
ENV_TOKEN: Final = "GAIT_NATS_TOKEN"
ENV_CA: Final = "GAIT_NATS_CA"

SUBJECT_PREFIX: Final = "gait.session."
_SAFE_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")
_HOST_PORT: Final = re.compile(r"^[A-Za-z0-9.\[\]:_-]+:[0-9]{1,5}$")


def subject_token(session_id: str) -> str:
    """The subject token (and KV key) of a session id.

    Ids made of ``[A-Za-z0-9_-]`` (up to 128) are used as they are; any other
    id becomes ``=`` + its unpadded base64url, which cannot collide with a
    plain one and is valid in both subjects and KV keys.
    """
    if _SAFE_TOKEN.fullmatch(session_id):
        return session_id
    return "=" + base64.urlsafe_b64encode(session_id.encode()).decode().rstrip("=")


@dataclass(frozen=True)
class NatsSettings:
    """Where the shared journal lives and how to reach it.

    Attributes:
        servers: server URLs (``nats://h:p`` or ``tls://h:p``).
        replicas: stream and bucket replicas (3 in a 3-node cluster).
        stream: the session stream (subjects ``gait.session.>``).
        lease_bucket: KV bucket of session leases.
        chain_bucket: KV bucket of session chains.
        checkpoint_bucket: object store bucket of checkpoint runpacks.
        timeout_s: bound on every request to the cluster.
        creds_file: a NATS credentials file (``GAIT_NATS_CREDS``).
        user: user name (``GAIT_NATS_USER``; password in ``GAIT_NATS_PASSWORD``).
        password: password.
        token: auth token (``GAIT_NATS_TOKEN``).
        ca_file: CA bundle for ``tls://`` servers (``GAIT_NATS_CA``).
        batch_mode: ``atomic`` publishes an actor batch as one JetStream atomic
            batch of one message per record (each with its record id);
            ``packed`` publishes it as one message holding the batch's lines
            (id ``…:<first>-<last>``): the same bytes on the subject, one
            ordinary publish, much faster on a single server.
    """

    servers: tuple[str, ...]
    replicas: int = 1
    stream: str = "GAIT_SESSIONS"
    lease_bucket: str = "GAIT_LEASES"
    chain_bucket: str = "GAIT_CHAINS"
    checkpoint_bucket: str = "GAIT_CHECKPOINTS"
    timeout_s: float = 5.0
    creds_file: str = ""
    user: str = ""
    password: str = ""
    token: str = ""
    ca_file: str = ""
    batch_mode: str = "atomic"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        replicas: int = 1,
        timeout_s: float = 5.0,
        env: Mapping[str, str] | None = None,
        batch_mode: str = "atomic",
    ) -> NatsSettings:
        """Parse ``nats://host:port[,host:port…]`` (``tls://`` for TLS).

        Credentials come from the environment, never from the URL, so they do
        not end up in process listings or logs.

        Raises:
            UsageError: the URL is not of that form, or credentials are in it.
        """
        environ = os.environ if env is None else env
        text = url.strip()
        scheme, sep, rest = text.partition("://")
        if not sep or scheme not in ("nats", "tls") or not rest:
            raise UsageError(f"journal URL must be nats://host:port[,host:port...]: {url!r}")
        servers: list[str] = []
        for part in rest.rstrip("/").split(","):
            part = part.strip()
            if "@" in part:
                raise UsageError(
                    "put NATS credentials in GAIT_NATS_CREDS, GAIT_NATS_USER/GAIT_NATS_PASSWORD "
                    "or GAIT_NATS_TOKEN, not in the journal URL"
                )
            if not _HOST_PORT.match(part):
                raise UsageError(f"journal URL: expected host:port, got {part!r}")
            servers.append(f"{scheme}://{part}")
        if replicas < 1 or replicas > 5:
            raise UsageError("journal replicas must be between 1 and 5")
        if timeout_s <= 0:
            raise UsageError("journal timeout must be positive")
        if batch_mode not in ("atomic", "packed"):
            raise UsageError("journal batch mode must be atomic or packed")
        creds = environ.get(ENV_CREDS, "")
        if creds and not os.path.isfile(creds):
            raise UsageError(f"{ENV_CREDS}: no such file: {creds}")
        return cls(
            servers=tuple(servers),
            replicas=replicas,
            timeout_s=timeout_s,
            creds_file=creds,
            user=environ.get(ENV_USER, ""),
            password=environ.get(ENV_PASSWORD, ""),
            token=environ.get(ENV_TOKEN, ""),
            ca_file=environ.get(ENV_CA, ""),
            batch_mode=batch_mode,
        )

    def display(self) -> str:
        """The servers as one URL (no credentials are ever in it)."""
        hosts = [urlsplit(s).netloc for s in self.servers]
        scheme = urlsplit(self.servers[0]).scheme if self.servers else "nats"
        return f"{scheme}://{','.join(hosts)}"

    def subject(self, session_id: str) -> str:
        """``gait.session.<token>`` of a session."""
        return SUBJECT_PREFIX + subject_token(session_id)
