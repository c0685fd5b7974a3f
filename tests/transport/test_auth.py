"""Bearer-token checks of ``spec/service.md`` §5 (messages are the Go contract)."""

from __future__ import annotations

import pytest

from gait_runtime.supervisor.service.auth import INVALID_BEARER, MISSING_BEARER, TokenAuth


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, MISSING_BEARER),
        ("", MISSING_BEARER),
        ("bearer secret-token", MISSING_BEARER),
        ("Bearer", MISSING_BEARER),
        ("Bearer    ", MISSING_BEARER),
        ("Basic c2VjcmV0", MISSING_BEARER),
        ("Bearer wrong-token", INVALID_BEARER),
        ("Bearer secret-token-longer", INVALID_BEARER),
        ("Bearer secret-token", None),
        ("Bearer  secret-token  ", None),
    ],
)
def test_bearer_header_outcomes_follow_go(header: str | None, expected: str | None) -> None:
    """Spec: exact case-sensitive ``Bearer `` prefix; token trimmed; wrong ⇒ invalid."""
    assert TokenAuth("secret-token").check(header) == expected


def test_configured_token_is_trimmed() -> None:
    """Spec: the env value is trimmed before comparing."""
    assert TokenAuth("  secret-token\n").check("Bearer secret-token") is None


def test_empty_token_is_refused_at_construction() -> None:
    """Our rule: a server never runs token auth with an empty token."""
    with pytest.raises(ValueError, match="empty"):
        TokenAuth("  ")
