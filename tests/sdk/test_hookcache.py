"""The hook's start-up caches answer exactly what the full work answers.

``cached_policy`` against ``load_policy`` (every vector policy, valid or not) and
``cached_adapter`` against ``get_adapter``, in-process with real files in a scratch
cache dir; then the real ``gait hook claude-code --policy`` process with the caches
off, cold and warm: the same stdout bytes. Stale, doctored, foreign-writable or
unreadable entries are misses.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gait_runtime import hookcache
from gait_runtime.errors import IntentError, PolicyError
from gait_runtime.gate import load_policy
from gait_runtime.gate.model import CompiledPolicy
from gait_runtime.plugin import get_adapter

from .servers import GAIT, POLICY, VECTORS, env_without_url

POLICIES = [*sorted((VECTORS / "gate").glob("*.yaml")), POLICY]
BAD_POLICIES = sorted((VECTORS / "errors").glob("policy_*.yaml"))
PAYLOADS: dict[str, dict[str, object]] = {
    "Read": {"tool_name": "Read", "tool_input": {"file_path": "/srv/notes.txt"}},
    "Edit": {"tool_name": "Edit", "tool_input": {"file_path": "/srv/a.py", "new_string": "b"}},
    "Bash": {"tool_name": "Bash", "tool_input": {"command": "rm -rf /srv"}},
    "bad": {"tool_input": {}},
}


def _same(a: CompiledPolicy, b: CompiledPolicy) -> None:
    assert a == b
    assert (a.digest, a.payload, a.source) == (b.digest, b.payload, b.source)
    assert [len(r.predicates) for r in a.rules] == [len(r.predicates) for r in b.rules]


def _entries(where: Path, prefix: str) -> list[Path]:
    return sorted(p for p in where.glob(f"{prefix}-*.json"))


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_a_cached_policy_is_the_loaded_policy(tmp_path: Path, path: Path) -> None:
    """Cold (parsed, then stored) and warm (from the stored document): both equal
    ``load_policy`` — rules, digest, digest payload and source name."""
    expected = load_policy(path)
    cold = hookcache.cached_policy(str(path), str(tmp_path))
    (entry,) = _entries(tmp_path, "policy")
    assert entry.stat().st_mode & 0o777 == 0o600
    warm = hookcache.cached_policy(str(path), str(tmp_path))
    _same(cold, expected)
    _same(warm, expected)


@pytest.mark.parametrize("path", BAD_POLICIES, ids=lambda p: p.name)
def test_an_invalid_policy_fails_the_same_and_is_never_cached(tmp_path: Path, path: Path) -> None:
    with pytest.raises(PolicyError) as full:
        load_policy(path)
    with pytest.raises(PolicyError) as cached:
        hookcache.cached_policy(str(path), str(tmp_path))
    assert (str(cached.value), cached.value.code) == (str(full.value), full.value.code)
    assert _entries(tmp_path, "policy") == []


def test_an_unreadable_policy_fails_the_same(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(PolicyError) as full:
        load_policy(missing)
    with pytest.raises(PolicyError) as cached:
        hookcache.cached_policy(str(missing), str(tmp_path))
    assert str(cached.value) == str(full.value)


def test_an_edited_policy_replaces_its_entry(tmp_path: Path) -> None:
    """The entry holds the file's sha256: an edit is seen at once, and its new entry
    replaces the old one (one entry per policy file)."""
    policy = tmp_path / "policy.yaml"
    text = POLICY.read_text()
    policy.write_text(text)
    cache = tmp_path / "cache"
    first = hookcache.cached_policy(str(policy), str(cache))
    policy.write_text(text.replace("default_verdict: require_approval", "default_verdict: block"))
    second = hookcache.cached_policy(str(policy), str(cache))
    assert (first.default_verdict, second.default_verdict) == ("require_approval", "block")
    _same(second, load_policy(policy))
    (entry,) = _entries(cache, "policy")
    assert "default_verdict: block" in policy.read_text()
    assert json.loads(entry.read_text())["doc"]["default_verdict"] == "block"
    policy.write_text(text)
    _same(hookcache.cached_policy(str(policy), str(cache)), first)


@pytest.mark.parametrize(
    "damage", ["garbage", "nested", "group-writable", "symlink", "bad-doc", "env"]
)
def test_a_damaged_or_foreign_entry_is_a_miss(tmp_path: Path, damage: str) -> None:
    """An entry that is not JSON, is writable by others, is a symlink, holds a
    document that does not compile, or was made in another environment is ignored:
    the answer comes from the YAML."""
    hookcache.cached_policy(str(POLICY), str(tmp_path))
    (entry,) = _entries(tmp_path, "policy")
    doc = json.loads(entry.read_text())
    block_all = {**doc["doc"], "default_verdict": "block", "rules": []}
    if damage == "garbage":
        entry.write_text("{not json")
    elif damage == "nested":
        entry.write_text("[" * 100_000 + "]" * 100_000)
    elif damage == "group-writable":
        entry.write_text(json.dumps({**doc, "doc": block_all}))
        entry.chmod(0o664)
    elif damage == "symlink":
        other = tmp_path / "other.json"
        other.write_text(json.dumps({**doc, "doc": block_all}))
        other.chmod(0o600)
        entry.unlink()
        entry.symlink_to(other)
    elif damage == "bad-doc":
        entry.write_text(json.dumps({**doc, "doc": {**doc["doc"], "rules": "nope"}}))
    else:
        entry.write_text(json.dumps({**doc, "env": [0], "doc": block_all}))
    _same(hookcache.cached_policy(str(POLICY), str(tmp_path)), load_policy(POLICY))


def test_an_unwritable_cache_dir_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _same(hookcache.cached_policy(str(POLICY), str(blocker / "cache")), load_policy(POLICY))
    assert hookcache.cached_adapter("claude_code", str(blocker / "cache")) is get_adapter(
        "claude_code"
    )


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAIT_CACHE_DIR", "off")
    assert hookcache.cache_dir() == ""
    monkeypatch.setenv("GAIT_CACHE_DIR", "/somewhere")
    assert hookcache.cache_dir() == "/somewhere"
    monkeypatch.delenv("GAIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert hookcache.cache_dir() == "/xdg/gait"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/u")
    assert hookcache.cache_dir() == "/home/u/.cache/gait"


@pytest.mark.parametrize("name", ["claude_code", "claude-code", "mcp", "", " OpenAI "])
def test_a_cached_adapter_is_the_discovered_adapter(tmp_path: Path, name: str) -> None:
    """Cold (full discovery, index written) and warm (one entry point loaded): both
    the object :func:`get_adapter` returns."""
    expected = get_adapter(name)
    assert hookcache.cached_adapter(name, str(tmp_path)) is expected
    (index,) = _entries(tmp_path, "adapters")
    table = json.loads(index.read_text())["adapters"]
    assert table["claude-code"]["name"] == "claude_code"
    assert hookcache.cached_adapter(name, str(tmp_path)) is expected


def test_an_unknown_adapter_fails_like_discovery(tmp_path: Path) -> None:
    with pytest.raises(IntentError, match="unsupported adapter: nope"):
        hookcache.cached_adapter("nope", str(tmp_path))


@pytest.mark.parametrize("damage", ["module", "aliases", "module-stat", "env", "garbage"])
def test_a_stale_adapter_index_is_a_miss(tmp_path: Path, damage: str) -> None:
    """A row naming a module that does not load, aliases that differ from the loaded
    adapter's, a plugin module file that changed, another environment, or no JSON:
    the adapter comes from a full discovery (and the index is rewritten)."""
    hookcache.cached_adapter("claude_code", str(tmp_path))
    (index,) = _entries(tmp_path, "adapters")
    doc = json.loads(index.read_text())
    row = doc["adapters"]["claude_code"]
    if damage == "module":
        row["module"] = "gait_adapters.no_such_module"
    elif damage == "aliases":
        row["aliases"] = ["claude-code"]
    elif damage == "module-stat":
        doc["modules"][0][1] = [0, 0, 0]
    elif damage == "env":
        doc["env"] = [0]
    index.write_text(json.dumps(doc) if damage != "garbage" else "[")
    assert hookcache.cached_adapter("claude_code", str(tmp_path)) is get_adapter("claude_code")
    assert json.loads(index.read_text())["adapters"]["claude_code"]["module"] == (
        "gait_adapters.claude_code"
    )


def test_the_environment_digest_sees_an_installed_distribution(tmp_path: Path) -> None:
    """A new ``*.dist-info`` on ``sys.path`` (or an edited ``entry_points.txt``) changes it."""
    site = tmp_path / "site"
    (site / "x-1.0.dist-info").mkdir(parents=True)
    before = hookcache._environment_of([str(site)])
    (site / "y-2.0.dist-info").mkdir()
    added = hookcache._environment_of([str(site)])
    (site / "y-2.0.dist-info" / "entry_points.txt").write_text("[gait_runtime.plugins]\n")
    edited = hookcache._environment_of([str(site)])
    assert len({before, added, edited}) == 3


def _hook(payload: dict[str, object], policy: Path, cache: str) -> bytes:
    proc = subprocess.run(
        [str(GAIT), "hook", "claude-code", "--policy", str(policy)],
        input=json.dumps({"session_id": "s1", "hook_event_name": "PreToolUse", **payload}).encode(),
        capture_output=True,
        timeout=60,
        env={**env_without_url(), "GAIT_CACHE_DIR": cache},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("policy", [POLICY, *BAD_POLICIES], ids=lambda p: p.name)
def test_the_hook_answers_the_same_bytes_with_caches_off_cold_and_warm(
    tmp_path: Path, policy: Path
) -> None:
    """Allow, ask, deny, an undecodable payload and invalid policies: stdout is
    byte-identical whether the caches are off, empty or filled."""
    cache = str(tmp_path / "cache")
    for payload in PAYLOADS.values():
        off = _hook(payload, policy, "off")
        assert _hook(payload, policy, cache) == off
        assert _hook(payload, policy, cache) == off
    assert not os.path.exists(tmp_path / "off")
