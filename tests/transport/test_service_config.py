"""Listen parsing, the loopback bind rule and Go durations (``spec/service.md`` §1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gait_runtime.errors import UsageError
from gait_runtime.supervisor.service.config import (
    ListenAddress,
    ServiceConfig,
    parse_duration_flag,
    parse_listen,
)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:8787", "127.0.0.1", 8787),
        ("localhost:0", "localhost", 0),
        ("[::1]:9000", "::1", 9000),
        (":8787", "", 8787),
        ("0.0.0.0:80", "0.0.0.0", 80),
    ],
)
def test_listen_host_port_forms_parse(text: str, host: str, port: int) -> None:
    """Spec: ``host:port`` as Go ``SplitHostPort`` reads it (brackets stripped)."""
    parsed = parse_listen(text)
    assert (parsed.host, parsed.port, parsed.is_unix) == (host, port, False)


def test_listen_unix_socket_form_parses() -> None:
    """Our addition: ``unix:/path`` listens on a Unix domain socket."""
    parsed = parse_listen("unix:/tmp/gait.sock")
    assert parsed.is_unix and parsed.unix_path == "/tmp/gait.sock"
    assert parsed.display() == "unix:/tmp/gait.sock"


@pytest.mark.parametrize("text", ["127.0.0.1", "a:b:c", "host:port", "127.0.0.1:70000", "unix:"])
def test_bad_listen_values_exit_6_with_go_prefix(text: str) -> None:
    """Spec: an unparsable ``--listen`` is ``invalid --listen address: …`` (exit 6)."""
    with pytest.raises(UsageError, match=r"^invalid --listen address: "):
        parse_listen(text)


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("127.0.0.1:1", True),
        ("127.8.9.10:1", True),
        ("LOCALHOST:1", True),
        ("[::1]:1", True),
        ("0.0.0.0:1", False),
        ("[::]:1", False),
        (":1", False),
        ("example.internal:1", False),
        ("10.0.0.1:1", False),
        ("unix:/tmp/x.sock", True),
    ],
)
def test_loopback_rule(text: str, loopback: bool) -> None:
    """Spec: only ``localhost`` and loopback IP literals are loopback (Unix sockets are local)."""
    assert parse_listen(text).is_loopback is loopback


def test_non_loopback_bind_requires_token_auth() -> None:
    """Spec: any non-loopback host without ``--auth-mode token`` exits 6."""
    with pytest.raises(UsageError, match=r"^non-loopback --listen requires --auth-mode token$"):
        ServiceConfig(policy_path=Path("p.yaml"), listen=ListenAddress("0.0.0.0", 1))
    config = ServiceConfig(
        policy_path=Path("p.yaml"), listen=ListenAddress("0.0.0.0", 1), auth_token="t"
    )
    assert config.auth_token == "t"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_request_bytes": 0}, "--max-request-bytes must be > 0"),
        (
            {"http_verdict_status": "loud"},
            "unsupported --http-verdict-status value (expected compat or strict)",
        ),
        ({"profile": "oss-prod"}, "oss-prod profile requires --key-mode prod"),
        ({"adapter": "smtp"}, "unsupported --adapter value: smtp"),
    ],
)
def test_invalid_settings_carry_go_messages(kwargs: dict[str, object], message: str) -> None:
    """Spec: start-up validation messages match the Go implementation."""
    with pytest.raises(UsageError) as info:
        ServiceConfig(policy_path=Path("p.yaml"), **kwargs)  # type: ignore[arg-type]
    assert info.value.message == message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("168h", 604800.0),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        ("-5s", -5.0),
        ("1h2m3s4ms", 3723.004),
    ],
)
def test_go_durations_parse(text: str, seconds: float) -> None:
    """Spec: retention flags use Go ``time.ParseDuration`` syntax."""
    assert parse_duration_flag(text, flag="--x") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "7d", "5", "1h30", "s"])
def test_bad_go_durations_are_usage_errors(text: str) -> None:
    """Spec: units are ns, us/µs, ms, s, m, h; no ``d`` and no bare numbers except 0."""
    with pytest.raises(UsageError, match="invalid --x value"):
        parse_duration_flag(text, flag="--x")
