"""One of each thing (issue 12): the twins it named exist once, checked from the source.

Each test names the one owner and fails when a second copy appears in
``gait_runtime/`` or ``plugins/``: a Go JSON encoder (``artifacts/gojson.py``),
the duration parser, the fsync policy type, the chain-path function, the
``O_EXCL`` lock-file helper, exit codes (``errors.py``), structlog for library
logging. The lists of exceptions say why each exception is not a twin.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "gait_runtime", ROOT / "plugins")


def _trees() -> list[tuple[str, ast.Module]]:
    paths = sorted(p for root in SOURCES for p in root.rglob("*.py"))
    return [(p.relative_to(ROOT).as_posix(), ast.parse(p.read_text("utf-8"))) for p in paths]


TREES = _trees()


def _defined(name: str) -> list[str]:
    """Modules that define ``name`` (a function, a class or an assigned module name)."""
    found = []
    for rel, tree in TREES:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
                found.append(rel)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    found.append(rel)
    return found


def _calls(tree: ast.Module) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def test_each_named_thing_is_defined_once() -> None:
    """One duration parser, fsync policy type, chain-path function, lock helper, encoder."""
    owners = {
        "parse_go_duration": ["gait_runtime/artifacts/timefmt.py"],
        "FsyncPolicy": ["gait_runtime/supervisor/sessions/config.py"],
        "chain_path_for": ["gait_runtime/supervisor/journal/scan.py"],
        "take_lock_file": ["gait_runtime/artifacts/lockfile.py"],
        "go_json": ["gait_runtime/artifacts/gojson.py"],
        "go_json_indent": ["gait_runtime/artifacts/gojson.py"],
        "verdict_exit_code": ["gait_runtime/errors.py"],
        "LOCK_STALE_S": ["gait_runtime/gate/_limits.py"],
    }
    assert {name: _defined(name) for name in owners} == owners


# Indented JSON that is ours alone, not a Go format: (module, why).
OWN_INDENTED_FORMATS = {
    "gait_runtime/artifacts/gojson.py": "the one Go encoder",
    "gait_runtime/harness/report.py": "the soak report (indent 1, sorted keys; no Go reader)",
    "gait_runtime/adopt/ci.py": "the CI contract summary (sorted keys; no Go reader)",
}


def test_indented_json_is_written_by_the_one_go_encoder() -> None:
    """No second ``json.MarshalIndent``: ``indent=`` JSON only in gojson and our own formats."""
    found = set()
    for rel, tree in TREES:
        for call in _calls(tree):
            name = _dotted(call.func)
            indented = any(k.arg == "indent" for k in call.keywords)
            if name in ("json.dumps", "msgspec.json.format") and indented:
                found.add(rel)
    assert found <= set(OWN_INDENTED_FORMATS), found - set(OWN_INDENTED_FORMATS)


def _literal_ints(node: ast.Dict) -> dict[object, int]:
    return {
        k.value: v.value
        for k, v in zip(node.keys, node.values, strict=True)
        if isinstance(k, ast.Constant) and isinstance(v, ast.Constant) and type(v.value) is int
    }


def test_exit_codes_come_from_errors() -> None:
    """No ``"exit_code": <n>`` literal and no ``{"block": 3, "require_approval": 4}`` map.

    Verdict ranks and HTTP statuses keyed by verdict are other maps and pass.
    """
    found = []
    for rel, tree in TREES:
        if rel == "gait_runtime/errors.py":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            ints = _literal_ints(node)
            verdict_exits = ints.get("block") == 3 and ints.get("require_approval") == 4
            if "exit_code" in ints or verdict_exits:
                found.append(f"{rel}:{node.lineno}")
    assert found == []


# Where os.O_EXCL may appear: (module, why it is not a second lock-file protocol).
O_EXCL_USES = {
    "gait_runtime/artifacts/lockfile.py": "the one lock-file helper",
    "gait_runtime/supervisor/journal/lock.py": "the Go session lock (JSON body, pid check)",
    "gait_runtime/artifacts/fsutil.py": "a fresh temp file for an atomic write",
    "gait_runtime/artifacts/tracelog.py": "a fresh temp file for an atomic write",
    "gait_runtime/supervisor/service/trace_writer.py": "a fresh temp file for an atomic write",
    "gait_runtime/hookcache.py": "a fresh temp file for an atomic write (the hook loads no helpers)",
}


def test_exclusive_create_only_in_the_lock_helpers_and_temp_files() -> None:
    """``O_EXCL`` locks: the helper and the Go session lock; elsewhere only temp files."""
    found = {
        rel
        for rel, tree in TREES
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and _dotted(node) == "os.O_EXCL"
    }
    assert found <= set(O_EXCL_USES), found - set(O_EXCL_USES)


# Modules that touch stdlib logging, and why it is not library logging.
STDLIB_LOGGING = {
    "gait_runtime/telemetry/logging.py": "configures structlog and the root handler",
    "gait_runtime/cli/__init__.py": "the level constant for structlog's filter",
    "gait_runtime/supervisor/service/server.py": "the HTTP server library's error log",
    "gait_runtime/supervisor/service/uvicorn_server.py": "the HTTP server library's warnings",
}
_LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}


def test_library_logging_is_structlog_without_percent_formatting() -> None:
    """stdlib ``logging`` only where a library is configured; no ``%s`` log messages."""
    users, percent = set(), []
    for rel, tree in TREES:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "logging" for a in node.names):
                users.add(rel)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                first = node.args[0] if node.args else None
                if (
                    node.func.attr in _LEVELS
                    and isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                    and "%" in first.value
                    and len(node.args) > 1
                ):
                    percent.append(f"{rel}:{node.lineno}")
    assert users <= set(STDLIB_LOGGING), users - set(STDLIB_LOGGING)
    assert percent == []
