"""``gait doctor --production-readiness``: each finding is triggered and cleared by its fix.

Two ways in (spec scout-doctor §6 and the serve settings of spec service §1):
``.gait/config.yaml`` (the Go contract: same keys, same rules) and a posture
profile plus serve flags (what ``gait serve`` would run with). For every finding
the test starts from a passing setup, breaks one setting, checks the failing
check and its exit code 2, then applies the printed fix and checks it passes.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from gait_runtime.artifacts.keys import init_key_pair
from gait_runtime.cli import main

READINESS_ORDER = [
    "workdir",
    "output_dir",
    "job_runtime_durability",
    "temp_dir",
    "key_source_ambiguity",
    "key_permissions",
    "key_config",
    "production_readiness_config",
    "production_profile",
    "production_key_mode",
    "production_retention",
    "production_service_boundary",
    "production_context_strictness",
]
PASSING: dict[str, Any] = {
    "gate": {"policy": "./.gait.yaml", "profile": "oss-prod", "key_mode": "prod"},
    "retention": {"trace_ttl": "168h", "session_ttl": "336h", "export_ttl": "168h"},
    "mcp_serve": {
        "enabled": True,
        "listen": "127.0.0.1:8787",
        "auth_mode": "token",
        "auth_token_env": "GAIT_SERVE_TOKEN",
        "allow_client_artifact_paths": False,
        "max_request_bytes": 1048576,
        "http_verdict_status": "strict",
    },
}


@pytest.fixture
def prod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A work dir with gait-out and a prod key; returns the key flags."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    Path("gait-out").mkdir()
    _, private, _ = init_key_pair(tmp_path / "keys", "gait")
    monkeypatch.setenv("GAIT_PRIVATE_KEY", private.read_text().strip())
    return ["--key-mode", "prod", "--private-key", str(private)]


def readiness(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = main(["doctor", "--production-readiness", *argv, "--json"], out=out)
    return code, json.loads(out.getvalue())


def failing(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["checks"] if c["status"] == "fail"}


def write_config(doc: dict[str, Any]) -> None:
    Path(".gait").mkdir(exist_ok=True)
    Path(".gait/config.yaml").write_text(yaml.safe_dump(doc))


def apply_config_fix(doc: dict[str, Any], fix: str) -> None:
    """Apply ``set a.b: v[, c.d: w][ and e.f: x] in '<file>'`` to ``doc``."""
    match = re.fullmatch(r"set (.+) in '\.gait/config\.yaml'", fix)
    assert match, fix
    for item in re.split(r", | and ", match.group(1)):
        dotted, value = item.split(": ", 1)
        section, key = dotted.split(".")
        doc.setdefault(section, {})[key] = yaml.safe_load(value)


def test_a_missing_config_fails_every_setting_in_the_contract_order(prod: list[str]) -> None:
    """No .gait/config.yaml: the file, profile, key mode, retention and context checks fail."""
    code, doc = readiness(*prod)
    assert [c["name"] for c in doc["checks"]] == READINESS_ORDER
    assert (code, doc["ok"]) == (2, False)
    assert sorted(failing(doc)) == [
        "production_context_strictness",
        "production_key_mode",
        "production_profile",
        "production_readiness_config",
        "production_retention",
    ]
    assert (
        failing(doc)["production_readiness_config"]["fix_command"]
        == "gait init --production-config"
    )


def test_gait_init_production_config_passes(prod: list[str]) -> None:
    """The config `gait init --production-config` writes passes with a prod key."""
    assert main(["init", "--production-config"], out=io.StringIO()) == 0
    code, doc = readiness(*prod)
    assert (code, doc["status"]) == (0, "pass"), failing(doc)


def test_unparsable_config_is_one_failing_check(prod: list[str]) -> None:
    """YAML that does not parse: a single failing production_readiness_config check."""
    Path(".gait").mkdir()
    Path(".gait/config.yaml").write_text("gate: [unclosed\n")
    code, doc = readiness(*prod)
    assert [c["name"] for c in doc["checks"]][7:] == ["production_readiness_config"]
    assert code == 2


@pytest.mark.parametrize(
    ("section", "key", "bad", "check"),
    [
        ("mcp_serve", "listen", "0.0.0.0:8787", None),  # with auth_mode off below
        ("mcp_serve", "allow_client_artifact_paths", True, "production_service_boundary"),
        ("mcp_serve", "max_request_bytes", 104857600, "production_service_boundary"),
        ("mcp_serve", "max_request_bytes", 0, "production_service_boundary"),
        ("mcp_serve", "http_verdict_status", "compat", "production_service_boundary"),
        ("mcp_serve", "auth_token_env", "", "production_service_boundary"),
        ("gate", "key_mode", "dev", "production_key_mode"),
        ("retention", "session_ttl", "two weeks", "production_retention"),
        ("gate", "profile", "standard", "production_profile"),
        ("gate", "policy", "", "production_context_strictness"),
    ],
)
def test_each_config_finding_is_triggered_and_cleared_by_its_fix(
    prod: list[str], section: str, key: str, bad: object, check: str | None
) -> None:
    """Break one setting: exit 2 with that check failing; apply its fix: exit 0."""
    config = json.loads(json.dumps(PASSING))
    config[section][key] = bad
    if check is None:
        config["mcp_serve"]["auth_mode"] = "off"
        check = "production_service_boundary"
    write_config(config)
    code, doc = readiness(*prod)
    fails = failing(doc)
    assert code == 2 and check in fails
    for name in fails:
        apply_config_fix(config, fails[name]["fix_command"])
    write_config(config)
    code, doc = readiness(*prod)
    assert (code, failing(doc)) == (0, {})


OSS_PROD = ["--posture", "oss-prod"]


def test_the_shipped_oss_prod_posture_passes_and_dev_does_not(prod: list[str]) -> None:
    """oss-prod (with its key env set) is production ready; dev fails on five checks."""
    code, doc = readiness(*OSS_PROD)
    assert (code, failing(doc)) == (0, {})
    assert "posture" in doc["checks"][7]["message"]
    code, doc = readiness("--posture", "dev")
    assert code == 2
    assert sorted(failing(doc)) == [
        "production_context_strictness",
        "production_key_mode",
        "production_profile",
        "production_retention",
        "production_service_boundary",
    ]


@pytest.mark.parametrize(
    ("flags", "checks"),
    [
        (["--listen", "0.0.0.0:8787", "--auth-mode", "off"], ["production_service_boundary"]),
        (["--allow-client-artifact-paths"], ["production_service_boundary"]),
        (["--max-request-bytes", "67108864"], ["production_service_boundary"]),
        (["--http-verdict-status", "compat"], ["production_service_boundary"]),
        (["--key-mode", "dev"], ["production_key_mode"]),
        (["--trace-max-age", "0s"], ["production_retention"]),
        (["--profile", "standard"], ["production_context_strictness", "production_profile"]),
    ],
)
def test_each_serve_flag_finding_is_triggered_and_cleared_by_its_fix(
    prod: list[str], flags: list[str], checks: list[str]
) -> None:
    """On top of oss-prod, one bad serve flag fails its check; appending the fix clears it."""
    code, doc = readiness(*OSS_PROD, *flags)
    fails = failing(doc)
    assert code == 2 and sorted(fails) == checks
    fixes = [arg for name in sorted(fails) for arg in shlex.split(fails[name]["fix_command"])]
    code, doc = readiness(*OSS_PROD, *flags, *fixes)
    assert (code, failing(doc)) == (0, {})


def test_readiness_text_prints_the_fix(prod: list[str]) -> None:
    """Text mode shows the failing check and the fix to paste under it."""
    out = io.StringIO()
    assert (
        main(
            ["doctor", "--production-readiness", *OSS_PROD, "--http-verdict-status", "compat"],
            out=out,
        )
        == 2
    )
    text = out.getvalue()
    assert "- production_service_boundary: fail (http_verdict_status is compat" in text
    assert "  fix: --http-verdict-status strict" in text
