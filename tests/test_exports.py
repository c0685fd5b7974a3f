"""The public surface of every package is named, importable and pinned.

Each package's ``__init__`` lists what is public in ``__all__`` (STYLE.md:
private implementation modules behind a checked public surface). This test
pins those lists, so adding, renaming or dropping a public name is a
deliberate, reviewed change to this file, and checks that every listed name
resolves and that the package's sub-packages are importable on their own.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import gait_runtime

PUBLIC: dict[str, set[str]] = {
    "gait_runtime.cluster": {
        "ClusterJournal",
        "ExportResult",
        "JetStreamJournal",
        "Lease",
        "LeaseTable",
        "NatsLink",
        "NatsSettings",
        "export_session",
        "subject_token",
    },
    "gait_runtime": {
        "__version__",
    },
    "gait_runtime.artifacts": {
        "canonicalize",
        "digest",
        "format_go_duration",
        "format_ns",
        "go_json",
        "go_json_indent",
        "parse_go_duration",
        "parse_rfc3339",
        "release_lock_file",
        "sha256_hex",
        "take_lock_file",
        "write_atomic",
    },
    "gait_runtime.cli": {
        "COMMANDS",
        "main",
        "run",
    },
    "gait_runtime.commands": {
        "ApproveOptions",
        "GateEvalOptions",
        "GateEvalOutcome",
        "PolicyTestOutcome",
        "consume",
        "format_file",
        "format_policy_text",
        "run_approve",
        "run_gate_bench",
        "run_gate_eval",
        "run_policy_test",
        "run_trace_verify",
    },
    "gait_runtime.doctor": {
        "TEMPLATES",
        "Check",
        "DoctorOptions",
        "DoctorResult",
        "InitResult",
        "adoption_report",
        "adoption_text",
        "config_readiness_checks",
        "init_project",
        "run_doctor",
        "serve_readiness_checks",
        "sh_quote",
        "template_text",
    },
    "gait_runtime.errors": {
        "ArtifactInputError",
        "ContentionError",
        "DependencyMissingError",
        "EXIT_APPROVAL_REQUIRED",
        "EXIT_BLOCKED",
        "EXIT_DEPENDENCY_MISSING",
        "EXIT_INTERNAL",
        "EXIT_INVALID_INPUT",
        "EXIT_OK",
        "EXIT_REGRESS_FAILED",
        "EXIT_UNSAFE",
        "EXIT_VERIFICATION_FAILED",
        "GaitError",
        "IOFailure",
        "IntentError",
        "InternalError",
        "InvalidInputError",
        "JournalConflictError",
        "JournalUnavailableError",
        "KeyMaterialError",
        "MailboxFull",
        "McpConfigError",
        "PolicyError",
        "RegressFailedError",
        "RegressInputError",
        "SessionFailedError",
        "SessionInputError",
        "SessionOwnedElsewhere",
        "StateDirLockedError",
        "UnsafeOperationError",
        "UsageError",
        "VerificationError",
        "default_envelope_fields",
        "exit_code_for",
        "verdict_exit_code",
    },
    "gait_runtime.gate": {
        "CompiledPolicy",
        "FinalDecision",
        "GateResult",
        "NormalizedIntent",
        "Target",
        "TraceVerifyResult",
        "build_trace",
        "compile_policy",
        "decide",
        "evaluate",
        "load_policy",
        "mint_token",
        "normalize_intent",
        "parse_intent_json",
        "validate_token",
        "verify_trace",
    },
    "gait_runtime.harness": {
        "RunOutcome",
        "VerifyResult",
        "WorkloadProfile",
        "apply_overrides",
        "compare_reports",
        "load_posture",
        "load_profile",
        "load_report",
        "posture_serve_args",
        "run_soak",
        "verify_run",
    },
    "gait_runtime.runpack": {
        "Runpack",
        "RunpackContents",
        "VerifyReport",
        "build_runpack",
        "manifest_digest",
        "read_runpack",
        "resolve_runpack_path",
        "ticket_footer",
        "verify_runpack",
        "write_runpack",
    },
    "gait_runtime.regress": {
        "CONFIG_PATH",
        "DEFAULT_OUTPUT",
        "ChainVerifier",
        "Grader",
        "GraderContext",
        "GraderResult",
        "InitResult",
        "RunOutcome",
        "init_fixture",
        "installed_graders",
        "run_regress",
    },
    "gait_runtime.scout": {
        "EPOCH",
        "REPORT_SCHEMA",
        "Observation",
        "SignalReport",
        "Skip",
        "build_signal_report",
        "fingerprint_of",
        "load_baseline",
        "norm_id",
        "observe",
        "summary_lines",
        "tool_class",
        "unique_sorted",
    },
    "gait_runtime.supervisor": {
        "AppendAck",
        "CheckpointRecord",
        "CompactionReport",
        "EventFields",
        "FsyncPolicy",
        "JournalStore",
        "SessionActor",
        "SessionConfig",
        "SessionManager",
        "StateDirLock",
        "acquire_state_dir_lock",
        "decode_event_fields",
        "journal_path_for",
        "serve",
    },
    "gait_runtime.supervisor._journal_io": {
        "IoThread",
        "JournalRing",
        "LoopPrimitives",
        "OneShot",
        "RingBusy",
        "RingLost",
        "RingUnavailable",
        "Waker",
        "loop_primitives",
        "wait_through_cancel",
    },
    "gait_runtime.supervisor.journal": {
        "ChainReport",
        "CheckpointRecord",
        "CompactionReport",
        "EventFields",
        "EventRecord",
        "JournalStore",
        "LockSettings",
        "StateDirLock",
        "StoreOptions",
        "acquire_state_dir_lock",
        "chain_path_for",
        "decode_event_fields",
        "scan_journal",
        "verify_chain",
    },
    "gait_runtime.supervisor.service": {
        "DecisionReply",
        "DecisionService",
        "ListenAddress",
        "RetentionRule",
        "ServiceConfig",
        "parse_listen",
    },
    "gait_runtime.supervisor.sessions": {
        "AppendAck",
        "FsyncPolicy",
        "SessionActor",
        "SessionConfig",
        "SessionManager",
        "journal_path_for",
    },
    "gait_runtime.supervisor.transport": set(),
    "gait_runtime.telemetry": {
        "DecisionAttributes",
        "DecisionExporter",
        "DecisionSpan",
        "ExporterStats",
        "Metrics",
        "TracingHandle",
        "TracingStats",
        "append_line_locked",
        "bind_ids",
        "configure_logging",
        "decision_log_line",
        "decision_otel_line",
        "decision_span",
        "extract_context",
        "get_logger",
        "inject_traceparent",
        "journal_append_span",
        "reset_logging",
        "setup_tracing",
        "trace_sign_span",
    },
}


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_names_are_pinned(name: str) -> None:
    """``__all__`` of each package is exactly the pinned set, without duplicates."""
    module = importlib.import_module(name)
    listed = list(module.__all__)
    assert len(listed) == len(set(listed))
    assert set(listed) == PUBLIC[name]


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_resolves(name: str) -> None:
    """Every name in ``__all__`` is an attribute of the package (no stale entries)."""
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


def _packages(root: ModuleType) -> list[str]:
    found = [root.__name__]
    for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
        if info.ispkg:
            found.append(info.name)
    return sorted(found)


def test_every_package_declares_its_surface() -> None:
    """Every package of gait_runtime (including ones added later) has an ``__all__``."""
    packages = _packages(gait_runtime)
    undeclared = [p for p in packages if not hasattr(importlib.import_module(p), "__all__")]
    assert undeclared == []
    assert set(PUBLIC) - {"gait_runtime.errors"} <= set(packages)


def test_the_gate_and_artifacts_packages_import_their_names_on_use() -> None:
    """``import gait_runtime.gate`` (and ``.artifacts``) loads no YAML, signing or msgspec;
    a name loads its module on first use (``go_json`` loads msgspec on its first encode);
    ``gate.evaluate`` stays the function even
    after its submodule is imported by name."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import gait_runtime.gate as g, gait_runtime.artifacts as a\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('yaml', 'cryptography', 'msgspec', 'jsonschema'))\n"
        "import gait_runtime.gate.evaluate\n"
        "print(heavy, callable(g.evaluate), type(g.evaluate).__name__,"
        " 'gait_runtime.gate.approval' in sys.modules)\n"
        "g.mint_token, a.go_json({})\n"
        "print('gait_runtime.gate.approval' in sys.modules, 'msgspec' in sys.modules,"
        " sorted(set(dir(g)) & set(g.__all__)) == sorted(g.__all__))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60, check=True, text=True
    )
    assert proc.stdout.splitlines() == ["[] True function False", "True True True"]
    with pytest.raises(AttributeError):
        importlib.import_module("gait_runtime.gate").no_such_name  # noqa: B018
