"""Journal URL parsing, credentials from the environment, and a token-protected server."""

from __future__ import annotations

from pathlib import Path

import pytest

from gait_runtime.cluster import NatsLink, NatsSettings, subject_token
from gait_runtime.cluster.local import LocalNats
from gait_runtime.errors import JournalUnavailableError, UsageError


def test_urls_name_every_server_and_keep_the_scheme() -> None:
    """nats://a:1,b:2 gives both servers; tls:// stays tls://; display never shows credentials."""
    s = NatsSettings.from_url("nats://10.0.0.1:4222,10.0.0.2:4223", replicas=3, env={})
    assert s.servers == ("nats://10.0.0.1:4222", "nats://10.0.0.2:4223")
    assert s.replicas == 3 and s.display() == "nats://10.0.0.1:4222,10.0.0.2:4223"
    assert NatsSettings.from_url("tls://h:4222", env={}).servers == ("tls://h:4222",)


@pytest.mark.parametrize(
    "url",
    ["", "http://h:1", "nats://", "nats://h", "nats://user:pw@h:4222", "nats://h:1,,h:2"],
)
def test_bad_journal_urls_are_usage_errors(url: str) -> None:
    """Anything but nats|tls://host:port[,…] is refused, credentials in the URL too."""
    with pytest.raises(UsageError):
        NatsSettings.from_url(url, env={})


def test_credentials_come_from_the_environment(tmp_path: Path) -> None:
    """GAIT_NATS_CREDS must name a file; user/password/token are read as given."""
    creds = tmp_path / "u.creds"
    creds.write_text("x")
    env = {
        "GAIT_NATS_CREDS": str(creds),
        "GAIT_NATS_USER": "u",
        "GAIT_NATS_PASSWORD": "p",
        "GAIT_NATS_TOKEN": "t",
    }
    s = NatsSettings.from_url("nats://h:1", env=env)
    assert (s.creds_file, s.user, s.password, s.token) == (str(creds), "u", "p", "t")
    with pytest.raises(UsageError):
        NatsSettings.from_url("nats://h:1", env={"GAIT_NATS_CREDS": str(tmp_path / "none")})


def test_subject_tokens_are_plain_or_encoded_and_never_collide() -> None:
    """Plain ids stay; others become '=' + base64url, valid in subjects and KV keys."""
    assert subject_token("sess-1_A") == "sess-1_A"
    odd = subject_token("a.b c/*")
    assert odd.startswith("=") and all(c.isalnum() or c in "-_=" for c in odd)
    assert subject_token("a.b") != subject_token("a_b")


def test_a_token_protected_server_needs_the_token(tmp_path: Path) -> None:
    """With GAIT_NATS_TOKEN the link connects; without it, start fails within its bound."""
    with LocalNats(tmp_path / "nats", token="s3cret") as server:
        good = NatsLink(NatsSettings.from_url(server.url, env={"GAIT_NATS_TOKEN": "s3cret"}))
        good.start()
        try:
            assert good.run(good.stream_state)["stream"] == "GAIT_SESSIONS"
        finally:
            good.close()
        bad = NatsLink(NatsSettings.from_url(server.url, timeout_s=1.0, env={}))
        with pytest.raises(JournalUnavailableError):
            bad.start()
