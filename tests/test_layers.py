"""Imports point down only, and no module imports itself back (DESIGN.md "Layers"; STYLE.md habit 2).

`artifacts`, `gate` and `runpack` are synchronous libraries: they never import
anyio/trio or any network/server library, and never import the layers above
them. The gate core never imports the commands layer nor telemetry.
`telemetry` imports nothing of ours except `errors`, `config` and
`artifacts`. `commands` (the command bodies) sits between the libraries and
the CLI; the supervisor never imports the CLI, the commands layer or the soak
harness. `cluster` (the JetStream journal backend) imports only the
supervisor's `journal` package, never the gate, telemetry, the CLI or the
commands layer. `sdk` (the agent-side client) imports the gate, the artifacts and the plugin
Protocols, never the supervisor, the CLI, the commands layer or the server libraries.
Inside the supervisor the sub-packages are ordered too:
``_journal_io`` < ``journal`` < ``sessions`` < ``service``. Checked statically
from the source, so a violation fails even if the offending import sits on a
path no other test executes; :func:`test_no_import_cycles` checks the whole
module import graph (function-local imports included) for cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gait_runtime"

ASYNC_OR_NET = {"anyio", "trio", "asyncio", "httpx", "hypercorn", "uvicorn", "httptools", "socket"}
RULES: dict[str, tuple[set[str], set[str]]] = {
    # layer: (forbidden third-party roots, forbidden gait_runtime subpackages)
    "artifacts": (
        ASYNC_OR_NET,
        {"gate", "runpack", "supervisor", "cli", "telemetry", "harness", "commands"},
    ),
    "gate": (ASYNC_OR_NET, {"runpack", "supervisor", "cli", "harness", "telemetry", "commands"}),
    "runpack": (ASYNC_OR_NET, {"supervisor", "cli", "harness", "commands"}),
    "telemetry": (set(), {"gate", "runpack", "supervisor", "cli", "commands", "harness"}),
    "commands": (ASYNC_OR_NET, {"supervisor", "cli", "harness"}),
    "supervisor": (set(), {"cli", "harness", "commands", "demo_swarm"}),
    # regress is synchronous and builds only on artifacts, gate and runpack
    "regress": (ASYNC_OR_NET, {"supervisor", "cli", "harness", "telemetry", "commands"}),
    # the JetStream journal is a journal backend: beside the supervisor, below its sessions
    "cluster": (set(), {"cli", "harness", "commands", "gate", "telemetry"}),
    # the soak harness drives a supervisor *subprocess*; it never imports the CLI
    "harness": (set(), {"cli"}),
    # the adoption kit drives the CLI (child processes or its entry point), never the runtime
    "adopt": (ASYNC_OR_NET, {"supervisor", "harness"}),
    # consumers of artifacts: synchronous and offline, beside the supervisor, never above it
    "scout": (ASYNC_OR_NET, {"supervisor", "cli", "harness", "commands", "doctor", "telemetry"}),
    "doctor": (ASYNC_OR_NET, {"supervisor", "cli", "harness", "commands", "scout", "telemetry"}),
    # the SDK is a client: the gate, artifacts and plugin Protocols only, never the server
    "sdk": (
        {"hypercorn", "uvicorn", "httptools", "structlog", "opentelemetry"},
        {"supervisor", "cli", "harness", "commands", "runpack", "telemetry", "demo_swarm"},
    ),
}

SUPERVISOR_ORDER = ("_journal_io", "journal", "sessions", "service")
"""Sub-packages of the supervisor, lowest first: each may import only those before it."""


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


@pytest.mark.parametrize("sub", SUPERVISOR_ORDER)
def test_supervisor_subpackages_point_down(sub: str) -> None:
    """``_journal_io`` < ``journal`` < ``sessions`` < ``service``: no import runs back up."""
    above = set(SUPERVISOR_ORDER[SUPERVISOR_ORDER.index(sub) + 1 :]) | {
        "runtime",
        "entry",
        "janitor",
        "status",
    }
    problems = []
    for path in _modules(f"supervisor/{sub}"):
        for name, line in _imports(path):
            parts = name.split(".")
            if parts[:2] == ["gait_runtime", "supervisor"] and len(parts) > 2 and parts[2] in above:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert problems == []


def test_cluster_uses_only_the_supervisor_journal() -> None:
    """``cluster`` implements the journal backend: of the supervisor it imports only ``journal``.

    The supervisor imports the cluster (``gait serve --journal nats://…``), so
    an import of its sessions, service or runtime from here would run back up.
    """
    problems = []
    for path in _modules("cluster"):
        for name, line in _imports(path):
            parts = name.split(".")
            if parts[:2] == ["gait_runtime", "supervisor"] and parts[2:3] != ["journal"]:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert problems == []


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module → the gait_runtime modules it imports (``from pkg import mod`` resolved to ``mod``)."""
    modules = {_module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_pkg = path.name == "__init__.py"
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in modules else target)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    item = stack.pop()
                    on_stack.discard(item)
                    component.append(item)
                    if item == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_no_import_cycles() -> None:
    """No two gait_runtime modules import each other, directly or through others."""
    assert find_cycles(import_graph()) == []


def test_cycle_check_sees_a_hidden_cycle(tmp_path: Path) -> None:
    """A cycle closed by a function-local import is found (guards against a vacuous check)."""
    pkg = tmp_path / "gait_runtime" / "gate"
    pkg.mkdir(parents=True)
    (tmp_path / "gait_runtime" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "policy.py").write_text("def f():\n    from .evaluate import g\n")
    (pkg / "evaluate.py").write_text("from .policy import f\n")
    (pkg / "intent.py").write_text("from . import policy\n")
    cycles = find_cycles(import_graph(tmp_path / "gait_runtime"))
    assert cycles == [["gait_runtime.gate.evaluate", "gait_runtime.gate.policy"]]


def test_layer_rule_sees_violations(tmp_path: Path) -> None:
    """The checker itself detects a forbidden relative import (guards against a vacuous rule)."""
    source = "from ..supervisor import x\nimport anyio\n"
    tree_path = tmp_path / "gait_runtime" / "gate" / "m.py"
    tree_path.parent.mkdir(parents=True)
    tree_path.write_text(source)
    names = [n for n, _ in _imports(tree_path, tmp_path / "gait_runtime")]
    assert "gait_runtime.supervisor" in names and "anyio" in names
