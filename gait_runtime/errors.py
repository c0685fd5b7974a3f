"""The single error tree of gait-runtime, and the maps from errors to exit codes.

Every failure the library reports is a :class:`GaitError`. Each concrete class
carries a stable ``code`` (our own, specific: ``runpack_not_found``) and a
``category`` (Go-compatible: ``invalid_input``). The category alone decides the
CLI exit code and the default fields of the JSON error envelope
(``spec/exit-codes.md``); the HTTP edge maps the same categories to statuses.
Third-party exceptions are translated at the boundary with ``raise ... from exc``.

::

    GaitError
    ├── InvalidInputError            invalid_input          exit 6
    │   ├── UsageError               bad flags, unknown command
    │   ├── ArtifactInputError       not a zip, missing manifest, wrong schema, not found
    │   ├── KeyMaterialError         unreadable / malformed keys, key-mode misuse
    │   ├── PolicyError              invalid policy YAML (gate)
    │   ├── IntentError              invalid IntentRequest (gate)
    │   ├── SessionInputError        bad journal input, unreadable journal
    │   ├── RegressInputError        bad regress config/fixture/grader/output path (always exit 6)
    │   └── StateDirLockedError      another supervisor holds the state directory (always exit 6)
    ├── VerificationError            verification_failed    exit 2
    ├── InternalError                internal_failure       exit 1
    │   ├── IOFailure                io_failure
    │   ├── ContentionError          state_contention (lock timeouts)
    │   │   └── MailboxFull          a session mailbox is full (retryable; HTTP 503)
    │   └── SessionFailedError       a session exceeded its restart intensity
    ├── DependencyMissingError       dependency_missing     exit 7
    ├── UnsafeOperationError         unsafe_operation       exit 8
    └── RegressFailedError           regress_failed         exit 5

Nothing in this module does I/O.
"""

from __future__ import annotations

from typing import ClassVar, Final

__all__ = [
    "EXIT_APPROVAL_REQUIRED",
    "EXIT_BLOCKED",
    "EXIT_DEPENDENCY_MISSING",
    "EXIT_INTERNAL",
    "EXIT_INVALID_INPUT",
    "EXIT_OK",
    "EXIT_REGRESS_FAILED",
    "EXIT_UNSAFE",
    "EXIT_VERIFICATION_FAILED",
    "ArtifactInputError",
    "ContentionError",
    "DependencyMissingError",
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
]

EXIT_OK: Final = 0
EXIT_INTERNAL: Final = 1
EXIT_VERIFICATION_FAILED: Final = 2
EXIT_BLOCKED: Final = 3
EXIT_APPROVAL_REQUIRED: Final = 4
EXIT_REGRESS_FAILED: Final = 5
EXIT_INVALID_INPUT: Final = 6
EXIT_DEPENDENCY_MISSING: Final = 7
EXIT_UNSAFE: Final = 8

_CATEGORY_EXIT: Final[dict[str, int]] = {
    "invalid_input": EXIT_INVALID_INPUT,
    "verification_failed": EXIT_VERIFICATION_FAILED,
    "policy_blocked": EXIT_BLOCKED,
    "approval_required": EXIT_APPROVAL_REQUIRED,
    "dependency_missing": EXIT_DEPENDENCY_MISSING,
    "io_failure": EXIT_INTERNAL,
    "state_contention": EXIT_INTERNAL,
    "network_transient": EXIT_INTERNAL,
    "network_permanent": EXIT_INTERNAL,
    "internal_failure": EXIT_INTERNAL,
}

# Default (error_code, error_category, hint) per exit code, spec/exit-codes.md §1.
_VERDICT_EXIT: Final[dict[str, int]] = {
    "block": EXIT_BLOCKED,
    "require_approval": EXIT_APPROVAL_REQUIRED,
}

