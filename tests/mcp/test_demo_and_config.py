"""``gait demo mcp`` end to end, and the gateway's flag rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gait_runtime.cli import main
from gait_runtime.errors import DependencyMissingError, McpConfigError
from gait_runtime.supervisor.transport.mcp_gateway.config import (
    GatewayConfig,
    parse_upstream,
    parse_upstreams,
)


def test_demo_mcp_allowed_and_blocked(tmp_path: Path) -> None:
    """The demo's client gets the note, the delete is blocked and never reaches the server."""
    out = tmp_path / "out.json"
    with out.open("w") as stream:
        code = main(["demo", "mcp", "--out", str(tmp_path), "--json"], out=stream)
    report = json.loads(out.read_text())
    assert code == 0 and report["ok"] is True
    assert report["tools"] == {"read_note": "allow", "delete_note": "block"}
    assert report["allowed_result"] == "ship the MCP gateway\n"
    assert report["server_received"] == ["read_note"]
    assert [j["verdict"] for j in report["journal"]] == ["allow", "allow", "block"]
    assert (tmp_path / "mcp-demo" / "notes" / "todo.txt").exists()


def test_upstream_text_rules() -> None:
    """Commands are split as a shell would; URLs are kept; names are optional for one."""
    spec = parse_upstream("fs=python -m srv --root '/a b'")
    assert spec.name == "fs" and spec.command == ("python", "-m", "srv", "--root", "/a b")
    assert parse_upstream("https://h.example/mcp").url == "https://h.example/mcp"
    assert parse_upstream("web=http://127.0.0.1:9/mcp").name == "web"
    (only,) = parse_upstreams(["python srv.py"])
    assert only.name == "upstream" and only.kind == "stdio"
    assert GatewayConfig(upstreams=(only,)).stateless_session == "mcp-proxy"
    assert GatewayConfig(upstreams=(only,), session_id="s9").stateless_session == "s9"
    assert not GatewayConfig(upstreams=(only,)).prefixed
    two = parse_upstreams(["a=x", "b=http://h/mcp"])
    assert GatewayConfig(upstreams=two).prefixed


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ([], "mcp_upstream_missing"),
        (["a=x", "y"], "mcp_upstream_invalid"),
        (["a=x", "A=y"], "mcp_upstream_invalid"),
        (["'unclosed"], "mcp_upstream_invalid"),
        (["a__b=x"], "mcp_upstream_invalid"),
        (["http://h/a b"], "mcp_upstream_invalid"),
    ],
)
def test_bad_upstreams_are_refused(values: list[str], code: str) -> None:
    with pytest.raises(McpConfigError) as caught:
        parse_upstreams(values)
    assert caught.value.error_code == code


def test_proxy_flag_errors_exit_6_with_the_envelope(tmp_path: Path) -> None:
    """Bad gateway flags never start anything: exit 6, the JSON envelope, a stable code."""
    (tmp_path / "p.yaml").write_text("default_verdict: block\n")
    out = tmp_path / "out.txt"
    cases = [
        ([], "mcp_upstream_missing"),
        (["--upstream", "a=x", "--upstream", "y"], "mcp_upstream_invalid"),
        (["--upstream", "x", "--call-timeout", "0s"], "mcp_timeout_invalid"),
        (["--upstream", "x", "--restart-window", "0s"], "mcp_restart_invalid"),
        (["--upstream", "x", "--upstream-env", "NOEQUALS"], "mcp_config_invalid"),
    ]
    for flags, code in cases:
        with out.open("w") as stream:
            rc = main(
                ["mcp", "proxy", "--policy", str(tmp_path / "p.yaml"), *flags, "--json"],
                out=stream,
            )
        envelope = json.loads(out.read_text())
        assert rc == 6, flags
        assert envelope["ok"] is False and envelope["error_detail"] == code, flags


def test_missing_sdk_exits_7(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the optional ``mcp`` extra the gateway refuses with dependency_missing."""
    from gait_runtime.cli._mcp_flags import require_sdk

    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(DependencyMissingError) as caught:
        require_sdk()
    assert caught.value.error_code == "mcp_sdk_missing"
