"""``gait run replay``: deterministic stub replay, and opt-in real replay of a few tools.

Owns: the stub algorithm of ``spec/runpack.md`` §12.2 (recorded results, stub
classification by tool-name substring, stub digests, missing results), the
unsafe-flag rules for real replay (:func:`authorize_real_replay`, exit 8), and
the allow-listed built-in executors (echo, file write, shell command). Stub
replay is pure; real replay writes files and runs ``sh -lc`` only for tools the
caller allow-listed, and only with every unsafe opt-in present.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..artifacts.jcs import sha256_hex
from ..errors import ArtifactInputError, GaitError, UnsafeOperationError
from .store import RunpackContents

__all__ = [
    "DEFAULT_UNSAFE_ENV",
    "ReplayResult",
    "authorize_real_replay",
    "replay_runpack",
    "stub_type",
]

DEFAULT_UNSAFE_ENV: Final = "GAIT_ALLOW_REAL_REPLAY"
SHELL_TIMEOUT_SECONDS: Final = 5.0
OUTPUT_CAP_BYTES: Final = 64 * 1024
_STUB_CLASSES: Final = (
    ("http", ("http", "fetch", "url")),
    ("file", ("file", "path", "fs", "write")),
    ("db", ("db", "sql", "query", "table")),
    ("queue", ("queue", "topic", "publish", "kafka")),
)


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of a replay.

    Attributes:
        ok: no intent was left without a recorded, stubbed or executed result.
        run_id: ``run.json``'s run id.
        mode: ``stub`` or ``real``.
        steps: one step per intent, in file order.
        missing_results: intent ids with nothing to replay, sorted.
        warnings: e.g. ``allow_tools=<csv>`` in real mode.
        requested_unsafe: ``--unsafe-real-tools`` was given.
    """

    ok: bool
    run_id: str
    mode: str
    steps: list[dict[str, str]]
    missing_results: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    requested_unsafe: bool = False

    def to_json(self) -> dict[str, Any]:
        """Go's replay fields; empty lists and a false ``requested_unsafe`` omitted."""
        out: dict[str, Any] = {
            "ok": self.ok,
            "run_id": self.run_id,
            "mode": self.mode,
            "steps": [dict(s) for s in self.steps],
        }
        if self.missing_results:
            out["missing_results"] = list(self.missing_results)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.requested_unsafe:
            out["requested_unsafe"] = True
        return out


def authorize_real_replay(
    *,
    real_tools: bool,
    unsafe_real_tools: bool,
    allow_tools: str,
    env_name: str,
    environ: Mapping[str, str],
) -> list[str]:
    """Apply the opt-in rules of §12.2 and return the allow-listed tool names.

    Returns an empty list when real replay was not requested.

    Raises:
        UnsafeOperationError: a required opt-in is missing (exit 8).
    """
    if not real_tools:
        return []
    details: dict[str, object] = {"requested_unsafe": True} if unsafe_real_tools else {}
    if not unsafe_real_tools:
        raise UnsafeOperationError("real tool execution requires --unsafe-real-tools")
    tools = [t.strip().lower() for t in allow_tools.split(",") if t.strip()]
    if not tools:
        raise UnsafeOperationError(
            "real tool execution requires --allow-tools <csv>", details=details
        )
    name = env_name.strip() or DEFAULT_UNSAFE_ENV
    if environ.get(name) != "1":
        raise UnsafeOperationError(
            f"real tool execution requires environment variable {name}=1", details=details
        )
    return tools


def stub_type(tool_name: str) -> str:
    """The stub class of a tool (``http``, ``file``, ``db``, ``queue``) or ``""``."""
    lowered = tool_name.lower()
    for name, words in _STUB_CLASSES:
        if any(word in lowered for word in words):
            return name
    return ""


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else ""


def _echo(args: dict[str, Any]) -> bytes:
    message = args.get("message")
    if not isinstance(message, str):
        raise ValueError("echo needs a string arg 'message'")
    return message.encode("utf-8")


def _file_write(args: dict[str, Any]) -> bytes:
    path, content = args.get("path"), args.get("content")
    if not isinstance(path, str) or not path or not isinstance(content, str):
        raise ValueError("file write needs string args 'path' and 'content'")
    from ..artifacts.fsutil import reject_parent_traversal, write_atomic

    reject_parent_traversal(path, "replay write path")
    write_atomic(Path(path), content.encode("utf-8"))
    return content.encode("utf-8")


