"""Adapter plugins behind ``gait_runtime.plugin``: discovery, conflicts, byte-identical output.

``golden_intents.json`` was written by the adapters as they lived inside the
supervisor's transport, before they moved into the ``gait-adapters`` plugin: every
service request vector plus hand-made payloads for each adapter (and their error
cases), under both profiles. The plugins must give the same bytes.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from gait_runtime import plugin
from gait_runtime.errors import GaitError

GOLDEN = json.loads((Path(__file__).parent / "golden_intents.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", GOLDEN, ids=[f"{c['name']}-{c['profile']}" for c in GOLDEN])
def test_plugin_adapters_give_byte_identical_intents(case: dict[str, Any]) -> None:
    """Each recorded call decodes to the same IntentRequest bytes (or the same error)."""
    try:
        decoded = plugin.decode_call(case["adapter"], case["call"], profile=case["profile"])
    except GaitError as exc:
        assert f"{type(exc).__name__}:{exc.error_code}:{exc}" == case["error"]
        return
    assert "error" not in case
    got = json.dumps(decoded.intent, ensure_ascii=False, separators=(",", ":"))
    assert got == case["intent_json"]
    assert (decoded.run_id_hint, decoded.fallback_used) == (
        case["run_id_hint"],
        case["fallback_used"],
    )


def test_golden_covers_every_service_request_vector(vectors: Path) -> None:
    """Every request vector that carries a call is in the golden set."""
    names = {
        p.stem
        for p in (vectors / "service" / "requests").glob("*.json")
        if json.loads(p.read_text()).get("call")
    }
    assert names and names <= {c["name"].removeprefix("vector:") for c in GOLDEN}


def test_the_five_first_party_adapters_are_discovered() -> None:
    """The installed ``gait-adapters`` distribution provides the five wire names."""
    infos = {i.name: i for i in plugin.discover() if i.kind == "adapter"}
    for name in ("mcp", "openai", "anthropic", "langchain", "claude_code"):
        assert infos[name].distribution == "gait-adapters"
        assert infos[name].error == ""
        assert infos[name].location.endswith(f"{name}.py")
    assert infos["claude_code"].aliases == ("claude-code", "claudecode")


class _Adapter:
    kind = "adapter"
    aliases = ("x-alias",)

    def __init__(self, name: str) -> None:
        self.name = name

    def decode(self, call: Any) -> plugin.AdapterOutput:
        return plugin.AdapterOutput({"tool_name": call["name"], "context": {}})


@pytest.fixture
def test_module() -> Iterator[str]:
    """A real importable module holding plugin objects for entry points to load."""
    module = types.ModuleType("gait_test_plugins")
    module.one = _Adapter("one")  # type: ignore[attr-defined]
    module.two = _Adapter("two")  # type: ignore[attr-defined]
    module.wrong = _Adapter("other")  # type: ignore[attr-defined]
    module.nokind = object()  # type: ignore[attr-defined]
    module.sink = types.SimpleNamespace(kind="sink", name="s")  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]


def _ep(name: str, value: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name=name, value=value, group=plugin.ENTRY_POINT_GROUP)


def test_unusable_plugins_are_listed_with_their_error(test_module: str) -> None:
    """Load failures, unknown kinds, protocol misfits and name mismatches are never used."""
    infos = plugin.resolve(
        [
            _ep("one", f"{test_module}:one"),
            _ep("missing", "gait_no_such_module:x"),
            _ep("nokind", f"{test_module}:nokind"),
            _ep("sink", f"{test_module}:sink"),
            _ep("wrong", f"{test_module}:wrong"),
        ]
    )
    errors = {i.name: i.error for i in infos}
    assert errors["one"] == ""
    assert errors["missing"].startswith("load failed:")
    assert errors["nokind"] == "unknown plugin kind: ''"
    assert errors["sink"] == "does not satisfy the sink protocol"
    assert errors["wrong"] == "adapter name 'other' differs from its entry point"
    assert [i.plugin is not None for i in infos] == [False, False, True, False, False]


def test_an_alias_claimed_twice_disables_both_claimants(test_module: str) -> None:
    """Two adapters answering to one alias are ambiguous: neither is used (fail closed)."""
    infos = plugin.resolve([_ep("one", f"{test_module}:one"), _ep("two", f"{test_module}:two")])
    assert [(i.name, i.plugin) for i in infos] == [("one", None), ("two", None)]
    assert all(i.error.startswith("adapter name also claimed by") for i in infos)
    assert infos[0].as_json()["ok"] is False


def test_unknown_adapter_names_the_trimmed_lowered_name() -> None:
    """``unsupported adapter: <name>`` with the stable code ``adapter_unsupported``."""
    with pytest.raises(GaitError, match=r"^unsupported adapter: nope$") as info:
        plugin.get_adapter("  NOPE ")
    assert info.value.error_code == "adapter_unsupported"
    assert plugin.get_adapter("").name == "mcp"