_EXIT_DEFAULTS: Final[dict[int, tuple[str, str, str]]] = {
    EXIT_INTERNAL: (
        "internal_failure",
        "internal_failure",
        "retry after checking local environment and logs",
    ),
    EXIT_VERIFICATION_FAILED: (
        "verification_failed",
        "verification_failed",
        "re-run verify after checking artifact integrity",
    ),
    EXIT_BLOCKED: (
        "policy_blocked",
        "policy_blocked",
        "inspect reason_codes and adjust policy or intent",
    ),
    EXIT_APPROVAL_REQUIRED: (
        "approval_required",
        "approval_required",
        "provide a valid approval token and retry",
    ),
    EXIT_REGRESS_FAILED: (
        "regress_failed",
        "internal_failure",
        "retry after checking local environment and logs",
    ),
    EXIT_INVALID_INPUT: (
        "invalid_input",
        "invalid_input",
        "check command usage and input schema",
    ),
    EXIT_DEPENDENCY_MISSING: (
        "dependency_missing",
        "dependency_missing",
        "install or configure the missing dependency and retry",
    ),
    EXIT_UNSAFE: (
        "unsafe_operation",
        "internal_failure",
        "pass explicit unsafe flags only for approved replay paths",
    ),
}

_QUIRK_WORDS: Final = ("lock", "contention", "timeout")


class GaitError(Exception):
    """Root of every error gait-runtime raises on purpose.

    Args:
        message: one-line human message; names the problem and the file or field.
        code: overrides the class's stable ``code``.
        hint: overrides the default hint of the envelope.
        details: extra JSON-safe fields merged into the ``--json`` output.
        exit_code: overrides the exit code of the class and of the Go substring
            quirk (for messages of our own commands that merely mention a
            quirk word, such as a list of names containing ``contention``).
    """

    code: ClassVar[str] = "gait_error"
    category: ClassVar[str] = "internal_failure"
    exit_override: ClassVar[int | None] = None
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        details: dict[str, object] | None = None,
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.exit_code_override = exit_code
        self.message = message
        if code is not None:
            self.code_override: str | None = code
        else:
            self.code_override = None
        self.hint = hint
        self.details: dict[str, object] = dict(details or {})

    @property
    def error_code(self) -> str:
        """The specific, stable code of this error (``runpack_not_found``, ...)."""
        return self.code_override or self.code

    def __str__(self) -> str:
        return self.message


class InvalidInputError(GaitError):
    """The caller's input (flags, files, payloads) cannot be used. Exit 6."""

    code = "invalid_input"
    category = "invalid_input"


class UsageError(InvalidInputError):
    """Bad or missing command-line flags, unknown command."""

    code = "usage_error"


class ArtifactInputError(InvalidInputError):
    """An artifact could not be opened or is not what it claims to be."""

    code = "artifact_invalid"


class KeyMaterialError(InvalidInputError):
    """Key files or key-mode settings are unusable."""

    code = "key_invalid"


class PolicyError(InvalidInputError):
    """A policy document is invalid; it is never partially applied."""

    code = "policy_invalid"


class IntentError(InvalidInputError):
    """An IntentRequest cannot be normalised; it is never executed."""

    code = "intent_invalid"


class SessionInputError(InvalidInputError):
    """A session command got bad input or a journal that does not read."""

    code = "session_invalid"


class RegressInputError(InvalidInputError):
    """A regress workspace, fixture, grader name or output path cannot be used.

    Always exit 6: a fixture named ``lock-check`` must not turn a config error
    into exit 1 through the "lock" text quirk (CI reads 5 as regression, 6 as
    broken input).
    """

    code = "regress_invalid"
    exit_override = EXIT_INVALID_INPUT


class StateDirLockedError(InvalidInputError):
    """Another supervisor already holds the state directory lock.

    The message names the lock file, so the "lock" exit-code quirk would send it
    to exit 1; the override keeps it at exit 6 (it is a usage problem).
    """

    code = "state_dir_locked"
    exit_override = EXIT_INVALID_INPUT


