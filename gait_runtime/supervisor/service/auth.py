"""Bearer-token authentication of HTTP callers (``spec/service.md`` §5).

Owns: :class:`TokenAuth`, the check of one ``Authorization`` header against the
server's token, with the Go implementation's exact failure messages and a
constant-time comparison. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final

from ...gate._strings import trim

__all__ = ["MISSING_BEARER", "INVALID_BEARER", "TokenAuth"]

MISSING_BEARER: Final = "missing bearer authorization"
"""No header, or a header without the exact, case-sensitive ``Bearer `` prefix."""

INVALID_BEARER: Final = "invalid bearer authorization"
"""A well-formed header carrying the wrong token."""

_PREFIX: Final = "Bearer "


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """Checks ``Authorization: Bearer <token>`` against one configured token.

    Args:
        token: the expected token; trimmed before use; must not be empty.
    """

    token: str

    def __post_init__(self) -> None:
        if not trim(self.token):
            raise ValueError("token must not be empty")

    def check(self, header: str | None) -> str | None:
        """Return ``None`` when ``header`` authorises the caller, else the error message.

        Args:
            header: the raw ``Authorization`` header value, or ``None`` when absent.
        """
        if header is None or not header.startswith(_PREFIX):
            return MISSING_BEARER
        presented = trim(header[len(_PREFIX) :]).encode("utf-8")
        if not presented:
            return MISSING_BEARER
        expected = trim(self.token).encode("utf-8")
        if not hmac.compare_digest(presented, expected):
            return INVALID_BEARER
        return None
