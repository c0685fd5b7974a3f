"""One specific hint per stable error code, for the text line and the JSON envelope.

Owns: :data:`HINTS` (specific ``error_code`` → what the user should do next)
and :func:`hint_for`, which picks, in order: the hint the error itself carries,
the hint of its specific code, the hint of its class code, and last the
Go-compatible default of its exit code (``default_envelope_fields``). Does not
own the codes themselves (each :class:`~gait_runtime.errors.GaitError`
subclass or raise site names its own).
"""

from __future__ import annotations

from typing import Final

from ..errors import GaitError, default_envelope_fields, exit_code_for

__all__ = ["HINTS", "hint_for"]

HINTS: Final[dict[str, str]] = {
    # usage and configuration
    # usage_error and invalid_input keep the Go default ("check command usage and
    # input schema"): it is the right advice for a bad flag.
    "config_invalid": "fix the named key in the config file, or pass --no-config",
    "config_missing": "create the config file or drop the --config flag",
    "shell_unsupported": "use gait completion bash, zsh or tcsh",
    "log_level_invalid": "use one of debug, info, warning, error or critical",
    "otel_exporter_unsupported": "set OTEL_TRACES_EXPORTER to otlp, console or none",
    "otel_protocol_unsupported": "set OTEL_EXPORTER_OTLP_PROTOCOL to grpc or http/protobuf",
    "otlp_extra_missing": "install the OTLP exporter package for the chosen protocol",
    "posture_invalid": "fix the posture file (see profiles/ for the shipped ones)",
    "tls_file_missing": "pass existing PEM files to --certfile and --keyfile",
    "state_dir_locked": "another gait server owns this --session-dir; stop it or use another dir",
    "path_traversal": "use a path without '..' segments",
    "time_invalid": "use an RFC 3339 timestamp such as 2026-01-02T03:04:05Z",
    "schema_violation": "fix the field named in the message to match the artifact schema",
    "schema_missing": "reinstall gait-runtime: its bundled schemas are missing",
    # runpacks and zips
    "runpack_not_found": "pass an existing runpack path, or a run id under ./gait-out",
    "runpack_unreadable": "check that the file is readable by this user",
    "zip_invalid": "the file is not a runpack zip; re-create it with gait run record",
    "zip_duplicate_entry": "the zip repeats an entry name: treat the runpack as tampered",
    "zip_entry_corrupt": "an entry fails its zip checksum: treat the runpack as tampered",
    "zip_entry_too_large": "the zip entry is larger than a runpack entry may be",
    "runpack_hash_mismatch": "an entry changed after signing: treat the runpack as tampered "
    "and fetch the original",
    "runpack_entry_missing": "the runpack lacks a required entry: re-record it or fetch the original",
    "manifest_missing": "the zip has no manifest.json: it is not a runpack",
    "manifest_invalid": "manifest.json does not decode: re-record the runpack",
    "manifest_schema_invalid": "manifest.json has an unsupported schema or empty run_id",
    "json_invalid": "the named file is not valid JSON",
    "refs_invalid": "fix refs.json (receipts and context fields) and record again",
    "record_invalid": "fix the run record field named in the message and record again",
    "receipt_invalid": "fix the receipt named in the message and record again",
    "capture_mode_invalid": "use --capture-mode reference or raw",
    "raw_context_refused": "pass --unsafe-context-raw only if raw receipts are intended",
    "replay_needs_raw": "real-tool replay needs a runpack recorded with --capture-mode raw",
    "replay_duplicate": "the runpack repeats an intent or result id: re-record it",
    "run_id_missing": "pass --run-id or set run_id in the run record",
    "run_id_invalid": "use a run id of letters, digits, '_' and '-'",
    "runpack_signature_invalid": "verify with the public key of the signer "
    "(--public-key), or re-sign the runpack",
    "verification_failed": "re-run verify after checking artifact integrity",
    "checkpoint_unverified": "the checkpoint runpack fails verification: inspect it with gait verify",
    "digest_mismatch": "the digest does not match the content: the artifact changed",
    "unsafe_operation": "pass explicit unsafe flags only for approved replay paths",
    # keys and signatures
    "key_invalid": "check the key file (base64 ed25519) or the --key-mode you chose",
    "trace_signature_invalid": "verify with the public key of the server that signed the trace",
    "trace_exists": "choose another --trace-out, or remove the existing trace",
    # gate
    "policy_invalid": "run gait policy validate on the file and fix the reported field",
    "policy_yaml": "fix the YAML syntax at the reported position",
    "policy_unreadable": "check the --policy path and its permissions",
    "policy_legacy_fields": "use schema_id, schema_version, default_verdict, fail_closed and rules",
    "policy_duplicate_rule": "give every rule a unique name",
    "policy_duplicate_key": "remove the repeated YAML key",
    "policy_profile": "the policy breaks the oss-prod profile rules named in the message",
    "policy_not_formatted": "run gait policy fmt --write to format the file",
    "intent_invalid": "fix the IntentRequest field named in the message",
    "intent_raw_credential": "pass a credential reference or digest, never the secret itself",
    "policy_out_of_scope": "remove the policy keys this build does not support",
    "intent_json": "the intent file is not valid JSON",
    "intent_unreadable": "check the --intent path and its permissions",
    "intent_number_range": "use integers within the JSON safe range in the intent",
    "context_required": "set context.identity, workspace and session_id (oss-prod profile)",
    "call_invalid": "send a tool call in the chosen adapter's shape",
    "adapter_unsupported": "use one of mcp, openai, anthropic, langchain, claude_code",
    "approval_token_unreadable": "check the approval token file path and its JSON",
    "approve_digest": "pass the 64-hex policy and intent digests from gate eval --json",
    "approve_ttl": "pass a positive Go duration, e.g. --ttl 1h",
    "approve_scope": "pass at least one --scope",
    "approve_reason": "pass --reason with why the call is approved",
    "approve_approver": "pass --approver with who approves",
    "approve_max": "pass a positive --max-uses",
    "change_window_open": "retry inside the policy's change window",
    "rate_limit_state_invalid": "remove or repair the rate-limit state file",
    "jcs_invalid_value": "remove non-finite numbers or non-string keys from the document",
    # sessions and the server
    "session_invalid": "check the session journal path and event fields",
    "session_journal_missing": "start the session first: gait run session start --journal J",
    "session_journal_invalid": "the journal does not read: inspect it, restore from a checkpoint",
    "session_start_invalid": "pass --session-id and --run-id to start a session",
    "session_event_invalid": "fix the event field named in the message",
    "session_identity_mismatch": "use the session id and run id the journal was started with",
    "session_chain_missing": "checkpoint the session first: gait run session checkpoint",
    "session_chain_invalid": "the checkpoint chain is broken: verify each checkpoint runpack",
    "session_lock_timeout": "another writer holds the journal lock; retry when it finishes",
    "session_unknown": "open the session with a first decision before checkpointing it",
    "session_unavailable": "the session is closing; retry the call",
    "session_actor_crashed": "retry the call; the session restarts from its journal",
    "session_failed": "the session crashed repeatedly: check the server log and the journal",
    "checkpoint_empty": "append events before checkpointing",
    "journal_ring_unavailable": "use --journal-io thread or auto on this kernel",
    "mailbox_full": "retry after a short delay (the session is busy)",
    "manager_closed": "the server is stopping; retry on the new instance",
    "manager_draining": "the server is draining; retry on the new instance",
    "supervisor_stopped": "start the server first",
    "state_contention": "another process holds the lock; retry after it finishes",
    "io_failure": "check free disk space and permissions of the named path",
    "disk_full": "free disk space, then retry",
    "internal_failure": "retry after checking local environment and logs",
    "dependency_missing": "install or configure the missing dependency and retry",
    "plot_dependency_missing": "install the plotting extra, or pass --no-plot",
    # soak
    "soak_profile_invalid": "fix the profile field named in the message",
    "soak_budget_unknown": "use a budget name the profile defines (see its budgets: section)",
    "soak_report_invalid": "pass a report.json written by gait soak run",
    "soak_out_not_empty": "pass an empty --out directory (or a new one)",
    "soak_server_start": "the server under test did not start: see its log in the out dir",
}
"""Specific hints by stable error code. Codes absent here use their class's hint."""


def hint_for(error: GaitError) -> str:
    """The most specific hint for ``error`` (never empty)."""
    if error.hint:
        return error.hint
    specific = HINTS.get(error.error_code)
    if specific:
        return specific
    by_class = HINTS.get(type(error).code)
    if by_class:
        return by_class
    return default_envelope_fields(exit_code_for(error))[2]