def _shell(args: dict[str, Any]) -> bytes:
    command = args.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ValueError("shell exec needs a string arg 'command'")
    try:
        done = subprocess.run(
            ["sh", "-lc", command],
            capture_output=True,
            timeout=SHELL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ValueError(f"command timed out after {SHELL_TIMEOUT_SECONDS:g}s") from exc
    if done.returncode != 0:
        raise ValueError(f"exit status {done.returncode}")
    return (done.stdout + done.stderr)[:OUTPUT_CAP_BYTES]


_EXECUTORS: Final[dict[str, Callable[[dict[str, Any]], bytes]]] = {
    "echo": _echo,
    "tool.echo": _echo,
    "file.write": _file_write,
    "fs.write": _file_write,
    "write_file": _file_write,
    "shell.exec": _shell,
    "exec": _shell,
    "command.run": _shell,
}


def _execute(intent: dict[str, Any], step: dict[str, str]) -> None:
    executor = _EXECUTORS[_text(intent, "tool_name").strip().lower()]
    args = intent.get("args")
    step["execution"] = "executed"
    try:
        if not isinstance(args, dict):
            raise ValueError("intent has no raw args")
        output = executor(args)
    except (ValueError, OSError, GaitError) as exc:
        step["status"] = "error"
        step["result_digest"] = sha256_hex(str(exc).encode("utf-8"))
        return
    step["status"] = "ok"
    step["result_digest"] = sha256_hex(output)


def _check_unique(contents: RunpackContents) -> None:
    for name, records in (("intents.jsonl", contents.intents), ("results.jsonl", contents.results)):
        seen: set[str] = set()
        for record in records:
            intent_id = _text(record, "intent_id")
            if intent_id in seen:
                noun = "intent_id" if name == "intents.jsonl" else "result for intent_id"
                raise ArtifactInputError(
                    f"duplicate {noun} {intent_id} in {name} of {contents.path}",
                    code="replay_duplicate",
                )
            seen.add(intent_id)


def replay_runpack(
    contents: RunpackContents,
    *,
    allow_tools: list[str] | None = None,
    allow_tools_text: str = "",
    requested_unsafe: bool = False,
) -> ReplayResult:
    """Replay a runpack (stub mode unless ``allow_tools`` is non-empty).

    Args:
        contents: a runpack from the strict reader.
        allow_tools: lower-cased tool names allowed to run for real (from
            :func:`authorize_real_replay`); empty means stub mode.
        allow_tools_text: the ``--allow-tools`` value as given (for the warning).
        requested_unsafe: echo of ``--unsafe-real-tools`` in the result.

    Raises:
        ArtifactInputError: duplicate intents or results, or real mode on a
            reference-capture runpack (raw args are needed).
    """
    _check_unique(contents)
    real = bool(allow_tools)
    if real and contents.capture_mode.lower() != "raw":
        raise ArtifactInputError(
            f"real tool replay needs a raw-capture runpack; {contents.path} is "
            f"{contents.capture_mode or 'unknown'}",
            code="replay_needs_raw",
        )
    allowed = set(allow_tools or [])
    results = {_text(r, "intent_id"): r for r in contents.results}
    run_id = contents.run_id
    steps: list[dict[str, str]] = []
    missing: list[str] = []
    for intent in contents.intents:
        intent_id, tool = _text(intent, "intent_id"), _text(intent, "tool_name")
        step = {"intent_id": intent_id, "tool_name": tool}
        key = tool.strip().lower()
        if real and key in allowed and key in _EXECUTORS:
            _execute(intent, step)
        elif (result := results.get(intent_id)) is not None:
            step["status"] = _text(result, "status")
            step["execution"] = "recorded"
            step["result_digest"] = _text(result, "result_digest")
        elif kind := stub_type(tool):
            preimage = (
                f"{run_id}:{intent_id}:{key}:{_text(intent, 'args_digest').strip().lower()}:{kind}"
            )
            step.update(
                status="stubbed",
                execution="stubbed",
                stub_type=kind,
                result_digest=sha256_hex(preimage.encode("utf-8")),
            )
        else:
            step.update(status="missing_result", execution="missing")
            missing.append(intent_id)
        steps.append({k: v for k, v in step.items() if v != "" or k in ("intent_id", "tool_name")})
    return ReplayResult(
        ok=not missing,
        run_id=run_id,
        mode="real" if real else "stub",
        steps=steps,
        missing_results=sorted(missing),
        warnings=[f"allow_tools={allow_tools_text}"] if real else [],
        requested_unsafe=requested_unsafe,
    )