class McpConfigError(UsageError):
    """Bad MCP gateway flags (``--upstream``, ``--call-timeout``, ...). Exit 6.

    Messages name flags such as ``--call-timeout``; the override keeps them at exit 6
    despite the "timeout" exit-code quirk (they are usage problems).
    """

    code = "mcp_config_invalid"
    exit_override = EXIT_INVALID_INPUT


class VerificationError(GaitError):
    """An artifact failed integrity or signature verification. Exit 2."""

    code = "verification_failed"
    category = "verification_failed"


class InternalError(GaitError):
    """A runtime failure not caused by the input. Exit 1."""

    code = "internal_failure"
    category = "internal_failure"


class IOFailure(InternalError):
    """A filesystem operation failed (disk full, permission, ...)."""

    code = "io_failure"
    category = "io_failure"


class ContentionError(InternalError):
    """A lock could not be taken in time."""

    code = "state_contention"
    category = "state_contention"


class MailboxFull(ContentionError):
    """A session's mailbox is full and the caller asked not to wait (retry later)."""

    code = "mailbox_full"
    retryable = True


class SessionLimitReached(MailboxFull):
    """Every open session is busy and the bound on open sessions is reached (retry later)."""

    code = "session_limit_reached"


class SessionFailedError(InternalError):
    """A session actor crashed more often than its restart intensity allows."""

    code = "session_failed"


class JournalConflictError(ContentionError):
    """Another writer appended to a session's journal first (a shared log's
    expected-sequence check refused our batch); nothing of the batch was stored."""

    code = "journal_conflict"


class SessionOwnedElsewhere(ContentionError):
    """The session is leased to another supervisor; ``details`` name the owner
    and its address (the HTTP answer is a redirect there)."""

    code = "session_owned_elsewhere"
    retryable = True


class JournalUnavailableError(InternalError):
    """The shared journal (a NATS JetStream cluster) did not acknowledge in
    time; nothing unacknowledged is reported as stored."""

    code = "journal_unavailable"
    retryable = True


class DependencyMissingError(GaitError):
    """A required dependency is absent. Exit 7."""

    code = "dependency_missing"
    category = "dependency_missing"


class UnsafeOperationError(GaitError):
    """An unsafe operation was requested without its explicit opt-in flags. Exit 8."""

    code = "unsafe_operation"
    category = "internal_failure"
    exit_override = EXIT_UNSAFE


class RegressFailedError(GaitError):
    """A deterministic regression failed. Exit 5."""

    code = "regress_failed"
    category = "internal_failure"
    exit_override = EXIT_REGRESS_FAILED


def exit_code_for(error: BaseException) -> int:
    """Map an error to its CLI exit code (``spec/exit-codes.md`` §1.1).

    The Go implementation sends any uncategorised error whose text mentions
    ``lock``, ``contention`` or ``timeout`` to exit 1; we reproduce that quirk for
    invalid-input errors so scripts written against either tool agree.
    """
    if isinstance(error, GaitError):
        if error.exit_code_override is not None:
            return error.exit_code_override
        if error.exit_override is not None:
            return error.exit_override
        code = _CATEGORY_EXIT.get(error.category, EXIT_INVALID_INPUT)
        if code == EXIT_INVALID_INPUT and _has_quirk_word(error.message):
            return EXIT_INTERNAL
        return code
    return EXIT_INTERNAL


def verdict_exit_code(verdict: str) -> int:
    """Exit code of a gate verdict: 3 ``block``, 4 ``require_approval``, else 0.

    The one verdict → exit-code map: the CLI exits with it and the decision
    server reports it in the response body's ``exit_code`` field.
    """
    return _VERDICT_EXIT.get(verdict, EXIT_OK)


def _has_quirk_word(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in _QUIRK_WORDS)


def default_envelope_fields(exit_code: int) -> tuple[str, str, str]:
    """Return the default ``(error_code, error_category, hint)`` for an exit code."""
    return _EXIT_DEFAULTS.get(exit_code, _EXIT_DEFAULTS[EXIT_INTERNAL])
