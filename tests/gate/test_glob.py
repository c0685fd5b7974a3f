"""Endpoint patterns with Go path.Match semantics (spec/gate.md §3.6)."""

from __future__ import annotations

import pytest

from gait_runtime.gate._glob import DomainPattern, GlobError, PathPattern, compile_glob


@pytest.mark.parametrize(
    ("pattern", "value", "matched"),
    [
        ("/etc/**", "/etc", True),
        ("/etc/**", "/etc/ssl/x.pem", True),
        ("/etc/**", "/etcetera", False),
        ("*.pem", "key.pem", True),
        ("*.pem", "/srv/key.pem", False),  # * never crosses /
        ("/srv/?.db", "/srv/a.db", True),
        ("/srv/?.db", "/srv/ab.db", False),
        ("/srv/[a-c]*", "/srv/beta", True),
        ("/srv/[^a-c]*", "/srv/beta", False),
        ("/srv/\\*", "/srv/*", True),
        ("/srv/\\*", "/srv/x", False),
        ("/exact", "/exact", True),
    ],
)
def test_path_patterns(pattern: str, value: str, matched: bool) -> None:
    """Exact, subtree (/**) and glob matches as Go's path.Match."""
    assert PathPattern.compile(pattern).matches(value) is matched


@pytest.mark.parametrize(
    ("pattern", "value", "matched"),
    [
        ("*.example.com", "api.example.com", True),
        ("*.example.com", "example.com", False),  # the apex is not matched
        ("API.example.com", "api.example.com", True),
        ("api-?.example.com", "api-1.example.com", True),
    ],
)
def test_domain_patterns(pattern: str, value: str, matched: bool) -> None:
    """Domain rules: case-insensitive exact, *.suffix for subdomains only, then glob."""
    assert DomainPattern.compile(pattern).matches(value) is matched


@pytest.mark.parametrize("pattern", ["[", "[]", "[a-", "a\\", "[^]", "[-a]", "[a-]"])
def test_malformed_patterns_are_rejected(pattern: str) -> None:
    """Go's ErrBadPattern cases: rejected at policy load (our divergence from 'never matches')."""
    with pytest.raises(GlobError):
        compile_glob(pattern)
