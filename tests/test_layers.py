"""Imports point down only (DESIGN.md "Layers"; STYLE.md habit 2).

`artifacts`, `gate` and `runpack` are synchronous libraries: they never import
anyio/trio or any network/server library, and never import the layers above
them. `telemetry` imports nothing of ours except `errors`, `config` and
`artifacts`. Checked statically from the source, so a violation fails even if
the offending import sits on a path no other test executes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gait_runtime"

ASYNC_OR_NET = {"anyio", "trio", "asyncio", "httpx", "hypercorn", "socket"}
RULES: dict[str, tuple[set[str], set[str]]] = {
    # layer: (forbidden third-party roots, forbidden gait_runtime subpackages)
    "artifacts": (ASYNC_OR_NET, {"gate", "runpack", "supervisor", "cli", "telemetry", "soak"}),
    "gate": (ASYNC_OR_NET, {"runpack", "supervisor", "cli", "soak"}),
    "runpack": (ASYNC_OR_NET, {"supervisor", "cli", "soak"}),
    "telemetry": (set(), {"gate", "runpack", "supervisor", "cli"}),
    # the soak harness drives a supervisor *subprocess*; it never imports the CLI
    "soak": (set(), {"cli"}),
}


def _imports(path: Path, package: Path = PACKAGE) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel_pkg = path.relative_to(package.parent).with_suffix("").parts[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel_pkg[: len(rel_pkg) - node.level + 1])
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return found


def _modules(layer: str) -> list[Path]:
    root = PACKAGE / layer
    return sorted(root.rglob("*.py")) if root.is_dir() else []


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_point_down(layer: str) -> None:
    """No module in a lower layer imports an upper layer or an async/network library."""
    third_party, ours = RULES[layer]
    problems = []
    for path in _modules(layer):
        for name, line in _imports(path):
            root = name.split(".")[0]
            if root in third_party:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
            parts = name.split(".")
            if parts[0] == "gait_runtime" and len(parts) > 1 and parts[1] in ours:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert problems == []


def test_layer_rule_sees_violations(tmp_path: Path) -> None:
    """The checker itself detects a forbidden relative import (guards against a vacuous rule)."""
    source = "from ..supervisor import x\nimport anyio\n"
    tree_path = tmp_path / "gait_runtime" / "gate" / "m.py"
    tree_path.parent.mkdir(parents=True)
    tree_path.write_text(source)
    names = [n for n, _ in _imports(tree_path, tmp_path / "gait_runtime")]
    assert "gait_runtime.supervisor" in names and "anyio" in names
